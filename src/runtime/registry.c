/* The model registry (omni_registry_* in omni.h): a server's models by name, pinned ones
 * and the store's, loaded on demand on a loader thread, unloaded least-recently-used to
 * stay within a memory budget and by a reaper thread once their keep-alive runs out.
 * One mutex guards every entry; loading and freeing run without it (they take seconds),
 * with the entry marked LOADING / UNLOADING meanwhile so nobody else touches it. An entry
 * is never freed before the registry is (a file removed from the store only hides it), so
 * a waiter may keep its pointer across condition waits. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/dtype.h"
#include "formats/ggml_whisper.h"
#include "formats/gguf.h"
#include "models/llm.h"
#include "omni.h"
#include "runtime/model.h"

enum ent_state { E_UNLOADED, E_LOADING, E_READY, E_UNLOADING };

struct entry {
    char *id;
    char *path;                   /* NULL for a pinned object */
    char *general_name;           /* a pinned chat model's general.name, also accepted as its name */
    omni_model_kind kind;         /* 0: a store file that is no model we serve (remembered, never shown) */
    uint64_t file_size, mem;
    int pinned, gone;
    enum ent_state state;
    int active;                   /* holds (acquire without release) */
    int unload_asked;
    int64_t last_used, expires;   /* monotonic ms; expires < 0: never */
    int64_t loaded_at;            /* Unix ms */
    int load_gen, fail_gen;
    char load_err[384];
    omni_model *model;
    omni_embedder *emb;
    omni_asr *asr;
    struct entry *next;
};

struct alias {
    char *name, *target;
    struct alias *next;
};

struct omni_registry {
    omni_registry_params p;
    char *vad_model;
    pthread_mutex_t mu;
    pthread_cond_t cv;            /* any state change, a release */
    pthread_cond_t reaper_cv;
    pthread_t reaper;
    int stopping, n_loading;
    struct entry *entries;
    struct alias *aliases;
};

const char *omni_model_kind_name(omni_model_kind k) {
    switch (k) {
    case OMNI_KIND_CHAT: return "chat";
    case OMNI_KIND_EMBEDDING: return "embedding";
    case OMNI_KIND_RERANK: return "rerank";
    case OMNI_KIND_ASR: return "asr";
    case OMNI_KIND_IMAGE_ENCODER: return "image-encoder";
    }
    return NULL;
}

static int64_t mono_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int64_t wall_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void say(omni_registry *r, const char *fmt, ...) {
    if (!r->p.log) return;
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->p.log(msg, r->p.log_user);
}

static void seterr(char *err, size_t cap, const char *fmt, ...) {
    if (!err || !cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

omni_registry_params omni_registry_default_params(void) {
    omni_registry_params p;
    memset(&p, 0, sizeof p);
    p.keep_alive_ms = 5 * 60 * 1000;
    p.engine = omni_engine_default_params();
    p.pooling = OMNI_POOLING_DEFAULT;
    return p;
}

/* 75% of MemAvailable: what the rest of the machine can spare without swapping. */
static uint64_t default_budget(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    unsigned long long kib = 0;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib ? (uint64_t)kib * 1024 / 4 * 3 : (uint64_t)4 << 30;
}

/* ---- sizes ---- */

/* K and V, f16, for every slot's context (runtime/scheduler.c takes a slot's cache when
 * it is first used; budgeting for all of them keeps a busy server within the budget). */
static uint64_t kv_bytes(int64_t n_layer, int64_t kv_dim, int64_t n_ctx, int64_t n_slots) {
    if (n_layer < 0 || kv_dim < 0 || n_ctx < 0 || n_slots < 0) return 0;
    return (uint64_t)n_layer * (uint64_t)kv_dim * (uint64_t)n_ctx * (uint64_t)n_slots * 2 * 2;
}

static int64_t ctx_for(const omni_registry *r, int64_t n_ctx_train) {
    if (r->p.engine.n_ctx > 0) return r->p.engine.n_ctx;
    return n_ctx_train > 0 && n_ctx_train < 4096 ? n_ctx_train : 4096;
}

static int64_t arch_int(const struct gguf *g, const char *arch, const char *key, int64_t def) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    int bad = 0;
    int64_t v = gguf_get_int(g, k, def, &bad);
    if (!bad) return v;
    /* per-layer arrays (head_count_kv of some families): the largest */
    enum gguf_type et;
    uint64_t n = 0;
    if (gguf_get_arr(g, k, &et, &n) != 0 || !n) return def;
    int64_t mx = 0;
    for (uint64_t i = 0; i < n && i < 4096; i++) {
        int64_t x = gguf_get_arr_int(g, k, i);
        if (x > mx) mx = x;
    }
    return mx;
}

/* What a store file is, and what it takes loaded. kind 0: nothing we serve. */
static void classify(const omni_registry *r, const char *path, uint64_t file_size, omni_model_kind *kind,
                     uint64_t *mem) {
    *kind = 0;
    *mem = file_size;
    FILE *f = fopen(path, "rb");
    unsigned char h[4 + 44];
    size_t n = f ? fread(h, 1, sizeof h, f) : 0;
    if (f) fclose(f);
    if (n >= 4 && !memcmp(h, "GGUF", 4)) {
        struct err e;
        struct gguf *g = gguf_open(path, &e);
        if (!g) return;
        char arch[64] = "";
        struct gguf_str a = gguf_get_str(g, "general.architecture"), t = gguf_get_str(g, "general.type");
        if (a.s && a.len < sizeof arch) memcpy(arch, a.s, a.len), arch[a.len] = 0;
        int adapter = t.s && t.len == 7 && !memcmp(t.s, "adapter", 7);
        if (!arch[0] || adapter || gguf_n_tensors(g) == 0) { gguf_close(g); return; }
        if (!strcmp(arch, "clip")) *kind = OMNI_KIND_IMAGE_ENCODER;
        else {
            int bad = 0;
            char k[96];
            snprintf(k, sizeof k, "%s.pooling_type", arch);
            int64_t pool = gguf_get_int(g, k, -1, &bad);
            gguf_close(g);
            g = NULL;
            if (omni_file_is_embedding_model(path)) {
                struct gguf *g2 = gguf_open(path, &e);
                int head = g2 && (gguf_find_tensor(g2, "cls.output.weight") >= 0);
                gguf_close(g2);
                *kind = pool == OMNI_POOLING_RANK || (pool < 0 && head) ? OMNI_KIND_RERANK : OMNI_KIND_EMBEDDING;
            } else *kind = OMNI_KIND_CHAT;
        }
        if (*kind == OMNI_KIND_CHAT && (g = gguf_open(path, &e))) {
            int64_t n_layer = arch_int(g, arch, "block_count", 0), n_embd = arch_int(g, arch, "embedding_length", 0);
            int64_t n_head = arch_int(g, arch, "attention.head_count", 1);
            int64_t n_head_kv = arch_int(g, arch, "attention.head_count_kv", n_head);
            int64_t head_dim = arch_int(g, arch, "attention.key_length", n_head > 0 ? n_embd / n_head : 0);
            int64_t n_ctx = ctx_for(r, arch_int(g, arch, "context_length", 0));
            *mem += kv_bytes(n_layer, n_head_kv * head_dim, n_ctx, r->p.engine.n_slots);
        }
        gguf_close(g);
        return;
    }
    uint32_t magic = 0;
    if (n >= 4) memcpy(&magic, h, 4);
    if (n == sizeof h && magic == GGW_MAGIC) {
        int32_t hp[11];
        memcpy(hp, h + 4, sizeof hp);
        /* a Silero VAD starts with a short type string instead of hparams: not a model to serve */
        if (hp[0] >= 1 && hp[0] <= 63) return;
        /* n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer, n_text_ctx, n_text_state, … */
        *kind = OMNI_KIND_ASR;
        if (hp[1] > 0 && hp[1] <= 1 << 16 && hp[5] > 0 && hp[5] <= 1 << 16 && hp[6] > 0 && hp[6] <= 1 << 16 &&
            hp[8] > 0 && hp[8] <= 256) /* f32 caches: cross-attention over the audio, self-attention for 5 beams */
            *mem += (uint64_t)2 * hp[8] * hp[6] * 4 * ((uint64_t)hp[1] + (uint64_t)hp[5] * 5);
    }
}

static uint64_t chat_mem(const omni_registry *r, omni_model *m) {
    const struct llm_hparams *hp = llm_hparams(m->llm);
    omni_engine_stats es;
    omni_model_engine_stats(m, &es);
    int64_t slots = es.n_slots ? es.n_slots : r->p.engine.n_slots, ctx = es.n_ctx ? es.n_ctx : ctx_for(r, hp->n_ctx_train);
    (void)hp;
    /* the caches as the engine makes them (a sliding window's ring counted as such) */
    int type = r->p.engine.cache_type == OMNI_CACHE_Q8_0 ? DT_Q8_0 : r->p.engine.cache_type == OMNI_CACHE_Q4_0 ? DT_Q4_0
             : DT_F16;
    return omni_model_size(m) + (uint64_t)llm_kv_bytes_for(m->llm, ctx > 0x7fffffff ? 0x7fffffff : (int)ctx, type) *
                                    (uint64_t)(slots > 0 ? slots : 0);
}

/* ---- entries ---- */

static uint64_t mem_used(const omni_registry *r) {
    uint64_t u = 0;
    for (const struct entry *e = r->entries; e; e = e->next)
        if (e->state != E_UNLOADED) u += e->mem;
    return u;
}

static int visible(const struct entry *e) { return e->kind && (!e->gone || e->state != E_UNLOADED || e->pinned); }

static struct entry *by_id(omni_registry *r, const char *name) {
    for (struct entry *e = r->entries; e; e = e->next)
        if (visible(e) && !strcmp(e->id, name)) return e;
    return NULL;
}

static struct entry *find(omni_registry *r, const char *name) {
    for (struct alias *a = r->aliases; a; a = a->next)
        if (!strcmp(a->name, name)) { name = a->target; break; }
    struct entry *e = by_id(r, name);
    if (e) return e;
    size_t n = strlen(name);
    if (n > 5 && (!strcmp(name + n - 5, ".gguf"))) {
        char *b = strndup(name, n - 5);
        e = b ? by_id(r, b) : NULL;
        free(b);
    } else if (n > 4 && !strcmp(name + n - 4, ".bin")) {
        char *b = strndup(name, n - 4);
        e = b ? by_id(r, b) : NULL;
        free(b);
    }
    if (e) return e;
    for (e = r->entries; e; e = e->next)
        if (visible(e) && e->general_name && !strcmp(e->general_name, name)) return e;
    return NULL;
}

static struct entry *entry_new(omni_registry *r, const char *id, const char *path) {
    struct entry *e = calloc(1, sizeof *e);
    if (!e || !(e->id = strdup(id)) || (path && !(e->path = strdup(path)))) {
        if (e) free(e->id);
        free(e);
        return NULL;
    }
    e->expires = -1;
    struct entry **t = &r->entries;
    while (*t) t = &(*t)->next;
    *t = e;
    return e;
}

/* Picks up files added to (or removed from) the store since the last look. mu held. */
static void rescan(omni_registry *r) {
    if (!r->p.use_store) return;
    omni_store_entry *se = NULL;
    char err[256];
    int n = omni_store_list(&se, err, sizeof err);
    if (n < 0) n = 0;
    for (struct entry *e = r->entries; e; e = e->next)
        if (e->path && !e->pinned) e->gone = 1;
    for (int i = 0; i < n; i++) {
        if (se[i].partial) continue;
        struct entry *e = NULL;
        for (struct entry *x = r->entries; x; x = x->next)
            if (x->path && !x->pinned && !strcmp(x->path, se[i].path)) { e = x; break; }
        if (e) {
            e->gone = 0;
            if (e->file_size != se[i].size && e->state == E_UNLOADED) { /* replaced: look again */
                classify(r, e->path, se[i].size, &e->kind, &e->mem);
                e->file_size = se[i].size;
            }
            continue;
        }
        if (by_id(r, se[i].name)) continue;    /* a pinned model of that name wins */
        omni_model_kind kind;
        uint64_t mem;
        classify(r, se[i].path, se[i].size, &kind, &mem);
        if (!(e = entry_new(r, se[i].name, se[i].path))) break;
        e->kind = kind;
        e->mem = mem;
        e->file_size = se[i].size;
        if (kind) say(r, "found %s model %s in the store (%.1f MiB)", omni_model_kind_name(kind), e->id,
                      se[i].size / 1048576.0);
    }
    omni_store_list_free(se, n);
}

/* ---- loading and unloading ---- */

struct load_job {
    omni_registry *r;
    struct entry *e;
    char *path, *id;
    omni_model_kind kind;
    int gen;
};

struct progress { omni_registry *r; const char *id; int last; };

static void on_progress(float frac, void *user) {
    struct progress *p = user;
    int q = (int)(frac * 4);
    if (q > p->last && q < 4) { p->last = q; say(p->r, "loading %s: %d%%", p->id, q * 25); }
}

static void *loader_main(void *arg) {
    struct load_job *j = arg;
    omni_registry *r = j->r;
    char err[384] = "";
    omni_model *m = NULL;
    omni_embedder *emb = NULL;
    omni_asr *asr = NULL;
    int64_t t0 = mono_ms();
    if (j->kind == OMNI_KIND_CHAT) {
        struct progress pr = {r, j->id, 0};
        omni_model_params mp = omni_model_default_params();
        mp.n_threads = r->p.n_threads;
        mp.progress = on_progress;
        mp.progress_user = &pr;
        m = omni_model_load(j->path, &mp, err, sizeof err);
        if (m && omni_model_start_engine(m, &r->p.engine, err, sizeof err)) { omni_model_free(m); m = NULL; }
    } else if (j->kind == OMNI_KIND_EMBEDDING || j->kind == OMNI_KIND_RERANK) {
        omni_embedder_params ep = omni_embedder_default_params();
        ep.n_threads = r->p.n_threads;
        ep.pooling = r->p.pooling;
        emb = omni_embedder_load(j->path, &ep, err, sizeof err);
    } else {
        omni_asr_load_params lp = omni_asr_load_default_params();
        lp.n_threads = r->p.n_threads;
        lp.vad_model = r->vad_model;
        asr = omni_asr_load(j->path, &lp, err, sizeof err);
    }
    int ok = m || emb || asr;
    pthread_mutex_lock(&r->mu);
    struct entry *e = j->e;
    if (ok) {
        e->model = m, e->emb = emb, e->asr = asr;
        if (m) e->mem = chat_mem(r, m);
        e->state = E_READY;
        e->loaded_at = wall_ms();
        e->last_used = mono_ms();
        /* nobody may come for it (the waiter gave up): it goes like an idle model */
        e->expires = r->p.keep_alive_ms < 0 ? -1 : e->last_used + r->p.keep_alive_ms;
        say(r, "loaded %s (%s, %.1f MiB with its cache) in %.1f s", e->id, omni_model_kind_name(e->kind),
            e->mem / 1048576.0, (mono_ms() - t0) / 1e3);
    } else {
        e->state = E_UNLOADED;
        e->fail_gen = j->gen;
        snprintf(e->load_err, sizeof e->load_err, "%s", err[0] ? err : "the model did not load");
        say(r, "cannot load %s: %s", e->id, e->load_err);
    }
    r->n_loading--;
    pthread_cond_broadcast(&r->cv);
    pthread_cond_signal(&r->reaper_cv);
    pthread_mutex_unlock(&r->mu);
    free(j->path);
    free(j->id);
    free(j);
    return NULL;
}

/* Starts the load of e (UNLOADED) on a thread of its own. mu held. 0 or -1. */
static int start_load(omni_registry *r, struct entry *e, char *err, size_t cap) {
    struct load_job *j = calloc(1, sizeof *j);
    if (!j || !(j->path = strdup(e->path)) || !(j->id = strdup(e->id))) {
        if (j) free(j->path);
        free(j);
        seterr(err, cap, "out of memory");
        return -1;
    }
    j->r = r, j->e = e, j->kind = e->kind, j->gen = ++e->load_gen;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    e->state = E_LOADING;
    r->n_loading++;
    say(r, "loading %s (%s, %.1f MiB) …", e->id, omni_model_kind_name(e->kind), e->file_size / 1048576.0);
    int rc = pthread_create(&t, &at, loader_main, j);
    pthread_attr_destroy(&at);
    if (rc) {
        e->state = E_UNLOADED;
        r->n_loading--;
        free(j->path);
        free(j->id);
        free(j);
        seterr(err, cap, "cannot start a loader thread");
        return -1;
    }
    return 0;
}

/* Unloads e (READY, idle, not pinned). Drops mu while freeing: callers look again after. */
static void unload_locked(omni_registry *r, struct entry *e, const char *why) {
    e->state = E_UNLOADING;
    omni_model *m = e->model;
    omni_embedder *emb = e->emb;
    omni_asr *asr = e->asr;
    e->model = NULL, e->emb = NULL, e->asr = NULL;
    say(r, "unloading %s (%s)", e->id, why);
    pthread_mutex_unlock(&r->mu);
    omni_model_free(m);      /* stops its engine; no request holds it (active == 0) */
    omni_embedder_free(emb);
    omni_asr_free(asr);
    pthread_mutex_lock(&r->mu);
    e->state = E_UNLOADED;
    e->unload_asked = 0;
    e->expires = -1;
    e->loaded_at = 0;
    pthread_cond_broadcast(&r->cv);
}

static int timed_wait(omni_registry *r, int64_t deadline) {
    if (deadline < 0) { pthread_cond_wait(&r->cv, &r->mu); return 0; }
    int64_t now = mono_ms();
    if (now >= deadline) return ETIMEDOUT;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = (int64_t)ts.tv_nsec + (deadline - now) * 1000000;
    ts.tv_sec += (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return pthread_cond_timedwait(&r->cv, &r->mu, &ts);
}

/* Frees idle models, least recently used first, until `need` more bytes fit. mu held
 * (dropped while unloading or waiting). OMNI_OK, or OMNI_ERR_LOADING past the deadline. */
static int make_room(omni_registry *r, struct entry *target, uint64_t need, int64_t deadline) {
    for (;;) {
        if (r->stopping) return OMNI_ERR_STOPPING;
        if (target->state != E_UNLOADED) return OMNI_OK;   /* someone else started it meanwhile */
        uint64_t used = mem_used(r);
        if (used + need <= r->p.memory_budget) return OMNI_OK;
        struct entry *victim = NULL;
        int may_free = 0;
        for (struct entry *e = r->entries; e; e = e->next) {
            if (e == target || e->pinned || e->state == E_UNLOADED) continue;
            if (e->state == E_READY && !e->active) {
                if (!victim || e->last_used < victim->last_used) victim = e;
            } else may_free = 1;  /* in use, loading or unloading: room may come */
        }
        if (victim) { unload_locked(r, victim, "to make room within the memory budget"); continue; }
        if (!may_free) {
            say(r, "%s needs %.1f MiB: over the memory budget of %.1f MiB, and nothing more can be unloaded; "
                   "loading it anyway", target->id, need / 1048576.0, r->p.memory_budget / 1048576.0);
            return OMNI_OK;
        }
        if (timed_wait(r, deadline) == ETIMEDOUT) return OMNI_ERR_LOADING;
    }
}

/* ---- the reaper ---- */

static void *reaper_main(void *arg) {
    omni_registry *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stopping) {
        int64_t now = mono_ms(), next = INT64_MAX;
        struct entry *due = NULL;
        for (struct entry *e = r->entries; e && !due; e = e->next) {
            if (e->pinned || e->state != E_READY || e->active) continue;
            if (e->unload_asked || (e->expires >= 0 && e->expires <= now)) due = e;
            else if (e->expires >= 0 && e->expires < next) next = e->expires;
        }
        if (due) {
            unload_locked(r, due, due->unload_asked ? "asked to" : "keep-alive expired");
            continue;
        }
        if (next == INT64_MAX) pthread_cond_wait(&r->reaper_cv, &r->mu);
        else {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t ns = (int64_t)ts.tv_nsec + (next - now) * 1000000;
            ts.tv_sec += (time_t)(ns / 1000000000);
            ts.tv_nsec = (long)(ns % 1000000000);
            pthread_cond_timedwait(&r->reaper_cv, &r->mu, &ts);
        }
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ---- the public calls ---- */

omni_registry *omni_registry_new(const omni_registry_params *params, char *err, size_t err_size) {
    omni_registry *r = calloc(1, sizeof *r);
    if (!r) { seterr(err, err_size, "out of memory"); return NULL; }
    r->p = params ? *params : omni_registry_default_params();
    if (r->p.engine.n_slots <= 0) r->p.engine.n_slots = omni_engine_default_params().n_slots;
    if (!r->p.memory_budget) r->p.memory_budget = default_budget();
    if (r->p.vad_model && !(r->vad_model = strdup(r->p.vad_model))) {
        free(r);
        seterr(err, err_size, "out of memory");
        return NULL;
    }
    r->p.vad_model = r->vad_model;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, &ca);
    pthread_cond_init(&r->reaper_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&r->reaper, NULL, reaper_main, r)) {
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
        pthread_cond_destroy(&r->reaper_cv);
        free(r->vad_model);
        free(r);
        seterr(err, err_size, "cannot start the registry's thread");
        return NULL;
    }
    pthread_mutex_lock(&r->mu);
    rescan(r);
    pthread_mutex_unlock(&r->mu);
    return r;
}

void omni_registry_free(omni_registry *r) {
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    r->stopping = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_cond_signal(&r->reaper_cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->reaper, NULL);
    pthread_mutex_lock(&r->mu);
    while (r->n_loading) pthread_cond_wait(&r->cv, &r->mu);   /* loads in flight finish first */
    for (struct entry *e = r->entries; e; e = e->next)
        if (!e->pinned && e->state == E_READY) unload_locked(r, e, "shutting down");
    pthread_mutex_unlock(&r->mu);
    for (struct entry *e = r->entries, *n; e; e = n) {
        n = e->next;
        free(e->id);
        free(e->path);
        free(e->general_name);
        free(e);
    }
    for (struct alias *a = r->aliases, *n; a; a = n) {
        n = a->next;
        free(a->name);
        free(a->target);
        free(a);
    }
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    pthread_cond_destroy(&r->reaper_cv);
    free(r->vad_model);
    free(r);
}

int omni_registry_pin(omni_registry *r, const char *id, omni_model *model, omni_embedder *embedder, omni_asr *asr,
                      char *err, size_t err_size) {
    if (!id || !*id || (!!model + !!embedder + !!asr) != 1) {
        seterr(err, err_size, "pin: an id and exactly one model are needed");
        return -1;
    }
    pthread_mutex_lock(&r->mu);
    struct entry *old = by_id(r, id);
    if (old && old->pinned) {
        pthread_mutex_unlock(&r->mu);
        seterr(err, err_size, "the model id '%s' is taken already", id);
        return -1;
    }
    if (old) old->gone = 1, old->kind = old->state == E_UNLOADED ? 0 : old->kind; /* the pinned one wins the name */
    struct entry *e = entry_new(r, id, NULL);
    if (!e) { pthread_mutex_unlock(&r->mu); seterr(err, err_size, "out of memory"); return -1; }
    e->pinned = 1;
    e->state = E_READY;
    e->loaded_at = wall_ms();
    e->last_used = mono_ms();
    e->model = model, e->emb = embedder, e->asr = asr;
    if (model) {
        e->kind = OMNI_KIND_CHAT;
        e->mem = chat_mem(r, model);
        if (strcmp(omni_model_name(model), id)) e->general_name = strdup(omni_model_name(model));
    } else if (embedder) {
        e->kind = omni_embedder_can_rerank(embedder) ? OMNI_KIND_RERANK : OMNI_KIND_EMBEDDING;
    } else e->kind = OMNI_KIND_ASR;
    pthread_mutex_unlock(&r->mu);
    return 0;
}

int omni_registry_alias(omni_registry *r, const char *alias, const char *target, char *err, size_t err_size) {
    if (!alias || !*alias || !target || !*target) {
        seterr(err, err_size, "an alias needs a name and a model (NAME=MODEL)");
        return -1;
    }
    pthread_mutex_lock(&r->mu);
    struct alias *a = r->aliases;
    while (a && strcmp(a->name, alias)) a = a->next;
    char *t = strdup(target);
    if (!a && t && (a = calloc(1, sizeof *a)) && !(a->name = strdup(alias))) { free(a); a = NULL; }
    if (!a || !t) {
        pthread_mutex_unlock(&r->mu);
        free(t);
        seterr(err, err_size, "out of memory");
        return -1;
    }
    if (a->target) free(a->target);
    else a->next = r->aliases, r->aliases = a;
    a->target = t;
    pthread_mutex_unlock(&r->mu);
    return 0;
}

/* "'a', 'b' and 3 more" of the models of kinds, for messages. mu held. */
static void names_of(omni_registry *r, int kinds, char *buf, size_t cap) {
    size_t o = 0;
    int n = 0, more = 0;
    buf[0] = 0;
    for (struct entry *e = r->entries; e; e = e->next) {
        if (!visible(e) || !(e->kind & kinds)) continue;
        if (n >= 8) { more++; continue; }
        int k = snprintf(buf + o, cap - o, "%s'%s'", n ? ", " : "", e->id);
        if (k < 0 || (size_t)k >= cap - o) break;
        o += (size_t)k;
        n++;
    }
    if (more && o < cap) snprintf(buf + o, cap - o, " and %d more", more);
    if (!n) snprintf(buf, cap, "none");
}

int omni_registry_acquire(omni_registry *r, const char *name, int kinds, int timeout_ms, omni_registry_ref *ref,
                          char *err, size_t err_size) {
    memset(ref, 0, sizeof *ref);
    int64_t deadline = timeout_ms < 0 ? -1 : mono_ms() + timeout_ms;
    pthread_mutex_lock(&r->mu);
    struct entry *e = NULL;
    int rc = OMNI_OK;
    if (r->stopping) { rc = OMNI_ERR_STOPPING; seterr(err, err_size, "the server is shutting down"); goto out; }
    if (!name || !*name) {
        for (struct entry *x = r->entries; x && !e; x = x->next)
            if (x->pinned && (x->kind & kinds)) e = x;
        for (struct entry *x = r->entries; x && !(e && e->pinned); x = x->next)
            if (visible(x) && x->state == E_READY && (x->kind & kinds) && (!e || x->last_used > e->last_used)) e = x;
        /* none loaded: the store's first by id, so a client that names no model still gets one */
        for (struct entry *x = r->entries; x && !(e && e->state == E_READY); x = x->next)
            if (visible(x) && (x->kind & kinds) && x->kind != OMNI_KIND_IMAGE_ENCODER && (!e || strcmp(x->id, e->id) < 0))
                e = x;
        if (!e) {
            char list[400];
            names_of(r, kinds, list, sizeof list);
            rc = OMNI_ERR_NOT_FOUND;
            seterr(err, err_size, "no model given and none loaded; 'model' may be one of %s", list);
            goto out;
        }
    } else if (!(e = find(r, name))) {
        rescan(r);
        e = find(r, name);
    }
    if (!e) {
        char list[400];
        names_of(r, kinds, list, sizeof list);
        rc = OMNI_ERR_NOT_FOUND;
        seterr(err, err_size, "the model '%s' does not exist; this server has %s", name, list);
        goto out;
    }
    if (!(e->kind & kinds) || e->kind == OMNI_KIND_IMAGE_ENCODER) {
        rc = OMNI_ERR_WRONG_KIND;
        seterr(err, err_size, "'%s' is %s model, not one for this request", e->id,
               e->kind == OMNI_KIND_IMAGE_ENCODER ? "an image-encoder" : e->kind == OMNI_KIND_ASR ? "an asr"
               : e->kind == OMNI_KIND_EMBEDDING ? "an embedding" : e->kind == OMNI_KIND_RERANK ? "a rerank" : "a chat");
        goto out;
    }
    int my_gen = -1;
    for (;;) {
        if (r->stopping) { rc = OMNI_ERR_STOPPING; seterr(err, err_size, "the server is shutting down"); break; }
        if (e->state == E_READY) {
            e->active++;
            e->last_used = mono_ms();
            ref->kind = e->kind, ref->id = e->id, ref->model = e->model, ref->embedder = e->emb, ref->asr = e->asr;
            ref->entry_ = e;
            break;
        }
        if (e->state == E_UNLOADED) {
            if (my_gen >= 0 && e->fail_gen == my_gen) {
                rc = OMNI_ERR_INVALID;
                seterr(err, err_size, "%s: %s", e->id, e->load_err);
                break;
            }
            if (!e->path) { rc = OMNI_ERR_INVALID; seterr(err, err_size, "%s is not loaded", e->id); break; }
            rc = make_room(r, e, e->mem, deadline);
            if (rc == OMNI_ERR_LOADING) {
                seterr(err, err_size, "'%s' waits for memory: the models in use fill the memory budget", e->id);
                break;
            }
            if (rc != OMNI_OK) { seterr(err, err_size, "the server is shutting down"); break; }
            if (e->state != E_UNLOADED) continue;
            if (start_load(r, e, err, err_size)) { rc = OMNI_ERR_INVALID; break; }
            my_gen = e->load_gen;
            continue;
        }
        if (e->state == E_LOADING && my_gen < 0) my_gen = e->load_gen;
        if (timed_wait(r, deadline) == ETIMEDOUT && e->state != E_READY) {
            rc = OMNI_ERR_LOADING;
            seterr(err, err_size, "'%s' is still loading; retry shortly", e->id);
            break;
        }
    }
out:
    pthread_mutex_unlock(&r->mu);
    return rc;
}

void omni_registry_release(omni_registry *r, omni_registry_ref *ref, int64_t keep_alive_ms) {
    struct entry *e = ref ? ref->entry_ : NULL;
    if (!e) return;
    pthread_mutex_lock(&r->mu);
    if (e->active > 0) e->active--;
    int64_t now = mono_ms();
    e->last_used = now;
    if (!e->pinned) {
        int64_t ka = keep_alive_ms == OMNI_KEEP_ALIVE_DEFAULT ? r->p.keep_alive_ms : keep_alive_ms;
        e->expires = ka < 0 ? -1 : now + ka;
    }
    pthread_cond_broadcast(&r->cv);
    pthread_cond_signal(&r->reaper_cv);
    pthread_mutex_unlock(&r->mu);
    memset(ref, 0, sizeof *ref);
}

int omni_registry_load(omni_registry *r, const char *name, int64_t keep_alive_ms, int timeout_ms, char *err,
                       size_t err_size) {
    omni_registry_ref ref;
    int rc = omni_registry_acquire(r, name, OMNI_KIND_CHAT | OMNI_KIND_EMBEDDING | OMNI_KIND_RERANK | OMNI_KIND_ASR,
                                   timeout_ms, &ref, err, err_size);
    if (rc == OMNI_OK) omni_registry_release(r, &ref, keep_alive_ms);
    return rc;
}

int omni_registry_unload(omni_registry *r, const char *name, char *err, size_t err_size) {
    pthread_mutex_lock(&r->mu);
    struct entry *e = name && *name ? find(r, name) : NULL;
    int rc = 0;
    if (!e) {
        rc = OMNI_ERR_NOT_FOUND;
        seterr(err, err_size, "the model '%s' does not exist", name ? name : "");
    } else if (e->pinned) {
        rc = OMNI_ERR_INVALID;
        seterr(err, err_size, "'%s' is pinned (given with -m or on the command line): it stays loaded", e->id);
    } else if (e->state == E_READY && !e->active) {
        unload_locked(r, e, "asked to");
    } else if (e->state != E_UNLOADED) {
        e->unload_asked = 1;   /* the reaper does it once the last request ends (or the load does) */
        pthread_cond_signal(&r->reaper_cv);
        rc = 1;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static int model_order(const void *a, const void *b) {
    const omni_registry_model *x = a, *y = b;
    if (x->pinned != y->pinned) return y->pinned - x->pinned;
    if (x->kind != y->kind) return (int)x->kind - (int)y->kind;
    return strcmp(x->id, y->id);
}

int omni_registry_list(omni_registry *r, int loaded_only, omni_registry_model **out, char *err, size_t err_size) {
    *out = NULL;
    pthread_mutex_lock(&r->mu);
    if (!loaded_only) rescan(r);
    int n = 0;
    for (struct entry *e = r->entries; e; e = e->next) n += visible(e);
    omni_registry_model *m = calloc((size_t)(n ? n : 1), sizeof *m);
    int k = 0, oom = !m;
    int64_t now = mono_ms(), wnow = wall_ms();
    for (struct entry *e = r->entries; e && !oom; e = e->next) {
        if (!visible(e) || (loaded_only && e->state != E_READY && e->state != E_LOADING)) continue;
        omni_registry_model *x = &m[k++];
        x->id = strdup(e->id);
        x->path = e->path ? strdup(e->path) : NULL;
        oom = !x->id || (e->path && !x->path);
        x->kind = e->kind;
        x->file_size = e->file_size;
        x->memory = e->mem;
        x->pinned = e->pinned;
        x->loaded = e->state == E_READY ? 1 : e->state == E_LOADING ? 2 : 0;
        x->active = e->active;
        x->loaded_at = e->state == E_READY ? e->loaded_at : 0;
        x->expires_at = e->state != E_READY ? -1 : e->pinned || e->active || e->expires < 0 ? 0
                      : wnow + (e->expires > now ? e->expires - now : 0);
        x->n_ctx = e->state != E_READY ? 0 : e->model ? omni_request_n_ctx(e->model, NULL)
                 : e->emb ? omni_embedder_n_ctx(e->emb) : 0;
    }
    pthread_mutex_unlock(&r->mu);
    if (oom) {
        omni_registry_list_free(m, k);
        seterr(err, err_size, "out of memory");
        return -1;
    }
    qsort(m, (size_t)k, sizeof *m, model_order);
    if (!k) { free(m); m = NULL; }
    *out = m;
    return k;
}

void omni_registry_list_free(omni_registry_model *m, int n) {
    for (int i = 0; m && i < n; i++) {
        free(m[i].id);
        free(m[i].path);
    }
    free(m);
}

void omni_registry_memory(omni_registry *r, uint64_t *budget, uint64_t *used) {
    pthread_mutex_lock(&r->mu);
    if (budget) *budget = r->p.memory_budget;
    if (used) *used = mem_used(r);
    pthread_mutex_unlock(&r->mu);
}

void omni_registry_cancel_all(omni_registry *r) {
    pthread_mutex_lock(&r->mu);
    for (struct entry *e = r->entries; e; e = e->next)
        if (e->state == E_READY && e->model) omni_model_cancel_all(e->model);
    pthread_mutex_unlock(&r->mu);
}

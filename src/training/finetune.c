/* omni_finetune (omni.h): the data (SFT and DPO JSONL rendered through the chat template,
 * with a loss mask on the trained assistant turns), the optimizer (AdamW, warm-up + cosine,
 * gradient accumulation and clipping), checkpoints and resume, and the adapter file. The
 * model's forward and backward are train_model.c's.
 *
 * Loss mask: a conversation is rendered at every turn boundary (the prefix before an
 * assistant turn with the generation prompt, then with that turn); each boundary text is
 * a prefix of the whole, and the tokens of a turn are those the whole text's tokens add
 * beyond the longest common prefix with the boundary text's tokens, so the ids trained
 * are exactly the whole rendering's, as inference would see them. A template that does
 * not render prefixes as prefixes (one that rewrites earlier turns) trains its last
 * assistant turn only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cJSON.h>

#include "core/error.h"
#include "core/pool.h"
#include "formats/gguf.h"
#include "models/llm.h"
#include "omni.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"
#include "training/finetune_data.h"
#include "training/train_model.h"

omni_finetune_params omni_finetune_default_params(void) {
    omni_finetune_params p = {0};
    p.rank = 16, p.alpha = 32, p.epochs = 3, p.lr = 1e-4f, p.batch = 4, p.ctx = 512, p.warmup = -1;
    p.dpo_beta = 0.1f, p.seed = 42;
    return p;
}

/* ---- items ---- */

struct seq {
    int32_t *ids;  /* T + 1 ids */
    float *w;      /* [T] target weights: 1 where ids[t + 1] is trained */
    int T;
    double n_loss; /* sum of w */
    double ref;    /* DPO: the frozen base's log-probability of the trained tokens */
};

struct item {
    int dpo;           /* 0: SFT (s[0]); 1: DPO pair s[0] preferred, s[1] not */
    struct seq s[2];
};

struct data {
    struct item *it;
    int n, cap;
};

static void data_free(struct data *d) {
    for (int i = 0; i < d->n; i++)
        for (int k = 0; k < 2; k++) free(d->it[i].s[k].ids), free(d->it[i].s[k].w);
    free(d->it);
}

struct enc {
    const struct tokenizer *tok;
    const char *tmpl;      /* NULL: ChatML */
    char bos[128], eos[128];
    int32_t bos_id, eos_id;
    int add_bos, ctx;
};

static void enc_init(struct enc *en, const struct tokenizer *tok, const char *tmpl, int ctx) {
    memset(en, 0, sizeof *en);
    en->tok = tok, en->tmpl = tmpl, en->bos_id = tokenizer_bos(tok), en->eos_id = tokenizer_eos(tok);
    en->add_bos = tokenizer_add_bos(tok), en->ctx = ctx;
    size_t pl;
    const char *pc;
    if (en->bos_id >= 0 && (pc = tokenizer_piece(tok, en->bos_id, 1, &pl)) && pl < sizeof en->bos) memcpy(en->bos, pc, pl);
    if (en->eos_id >= 0 && (pc = tokenizer_piece(tok, en->eos_id, 1, &pl)) && pl < sizeof en->eos) memcpy(en->eos, pc, pl);
}

static int encode(const struct enc *en, const char *text, size_t len, int32_t **ids, size_t *n, struct err *e) {
    int32_t *v = NULL;
    size_t k = 0;
    if (tokenizer_encode(en->tok, text, len, 0, 1, &v, &k, e)) return -1;
    if (en->add_bos && en->bos_id >= 0 && (k == 0 || v[0] != en->bos_id)) {
        int32_t *w = realloc(v, (k + 1) * sizeof *w);
        if (!w) { free(v); return err_set(e, "out of memory"); }
        memmove(w + 1, w, k * sizeof *w);
        w[0] = en->bos_id, v = w, k++;
    }
    *ids = v, *n = k;
    return 0;
}

/* boundaries: text[0..end[i]) closes segment i, trained when loss[i] */
#define MAX_SEG 512
struct segs {
    size_t end[MAX_SEG];
    int loss[MAX_SEG];
    int n;
};

static int seg_push(struct segs *s, size_t end, int loss, struct err *e) {
    if (s->n == MAX_SEG) return err_set(e, "more than %d turns", MAX_SEG / 2);
    s->end[s->n] = end, s->loss[s->n] = loss, s->n++;
    return 0;
}

/* the token sequence of text with its segments' mask, cut to ctx + 1 ids */
static int build_seq(const struct enc *en, const char *text, const struct segs *sg, int add_eos, struct seq *out,
                     struct err *e) {
    int32_t *F = NULL;
    size_t nF = 0;
    if (encode(en, text, sg->end[sg->n - 1], &F, &nF, e)) return -1;
    int eos = add_eos && en->eos_id >= 0;
    int32_t *ids = malloc((nF + 2) * sizeof *ids);
    int8_t *m = calloc(nF + 2, 1);
    if (!ids || !m) { free(F), free(ids), free(m); return err_set(e, "out of memory"); }
    memcpy(ids, F, nF * sizeof *ids);
    size_t prev = 0;
    for (int i = 0; i < sg->n; i++) {
        size_t b = nF;
        if (i + 1 < sg->n) {
            int32_t *P = NULL;
            size_t nP = 0;
            if (encode(en, text, sg->end[i], &P, &nP, e)) { free(F), free(ids), free(m); return -1; }
            b = 0;
            while (b < nP && b < nF && P[b] == F[b]) b++;
            free(P);
        }
        if (b < prev) b = prev;
        for (size_t k = prev; k < b; k++) m[k] = (int8_t)sg->loss[i];
        prev = b;
    }
    free(F);
    size_t n = nF;
    if (eos) ids[n] = en->eos_id, m[n] = (int8_t)sg->loss[sg->n - 1], n++;
    if (n > (size_t)en->ctx + 1) n = (size_t)en->ctx + 1;
    if (n < 2) { free(ids), free(m); return err_set(e, "fewer than 2 tokens"); }
    out->T = (int)n - 1, out->ids = ids, out->n_loss = 0;
    if (!(out->w = calloc(n, sizeof *out->w))) { free(ids), free(m); return err_set(e, "out of memory"); }
    for (int t = 0; t < out->T; t++) out->n_loss += (out->w[t] = m[t + 1] ? 1.0f : 0.0f);
    free(m);
    if (out->n_loss == 0) {
        free(out->ids), free(out->w), out->ids = NULL, out->w = NULL;
        return err_set(e, "no trained (assistant or completion) tokens within the first %d", en->ctx + 1);
    }
    return 0;
}

struct msgs {
    struct chat_message m[MAX_SEG / 2];
    float weight[MAX_SEG / 2];
    int n;
};

static const char *content_text(const cJSON *c, char **owned) {
    *owned = NULL;
    if (cJSON_IsString(c)) return c->valuestring;
    if (!cJSON_IsArray(c)) return NULL;
    size_t len = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, c) {
        const cJSON *tx = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (!cJSON_IsString(tx)) return NULL;
        len += strlen(tx->valuestring);
    }
    char *s = malloc(len + 1);
    if (!s) return NULL;
    s[0] = 0;
    cJSON_ArrayForEach(p, c) strcat(s, cJSON_GetObjectItemCaseSensitive(p, "text")->valuestring);
    return *owned = s;
}

/* appends the messages of JSON array a; owned[] collects content copies to free */
static int add_msgs(struct msgs *ms, const cJSON *a, const char *what, char **owned, int *n_owned, struct err *e) {
    if (!cJSON_IsArray(a) || !cJSON_GetArraySize(a)) return err_set(e, "%s must be a non-empty array of messages", what);
    const cJSON *o;
    cJSON_ArrayForEach(o, a) {
        if (ms->n == MAX_SEG / 2) return err_set(e, "more than %d messages", MAX_SEG / 2);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(o, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(o, "content");
        const cJSON *weight = cJSON_GetObjectItemCaseSensitive(o, "weight");
        if (!cJSON_IsString(role) ||
            (strcmp(role->valuestring, "system") && strcmp(role->valuestring, "user") &&
             strcmp(role->valuestring, "assistant") && strcmp(role->valuestring, "developer")))
            return err_set(e, "%s: each message needs a role of system, developer, user or assistant", what);
        char *own;
        const char *text = content_text(content, &own);
        if (!text) return err_set(e, "%s: a %s message's content must be a string or text parts", what, role->valuestring);
        if (own) owned[(*n_owned)++] = own;
        if (weight && !cJSON_IsNumber(weight)) return err_set(e, "%s: \"weight\" must be 0 or 1", what);
        ms->weight[ms->n] = weight ? (float)weight->valuedouble : 1.0f;
        ms->m[ms->n++] = (struct chat_message){
            .role = strcmp(role->valuestring, "developer") ? role->valuestring : "system", .content = text};
    }
    return 0;
}

static int render(const struct enc *en, const struct msgs *ms, int n, int agp, char **out, struct err *e) {
    struct chat_render_opts o = {.add_generation_prompt = agp, .bos_token = en->bos, .eos_token = en->eos,
                                 .date_string = "26 Jul 2024"};
    return chat_render(en->tmpl, ms->m, n, &o, out, e);
}

static int starts(const char *s, const char *pre) { return !strncmp(s, pre, strlen(pre)); }

/* a conversation's sequence: assistant messages from index train_from on are trained */
static int conv_seq(const struct enc *en, const struct msgs *ms, int train_from, struct seq *out, struct err *e) {
    struct segs sg = {0};
    char *prev = strdup(""), *text = NULL;
    int last = -1, ok = prev != NULL, rc = -1;
    for (int i = 0; i < ms->n; i++)
        if (!strcmp(ms->m[i].role, "assistant") && i >= train_from && ms->weight[i] != 0) last = i;
    if (last < 0) { free(prev); return err_set(e, "no assistant message to train on"); }
    for (int i = 0; ok && i <= last; i++) {
        char *gp = NULL, *full = NULL;
        if (!strcmp(ms->m[i].role, "assistant")) {
            if (render(en, ms, i, 1, &gp, e)) goto out;
            if (!starts(gp, prev)) ok = 0;
            else if (seg_push(&sg, strlen(gp), 0, e)) { free(gp); goto out; }
        }
        if (ok && render(en, ms, i + 1, 0, &full, e)) { free(gp); goto out; }
        if (ok && !starts(full, gp ? gp : prev)) ok = 0;
        int loss = !strcmp(ms->m[i].role, "assistant") && i >= train_from && ms->weight[i] != 0;
        if (ok && seg_push(&sg, strlen(full), loss, e)) { free(gp), free(full); goto out; }
        free(gp), free(prev);
        prev = full;
    }
    if (!ok) { /* the template rewrites earlier turns: train the last assistant turn alone */
        char *gp = NULL;
        sg.n = 0;
        free(prev), prev = NULL;
        if (render(en, ms, last, 1, &gp, e) || render(en, ms, last + 1, 0, &prev, e)) { free(gp); goto out; }
        if (!starts(prev, gp)) {
            free(gp);
            err_set(e, "the chat template does not render the conversation before the last assistant turn as a "
                       "prefix of the whole");
            goto out;
        }
        seg_push(&sg, strlen(gp), 0, e);
        seg_push(&sg, strlen(prev), 1, e);
        free(gp);
    }
    text = prev, prev = NULL;
    rc = build_seq(en, text, &sg, 0, out, e);
out:
    free(prev), free(text);
    return rc;
}

static int add_item(struct data *d, struct err *e) {
    if (d->n == d->cap) {
        int cap = d->cap ? 2 * d->cap : 64;
        struct item *it = realloc(d->it, (size_t)cap * sizeof *it);
        if (!it) return err_set(e, "out of memory");
        d->it = it, d->cap = cap;
    }
    memset(&d->it[d->n], 0, sizeof d->it[d->n]);
    return 0;
}

static int parse_line(const struct enc *en, const cJSON *j, int dpo, struct item *it, struct err *e) {
    char *owned[2 * MAX_SEG];
    int n_owned = 0, rc = -1;
    struct msgs *ms = calloc(1, sizeof *ms);
    if (!ms) return err_set(e, "out of memory");
    if (!cJSON_IsObject(j)) { err_set(e, "not a JSON object"); goto out; }
    it->dpo = dpo;
    if (dpo) {
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(j, "input");
        const cJSON *im = cJSON_GetObjectItemCaseSensitive(in, "messages");
        const char *keys[2] = {"preferred_output", "non_preferred_output"};
        for (int k = 0; k < 2; k++) {
            ms->n = 0;
            if (add_msgs(ms, im, "input.messages", owned, &n_owned, e)) goto out;
            int n_in = ms->n;
            if (add_msgs(ms, cJSON_GetObjectItemCaseSensitive(j, keys[k]), keys[k], owned, &n_owned, e)) goto out;
            if (conv_seq(en, ms, n_in, &it->s[k], e)) { err_prefix(e, "%s: ", keys[k]); goto out; }
        }
        rc = 0;
        goto out;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "messages");
    if (m) {
        if (add_msgs(ms, m, "messages", owned, &n_owned, e)) goto out;
        rc = conv_seq(en, ms, 0, &it->s[0], e);
        goto out;
    }
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(j, "prompt"), *co = cJSON_GetObjectItemCaseSensitive(j, "completion");
    if (!cJSON_IsString(pr) || !cJSON_IsString(co)) {
        err_set(e, "expected {\"messages\": [...]} or {\"prompt\": \"...\", \"completion\": \"...\"}");
        goto out;
    }
    size_t lp = strlen(pr->valuestring), lc = strlen(co->valuestring);
    char *text = malloc(lp + lc + 1);
    if (!text) { err_set(e, "out of memory"); goto out; }
    memcpy(text, pr->valuestring, lp), memcpy(text + lp, co->valuestring, lc + 1);
    struct segs sg = {.n = 2, .end = {lp, lp + lc}, .loss = {0, 1}};
    rc = build_seq(en, text, &sg, 1, &it->s[0], e);
    free(text);
out:
    for (int i = 0; i < n_owned; i++) free(owned[i]);
    free(ms);
    return rc;
}

static int read_jsonl(const struct enc *en, const char *path, int dpo, struct data *d, struct err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(e, "%s: cannot open", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int ln = 0, before = d->n;
    while ((len = getline(&line, &cap, f)) >= 0) {
        ln++;
        size_t k = 0;
        while (k < (size_t)len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r' || line[k] == '\n')) k++;
        if (k == (size_t)len) continue;
        cJSON *j = cJSON_ParseWithLength(line, (size_t)len);
        if (!j) { err_set(e, "%s:%d: not valid JSON", path, ln); goto fail; }
        if (add_item(d, e)) { cJSON_Delete(j); goto fail; }
        int rc = parse_line(en, j, dpo, &d->it[d->n], e);
        cJSON_Delete(j);
        if (rc) {
            for (int s = 0; s < 2; s++) free(d->it[d->n].s[s].ids), free(d->it[d->n].s[s].w);
            err_prefix(e, "%s:%d: ", path, ln);
            goto fail;
        }
        d->n++;
    }
    free(line);
    fclose(f);
    if (d->n == before) return err_set(e, "%s: no examples", path);
    return 0;
fail:
    free(line);
    fclose(f);
    return -1;
}

int finetune_encode_line(const struct tokenizer *tok, const char *tmpl, int ctx, const char *line, int dpo,
                         int32_t **ids, float **w, int *T, struct err *e) {
    struct enc en;
    enc_init(&en, tok, tmpl, ctx);
    cJSON *j = cJSON_Parse(line);
    if (!j) return err_set(e, "not valid JSON");
    struct item it;
    memset(&it, 0, sizeof it);
    int rc = parse_line(&en, j, dpo, &it, e);
    cJSON_Delete(j);
    free(it.s[1].ids), free(it.s[1].w);
    if (rc) return -1;
    *ids = it.s[0].ids, *w = it.s[0].w, *T = it.s[0].T;
    return 0;
}

/* ---- optimizer state, checkpoints ---- */

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t data_hash(const struct data *d) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < d->n; i++)
        for (int k = 0; k < 1 + d->it[i].dpo; k++) {
            const struct seq *s = &d->it[i].s[k];
            h = fnv(h, s->ids, (size_t)(s->T + 1) * sizeof *s->ids);
            h = fnv(h, s->w, (size_t)s->T * sizeof *s->w);
        }
    return h;
}

struct run {
    const omni_finetune_params *p;
    struct tmodel *tm;
    float *m, *v;
    size_t n;
    int step, n_steps, spe, warmup;
    uint64_t hash;
    int n_items;
};

static const char *const ck_keys[] = {"omni.finetune.rank", "omni.finetune.batch", "omni.finetune.epochs",
                                      "omni.finetune.n_items", "omni.finetune.ctx"};

static void ck_vals(const struct run *r, int64_t *v) {
    v[0] = r->p->rank, v[1] = r->p->batch, v[2] = r->p->epochs, v[3] = r->n_items, v[4] = r->p->ctx;
}

static int save_checkpoint(const struct run *r, const char *path, struct err *e) {
    struct gguf_writer *w = gguf_writer_new();
    if (!w) return err_set(e, "out of memory");
    gguf_w_str(w, "general.type", "omni-finetune-checkpoint");
    gguf_w_u32(w, "omni.finetune.step", (uint32_t)r->step);
    int64_t v[5];
    ck_vals(r, v);
    for (int i = 0; i < 5; i++) gguf_w_u64(w, ck_keys[i], (uint64_t)v[i]);
    char hx[40];  /* 64-bit values as hex text: the reader's integers are signed */
    snprintf(hx, sizeof hx, "%016llx", (unsigned long long)r->p->seed);
    gguf_w_str(w, "omni.finetune.seed", hx);
    snprintf(hx, sizeof hx, "%016llx", (unsigned long long)r->hash);
    gguf_w_str(w, "omni.finetune.data_hash", hx);
    gguf_w_f32(w, "omni.finetune.alpha", r->p->alpha);
    gguf_w_f32(w, "omni.finetune.lr", r->p->lr);
    gguf_w_f32(w, "omni.finetune.weight_decay", r->p->weight_decay);
    gguf_w_f32(w, "omni.finetune.dpo_beta", r->p->dpo_beta);
    gguf_w_i32(w, "omni.finetune.warmup", r->warmup);
    int64_t ne[1] = {(int64_t)r->n};
    int rc = gguf_w_tensor_ref(w, "lora.params", 0, 1, ne, tmodel_params(r->tm), e) ||
             gguf_w_tensor_ref(w, "adam.m", 0, 1, ne, r->m, e) || gguf_w_tensor_ref(w, "adam.v", 0, 1, ne, r->v, e) ||
             gguf_writer_save(w, path, e);
    gguf_writer_free(w);
    return rc ? -1 : 0;
}

static int load_checkpoint(struct run *r, const char *path, struct err *e) {
    struct gguf *g = gguf_open(path, e);
    if (!g) return -1;
    int bad = 0, rc = -1;
    struct gguf_str ty = gguf_get_str(g, "general.type");
    if (!ty.s || ty.len != 24 || memcmp(ty.s, "omni-finetune-checkpoint", 24)) {
        err_set(e, "%s: not an omni finetune checkpoint", path);
        goto out;
    }
    int64_t v[5];
    ck_vals(r, v);
    for (int i = 0; i < 5; i++)
        if (gguf_get_int(g, ck_keys[i], -1, &bad) != v[i] || bad) {
            err_set(e, "%s: made with another %s (%lld, now %lld)", path, ck_keys[i] + 14,
                    (long long)gguf_get_int(g, ck_keys[i], -1, &bad), (long long)v[i]);
            goto out;
        }
    char hs[40], hh[40];
    snprintf(hs, sizeof hs, "%016llx", (unsigned long long)r->p->seed);
    snprintf(hh, sizeof hh, "%016llx", (unsigned long long)r->hash);
    struct gguf_str gs = gguf_get_str(g, "omni.finetune.seed"), gh = gguf_get_str(g, "omni.finetune.data_hash");
    if (gs.len != 16 || memcmp(gs.s, hs, 16) || gh.len != 16 || memcmp(gh.s, hh, 16) ||
        (float)gguf_get_float(g, "omni.finetune.alpha", 0, &bad) != r->p->alpha ||
        (float)gguf_get_float(g, "omni.finetune.lr", 0, &bad) != r->p->lr ||
        (float)gguf_get_float(g, "omni.finetune.weight_decay", 0, &bad) != r->p->weight_decay ||
        (float)gguf_get_float(g, "omni.finetune.dpo_beta", 0, &bad) != r->p->dpo_beta ||
        gguf_get_int(g, "omni.finetune.warmup", -2, &bad) != r->warmup || bad) {
        err_set(e, "%s: made with another seed, data, alpha, learning rate, weight decay, beta or warm-up", path);
        goto out;
    }
    int64_t step = gguf_get_int(g, "omni.finetune.step", -1, &bad);
    if (bad || step < 0 || step > r->n_steps) { err_set(e, "%s: bad step", path); goto out; }
    const char *names[3] = {"lora.params", "adam.m", "adam.v"};
    float *dst[3] = {tmodel_params(r->tm), r->m, r->v};
    for (int k = 0; k < 3; k++) {
        struct tensor t;
        int64_t ne[1] = {(int64_t)r->n};
        if (gguf_get_tensor(g, names[k], 1, ne, &t, e)) goto out;
        if (t.type != 0) { err_set(e, "%s: %s is not f32", path, names[k]); goto out; }
        memcpy(dst[k], t.data, r->n * sizeof(float));
    }
    r->step = (int)step;
    rc = 0;
out:
    gguf_close(g);
    return rc;
}

static double lr_at(const struct run *r, int s) {
    double lr = r->p->lr, lo = lr / 10;
    if (s < r->warmup) return lr * (s + 1) / r->warmup;
    int span = r->n_steps - r->warmup;
    double x = span > 1 ? (double)(s - r->warmup) / (span - 1) : 1.0;
    return lo + (lr - lo) * 0.5 * (1 + cos(M_PI * x));
}

static void shuffle(int *perm, int n, uint64_t seed, int epoch) {
    uint64_t s = seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(epoch + 1));
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        int j = (int)(s % (uint64_t)(i + 1)), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* one sequence with its target weights scaled by c */
static double run_seq(struct run *r, const struct seq *s, double c, int backward, float *wbuf, struct err *e) {
    for (int t = 0; t < s->T; t++) wbuf[t] = (float)(s->w[t] * c);
    return tmodel_run(r->tm, s->ids, s->T, wbuf, 1, backward, e);
}

static double softplus(double x) { return x > 30 ? x : log1p(exp(x)); }

/* ---- the entry point ---- */

int omni_finetune(const omni_finetune_params *p, char *err, size_t err_size) {
    struct err e = {0};
    struct llm *m = NULL;
    struct tokenizer *tok = NULL;
    struct data d = {0};
    struct run r = {.p = p};
    char *tmpl = NULL;
    int *perm = NULL, rc = -1;
    float *wbuf = NULL;
    if (!p || !p->model_path || !p->out_path || (!p->data_path && !p->dpo_path)) {
        err_set(&e, "finetune: a model, an output path and training data (SFT or DPO) are needed");
        goto out;
    }
    if (p->rank < 1 || p->rank > 1024 || !(p->alpha > 0) || p->epochs < 1 || !(p->lr > 0) || p->batch < 1 ||
        p->ctx < 8 || p->ctx > 1 << 20 || p->checkpoint_every < 0 || !(p->weight_decay >= 0) || !(p->dpo_beta > 0) ||
        p->max_steps < 0) {
        err_set(&e, "finetune: bad settings (rank 1..1024, alpha > 0, epochs >= 1, lr > 0, batch >= 1, ctx >= 8, "
                    "beta > 0)");
        goto out;
    }
    if (p->background) {
        pool_set_background(1);
        setpriority(PRIO_PROCESS, (id_t)gettid(), 19);  /* this thread only (Linux) */
    }
    struct llm_load_params lp = llm_default_load_params();
    lp.n_threads = p->n_threads;
    if (!(m = llm_load(p->model_path, &lp, &e))) goto out;
    if (!(tok = tokenizer_load(llm_gguf(m), &e))) goto out;
    tmpl = gguf_get_str_dup(llm_gguf(m), "tokenizer.chat_template");
    struct enc en;
    enc_init(&en, tok, tmpl, p->ctx);
    if ((p->data_path && read_jsonl(&en, p->data_path, 0, &d, &e)) ||
        (p->dpo_path && read_jsonl(&en, p->dpo_path, 1, &d, &e)))
        goto out;
    if (!(r.tm = tmodel_new(m, p->rank, p->alpha, p->ctx, &e))) goto out;
    r.n = tmodel_n_params(r.tm);
    r.n_items = d.n;
    r.spe = (d.n + p->batch - 1) / p->batch;
    r.n_steps = p->epochs * r.spe;
    r.warmup = p->warmup >= 0 ? p->warmup : r.n_steps / 20;
    if (r.warmup > r.n_steps) r.warmup = r.n_steps;
    r.hash = data_hash(&d);
    if (!(r.m = calloc(r.n, sizeof *r.m)) || !(r.v = calloc(r.n, sizeof *r.v)) ||
        !(perm = malloc((size_t)d.n * sizeof *perm)) || !(wbuf = malloc((size_t)(p->ctx + 1) * sizeof *wbuf))) {
        err_set(&e, "out of memory");
        goto out;
    }
    tmodel_init(r.tm, p->seed);
    if (p->resume_path && load_checkpoint(&r, p->resume_path, &e)) goto out;
    /* the frozen base's log-probabilities of the DPO pairs, once */
    for (int i = 0; i < d.n; i++)
        for (int k = 0; d.it[i].dpo && k < 2; k++) {
            struct seq *s = &d.it[i].s[k];
            double l = tmodel_run(r.tm, s->ids, s->T, s->w, 0, 0, &e);
            if (l < 0) goto out;
            s->ref = -l;
        }
    double t0 = now_s();
    long long toks = 0;
    int done = 0, start = r.step, shuffled = -1;
    float *P = tmodel_params(r.tm), *G = tmodel_grads(r.tm);
    while (r.step < r.n_steps) {
        if ((p->cancel && *p->cancel) || (p->max_steps && done >= p->max_steps)) break;
        int epoch = r.step / r.spe, b0 = (r.step % r.spe) * p->batch, b1 = b0 + p->batch;
        if (b1 > d.n) b1 = d.n;
        if (shuffled != epoch) shuffle(perm, d.n, p->seed, epoch), shuffled = epoch;
        double n_tok = 0, loss = 0;
        int n_pair = 0;
        for (int b = b0; b < b1; b++) {
            if (d.it[perm[b]].dpo) n_pair++;
            else n_tok += d.it[perm[b]].s[0].n_loss;
        }
        memset(G, 0, r.n * sizeof *G);
        for (int b = b0; b < b1; b++) {
            struct item *it = &d.it[perm[b]];
            if (!it->dpo) {
                double l = run_seq(&r, &it->s[0], 1.0 / n_tok, 1, wbuf, &e);
                if (l < 0 && e.msg[0]) goto out;
                loss += l;
                toks += it->s[0].T;
                continue;
            }
            /* DPO: z = beta ((pi_w - ref_w) - (pi_l - ref_l)), loss softplus(-z); d loss / d pi_w =
             * -beta sigmoid(-z), d / d pi_l = +beta sigmoid(-z), pi = -(weighted token loss) */
            double lw = run_seq(&r, &it->s[0], 1.0, 0, wbuf, &e), ll = lw < 0 ? lw : run_seq(&r, &it->s[1], 1.0, 0, wbuf, &e);
            if ((lw < 0 || ll < 0) && e.msg[0]) goto out;
            double z = p->dpo_beta * ((-lw - it->s[0].ref) - (-ll - it->s[1].ref));
            double c = p->dpo_beta / (1 + exp(z)) / n_pair;
            loss += softplus(-z) / n_pair;
            if (run_seq(&r, &it->s[0], c, 1, wbuf, &e) < 0 && e.msg[0]) goto out;
            if (run_seq(&r, &it->s[1], -c, 1, wbuf, &e) < 0 && e.msg[0]) goto out;
            toks += it->s[0].T + it->s[1].T;
        }
        /* clip the gradient norm to 1, then AdamW */
        double nrm = 0;
        for (size_t i = 0; i < r.n; i++) nrm += (double)G[i] * G[i];
        nrm = sqrt(nrm);
        float clip = nrm > 1.0 ? (float)(1.0 / nrm) : 1.0f;
        double lr = lr_at(&r, r.step), b1c = 1 - pow(0.9, r.step + 1), b2c = 1 - pow(0.999, r.step + 1);
        for (size_t i = 0; i < r.n; i++) {
            float g = G[i] * clip;
            r.m[i] = 0.9f * r.m[i] + 0.1f * g;
            r.v[i] = 0.999f * r.v[i] + 0.001f * g * g;
            double mh = r.m[i] / b1c, vh = r.v[i] / b2c;
            P[i] -= (float)(lr * (mh / (sqrt(vh) + 1e-8) + p->weight_decay * P[i]));
        }
        r.step++, done++;
        if (p->progress) {
            double el = now_s() - t0;
            omni_finetune_progress pr = {.step = r.step, .n_steps = r.n_steps, .epoch = epoch + 1,
                                         .n_epochs = p->epochs, .loss = loss, .lr = lr, .tokens = toks};
            pr.tokens_per_s = el > 0 ? toks / el : 0;
            pr.eta_s = el / (r.step - start) * (r.n_steps - r.step);
            p->progress(&pr, p->user);
        }
        if (p->checkpoint_path && p->checkpoint_every && r.step % p->checkpoint_every == 0 && r.step < r.n_steps &&
            save_checkpoint(&r, p->checkpoint_path, &e))
            goto out;
        if (p->on_checkpoint && p->checkpoint_path && p->checkpoint_every && r.step % p->checkpoint_every == 0 &&
            r.step < r.n_steps) {
            if (tmodel_write_adapter(r.tm, p->out_path, &e)) goto out;
            p->on_checkpoint(r.step, loss, p->user);
        }
    }
    if (p->checkpoint_path && save_checkpoint(&r, p->checkpoint_path, &e)) goto out;
    if (tmodel_write_adapter(r.tm, p->out_path, &e)) goto out;
    rc = r.step < r.n_steps ? 1 : 0;
out:
    if (p && p->background) pool_set_background(0);
    if (rc < 0 && err && err_size) snprintf(err, err_size, "%s", e.msg[0] ? e.msg : "finetune failed");
    free(perm), free(wbuf), free(r.m), free(r.v), free(tmpl);
    tmodel_free(r.tm);
    data_free(&d);
    tokenizer_free(tok);
    llm_free(m);
    return rc;
}

/* The indexer thread and hybrid search; see files_index.h. */
#include "api/files_index.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/accounts.h"
#include "core/log.h"
#include "knowledge/chunk.h"
#include "knowledge/doc.h"
#include "knowledge/keyword.h"
#include "knowledge/search.h"
#include "storage/files.h"

#define EMBED_BATCH 16     /* chunks per omni_embed call */
#define RRF_K 60
#define CANDIDATES 100     /* of each ranking, fused */

struct job {
    char user_id[STORE_ID_MAX], vs_id[STORE_ID_MAX], file_id[STORE_ID_MAX];
};

struct api_indexer {
    struct api_server *s;
    struct store *st;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv, idle_cv;
    struct job *q;
    int n, cap, head;
    int busy, stop;
};

/* ---- the embedding model ---- */

/* The server's pinned embedding model, else the registry's first embedding model; for
 * rerank, the pinned reranker (--rerank-model, or an --embedding-model that is one), else
 * the registry's first rerank model. */
int api_embed_get(struct api_server *s, int rerank, struct api_embed_hold *h, char *msg, size_t cap) {
    memset(h, 0, sizeof *h);
    if (rerank && s->reranker) { h->emb = s->reranker; return 0; }
    if (s->embedder && (omni_embedder_can_rerank(s->embedder) != 0) == (rerank != 0)) {
        h->emb = s->embedder;
        return 0;
    }
    if (s->reg) {
        char err[300];
        int rc = omni_registry_acquire(s->reg, NULL, rerank ? OMNI_KIND_RERANK : OMNI_KIND_EMBEDDING,
                                       s->load_timeout_ms > 0 ? s->load_timeout_ms : 60000, &h->ref, err, sizeof err);
        if (rc == OMNI_OK && h->ref.embedder && (omni_embedder_can_rerank(h->ref.embedder) != 0) == (rerank != 0)) {
            h->emb = h->ref.embedder;
            h->held = 1;
            return 0;
        }
        if (rc == OMNI_OK) omni_registry_release(s->reg, &h->ref, OMNI_KEEP_ALIVE_DEFAULT);
    }
    if (rerank) snprintf(msg, cap, "this server has no reranking model; start it with --rerank-model FILE "
                                   "(a cross-encoder GGUF such as bge-reranker-v2-m3)");
    else snprintf(msg, cap, "this server has no embedding model for file search; start it with --embedding-model FILE "
                            "(a BERT-family GGUF such as bge-m3)");
    return -1;
}

void api_embed_put(struct api_server *s, struct api_embed_hold *h) {
    if (h->held) omni_registry_release(s->reg, &h->ref, OMNI_KEEP_ALIVE_DEFAULT);
    h->held = 0;
}

static int count_tokens(const char *t, size_t n, void *user) {
    int32_t *tok = NULL;
    char err[128];
    int k = omni_embedder_tokenize(user, t, n, &tok, err, sizeof err);
    free(tok);
    return k < 0 ? (int)n : k;   /* a tokenizer failure counts every byte: the chunk only gets smaller */
}

/* ---- chunking strategy ---- */

int api_chunking_resolve(const cJSON *cs, char *out, size_t cap, char *msg, size_t msg_cap) {
    if (!cs || cJSON_IsNull(cs)) { snprintf(out, cap, "{\"type\":\"auto\"}"); return 0; }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(cs, "type");
    if (!cJSON_IsObject(cs) || !cJSON_IsString(t)) {
        snprintf(msg, msg_cap, "'chunking_strategy' must be {\"type\":\"auto\"} or {\"type\":\"static\",\"static\":{...}}");
        return -1;
    }
    if (!strcmp(t->valuestring, "auto")) { snprintf(out, cap, "{\"type\":\"auto\"}"); return 0; }
    if (strcmp(t->valuestring, "static")) {
        snprintf(msg, msg_cap, "'chunking_strategy.type' must be \"auto\" or \"static\"");
        return -1;
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(cs, "static");
    const cJSON *mx = st ? cJSON_GetObjectItemCaseSensitive(st, "max_chunk_size_tokens") : NULL;
    const cJSON *ov = st ? cJSON_GetObjectItemCaseSensitive(st, "chunk_overlap_tokens") : NULL;
    if (!cJSON_IsObject(st) || !cJSON_IsNumber(mx) || !cJSON_IsNumber(ov)) {
        snprintf(msg, msg_cap, "a static chunking_strategy needs 'static': {\"max_chunk_size_tokens\": N, "
                               "\"chunk_overlap_tokens\": M}");
        return -1;
    }
    double m = mx->valuedouble, o = ov->valuedouble;
    if (m != floor(m) || m < 100 || m > 4096) {
        snprintf(msg, msg_cap, "'max_chunk_size_tokens' must be an integer from 100 to 4096");
        return -1;
    }
    if (o != floor(o) || o < 0 || o > m / 2) {
        snprintf(msg, msg_cap, "'chunk_overlap_tokens' must be an integer from 0 to half of max_chunk_size_tokens");
        return -1;
    }
    snprintf(out, cap, "{\"type\":\"static\",\"static\":{\"max_chunk_size_tokens\":%d,\"chunk_overlap_tokens\":%d}}",
             (int)m, (int)o);
    return 0;
}

void api_vsfile_last_error(cJSON *o, const struct store_vsfile *f) {
    if (!strcmp(f->status, "failed")) {
        cJSON *le = cJSON_AddObjectToObject(o, "last_error");
        cJSON_AddStringToObject(le, "code", f->error_code[0] ? f->error_code : "server_error");
        cJSON_AddStringToObject(le, "message", f->error_msg);
    } else cJSON_AddNullToObject(o, "last_error");
}

cJSON *api_chunking_json(const char *stored) {
    cJSON *j = stored && *stored ? cJSON_Parse(stored) : NULL;
    if (!j) {
        j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "type", "auto");
    }
    return j;
}

/* ---- indexing one attachment ---- */

static int fail_job(struct api_indexer *ix, const struct job *jb, const char *code, const char *msg) {
    struct err e = {{0}};
    log_info("files: %s in %s failed: %s", jb->file_id, jb->vs_id, msg);
    if (store_vsfile_finish(ix->st, jb->vs_id, jb->file_id, "failed", code, msg, &e) && e.msg[0])
        log_debug("files: %s", e.msg);
    return -1;
}

/* The format of an upload: extraction's own detection, plus plain-text kinds by name. */
int api_file_format(const char *filename, const void *data, size_t n) {
    int f = kb_format_detect(filename, data, n);
    if (f >= 0) return f;
    static const char *const text_ext[] = {".json", ".py", ".js", ".ts", ".c", ".h", ".cpp", ".java", ".go", ".rs",
                                           ".sh", ".tex", ".rb", ".php", ".css", ".log", ".yaml", ".yml", NULL};
    const char *dot = filename ? strrchr(filename, '.') : NULL;
    for (int i = 0; dot && text_ext[i]; i++)
        if (!strcasecmp(dot, text_ext[i])) return KB_TXT;
    return -1;
}

int api_index_bytes(omni_embedder *emb, const char *filename, const void *data, size_t n, const char *chunking,
                    struct api_indexed *out, char *code, size_t code_cap, char *msg, size_t msg_cap) {
    memset(out, 0, sizeof *out);
    int fmt = api_file_format(filename, data, n);
    if (fmt < 0) {
        snprintf(code, code_cap, "unsupported_file");
        snprintf(msg, msg_cap, "the file type is not supported for search (txt, md, pdf, docx, hwpx, html, csv and text files)");
        return -1;
    }
    struct kb_limits lim = kb_default_limits();
    struct kb_doc doc = {0};
    struct err e = {{0}};
    if (kb_extract(data, n, (enum kb_format)fmt, &lim, &doc, &e)) {
        kb_doc_free(&doc);
        snprintf(code, code_cap, "invalid_file");
        snprintf(msg, msg_cap, "%s", e.msg[0] ? e.msg : "the file's text could not be read");
        return -1;
    }
    out->n_pages = doc.n_pages;
    struct kb_chunk_params cp = kb_chunk_default_params();
    cJSON *cj = api_chunking_json(chunking);
    const cJSON *stt = cJSON_GetObjectItemCaseSensitive(cj, "static");
    if (stt) {
        cp.max_tokens = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(stt, "max_chunk_size_tokens"));
        cp.overlap_tokens = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(stt, "chunk_overlap_tokens"));
    }
    cJSON_Delete(cj);
    int n_ctx = omni_embedder_n_ctx(emb), dim = omni_embedder_n_embd(emb);
    if (cp.max_tokens > n_ctx) cp.max_tokens = n_ctx;
    if (cp.overlap_tokens > cp.max_tokens / 2) cp.overlap_tokens = cp.max_tokens / 2;
    cp.count = count_tokens;
    cp.count_user = emb;
    snprintf(code, code_cap, "server_error");
    int rc = kb_chunk_doc(&doc, &cp, &out->chunks, &out->n, &e);
    kb_doc_free(&doc);
    if (rc) {
        snprintf(msg, msg_cap, "%s", e.msg);
        return -1;
    }
    out->dim = dim;
    out->vecs = out->n ? malloc((size_t)out->n * (size_t)dim * sizeof *out->vecs) : NULL;
    out->rows = out->n ? calloc((size_t)out->n, sizeof *out->rows) : NULL;
    if (out->n && (!out->vecs || !out->rows)) {
        api_indexed_free(out);
        snprintf(msg, msg_cap, "out of memory");
        return -1;
    }
    for (int i = 0; i < out->n; i += EMBED_BATCH) {
        omni_embed_input in[EMBED_BATCH];
        int k = out->n - i < EMBED_BATCH ? out->n - i : EMBED_BATCH;
        for (int j = 0; j < k; j++) in[j] = (omni_embed_input){out->chunks[i + j].text, strlen(out->chunks[i + j].text), NULL, 0};
        char err[300];
        if (omni_embed(emb, in, k, 1, out->vecs + (size_t)i * dim, NULL, err, sizeof err)) {
            api_indexed_free(out);
            snprintf(msg, msg_cap, "embedding failed: %.250s", err);
            return -1;
        }
    }
    for (int i = 0; i < out->n; i++) {
        const struct kb_chunk *c = &out->chunks[i];
        out->rows[i] = (struct store_chunk){.text = c->text, .heading = c->heading, .page_first = c->page_first,
                                            .page_last = c->page_last, .n_tokens = c->n_tokens,
                                            .vec = out->vecs + (size_t)i * dim, .dim = dim};
    }
    return 0;
}

void api_indexed_free(struct api_indexed *x) {
    kb_chunks_free(x->chunks, x->n);
    free(x->vecs);
    free(x->rows);
    memset(x, 0, sizeof *x);
}

static int run_job(struct api_indexer *ix, const struct job *jb) {
    struct api_server *s = ix->s;
    struct err e = {{0}};
    struct store_vsfile vf;
    if (store_vsfile_get(ix->st, jb->user_id, jb->vs_id, jb->file_id, &vf, &e) || strcmp(vf.status, "in_progress"))
        return 0;   /* detached or cancelled meanwhile */
    struct store_file f;
    void *data = NULL;
    size_t n = 0;
    if (store_file_get(ix->st, jb->user_id, jb->file_id, &f, &e) ||
        store_file_content(ix->st, jb->user_id, jb->file_id, &data, &n, &e))
        return fail_job(ix, jb, "server_error", e.msg[0] ? e.msg : "the file could not be read");
    char code[32], msg[STORE_ERRMSG_MAX];
    struct api_embed_hold eh;
    if (api_embed_get(s, 0, &eh, msg, sizeof msg)) {
        free(data);
        return fail_job(ix, jb, "server_error", msg);
    }
    struct api_indexed x;
    int rc = api_index_bytes(eh.emb, f.filename, data, n, vf.chunking, &x, code, sizeof code, msg, sizeof msg);
    api_embed_put(s, &eh);
    free(data);
    if (rc) return fail_job(ix, jb, code, msg);
    int src = store_chunks_put(ix->st, jb->vs_id, jb->file_id, x.rows, x.n, &e);
    if (src && src != STORE_NOTFOUND) rc = fail_job(ix, jb, "server_error", e.msg);
    else if (!src) log_info("files: %s in %s indexed: %d chunks", jb->file_id, jb->vs_id, x.n);
    api_indexed_free(&x);
    store_vs_touch(ix->st, jb->vs_id, 0, &e);
    return rc;
}

/* ---- the worker ---- */

static void *worker(void *arg) {
    struct api_indexer *ix = arg;
    pthread_mutex_lock(&ix->mu);
    for (;;) {
        /* jobs wait for the models: nothing is indexed while the server is still loading */
        while (!ix->stop && (ix->head == ix->n || atomic_load(&ix->s->state) == API_LOADING)) {
            if (ix->head == ix->n) {   /* idle: sleep until a job comes */
                pthread_cond_broadcast(&ix->idle_cv);
                pthread_cond_wait(&ix->cv, &ix->mu);
                continue;
            }
            struct timespec ts;   /* jobs, but the server is still loading: look again shortly */
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 200 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&ix->cv, &ix->mu, &ts);
        }
        if (ix->stop) break;
        struct job jb = ix->q[ix->head++];
        if (ix->head == ix->n) ix->head = ix->n = 0;
        ix->busy = 1;
        pthread_mutex_unlock(&ix->mu);
        run_job(ix, &jb);
        pthread_mutex_lock(&ix->mu);
        ix->busy = 0;
    }
    ix->busy = 0;
    pthread_cond_broadcast(&ix->idle_cv);
    pthread_mutex_unlock(&ix->mu);
    return NULL;
}

int api_indexer_enqueue(struct api_indexer *ix, const char *user_id, const char *vs_id, const char *file_id) {
    if (!ix) return -1;
    pthread_mutex_lock(&ix->mu);
    if (ix->n == ix->cap) {
        int nc = ix->cap ? ix->cap * 2 : 16;
        struct job *g = realloc(ix->q, (size_t)nc * sizeof *g);
        if (!g) { pthread_mutex_unlock(&ix->mu); return -1; }
        ix->q = g;
        ix->cap = nc;
    }
    struct job *j = &ix->q[ix->n++];
    snprintf(j->user_id, sizeof j->user_id, "%s", user_id);
    snprintf(j->vs_id, sizeof j->vs_id, "%s", vs_id);
    snprintf(j->file_id, sizeof j->file_id, "%s", file_id);
    pthread_cond_signal(&ix->cv);
    pthread_mutex_unlock(&ix->mu);
    return 0;
}

void api_indexer_wait_idle(struct api_indexer *ix) {
    if (!ix) return;
    pthread_mutex_lock(&ix->mu);
    while (!ix->stop && (ix->busy || ix->head < ix->n)) pthread_cond_wait(&ix->idle_cv, &ix->mu);
    pthread_mutex_unlock(&ix->mu);
}

struct api_indexer *api_indexer_start(struct api_server *s) {
    if (!s->p.auth || !s->p.auth->st) return NULL;
    struct api_indexer *ix = calloc(1, sizeof *ix);
    if (!ix) return NULL;
    ix->s = s;
    ix->st = s->p.auth->st;
    pthread_mutex_init(&ix->mu, NULL);
    pthread_cond_init(&ix->cv, NULL);
    pthread_cond_init(&ix->idle_cv, NULL);
    struct store_vsfile *p = NULL;
    size_t np = 0;
    struct err e = {{0}};
    if (store_vsfile_pending(ix->st, &p, &np, &e) == 0)
        for (size_t i = 0; i < np; i++) api_indexer_enqueue(ix, p[i].user_id, p[i].vs_id, p[i].file_id);
    free(p);
    if (pthread_create(&ix->th, NULL, worker, ix)) {
        free(ix->q);
        free(ix);
        return NULL;
    }
    return ix;
}

void api_indexer_stop(struct api_indexer *ix) {
    if (!ix) return;
    pthread_mutex_lock(&ix->mu);
    ix->stop = 1;
    pthread_cond_broadcast(&ix->cv);
    pthread_mutex_unlock(&ix->mu);
    pthread_join(ix->th, NULL);
    pthread_mutex_destroy(&ix->mu);
    pthread_cond_destroy(&ix->cv);
    pthread_cond_destroy(&ix->idle_cv);
    free(ix->q);
    free(ix);
}

/* ---- attribute filters ---- */

static int is_cmp(const char *t) {
    static const char *const ops[] = {"eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", NULL};
    for (int i = 0; ops[i]; i++)
        if (!strcmp(t, ops[i])) return 1;
    return 0;
}

static int check_depth(const cJSON *f, char *msg, size_t cap, int depth) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(f, "type");
    if (!cJSON_IsObject(f) || !cJSON_IsString(t)) {
        snprintf(msg, cap, "a filter must be an object with a 'type' (eq, ne, gt, gte, lt, lte, in, nin, and, or)");
        return -1;
    }
    if (depth > 8) { snprintf(msg, cap, "filters nest too deep (at most 8 levels)"); return -1; }
    if (!strcmp(t->valuestring, "and") || !strcmp(t->valuestring, "or")) {
        const cJSON *fs = cJSON_GetObjectItemCaseSensitive(f, "filters"), *x;
        if (!cJSON_IsArray(fs) || cJSON_GetArraySize(fs) == 0 || cJSON_GetArraySize(fs) > 32) {
            snprintf(msg, cap, "a compound filter ('%s') needs 'filters': an array of 1 to 32 filters", t->valuestring);
            return -1;
        }
        cJSON_ArrayForEach(x, fs) if (check_depth(x, msg, cap, depth + 1)) return -1;
        return 0;
    }
    if (!is_cmp(t->valuestring)) {
        snprintf(msg, cap, "unknown filter type '%.40s' (eq, ne, gt, gte, lt, lte, in, nin, and, or)", t->valuestring);
        return -1;
    }
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(f, "key"), *v = cJSON_GetObjectItemCaseSensitive(f, "value");
    int list = !strcmp(t->valuestring, "in") || !strcmp(t->valuestring, "nin");
    if (!cJSON_IsString(k) || !v ||
        (list ? !cJSON_IsArray(v) : !(cJSON_IsString(v) || cJSON_IsNumber(v) || cJSON_IsBool(v)))) {
        snprintf(msg, cap, "a '%s' filter needs a string 'key' and a 'value' (%s)", t->valuestring,
                 list ? "an array" : "a string, number or boolean");
        return -1;
    }
    return 0;
}

int api_filter_check(const cJSON *f, char *msg, size_t cap) { return check_depth(f, msg, cap, 0); }

/* -2: not comparable; else <0, 0, >0 */
static int cmp_values(const cJSON *a, const cJSON *b) {
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
        return a->valuedouble < b->valuedouble ? -1 : a->valuedouble > b->valuedouble;
    if (cJSON_IsString(a) && cJSON_IsString(b)) {
        int c = strcmp(a->valuestring, b->valuestring);
        return c < 0 ? -1 : c > 0;
    }
    if (cJSON_IsBool(a) && cJSON_IsBool(b)) return cJSON_IsTrue(a) == cJSON_IsTrue(b) ? 0 : cJSON_IsTrue(a) ? 1 : -1;
    return -2;
}

int api_filter_match(const cJSON *f, const cJSON *attrs) {
    if (!f) return 1;
    const char *t = cJSON_GetObjectItemCaseSensitive(f, "type")->valuestring;
    if (!strcmp(t, "and") || !strcmp(t, "or")) {
        int and = !strcmp(t, "and");
        const cJSON *x;
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(f, "filters")) {
            int m = api_filter_match(x, attrs);
            if (and && !m) return 0;
            if (!and && m) return 1;
        }
        return and;
    }
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(attrs, cJSON_GetObjectItemCaseSensitive(f, "key")->valuestring);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f, "value");
    if (!strcmp(t, "in") || !strcmp(t, "nin")) {
        int found = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, v) if (a && cmp_values(a, x) == 0) found = 1;
        return !strcmp(t, "in") ? found : !found;
    }
    if (!a) return !strcmp(t, "ne");
    int c = cmp_values(a, v);
    if (c == -2) return !strcmp(t, "ne");
    if (!strcmp(t, "eq")) return c == 0;
    if (!strcmp(t, "ne")) return c != 0;
    if (!strcmp(t, "gt")) return c > 0;
    if (!strcmp(t, "gte")) return c >= 0;
    if (!strcmp(t, "lt")) return c < 0;
    return c <= 0;
}

/* ---- hybrid search ---- */

static int cmp_fused(const void *a, const void *b) {
    const struct kb_hit *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Weighted reciprocal-rank fusion of the two rankings (ids 0..n-1) into out (n slots):
 * score = wd / (k + dense rank) + wt / (k + keyword rank), ranks from 1; best first, ties
 * by id. Returns how many items either list holds. */
static int fuse(const struct kb_hit *d, int nd, const struct kb_hit *t, int nt, double wd, double wt, int n,
                struct kb_hit *out) {
    for (int i = 0; i < n; i++) out[i] = (struct kb_hit){i, 0};
    unsigned char *in = calloc((size_t)n, 1);
    if (!in) return -1;
    for (int r = 0; r < nd; r++) out[d[r].id].score += (float)(wd / (RRF_K + r + 1)), in[d[r].id] = 1;
    for (int r = 0; r < nt; r++) out[t[r].id].score += (float)(wt / (RRF_K + r + 1)), in[t[r].id] = 1;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (in[i] && out[i].score > 0) out[m++] = out[i];
    free(in);
    qsort(out, (size_t)m, sizeof *out, cmp_fused);
    return m;
}

/* The server's reranker (when it has one) on the best max(20, want) of the fusion: they
 * are reordered by its logit and scored by its sigmoid; the rest are left out. Without a
 * reranker, or when it fails (said in the log), the fusion stands. */
#define RERANK_TOP 20
static void rerank_fused(struct api_server *s, const char *query, const struct store_chunk *ch, const int *keep,
                         struct kb_hit *fused, int *nf, int want) {
    struct api_embed_hold rh;
    char msg[300];
    if (api_embed_get(s, 1, &rh, msg, sizeof msg)) return;
    int nr = *nf < (want > RERANK_TOP ? want : RERANK_TOP) ? *nf : (want > RERANK_TOP ? want : RERANK_TOP);
    char **docs = calloc((size_t)nr, sizeof *docs);
    float *sc = malloc((size_t)nr * sizeof *sc);
    int ok = docs && sc;
    for (int i = 0; ok && i < nr; i++) {
        const struct store_chunk *c = &ch[keep[fused[i].id]];
        size_t l = strlen(c->text) + (c->heading ? strlen(c->heading) : 0) + 2;
        if (!(docs[i] = malloc(l))) ok = 0;
        else snprintf(docs[i], l, "%s\n%s", c->heading ? c->heading : "", c->text);
    }
    char err[300];
    if (ok && omni_rerank(rh.emb, query, (const char *const *)docs, nr, sc, NULL, err, sizeof err)) {
        log_warn("file search: reranking failed (%s); the fused order stands", err);
        ok = 0;
    }
    api_embed_put(s, &rh);
    if (ok) {
        for (int i = 0; i < nr; i++) fused[i].score = (float)(1.0 / (1.0 + exp(-(double)sc[i])));
        qsort(fused, (size_t)nr, sizeof *fused, cmp_fused);
        *nf = nr;
    }
    for (int i = 0; docs && i < nr; i++) free(docs[i]);
    free(docs);
    free(sc);
}

void api_fs_hits_free(struct api_fs_hit *h, int n) {
    for (int i = 0; h && i < n; i++) {
        free(h[i].text);
        free(h[i].heading);
        cJSON_Delete(h[i].attributes);
    }
    free(h);
}

int api_fs_search(struct api_server *s, const char *user_id, const char *const *vs_ids, int n_vs,
                  const struct api_fs_query *qq, struct api_fs_hit **out, int *n_out, char *code, size_t code_cap,
                  char *msg, size_t msg_cap) {
    *out = NULL;
    *n_out = 0;
    struct store *st = s->p.auth->st;
    struct err e = {{0}};
    for (int i = 0; i < n_vs; i++) {
        int rc = store_vs_get(st, user_id, vs_ids[i], NULL, &e);
        if (rc) {
            snprintf(code, code_cap, rc == STORE_NOTFOUND ? "not_found" : "storage_error");
            snprintf(msg, msg_cap, rc == STORE_NOTFOUND ? "no vector store '%.60s'" : "%.200s",
                     rc == STORE_NOTFOUND ? vs_ids[i] : e.msg);
            return rc == STORE_NOTFOUND ? 404 : 500;
        }
        store_vs_touch(st, vs_ids[i], 0, &e);
    }
    struct store_chunk *ch = NULL;
    size_t nc = 0;
    if (store_chunks_load(st, user_id, vs_ids, n_vs, &ch, &nc, &e)) {
        snprintf(code, code_cap, "storage_error");
        snprintf(msg, msg_cap, "%.200s", e.msg);
        return 500;
    }
    /* the candidates: chunks whose file passes the filters */
    int *keep = nc ? malloc(nc * sizeof *keep) : NULL;
    cJSON **attrs = nc ? calloc(nc, sizeof *attrs) : NULL;
    int nk = 0, status = 0;
    if (nc && (!keep || !attrs)) status = 500;
    for (size_t i = 0; !status && i < nc; i++) {
        attrs[i] = cJSON_Parse(ch[i].attributes);
        if (api_filter_match(qq->filters, attrs[i])) keep[nk++] = (int)i;
    }
    struct api_embed_hold eh = {0};
    int dim = 0;
    float *qv = NULL, *vecs = NULL;
    const char **texts = NULL;
    struct kb_hit *dense = NULL, *kw = NULL, *fused = NULL;
    int nd = 0, nw = 0, nf = 0;
    if (!status && nk) {
        if (api_embed_get(s, 0, &eh, msg, msg_cap)) {
            snprintf(code, code_cap, "model_not_supported");
            status = 400;
        } else {
            dim = omni_embedder_n_embd(eh.emb);
            qv = malloc((size_t)dim * sizeof *qv);
            char err[300];
            omni_embed_input in = {qq->query, strlen(qq->query), NULL, 0};
            if (!qv || omni_embed(eh.emb, &in, 1, 1, qv, NULL, err, sizeof err)) {
                snprintf(code, code_cap, "invalid_value");
                snprintf(msg, msg_cap, "the query could not be embedded: %.200s", qv ? err : "out of memory");
                status = 400;
            }
            api_embed_put(s, &eh);
        }
    }
    if (!status && nk) {
        vecs = malloc((size_t)nk * (size_t)dim * sizeof *vecs);
        texts = malloc((size_t)nk * sizeof *texts);
        dense = malloc(CANDIDATES * sizeof *dense);
        kw = malloc(CANDIDATES * sizeof *kw);
        fused = malloc((size_t)nk * sizeof *fused);
        if (!vecs || !texts || !dense || !kw || !fused) status = 500;
        for (int i = 0; !status && i < nk; i++) {
            const struct store_chunk *c = &ch[keep[i]];
            if (c->dim != dim) {
                snprintf(code, code_cap, "invalid_value");
                snprintf(msg, msg_cap, "the vector store was indexed with another embedding model (%d dimensions, "
                                       "this server's has %d): attach its files again", c->dim, dim);
                status = 400;
                break;
            }
            memcpy(vecs + (size_t)i * dim, c->vec, (size_t)dim * sizeof *vecs);
            texts[i] = c->text;
        }
    }
    if (!status && nk) {
        nd = kb_vec_topk(vecs, NULL, nk, dim, qv, CANDIDATES, dense);
        nw = kb_keyword_rank(qq->query, texts, nk, kw, CANDIDATES);
        nf = nw < 0 ? -1 : fuse(dense, nd, kw, nw, qq->embedding_weight, qq->text_weight, nk, fused);
        if (nf < 0) status = 500;
    }
    if (status == 500 && !code[0]) {
        snprintf(code, code_cap, "server_error");
        snprintf(msg, msg_cap, "out of memory");
    }
    int want = qq->max_results > 0 ? qq->max_results : 10;
    double top = (qq->embedding_weight + qq->text_weight) / (RRF_K + 1);
    for (int i = 0; !status && i < nf; i++) fused[i].score = (float)(fused[i].score / top);
    if (!status && nf > 0 && qq->rerank) rerank_fused(s, qq->query, ch, keep, fused, &nf, want);
    struct api_fs_hit *h = NULL;
    int nh = 0;
    if (!status && nf > 0) {
        h = calloc((size_t)want, sizeof *h);
        for (int i = 0; h && i < nf && nh < want; i++) {
            double sc = fused[i].score;
            if (sc < qq->score_threshold) break;
            int ci = keep[fused[i].id];
            struct store_chunk *c = &ch[ci];
            struct api_fs_hit *x = &h[nh++];
            snprintf(x->file_id, sizeof x->file_id, "%s", c->file_id);
            snprintf(x->filename, sizeof x->filename, "%s", c->filename);
            x->score = sc > 1 ? 1 : sc;
            x->text = c->text, c->text = NULL;
            x->heading = c->heading, c->heading = NULL;
            x->page_first = c->page_first;
            x->page_last = c->page_last;
            x->attributes = attrs[ci] ? attrs[ci] : cJSON_CreateObject();
            attrs[ci] = NULL;
        }
        if (!h) status = 500, snprintf(code, code_cap, "server_error"), snprintf(msg, msg_cap, "out of memory");
    }
    for (size_t i = 0; attrs && i < nc; i++) cJSON_Delete(attrs[i]);
    free(attrs);
    free(keep);
    free(qv);
    free(vecs);
    free(texts);
    free(dense);
    free(kw);
    free(fused);
    store_chunks_free(ch, nc);
    if (status) { api_fs_hits_free(h, nh); return status; }
    *out = h;
    *n_out = nh;
    return 0;
}

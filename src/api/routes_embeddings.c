/* POST /v1/embeddings (OpenAI's shape) and POST /v1/rerank (llama-server's, which is
 * Jina's and Cohere's: query, documents, top_n, return_documents), on the server's
 * embedding model (omni serve --embedding-model FILE, or -m with an embedding model).
 * Bad input is a 400 in OpenAI's error shape before anything is computed. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/meter.h"
#include "api/model_ref.h"
#include "api/reply.h"
#include "api/routes.h"

#define MAX_INPUTS 2048  /* OpenAI's limit for one embeddings request */

static int no_embedder(struct api_server *s, struct mg_connection *c) {
    return api_reply_error(c, 400, "model", "model_not_supported",
                           "this server has no embedding model; start it with --embedding-model FILE (a BERT-family "
                           "GGUF such as bge-small-en-v1.5) to serve /v1/embeddings and /v1/rerank");
}

/* model: absent (the pinned embedding model, else the one used last), an id, an alias or
 * a store name of an embedding or rerank model (loaded now if it is not yet) */
static int check_model(struct api_server *s, struct mg_connection *c, const cJSON *j, struct api_model_ref *mref) {
    const cJSON *m = cJSON_GetObjectItem(j, "model");
    if (m && !cJSON_IsNull(m) && !cJSON_IsString(m)) return api_reply_error(c, 400, "model", NULL, "'model' must be a string");
    const char *name = cJSON_IsString(m) ? m->valuestring : NULL;
    if (!name && !s->embedder && !s->serve_store) return no_embedder(s, c);
    return api_model_get(s, c, name, OMNI_KIND_EMBEDDING | OMNI_KIND_RERANK, j, mref);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64_floats(const float *v, int n) {
    size_t len = (size_t)n * 4, o = 0;
    uint8_t *b = malloc(len ? len : 1);
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!b || !out) { free(b); free(out); return NULL; }
    for (int i = 0; i < n; i++) {
        uint32_t w;
        memcpy(&w, &v[i], 4);
        for (int k = 0; k < 4; k++) b[i * 4 + k] = (uint8_t)(w >> (8 * k));  /* little-endian float32 */
    }
    for (size_t i = 0; i < len; i += 3) {
        uint32_t x = (uint32_t)b[i] << 16 | (i + 1 < len ? (uint32_t)b[i + 1] << 8 : 0) | (i + 2 < len ? b[i + 2] : 0);
        out[o++] = b64[x >> 18 & 63];
        out[o++] = b64[x >> 12 & 63];
        out[o++] = i + 1 < len ? b64[x >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? b64[x & 63] : '=';
    }
    out[o] = 0;
    free(b);
    return out;
}

/* One token-id list; 0 or -1 with msg */
static int read_ids(const cJSON *a, int nv, omni_embed_input *in, char *msg, size_t cap, int idx) {
    int n = cJSON_GetArraySize(a);
    if (n == 0) { snprintf(msg, cap, "'input' %d is an empty list of token ids", idx); return -1; }
    int32_t *t = malloc(sizeof(int32_t) * (size_t)n);
    if (!t) { snprintf(msg, cap, "out of memory"); return -1; }
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, a) {
        if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble >= nv || x->valuedouble != (int)x->valuedouble) {
            snprintf(msg, cap, "'input' %d: token ids must be integers within the model's vocabulary (0..%d)", idx, nv - 1);
            free(t);
            return -1;
        }
        t[i++] = (int32_t)x->valuedouble;
    }
    in->tokens = t;
    in->n_tokens = n;
    return 0;
}

static void inputs_free(omni_embed_input *in, int n) {
    for (int i = 0; i < n; i++) free((void *)in[i].tokens);
    free(in);
}

/* 'input' as OpenAI takes it: a string, a list of strings, a list of token ids, or a list
 * of token-id lists. Strings are tokenized here, so a too-long one is a 400 naming it. */
static int read_inputs(omni_embedder *emb, const cJSON *p, omni_embed_input **out, int *n_out, char *msg,
                       size_t cap) {
    int nv = omni_embedder_n_vocab(emb), n = 0;
    *out = NULL;
    *n_out = 0;
    if (!p || cJSON_IsNull(p)) { snprintf(msg, cap, "'input' is required"); return -1; }
    int is_ids = cJSON_IsArray(p) && cJSON_GetArraySize(p) > 0 && cJSON_IsNumber(cJSON_GetArrayItem(p, 0));
    int count = cJSON_IsString(p) || is_ids ? 1 : cJSON_IsArray(p) ? cJSON_GetArraySize(p) : -1;
    if (count < 0) { snprintf(msg, cap, "'input' must be a string, a list of strings, a list of token ids or a list of such lists"); return -1; }
    if (count == 0) { snprintf(msg, cap, "'input' must not be empty"); return -1; }
    if (count > MAX_INPUTS) { snprintf(msg, cap, "'input' has %d items; at most %d are allowed", count, MAX_INPUTS); return -1; }
    omni_embed_input *in = calloc((size_t)count, sizeof *in);
    if (!in) { snprintf(msg, cap, "out of memory"); return -1; }
    for (int i = 0; i < count; i++) {
        const cJSON *it = cJSON_IsString(p) || is_ids ? p : cJSON_GetArrayItem(p, i);
        if (cJSON_IsString(it)) {
            if (!*it->valuestring) { snprintf(msg, cap, "'input' %d is an empty string", i); goto bad; }
            int32_t *t = NULL;
            char err[400];
            int nt = omni_embedder_tokenize(emb, it->valuestring, strlen(it->valuestring), &t, err, sizeof err);
            if (nt < 0) { snprintf(msg, cap, "'input' %d could not be tokenized: %.300s", i, err); goto bad; }
            in[i].tokens = t;
            in[i].n_tokens = nt;
        } else if (cJSON_IsArray(it)) {
            if (read_ids(it, nv, &in[i], msg, cap, i)) goto bad;
        } else {
            snprintf(msg, cap, "'input' %d must be a string or a list of token ids", i);
            goto bad;
        }
        n++;
        if (in[i].n_tokens < 1) { snprintf(msg, cap, "'input' %d has no tokens", i); goto bad; }
        if (in[i].n_tokens > omni_embedder_n_ctx(emb)) {
            snprintf(msg, cap, "'input' %d has %d tokens; this model's maximum is %d", i, in[i].n_tokens,
                     omni_embedder_n_ctx(emb));
            goto bad;
        }
    }
    *out = in;
    *n_out = count;
    return 0;
bad:
    inputs_free(in, count);
    (void)n;
    return -1;
}

int route_embeddings(struct api_server *s, struct mg_connection *c, const char *body, size_t len) {
    if (!s->embedder && !s->serve_store) return no_embedder(s, c);
    struct api_model_ref mref = {0};
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return api_reply_error(c, 400, NULL, NULL, "the request body is not a JSON object");
    }
    int status = check_model(s, c, j, &mref);
    omni_embedder *emb = mref.ref.embedder;
    const char *eid = mref.ref.id;
    omni_embed_input *in = NULL;
    float *vec = NULL;
    int n = 0, E = emb ? omni_embedder_n_embd(emb) : 0, dims = E, b64_out = 0;
    char msg[512];
    if (status) goto done;
    if (omni_embedder_pooling(emb) == OMNI_POOLING_RANK) {
        status = api_reply_error(c, 400, "model", "model_not_supported",
                                 "'%s' is a reranking model: it scores query/document pairs (POST /v1/rerank) and makes "
                                 "no embeddings", eid);
        goto done;
    }
    const cJSON *fmt = cJSON_GetObjectItem(j, "encoding_format"), *dj = cJSON_GetObjectItem(j, "dimensions");
    if (fmt && !cJSON_IsNull(fmt)) {
        if (cJSON_IsString(fmt) && !strcmp(fmt->valuestring, "base64")) b64_out = 1;
        else if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "float")) {
            status = api_reply_error(c, 400, "encoding_format", NULL, "'encoding_format' must be \"float\" or \"base64\"");
            goto done;
        }
    }
    if (dj && !cJSON_IsNull(dj)) {
        if (!cJSON_IsNumber(dj) || dj->valuedouble != (int)dj->valuedouble || dj->valuedouble < 1 || dj->valuedouble > E) {
            status = api_reply_error(c, 400, "dimensions", NULL, "'dimensions' must be an integer from 1 to %d (this model's size)", E);
            goto done;
        }
        dims = (int)dj->valuedouble;
    }
    if (read_inputs(emb, cJSON_GetObjectItem(j, "input"), &in, &n, msg, sizeof msg)) {
        status = api_reply_error(c, 400, "input", NULL, "%s", msg);
        goto done;
    }
    vec = malloc(sizeof(float) * (size_t)n * E);
    if (!vec) { status = api_reply_error(c, 500, NULL, NULL, "out of memory"); goto done; }
    char err[512];
    if (omni_embed(emb, in, n, 1, vec, NULL, err, sizeof err)) {
        status = api_reply_error(c, strstr(err, "out of memory") ? 500 : 400, "input", NULL, "%s", err);
        goto done;
    }
    cJSON *r = cJSON_CreateObject(), *data = NULL;
    cJSON_AddStringToObject(r, "object", "list");
    data = cJSON_AddArrayToObject(r, "data");
    long total = 0;
    for (int i = 0; i < n; i++) {
        float *v = vec + (size_t)i * E;
        if (dims < E) {  /* Matryoshka: the first dims components, renormalised */
            double ss = 0;
            for (int k = 0; k < dims; k++) ss += (double)v[k] * v[k];
            double inv = ss > 0 ? 1.0 / sqrt(ss) : 0;
            for (int k = 0; k < dims; k++) v[k] = (float)(v[k] * inv);
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "object", "embedding");
        cJSON_AddNumberToObject(o, "index", i);
        if (b64_out) {
            char *t = base64_floats(v, dims);
            if (!t) { cJSON_Delete(o); cJSON_Delete(r); status = api_reply_error(c, 500, NULL, NULL, "out of memory"); goto done; }
            cJSON_AddStringToObject(o, "embedding", t);
            free(t);
        } else {
            cJSON *a = cJSON_AddArrayToObject(o, "embedding");
            for (int k = 0; k < dims; k++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[k]));
        }
        cJSON_AddItemToArray(data, o);
        total += in[i].n_tokens;
    }
    cJSON_AddStringToObject(r, "model", eid);
    cJSON *u = cJSON_AddObjectToObject(r, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)total);
    cJSON_AddNumberToObject(u, "total_tokens", (double)total);
    api_meter_tokens(api_meter_current(), total, 0, 0);
    status = api_reply_json(c, 200, r);
    cJSON_Delete(r);
done:
    inputs_free(in, n);
    free(vec);
    api_model_put(s, &mref);
    cJSON_Delete(j);
    return status;
}

/* documents: strings, or objects with "text" (Cohere's and Jina's other form) */
static const char *doc_text(const cJSON *d) {
    if (cJSON_IsString(d)) return d->valuestring;
    const cJSON *t = cJSON_IsObject(d) ? cJSON_GetObjectItem(d, "text") : NULL;
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

int route_rerank(struct api_server *s, struct mg_connection *c, const char *body, size_t len) {
    if (!s->embedder && !s->serve_store) return no_embedder(s, c);
    struct api_model_ref mref = {0};
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return api_reply_error(c, 400, NULL, NULL, "the request body is not a JSON object");
    }
    int status = check_model(s, c, j, &mref), n = 0, *order = NULL;
    omni_embedder *emb = mref.ref.embedder;
    const char *eid = mref.ref.id;
    const char **docs = NULL;
    float *score = NULL;
    if (status) goto done;
    if (!omni_embedder_can_rerank(emb)) {
        status = api_reply_error(c, 400, "model", "model_not_supported",
                                 "'%s' makes embeddings and has no rerank head; /v1/rerank needs a reranking model "
                                 "(a cross-encoder such as bge-reranker-v2-m3)", eid);
        goto done;
    }
    const cJSON *q = cJSON_GetObjectItem(j, "query"), *dl = cJSON_GetObjectItem(j, "documents"),
                *tn = cJSON_GetObjectItem(j, "top_n"), *rd = cJSON_GetObjectItem(j, "return_documents");
    if (!cJSON_IsString(q) || !*q->valuestring) {
        status = api_reply_error(c, 400, "query", NULL, "'query' must be a non-empty string");
        goto done;
    }
    if (!cJSON_IsArray(dl) || !(n = cJSON_GetArraySize(dl))) {
        status = api_reply_error(c, 400, "documents", NULL, "'documents' must be a non-empty list of strings");
        n = 0;
        goto done;
    }
    if (n > MAX_INPUTS) {
        status = api_reply_error(c, 400, "documents", NULL, "'documents' has %d items; at most %d are allowed", n, MAX_INPUTS);
        goto done;
    }
    int top_n = n;
    if (tn && !cJSON_IsNull(tn)) {
        if (!cJSON_IsNumber(tn) || tn->valuedouble != (int)tn->valuedouble || tn->valuedouble < 1) {
            status = api_reply_error(c, 400, "top_n", NULL, "'top_n' must be a positive integer");
            goto done;
        }
        if (tn->valuedouble < n) top_n = (int)tn->valuedouble;
    }
    int ret_docs = rd && cJSON_IsTrue(rd);
    docs = calloc((size_t)n, sizeof *docs);
    score = malloc(sizeof(float) * (size_t)n);
    order = malloc(sizeof(int) * (size_t)n);
    if (!docs || !score || !order) { status = api_reply_error(c, 500, NULL, NULL, "out of memory"); goto done; }
    for (int i = 0; i < n; i++) {
        docs[i] = doc_text(cJSON_GetArrayItem(dl, i));
        if (!docs[i] || !*docs[i]) {
            status = api_reply_error(c, 400, "documents", NULL, "document %d must be a non-empty string", i);
            goto done;
        }
    }
    char err[512];
    int ntok = 0;
    if (omni_rerank(emb, q->valuestring, docs, n, score, &ntok, err, sizeof err)) {
        status = api_reply_error(c, strstr(err, "out of memory") ? 500 : 400, "documents", NULL, "%s", err);
        goto done;
    }
    /* by descending score; equal scores keep the documents' order */
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && score[order[k]] > score[order[k - 1]]; k--) {
            int t = order[k];
            order[k] = order[k - 1];
            order[k - 1] = t;
        }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "model", eid);
    cJSON_AddStringToObject(r, "object", "list");
    cJSON *res = cJSON_AddArrayToObject(r, "results");
    for (int k = 0; k < top_n; k++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", order[k]);
        cJSON_AddNumberToObject(o, "relevance_score", score[order[k]]);
        if (ret_docs) {
            cJSON *d = cJSON_AddObjectToObject(o, "document");
            cJSON_AddStringToObject(d, "text", docs[order[k]]);
        }
        cJSON_AddItemToArray(res, o);
    }
    cJSON *u = cJSON_AddObjectToObject(r, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", ntok);
    cJSON_AddNumberToObject(u, "total_tokens", ntok);
    status = api_reply_json(c, 200, r);
    cJSON_Delete(r);
done:
    free(docs);
    free(score);
    free(order);
    api_model_put(s, &mref);
    cJSON_Delete(j);
    return status;
}

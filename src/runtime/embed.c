/* omni_embedder: sentence embeddings and reranking (include/omni.h) over models/bert
 * (encoders) and models/llm (a decoder's final hidden states, Qwen3-Embedding), with
 * the tokenizer of the file. What llama-server's /v1/embeddings and /v1/rerank compute:
 * pooling as the file says (or overridden), L2 normalisation in double (its
 * common_embd_normalize), rerank pairs as its format_prompt_rerank builds them. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/error.h"
#include "core/matmul.h"
#include "core/ops.h"
#include "formats/gguf.h"
#include "models/bert.h"
#include "models/llm.h"
#include "omni.h"
#include "runtime/model.h"
#include "text/tokenizer.h"

struct omni_embedder {
    struct bert *bert;           /* one of bert and llm */
    struct llm *llm;
    struct llm_state *st;
    struct tensor cls_out;       /* a decoder reranker's head (Qwen3-Reranker), .data NULL when none */
    int n_cls_out;
    const struct gguf *g;
    struct tokenizer *tok;       /* NULL when the vocabulary is not supported: tok_err says why */
    char tok_err[1024];
    char *name, *rerank_template;
    char arch[32];
    int pooling, n_embd, n_ctx, n_vocab, n_batch;
    int32_t bos, eos, sep;
    int add_bos, add_eos, add_sep;
    pthread_mutex_t mu;
};

omni_embedder_params omni_embedder_default_params(void) {
    omni_embedder_params p = {0};
    p.pooling = OMNI_POOLING_DEFAULT;
    p.n_batch = 2048;
    return p;
}

static int32_t key_id(const struct gguf *g, const char *key) {
    int bad = 0;
    int64_t v = gguf_get_int(g, key, -1, &bad);
    return bad || v < 0 || v > INT32_MAX ? -1 : (int32_t)v;
}

static int key_bool(const struct gguf *g, const char *key, int def) {
    int bad = 0, v = gguf_get_bool(g, key, def, &bad);
    return bad ? def : v;
}

int omni_file_is_embedding_model(const char *path) {
    struct err e;
    struct gguf *g = gguf_open(path, &e);
    if (!g) return 0;
    struct gguf_str a = gguf_get_str(g, "general.architecture");
    int yes = 0;
    if (a.s && a.len < 32) {
        char key[64];
        snprintf(key, sizeof key, "%.*s.pooling_type", (int)a.len, a.s);
        yes = bert_is_arch(a.s, a.len) || gguf_find_key(g, key) >= 0;
    }
    gguf_close(g);
    return yes;
}

static int load_decoder(omni_embedder *m, const char *path, const omni_embedder_params *p, struct err *e) {
    struct llm_load_params lp = llm_default_load_params();
    lp.n_threads = p->n_threads;
    m->llm = llm_load(path, &lp, e);
    if (!m->llm) return -1;
    m->st = llm_state_new(m->llm);
    if (!m->st) return err_set(e, "out of memory");
    const struct llm_hparams *hp = llm_hparams(m->llm);
    m->g = llm_gguf(m->llm);
    snprintf(m->arch, sizeof m->arch, "%s", hp->arch);
    m->n_embd = hp->n_embd;
    m->n_ctx = hp->n_ctx_train;
    m->n_vocab = hp->n_vocab;
    char key[64];
    snprintf(key, sizeof key, "%s.pooling_type", hp->arch);
    int bad = 0;
    int file_pool = (int)gguf_get_int(m->g, key, -1, &bad);
    if (bad || file_pool > OMNI_POOLING_RANK) return err_set(e, "%s: %s should be 0..4", path, key);
    /* a decoder reranker carries its head as cls.output (rows: the label tokens' logits) */
    int64_t ci = gguf_find_tensor(m->g, "cls.output.weight");
    if (ci >= 0) {
        gguf_tensor(m->g, ci, &m->cls_out);
        const struct dtype_info *di = dtype_info(m->cls_out.type);
        if (m->cls_out.ne[0] != hp->n_embd || m->cls_out.ne[1] < 1 || m->cls_out.ne[1] > 4096 || !di || !di->supported ||
            dtype_row_bytes(m->cls_out.type, m->cls_out.ne[0]) * (size_t)m->cls_out.ne[1] != m->cls_out.nbytes)
            return err_set(e, "%s: cls.output.weight has an unusable shape or type", path);
        m->n_cls_out = (int)m->cls_out.ne[1];
    }
    /* llama.cpp: a decoder with no pooling type pools nothing; as an embedding model the
     * last token is the only meaningful choice (Qwen3-Embedding's) */
    m->pooling = file_pool > 0 ? file_pool : m->n_cls_out ? OMNI_POOLING_RANK : OMNI_POOLING_LAST;
    return 0;
}

omni_embedder *omni_embedder_load(const char *path, const omni_embedder_params *params, char *err, size_t err_size) {
    omni_embedder_params dp = omni_embedder_default_params();
    if (!params) params = &dp;
    struct err e = {{0}};
    omni_embedder *m = calloc(1, sizeof *m);
    if (!m) { err_copy_str("out of memory", err, err_size); return NULL; }
    pthread_mutex_init(&m->mu, NULL);
    m->n_batch = params->n_batch > 0 ? params->n_batch : 2048;
    struct gguf *probe = gguf_open(path, &e);
    if (!probe) goto fail;
    struct gguf_str a = gguf_get_str(probe, "general.architecture");
    int is_bert = bert_is_arch(a.s, a.len);
    gguf_close(probe);
    if (is_bert) {
        m->bert = bert_load(path, params->n_threads, &e);
        if (!m->bert) goto fail;
        const struct bert_hparams *hp = bert_hparams(m->bert);
        m->g = bert_gguf(m->bert);
        snprintf(m->arch, sizeof m->arch, "%s", hp->arch);
        m->n_embd = hp->n_embd, m->n_ctx = hp->n_ctx_train, m->n_vocab = hp->n_vocab, m->pooling = hp->pooling;
        m->n_cls_out = hp->n_cls_out;
    } else if (load_decoder(m, path, params, &e)) {
        goto fail;
    }
    if (params->pooling != OMNI_POOLING_DEFAULT) {
        if (params->pooling < OMNI_POOLING_MEAN || params->pooling > OMNI_POOLING_RANK) {
            err_set(&e, "pooling %d is not one of mean (1), cls (2), last (3), rank (4)", params->pooling);
            goto fail;
        }
        if (params->pooling == OMNI_POOLING_RANK && !m->n_cls_out) {
            err_set(&e, "%s: pooling rank needs a classification head (cls.output.weight); this model has none", path);
            goto fail;
        }
        m->pooling = params->pooling;
    }
    if (m->pooling < OMNI_POOLING_MEAN) m->pooling = m->bert ? OMNI_POOLING_CLS : OMNI_POOLING_LAST;
    struct err te = {{0}};
    m->tok = tokenizer_load(m->g, &te);
    if (!m->tok) snprintf(m->tok_err, sizeof m->tok_err, "%s (token-id inputs work without it)", te.msg);
    m->bos = key_id(m->g, "tokenizer.ggml.bos_token_id");
    m->eos = key_id(m->g, "tokenizer.ggml.eos_token_id");
    m->sep = key_id(m->g, "tokenizer.ggml.seperator_token_id");
    if (m->eos < 0) m->eos = m->sep;
    m->add_bos = key_bool(m->g, "tokenizer.ggml.add_bos_token", m->bert != NULL) && m->bos >= 0;
    m->add_eos = key_bool(m->g, "tokenizer.ggml.add_eos_token", 0) && m->eos >= 0;
    m->add_sep = key_bool(m->g, "tokenizer.ggml.add_sep_token", 0) && m->sep >= 0;
    m->rerank_template = gguf_get_str_dup(m->g, "tokenizer.chat_template.rerank");
    m->name = model_file_name(m->g, path);
    if (!m->name) { err_set(&e, "out of memory"); goto fail; }
    return m;
fail:
    err_copy_str(e.msg, err, err_size);
    omni_embedder_free(m);
    return NULL;
}

void omni_embedder_free(omni_embedder *m) {
    if (!m) return;
    bert_free(m->bert);
    llm_state_free(m->st);
    llm_free(m->llm);
    tokenizer_free(m->tok);
    free(m->name);
    free(m->rerank_template);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

const char *omni_embedder_name(const omni_embedder *m) { return m->name; }
const char *omni_embedder_arch(const omni_embedder *m) { return m->arch; }
int omni_embedder_n_embd(const omni_embedder *m) { return m->n_embd; }
int omni_embedder_n_ctx(const omni_embedder *m) { return m->n_ctx; }
int omni_embedder_n_vocab(const omni_embedder *m) { return m->n_vocab; }
int omni_embedder_pooling(const omni_embedder *m) { return m->pooling; }
int omni_embedder_can_rerank(const omni_embedder *m) { return m->pooling == OMNI_POOLING_RANK && m->n_cls_out > 0; }

static int tokenize(const omni_embedder *m, const char *text, size_t len, int add_special, int parse_special,
                    int32_t **out, size_t *n, struct err *e) {
    if (!m->tok) return err_set(e, "%s", m->tok_err);
    return tokenizer_encode(m->tok, text, len, add_special, parse_special, out, n, e);
}

int omni_embedder_tokenize(const omni_embedder *m, const char *text, size_t len, int32_t **tokens, char *err,
                           size_t err_size) {
    struct err e = {{0}};
    size_t n = 0;
    *tokens = NULL;
    if (tokenize(m, text, len, 1, 1, tokens, &n, &e)) return err_copy(&e, err, err_size);
    return (int)n;
}

/* Decoder path: every input its own sequence (own cache), all in one forward; the
 * flagged rows' final normed hidden states are pooled. out: n_out floats per input. */
static int decoder_encode(omni_embedder *m, const int32_t *tok, const int *n_tok, int n_seq, int pooling, float *out,
                          struct err *e) {
    int E = m->n_embd, N = 0, rc = -1;
    for (int s = 0; s < n_seq; s++) N += n_tok[s];
    struct llm_kv **kv = calloc((size_t)n_seq, sizeof *kv);
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)N), *seq = malloc(sizeof(int32_t) * (size_t)N);
    int8_t *flag = calloc((size_t)N, 1);
    float *hid = malloc(sizeof(float) * (size_t)N * E), *head = NULL;
    if (!kv || !pos || !seq || !flag || !hid) { err_set(e, "out of memory"); goto done; }
    int n_flag = 0;
    for (int s = 0, o = 0; s < n_seq; o += n_tok[s], s++) {
        if (!(kv[s] = llm_kv_new(m->llm, n_tok[s], e))) goto done;
        for (int t = 0; t < n_tok[s]; t++) {
            pos[o + t] = t, seq[o + t] = s;
            int last = t == n_tok[s] - 1;
            flag[o + t] = pooling == OMNI_POOLING_MEAN || (pooling == OMNI_POOLING_CLS ? t == 0 : last);
            n_flag += flag[o + t];
        }
    }
    struct llm_batch b = {N, tok, pos, seq, flag};
    if (llm_forward_hidden(m->llm, m->st, kv, n_seq, &b, hid, e)) goto done;
    if (pooling == OMNI_POOLING_RANK && !(head = malloc(sizeof(float) * (size_t)m->n_cls_out * n_seq))) {
        err_set(e, "out of memory");
        goto done;
    }
    for (int s = 0, row = 0; s < n_seq; s++) {
        if (pooling == OMNI_POOLING_MEAN) {
            float w = 1.0f / (float)n_tok[s];
            for (int c = 0; c < E; c++) {
                float acc = 0;
                for (int t = 0; t < n_tok[s]; t++) acc += hid[(size_t)(row + t) * E + c] * w;
                out[(size_t)s * E + c] = acc;
            }
            row += n_tok[s];
        } else if (pooling == OMNI_POOLING_RANK) {
            /* the head's logits, softmaxed (llama.cpp's qwen3 rank); score = label 0's */
            float *h = head + (size_t)s * m->n_cls_out;
            matmul(llm_pool(m->llm), &m->cls_out, hid + (size_t)row * E, h, 1);
            ops_softmax(h, m->n_cls_out);
            out[s] = h[0];
            row++;
        } else {
            memcpy(out + (size_t)s * E, hid + (size_t)row * E, sizeof(float) * E);
            row++;
        }
    }
    (void)n_flag;
    rc = 0;
done:
    if (kv)
        for (int s = 0; s < n_seq; s++) llm_kv_free(kv[s]);
    free(kv); free(pos); free(seq); free(flag); free(hid); free(head);
    return rc;
}

/* out: the pooled vectors (or, for RANK, one score per input) */
static int encode(omni_embedder *m, const int32_t *tok, const int *n_tok, int n_seq, int pooling, float *out,
                  struct err *e) {
    for (int s = 0, o = 0; s < n_seq; o += n_tok[s], s++) {
        if (n_tok[s] < 1) return err_set(e, "input %d is empty", s);
        if (n_tok[s] > m->n_ctx)
            return err_set(e, "input %d has %d tokens, more than the model's context of %d", s, n_tok[s], m->n_ctx);
        for (int t = 0; t < n_tok[s]; t++)
            if (tok[o + t] < 0 || tok[o + t] >= m->n_vocab)
                return err_set(e, "input %d: token %d is outside the vocabulary (0..%d)", s, tok[o + t], m->n_vocab - 1);
    }
    if (m->bert) {
        if (pooling != OMNI_POOLING_RANK) return bert_encode(m->bert, tok, n_tok, n_seq, pooling, out, e);
        /* a score per input: label 0 of the head */
        int k = m->n_cls_out;
        float *h = malloc(sizeof(float) * (size_t)k * n_seq);
        if (!h) return err_set(e, "out of memory");
        int rc = bert_encode(m->bert, tok, n_tok, n_seq, pooling, h, e);
        for (int s = 0; s < n_seq && rc == 0; s++) out[s] = h[(size_t)s * k];
        free(h);
        return rc;
    }
    return decoder_encode(m, tok, n_tok, n_seq, pooling, out, e);
}

/* Runs the inputs in batches of at most n_batch tokens (a longer input alone). */
static int encode_batched(omni_embedder *m, int32_t *const *toks, const int *lens, int n, int pooling, float *out,
                          int out_stride, struct err *e) {
    int32_t *flat = NULL;
    int rc = 0;
    for (int s0 = 0; s0 < n && rc == 0;) {
        int s1 = s0, total = 0;
        while (s1 < n && (s1 == s0 || total + lens[s1] <= m->n_batch)) total += lens[s1++];
        int32_t *p = realloc(flat, sizeof(int32_t) * (size_t)(total ? total : 1));
        if (!p) { rc = err_set(e, "out of memory"); break; }
        flat = p;
        for (int s = s0, o = 0; s < s1; o += lens[s], s++) memcpy(flat + o, toks[s], sizeof(int32_t) * (size_t)lens[s]);
        rc = encode(m, flat, lens + s0, s1 - s0, pooling, out + (size_t)s0 * out_stride, e);
        if (rc) err_prefix(e, "inputs %d..%d: ", s0, s1 - 1);
        s0 = s1;
    }
    free(flat);
    return rc;
}

int omni_embed(omni_embedder *m, const omni_embed_input *in, int n, int normalize, float *out, int *n_tokens,
               char *err, size_t err_size) {
    struct err e = {{0}};
    if (n < 1) return err_copy_str("no inputs", err, err_size);
    if (m->pooling == OMNI_POOLING_RANK)
        return err_copy_str("this is a reranking model: it scores pairs (omni_rerank, /v1/rerank), it makes no embeddings",
                            err, err_size);
    int32_t **toks = calloc((size_t)n, sizeof *toks);
    int *lens = calloc((size_t)n, sizeof *lens), rc = -1;
    if (!toks || !lens) { err_set(&e, "out of memory"); goto done; }
    for (int i = 0; i < n; i++) {
        if (in[i].tokens) {
            if (in[i].n_tokens < 1) { err_set(&e, "input %d is empty", i); goto done; }
            if (!(toks[i] = malloc(sizeof(int32_t) * (size_t)in[i].n_tokens))) { err_set(&e, "out of memory"); goto done; }
            memcpy(toks[i], in[i].tokens, sizeof(int32_t) * (size_t)in[i].n_tokens);
            lens[i] = in[i].n_tokens;
        } else {
            size_t nt = 0;
            if (!in[i].text || !in[i].len) { err_set(&e, "input %d is empty", i); goto done; }
            if (tokenize(m, in[i].text, in[i].len, 1, 1, &toks[i], &nt, &e)) goto done;
            if (nt == 0) { err_set(&e, "input %d is empty", i); goto done; }
            lens[i] = (int)nt;
        }
        if (lens[i] > m->n_ctx) {
            err_set(&e, "input %d has %d tokens, more than the model's context of %d", i, lens[i], m->n_ctx);
            goto done;
        }
    }
    pthread_mutex_lock(&m->mu);
    rc = encode_batched(m, toks, lens, n, m->pooling, out, m->n_embd, &e);
    pthread_mutex_unlock(&m->mu);
    if (rc == 0 && normalize)
        for (int i = 0; i < n; i++) {
            float *v = out + (size_t)i * m->n_embd;
            double s = 0;
            for (int c = 0; c < m->n_embd; c++) s += (double)v[c] * v[c];
            double norm = sqrt(s), inv = norm > 0 ? 1.0 / norm : 0.0;
            for (int c = 0; c < m->n_embd; c++) v[c] = (float)(v[c] * inv);
        }
    if (rc == 0 && n_tokens)
        for (int i = 0; i < n; i++) n_tokens[i] = lens[i];
done:
    if (toks)
        for (int i = 0; i < n; i++) free(toks[i]);
    free(toks);
    free(lens);
    return rc ? err_copy(&e, err, err_size) : 0;
}

/* The pair's tokens as llama-server's format_prompt_rerank: the file's rerank template
 * with {query} and {document} filled in, else BOS query EOS SEP document EOS. */
static int rerank_pair(const omni_embedder *m, const char *q, const char *d, int32_t **out, int *n, struct err *e) {
    if (m->rerank_template) {
        size_t cap = strlen(m->rerank_template) + 1, ql = strlen(q), dl = strlen(d);
        for (const char *p = m->rerank_template; (p = strchr(p, '{')); p++) cap += ql + dl;
        char *txt = malloc(cap), *w = txt;
        if (!txt) return err_set(e, "out of memory");
        for (const char *p = m->rerank_template; *p;) {
            if (!strncmp(p, "{query}", 7)) { memcpy(w, q, ql); w += ql; p += 7; }
            else if (!strncmp(p, "{document}", 10)) { memcpy(w, d, dl); w += dl; p += 10; }
            else *w++ = *p++;
        }
        size_t nt = 0;
        int rc = tokenize(m, txt, (size_t)(w - txt), 0, 1, out, &nt, e);
        free(txt);
        *n = (int)nt;
        return rc;
    }
    int32_t *qt = NULL, *dt = NULL;
    size_t nq = 0, nd = 0;
    if (tokenize(m, q, strlen(q), 0, 0, &qt, &nq, e) || tokenize(m, d, strlen(d), 0, 0, &dt, &nd, e)) {
        free(qt);
        return -1;
    }
    int32_t *t = malloc(sizeof(int32_t) * (nq + nd + 4));
    if (!t) { free(qt); free(dt); return err_set(e, "out of memory"); }
    int k = 0;
    if (m->add_bos) t[k++] = m->bos;
    memcpy(t + k, qt, sizeof(int32_t) * nq), k += (int)nq;
    if (m->add_eos) t[k++] = m->eos;
    if (m->add_sep) t[k++] = m->sep;
    memcpy(t + k, dt, sizeof(int32_t) * nd), k += (int)nd;
    if (m->add_eos) t[k++] = m->eos;
    free(qt);
    free(dt);
    *out = t;
    *n = k;
    return 0;
}

int omni_rerank(omni_embedder *m, const char *query, const char *const *docs, int n_docs, float *scores,
                int *n_tokens, char *err, size_t err_size) {
    struct err e = {{0}};
    if (!omni_embedder_can_rerank(m))
        return err_copy_str("this model has no rerank head (it makes embeddings; a reranker such as "
                            "bge-reranker-v2-m3 scores pairs)", err, err_size);
    if (n_docs < 1) return err_copy_str("no documents", err, err_size);
    int32_t **toks = calloc((size_t)n_docs, sizeof *toks);
    int *lens = calloc((size_t)n_docs, sizeof *lens), rc = -1, total = 0;
    if (!toks || !lens) { err_set(&e, "out of memory"); goto done; }
    for (int i = 0; i < n_docs; i++) {
        if (rerank_pair(m, query ? query : "", docs[i] ? docs[i] : "", &toks[i], &lens[i], &e)) goto done;
        if (lens[i] > m->n_ctx) {
            err_set(&e, "document %d: the pair has %d tokens, more than the model's context of %d", i, lens[i], m->n_ctx);
            goto done;
        }
        total += lens[i];
    }
    pthread_mutex_lock(&m->mu);
    rc = encode_batched(m, toks, lens, n_docs, OMNI_POOLING_RANK, scores, 1, &e);
    pthread_mutex_unlock(&m->mu);
    if (rc == 0 && n_tokens) *n_tokens = total;
done:
    if (toks)
        for (int i = 0; i < n_docs; i++) free(toks[i]);
    free(toks);
    free(lens);
    return rc ? err_copy(&e, err, err_size) : 0;
}

/* BERT-family encoders; see bert.h. The forward, per input of L tokens (E = n_embd,
 * F = n_ff, H heads of D = E / H):
 *   x = tok_embd[t] + token_types[0] + position_embd[p]         [L, E]
 *   x = LayerNorm(x)                                              (token_embd_norm)
 *   per block:  a = softmax(q kᵀ / sqrt(D)) v over the input's own tokens, per head
 *               x = LayerNorm(x + W_o a + b_o)                    (attn_output_norm)
 *               x = LayerNorm(x + W_down gelu(W_up x + b_up) + b_down)   (layer_output_norm)
 *   pooling: CLS x[0], MEAN, LAST x[L-1]; RANK: cls.output(tanh(cls(x[0]))).
 * nomic-bert (nomic-embed-text) is the same block with no position table: RoPE (NEOX
 * pairs, the file's base) on q and k instead, q|k|v as one matrix, no attention biases,
 * and a SwiGLU FFN: W_down (silu(W_gate x) * W_up x). jina-bert-v2 (jina-embeddings-v2):
 * no position table either, ALiBi instead (head h adds -slope_h |i - j| to its scores,
 * ggml's slopes for a max bias of 8), optional LayerNorms of q and k, an optional second
 * norm after attention (LN2(LN1(x + a) + x)), and a GEGLU FFN: gelu(first half of W_up x)
 * times the second half (or gelu(W_gate x) * W_up x).
 * Rounding as llama.cpp's CPU backend (the goldens' source): weight products through
 * matmul() (F16 weights take F16 activations, as ggml does), GELU from ggml's F16
 * table (core/gelu_f16.h), attention in F32 (llama.cpp keeps no K/V cache for an
 * encoder and multiplies the F32 projections directly, flash attention off). */
#include "models/bert.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/gelu_f16.h"
#include "core/layernorm.h"
#include "core/matmul.h"
#include "core/ops.h"
#include "core/pool.h"

struct bert_layer {
    struct tensor wq, bq, wk, bk, wv, bv, wo, bo, ln1_w, ln1_b;
    struct tensor wqkv;          /* q|k|v as one matrix (.data NULL: separate) */
    struct tensor up, up_b, gate, down, down_b, ln2_w, ln2_b;  /* biases optional; gate: SwiGLU */
    struct tensor qn_w, qn_b, kn_w, kn_b, n2_w, n2_b;         /* jina-bert-v2's optional norms */
    int up_rows;                 /* n_ff, or 2 n_ff when up holds GEGLU's two halves */
};

struct bert {
    struct bert_hparams hp;
    struct gguf *g;
    struct pool *pool;
    struct tensor tok_embd, type_embd, pos_embd, norm_w, norm_b;
    struct tensor cls, cls_b, cls_out, cls_out_b;
    struct bert_layer *layers;
    int nomic;                   /* nomic-bert: RoPE, no position table, SwiGLU */
    int jina;                    /* jina-bert-v2: ALiBi, no position table, GEGLU */
    float alibi[64];             /* per head: jina's ALiBi slope */
    int fused;                   /* some layer has q|k|v or a gate: the forward needs their scratch */
    int n_rot;
    float rope_theta;
    uint64_t n_params, weight_bytes;
};

const struct bert_hparams *bert_hparams(const struct bert *m) { return &m->hp; }
const struct gguf *bert_gguf(const struct bert *m) { return m->g; }
uint64_t bert_n_params(const struct bert *m) { return m->n_params; }
uint64_t bert_weight_bytes(const struct bert *m) { return m->weight_bytes; }

int bert_n_out(const struct bert *m, int pooling) {
    return pooling == BERT_POOL_RANK ? m->hp.n_cls_out : m->hp.n_embd;
}

int bert_is_arch(const char *s, size_t len) {
    return s && ((len == 4 && !memcmp(s, "bert", 4)) || (len == 10 && !memcmp(s, "nomic-bert", 10)) ||
                 (len == 12 && !memcmp(s, "jina-bert-v2", 12)));
}

/* ---- loading ---- */

/* A tensor of the given shape (ne1 = 0: 1-D). 1-D tensors are read as floats, so they
 * must be F32; matrices any type matmul takes; embedding tables any type with a row
 * converter. optional: absent is fine (t->data NULL). */
static int get(struct bert *m, const char *name, int64_t ne0, int64_t ne1, int optional, struct tensor *t,
               struct err *e) {
    memset(t, 0, sizeof *t);
    int64_t i = gguf_find_tensor(m->g, name);
    if (i < 0) return optional ? 0 : err_set(e, "%s: tensor '%s' is missing", gguf_path(m->g), name);
    gguf_tensor(m->g, i, t);
    int64_t want1 = ne1 ? ne1 : 1;
    if (t->ne[0] != ne0 || t->ne[1] != want1 || t->ne[2] != 1 || t->ne[3] != 1)
        return err_set(e, "%s: %s: expected [%lld, %lld], file has [%lld, %lld, %lld, %lld]", gguf_path(m->g), name,
                       (long long)ne0, (long long)want1, (long long)t->ne[0], (long long)t->ne[1],
                       (long long)t->ne[2], (long long)t->ne[3]);
    const struct dtype_info *di = dtype_info(t->type);
    if (!ne1 && t->type != DT_F32)
        return err_set(e, "%s: %s: expected type f32, file has %s", gguf_path(m->g), name, dtype_name(t->type));
    if (!di || !di->supported || dtype_row_bytes(t->type, t->ne[0]) == 0)
        return err_set(e, "%s: %s: weight type %s is not supported", gguf_path(m->g), name, dtype_name(t->type));
    if (dtype_row_bytes(t->type, t->ne[0]) * (size_t)t->ne[1] != t->nbytes)
        return err_set(e, "%s: %s: size %zu does not match its shape and type", gguf_path(m->g), name, t->nbytes);
    m->n_params += (uint64_t)tensor_nelements(t);
    m->weight_bytes += t->nbytes;
    return 0;
}

static int hp_int(const struct gguf *g, const char *arch, const char *key, int64_t def, int required, int min,
                  int *out, struct err *e) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (gguf_find_key(g, k) < 0) {
        if (required) return err_set(e, "%s: metadata key '%s' is missing", gguf_path(g), k);
        *out = (int)def;
        return 0;
    }
    int bad = 0;
    int64_t v = gguf_get_int(g, k, def, &bad);
    if (bad) return err_set(e, "%s: metadata key '%s' should be an integer", gguf_path(g), k);
    if (v < min || v > (1 << 30))
        return err_set(e, "%s: metadata key '%s' = %lld is out of range", gguf_path(g), k, (long long)v);
    *out = (int)v;
    return 0;
}

static int load(struct bert *m, struct err *e) {
    struct bert_hparams *hp = &m->hp;
    const struct gguf *g = m->g;
    struct gguf_str a = gguf_get_str(g, "general.architecture");
    if (!a.s) return err_set(e, "%s: metadata key 'general.architecture' is missing", gguf_path(g));
    m->nomic = a.len == 10 && !memcmp(a.s, "nomic-bert", 10);
    m->jina = a.len == 12 && !memcmp(a.s, "jina-bert-v2", 12);
    if (!bert_is_arch(a.s, a.len))
        return err_set(e, "%s: architecture '%.*s' is not a BERT encoder (supported: bert, nomic-bert, jina-bert-v2)", gguf_path(g),
                       (int)(a.len > 32 ? 32 : a.len), a.s);
    snprintf(hp->arch, sizeof hp->arch, "%.*s", (int)a.len, a.s);
    const char *ar = hp->arch;
    if (hp_int(g, ar, "embedding_length", 0, 1, 1, &hp->n_embd, e) ||
        hp_int(g, ar, "block_count", 0, 1, 1, &hp->n_layer, e) ||
        hp_int(g, ar, "attention.head_count", 0, 1, 1, &hp->n_head, e) ||
        hp_int(g, ar, "feed_forward_length", 0, 1, 1, &hp->n_ff, e) ||
        hp_int(g, ar, "context_length", 512, 0, 1, &hp->n_ctx_train, e) ||
        hp_int(g, ar, "pooling_type", -1, 0, -1, &hp->pooling, e))
        return -1;
    int kv = hp->n_head;
    if (hp_int(g, ar, "attention.head_count_kv", hp->n_head, 0, 1, &kv, e)) return -1;
    if (kv != hp->n_head)
        return err_set(e, "%s: head_count_kv %d != head_count %d is not supported for bert", gguf_path(g), kv, hp->n_head);
    if (hp->n_embd % hp->n_head)
        return err_set(e, "%s: embedding_length %d is not a multiple of head_count %d", gguf_path(g), hp->n_embd,
                       hp->n_head);
    if (hp->pooling > BERT_POOL_RANK)
        return err_set(e, "%s: bert.pooling_type %d is unknown", gguf_path(g), hp->pooling);
    int bad = 0;
    char key[128];
    snprintf(key, sizeof key, "%s.attention.layer_norm_epsilon", ar);
    hp->norm_eps = (float)gguf_get_float(g, key, 1e-12, &bad);
    if (bad) return err_set(e, "%s: %s should be a number", gguf_path(g), key);
    snprintf(key, sizeof key, "%s.attention.causal", ar);
    if (gguf_get_bool(g, key, 0, &bad) && !bad) return err_set(e, "%s: a causal %s is not supported", gguf_path(g), ar);
    if (m->jina) {
        /* ggml's ALiBi slopes for max_bias 8 (what llama.cpp sets for jina-bert-v2) */
        if (hp->n_head > 64) return err_set(e, "%s: %d heads: at most 64 are supported for ALiBi", gguf_path(g), hp->n_head);
        int n_log2 = 1;
        while (n_log2 * 2 <= hp->n_head) n_log2 *= 2;
        float m0 = powf(2.0f, -8.0f / n_log2), m1 = powf(2.0f, -4.0f / n_log2);
        for (int h = 0; h < hp->n_head; h++)
            m->alibi[h] = h < n_log2 ? powf(m0, (float)(h + 1)) : powf(m1, (float)(2 * (h - n_log2) + 1));
    }
    if (m->nomic) {
        int D = hp->n_embd / hp->n_head;
        snprintf(key, sizeof key, "%s.rope.freq_base", ar);
        m->rope_theta = (float)gguf_get_float(g, key, 10000.0, &bad);
        if (bad || hp_int(g, ar, "rope.dimension_count", D, 0, 2, &m->n_rot, e))
            return bad ? err_set(e, "%s: %s should be a number", gguf_path(g), key) : -1;
        if (m->n_rot > D || m->n_rot % 2 || m->n_rot > 1024)
            return err_set(e, "%s: rope.dimension_count %d must be even and <= head size %d", gguf_path(g), m->n_rot, D);
        int moe = 0;
        if (hp_int(g, ar, "moe_every_n_layers", 0, 0, 0, &moe, e)) return -1;
        if (moe) return err_set(e, "%s: nomic-bert with experts (nomic-bert-moe) is not supported", gguf_path(g));
    }

    int E = hp->n_embd, F = hp->n_ff;
    int64_t ti = gguf_find_tensor(g, "token_embd.weight");
    if (ti < 0) return err_set(e, "%s: tensor 'token_embd.weight' is missing", gguf_path(g));
    struct tensor te;
    gguf_tensor(g, ti, &te);
    if (te.ne[1] < 1 || te.ne[1] > (1 << 24))
        return err_set(e, "%s: token_embd.weight has an implausible vocabulary of %lld", gguf_path(g), (long long)te.ne[1]);
    hp->n_vocab = (int)te.ne[1];
    int64_t tt = gguf_find_tensor(g, "token_types.weight");
    struct tensor tyt = {0};
    if (tt >= 0) gguf_tensor(g, tt, &tyt);
    hp->n_token_types = tt >= 0 ? (int)(tyt.ne[1] > 0 && tyt.ne[1] < 1024 ? tyt.ne[1] : 1) : 0;
    if (get(m, "token_embd.weight", E, hp->n_vocab, 0, &m->tok_embd, e) ||
        (tt >= 0 && get(m, "token_types.weight", E, hp->n_token_types, 0, &m->type_embd, e)) ||
        (!m->nomic && !m->jina && get(m, "position_embd.weight", E, hp->n_ctx_train, 0, &m->pos_embd, e)) ||
        get(m, "token_embd_norm.weight", E, 0, 0, &m->norm_w, e) ||
        get(m, "token_embd_norm.bias", E, 0, 0, &m->norm_b, e))
        return -1;
    /* the classification head (bert's rerankers); jina's one-output cls is not supported */
    if (!m->jina && (get(m, "cls.weight", E, E, 1, &m->cls, e) || get(m, "cls.bias", E, 0, 1, &m->cls_b, e))) return -1;
    /* the head's output count: the labels' when the file has them, else its rows */
    enum gguf_type et;
    uint64_t n_labels = 0;
    snprintf(key, sizeof key, "%s.classifier.output_labels", ar);
    if (gguf_get_arr(g, key, &et, &n_labels) != 0) n_labels = 0;
    int64_t ci = m->jina ? -1 : gguf_find_tensor(g, "cls.output.weight");
    if (ci >= 0) {
        struct tensor co;
        gguf_tensor(g, ci, &co);
        int64_t n_out = n_labels ? (int64_t)n_labels : co.ne[1];
        if (n_out < 1 || n_out > 4096) return err_set(e, "%s: cls.output.weight has %lld outputs", gguf_path(g), (long long)n_out);
        hp->n_cls_out = (int)n_out;
        if (get(m, "cls.output.weight", E, n_out, 0, &m->cls_out, e) || get(m, "cls.output.bias", n_out, 0, 1, &m->cls_out_b, e))
            return -1;
    }
    if (m->cls.data && !m->cls_b.data) return err_set(e, "%s: cls.weight without cls.bias", gguf_path(g));
    if (hp->pooling < 0) hp->pooling = hp->n_cls_out ? BERT_POOL_RANK : BERT_POOL_CLS;

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return err_set(e, "out of memory");
    for (int l = 0; l < hp->n_layer; l++) {
        struct bert_layer *L = &m->layers[l];
        char n[96];
        /* bert: every bias (llama.cpp's converter writes them all); nomic-bert: q|k|v fused
         * or separate, biases optional (the file has none), a gate */
        int nb = m->nomic || m->jina, F2 = F;
        if (m->jina) {  /* GEGLU: up may hold both halves */
            int64_t ui;
            snprintf(n, sizeof n, "blk.%d.ffn_up.weight", l);
            if ((ui = gguf_find_tensor(g, n)) >= 0) {
                struct tensor ut;
                gguf_tensor(g, ui, &ut);
                if (ut.ne[1] == 2 * (int64_t)F) F2 = 2 * F;
            }
        }
        L->up_rows = F2;
#define T(field, suffix, ne0, ne1, opt) \
        (snprintf(n, sizeof n, "blk.%d." suffix, l), get(m, n, ne0, ne1, opt, &L->field, e))
        if (T(wqkv, "attn_qkv.weight", E, 3 * E, 1)) return -1;
        int sep = !L->wqkv.data;
        if ((sep && (T(wq, "attn_q.weight", E, E, 0) || T(wk, "attn_k.weight", E, E, 0) || T(wv, "attn_v.weight", E, E, 0))) ||
            T(bq, "attn_q.bias", E, 0, nb) || T(bk, "attn_k.bias", E, 0, nb) || T(bv, "attn_v.bias", E, 0, nb) ||
            T(wo, "attn_output.weight", E, E, 0) || T(bo, "attn_output.bias", E, 0, nb) ||
            T(ln1_w, "attn_output_norm.weight", E, 0, 0) || T(ln1_b, "attn_output_norm.bias", E, 0, 0) ||
            T(up, "ffn_up.weight", E, F2, 0) || T(up_b, "ffn_up.bias", F2, 0, nb) ||
            T(gate, "ffn_gate.weight", E, F, !m->nomic) || T(down, "ffn_down.weight", F, E, 0) ||
            T(down_b, "ffn_down.bias", E, 0, m->nomic) || T(ln2_w, "layer_output_norm.weight", E, 0, 0) ||
            T(ln2_b, "layer_output_norm.bias", E, 0, 0))
            return -1;
        if (m->jina && (T(qn_w, "attn_q_norm.weight", E, 0, 1) || T(qn_b, "attn_q_norm.bias", E, 0, 1) ||
                        T(kn_w, "attn_k_norm.weight", E, 0, 1) || T(kn_b, "attn_k_norm.bias", E, 0, 1) ||
                        T(n2_w, "attn_norm_2.weight", E, 0, 1) || T(n2_b, "attn_norm_2.bias", E, 0, 1) ||
                        (!m->nomic && T(bo, "attn_output.bias", E, 0, 0))))
            return -1;
        if (m->jina && F2 == 2 * F && L->gate.data)
            return err_set(e, "%s: layer %d: ffn_up holds a gate and ffn_gate exists too", gguf_path(g), l);
#undef T
        if (!sep || L->gate.data || F2 != F) m->fused = 1;
        if (!sep && (L->bq.data || L->bk.data || L->bv.data))
            return err_set(e, "%s: layer %d: attn_qkv with separate q/k/v biases is not supported", gguf_path(g), l);
    }
    return 0;
}

struct bert *bert_load(const char *path, int n_threads, struct err *e) {
    struct bert *m = calloc(1, sizeof *m);
    if (!m) { err_set(e, "out of memory"); return NULL; }
    m->g = gguf_open_weights(path, e);
    if (!m->g || load(m, e)) { bert_free(m); return NULL; }
    m->pool = pool_process(n_threads);
    if (!m->pool) { err_set(e, "cannot start the compute threads"); bert_free(m); return NULL; }
    return m;
}

void bert_free(struct bert *m) {
    if (!m) return;
    if (m->g) gguf_close(m->g);
    free(m->layers);
    free(m);
}

/* ---- forward ---- */

struct job {
    const struct bert *m;
    const struct bert_layer *L;
    int N;                       /* tokens in the batch */
    const int32_t *tok;
    const int *seq_of, *start;   /* per token: its input; per input: its first token */
    const int *n_tok;
    float *x, *q, *k, *v, *a, *t, *h, *g, *qkv;  /* g: the gate (SwiGLU); qkv: a fused product */
    float *att;                  /* per part: the longest input's scores */
    int max_len;
    _Atomic long next;
    void (*row)(struct job *j, int i);
};

static void rows_part(void *arg, int ith, int nth) {
    struct job *j = arg;
    long lo, hi;
    pool_split(j->N, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) j->row(j, (int)i);
}

static void run_rows(struct job *j, void (*row)(struct job *, int)) {
    j->row = row;
    if (j->N >= 2) pool_run(j->m->pool, rows_part, j);
    else rows_part(j, 0, 1);
}

static void embd_row(const struct tensor *t, int64_t r, float *out) {
    dequantize_row(t->type, (const char *)t->data + (size_t)r * dtype_row_bytes(t->type, t->ne[0]), out, t->ne[0]);
}

static void row_embed(struct job *j, int i) {
    const struct bert *m = j->m;
    int E = m->hp.n_embd, p = i - j->start[j->seq_of[i]];
    float *x = j->x + (size_t)i * E, *tmp = j->t + (size_t)i * E;
    embd_row(&m->tok_embd, j->tok[i], x);
    if (m->type_embd.data) { embd_row(&m->type_embd, 0, tmp); ops_add(x, tmp, E); }
    if (m->pos_embd.data) {
        embd_row(&m->pos_embd, p, tmp);
        ops_add(x, tmp, E);
    }
    layernorm(x, x, m->norm_w.data, m->norm_b.data, E, 1, m->hp.norm_eps);
}

/* a fused product split into q, k, v; biases; RoPE (nomic-bert) */
static void row_bias_qkv(struct job *j, int i) {
    const struct bert *m = j->m;
    int E = m->hp.n_embd, H = m->hp.n_head;
    float *q = j->q + (size_t)i * E, *k = j->k + (size_t)i * E, *v = j->v + (size_t)i * E;
    if (j->L->wqkv.data) {
        const float *f = j->qkv + (size_t)i * 3 * E;
        memcpy(q, f, sizeof(float) * E);
        memcpy(k, f + E, sizeof(float) * E);
        memcpy(v, f + 2 * E, sizeof(float) * E);
    }
    if (j->L->bq.data) ops_add(q, j->L->bq.data, E);
    if (j->L->bk.data) ops_add(k, j->L->bk.data, E);
    if (j->L->bv.data) ops_add(v, j->L->bv.data, E);
    if (j->L->qn_w.data) layernorm(q, q, j->L->qn_w.data, j->L->qn_b.data, E, 1, m->hp.norm_eps);
    if (j->L->kn_w.data) layernorm(k, k, j->L->kn_w.data, j->L->kn_b.data, E, 1, m->hp.norm_eps);
    if (m->nomic) {
        float cs[1024];  /* n_rot floats; n_rot <= 1024 is checked at load */
        int p = i - j->start[j->seq_of[i]], D = E / H;
        ops_rope_cache(cs, m->n_rot, p, m->rope_theta, 1.0f, NULL);
        ops_rope(q, H, D, m->n_rot, cs, 1);
        ops_rope(k, H, D, m->n_rot, cs, 1);
    }
}

/* x = LN1(t + b + x) with the block's first norm; jina's second: LN2(that + x) */
static void row_attn_out(struct job *j, int i) {
    int E = j->m->hp.n_embd;
    float *x = j->x + (size_t)i * E, *t = j->t + (size_t)i * E;
    if (j->L->bo.data) ops_add(t, j->L->bo.data, E);
    ops_add(t, x, E);
    layernorm(t, t, j->L->ln1_w.data, j->L->ln1_b.data, E, 1, j->m->hp.norm_eps);
    if (j->L->n2_w.data) {
        ops_add(t, x, E);
        layernorm(t, t, j->L->n2_w.data, j->L->n2_b.data, E, 1, j->m->hp.norm_eps);
    }
    memcpy(x, t, sizeof(float) * E);
}

/* the FFN's activation; the result (n_ff per row) in j->h, or in j->g for GEGLU's halves */
static void row_gelu(struct job *j, int i) {
    int F = j->m->hp.n_ff, U = j->L->up_rows;
    float *h = j->h + (size_t)i * U;
    if (j->L->up_b.data) ops_add(h, j->L->up_b.data, U);
    if (U == 2 * F) {  /* gelu(first half) * second half, into g */
        float *o = j->g + (size_t)i * F;
        memcpy(o, h, sizeof(float) * F);
        gelu_f16(o, F);
        for (int c = 0; c < F; c++) o[c] *= h[F + c];
    } else if (j->L->gate.data && j->m->jina) {  /* gelu(gate) * up */
        float *g = j->g + (size_t)i * F;
        gelu_f16(g, F);
        for (int c = 0; c < F; c++) h[c] *= g[c];
    } else if (j->L->gate.data) {
        ops_swiglu(h, j->g + (size_t)i * F, h, F, F - F % 16);  /* silu(gate) * up */
    } else {
        gelu_f16(h, F);
    }
}

static void row_ffn_out(struct job *j, int i) {
    int E = j->m->hp.n_embd;
    float *x = j->x + (size_t)i * E, *t = j->t + (size_t)i * E;
    if (j->L->down_b.data) ops_add(t, j->L->down_b.data, E);
    ops_add(x, t, E);
    layernorm(x, x, j->L->ln2_w.data, j->L->ln2_b.data, E, 1, j->m->hp.norm_eps);
}

/* (token, head) tasks: softmax(q·k / sqrt(D)) over the token's own input, times v */
static void attn_part(void *arg, int ith, int nth) {
    struct job *j = arg;
    const struct bert_hparams *hp = &j->m->hp;
    int E = hp->n_embd, H = hp->n_head, D = E / H;
    float scale = 1.0f / sqrtf((float)D), *s = j->att + (size_t)ith * j->max_len;
    long total = (long)j->N * H;
    for (long task; (task = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < total;) {
        int i = (int)(task / H), h = (int)(task % H), sq = j->seq_of[i], o = j->start[sq], L = j->n_tok[sq];
        const float *q = j->q + (size_t)i * E + (size_t)h * D;
        for (int t = 0; t < L; t++) {
            const float *k = j->k + (size_t)(o + t) * E + (size_t)h * D;
            float acc[8] = {0}, d = 0;  /* 8 lanes: the compiler's vectors */
            int c = 0;
            for (; c + 8 <= D; c += 8)
                for (int l = 0; l < 8; l++) acc[l] += q[c + l] * k[c + l];
            for (; c < D; c++) d += q[c] * k[c];
            for (int l = 0; l < 8; l++) d += acc[l];
            s[t] = d * scale;
        }
        if (j->m->jina) {  /* ALiBi: -slope |i - t| */
            float sl = j->m->alibi[h];
            int pi = i - o;
            for (int t = 0; t < L; t++) s[t] += sl * (float)-abs(pi - t);
        }
        ops_softmax(s, L);
        float *out = j->a + (size_t)i * E + (size_t)h * D;
        for (int c = 0; c < D; c++) out[c] = 0;
        for (int t = 0; t < L; t++) {
            const float *v = j->v + (size_t)(o + t) * E + (size_t)h * D;
            float p = s[t];
            for (int c = 0; c < D; c++) out[c] += p * v[c];
        }
    }
    (void)nth;
}

int bert_encode(const struct bert *m, const int32_t *tok, const int *n_tok, int n_seq, int pooling, float *out,
                struct err *e) {
    const struct bert_hparams *hp = &m->hp;
    if (n_seq < 1) return err_set(e, "bert: no inputs");
    if (pooling < BERT_POOL_MEAN || pooling > BERT_POOL_RANK)
        return err_set(e, "bert: pooling %d is not supported (mean, cls, last or rank)", pooling);
    if (pooling == BERT_POOL_RANK && !m->cls_out.data)
        return err_set(e, "%s: reranking needs a classification head (cls.output.weight); this model has none",
                       gguf_path(m->g));
    long N = 0;
    int max_len = 0;
    for (int s = 0; s < n_seq; s++) {
        if (n_tok[s] < 1) return err_set(e, "bert: input %d is empty", s);
        if (n_tok[s] > hp->n_ctx_train)
            return err_set(e, "bert: input %d has %d tokens, more than the model's %d positions", s, n_tok[s],
                           hp->n_ctx_train);
        if (n_tok[s] > max_len) max_len = n_tok[s];
        N += n_tok[s];
        if (N > (1L << 24)) return err_set(e, "bert: too many tokens in one batch");
    }
    for (long i = 0; i < N; i++)
        if (tok[i] < 0 || tok[i] >= hp->n_vocab)
            return err_set(e, "bert: token %d is outside the vocabulary (0..%d)", tok[i], hp->n_vocab - 1);

    int E = hp->n_embd, F = hp->n_ff, nth = pool_size(m->pool);
    size_t NE = (size_t)N * E;
    size_t extra = m->fused ? 3 * NE + 2 * (size_t)N * F : 0;  /* fused q|k|v, the gate, up's second half */
    float *buf = malloc(sizeof(float) * (6 * NE + (size_t)N * F + (size_t)nth * max_len + 2 * (size_t)E + extra));
    int *idx = malloc(sizeof(int) * ((size_t)N + n_seq));
    if (!buf || !idx) {
        free(buf);
        free(idx);
        return err_set(e, "bert: out of memory for %ld tokens", N);
    }
    struct job j = {.m = m, .N = (int)N, .tok = tok, .n_tok = n_tok, .max_len = max_len};
    j.x = buf, j.q = j.x + NE, j.k = j.q + NE, j.v = j.k + NE, j.a = j.v + NE, j.t = j.a + NE, j.h = j.t + NE;
    j.att = j.h + (size_t)N * F * (m->fused ? 2 : 1);
    float *head = j.att + (size_t)nth * max_len;
    j.qkv = m->fused ? head + 2 * (size_t)E : NULL;
    j.g = m->fused ? j.qkv + 3 * NE : NULL;
    int *seq_of = idx, *start = idx + N;
    for (int s = 0, o = 0; s < n_seq; o += n_tok[s], s++) {
        start[s] = o;
        for (int t = 0; t < n_tok[s]; t++) seq_of[o + t] = s;
    }
    j.seq_of = seq_of, j.start = start;

    run_rows(&j, row_embed);
    for (int l = 0; l < hp->n_layer; l++) {
        const struct bert_layer *L = j.L = &m->layers[l];
        if (L->wqkv.data) {
            matmul(m->pool, &L->wqkv, j.x, j.qkv, (int)N);
        } else {
            matmul(m->pool, &L->wq, j.x, j.q, (int)N);
            matmul(m->pool, &L->wk, j.x, j.k, (int)N);
            matmul(m->pool, &L->wv, j.x, j.v, (int)N);
        }
        run_rows(&j, row_bias_qkv);
        atomic_store(&j.next, 0);
        pool_run(m->pool, attn_part, &j);
        matmul(m->pool, &L->wo, j.a, j.t, (int)N);
        run_rows(&j, row_attn_out);
        matmul(m->pool, &L->up, j.x, j.h, (int)N);
        if (L->gate.data) matmul(m->pool, &L->gate, j.x, j.g, (int)N);
        run_rows(&j, row_gelu);
        matmul(m->pool, &L->down, L->up_rows == 2 * F ? j.g : j.h, j.t, (int)N);
        run_rows(&j, row_ffn_out);
    }

    for (int s = 0; s < n_seq; s++) {
        const float *xs = j.x + (size_t)start[s] * E;
        int L = n_tok[s];
        float *o = out + (size_t)s * bert_n_out(m, pooling);
        if (pooling == BERT_POOL_MEAN) {
            /* as llama.cpp: a product with a column of 1/L */
            float w = 1.0f / (float)L;
            for (int c = 0; c < E; c++) {
                float acc = 0;
                for (int t = 0; t < L; t++) acc += xs[(size_t)t * E + c] * w;
                o[c] = acc;
            }
        } else if (pooling == BERT_POOL_LAST) {
            memcpy(o, xs + (size_t)(L - 1) * E, sizeof(float) * E);
        } else if (pooling == BERT_POOL_CLS) {
            memcpy(o, xs, sizeof(float) * E);
        } else {
            const float *in = xs;
            if (m->cls.data) {
                matmul(m->pool, &m->cls, xs, head, 1);
                ops_add(head, m->cls_b.data, E);
                for (int c = 0; c < E; c++) head[c] = tanhf(head[c]);
                in = head;
            }
            matmul(m->pool, &m->cls_out, in, o, 1);
            if (m->cls_out_b.data) ops_add(o, m->cls_out_b.data, hp->n_cls_out);
        }
    }
    free(buf);
    free(idx);
    return 0;
}

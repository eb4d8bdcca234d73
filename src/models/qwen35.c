/* The qwen35 family (Qwen3.5 dense): a hybrid of gated delta-net ("linear
 * attention") layers and full-attention layers, every full_attention_interval-th
 * layer (4: layers 3, 7, …) being attention. Both kinds sit in the usual pre-norm
 * block (norm, mixer, residual, post_attention_norm, SwiGLU FFN, residual), so
 * llm.c runs the block and calls this file's mixer for the recurrent layers.
 *
 * Full attention (llm.c, arch flags): attn_q gives per head head_dim query values
 * then head_dim gate values; q and k get per-head RMS norms; rope is Qwen's
 * interleaved M-RoPE on the first rope.dimension_count (16 of 256) dims, which for
 * text (one position for every section) is neox rope on those dims; the attention
 * output is multiplied by sigmoid(gate) before attn_output.
 *
 * Gated delta-net layer, per token (C = 2*Hk*dk + Hv*dv conv channels):
 *   qkv = attn_qkv · x  [C]  -> causal depthwise conv (ssm_conv1d, kernel K) -> SiLU
 *   q, k = the first two Hk*dk slices, each key head L2-normalized; v = the rest
 *   z = attn_gate · x [Hv*dv];  beta = sigmoid(ssm_beta · x) [Hv]
 *   g = softplus(ssm_alpha · x + ssm_dt.bias) * ssm_a [Hv]   (ssm_a holds -exp(A_log))
 *   per value head h (reading key head h mod Hk): the gated delta rule (core/ssm.h)
 *     with decay exp(g_h), write strength beta_h, output scale 1/sqrt(dk)
 *   o_h = RMSNorm(o_h) * ssm_norm * SiLU(z_h);  out = ssm_out · o
 * The per-sequence state is the conv window [C][K-1] and the delta-rule matrices
 * [Hv][dv][dk]; it lives in the sequence's llm_kv. Norm weights are stored with the
 * +1 already added (the converter's convention): used as stored. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/matmul.h"
#include "core/ops.h"
#include "core/ssm.h"
#include "models/arch.h"

struct dnet {
    struct tensor qkv, gate, conv, dt, a, beta, alpha, norm, out;
    int E, K, C, Hk, Hv, dk, VD;
    float eps;
};

static int get_key(const struct gguf *g, const char *arch, const char *key, int64_t def, int required, int64_t *v,
                   struct err *e) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (gguf_find_key(g, k) < 0) {
        if (required) return err_set(e, "%s: metadata key '%s' is missing", gguf_path(g), k);
        *v = def;
        return 0;
    }
    int bad = 0;
    *v = gguf_get_int(g, k, def, &bad);
    if (bad || *v < 1 || *v > 65536) return err_set(e, "%s: metadata key '%s' is not a plausible count", gguf_path(g), k);
    return 0;
}

static int dnet_load(struct llm *m, int l, void **layer, struct err *e) {
    const struct llm_hparams *hp = llm_hparams(m);
    const struct gguf *g = llm_gguf(m);
    char k[128];
    *layer = NULL;
    snprintf(k, sizeof k, "%s.attention.recurrent_layers", hp->arch);
    if (gguf_find_key(g, k) >= 0)
        return err_set(e, "%s: '%s' is not supported (only full_attention_interval)", gguf_path(g), k);
    int64_t interval, K, dk, Hk, Hv, inner;
    if (get_key(g, hp->arch, "full_attention_interval", 4, 0, &interval, e)) return -1;
    if ((l + 1) % interval == 0) return 0;  /* full attention */
    if (get_key(g, hp->arch, "ssm.conv_kernel", 0, 1, &K, e) || get_key(g, hp->arch, "ssm.state_size", 0, 1, &dk, e) ||
        get_key(g, hp->arch, "ssm.group_count", 0, 1, &Hk, e) ||
        get_key(g, hp->arch, "ssm.time_step_rank", 0, 1, &Hv, e) ||
        get_key(g, hp->arch, "ssm.inner_size", 0, 1, &inner, e))
        return -1;
    if (Hv % Hk || inner != Hv * dk || K > 64)
        return err_set(e, "%s: delta-net shape not supported: %lld value heads over %lld key heads, inner size %lld "
                       "!= value heads x state size %lld, conv kernel %lld", gguf_path(g), (long long)Hv,
                       (long long)Hk, (long long)inner, (long long)dk, (long long)K);
    struct dnet *d = calloc(1, sizeof *d);
    if (!d) return err_set(e, "out of memory");
    d->E = hp->n_embd, d->K = (int)K, d->dk = (int)dk, d->Hk = (int)Hk, d->Hv = (int)Hv, d->VD = (int)inner;
    d->C = 2 * d->Hk * d->dk + d->VD;
    d->eps = hp->norm_eps;
    char n[96];
#define T(field, suffix, nd, ne0, ne1) \
    (snprintf(n, sizeof n, "blk.%d." suffix, l), llm_get_tensor(m, n, nd, ne0, ne1, 0, &d->field, e))
    if (T(qkv, "attn_qkv.weight", 2, d->E, d->C) || T(gate, "attn_gate.weight", 2, d->E, d->VD) ||
        T(conv, "ssm_conv1d.weight", 2, d->K, d->C) || T(dt, "ssm_dt.bias", 1, d->Hv, 0) ||
        T(a, "ssm_a", 1, d->Hv, 0) || T(beta, "ssm_beta.weight", 2, d->E, d->Hv) ||
        T(alpha, "ssm_alpha.weight", 2, d->E, d->Hv) || T(norm, "ssm_norm.weight", 1, d->dk, 0) ||
        T(out, "ssm_out.weight", 2, d->VD, d->E)) {
        free(d);
        return -1;
    }
#undef T
    if (d->conv.type != DT_F32) {
        int type = d->conv.type;
        free(d);
        return err_set(e, "%s: blk.%d.ssm_conv1d.weight: expected type f32, file has %s", gguf_path(g), l,
                       dtype_name(type));
    }
    *layer = d;
    return 0;
}

/* conv window [C][K-1], then the Hv delta-rule matrices [dv][dk] */
static size_t conv_floats(const struct dnet *d) { return (size_t)d->C * (d->K - 1); }
static size_t dnet_state_floats(const void *layer) {
    const struct dnet *d = layer;
    return conv_floats(d) + (size_t)d->Hv * d->dk * d->dk;
}

/* per token: qkv [C], z [VD], beta [Hv], alpha [Hv], o [VD] */
static size_t row_floats(const struct dnet *d) { return (size_t)d->C + 2 * d->VD + 2 * d->Hv; }
static size_t dnet_scratch_floats(const void *layer, int n) { return (size_t)n * row_floats(layer); }

struct job {
    const struct llm_mix_args *a;
    const struct dnet *d;
    float *qkv, *z, *beta, *alpha, *o;
};

static int seq_of(const struct llm_mix_args *a, int i) { return a->seq ? a->seq[i] : 0; }

/* the causal conv, each thread over its channels, every token in batch order (a
 * sequence's tokens come in position order, so its window rolls forward) */
static void conv_part(void *arg, int ith, int nth) {
    struct job *j = arg;
    const struct llm_mix_args *a = j->a;
    const struct dnet *d = j->d;
    long c0, c1;
    pool_split(d->C, ith, nth, &c0, &c1);
    if (c0 >= c1) return;
    for (int i = 0; i < a->n; i++) {
        const struct llm_rs_seq *rs = &a->rs[seq_of(a, i)];
        float *row = j->qkv + (size_t)i * d->C;
        ops_conv1d_causal_step(row, rs->state, row, d->conv.data, d->K, (int)c0, (int)c1);
        if (a->pos[i] + 1 == rs->ck_pos)
            memcpy(rs->ck + c0 * (d->K - 1), rs->state + c0 * (d->K - 1), sizeof(float) * (size_t)(c1 - c0) * (d->K - 1));
    }
}

/* SiLU, q/k L2 norms, the gates */
static void prep_part(void *arg, int ith, int nth) {
    struct job *j = arg;
    const struct dnet *d = j->d;
    const float *dt = d->dt.data, *A = d->a.data;
    long lo, hi;
    pool_split(j->a->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) {
        float *row = j->qkv + (size_t)i * d->C, *b = j->beta + (size_t)i * d->Hv, *g = j->alpha + (size_t)i * d->Hv;
        ops_silu(row, d->C);
        for (int h = 0; h < 2 * d->Hk; h++) ops_l2norm(row + h * d->dk, d->dk, d->eps);
        for (int h = 0; h < d->Hv; h++) {
            b[h] = 1.0f / (1.0f + expf(-b[h]));
            g[h] = expf(ops_softplus(g[h] + dt[h]) * A[h]);  /* the decay */
        }
    }
}

/* the recurrence: (sequence, value head) tasks, each walking its sequence's tokens */
static void delta_part(void *arg, int ith, int nth) {
    struct job *j = arg;
    const struct llm_mix_args *a = j->a;
    const struct dnet *d = j->d;
    long lo, hi;
    pool_split((long)a->n_seq * d->Hv, ith, nth, &lo, &hi);
    float scale = 1.0f / sqrtf((float)d->dk);
    size_t mat = (size_t)d->dk * d->dk;
    for (long t = lo; t < hi; t++) {
        int s = (int)(t / d->Hv), h = (int)(t % d->Hv), kh = h % d->Hk;
        const struct llm_rs_seq *rs = &a->rs[s];
        float *S = rs->state + conv_floats(d) + h * mat;
        for (int i = 0; i < a->n; i++) {
            if (seq_of(a, i) != s) continue;
            const float *row = j->qkv + (size_t)i * d->C;
            const float *q = row + kh * d->dk, *k = row + (d->Hk + kh) * d->dk, *v = row + 2 * d->Hk * d->dk + h * d->dk;
            ops_delta_rule_step(S, q, k, v, j->alpha[(size_t)i * d->Hv + h], j->beta[(size_t)i * d->Hv + h], scale,
                                j->o + (size_t)i * d->VD + h * d->dk, d->dk);
            if (a->pos[i] + 1 == rs->ck_pos) memcpy(rs->ck + conv_floats(d) + h * mat, S, sizeof(float) * mat);
        }
    }
}

/* o_h = RMSNorm(o_h) * ssm_norm * SiLU(z_h) */
static void out_part(void *arg, int ith, int nth) {
    struct job *j = arg;
    const struct dnet *d = j->d;
    long lo, hi;
    pool_split(j->a->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) {
        float *o = j->o + (size_t)i * d->VD, *z = j->z + (size_t)i * d->VD;
        ops_silu(z, d->VD);
        for (int h = 0; h < d->Hv; h++) ops_rmsnorm(o + h * d->dk, o + h * d->dk, d->norm.data, d->dk, d->eps);
        for (int c = 0; c < d->VD; c++) o[c] *= z[c];
    }
}

static void run(struct pool *p, void (*fn)(void *, int, int), struct job *j, long work) {
    if (work >= 2) pool_run(p, fn, j);
    else fn(j, 0, 1);
}

static void dnet_forward(const struct llm_mix_args *a) {
    const struct dnet *d = a->layer;
    int n = a->n;
    struct job j = {.a = a, .d = d};
    j.qkv = a->scratch;
    j.z = j.qkv + (size_t)n * d->C;
    j.beta = j.z + (size_t)n * d->VD;
    j.alpha = j.beta + (size_t)n * d->Hv;
    j.o = j.alpha + (size_t)n * d->Hv;
    const struct tensor *w[4] = {&d->qkv, &d->gate, &d->beta, &d->alpha};
    float *y[4] = {j.qkv, j.z, j.beta, j.alpha};
    matmul_many(a->pool, 4, w, a->x, y, n);
    run(a->pool, conv_part, &j, (long)n * d->C >= 4096 ? 2 : 1);
    run(a->pool, prep_part, &j, n);
    run(a->pool, delta_part, &j, (long)a->n_seq * d->Hv);
    run(a->pool, out_part, &j, n);
    matmul(a->pool, &d->out, j.o, a->out, n);
}

const struct llm_mixer llm_qwen35_dnet_mixer = {
    .load = dnet_load,
    .state_floats = dnet_state_floats,
    .scratch_floats = dnet_scratch_floats,
    .forward = dnet_forward,
};

/* Qwen3.5 files may carry a multi-token-prediction block after the main stack
 * (nextn_predict_layers, counted in block_count): a draft head for speculative
 * decoding, which the plain forward does not run. (qwen35moe shares this hook.) */
int llm_qwen35_hparams(struct llm_hparams *hp, const struct gguf *g, struct err *e) {
    char k[128];
    snprintf(k, sizeof k, "%s.nextn_predict_layers", hp->arch);
    if (gguf_find_key(g, k) < 0) return 0;
    int bad = 0;
    int64_t n = gguf_get_int(g, k, 0, &bad);
    if (bad || n < 0 || n >= hp->n_layer)
        return err_set(e, "%s: metadata key '%s' must be less than block_count %d", gguf_path(g), k, hp->n_layer);
    hp->n_layer -= (int)n;
    return 0;
}

const struct llm_arch llm_arch_qwen35 = {
    .name = "qwen35",
    .rope_neox = 1,
    .qk_norm = 1,
    .attn_out_gate = 1,
    .ffn_norm_name = "post_attention_norm",
    .mixer = &llm_qwen35_dnet_mixer,
    .load_hparams = llm_qwen35_hparams,
};

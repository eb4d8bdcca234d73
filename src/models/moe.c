/* Mixture-of-experts FFN (see moe.h). The router and the weights are computed per
 * token; then the (token, slot) pairs are grouped by expert so that each expert runs
 * as one matmul over its tokens (m = how many chose it), and each pair's weighted
 * output is summed per token in slot order, as llama.cpp adds its expert views. */
#include "models/moe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/matmul.h"
#include "core/matmul_id.h"
#include "core/ops.h"

struct moe_scratch {
    int cap_n, n_embd, n_ff, n_expert, n_used;
    float *logits;   /* [n][n_expert] */
    int *sel;        /* [n][n_used] chosen experts, best first */
    float *w;        /* [n][n_used] their weights */
    int *cnt, *start; /* [n_expert] pairs per expert, first pair of each in the grouped order */
    int *pair;       /* [n * n_used] (token * n_used + slot), grouped by expert */
    int *where;      /* [n * n_used] grouped index of each (token, slot) */
    float *xg;       /* [n][n_embd] one expert's gathered inputs */
    float *g, *u;    /* [n][n_ff] its gate and up rows (g then holds the activation) */
    float *d;        /* [n * n_used][n_embd] every pair's down projection, grouped */
    int n_ff_sh;     /* the shared expert's (0: none) */
    float *sg, *su;  /* [n][n_ff_sh] its gate and up rows */
    float *sd;       /* [n][n_embd] its gated output */
    float *sgate;    /* [n] its gate logits */
};

void moe_scratch_free(struct moe_scratch *s) {
    if (!s) return;
    free(s->logits); free(s->sel); free(s->w); free(s->cnt); free(s->start);
    free(s->pair); free(s->where); free(s->xg); free(s->g); free(s->u); free(s->d);
    free(s->sg); free(s->su); free(s->sd); free(s->sgate);
    free(s);
}

int moe_reserve(struct moe_scratch **sp, const struct moe_cfg *c, int n) {
    struct moe_scratch *s = *sp;
    if (s && s->cap_n >= n && s->n_embd == c->n_embd && s->n_ff == c->n_ff && s->n_expert == c->n_expert &&
        s->n_used == c->n_used && s->n_ff_sh == c->n_ff_shexp)
        return 0;
    moe_scratch_free(s);
    *sp = s = calloc(1, sizeof *s);
    if (!s) return -1;
    size_t N = (size_t)n, K = (size_t)c->n_used, E = (size_t)c->n_embd, F = (size_t)c->n_ff, X = (size_t)c->n_expert;
    s->logits = malloc(N * X * sizeof(float));
    s->sel = malloc(N * K * sizeof(int));
    s->w = malloc(N * K * sizeof(float));
    s->cnt = malloc(X * sizeof(int));
    s->start = malloc(X * sizeof(int));
    s->pair = malloc(N * K * sizeof(int));
    s->where = malloc(N * K * sizeof(int));
    s->xg = malloc(N * E * sizeof(float));
    s->g = malloc(N * F * sizeof(float));
    s->u = malloc(N * F * sizeof(float));
    s->d = malloc(N * K * E * sizeof(float));
    size_t FS = c->n_ff_shexp > 0 ? (size_t)c->n_ff_shexp : 0;
    if (FS) {
        s->sg = malloc(N * FS * sizeof(float));
        s->su = malloc(N * FS * sizeof(float));
        s->sd = malloc(N * E * sizeof(float));
        s->sgate = malloc(N * sizeof(float));
    }
    if (!s->logits || !s->sel || !s->w || !s->cnt || !s->start || !s->pair || !s->where || !s->xg || !s->g ||
        !s->u || !s->d || (FS && (!s->sg || !s->su || !s->sd || !s->sgate))) {
        moe_scratch_free(s);
        *sp = NULL;
        return -1;
    }
    s->cap_n = n, s->n_embd = c->n_embd, s->n_ff = c->n_ff, s->n_expert = c->n_expert, s->n_used = c->n_used;
    s->n_ff_sh = (int)FS;
    return 0;
}

/* expert e's matrix of a 3-D [n_in, n_out, n_expert] tensor, as a 2-D weight */
static struct tensor expert_view(const struct tensor *t, int e) {
    struct tensor v = *t;
    size_t rb = dtype_row_bytes(t->type, t->ne[0]);
    v.n_dims = 2;
    v.ne[2] = 1;
    v.nbytes = rb * (size_t)t->ne[1];
    v.data = (const char *)t->data + (size_t)e * v.nbytes;
    return v;
}

/* The shared expert's gate logit, sigmoid(w · x) with w one f32 row: llama.cpp's
 * tinyBLAS takes no matrix of fewer than 4 rows, so the product is ggml_vec_dot_f32
 * (AVX-512: 4 x 16-lane FMA accumulators over whole 64-element steps, folded pairwise
 * and then by halves, the leftovers added one by one unfused). */
static float dot_vecdot_f32(const float *w, const float *x, int n) {
    int np = n & ~63;
    float sum = 0.0f;
    if (np) {
        float acc[4][16] = {{0}};
        for (int i = 0; i < np; i += 64)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 16; l++) acc[j][l] = fmaf(w[i + 16 * j + l], x[i + 16 * j + l], acc[j][l]);
        for (int l = 0; l < 16; l++) acc[0][l] += acc[2][l], acc[1][l] += acc[3][l];
        for (int l = 0; l < 16; l++) acc[0][l] += acc[1][l];
        for (int h = 8; h; h >>= 1)
            for (int l = 0; l < h; l++) acc[0][l] += acc[0][l + h];
        sum = acc[0][0];
    }
    for (int i = np; i < n; i++) sum += w[i] * x[i];
    return sum;
}

void moe_swiglu_oai(float *out, const float *gate, const float *up, int n) {
    const float alpha = 1.702f, limit = 7.0f;
    for (int i = 0; i < n; i++) {
        float x = gate[i] < limit ? gate[i] : limit;
        float y = up[i] < -limit ? -limit : up[i] > limit ? limit : up[i];
        out[i] = x / (1.0f + expf(alpha * -x)) * (y + 1.0f);
    }
}

/* ggml_soft_max of one unmasked row as llama.cpp's AVX-512 build computes it: whole
 * 16-lane vectors through ggml's vector exp, each vector's sum folded in halves and
 * added in double, then the tail value by value through libm's expf */
static void softmax_row(float *x, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    int i = 0;
    for (; i + 15 < n; i += 16) {
        float a[16], b[8], c[4];
        for (int l = 0; l < 16; l++) a[l] = x[i + l] = ops_expf_ggml(x[i + l] - mx);
        for (int l = 0; l < 8; l++) b[l] = a[l] + a[l + 8];
        for (int l = 0; l < 4; l++) c[l] = b[l] + b[l + 4];
        sum += (c[0] + c[2]) + (c[1] + c[3]);
    }
    for (; i < n; i++) sum += x[i] = expf(x[i] - mx);
    float inv = (float)(1.0 / sum);
    for (int j = 0; j < n; j++) x[j] *= inv;
}

/* probabilities, choice and weights of one token's router logits */
static void route(const struct moe_cfg *c, float *lg, int *sel, float *w) {
    int X = c->n_expert, K = c->n_used;
    if (c->gating == MOE_GATING_SOFTMAX) softmax_row(lg, X);
    /* top-k, best first; ties go to the lower index */
    for (int k = 0; k < K; k++) {
        int best = -1;
        for (int e = 0; e < X; e++) {
            int taken = 0;
            for (int j = 0; j < k; j++) taken |= sel[j] == e;
            if (!taken && (best < 0 || lg[e] > lg[best])) best = e;
        }
        sel[k] = best;
        w[k] = lg[best];
    }
    if (c->gating == MOE_GATING_SOFTMAX_WEIGHT) softmax_row(w, K);
    if (c->norm_w) {
        double sum = 0;
        for (int k = 0; k < K; k++) sum += w[k];
        float s = (float)sum;
        if (s < 6.103515625e-5f) s = 6.103515625e-5f;  /* as llama.cpp: the smallest normal f16 */
        for (int k = 0; k < K; k++) w[k] /= s;
    }
    if (c->w_scale != 0.0f && c->w_scale != 1.0f)
        for (int k = 0; k < K; k++) w[k] *= c->w_scale;
}

int moe_ffn(struct pool *p, const struct moe_cfg *c, const struct moe_layer *L, const float *x, float *out, int n,
            struct moe_scratch *s) {
    if (!s || s->cap_n < n || s->n_embd != c->n_embd || s->n_ff != c->n_ff || s->n_expert != c->n_expert ||
        s->n_used != c->n_used || s->n_ff_sh != (c->n_ff_shexp > 0 ? c->n_ff_shexp : 0))
        return -1;
    int E = c->n_embd, F = c->n_ff, X = c->n_expert, K = c->n_used;

    /* the shared expert first, while x is intact (out may alias it): SwiGLU FFN as a
     * dense layer computes it (mul_mat, not mul_mat_id), times sigmoid(gate_inp_shexp · x) */
    int FS = s->n_ff_sh;
    if (FS) {
        matmul(p, &L->gate_shexp, x, s->sg, n);
        matmul(p, &L->up_shexp, x, s->su, n);
        for (int i = 0; i < n; i++)
            ops_swiglu(s->sg + (size_t)i * FS, s->sg + (size_t)i * FS, s->su + (size_t)i * FS, FS, FS - FS % 16);
        matmul(p, &L->down_shexp, s->sg, s->sd, n);
        if (L->gate_inp_shexp.type == DT_F32)
            for (int i = 0; i < n; i++) s->sgate[i] = dot_vecdot_f32(L->gate_inp_shexp.data, x + (size_t)i * E, E);
        else
            matmul(p, &L->gate_inp_shexp, x, s->sgate, n);
        for (int i = 0; i < n; i++) ops_scale(s->sd + (size_t)i * E, 1.0f / (1.0f + expf(-s->sgate[i])), E);
    }

    matmul_f32_tinyblas(p, &L->gate_inp, x, s->logits, n);
    for (int i = 0; i < n; i++) {
        float *lg = s->logits + (size_t)i * X;
        if (L->gate_inp_b.data) ops_add(lg, L->gate_inp_b.data, X);
        route(c, lg, s->sel + (size_t)i * K, s->w + (size_t)i * K);
    }

    /* group the (token, slot) pairs by expert, tokens in batch order within each */
    memset(s->cnt, 0, sizeof(int) * (size_t)X);
    for (int i = 0; i < n * K; i++) s->cnt[s->sel[i]]++;
    for (int e = 0, o = 0; e < X; e++) s->start[e] = o, o += s->cnt[e];
    for (int e = 0; e < X; e++) s->cnt[e] = 0;
    for (int i = 0; i < n * K; i++) {
        int e = s->sel[i], j = s->start[e] + s->cnt[e]++;
        s->pair[j] = i;
        s->where[i] = j;
    }

    for (int e = 0; e < X; e++) {
        int m = s->cnt[e];
        if (!m) continue;
        const int *pr = s->pair + s->start[e];
        const float *xin = x;
        if (n > 1) {  /* a lone token is its own gathered row */
            for (int r = 0; r < m; r++) memcpy(s->xg + (size_t)r * E, x + (size_t)(pr[r] / K) * E, sizeof(float) * E);
            xin = s->xg;
        }
        struct tensor wg = expert_view(&L->gate_exps, e), wu = expert_view(&L->up_exps, e),
                      wd = expert_view(&L->down_exps, e);
        matmul_id(p, &wg, xin, s->g, m);
        matmul_id(p, &wu, xin, s->u, m);
        for (int r = 0; r < m; r++) {
            float *g = s->g + (size_t)r * F, *u = s->u + (size_t)r * F;
            if (L->gate_b.data) ops_add(g, (const float *)L->gate_b.data + (size_t)e * F, F);
            if (L->up_b.data) ops_add(u, (const float *)L->up_b.data + (size_t)e * F, F);
            if (c->act == MOE_ACT_SWIGLU_OAI) moe_swiglu_oai(g, g, u, F);
            else ops_swiglu(g, g, u, F, F - F % 16);
        }
        float *d = s->d + (size_t)s->start[e] * E;
        matmul_id(p, &wd, s->g, d, m);
        for (int r = 0; r < m; r++) {
            float *dr = d + (size_t)r * E, w = s->w[pr[r]];
            if (L->down_b.data) ops_add(dr, (const float *)L->down_b.data + (size_t)e * E, E);
            ops_scale(dr, w, E);
        }
    }

    /* the chosen experts' weighted outputs, added best first */
    for (int i = 0; i < n; i++) {
        float *o = out + (size_t)i * E;
        memcpy(o, s->d + (size_t)s->where[i * K] * E, sizeof(float) * E);
        for (int k = 1; k < K; k++) ops_add(o, s->d + (size_t)s->where[i * K + k] * E, E);
        if (FS) ops_add(o, s->sd + (size_t)i * E, E);
    }
    return 0;
}

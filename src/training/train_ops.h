/* Forward and backward of the ops a LoRA fine-tune runs through (RMSNorm, RoPE, causal
 * attention, SwiGLU, dense and low-rank products, embedding, masked cross-entropy),
 * written once (train_ops_impl.h) and built twice: in float (suffix _f) for training and
 * in double (suffix _d) so tests/training/test_grad.c can check every backward against
 * central finite differences of the very same code in double precision.
 *
 * Shapes are row-major, one sequence of T tokens: a [T, n] activation is T rows of n.
 * A weight W [n_out, n_in] is n_out rows of n_in (ggml's ne = {n_in, n_out}).
 * Backward functions named *_bwd ADD their input gradients into dx (so residual
 * branches and several consumers of one activation just accumulate); the caller
 * zeroes dx first where nothing else contributes. */
#ifndef OMNI_TRAINING_TRAIN_OPS_H
#define OMNI_TRAINING_TRAIN_OPS_H

#define TOPS_DECLARE(R, S)                                                                                          \
    /* y[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w   (w NULL: 1) */                                                \
    void tops_rmsnorm_fwd##S(R *y, const R *x, const R *w, int T, int n, R eps);                                   \
    void tops_rmsnorm_bwd##S(R *dx, const R *dy, const R *x, const R *w, int T, int n, R eps);                     \
    /* rotates the first n_rot dims of each of n_heads heads (head_dim apart) of row t by                       \
     * (pos0 + t) * freq_scale * theta^(-2i/n_rot) / ff[i] (ff NULL: 1); neox pairs (i, i + n_rot/2), else      \
     * (2i, 2i+1). In place. The backward (dir -1) is the inverse rotation of the gradient. */                  \
    void tops_rope##S(R *x, int T, int n_heads, int head_dim, int n_rot, int pos0, double theta, double freq_scale, \
                      const float *ff, int neox, int dir);                                                          \
    /* causal attention over one sequence: q [T, nh*hd], k, v [T, nkv*hd], out [T, nh*hd];                      \
     * query head h reads kv head h / (nh / nkv). Only kv heads [kh0, kh1) (and their query heads) are           \
     * computed, so threads can split the heads. scr: (T + 32)(hd + 2) values. */                                   \
    void tops_attn_fwd##S(R *out, const R *q, const R *k, const R *v, int T, int nh, int nkv, int hd, R scale,      \
                          int kh0, int kh1, R *scr);                                                                \
    /* adds dq, dk, dv for kv heads [kh0, kh1); recomputes the probabilities; scr: 2 (T + 32)(T + hd) values */     \
    void tops_attn_bwd##S(R *dq, R *dk, R *dv, const R *dout, const R *q, const R *k, const R *v, int T, int nh,   \
                          int nkv, int hd, R scale, int kh0, int kh1, R *scr);                                      \
    /* the pieces, for threads to split one query head h: the forward's rows [t0, t1) (p: (t1 + 32)(hd + 2)         \
     * values); the backward's query rows [t0, t1) (add dq, leave the probabilities and their gradients in          \
     * P, DS [T, T]; scr: 2 (t1 + 32) hd values), then, once every row is done, its key rows [j0, j1) (add          \
     * dk, dv). Each element sums in the order of the whole op, however the rows are split. */                      \
    void tops_attn_fwd_rows##S(R *out, const R *q, const R *k, const R *v, int nh, int nkv, int hd, R scale, int h, \
                               int t0, int t1, R *p);                                                               \
    void tops_attn_bwd_q##S(R *dq, R *P, R *DS, const R *dout, const R *q, const R *k, const R *v, int T, int nh,  \
                            int nkv, int hd, R scale, int h, int t0, int t1, R *scr);                               \
    void tops_attn_bwd_kv##S(R *dk, R *dv, const R *P, const R *DS, const R *dout, const R *q, int T, int nh,      \
                             int nkv, int hd, int h, int j0, int j1);                                               \
    /* h = silu(g) * u over n values; the backward WRITES dg and du */                                          \
    void tops_swiglu_fwd##S(R *h, const R *g, const R *u, long n);                                                 \
    void tops_swiglu_bwd##S(R *dg, R *du, const R *dh, const R *g, const R *u, long n);                           \
    /* y[t] = W x[t] (+ b): W [n_out, n_in]; y is WRITTEN */                                                     \
    void tops_linear_fwd##S(R *y, const R *x, const R *W, const R *b, int T, int n_in, int n_out);                 \
    /* dx[t] += W^T dy[t] */                                                                                      \
    void tops_linear_bwd_x##S(R *dx, const R *dy, const R *W, int T, int n_in, int n_out);                         \
    /* dW += sum_t dy[t] x[t]^T */                                                                                \
    void tops_linear_bwd_w##S(R *dW, const R *dy, const R *x, int T, int n_in, int n_out);                         \
    /* LoRA: u[t] = A x[t] (A [r, n_in]), y[t] += s B u[t] (B [n_out, r]); u [T, r] is written;                   \
     * scr: (r + 1)(n_out + 32) values */                                                                          \
    void tops_lora_fwd##S(R *y, R *u, const R *x, const R *A, const R *B, R s, int T, int n_in, int n_out, int r,  \
                          R *scr);                                                                                  \
    /* adds dA, dB and dx (dx may be NULL); du: T*r scratch */                                                    \
    void tops_lora_bwd##S(R *dx, R *dA, R *dB, R *du, const R *dy, const R *x, const R *u, const R *A, const R *B,   \
                          R s, int T, int n_in, int n_out, int r);                                                  \
    /* its pieces, for threads to split: du [t0, t1) WRITTEN, dB rows [o0, o1), dA columns [i0, i1) added;   \
     * dx is tops_linear_bwd_x(dx, du, A, T, n_in, r) */                                                        \
    void tops_lora_du##S(R *du, const R *dy, const R *B, R s, int t0, int t1, int n_out, int r);                   \
    void tops_lora_db##S(R *dB, const R *dy, const R *u, R s, int T, int o0, int o1, int n_out, int r);            \
    void tops_lora_da##S(R *dA, const R *du, const R *x, int T, int n_in, int r, int i0, int i1);                  \
    /* x[t] = E[ids[t]] (E [V, n]); the backward adds dx[t] into dE[ids[t]] */                                    \
    void tops_embed_fwd##S(R *x, const R *E, const int *ids, int T, int n);                                        \
    void tops_embed_bwd##S(R *dE, const R *dx, const int *ids, int T, int n);                                      \
    /* masked cross-entropy: returns sum_t w[t] * -log softmax(z[t])[y[t]] (rows with w[t] = 0 are skipped);     \
     * logp[t] (may be NULL) receives log softmax(z[t])[y[t]]; dz (may be NULL) is WRITTEN with                 \
     * w[t] (softmax(z[t]) - onehot(y[t])), the gradient of that sum. */                                         \
    double tops_xent##S(R *dz, R *logp, const R *z, const int *y, const R *w, int T, int V);

TOPS_DECLARE(float, _f)
TOPS_DECLARE(double, _d)
/* the float instance compiled three times, for SSE2 (_fs), AVX2 (_fa, train_ops_avx2.c) and
 * AVX-512 (_fz, train_ops_avx512.c): the code fixes every sum's order and nothing is fused,
 * so all give the same bits; _f runs the widest one cpu_level() allows */
TOPS_DECLARE(float, _fs)
TOPS_DECLARE(float, _fa)
TOPS_DECLARE(float, _fz)

#endif

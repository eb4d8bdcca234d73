/* The training ops in float and in double (train_ops.h): one source, several instances.
 * The float API (_f) runs the AVX-512 or AVX2 build of the same code (train_ops_avx512.c,
 * train_ops_avx2.c) when the CPU has it: the same bits, since the code fixes every sum's
 * order and never fuses. */
#include "training/train_ops.h"

#include <math.h>
#include <stddef.h>

#include "core/cpu.h"

#define TOPS_EXPF
#define R float
#define S _fs
#include "training/train_ops_impl.h"
#undef TOPS_EXPF
#undef R
#undef S

#define R double
#define S _d
#include "training/train_ops_impl.h"
#undef R
#undef S

#define PICK(name, ...)                                                                                 \
    (cpu_level() >= CPU_AVX512 ? name##_fz(__VA_ARGS__)                                                  \
     : cpu_level() >= CPU_AVX2 ? name##_fa(__VA_ARGS__)                                                  \
                               : name##_fs(__VA_ARGS__))

void tops_rmsnorm_fwd_f(float *y, const float *x, const float *w, int T, int n, float eps) {
    PICK(tops_rmsnorm_fwd, y, x, w, T, n, eps);
}
void tops_rmsnorm_bwd_f(float *dx, const float *dy, const float *x, const float *w, int T, int n, float eps) {
    PICK(tops_rmsnorm_bwd, dx, dy, x, w, T, n, eps);
}
void tops_rope_f(float *x, int T, int n_heads, int head_dim, int n_rot, int pos0, double theta, double freq_scale,
                 const float *ff, int neox, int dir) {
    PICK(tops_rope, x, T, n_heads, head_dim, n_rot, pos0, theta, freq_scale, ff, neox, dir);
}
void tops_attn_fwd_f(float *out, const float *q, const float *k, const float *v, int T, int nh, int nkv, int hd,
                     float scale, int kh0, int kh1, float *scr) {
    PICK(tops_attn_fwd, out, q, k, v, T, nh, nkv, hd, scale, kh0, kh1, scr);
}
void tops_attn_bwd_f(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                     const float *v, int T, int nh, int nkv, int hd, float scale, int kh0, int kh1, float *scr) {
    PICK(tops_attn_bwd, dq, dk, dv, dout, q, k, v, T, nh, nkv, hd, scale, kh0, kh1, scr);
}
void tops_attn_fwd_rows_f(float *out, const float *q, const float *k, const float *v, int nh, int nkv, int hd,
                          float scale, int h, int t0, int t1, float *p) {
    PICK(tops_attn_fwd_rows, out, q, k, v, nh, nkv, hd, scale, h, t0, t1, p);
}
void tops_attn_bwd_q_f(float *dq, float *P, float *DS, const float *dout, const float *q, const float *k,
                       const float *v, int T, int nh, int nkv, int hd, float scale, int h, int t0, int t1,
                       float *scr) {
    PICK(tops_attn_bwd_q, dq, P, DS, dout, q, k, v, T, nh, nkv, hd, scale, h, t0, t1, scr);
}
void tops_attn_bwd_kv_f(float *dk, float *dv, const float *P, const float *DS, const float *dout, const float *q,
                        int T, int nh, int nkv, int hd, int h, int j0, int j1) {
    PICK(tops_attn_bwd_kv, dk, dv, P, DS, dout, q, T, nh, nkv, hd, h, j0, j1);
}
void tops_swiglu_fwd_f(float *h, const float *g, const float *u, long n) { PICK(tops_swiglu_fwd, h, g, u, n); }
void tops_swiglu_bwd_f(float *dg, float *du, const float *dh, const float *g, const float *u, long n) {
    PICK(tops_swiglu_bwd, dg, du, dh, g, u, n);
}
void tops_linear_fwd_f(float *y, const float *x, const float *W, const float *b, int T, int n_in, int n_out) {
    PICK(tops_linear_fwd, y, x, W, b, T, n_in, n_out);
}
void tops_linear_bwd_x_f(float *dx, const float *dy, const float *W, int T, int n_in, int n_out) {
    PICK(tops_linear_bwd_x, dx, dy, W, T, n_in, n_out);
}
void tops_linear_bwd_w_f(float *dW, const float *dy, const float *x, int T, int n_in, int n_out) {
    PICK(tops_linear_bwd_w, dW, dy, x, T, n_in, n_out);
}
void tops_lora_fwd_f(float *y, float *u, const float *x, const float *A, const float *B, float s, int T, int n_in,
                     int n_out, int r, float *scr) {
    PICK(tops_lora_fwd, y, u, x, A, B, s, T, n_in, n_out, r, scr);
}
void tops_lora_bwd_f(float *dx, float *dA, float *dB, float *du, const float *dy, const float *x, const float *u,
                     const float *A, const float *B, float s, int T, int n_in, int n_out, int r) {
    PICK(tops_lora_bwd, dx, dA, dB, du, dy, x, u, A, B, s, T, n_in, n_out, r);
}
void tops_lora_du_f(float *du, const float *dy, const float *B, float s, int t0, int t1, int n_out, int r) {
    PICK(tops_lora_du, du, dy, B, s, t0, t1, n_out, r);
}
void tops_lora_db_f(float *dB, const float *dy, const float *u, float s, int T, int o0, int o1, int n_out, int r) {
    PICK(tops_lora_db, dB, dy, u, s, T, o0, o1, n_out, r);
}
void tops_lora_da_f(float *dA, const float *du, const float *x, int T, int n_in, int r, int i0, int i1) {
    PICK(tops_lora_da, dA, du, x, T, n_in, r, i0, i1);
}
void tops_embed_fwd_f(float *x, const float *E, const int *ids, int T, int n) { PICK(tops_embed_fwd, x, E, ids, T, n); }
void tops_embed_bwd_f(float *dE, const float *dx, const int *ids, int T, int n) { PICK(tops_embed_bwd, dE, dx, ids, T, n); }
double tops_xent_f(float *dz, float *logp, const float *z, const int *y, const float *w, int T, int V) {
    return PICK(tops_xent, dz, logp, z, y, w, T, V);
}

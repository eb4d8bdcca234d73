/* The kernels of core/ssm.h, included by ssm.c (any CPU), ssm_avx2.c and
 * ssm_avx512.c (the same code compiled with FMA and wider vectors). They round as
 * llama.cpp's CPU ops do, whose scalar loops the compiler contracts into FMAs:
 * where it fuses, a*b+c here is an explicit fmaf (one instruction where FMA is
 * enabled, the exact libm function elsewhere), and dot products take
 * ggml_vec_dot_f32's order (4 x 16-lane FMA accumulators over whole 64-element
 * steps, reduced pairwise, then the leftovers one by one, unfused). Which sums fuse
 * was settled against the reference build's intermediate tensors on the qwen35
 * synth file (the conv taps and the state update do, the dot leftovers do not): all
 * equal bit for bit. C11 mode contracts nothing by itself, so every copy of this
 * code gives the same bits. */
#ifndef OMNI_CORE_SSM_KERN_H
#define OMNI_CORE_SSM_KERN_H
#include <math.h>
#include <stddef.h>

static inline __attribute__((always_inline)) float dot_ggml(const float *restrict x, const float *restrict y, int n) {
    int np = n & ~63;
    float sum = 0.0f;
    if (np) {
        float acc[4][16] = {{0}};
        for (int i = 0; i < np; i += 64)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 16; l++) acc[j][l] = fmaf(x[i + 16 * j + l], y[i + 16 * j + l], acc[j][l]);
        for (int l = 0; l < 16; l++) acc[0][l] += acc[2][l], acc[1][l] += acc[3][l];
        for (int l = 0; l < 16; l++) acc[0][l] += acc[1][l];
        for (int w = 8; w; w >>= 1)
            for (int l = 0; l < w; l++) acc[0][l] += acc[0][l + w];
        sum = acc[0][0];
    }
    for (int i = np; i < n; i++) sum += x[i] * y[i];  /* the leftovers: llama.cpp's build does not fuse these */
    return sum;
}

static inline void conv1d_causal_step(float *y, float *state, const float *x, const float *w, int K, int c0, int c1) {
    for (int c = c0; c < c1; c++) {
        float *s = state + (size_t)c * (K - 1);
        const float *wc = w + (size_t)c * K;
        float xc = x[c], acc = 0.0f;
        for (int t = 0; t < K - 1; t++) acc = fmaf(s[t], wc[t], acc);
        acc = fmaf(xc, wc[K - 1], acc);
        for (int t = 0; t + 1 < K - 1; t++) s[t] = s[t + 1];
        if (K > 1) s[K - 2] = xc;
        y[c] = acc;
    }
}

/* Column by column: column j of M is final once it is decayed and updated (the
 * update of column j reads only column j, k, v[j]), so its output dot follows at
 * once and each column makes one trip through L1 instead of three passes over the
 * whole n x n state. Every float operation and its order is that of the plain form
 * (M *= decay for all; then per column the k dot and update; then the q dots). */
static inline void delta_rule_step(float *restrict S, const float *restrict q, const float *restrict k,
                                   const float *restrict v, float decay, float beta, float scale, float *restrict o,
                                   int n) {
    for (int j = 0; j < n; j++) {
        float *restrict sj = S + (size_t)j * n;  /* column j of M: what value j reads from each key dim */
        for (int i = 0; i < n; i++) sj[i] *= decay;
        float d = (v[j] - dot_ggml(sj, k, n)) * beta;
        for (int i = 0; i < n; i++) sj[i] = fmaf(k[i], d, sj[i]);
        o[j] = dot_ggml(sj, q, n) * scale;
    }
}

#endif

/* The gated delta rule's kernel (core/ssm.h), included by ssm.c (any CPU) and
 * ssm_avx512.c (the same code compiled for AVX-512). Its sums run in 16 fixed lanes,
 * so the compiler vectorizes them without reordering a single addition (C11 mode
 * contracts no FMAs): both copies give the same bits. */
#ifndef OMNI_CORE_SSM_KERN_H
#define OMNI_CORE_SSM_KERN_H
#include <stddef.h>

/* Sums in 16 lanes (element i into lane i % 16), then the lanes pairwise: the order
 * a 16-wide vector unit takes, written so the compiler can use one at any level
 * without changing a bit. */
#define LANES 16
static inline float lanes_sum(float *acc) {
    for (int w = LANES / 2; w; w >>= 1)
        for (int l = 0; l < w; l++) acc[l] += acc[l + w];
    return acc[0];
}

static inline void delta_rule_step(float *restrict S, const float *restrict q, const float *restrict k,
                         const float *restrict v, float decay, float beta, float scale, float *restrict o, int n) {
    for (int j = 0; j < n; j++) {
        float *restrict sj = S + (size_t)j * n;  /* column j of M: what value j reads from each key dim */
        float acc[LANES] = {0}, acq[LANES] = {0};
        int i = 0;
        for (; i + LANES <= n; i += LANES)
            for (int l = 0; l < LANES; l++) {
                sj[i + l] *= decay;
                acc[l] += sj[i + l] * k[i + l];
            }
        for (int l = 0; i + l < n; l++) {
            sj[i + l] *= decay;
            acc[l] += sj[i + l] * k[i + l];
        }
        float d = (v[j] - lanes_sum(acc)) * beta;
        for (i = 0; i + LANES <= n; i += LANES)
            for (int l = 0; l < LANES; l++) {
                sj[i + l] += k[i + l] * d;
                acq[l] += sj[i + l] * q[i + l];
            }
        for (int l = 0; i + l < n; l++) {
            sj[i + l] += k[i + l] * d;
            acq[l] += sj[i + l] * q[i + l];
        }
        o[j] = lanes_sum(acq) * scale;
    }
}

#endif

/* AVX2 + FMA + F16C inner steps of the tiled attention (core/flash.h): the same bits as
 * the portable ones in flash.c. Scores run with positions in the lanes (K is stored
 * transposed per tile), so each lane is one position's fused multiply-add chain over d,
 * exactly the scalar order; P·V runs with d in the lanes, one FMA per position in order.
 * Entered only after a run-time CPU check; head_dim % 8 == 0. */
#include "core/flash_x86.h"

static void scores_avx2(float *s, const float *q, int n, int hd, const float *kt) {
    int r = 0;
    for (; r + 4 <= n; r += 4) {
        const float *q0 = q + (long)r * hd, *q1 = q0 + hd, *q2 = q1 + hd, *q3 = q2 + hd;
        for (int j = 0; j < T; j += 16) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
            const float *k = kt + j;
            for (int d = 0; d < hd; d++, k += T) {
                __m256 k0 = _mm256_loadu_ps(k), k1 = _mm256_loadu_ps(k + 8), x;
                x = _mm256_broadcast_ss(q0 + d);
                a0 = _mm256_fmadd_ps(x, k0, a0), a1 = _mm256_fmadd_ps(x, k1, a1);
                x = _mm256_broadcast_ss(q1 + d);
                b0 = _mm256_fmadd_ps(x, k0, b0), b1 = _mm256_fmadd_ps(x, k1, b1);
                x = _mm256_broadcast_ss(q2 + d);
                c0 = _mm256_fmadd_ps(x, k0, c0), c1 = _mm256_fmadd_ps(x, k1, c1);
                x = _mm256_broadcast_ss(q3 + d);
                d0 = _mm256_fmadd_ps(x, k0, d0), d1 = _mm256_fmadd_ps(x, k1, d1);
            }
            float *o = s + r * T + j;
            _mm256_storeu_ps(o, a0), _mm256_storeu_ps(o + 8, a1);
            _mm256_storeu_ps(o + T, b0), _mm256_storeu_ps(o + T + 8, b1);
            _mm256_storeu_ps(o + 2 * T, c0), _mm256_storeu_ps(o + 2 * T + 8, c1);
            _mm256_storeu_ps(o + 3 * T, d0), _mm256_storeu_ps(o + 3 * T + 8, d1);
        }
    }
    for (; r < n; r++) {
        const float *q0 = q + (long)r * hd;
        __m256 a[8];
        for (int u = 0; u < 8; u++) a[u] = _mm256_setzero_ps();
        for (int d = 0; d < hd; d++) {
            __m256 x = _mm256_broadcast_ss(q0 + d);
            for (int u = 0; u < 8; u++) a[u] = _mm256_fmadd_ps(x, _mm256_loadu_ps(kt + (long)d * T + 8 * u), a[u]);
        }
        for (int u = 0; u < 8; u++) _mm256_storeu_ps(s + r * T + 8 * u, a[u]);
    }
}

static void pv_avx2(float *acc, const float *p, const float *vt, int a, int b, int hd) {
    int d = 0;
    for (; d + 32 <= hd; d += 32) {
        __m256 y0 = _mm256_loadu_ps(acc + d), y1 = _mm256_loadu_ps(acc + d + 8);
        __m256 y2 = _mm256_loadu_ps(acc + d + 16), y3 = _mm256_loadu_ps(acc + d + 24);
        for (int j = a; j < b; j++) {
            __m256 x = _mm256_broadcast_ss(p + j);
            const float *v = vt + (long)j * hd + d;
            y0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(v), y0);
            y1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(v + 8), y1);
            y2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(v + 16), y2);
            y3 = _mm256_fmadd_ps(x, _mm256_loadu_ps(v + 24), y3);
        }
        _mm256_storeu_ps(acc + d, y0), _mm256_storeu_ps(acc + d + 8, y1);
        _mm256_storeu_ps(acc + d + 16, y2), _mm256_storeu_ps(acc + d + 24, y3);
    }
    for (; d < hd; d += 8) {
        __m256 y = _mm256_loadu_ps(acc + d);
        for (int j = a; j < b; j++) y = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j), _mm256_loadu_ps(vt + (long)j * hd + d), y);
        _mm256_storeu_ps(acc + d, y);
    }
}

static void pv2_avx2(float *acc0, float *acc1, const float *p0, const float *p1, const float *vt, int a, int b, int hd) {
    int d = 0;
    for (; d + 16 <= hd; d += 16) {
        __m256 x0 = _mm256_loadu_ps(acc0 + d), x1 = _mm256_loadu_ps(acc0 + d + 8);
        __m256 y0 = _mm256_loadu_ps(acc1 + d), y1 = _mm256_loadu_ps(acc1 + d + 8);
        for (int j = a; j < b; j++) {
            const float *v = vt + (long)j * hd + d;
            __m256 v0 = _mm256_loadu_ps(v), v1 = _mm256_loadu_ps(v + 8);
            __m256 s0 = _mm256_broadcast_ss(p0 + j), s1 = _mm256_broadcast_ss(p1 + j);
            x0 = _mm256_fmadd_ps(s0, v0, x0), x1 = _mm256_fmadd_ps(s0, v1, x1);
            y0 = _mm256_fmadd_ps(s1, v0, y0), y1 = _mm256_fmadd_ps(s1, v1, y1);
        }
        _mm256_storeu_ps(acc0 + d, x0), _mm256_storeu_ps(acc0 + d + 8, x1);
        _mm256_storeu_ps(acc1 + d, y0), _mm256_storeu_ps(acc1 + d + 8, y1);
    }
    for (; d < hd; d += 8) {
        __m256 x = _mm256_loadu_ps(acc0 + d), y = _mm256_loadu_ps(acc1 + d);
        for (int j = a; j < b; j++) {
            __m256 v = _mm256_loadu_ps(vt + (long)j * hd + d);
            x = _mm256_fmadd_ps(_mm256_broadcast_ss(p0 + j), v, x);
            y = _mm256_fmadd_ps(_mm256_broadcast_ss(p1 + j), v, y);
        }
        _mm256_storeu_ps(acc0 + d, x), _mm256_storeu_ps(acc1 + d, y);
    }
}

const struct flash_kern flash_kern_avx2 = {flash_load_x86, scores_avx2, flash_prep_x86, flash_expsum_x86, pv_avx2,
                                           pv2_avx2, NULL, NULL, NULL, 0, NULL};

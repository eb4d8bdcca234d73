/* AVX-512 inner steps of the tiled attention (core/flash.h): scores for 4 query rows
 * against a whole tile (4 x 64 positions in 16 registers) and P·V 16 floats of d at a
 * time; loading and exp are the AVX2 ones (flash_x86.h). Each lane is the same fused
 * multiply-add chain as the portable code's, so the bits are the same. Entered only
 * after a run-time CPU check; head_dim % 16 == 0. */
#include "core/flash_x86.h"

static void scores_avx512(float *s, const float *q, int n, int hd, const float *kt) {
    int r = 0;
    for (; r + 4 <= n; r += 4) {
        const float *q0 = q + (long)r * hd, *q1 = q0 + hd, *q2 = q1 + hd, *q3 = q2 + hd;
        __m512 a[4][4];
        for (int i = 0; i < 4; i++)
            for (int u = 0; u < 4; u++) a[i][u] = _mm512_setzero_ps();
        const float *k = kt;
        for (int d = 0; d < hd; d++, k += T) {
            __m512 k0 = _mm512_loadu_ps(k), k1 = _mm512_loadu_ps(k + 16), k2 = _mm512_loadu_ps(k + 32),
                   k3 = _mm512_loadu_ps(k + 48);
            const float *qs[4] = {q0 + d, q1 + d, q2 + d, q3 + d};
            for (int i = 0; i < 4; i++) {
                __m512 x = _mm512_set1_ps(*qs[i]);
                a[i][0] = _mm512_fmadd_ps(x, k0, a[i][0]);
                a[i][1] = _mm512_fmadd_ps(x, k1, a[i][1]);
                a[i][2] = _mm512_fmadd_ps(x, k2, a[i][2]);
                a[i][3] = _mm512_fmadd_ps(x, k3, a[i][3]);
            }
        }
        for (int i = 0; i < 4; i++)
            for (int u = 0; u < 4; u++) _mm512_storeu_ps(s + (r + i) * T + 16 * u, a[i][u]);
    }
    for (; r < n; r++) {
        const float *q0 = q + (long)r * hd;
        __m512 a[4];
        for (int u = 0; u < 4; u++) a[u] = _mm512_setzero_ps();
        for (int d = 0; d < hd; d++) {
            __m512 x = _mm512_set1_ps(q0[d]);
            for (int u = 0; u < 4; u++) a[u] = _mm512_fmadd_ps(x, _mm512_loadu_ps(kt + (long)d * T + 16 * u), a[u]);
        }
        for (int u = 0; u < 4; u++) _mm512_storeu_ps(s + r * T + 16 * u, a[u]);
    }
}

static void pv_avx512(float *acc, const float *p, const float *vt, int a, int b, int hd) {
    int d = 0;
    for (; d + 64 <= hd; d += 64) {
        __m512 y0 = _mm512_loadu_ps(acc + d), y1 = _mm512_loadu_ps(acc + d + 16);
        __m512 y2 = _mm512_loadu_ps(acc + d + 32), y3 = _mm512_loadu_ps(acc + d + 48);
        for (int j = a; j < b; j++) {
            __m512 x = _mm512_set1_ps(p[j]);
            const float *v = vt + (long)j * hd + d;
            y0 = _mm512_fmadd_ps(x, _mm512_loadu_ps(v), y0);
            y1 = _mm512_fmadd_ps(x, _mm512_loadu_ps(v + 16), y1);
            y2 = _mm512_fmadd_ps(x, _mm512_loadu_ps(v + 32), y2);
            y3 = _mm512_fmadd_ps(x, _mm512_loadu_ps(v + 48), y3);
        }
        _mm512_storeu_ps(acc + d, y0), _mm512_storeu_ps(acc + d + 16, y1);
        _mm512_storeu_ps(acc + d + 32, y2), _mm512_storeu_ps(acc + d + 48, y3);
    }
    for (; d < hd; d += 16) {
        __m512 y = _mm512_loadu_ps(acc + d);
        for (int j = a; j < b; j++) y = _mm512_fmadd_ps(_mm512_set1_ps(p[j]), _mm512_loadu_ps(vt + (long)j * hd + d), y);
        _mm512_storeu_ps(acc + d, y);
    }
}

const struct flash_kern flash_kern_avx512 = {flash_load_x86, scores_avx512, flash_expsum_x86, pv_avx512};

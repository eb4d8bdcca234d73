/* train_fb.h with AVX-512 (16 floats a register): 4 rows of t by 32 columns held in
 * registers across the block's rows, so each weight value loaded serves 4 products. */
#include "training/train_fb.h"

#include <immintrin.h>

/* one column at a time, as the vectors do it */
static void cols_scalar(float *d, size_t ds, const float *g, size_t gs, const float *buf, int n, int nr, int T, int c0) {
    for (int t = 0; t < T; t++)
        for (int c = c0; c < n; c++) {
            float acc = d[(size_t)t * ds + c];
            for (int q = 0; q < nr; q++) {
                float p = g[(size_t)t * gs + q] * buf[(size_t)q * n + c];
                acc = acc + p;
            }
            d[(size_t)t * ds + c] = acc;
        }
}

void train_fb_block_avx512(float *d, size_t ds, const float *g, size_t gs, const float *buf, int n, int nr, int T) {
    int c = 0;
    for (; c + 32 <= n; c += 32) {
        int t = 0;
        for (; t + 4 <= T; t += 4) {
            float *d0 = d + (size_t)t * ds + c, *d1 = d0 + ds, *d2 = d1 + ds, *d3 = d2 + ds;
            const float *g0 = g + (size_t)t * gs, *g1 = g0 + gs, *g2 = g1 + gs, *g3 = g2 + gs;
            __m512 a00 = _mm512_loadu_ps(d0), a01 = _mm512_loadu_ps(d0 + 16);
            __m512 a10 = _mm512_loadu_ps(d1), a11 = _mm512_loadu_ps(d1 + 16);
            __m512 a20 = _mm512_loadu_ps(d2), a21 = _mm512_loadu_ps(d2 + 16);
            __m512 a30 = _mm512_loadu_ps(d3), a31 = _mm512_loadu_ps(d3 + 16);
            for (int q = 0; q < nr; q++) {
                const float *w = buf + (size_t)q * n + c;
                __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16), b;
                b = _mm512_set1_ps(g0[q]);
                a00 = _mm512_add_ps(a00, _mm512_mul_ps(b, w0)), a01 = _mm512_add_ps(a01, _mm512_mul_ps(b, w1));
                b = _mm512_set1_ps(g1[q]);
                a10 = _mm512_add_ps(a10, _mm512_mul_ps(b, w0)), a11 = _mm512_add_ps(a11, _mm512_mul_ps(b, w1));
                b = _mm512_set1_ps(g2[q]);
                a20 = _mm512_add_ps(a20, _mm512_mul_ps(b, w0)), a21 = _mm512_add_ps(a21, _mm512_mul_ps(b, w1));
                b = _mm512_set1_ps(g3[q]);
                a30 = _mm512_add_ps(a30, _mm512_mul_ps(b, w0)), a31 = _mm512_add_ps(a31, _mm512_mul_ps(b, w1));
            }
            _mm512_storeu_ps(d0, a00), _mm512_storeu_ps(d0 + 16, a01);
            _mm512_storeu_ps(d1, a10), _mm512_storeu_ps(d1 + 16, a11);
            _mm512_storeu_ps(d2, a20), _mm512_storeu_ps(d2 + 16, a21);
            _mm512_storeu_ps(d3, a30), _mm512_storeu_ps(d3 + 16, a31);
        }
        for (; t < T; t++) {
            float *d0 = d + (size_t)t * ds + c;
            const float *g0 = g + (size_t)t * gs;
            __m512 a00 = _mm512_loadu_ps(d0), a01 = _mm512_loadu_ps(d0 + 16);
            for (int q = 0; q < nr; q++) {
                const float *w = buf + (size_t)q * n + c;
                __m512 b = _mm512_set1_ps(g0[q]);
                a00 = _mm512_add_ps(a00, _mm512_mul_ps(b, _mm512_loadu_ps(w)));
                a01 = _mm512_add_ps(a01, _mm512_mul_ps(b, _mm512_loadu_ps(w + 16)));
            }
            _mm512_storeu_ps(d0, a00), _mm512_storeu_ps(d0 + 16, a01);
        }
    }
    for (; c + 16 <= n; c += 16)
        for (int t = 0; t < T; t++) {
            float *d0 = d + (size_t)t * ds + c;
            const float *g0 = g + (size_t)t * gs;
            __m512 a = _mm512_loadu_ps(d0);
            for (int q = 0; q < nr; q++)
                a = _mm512_add_ps(a, _mm512_mul_ps(_mm512_set1_ps(g0[q]), _mm512_loadu_ps(buf + (size_t)q * n + c)));
            _mm512_storeu_ps(d0, a);
        }
    if (c < n) cols_scalar(d, ds, g, gs, buf, n, nr, T, c);
}

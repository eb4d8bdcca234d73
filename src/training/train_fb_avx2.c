/* train_fb.h with AVX2 (8 floats a register): 4 rows of t by 16 columns held in
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

void train_fb_block_avx2(float *d, size_t ds, const float *g, size_t gs, const float *buf, int n, int nr, int T) {
    int c = 0;
    for (; c + 16 <= n; c += 16) {
        int t = 0;
        for (; t + 4 <= T; t += 4) {
            float *d0 = d + (size_t)t * ds + c, *d1 = d0 + ds, *d2 = d1 + ds, *d3 = d2 + ds;
            const float *g0 = g + (size_t)t * gs, *g1 = g0 + gs, *g2 = g1 + gs, *g3 = g2 + gs;
            __m256 a00 = _mm256_loadu_ps(d0), a01 = _mm256_loadu_ps(d0 + 8);
            __m256 a10 = _mm256_loadu_ps(d1), a11 = _mm256_loadu_ps(d1 + 8);
            __m256 a20 = _mm256_loadu_ps(d2), a21 = _mm256_loadu_ps(d2 + 8);
            __m256 a30 = _mm256_loadu_ps(d3), a31 = _mm256_loadu_ps(d3 + 8);
            for (int q = 0; q < nr; q++) {
                const float *w = buf + (size_t)q * n + c;
                __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8), b;
                b = _mm256_set1_ps(g0[q]);
                a00 = _mm256_add_ps(a00, _mm256_mul_ps(b, w0)), a01 = _mm256_add_ps(a01, _mm256_mul_ps(b, w1));
                b = _mm256_set1_ps(g1[q]);
                a10 = _mm256_add_ps(a10, _mm256_mul_ps(b, w0)), a11 = _mm256_add_ps(a11, _mm256_mul_ps(b, w1));
                b = _mm256_set1_ps(g2[q]);
                a20 = _mm256_add_ps(a20, _mm256_mul_ps(b, w0)), a21 = _mm256_add_ps(a21, _mm256_mul_ps(b, w1));
                b = _mm256_set1_ps(g3[q]);
                a30 = _mm256_add_ps(a30, _mm256_mul_ps(b, w0)), a31 = _mm256_add_ps(a31, _mm256_mul_ps(b, w1));
            }
            _mm256_storeu_ps(d0, a00), _mm256_storeu_ps(d0 + 8, a01);
            _mm256_storeu_ps(d1, a10), _mm256_storeu_ps(d1 + 8, a11);
            _mm256_storeu_ps(d2, a20), _mm256_storeu_ps(d2 + 8, a21);
            _mm256_storeu_ps(d3, a30), _mm256_storeu_ps(d3 + 8, a31);
        }
        for (; t < T; t++) {
            float *d0 = d + (size_t)t * ds + c;
            const float *g0 = g + (size_t)t * gs;
            __m256 a00 = _mm256_loadu_ps(d0), a01 = _mm256_loadu_ps(d0 + 8);
            for (int q = 0; q < nr; q++) {
                const float *w = buf + (size_t)q * n + c;
                __m256 b = _mm256_set1_ps(g0[q]);
                a00 = _mm256_add_ps(a00, _mm256_mul_ps(b, _mm256_loadu_ps(w)));
                a01 = _mm256_add_ps(a01, _mm256_mul_ps(b, _mm256_loadu_ps(w + 8)));
            }
            _mm256_storeu_ps(d0, a00), _mm256_storeu_ps(d0 + 8, a01);
        }
    }
    for (; c + 8 <= n; c += 8)
        for (int t = 0; t < T; t++) {
            float *d0 = d + (size_t)t * ds + c;
            const float *g0 = g + (size_t)t * gs;
            __m256 a = _mm256_loadu_ps(d0);
            for (int q = 0; q < nr; q++)
                a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_set1_ps(g0[q]), _mm256_loadu_ps(buf + (size_t)q * n + c)));
            _mm256_storeu_ps(d0, a);
        }
    if (c < n) cols_scalar(d, ds, g, gs, buf, n, nr, T, c);
}

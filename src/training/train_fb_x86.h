/* The body of train_fb.h's block product for one x86 register width: 4 rows of t by two
 * registers of columns held across the block's rows, so each weight value loaded serves 4
 * products; then one register of columns, then the scalar tail. train_fb_avx2.c and
 * train_fb_avx512.c define FB_V (the register type), FB_W (its floats), FB_LD, FB_ST,
 * FB_SET1, FB_FMA and FB_NAME, then include this. One fused multiply-add a term: the bits of
 * the scalar version (train_fb.h). */
#include <math.h>
#include <stddef.h>

/* one column at a time, as the vectors do it */
static void cols_scalar(float *d, size_t ds, const float *g, size_t gs, const float *buf, size_t bs, int n, int nr, int T, int c0) {
    for (int t = 0; t < T; t++)
        for (int c = c0; c < n; c++) {
            float acc = d[(size_t)t * ds + c];
            for (int q = 0; q < nr; q++) {
                acc = fmaf(g[(size_t)t * gs + q], buf[(size_t)q * bs + c], acc);
            }
            d[(size_t)t * ds + c] = acc;
        }
}

void FB_NAME(float *d, size_t ds, const float *g, size_t gs, const float *buf, size_t bs, int n, int nr, int T) {
    int c = 0;
#ifdef FB_COLS4
    /* 4 rows of t by four registers of columns (16 accumulators: AVX-512's 32 registers hold
     * them with the loads): 16 products for 4 weight loads and 4 broadcasts */
    for (; c + 4 * FB_W <= n && T >= 4; c += 4 * FB_W) {
        int t = 0;
        for (; t + 4 <= T; t += 4) {
            float *dd[4] = {d + (size_t)t * ds + c, d + (size_t)(t + 1) * ds + c, d + (size_t)(t + 2) * ds + c,
                            d + (size_t)(t + 3) * ds + c};
            const float *gg[4] = {g + (size_t)t * gs, g + (size_t)(t + 1) * gs, g + (size_t)(t + 2) * gs,
                                  g + (size_t)(t + 3) * gs};
            FB_V a[4][4];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
                for (int v = 0; v < 4; v++) a[r][v] = FB_LD(dd[r] + v * FB_W);
            for (int q = 0; q < nr; q++) {
                const float *w = buf + (size_t)q * bs + c;
                FB_V wv[4];
#pragma GCC unroll 4
                for (int v = 0; v < 4; v++) wv[v] = FB_LD(w + v * FB_W);
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++) {
                    FB_V b = FB_SET1(gg[r][q]);
#pragma GCC unroll 4
                    for (int v = 0; v < 4; v++) a[r][v] = FB_FMA(b, wv[v], a[r][v]);
                }
            }
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
                for (int v = 0; v < 4; v++) FB_ST(dd[r] + v * FB_W, a[r][v]);
        }
        for (; t < T; t++) {
            float *d0 = d + (size_t)t * ds + c;
            const float *g0 = g + (size_t)t * gs;
            FB_V a0 = FB_LD(d0), a1 = FB_LD(d0 + FB_W), a2 = FB_LD(d0 + 2 * FB_W), a3 = FB_LD(d0 + 3 * FB_W);
            for (int q = 0; q < nr; q++) {
                const float *w = buf + (size_t)q * bs + c;
                FB_V b = FB_SET1(g0[q]);
                a0 = FB_FMA(b, FB_LD(w), a0), a1 = FB_FMA(b, FB_LD(w + FB_W), a1);
                a2 = FB_FMA(b, FB_LD(w + 2 * FB_W), a2), a3 = FB_FMA(b, FB_LD(w + 3 * FB_W), a3);
            }
            FB_ST(d0, a0), FB_ST(d0 + FB_W, a1), FB_ST(d0 + 2 * FB_W, a2), FB_ST(d0 + 3 * FB_W, a3);
        }
    }
#endif
    for (; c + 2 * FB_W <= n; c += 2 * FB_W) {
        int t = 0;
        for (; t + 4 <= T; t += 4) {
            float *d0 = d + (size_t)t * ds + c, *d1 = d0 + ds, *d2 = d1 + ds, *d3 = d2 + ds;
            const float *g0 = g + (size_t)t * gs, *g1 = g0 + gs, *g2 = g1 + gs, *g3 = g2 + gs;
            FB_V a00 = FB_LD(d0), a01 = FB_LD(d0 + FB_W);
            FB_V a10 = FB_LD(d1), a11 = FB_LD(d1 + FB_W);
            FB_V a20 = FB_LD(d2), a21 = FB_LD(d2 + FB_W);
            FB_V a30 = FB_LD(d3), a31 = FB_LD(d3 + FB_W);
            for (int q = 0; q < nr; q++) {
                const float *w = buf + (size_t)q * bs + c;
                FB_V w0 = FB_LD(w), w1 = FB_LD(w + FB_W), b;
                b = FB_SET1(g0[q]);
                a00 = FB_FMA(b, w0, a00), a01 = FB_FMA(b, w1, a01);
                b = FB_SET1(g1[q]);
                a10 = FB_FMA(b, w0, a10), a11 = FB_FMA(b, w1, a11);
                b = FB_SET1(g2[q]);
                a20 = FB_FMA(b, w0, a20), a21 = FB_FMA(b, w1, a21);
                b = FB_SET1(g3[q]);
                a30 = FB_FMA(b, w0, a30), a31 = FB_FMA(b, w1, a31);
            }
            FB_ST(d0, a00), FB_ST(d0 + FB_W, a01);
            FB_ST(d1, a10), FB_ST(d1 + FB_W, a11);
            FB_ST(d2, a20), FB_ST(d2 + FB_W, a21);
            FB_ST(d3, a30), FB_ST(d3 + FB_W, a31);
        }
        for (; t < T; t++) {
            float *d0 = d + (size_t)t * ds + c;
            const float *g0 = g + (size_t)t * gs;
            FB_V a00 = FB_LD(d0), a01 = FB_LD(d0 + FB_W);
            for (int q = 0; q < nr; q++) {
                const float *w = buf + (size_t)q * bs + c;
                FB_V b = FB_SET1(g0[q]);
                a00 = FB_FMA(b, FB_LD(w), a00);
                a01 = FB_FMA(b, FB_LD(w + FB_W), a01);
            }
            FB_ST(d0, a00), FB_ST(d0 + FB_W, a01);
        }
    }
    for (; c + FB_W <= n; c += FB_W)
        for (int t = 0; t < T; t++) {
            float *d0 = d + (size_t)t * ds + c;
            const float *g0 = g + (size_t)t * gs;
            FB_V a = FB_LD(d0);
            for (int q = 0; q < nr; q++)
                a = FB_FMA(FB_SET1(g0[q]), FB_LD(buf + (size_t)q * bs + c), a);
            FB_ST(d0, a);
        }
    if (c < n) cols_scalar(d, ds, g, gs, buf, bs, n, nr, T, c);
}

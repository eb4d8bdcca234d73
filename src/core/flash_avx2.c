/* AVX2 + FMA + F16C inner steps of the tiled attention (core/flash.h): the same bits as
 * the portable ones in flash.c. Scores run with positions in the lanes (K is stored
 * transposed per tile), so each lane is one position's fused multiply-add chain over d,
 * exactly the scalar order; P·V runs with d in the lanes, one FMA per position in order.
 * Entered only after a run-time CPU check; head_dim % 8 == 0. */
#include "core/flash_x86.h"
#include "core/quant.h"

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

/* Few rows (a decode step: one token's query heads of a KV head) over a whole tile of an
 * f16, Q8_0 or Q4_0 cache, without the tile copy (converting K and V into the 32 KiB tile
 * and reading it back was most of a decode step's attention): each 8 x 8 block of K is
 * converted, transposed in registers and used at once, V rows are converted as P.V reads
 * them. The same values (a quantized value as dequantize_row gives it) and multiply-add
 * chains as load + scores and pv, so the same bits. n and qt constants after inlining: 8 K
 * registers, n accumulators and a broadcast fit the 16. */
/* 8 values of a cache row from element d0 (a multiple of 8) as f32; qt: 0 f16, 1 Q8_0
 * (q * d), 2 Q4_0 ((nibble - 8) * d; a block's values 16..31 are its bytes' high nibbles) */
static inline __attribute__((always_inline)) __m256 row8(const char *row, int d0, const int qt) {
    if (qt == 0) return ld8h((const uint16_t *)row + d0);
    if (qt == 1) {
        const struct block_q8_0 *b = (const struct block_q8_0 *)row + d0 / 32;
        __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b->qs + d0 % 32))));
        return _mm256_mul_ps(q, _mm256_set1_ps(_cvtsh_ss(b->d)));
    }
    const struct block_q4_0 *b = (const struct block_q4_0 *)row + d0 / 32;
    __m128i x = _mm_loadl_epi64((const __m128i *)(b->qs + d0 % 16));
    if (d0 % 32 >= 16) x = _mm_srli_epi16(x, 4);
    x = _mm_and_si128(x, _mm_set1_epi8(0xF));
    __m256i q = _mm256_sub_epi32(_mm256_cvtepu8_epi32(x), _mm256_set1_epi32(8));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(q), _mm256_set1_ps(_cvtsh_ss(b->d)));
}

static inline __attribute__((always_inline)) void scores_kv_rows(const int n, const int qt, float *s, const float *q,
                                                                 int hd, const struct flash_kv *kv, int tb) {
    for (int j0 = 0; j0 < T; j0 += 8) {
        const char *kr[8];
#pragma GCC unroll 8
        for (int u = 0; u < 8; u++) kr[u] = (const char *)kv->k + phys(kv, tb + j0 + u) * kv->stride;
        flash_ask_rows(kv, tb + j0 + 8, tb + j0, 8, flash_row_bytes(qt, hd));
        __m256 a[FLASH_FEW_ROWS];
#pragma GCC unroll 8
        for (int i = 0; i < n; i++) a[i] = _mm256_setzero_ps();
        for (int d0 = 0; d0 < hd; d0 += 8) {
            __m256 r[8];
#pragma GCC unroll 8
            for (int u = 0; u < 8; u++) r[u] = row8(kr[u], d0, qt);
            transpose8(r);
#pragma GCC unroll 8
            for (int dd = 0; dd < 8; dd++)
#pragma GCC unroll 8
                for (int i = 0; i < n; i++)
                    a[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(q + (long)i * hd + d0 + dd), r[dd], a[i]);
        }
#pragma GCC unroll 8
        for (int i = 0; i < n; i++) _mm256_storeu_ps(s + i * T + j0, a[i]);
    }
}

/* acc of n rows (hd apart) += P (rows T apart) . V over the whole tile, 8 floats of d at a time */
static inline __attribute__((always_inline)) void pv_kv_rows(const int n, const int qt, float *acc, const float *p,
                                                             int hd, const struct flash_kv *kv, int tb) {
    for (int d0 = 0; d0 < hd; d0 += 8) {
        __m256 y[FLASH_FEW_ROWS];
#pragma GCC unroll 8
        for (int i = 0; i < n; i++) y[i] = _mm256_loadu_ps(acc + (long)i * hd + d0);
        for (int j = 0; j < T; j++) {
            __m256 v = row8((const char *)kv->v + phys(kv, tb + j) * kv->stride, d0, qt);
#pragma GCC unroll 8
            for (int i = 0; i < n; i++) y[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(p + i * T + j), v, y[i]);
        }
#pragma GCC unroll 8
        for (int i = 0; i < n; i++) _mm256_storeu_ps(acc + (long)i * hd + d0, y[i]);
    }
}

static void scores_kv_avx2(float *s, const float *q, int n, int hd, const struct flash_kv *kv, int tb) {
    WITH_KV_TYPE(kv->type, n, scores_kv_rows, s, q, hd, kv, tb)
}

static void pv_kv_avx2(float *acc, const float *p, int n, int hd, const struct flash_kv *kv, int tb) {
    WITH_KV_TYPE(kv->type, n, pv_kv_rows, acc, p, hd, kv, tb)
}

const struct flash_kern flash_kern_avx2 = {flash_load_x86, scores_avx2, flash_prep_x86, flash_expsum_x86, pv_avx2,
                                           pv2_avx2, scores_kv_avx2, pv_kv_avx2, NULL, 1, NULL};

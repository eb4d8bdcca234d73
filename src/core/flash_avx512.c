/* AVX-512 inner steps of the tiled attention (core/flash.h): scores for 4 query rows
 * against a whole tile (4 x 64 positions in 16 registers) and P·V 16 floats of d at a
 * time; loading and exp are the AVX2 ones (flash_x86.h). Each lane is the same fused
 * multiply-add chain as the portable code's, so the bits are the same. Entered only
 * after a run-time CPU check; head_dim % 16 == 0. */
#include "core/dtype.h"
#include "core/expf_avx512.h"
#include "core/flash_x86.h"
#include "core/fp16.h"
#include "core/quant.h"

/* nr (1..4, a constant after inlining) rows against the whole tile: 4 registers a row,
 * all 16 accumulators kept in registers (the unroll pragmas: without them the row loop
 * stayed a loop and the accumulators went through memory every d) */
static inline __attribute__((always_inline)) void scores_rows(float *s, const float *q, const int nr, int hd,
                                                              const float *kt) {
    __m512 a[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < nr; i++)
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) a[i][u] = _mm512_setzero_ps();
    const float *k = kt;
    for (int d = 0; d < hd; d++, k += T) {
        __m512 k0 = _mm512_loadu_ps(k), k1 = _mm512_loadu_ps(k + 16), k2 = _mm512_loadu_ps(k + 32),
               k3 = _mm512_loadu_ps(k + 48);
#pragma GCC unroll 4
        for (int i = 0; i < nr; i++) {
            __m512 x = _mm512_set1_ps(q[(long)i * hd + d]);
            a[i][0] = _mm512_fmadd_ps(x, k0, a[i][0]);
            a[i][1] = _mm512_fmadd_ps(x, k1, a[i][1]);
            a[i][2] = _mm512_fmadd_ps(x, k2, a[i][2]);
            a[i][3] = _mm512_fmadd_ps(x, k3, a[i][3]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < nr; i++)
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) _mm512_storeu_ps(s + i * T + 16 * u, a[i][u]);
}

static void scores_avx512(float *s, const float *q, int n, int hd, const float *kt) {
    int r = 0;
    for (; r + 4 <= n; r += 4) scores_rows(s + r * T, q + (long)r * hd, 4, hd, kt);
    switch (n - r) {
    case 3: scores_rows(s + r * T, q + (long)r * hd, 3, hd, kt); break;
    case 2: scores_rows(s + r * T, q + (long)r * hd, 2, hd, kt); break;
    case 1: scores_rows(s + r * T, q + (long)r * hd, 1, hd, kt); break;
    default: break;
    }
}

static void expsum_avx512(float *p, float m, float *l) {
    __m512 vm = _mm512_set1_ps(m);
    __m256 acc = _mm256_loadu_ps(l);
    for (int j = 0; j < T; j += 16) {
        __m512 e = expf16_ggml(_mm512_sub_ps(_mm512_loadu_ps(p + j), vm));
        _mm512_storeu_ps(p + j, e);
        acc = _mm256_add_ps(acc, _mm512_castps512_ps256(e));
        acc = _mm256_add_ps(acc, _mm512_extractf32x8_ps(e, 1));
    }
    _mm256_storeu_ps(l, acc);
}

static float prep_avx512(float *p, int a, int b, float scale) {
    const __m512i step = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512 vs = _mm512_set1_ps(scale), ninf = _mm512_set1_ps(-__builtin_inff()), mx = ninf;
    for (int j = 0; j < T; j += 16) {
        __m512i idx = _mm512_add_epi32(step, _mm512_set1_epi32(j));
        __mmask16 in = _mm512_cmp_epi32_mask(idx, _mm512_set1_epi32(a), _MM_CMPINT_NLT) &
                       _mm512_cmp_epi32_mask(idx, _mm512_set1_epi32(b), _MM_CMPINT_LT);
        __m512 x = _mm512_mask_mov_ps(ninf, in, _mm512_mul_ps(_mm512_loadu_ps(p + j), vs));
        _mm512_storeu_ps(p + j, x);
        mx = _mm512_max_ps(mx, x);
    }
    return _mm512_reduce_max_ps(mx);
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

static void pv2_avx512(float *acc0, float *acc1, const float *p0, const float *p1, const float *vt, int a, int b,
                       int hd) {
    int d = 0;
    for (; d + 32 <= hd; d += 32) {
        __m512 x0 = _mm512_loadu_ps(acc0 + d), x1 = _mm512_loadu_ps(acc0 + d + 16);
        __m512 y0 = _mm512_loadu_ps(acc1 + d), y1 = _mm512_loadu_ps(acc1 + d + 16);
        for (int j = a; j < b; j++) {
            const float *v = vt + (long)j * hd + d;
            __m512 v0 = _mm512_loadu_ps(v), v1 = _mm512_loadu_ps(v + 16);
            __m512 s0 = _mm512_set1_ps(p0[j]), s1 = _mm512_set1_ps(p1[j]);
            x0 = _mm512_fmadd_ps(s0, v0, x0), x1 = _mm512_fmadd_ps(s0, v1, x1);
            y0 = _mm512_fmadd_ps(s1, v0, y0), y1 = _mm512_fmadd_ps(s1, v1, y1);
        }
        _mm512_storeu_ps(acc0 + d, x0), _mm512_storeu_ps(acc0 + d + 16, x1);
        _mm512_storeu_ps(acc1 + d, y0), _mm512_storeu_ps(acc1 + d + 16, y1);
    }
    for (; d < hd; d += 16) {
        __m512 x = _mm512_loadu_ps(acc0 + d), y = _mm512_loadu_ps(acc1 + d);
        for (int j = a; j < b; j++) {
            __m512 v = _mm512_loadu_ps(vt + (long)j * hd + d);
            x = _mm512_fmadd_ps(_mm512_set1_ps(p0[j]), v, x);
            y = _mm512_fmadd_ps(_mm512_set1_ps(p1[j]), v, y);
        }
        _mm512_storeu_ps(acc0 + d, x), _mm512_storeu_ps(acc1 + d, y);
    }
}

/* pv for four rows over the whole tile, 64 floats of d at a time: 16 accumulators, each V
 * load serving four rows (pv2's two rows a load leave it bound by loads) */
static void pv4_avx512(float *acc, const float *p, const float *vt, int hd) {
    int d = 0;
    for (; d + 64 <= hd; d += 64) {
        __m512 y[4][4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
            for (int u = 0; u < 4; u++) y[i][u] = _mm512_loadu_ps(acc + (long)i * hd + d + 16 * u);
        for (int j = 0; j < T; j++) {
            const float *v = vt + (long)j * hd + d;
            __m512 v0 = _mm512_loadu_ps(v), v1 = _mm512_loadu_ps(v + 16), v2 = _mm512_loadu_ps(v + 32),
                   v3 = _mm512_loadu_ps(v + 48);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                __m512 x = _mm512_set1_ps(p[i * T + j]);
                y[i][0] = _mm512_fmadd_ps(x, v0, y[i][0]);
                y[i][1] = _mm512_fmadd_ps(x, v1, y[i][1]);
                y[i][2] = _mm512_fmadd_ps(x, v2, y[i][2]);
                y[i][3] = _mm512_fmadd_ps(x, v3, y[i][3]);
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
            for (int u = 0; u < 4; u++) _mm512_storeu_ps(acc + (long)i * hd + d + 16 * u, y[i][u]);
    }
    for (; d < hd; d += 16) {
        __m512 y[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) y[i] = _mm512_loadu_ps(acc + (long)i * hd + d);
        for (int j = 0; j < T; j++) {
            __m512 v = _mm512_loadu_ps(vt + (long)j * hd + d);
    #pragma GCC unroll 4
        for (int i = 0; i < 4; i++) y[i] = _mm512_fmadd_ps(_mm512_set1_ps(p[i * T + j]), v, y[i]);
        }
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) _mm512_storeu_ps(acc + (long)i * hd + d, y[i]);
    }
}

/* Four prompt rows that all cover the whole tile, one pass (no softcap): their scores in
 * registers, scaled, the running max and rescale, exp and the l sums, then pv4 — each
 * row the same steps as scores, prep, the rescale in flash_chunk, expsum and pv4 one
 * after the other (the same bits), but the scores never go through memory and the four
 * rows' p (1 KiB) stay in L1 for P.V. ml: the rows' (m, l[8]) FLASH_ML apart. */
static void rows4_avx512(float *acc, float *ml, const float *q, int hd, const float *kt, const float *vt, float scale,
                         float *p) {
    __m512 a[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) a[i][u] = _mm512_setzero_ps();
    const float *k = kt;
    for (int d = 0; d < hd; d++, k += T) {
        __m512 k0 = _mm512_loadu_ps(k), k1 = _mm512_loadu_ps(k + 16), k2 = _mm512_loadu_ps(k + 32),
               k3 = _mm512_loadu_ps(k + 48);
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            __m512 x = _mm512_set1_ps(q[(long)i * hd + d]);
            a[i][0] = _mm512_fmadd_ps(x, k0, a[i][0]);
            a[i][1] = _mm512_fmadd_ps(x, k1, a[i][1]);
            a[i][2] = _mm512_fmadd_ps(x, k2, a[i][2]);
            a[i][3] = _mm512_fmadd_ps(x, k3, a[i][3]);
        }
    }
    __m512 vs = _mm512_set1_ps(scale);
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) a[i][u] = _mm512_mul_ps(a[i][u], vs);
        float mt = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(a[i][0], a[i][1]), _mm512_max_ps(a[i][2], a[i][3])));
        float *st = ml + i * FLASH_ML, *ac = acc + (long)i * hd;
        if (mt > st[0]) {
            if (st[0] > -__builtin_inff()) {  /* c = ops_expf_ggml(m - mt) in every lane */
                __m512 vc = expf16_ggml(_mm512_set1_ps(st[0] - mt));
                _mm256_storeu_ps(st + 1, _mm256_mul_ps(_mm256_loadu_ps(st + 1), _mm512_castps512_ps256(vc)));
                for (int d = 0; d < hd; d += 16) _mm512_storeu_ps(ac + d, _mm512_mul_ps(_mm512_loadu_ps(ac + d), vc));
            }
            st[0] = mt;
        }
        __m512 vm = _mm512_set1_ps(st[0]);
        __m256 l = _mm256_loadu_ps(st + 1);
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) {
            __m512 e = expf16_ggml(_mm512_sub_ps(a[i][u], vm));
            _mm512_storeu_ps(p + i * T + 16 * u, e);
            l = _mm256_add_ps(l, _mm512_castps512_ps256(e));
            l = _mm256_add_ps(l, _mm512_extractf32x8_ps(e, 1));
        }
        _mm256_storeu_ps(st + 1, l);
    }
    pv4_avx512(acc, p, vt, hd);
}

/* 16 rows of 16 floats transposed in registers (4 rounds of 16 shuffles); the unroll
 * pragmas keep the three rounds' arrays in registers (as loops -O2 put them on the stack,
 * 48 stores and loads a block) */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16]) {
    __m512 a[16], b[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
        b[4 * g + 0] = _mm512_shuffle_ps(a[4 * g + 0], a[4 * g + 2], 0x44);
        b[4 * g + 1] = _mm512_shuffle_ps(a[4 * g + 0], a[4 * g + 2], 0xEE);
        b[4 * g + 2] = _mm512_shuffle_ps(a[4 * g + 1], a[4 * g + 3], 0x44);
        b[4 * g + 3] = _mm512_shuffle_ps(a[4 * g + 1], a[4 * g + 3], 0xEE);
    }
    /* b[4g + m], 128-bit lane k: column 4k + m of rows 4g..4g+3 */
#pragma GCC unroll 4
    for (int m = 0; m < 4; m++) {
        __m512 x01 = _mm512_shuffle_f32x4(b[m], b[4 + m], 0x44), x23 = _mm512_shuffle_f32x4(b[m], b[4 + m], 0xEE);
        __m512 y01 = _mm512_shuffle_f32x4(b[8 + m], b[12 + m], 0x44), y23 = _mm512_shuffle_f32x4(b[8 + m], b[12 + m], 0xEE);
        r[m] = _mm512_shuffle_f32x4(x01, y01, 0x88);
        r[4 + m] = _mm512_shuffle_f32x4(x01, y01, 0xDD);
        r[8 + m] = _mm512_shuffle_f32x4(x23, y23, 0x88);
        r[12 + m] = _mm512_shuffle_f32x4(x23, y23, 0xDD);
    }
}

/* flash_load_x86 with whole 16 x 16 blocks transposed in 512-bit registers */
static void load_avx512(float *kt, float *vt, const struct flash_kv *kv, int tb, int a, int b, int hd) {
    if (a > 0 || b < T) {  /* a tile's edge: the 8-wide code handles partial blocks */
        flash_load_x86(kt, vt, kv, tb, a, b, hd);
        return;
    }
    for (int j0 = 0; j0 < T; j0 += 16) {
        const uint16_t *kr[16];
        for (int u = 0; u < 16; u++) kr[u] = (const uint16_t *)((const char *)kv->k + phys(kv, tb + j0 + u) * kv->stride);
        for (int d = 0; d < hd; d += 16) {
            __m512 r[16];
#pragma GCC unroll 16
            for (int u = 0; u < 16; u++) r[u] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(kr[u] + d)));
            transpose16(r);
#pragma GCC unroll 16
            for (int u = 0; u < 16; u++) _mm512_storeu_ps(kt + (long)(d + u) * T + j0, r[u]);
        }
    }
    for (int j = 0; j < T; j++) {
        const uint16_t *vr = (const uint16_t *)((const char *)kv->v + phys(kv, tb + j) * kv->stride);
        float *o = vt + (long)j * hd;
        for (int d = 0; d < hd; d += 16) _mm512_storeu_ps(o + d, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(vr + d))));
    }
}

/* Few rows (a decode step: one token's query heads of a KV head) over a whole tile of an
 * f16, Q8_0 or Q4_0 cache, without the tile copy: loading and transposing K dominated there.
 * Each 16 x 16 block of K is converted and transposed in registers and used at once; V
 * rows are converted as P.V reads them. The same values (a quantized value as
 * dequantize_row gives it) and multiply-add chains as load + scores and pv, so the same
 * bits. */
/* 16 values of a cache row from element d0 (a multiple of 16) as f32; qt a constant:
 * 0 f16, 1 Q8_0 (q * d), 2 Q4_0 ((nibble - 8) * d) */
static inline __attribute__((always_inline)) __m512 row16(const char *row, int d0, const int qt) {
    if (qt == 0) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + d0)));
    if (qt == 1) {
        const struct block_q8_0 *b = (const struct block_q8_0 *)row + d0 / 32;
        __m512 q = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b->qs + d0 % 32))));
        return _mm512_mul_ps(q, _mm512_set1_ps(_cvtsh_ss(b->d)));
    }
    const struct block_q4_0 *b = (const struct block_q4_0 *)row + d0 / 32;
    __m128i x = _mm_loadu_si128((const __m128i *)b->qs);
    if (d0 % 32) x = _mm_srli_epi16(x, 4);   /* the block's second 16 values are the high nibbles */
    x = _mm_and_si128(x, _mm_set1_epi8(0xF));
    __m512i q = _mm512_sub_epi32(_mm512_cvtepu8_epi32(x), _mm512_set1_epi32(8));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(_cvtsh_ss(b->d)));
}

static inline __attribute__((always_inline)) void scores_kv_rows(const int n, const int qt, float *s, const float *q,
                                                                 int hd, const struct flash_kv *kv, int tb) {
    for (int j0 = 0; j0 < T; j0 += 16) {
        const char *kr[16];
        for (int u = 0; u < 16; u++) kr[u] = (const char *)kv->k + phys(kv, tb + j0 + u) * kv->stride;
        flash_ask_rows(kv, tb + j0 + 16, tb + j0, 16, flash_row_bytes(qt, hd));
        __m512 a[FLASH_FEW_ROWS];
#pragma GCC unroll 8
        for (int i = 0; i < n; i++) a[i] = _mm512_setzero_ps();
        for (int d0 = 0; d0 < hd; d0 += 16) {
            __m512 r[16];
#pragma GCC unroll 16
            for (int u = 0; u < 16; u++) r[u] = row16(kr[u], d0, qt);
            transpose16(r);
#pragma GCC unroll 16
            for (int dd = 0; dd < 16; dd++)
#pragma GCC unroll 8
                for (int i = 0; i < n; i++)
                    a[i] = _mm512_fmadd_ps(_mm512_set1_ps(q[(long)i * hd + d0 + dd]), r[dd], a[i]);
        }
#pragma GCC unroll 8
        for (int i = 0; i < n; i++) _mm512_storeu_ps(s + i * T + j0, a[i]);
    }
}

static void scores_kv_avx512(float *s, const float *q, int n, int hd, const struct flash_kv *kv, int tb) {
    WITH_KV_TYPE(kv->type, n, scores_kv_rows, s, q, hd, kv, tb)
}

/* acc of n rows (hd apart) += P (rows T apart) . V over the whole tile, 32 floats of d at a time */
static inline __attribute__((always_inline)) void pv_kv_rows(const int n, const int qt, float *acc, const float *p,
                                                             int hd, const struct flash_kv *kv, int tb) {
    for (int d0 = 0; d0 < hd; d0 += 32) {
        __m512 y[FLASH_FEW_ROWS][2];
#pragma GCC unroll 8
        for (int i = 0; i < n; i++) {
            y[i][0] = _mm512_loadu_ps(acc + (long)i * hd + d0);
            y[i][1] = _mm512_loadu_ps(acc + (long)i * hd + d0 + 16);
        }
        for (int j = 0; j < T; j++) {
            const char *vr = (const char *)kv->v + phys(kv, tb + j) * kv->stride;
            __m512 v0 = row16(vr, d0, qt), v1 = row16(vr, d0 + 16, qt);
#pragma GCC unroll 8
            for (int i = 0; i < n; i++) {
                __m512 x = _mm512_set1_ps(p[i * T + j]);
                y[i][0] = _mm512_fmadd_ps(x, v0, y[i][0]);
                y[i][1] = _mm512_fmadd_ps(x, v1, y[i][1]);
            }
        }
#pragma GCC unroll 8
        for (int i = 0; i < n; i++) {
            _mm512_storeu_ps(acc + (long)i * hd + d0, y[i][0]);
            _mm512_storeu_ps(acc + (long)i * hd + d0 + 16, y[i][1]);
        }
    }
}

static void pv_kv_avx512(float *acc, const float *p, int n, int hd, const struct flash_kv *kv, int tb) {
    WITH_KV_TYPE(kv->type, n, pv_kv_rows, acc, p, hd, kv, tb)
}

const struct flash_kern flash_kern_avx512 = {load_avx512,   scores_avx512,    prep_avx512,  expsum_avx512,
                                             pv_avx512,     pv2_avx512,       scores_kv_avx512, pv_kv_avx512,
                                             pv4_avx512,    1,                rows4_avx512};

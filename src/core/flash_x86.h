/* The inner steps of the tiled attention (core/flash.h) that flash_avx2.c and
 * flash_avx512.c share: tile loading (f16 -> f32, K transposed 8x8 at a time), the
 * dispatch on a decode step's row count and the exponentials (ggml's exp on 8 lanes).
 * Include only from files compiled with AVX2 + FMA + F16C. */
#ifndef OMNI_CORE_FLASH_X86_H
#define OMNI_CORE_FLASH_X86_H
#include <immintrin.h>
#include <stdint.h>

#include "core/dtype.h"
#include "core/expf_avx2.h"
#include "core/flash.h"

#define T FLASH_TILE

static inline long phys(const struct flash_kv *kv, int t) { return kv->ring > 0 ? t % kv->ring : t; }

static inline void transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* fn(N, ...) with the row count N (1..FLASH_FEW_ROWS) a constant, so its row loops unroll
 * into registers */
#define WITH_FEW_ROWS(n, fn, ...)                    \
    switch (n) {                                     \
    case 1: fn(1, __VA_ARGS__); break;               \
    case 2: fn(2, __VA_ARGS__); break;               \
    case 3: fn(3, __VA_ARGS__); break;               \
    case 4: fn(4, __VA_ARGS__); break;               \
    case 5: fn(5, __VA_ARGS__); break;               \
    case 6: fn(6, __VA_ARGS__); break;               \
    case 7: fn(7, __VA_ARGS__); break;               \
    default: fn(8, __VA_ARGS__); break;              \
    }
/* fn(N, QT, ...) with QT the cache's type as a constant too: 0 f16, 1 Q8_0, 2 Q4_0 */
#define WITH_KV_TYPE(type, n, fn, ...)                          \
    switch (type) {                                             \
    case DT_Q8_0: WITH_FEW_ROWS(n, fn, 1, __VA_ARGS__) break;   \
    case DT_Q4_0: WITH_FEW_ROWS(n, fn, 2, __VA_ARGS__) break;   \
    default: WITH_FEW_ROWS(n, fn, 0, __VA_ARGS__) break;        \
    }

/* bytes of one cache row of hd values; qt: 0 f16, 1 Q8_0, 2 Q4_0 (blocks of 32) */
static inline int flash_row_bytes(int qt, int hd) { return qt == 0 ? 2 * hd : qt == 1 ? hd / 32 * 34 : hd / 32 * 18; }

/* Asks for K rows [k0, k0 + n) and V rows [v0, v0 + n), `bytes` of each (a hint: past the
 * cache's end it loads nothing): a decode step's next K rows while it uses these, and
 * these rows' V for P.V after the tile's softmax (without it each row waited on memory).
 * Always inlined: as a call it cost a decode step's attention a quarter more. */
static inline __attribute__((always_inline)) void flash_ask_rows(const struct flash_kv *kv, int k0, int v0, int n,
                                                                  int bytes) {
    for (int u = 0; u < n; u++)
        for (int o = 0; o < bytes; o += 64) {
            _mm_prefetch((const char *)kv->k + phys(kv, k0 + u) * kv->stride + o, _MM_HINT_T0);
            _mm_prefetch((const char *)kv->v + phys(kv, v0 + u) * kv->stride + o, _MM_HINT_T0);
        }
}

static inline __m256 ld8h(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

static inline void flash_load_x86(float *kt, float *vt, const struct flash_kv *kv, int tb, int a, int b, int hd) {
    for (int j0 = 0; j0 < T; j0 += 8) {
        if (j0 >= a && j0 + 8 <= b) {
            const uint16_t *kr[8];
            for (int u = 0; u < 8; u++) kr[u] = (const uint16_t *)((const char *)kv->k + phys(kv, tb + j0 + u) * kv->stride);
            /* the next 8 rows asked for while these are transposed (a hint: past the end it
             * loads nothing); without it each row waited on memory at depth */
            for (int u = 0; u < 8; u++)
                for (int o = 0; o < 2 * hd; o += 64)
                    _mm_prefetch((const char *)kv->k + phys(kv, tb + j0 + 8 + u) * kv->stride + o, _MM_HINT_T0);
            for (int d = 0; d < hd; d += 8) {
                __m256 r[8];
                for (int u = 0; u < 8; u++) r[u] = ld8h(kr[u] + d);
                transpose8(r);
                for (int u = 0; u < 8; u++) _mm256_storeu_ps(kt + (long)(d + u) * T + j0, r[u]);
            }
            continue;
        }
        for (int j = j0; j < j0 + 8; j++) {
            if (j < a || j >= b) {
                for (int d = 0; d < hd; d++) kt[(long)d * T + j] = 0;
                continue;
            }
            const uint16_t *kr = (const uint16_t *)((const char *)kv->k + phys(kv, tb + j) * kv->stride);
            for (int d = 0; d < hd; d += 8) {
                float x[8];
                _mm256_storeu_ps(x, ld8h(kr + d));
                for (int u = 0; u < 8; u++) kt[(long)(d + u) * T + j] = x[u];
            }
        }
    }
    for (int j = a; j < b; j++) {
        const uint16_t *vr = (const uint16_t *)((const char *)kv->v + phys(kv, tb + j) * kv->stride);
        float *o = vt + (long)j * hd;
        for (int c = 0; c < 2 * hd; c += 64)
            _mm_prefetch((const char *)kv->v + phys(kv, tb + j + 8) * kv->stride + c, _MM_HINT_T0);
        for (int d = 0; d < hd; d += 8) _mm256_storeu_ps(o + d, ld8h(vr + d));
    }
}

static inline void flash_expsum_x86(float *p, float m, float *l) {
    __m256 vm = _mm256_set1_ps(m), acc = _mm256_loadu_ps(l);
    for (int j = 0; j < T; j += 8) {
        __m256 e = expf8_ggml(_mm256_sub_ps(_mm256_loadu_ps(p + j), vm));
        _mm256_storeu_ps(p + j, e);
        acc = _mm256_add_ps(acc, e);
    }
    _mm256_storeu_ps(l, acc);
}


static inline float flash_prep_x86(float *p, int a, int b, float scale) {
    const __m256i step = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i va = _mm256_set1_epi32(a - 1), vb = _mm256_set1_epi32(b);
    __m256 vs = _mm256_set1_ps(scale), ninf = _mm256_set1_ps(-__builtin_inff()), mx = ninf;
    for (int j = 0; j < T; j += 8) {
        __m256i idx = _mm256_add_epi32(step, _mm256_set1_epi32(j));
        __m256 in = _mm256_castsi256_ps(_mm256_and_si256(_mm256_cmpgt_epi32(idx, va), _mm256_cmpgt_epi32(vb, idx)));
        __m256 x = _mm256_blendv_ps(ninf, _mm256_mul_ps(_mm256_loadu_ps(p + j), vs), in);
        _mm256_storeu_ps(p + j, x);
        mx = _mm256_max_ps(mx, x);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    return _mm_cvtss_f32(m4);
}
#endif

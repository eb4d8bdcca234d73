/* x86 matmul kernels, written once and compiled twice: by matmul_avx2.c (AVX2+FMA+F16C)
 * and by matmul_avx512.c with MM_VNNI defined (AVX-512 VNNI int8 dots on 256-bit
 * registers). Each kernel computes a register tile of RN weight rows x RM activation
 * rows, so every weight block loaded is used RM times and every activation block RN
 * times: decode (m = 1) streams weights once, prefill becomes compute-bound.
 * Integer results are exact, so only the float accumulation order differs from scalar. */
#ifndef OMNI_CORE_MATMUL_X86_H
#define OMNI_CORE_MATMUL_X86_H
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "core/dtype.h"
#include "core/fp16.h"
#include "core/matmul_kern.h"
#include "core/quant.h"

#define MM_INLINE static inline __attribute__((always_inline))
/* Decode streams weights from DRAM, and the rows of one thread's range lie back to
 * back: kernels prefetch the same spot of the row MM_PF_TILES register tiles further
 * on. (A fixed 256 bytes ahead was too close to hide DRAM latency: ~2x slower.) */
#ifndef MM_PF_TILES
#define MM_PF_TILES 2
#endif

/* ggml's q5_K `summs += dmin * sum` is contracted to one fma by its -march=native build */
#ifndef KQ_SUMM
#define KQ_SUMM(a, b, c) __builtin_fmaf(a, b, c)
#endif

MM_INLINE float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

MM_INLINE float half_to_float(const void *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* acc + sum over each group of 4 bytes of u (unsigned) * s (signed). Without VNNI this
 * goes through int16 pair sums, exact only while u <= 128 (our 4/5/6-bit quants). */
MM_INLINE __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) {
#ifdef MM_VNNI
    return _mm256_dpbusd_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

/* acc + sum over pairs of int16 a*b. */
MM_INLINE __m256i dot_s16(__m256i acc, __m256i a, __m256i b) {
#ifdef MM_VNNI
    return _mm256_dpwssd_epi32(acc, a, b);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
}

/* ------------------------------------------------------------------ 32-blocks */

MM_INLINE size_t blk32_bytes(int type) {
    switch (type) {
    case DT_Q8_0: return sizeof(struct block_q8_0);
    case DT_Q4_0: return sizeof(struct block_q4_0);
    case DT_Q4_1: return sizeof(struct block_q4_1);
    case DT_Q5_1: return sizeof(struct block_q5_1);
    default: return sizeof(struct block_q5_0);
    }
}

/* q4_1 and q5_1 carry a min m per block (after d): their dot adds m * s of the activations. */
MM_INLINE int blk32_has_min(int type) { return type == DT_Q4_1 || type == DT_Q5_1; }

/* Weight quants of one block as 32 bytes in element order, made unsigned by adding an
 * offset (the dot product subtracts offset * sum(x) again). Q8_0 without VNNI stays
 * signed and uses the sign trick instead. */
MM_INLINE __m256i blk32_unpack(int type, const uint8_t *blk) {
    if (type == DT_Q8_0) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 2));
#ifdef MM_VNNI
        q = _mm256_xor_si256(q, _mm256_set1_epi8((char)0x80));
#endif
        return q;
    }
    const int head = blk32_has_min(type) ? 4 : 2; /* d, or d and m */
    const int five = type == DT_Q5_0 || type == DT_Q5_1;
    const uint8_t *qs = blk + head + (five ? 4 : 0);
    __m128i b = _mm_loadu_si128((const __m128i *)qs);
    __m128i m = _mm_set1_epi8(0xF);
    __m256i q = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
    if (five) {
        uint32_t qh;
        memcpy(&qh, blk + head, 4);
#ifdef MM_VNNI
        q = _mm256_or_si256(q, _mm256_maskz_set1_epi8((__mmask32)qh, 16));
#else
        /* spread bit j of qh to byte j, then keep it as 16 */
        __m256i v = _mm256_set1_epi32((int)qh);
        v = _mm256_shuffle_epi8(v, _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                     0x0101010101010101, 0x0000000000000000));
        __m256i bits = _mm256_set1_epi64x((long long)0x8040201008040201ull);
        v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bits), bits);
        q = _mm256_or_si256(q, _mm256_and_si256(v, _mm256_set1_epi8(16)));
#endif
    }
    return q;
}

/* The offset that makes the quants unsigned (the types with a min are unsigned already). */
MM_INLINE int blk32_offset(int type) {
    return type == DT_Q4_0 ? 8 : type == DT_Q5_0 ? 16 : blk32_has_min(type) ? 0 : 128;
}

MM_INLINE void tile32(int type, int RN, int RM, int nb, const uint8_t *w, size_t ws, const uint8_t *a, size_t as,
                      float *y, size_t ys) {
    /* q4_1/q5_1 as ggml_vec_dot_q4_1_q8_1 / q5_1_q8_1 sum: the min terms m * s apart,
     * one fma per block, added after the horizontal sum of the lanes */
    __m256 acc[4][4];
    float summ[4][4];
    const size_t bs = blk32_bytes(type);
#pragma GCC unroll 4
    for (int r = 0; r < RN; r++)
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) acc[r][i] = _mm256_setzero_ps(), summ[r][i] = 0;
    for (int b = 0; b < nb; b++) {
        __m256i wv[4];
        float dw[4], mw[4];
#pragma GCC unroll 4
        for (int r = 0; r < RN; r++) {
            const uint8_t *blk = w + r * ws + b * bs;
            _mm_prefetch((const char *)blk + (size_t)MM_PF_TILES * RN * ws, _MM_HINT_T0);
            dw[r] = half_to_float(blk);
            mw[r] = blk32_has_min(type) ? half_to_float(blk + 2) : 0;
            wv[r] = blk32_unpack(type, blk);
        }
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) {
            const struct block_q8a *ab = (const struct block_q8a *)(a + i * as) + b;
            __m256i xv = _mm256_loadu_si256((const __m256i *)ab->qs);
            float dx = ab->d;
#if !defined(MM_VNNI)
            if (type == DT_Q8_0) {
#pragma GCC unroll 4
                for (int r = 0; r < RN; r++) {
                    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(wv[r], wv[r]), _mm256_sign_epi8(xv, wv[r]));
                    p = _mm256_madd_epi16(p, _mm256_set1_epi16(1));
                    acc[r][i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw[r] * dx), acc[r][i]);
                }
                continue;
            }
#endif
            __m256i init = _mm256_zextsi128_si256(_mm_cvtsi32_si128(-blk32_offset(type) * ab->sum));
#pragma GCC unroll 4
            for (int r = 0; r < RN; r++) {
                __m256i p = dot_u8s8(init, wv[r], xv);
                acc[r][i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw[r] * dx), acc[r][i]);
                if (blk32_has_min(type)) summ[r][i] = __builtin_fmaf(mw[r], ab->s, summ[r][i]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RN; r++)
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) y[i * ys + r] = blk32_has_min(type) ? hsum8(acc[r][i]) + summ[r][i] : hsum8(acc[r][i]);
}

/* ------------------------------------------------------------------ K-quants */

MM_INLINE size_t blkK_bytes(int type) {
    return type == DT_Q4_K ? sizeof(struct block_q4_K) : type == DT_Q5_K ? sizeof(struct block_q5_K)
                                                                         : sizeof(struct block_q6_K);
}

/* Fifth bit of q5_K sub-block s (bit s of each qh byte) as 16 or 0 per byte. */
MM_INLINE __m256i q5k_hbit(__m256i qh, int s) {
    __m256i bit = _mm256_set1_epi8((char)(1 << s));
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit), _mm256_set1_epi8(16));
}

/* Scales for q6_K chunk c (32 elements = groups 2c, 2c+1) as 8+8 int16 lanes. */
MM_INLINE __m256i q6k_scales(const int8_t *sc, int c) {
    return _mm256_set_m128i(_mm_set1_epi16(sc[2 * c + 1]), _mm_set1_epi16(sc[2 * c]));
}

/* The float part of a K-quant dot in ggml_vec_dot_q*_K_q8_K's (AVX2) order, so our
 * sums round exactly as llama.cpp's: int32 lane l of a super-block holds, over its
 * sub-blocks, scale x the dot of elements 4l..4l+3 of each 32 (q6_K: with the -32
 * already in); acc += d * lanes. The mins go apart: q4_K into 4 lanes (pairs of
 * sub-blocks), q5_K into one float; the result is hsum(acc) + that. */
MM_INLINE __m256i kq_mins16(const uint8_t *scales) {
    int16_t mins16[16];
    for (int j = 0; j < 8; j++) {
        uint8_t sc, mn;
        quant_scale_min_k4(j, scales, &sc, &mn);
        mins16[2 * j] = mins16[2 * j + 1] = mn; /* bsums are per 16, mins per 32 */
    }
    return _mm256_loadu_si256((const __m256i *)mins16);
}

MM_INLINE void kq_block_done(int type, __m256i isum, const struct block_q8_K *ab, float d, float dmin, __m256i mins16,
                             __m256 *acc, __m128 *accm, float *summ) {
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(ab->d * d), _mm256_cvtepi32_ps(isum), *acc);
    if (type == DT_Q6_K) return;
    __m256i cm = _mm256_madd_epi16(mins16, _mm256_loadu_si256((const __m256i *)ab->bsums));
    __m128i prod = _mm_hadd_epi32(_mm256_castsi256_si128(cm), _mm256_extracti128_si256(cm, 1));
    float dm = -ab->d * dmin;
    if (type == DT_Q4_K) {
        *accm = _mm_fmadd_ps(_mm_set1_ps(dm), _mm_cvtepi32_ps(prod), *accm);
    } else {
        __m128i h = _mm_hadd_epi32(prod, prod);
        h = _mm_hadd_epi32(h, h);
        *summ = KQ_SUMM(dm, (float)_mm_cvtsi128_si32(h), *summ);
    }
}

MM_INLINE float kq_result(int type, __m256 acc, __m128 accm, float summ) {
    float s = hsum8(acc);
    if (type == DT_Q4_K) {
        accm = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
        accm = _mm_add_ss(accm, _mm_movehdup_ps(accm));
        s += _mm_cvtss_f32(accm);
    } else if (type == DT_Q5_K) {
        s += summ;
    }
    return s;
}

MM_INLINE void tileK(int type, int RN, int RM, int nb, const uint8_t *w, size_t ws, const uint8_t *a, size_t as,
                     float *y, size_t ys) {
    __m256 acc[4][4];
    __m128 accm[4][4];
    float summ[4][4];
    const size_t bs = blkK_bytes(type);
    const __m256i m4 = _mm256_set1_epi8(0xF);
#pragma GCC unroll 4
    for (int r = 0; r < RN; r++)
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) {
            acc[r][i] = _mm256_setzero_ps();
            accm[r][i] = _mm_setzero_ps();
            summ[r][i] = 0;
        }
    for (int b = 0; b < nb; b++) {
        __m256i isum[4][4];
#pragma GCC unroll 4
        for (int r = 0; r < RN; r++)
#pragma GCC unroll 4
            for (int i = 0; i < RM; i++) isum[r][i] = _mm256_setzero_si256();
        /* 8 chunks of 32 elements; chunk c uses x[32c .. 32c+31] */
        for (int c = 0; c < 8; c++) {
            __m256i q[4], s[4];
#pragma GCC unroll 4
            for (int r = 0; r < RN; r++) {
                const uint8_t *blk = w + r * ws + b * bs;
                /* a super-block is 144..210 bytes: its first lines, one per chunk */
                if ((size_t)c * 64 < bs) _mm_prefetch((const char *)blk + (size_t)MM_PF_TILES * RN * ws + c * 64, _MM_HINT_T0);
                if (type == DT_Q6_K) {
                    const struct block_q6_K *x6 = (const struct block_q6_K *)blk;
                    int h = c / 4, qq = c % 4;
                    __m256i ql = _mm256_loadu_si256((const __m256i *)(x6->ql + h * 64 + (qq & 1) * 32));
                    __m256i qh = _mm256_loadu_si256((const __m256i *)(x6->qh + h * 32));
                    __m256i lo = qq >= 2 ? _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4) : _mm256_and_si256(ql, m4);
                    __m256i hi = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * qq), 4), _mm256_set1_epi8(0x30));
                    q[r] = _mm256_or_si256(lo, hi);
                    s[r] = q6k_scales(x6->scales, c);
                } else {
                    const struct block_q4_K *x4 = (const struct block_q4_K *)blk;
                    const uint8_t *qs = type == DT_Q4_K ? x4->qs : ((const struct block_q5_K *)blk)->qs;
                    __m256i bytes = _mm256_loadu_si256((const __m256i *)(qs + (c / 2) * 32));
                    q[r] = c % 2 ? _mm256_and_si256(_mm256_srli_epi16(bytes, 4), m4) : _mm256_and_si256(bytes, m4);
                    if (type == DT_Q5_K) {
                        __m256i qh = _mm256_loadu_si256((const __m256i *)((const struct block_q5_K *)blk)->qh);
                        q[r] = _mm256_or_si256(q[r], q5k_hbit(qh, c));
                    }
                    uint8_t sc, mn;
                    quant_scale_min_k4(c, x4->scales, &sc, &mn);
                    s[r] = _mm256_set1_epi16(sc);
                }
            }
#pragma GCC unroll 4
            for (int i = 0; i < RM; i++) {
                const struct block_q8_K *ab = (const struct block_q8_K *)(a + i * as) + b;
                __m256i xv = _mm256_loadu_si256((const __m256i *)(ab->qs + 32 * c));
                /* q6_K's -32 goes in before the scale, per lane, as ggml does it */
                __m256i x32 = type == DT_Q6_K ? _mm256_maddubs_epi16(_mm256_set1_epi8(32), xv) : _mm256_setzero_si256();
#pragma GCC unroll 4
                for (int r = 0; r < RN; r++) {
                    __m256i p = _mm256_maddubs_epi16(q[r], xv);
                    if (type == DT_Q6_K) p = _mm256_sub_epi16(p, x32);
                    isum[r][i] = dot_s16(isum[r][i], p, s[r]);
                }
            }
        }
        /* per super-block: the scale, and the mins (q4_K/q5_K) from bsums */
#pragma GCC unroll 4
        for (int r = 0; r < RN; r++) {
            const uint8_t *blk = w + r * ws + b * bs;
            float d, dmin = 0;
            __m256i corr = _mm256_setzero_si256();
            if (type == DT_Q6_K) {
                d = half_to_float(&((const struct block_q6_K *)blk)->d);
            } else {
                const struct block_q4_K *x4 = (const struct block_q4_K *)blk;
                d = half_to_float(&x4->d);
                dmin = half_to_float(&x4->dmin);
                corr = kq_mins16(x4->scales);
            }
#pragma GCC unroll 4
            for (int i = 0; i < RM; i++)
                kq_block_done(type, isum[r][i], (const struct block_q8_K *)(a + i * as) + b, d, dmin, corr, &acc[r][i],
                              &accm[r][i], &summ[r][i]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RN; r++)
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) y[i * ys + r] = kq_result(type, acc[r][i], accm[r][i], summ[r][i]);
}

/* ------------------------------------------------- q2_K, q3_K, iq4_xs, iq4_nl, mxfp4
 * In llama.cpp's order (quant.h), which the scalar quant_dot_* spell out lane by lane:
 * exact integer lanes, one fma per lane per block, so every level gives the scalar
 * result bit for bit. */

/* 16 bytes of nibble indices as 32 table values in element order (low nibbles first). */
MM_INLINE __m256i nib_lookup(const uint8_t *qs, __m256i tab) {
    __m128i b = _mm_loadu_si128((const __m128i *)qs), m = _mm_set1_epi8(0xF);
    __m256i idx = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
    return _mm256_shuffle_epi8(tab, idx);
}

MM_INLINE int hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* Signed w times signed x (|w|, |x| <= 127) as 16 int16 pair sums: exact. */
MM_INLINE __m256i mul_s8_pairs(__m256i w, __m256i x) {
    return _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
}

MM_INLINE size_t blkX_bytes(int type) {
    return type == DT_Q2_K ? sizeof(struct block_q2_K) : type == DT_Q3_K ? sizeof(struct block_q3_K)
         : type == DT_IQ2_XXS ? sizeof(struct block_iq2_xxs) : type == DT_IQ3_XXS ? sizeof(struct block_iq3_xxs)
         : type == DT_IQ2_XS  ? sizeof(struct block_iq2_xs)  : type == DT_IQ2_S ? sizeof(struct block_iq2_s)
         : type == DT_IQ3_S   ? sizeof(struct block_iq3_s)   : sizeof(struct block_iq4_xs);
}

/* +1 / -1 per element of a 32-element chunk from its 4 sign bytes (bit j of byte g: element
 * 8g + j is negative): the operand of _mm256_sign_epi8. */
MM_INLINE __m256i sign_bytes32(const uint8_t *s4) {
    int32_t v;
    memcpy(&v, s4, 4);
    const __m256i pick = _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL, 0x0101010101010101LL, 0);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i b = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32(v), pick), bit);
    return _mm256_or_si256(_mm256_cmpeq_epi8(b, bit), _mm256_set1_epi8(1));
}

MM_INLINE void tileX(int type, int RN, int RM, int nb, const uint8_t *w, size_t ws, const uint8_t *a, size_t as,
                     float *y, size_t ys) {
    __m256 acc[4][4];
    const size_t bs = blkX_bytes(type);
    const __m256i tab = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)quant_kvalues_iq4nl));
    const __m256i three = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
#pragma GCC unroll 4
    for (int r = 0; r < RN; r++)
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) acc[r][i] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m256i isum[4][4];
        int8_t sc3[4][16];
#pragma GCC unroll 4
        for (int r = 0; r < RN; r++) {
            const uint8_t *blk = w + r * ws + b * bs;
            for (size_t o = 0; o < bs; o += 64) _mm_prefetch((const char *)blk + (size_t)MM_PF_TILES * RN * ws + o, _MM_HINT_T0);
            if (type == DT_Q3_K) quant_scales_q3_K(((const struct block_q3_K *)blk)->scales, sc3[r]);
#pragma GCC unroll 4
            for (int i = 0; i < RM; i++) isum[r][i] = _mm256_setzero_si256();
        }
        /* 8 chunks of 32 elements; chunk c uses x[32c .. 32c+31] */
        for (int c = 0; c < 8; c++) {
            __m256i q[4], s[4], sg[4];
#pragma GCC unroll 4
            for (int r = 0; r < RN; r++) {
                const uint8_t *blk = w + r * ws + b * bs;
                if (type == DT_IQ2_XXS) {
                    /* sub-block c: 4 grid points, then 4 x 7 sign bits and the scale */
                    const uint8_t *q2 = blk + 2 + 8 * c;
                    uint32_t a1;
                    memcpy(&a1, q2 + 4, 4);
                    q[r] = _mm256_set_epi64x((long long)quant_iq2xxs_grid[q2[3]], (long long)quant_iq2xxs_grid[q2[2]],
                                             (long long)quant_iq2xxs_grid[q2[1]], (long long)quant_iq2xxs_grid[q2[0]]);
                    sg[r] = _mm256_set_epi64x((long long)quant_iq2_signs64[(a1 >> 21) & 127], (long long)quant_iq2_signs64[(a1 >> 14) & 127],
                                              (long long)quant_iq2_signs64[(a1 >> 7) & 127], (long long)quant_iq2_signs64[a1 & 127]);
                    s[r] = _mm256_set1_epi16((int16_t)(2 * (a1 >> 28) + 1));
                } else if (type == DT_IQ2_XS) {
                    /* sub-block c: 4 x (9-bit grid index, 7 sign bits), two 4-bit scales */
                    const struct block_iq2_xs *xs = (const struct block_iq2_xs *)blk;
                    const uint16_t *q2 = xs->qs + 4 * c;
                    q[r] = _mm256_set_epi64x((long long)quant_iq2xs_grid[q2[3] & 511], (long long)quant_iq2xs_grid[q2[2] & 511],
                                             (long long)quant_iq2xs_grid[q2[1] & 511], (long long)quant_iq2xs_grid[q2[0] & 511]);
                    sg[r] = _mm256_set_epi64x((long long)quant_iq2_signs64[q2[3] >> 9], (long long)quant_iq2_signs64[q2[2] >> 9],
                                              (long long)quant_iq2_signs64[q2[1] >> 9], (long long)quant_iq2_signs64[q2[0] >> 9]);
                    s[r] = _mm256_set_m128i(_mm_set1_epi16((int16_t)(2 * (xs->scales[c] >> 4) + 1)),
                                            _mm_set1_epi16((int16_t)(2 * (xs->scales[c] & 0xF) + 1)));
                } else if (type == DT_IQ2_S) {
                    /* sub-block c: 4 x 10-bit grid indices (qs, qh), 4 sign bytes, two 4-bit scales */
                    const struct block_iq2_s *xs = (const struct block_iq2_s *)blk;
                    const uint8_t *q2 = xs->qs + 4 * c;
                    const unsigned h = xs->qh[c];
                    q[r] = _mm256_set_epi64x((long long)quant_iq2s_grid[q2[3] | (h << 2 & 0x300)], (long long)quant_iq2s_grid[q2[2] | (h << 4 & 0x300)],
                                             (long long)quant_iq2s_grid[q2[1] | (h << 6 & 0x300)], (long long)quant_iq2s_grid[q2[0] | (h << 8 & 0x300)]);
                    sg[r] = sign_bytes32(xs->qs + 32 + 4 * c);
                    s[r] = _mm256_set_m128i(_mm_set1_epi16((int16_t)(2 * (xs->scales[c] >> 4) + 1)),
                                            _mm_set1_epi16((int16_t)(2 * (xs->scales[c] & 0xF) + 1)));
                } else if (type == DT_IQ3_S) {
                    /* sub-block c: 8 x 9-bit grid indices (qs, qh), 4 sign bytes, a 4-bit scale */
                    const struct block_iq3_s *x3 = (const struct block_iq3_s *)blk;
                    const uint8_t *q3 = x3->qs + 8 * c;
                    const unsigned h = x3->qh[c];
#define IQ3S_PT(k) (int)quant_iq3s_grid[q3[k] | (h >> (k) & 1) << 8]
                    q[r] = _mm256_set_epi32(IQ3S_PT(7), IQ3S_PT(6), IQ3S_PT(5), IQ3S_PT(4), IQ3S_PT(3), IQ3S_PT(2), IQ3S_PT(1), IQ3S_PT(0));
#undef IQ3S_PT
                    sg[r] = sign_bytes32(x3->signs + 4 * c);
                    s[r] = _mm256_set1_epi16((int16_t)(2 * ((x3->scales[c / 2] >> (4 * (c % 2))) & 0xF) + 1));
                } else if (type == DT_IQ3_XXS) {
                    /* sub-block c: 8 grid points at qs + 8c, signs and scale at qs + 64 + 4c */
                    const uint8_t *q3 = blk + 2 + 8 * c;
                    uint32_t a1;
                    memcpy(&a1, blk + 2 + 64 + 4 * c, 4);
                    q[r] = _mm256_set_epi32((int)quant_iq3xxs_grid[q3[7]], (int)quant_iq3xxs_grid[q3[6]], (int)quant_iq3xxs_grid[q3[5]],
                                            (int)quant_iq3xxs_grid[q3[4]], (int)quant_iq3xxs_grid[q3[3]], (int)quant_iq3xxs_grid[q3[2]],
                                            (int)quant_iq3xxs_grid[q3[1]], (int)quant_iq3xxs_grid[q3[0]]);
                    sg[r] = _mm256_set_epi64x((long long)quant_iq2_signs64[(a1 >> 21) & 127], (long long)quant_iq2_signs64[(a1 >> 14) & 127],
                                              (long long)quant_iq2_signs64[(a1 >> 7) & 127], (long long)quant_iq2_signs64[a1 & 127]);
                    s[r] = _mm256_set1_epi16((int16_t)(2 * (a1 >> 28) + 1));
                } else if (type == DT_Q2_K) {
                    const struct block_q2_K *x2 = (const struct block_q2_K *)blk;
                    __m256i bytes = _mm256_loadu_si256((const __m256i *)(x2->qs + 32 * (c / 4)));
                    q[r] = _mm256_and_si256(_mm256_srli_epi16(bytes, 2 * (c % 4)), three);
                    s[r] = _mm256_set_m128i(_mm_set1_epi16(x2->scales[2 * c + 1] & 0xF), _mm_set1_epi16(x2->scales[2 * c] & 0xF));
                } else if (type == DT_Q3_K) {
                    const struct block_q3_K *x3 = (const struct block_q3_K *)blk;
                    __m256i bytes = _mm256_loadu_si256((const __m256i *)(x3->qs + 32 * (c / 4)));
                    __m256i lo = _mm256_and_si256(_mm256_srli_epi16(bytes, 2 * (c % 4)), three);
                    __m256i hm = _mm256_loadu_si256((const __m256i *)x3->hmask), bit = _mm256_set1_epi8((char)(1 << c));
                    __m256i has = _mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit);
                    q[r] = _mm256_sub_epi8(lo, _mm256_andnot_si256(has, four));
                    s[r] = _mm256_set_m128i(_mm_set1_epi16(sc3[r][2 * c + 1]), _mm_set1_epi16(sc3[r][2 * c]));
                } else {
                    const struct block_iq4_xs *x4 = (const struct block_iq4_xs *)blk;
                    q[r] = nib_lookup(x4->qs + 16 * c, tab);
                    int ls = (((x4->scales_l[c / 2] >> (4 * (c % 2))) & 0xF) | (((x4->scales_h >> (2 * c)) & 3) << 4)) - 32;
                    s[r] = _mm256_set1_epi16((int16_t)ls);
                }
            }
#pragma GCC unroll 4
            for (int i = 0; i < RM; i++) {
                const struct block_q8_K *ab = (const struct block_q8_K *)(a + i * as) + b;
                __m256i xv = _mm256_loadu_si256((const __m256i *)(ab->qs + 32 * c));
#pragma GCC unroll 4
                for (int r = 0; r < RN; r++) {
                    __m256i p = type == DT_Q2_K      ? _mm256_maddubs_epi16(q[r], xv)
                              : type == DT_IQ2_XXS || type == DT_IQ3_XXS || type == DT_IQ2_XS || type == DT_IQ2_S || type == DT_IQ3_S
                                  ? _mm256_maddubs_epi16(q[r], _mm256_sign_epi8(xv, sg[r]))
                                                   : mul_s8_pairs(q[r], xv);
                    isum[r][i] = dot_s16(isum[r][i], p, s[r]);
                }
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < RN; r++) {
            const uint8_t *blk = w + r * ws + b * bs;
            if (type == DT_Q2_K) {
                const struct block_q2_K *x2 = (const struct block_q2_K *)blk;
                __m128i sc = _mm_loadu_si128((const __m128i *)x2->scales);
                __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc, 4), _mm_set1_epi8(0xF)));
                float d = half_to_float(&x2->d), dmin = half_to_float(&x2->dmin);
#pragma GCC unroll 4
                for (int i = 0; i < RM; i++) {
                    const struct block_q8_K *ab = (const struct block_q8_K *)(a + i * as) + b;
                    __m256i ml = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)ab->bsums));
                    acc[r][i] = _mm256_fmadd_ps(_mm256_set1_ps(-ab->d * dmin), _mm256_cvtepi32_ps(ml), acc[r][i]);
                    acc[r][i] = _mm256_fmadd_ps(_mm256_set1_ps(ab->d * d), _mm256_cvtepi32_ps(isum[r][i]), acc[r][i]);
                }
            } else {
                float d = half_to_float(type == DT_Q3_K ? (const void *)&((const struct block_q3_K *)blk)->d : (const void *)blk);
#pragma GCC unroll 4
                for (int i = 0; i < RM; i++) {
                    const struct block_q8_K *ab = (const struct block_q8_K *)(a + i * as) + b;
                    /* q3_K: d_a * d_w, iq4_xs: d_w * d_a, as ggml writes them */
                    float dd = type == DT_Q3_K ? ab->d * d : d * ab->d;
                    acc[r][i] = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(isum[r][i]), acc[r][i]);
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RN; r++)
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++)
            y[i * ys + r] = type == DT_IQ2_XXS || type == DT_IQ2_XS || type == DT_IQ2_S ? 0.125f * hsum8(acc[r][i])
                          : type == DT_IQ3_XXS                      ? 0.25f * hsum8(acc[r][i])
                                                                    : hsum8(acc[r][i]);
}

/* iq4_nl and mxfp4 against block_q8a (quant_dot_iq4_nl / quant_dot_mxfp4's order):
 * iq4_nl one accumulator, mxfp4 one for even and one for odd blocks plus a last odd block
 * added after the horizontal sum. */
MM_INLINE void tileN(int type, int RN, int RM, int nb, const uint8_t *w, size_t ws, const uint8_t *a, size_t as,
                     float *y, size_t ys) {
    const int mx = type == DT_MXFP4;
    const size_t bs = mx ? sizeof(struct block_mxfp4) : sizeof(struct block_iq4_nl);
    const __m256i tab = _mm256_broadcastsi128_si256(
        _mm_loadu_si128((const __m128i *)(mx ? quant_kvalues_mxfp4 : quant_kvalues_iq4nl)));
    __m256 acc[2][4][4];
    int sumi[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < RN; r++)
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) acc[0][r][i] = acc[1][r][i] = _mm256_setzero_ps(), sumi[r][i] = 0;
    /* mxfp4: blocks in pairs; an odd last one goes to the integer tail */
    const int paired = mx ? nb & ~1 : nb;
    for (int b = 0; b < nb; b++) {
        __m256i wa[4], wv[4];
        float dw[4];
        const int h = mx ? b & 1 : 0, tail = b >= paired;
#pragma GCC unroll 4
        for (int r = 0; r < RN; r++) {
            const uint8_t *blk = w + r * ws + b * bs;
            _mm_prefetch((const char *)blk + (size_t)MM_PF_TILES * RN * ws, _MM_HINT_T0);
            dw[r] = mx ? quant_e8m0_half(blk[0]) : half_to_float(blk);
            wv[r] = nib_lookup(blk + (mx ? 1 : 2), tab);
            wa[r] = _mm256_abs_epi8(wv[r]);
        }
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) {
            const struct block_q8a *ab = (const struct block_q8a *)(a + i * as) + b;
            __m256i xv = _mm256_loadu_si256((const __m256i *)ab->qs);
#pragma GCC unroll 4
            for (int r = 0; r < RN; r++) {
                __m256i p = dot_u8s8(_mm256_setzero_si256(), wa[r], _mm256_sign_epi8(xv, wv[r]));
                if (tail) { sumi[r][i] = hsum_i32(p); continue; }
                float dd = mx ? ab->d * dw[r] : dw[r] * ab->d;
                acc[h][r][i] = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(p), acc[h][r][i]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RN; r++)
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) {
            float s = hsum8(mx ? _mm256_add_ps(acc[0][r][i], acc[1][r][i]) : acc[0][r][i]);
            if (paired < nb) {
                const struct block_q8a *ab = (const struct block_q8a *)(a + i * as) + paired;
                s += ab->d * quant_e8m0_half(w[r * ws + paired * bs]) * (float)sumi[r][i];
            }
            y[i * ys + r] = s;
        }
}

/* ------------------------------------------------------------------ float types */

/* 8 elements of a row of this float type, starting at element e. */
MM_INLINE __m256 load8(int type, const uint8_t *row, int e) {
    if (type == DT_F32) return _mm256_loadu_ps((const float *)row + e);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)row + e));
    if (type == DT_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

MM_INLINE float load1(int type, const uint8_t *row, int e) {
    if (type == DT_F32) return ((const float *)row)[e];
    uint16_t h;
    memcpy(&h, row + 2 * e, 2);
    return type == DT_F16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
}

MM_INLINE void tileF(int type, int RN, int RM, int k, const uint8_t *w, size_t ws, const uint8_t *a, size_t as,
                     float *y, size_t ys) {
    __m256 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < RN; r++)
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) acc[r][i] = _mm256_setzero_ps();
    int e = 0;
    for (; e + 8 <= k; e += 8) {
        __m256 wv[4];
#pragma GCC unroll 4
        for (int r = 0; r < RN; r++) wv[r] = load8(type, w + r * ws, e);
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) {
            __m256 xv = load8(type, a + i * as, e);
#pragma GCC unroll 4
            for (int r = 0; r < RN; r++) acc[r][i] = _mm256_fmadd_ps(wv[r], xv, acc[r][i]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RN; r++)
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) {
            float s = hsum8(acc[r][i]);
            for (int t = e; t < k; t++) s += load1(type, w + r * ws, t) * load1(type, a + i * as, t);
            y[i * ys + r] = s;
        }
}

/* ------------------------------------------------------------------ drivers */

/* Dispatches a (rn, rm) remainder tile to a specialisation with constant sizes. */
#define MM_TILE_SWITCH(tile, type, rn, rm, kk, w, ws, a, as, y, ys)                                  \
    switch ((rn) * 8 + (rm)) {                                                                       \
    case 8 + 1: tile(type, 1, 1, kk, w, ws, a, as, y, ys); break;                                    \
    case 8 + 2: tile(type, 1, 2, kk, w, ws, a, as, y, ys); break;                                    \
    case 8 + 3: tile(type, 1, 3, kk, w, ws, a, as, y, ys); break;                                    \
    case 8 + 4: tile(type, 1, 4, kk, w, ws, a, as, y, ys); break;                                    \
    case 16 + 1: tile(type, 2, 1, kk, w, ws, a, as, y, ys); break;                                   \
    case 16 + 2: tile(type, 2, 2, kk, w, ws, a, as, y, ys); break;                                   \
    case 16 + 3: tile(type, 2, 3, kk, w, ws, a, as, y, ys); break;                                   \
    case 16 + 4: tile(type, 2, 4, kk, w, ws, a, as, y, ys); break;                                   \
    case 24 + 1: tile(type, 3, 1, kk, w, ws, a, as, y, ys); break;                                   \
    case 24 + 2: tile(type, 3, 2, kk, w, ws, a, as, y, ys); break;                                   \
    case 24 + 3: tile(type, 3, 3, kk, w, ws, a, as, y, ys); break;                                   \
    case 24 + 4: tile(type, 3, 4, kk, w, ws, a, as, y, ys); break;                                   \
    case 32 + 1: tile(type, 4, 1, kk, w, ws, a, as, y, ys); break;                                   \
    case 32 + 2: tile(type, 4, 2, kk, w, ws, a, as, y, ys); break;                                   \
    case 32 + 3: tile(type, 4, 3, kk, w, ws, a, as, y, ys); break;                                   \
    case 32 + 4: tile(type, 4, 4, kk, w, ws, a, as, y, ys); break;                                   \
    default: break;                                                                                  \
    }

/* Tile shape: up to TN weight rows x TM activation rows (TN*TM accumulators live in
 * registers); decode uses 4x1. Prefill is blocked for the caches: a block of weight
 * rows (MM_BLOCK_W bytes, stays in L2) meets the activation rows a chunk at a time
 * (MM_BLOCK_A bytes, stays in L1), so each activation load is served from L1 and each
 * weight byte is fetched from L2, instead of every 2-4 weight rows re-streaming all
 * the activations from L2/L3 (for 512 tokens that is 0.6-1.8 MB per pass). Each
 * output is still one tile's sum, so the blocking changes no result. */
#define MM_GEMM(name, tile, type, TN, TM, kk_of)                                                     \
    static void name(int k, const void *w, size_t ws, int nr, const void *a, size_t as, int mr,      \
                     float *y, size_t ys) {                                                          \
        const int kk = kk_of;                                                                        \
        const int tn = mr == 1 ? 4 : (TN), tm = mr == 1 ? 1 : (TM);                                  \
        int mb = mr, nb = nr;                                                                        \
        if (mr > 1) {                                                                                \
            mb = (int)((size_t)MM_BLOCK_A / as) / tm * tm;                                           \
            nb = (int)((size_t)MM_BLOCK_W / ws) / tn * tn;                                           \
            if (mb < tm) mb = tm;                                                                    \
            if (nb < tn) nb = tn;                                                                    \
        }                                                                                            \
        for (int n0 = 0; n0 < nr; n0 += nb) {                                                        \
            const int n1 = nr - n0 < nb ? nr : n0 + nb;                                              \
            for (int m0 = 0; m0 < mr; m0 += mb) {                                                    \
                const int m1 = mr - m0 < mb ? mr : m0 + mb;                                          \
                for (int r0 = n0; r0 < n1; r0 += tn) {                                               \
                    int rn = n1 - r0 < tn ? n1 - r0 : tn;                                            \
                    const uint8_t *wr = (const uint8_t *)w + (size_t)r0 * ws;                        \
                    for (int i0 = m0; i0 < m1; i0 += tm) {                                           \
                        int rm = m1 - i0 < tm ? m1 - i0 : tm;                                        \
                        MM_TILE_SWITCH(tile, type, rn, rm, kk, wr, ws,                               \
                                       (const uint8_t *)a + (size_t)i0 * as, as,                     \
                                       y + (size_t)i0 * ys + r0, ys)                                 \
                    }                                                                                \
                }                                                                                    \
            }                                                                                        \
        }                                                                                            \
    }

/* AVX-512 has 32 vector registers, AVX2 16: the tiles are sized so nothing spills. */
#ifdef MM_VNNI
#define MM_TM32 4
#define MM_TMK 4
#define MM_TMF 4
#else
#define MM_TM32 2
#define MM_TMK 2
#define MM_TMF 2
#endif
MM_GEMM(x86_gemm_q8_0, tile32, DT_Q8_0, 4, MM_TM32, k / QK)
MM_GEMM(x86_gemm_q4_0, tile32, DT_Q4_0, 4, MM_TM32, k / QK)
MM_GEMM(x86_gemm_q5_0, tile32, DT_Q5_0, 4, MM_TM32, k / QK)
MM_GEMM(x86_gemm_q4_1, tile32, DT_Q4_1, 4, MM_TM32, k / QK)
MM_GEMM(x86_gemm_q5_1, tile32, DT_Q5_1, 4, MM_TM32, k / QK)
MM_GEMM(x86_gemm_q4_K, tileK, DT_Q4_K, 2, MM_TMK, k / QK_K)
MM_GEMM(x86_gemm_q5_K, tileK, DT_Q5_K, 2, MM_TMK, k / QK_K)
MM_GEMM(x86_gemm_q6_K, tileK, DT_Q6_K, 2, MM_TMK, k / QK_K)
MM_GEMM(x86_gemm_q2_K, tileX, DT_Q2_K, 2, MM_TMK, k / QK_K)
MM_GEMM(x86_gemm_q3_K, tileX, DT_Q3_K, 2, MM_TMK, k / QK_K)
MM_GEMM(x86_gemm_iq4_xs, tileX, DT_IQ4_XS, 2, MM_TMK, k / QK_K)
MM_GEMM(x86_gemm_iq2_xxs, tileX, DT_IQ2_XXS, 2, MM_TMK, k / QK_K)
MM_GEMM(x86_gemm_iq3_xxs, tileX, DT_IQ3_XXS, 2, MM_TMK, k / QK_K)
MM_GEMM(x86_gemm_iq2_xs, tileX, DT_IQ2_XS, 2, MM_TMK, k / QK_K)
MM_GEMM(x86_gemm_iq2_s, tileX, DT_IQ2_S, 2, MM_TMK, k / QK_K)
MM_GEMM(x86_gemm_iq3_s, tileX, DT_IQ3_S, 2, MM_TMK, k / QK_K)
MM_GEMM(x86_gemm_iq4_nl, tileN, DT_IQ4_NL, 4, MM_TM32, k / QK)
MM_GEMM(x86_gemm_mxfp4, tileN, DT_MXFP4, 2, MM_TM32, k / QK)
MM_GEMM(x86_gemm_f32, tileF, DT_F32, 4, MM_TMF, k)
MM_GEMM(x86_gemm_f16, tileF, DT_F16, 4, MM_TMF, k)
MM_GEMM(x86_gemm_bf16, tileF, DT_BF16, 4, MM_TMF, k)

MM_INLINE mm_gemm_fn x86_kernel(int type) {
    switch (type) {
    case DT_Q8_0: return x86_gemm_q8_0;
    case DT_Q4_0: return x86_gemm_q4_0;
    case DT_Q5_0: return x86_gemm_q5_0;
    case DT_Q4_1: return x86_gemm_q4_1;
    case DT_Q5_1: return x86_gemm_q5_1;
    case DT_Q4_K: return x86_gemm_q4_K;
    case DT_Q5_K: return x86_gemm_q5_K;
    case DT_Q6_K: return x86_gemm_q6_K;
    case DT_Q2_K: return x86_gemm_q2_K;
    case DT_Q3_K: return x86_gemm_q3_K;
    case DT_IQ4_XS: return x86_gemm_iq4_xs;
    case DT_IQ2_XXS: return x86_gemm_iq2_xxs;
    case DT_IQ3_XXS: return x86_gemm_iq3_xxs;
    case DT_IQ2_XS: return x86_gemm_iq2_xs;
    case DT_IQ2_S: return x86_gemm_iq2_s;
    case DT_IQ3_S: return x86_gemm_iq3_s;
    case DT_IQ4_NL: return x86_gemm_iq4_nl;
    case DT_MXFP4: return x86_gemm_mxfp4;
    case DT_F32: return x86_gemm_f32;
    case DT_F16: return x86_gemm_f16;
    case DT_BF16: return x86_gemm_bf16;
    default: return NULL;
    }
}
#endif

/* AVX-512 matmul kernels: the shared x86 code in matmul_x86.h with VNNI int8/int16
 * dot instructions and twice the registers (bigger tiles), plus 512-bit kernels for
 * the 32-element block types below; entered only when cpu_level() == CPU_AVX512,
 * which requires VNNI. */
#define MM_VNNI 1
#include "core/matmul_x86.h"

#include "core/cpu.h"

/* ------------------------------------------------- 32-blocks, two per zmm register
 * One 512-bit register holds two consecutive blocks: lanes 0-7 of a VNNI dot are
 * block b, lanes 8-15 block b+1, so each lane group gets its own scale from a vector
 * that is dw(b) in the low half and dw(b+1) in the high half. That halves the dot,
 * convert and FMA instructions per weight byte compared with the 256-bit kernel. */

/* Lanes 0-7 take element lo of the source, lanes 8-15 element hi. */
#define Z_IDX(lo, hi) _mm512_set_epi32(hi, hi, hi, hi, hi, hi, hi, hi, lo, lo, lo, lo, lo, lo, lo, lo)

/* Weight quants of blocks b0 and b1 (b1 ignored when !two) as 64 unsigned bytes with
 * the type's offset added, in element order. */
MM_INLINE __m512i z_unpack(int type, const uint8_t *b0, const uint8_t *b1, int two) {
    if (type == DT_Q8_0) {
        __m512i q = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(b0 + 2)));
        if (two) q = _mm512_inserti64x4(q, _mm256_loadu_si256((const __m256i *)(b1 + 2)), 1);
        return _mm512_xor_si512(q, _mm512_set1_epi8((char)0x80));
    }
    const int qoff = type == DT_Q4_0 ? 2 : 6;
    __m128i lo = _mm_loadu_si128((const __m128i *)(b0 + qoff));
    __m128i hi = two ? _mm_loadu_si128((const __m128i *)(b1 + qoff)) : _mm_setzero_si128();
    __m256i b = _mm256_set_m128i(hi, lo);
    /* [q0, q1, q0>>4, q1>>4] -> [q0, q0>>4, q1, q1>>4]: low nibbles are elements 0-15 */
    __m512i t = _mm512_inserti64x4(_mm512_castsi256_si512(b), _mm256_srli_epi16(b, 4), 1);
    t = _mm512_shuffle_i64x2(t, t, _MM_SHUFFLE(3, 1, 2, 0));
    __m512i q = _mm512_and_si512(t, _mm512_set1_epi8(0xF));
    if (type == DT_Q5_0) {
        uint32_t h0, h1 = 0;
        memcpy(&h0, b0 + 2, 4);
        if (two) memcpy(&h1, b1 + 2, 4);
        q = _mm512_or_si512(q, _mm512_maskz_set1_epi8((__mmask64)h0 | (__mmask64)h1 << 32, 16));
    }
    return q;
}

MM_INLINE int z_offset_shift(int type) { return type == DT_Q4_0 ? 3 : type == DT_Q5_0 ? 4 : 7; }

/* One or two blocks of an RN x RM tile. */
MM_INLINE void z_step(int type, int RN, int RM, int two, const uint8_t *w, size_t ws, size_t bs, const uint8_t *a,
                      size_t as, __m512 acc[4][4]) {
    __m512i wv[4];
    __m512 dw[4];
    const __m512i idx01 = Z_IDX(0, 1);
#pragma GCC unroll 4
    for (int r = 0; r < RN; r++) {
        const uint8_t *b0 = w + r * ws, *b1 = b0 + bs;
        /* see MM_PF_TILES; two lines per row cover the 68 bytes a step consumes */
        const char *pf = (const char *)b0 + (size_t)MM_PF_TILES * RN * ws;
        _mm_prefetch(pf, _MM_HINT_T0);
        _mm_prefetch(pf + 64, _MM_HINT_T0);
        uint16_t h0, h1 = 0;
        memcpy(&h0, b0, 2);
        if (two) memcpy(&h1, b1, 2);
        __m128 d2 = _mm_cvtph_ps(_mm_cvtsi32_si128((int)(h0 | (uint32_t)h1 << 16)));
        dw[r] = _mm512_permutexvar_ps(idx01, _mm512_castps128_ps512(d2));
        wv[r] = z_unpack(type, b0, b1, two);
    }
#pragma GCC unroll 4
    for (int i = 0; i < RM; i++) {
        /* MM_ACT_Q8Z: everything per activation row is one aligned load */
        const uint8_t *pa = a + i * as;
        __m512i xv = _mm512_load_si512((const void *)pa);
        __m512 dx = _mm512_load_ps((const void *)(pa + 64));
        __m512i init = _mm512_load_si512((const void *)(pa + 128));
#pragma GCC unroll 4
        for (int r = 0; r < RN; r++) {
            __m512i p = _mm512_dpbusd_epi32(init, wv[r], xv);
            acc[r][i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(dw[r], dx), acc[r][i]);
        }
    }
}

MM_INLINE void tile32z(int type, int RN, int RM, int nb, const uint8_t *w, size_t ws, const uint8_t *a, size_t as,
                       float *y, size_t ys) {
    __m512 acc[4][4];
    const size_t bs = blk32_bytes(type);
#pragma GCC unroll 4
    for (int r = 0; r < RN; r++)
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) acc[r][i] = _mm512_setzero_ps();
    int b = 0, pair = 0;
    for (; b + 2 <= nb; b += 2, pair++) z_step(type, RN, RM, 1, w + b * bs, ws, bs, a + pair * MM_Q8Z_PAIR_BYTES, as, acc);
    /* the odd last block: its activation pair has zero quants in the upper half */
    if (b < nb) z_step(type, RN, RM, 0, w + b * bs, ws, bs, a + pair * MM_Q8Z_PAIR_BYTES, as, acc);
#pragma GCC unroll 4
    for (int r = 0; r < RN; r++)
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) y[i * ys + r] = _mm512_reduce_add_ps(acc[r][i]);
}

/* Q8_0 and Q5_0 in llamafile's tinyBLAS_Q0_AVX order, which llama.cpp uses for them
 * (and ggml_vec_dot_q8_0_q8_0 for one token sums the same way): per output one 8-lane
 * FMA sum, block after block, lane l holding the signed dot of elements 4l..4l+3,
 * then hsum8. A zmm carries block b of two weight rows, both halves against the same
 * activation block, so each FMA advances two outputs and no lane mixes blocks. */
MM_INLINE void tile32p(int type, int RN, int RM, int nb, const uint8_t *w, size_t ws, const uint8_t *a, size_t as,
                       float *y, size_t ys) {
    const int np = (RN + 1) / 2;
    const size_t bs = blk32_bytes(type);
    const __m512i idx01 = Z_IDX(0, 1);
    __m512 acc[2][4];
#pragma GCC unroll 2
    for (int p = 0; p < np; p++)
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) acc[p][i] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m512i wv[2];
        __m512 dw[2];
#pragma GCC unroll 2
        for (int p = 0; p < np; p++) {
            const uint8_t *b0 = w + (size_t)(2 * p) * ws + b * bs;
            const uint8_t *b1 = 2 * p + 1 < RN ? b0 + ws : b0; /* an odd last row is done twice */
            _mm_prefetch((const char *)b0 + (size_t)MM_PF_TILES * RN * ws, _MM_HINT_T0);
            _mm_prefetch((const char *)b1 + (size_t)MM_PF_TILES * RN * ws, _MM_HINT_T0);
            uint16_t h0, h1;
            memcpy(&h0, b0, 2);
            memcpy(&h1, b1, 2);
            __m128 d2 = _mm_cvtph_ps(_mm_cvtsi32_si128((int)(h0 | (uint32_t)h1 << 16)));
            dw[p] = _mm512_permutexvar_ps(idx01, _mm512_castps128_ps512(d2));
            wv[p] = z_unpack(type, b0, b1, 1);
        }
        /* block b of an MM_ACT_Q8Z row: quants, scale lanes and start values of its half */
        const size_t off = (size_t)(b / 2) * MM_Q8Z_PAIR_BYTES + 32 * (b % 2);
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) {
            const uint8_t *pa = a + i * as + off;
            __m512i xv = _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i *)pa));
            __m512i init = _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i *)(pa + 128)));
            __m512 dx = _mm512_set1_ps(*(const float *)(pa + 64));
#pragma GCC unroll 2
            for (int p = 0; p < np; p++) {
                __m512i d = _mm512_dpbusd_epi32(init, wv[p], xv);
                acc[p][i] = _mm512_fmadd_ps(_mm512_mul_ps(dw[p], dx), _mm512_cvtepi32_ps(d), acc[p][i]);
            }
        }
    }
#pragma GCC unroll 2
    for (int p = 0; p < np; p++)
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) {
            y[i * ys + 2 * p] = hsum8(_mm512_castps512_ps256(acc[p][i]));
            if (2 * p + 1 < RN) y[i * ys + 2 * p + 1] = hsum8(_mm512_extractf32x8_ps(acc[p][i], 1));
        }
}

/* Q4_0 in the order of llama.cpp's repacked q4_0_8x8 kernels (which it uses for q4_0
 * weights on AVX2/AVX-512 CPUs, batched or not): per output, each block's whole
 * integer dot is converted and FMA'd into one float, block after block. The VNNI dots
 * of a tile's (up to) 4 activation rows are folded so that lanes 0-3 of one vector
 * hold the 4 block totals (exact integers) for block b and lanes 8-11 for block b+1. */
MM_INLINE void q4r_step(int RN, int RM, int two, const uint8_t *w, size_t ws, size_t bs, const uint8_t *a, size_t as,
                        __m512 acc[4]) {
    __m512i xv[4], init[4];
    __m512 dxs[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        const uint8_t *pa = a + (i < RM ? i : 0) * as;
        xv[i] = _mm512_load_si512((const void *)pa);
        dxs[i] = _mm512_load_ps((const void *)(pa + 64));
        init[i] = _mm512_load_si512((const void *)(pa + 128));
    }
    /* per 128-bit lane: [dx0, dx1, dx2, dx3] of that lane's block */
    __m512 D = _mm512_unpacklo_ps(_mm512_unpacklo_ps(dxs[0], dxs[2]), _mm512_unpacklo_ps(dxs[1], dxs[3]));
    const __m512i idx01 = Z_IDX(0, 1);
#pragma GCC unroll 4
    for (int r = 0; r < RN; r++) {
        const uint8_t *b0 = w + r * ws, *b1 = b0 + bs;
        const char *pf = (const char *)b0 + (size_t)MM_PF_TILES * RN * ws;
        _mm_prefetch(pf, _MM_HINT_T0);
        _mm_prefetch(pf + 64, _MM_HINT_T0);
        uint16_t h0, h1 = 0;
        memcpy(&h0, b0, 2);
        if (two) memcpy(&h1, b1, 2);
        __m128 d2 = _mm_cvtph_ps(_mm_cvtsi32_si128((int)(h0 | (uint32_t)h1 << 16)));
        __m512 dw = _mm512_permutexvar_ps(idx01, _mm512_castps128_ps512(d2));
        __m512i wv = z_unpack(DT_Q4_0, b0, b1, two);
        __m512i p[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) p[i] = i < RM ? _mm512_dpbusd_epi32(init[i], wv, xv[i]) : _mm512_setzero_si512();
        __m512i q01 = _mm512_add_epi32(_mm512_unpacklo_epi32(p[0], p[1]), _mm512_unpackhi_epi32(p[0], p[1]));
        __m512i q23 = _mm512_add_epi32(_mm512_unpacklo_epi32(p[2], p[3]), _mm512_unpackhi_epi32(p[2], p[3]));
        __m512i s4 = _mm512_add_epi32(_mm512_unpacklo_epi64(q01, q23), _mm512_unpackhi_epi64(q01, q23));
        __m512i t = _mm512_add_epi32(s4, _mm512_shuffle_i32x4(s4, s4, _MM_SHUFFLE(2, 3, 0, 1)));
        __m512 tf = _mm512_cvtepi32_ps(t), sc = _mm512_mul_ps(dw, D);
        acc[r] = _mm512_fmadd_ps(tf, sc, acc[r]);
        if (two)
            acc[r] = _mm512_fmadd_ps(_mm512_shuffle_f32x4(tf, tf, _MM_SHUFFLE(2, 2, 2, 2)),
                                     _mm512_shuffle_f32x4(sc, sc, _MM_SHUFFLE(2, 2, 2, 2)), acc[r]);
    }
}

MM_INLINE void tile32q(int type, int RN, int RM, int nb, const uint8_t *w, size_t ws, const uint8_t *a, size_t as,
                       float *y, size_t ys) {
    (void)type;
    __m512 acc[4];
    const size_t bs = blk32_bytes(DT_Q4_0);
#pragma GCC unroll 4
    for (int r = 0; r < RN; r++) acc[r] = _mm512_setzero_ps();
    int b = 0, pair = 0;
    for (; b + 2 <= nb; b += 2, pair++) q4r_step(RN, RM, 1, w + b * bs, ws, bs, a + pair * MM_Q8Z_PAIR_BYTES, as, acc);
    if (b < nb) q4r_step(RN, RM, 0, w + b * bs, ws, bs, a + pair * MM_Q8Z_PAIR_BYTES, as, acc);
#pragma GCC unroll 4
    for (int r = 0; r < RN; r++) {
        float o[16];
        _mm512_storeu_ps(o, acc[r]);
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) y[i * ys + r] = o[i];
    }
}

/* Q4_0 decode (one activation row), same arithmetic as tile32q with RM = 1: there the
 * fold of 4 activation rows' dots is mostly adding zeros, and each output costs two
 * 16-lane FMAs per block pair. Here the fold runs across 8 weight rows instead, so
 * lanes 0-7 of one vector are the 8 rows' block-b totals and lanes 8-15 their block
 * b+1 totals: per block pair two 8-lane FMAs serve all 8 outputs, each output still
 * getting total(b) * (dw * dx) added block after block. */
MM_INLINE void q4d_tile8(int nb, const uint8_t *w, size_t ws, const uint8_t *a, float *y) {
    const size_t bs = blk32_bytes(DT_Q4_0);
    /* qword picks: [A lane0, B lane0, A lane2, B lane2] and the same for lanes 1, 3 */
    const __m512i ix = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
    const __m512i iy = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    /* halves [d0(b), d0(b+1), d1(b), ...] -> [d0..d7 (b), d0..d7 (b+1)] */
    const __m256i hidx = _mm256_setr_epi16(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0, pair = 0; b < nb; b += 2, pair++) {
        const int two = b + 1 < nb;
        const uint8_t *pa = a + (size_t)pair * MM_Q8Z_PAIR_BYTES;
        __m512i xv = _mm512_load_si512((const void *)pa);
        __m512 dxs = _mm512_load_ps((const void *)(pa + 64));
        __m512i init = _mm512_load_si512((const void *)(pa + 128));
        __m512i p[8];
        uint32_t h[8];
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) {
            const uint8_t *b0 = w + r * ws + b * bs;
            _mm_prefetch((const char *)b0 + (size_t)MM_PF_TILES * 8 * ws, _MM_HINT_T0);
            uint16_t h0, h1 = 0;
            memcpy(&h0, b0, 2);
            if (two) memcpy(&h1, b0 + bs, 2);
            h[r] = h0 | (uint32_t)h1 << 16;
            p[r] = _mm512_dpbusd_epi32(init, z_unpack(DT_Q4_0, b0, b0 + bs, two), xv);
        }
        __m512i s4[2];
#pragma GCC unroll 2
        for (int g = 0; g < 2; g++) {
            const __m512i *q = p + 4 * g;
            __m512i q01 = _mm512_add_epi32(_mm512_unpacklo_epi32(q[0], q[1]), _mm512_unpackhi_epi32(q[0], q[1]));
            __m512i q23 = _mm512_add_epi32(_mm512_unpacklo_epi32(q[2], q[3]), _mm512_unpackhi_epi32(q[2], q[3]));
            s4[g] = _mm512_add_epi32(_mm512_unpacklo_epi64(q01, q23), _mm512_unpackhi_epi64(q01, q23));
        }
        __m512i t = _mm512_add_epi32(_mm512_permutex2var_epi64(s4[0], ix, s4[1]), _mm512_permutex2var_epi64(s4[0], iy, s4[1]));
        __m256i hv = _mm256_setr_epi32((int)h[0], (int)h[1], (int)h[2], (int)h[3], (int)h[4], (int)h[5], (int)h[6], (int)h[7]);
        __m512 sc = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_permutexvar_epi16(hidx, hv)), dxs);
        __m512 tf = _mm512_cvtepi32_ps(t);
        acc = _mm256_fmadd_ps(_mm512_castps512_ps256(tf), _mm512_castps512_ps256(sc), acc);
        if (two) acc = _mm256_fmadd_ps(_mm512_extractf32x8_ps(tf, 1), _mm512_extractf32x8_ps(sc, 1), acc);
    }
    _mm256_storeu_ps(y, acc);
}

/* Two consecutive blocks' quants of weight rows A and B (q8_0 / q5_0) as tile32p's
 * wv: [A block, B block], unsigned with the offset in, element order. For q5_0 the
 * 16-byte nibble runs are broadcast into both halves and shifted per qword, which
 * saves the shuffles z_unpack needs to interleave them. */
MM_INLINE __m512i p_unpack(int type, const uint8_t *A, const uint8_t *B) {
    if (type == DT_Q8_0) return z_unpack(DT_Q8_0, A, B, 1);
    __m512i z = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(A + 6)));
    z = _mm512_mask_broadcast_i32x4(z, 0xFF00, _mm_loadu_si128((const __m128i *)(B + 6)));
    z = _mm512_and_si512(_mm512_srlv_epi64(z, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4)), _mm512_set1_epi8(0xF));
    uint32_t h0, h1;
    memcpy(&h0, A + 2, 4);
    memcpy(&h1, B + 2, 4);
    return _mm512_mask_add_epi8(z, (__mmask64)h0 | (__mmask64)h1 << 32, z, _mm512_set1_epi8(16));
}

/* Decode (m = 1) for tile32p's types: 8 weight rows (4 zmm accumulators, two rows
 * each) so every activation load serves 4 dots, walking the activation's block pairs
 * directly. Per output the same FMA chain as tile32p, block after block. */
MM_INLINE void tile32p_decode8(int type, int nb, const uint8_t *w, size_t ws, const uint8_t *a, float *y) {
    const size_t bs = blk32_bytes(type);
    const __m512i idx01 = Z_IDX(0, 1);
    __m512 acc[4];
#pragma GCC unroll 4
    for (int p = 0; p < 4; p++) acc[p] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b += 2, a += MM_Q8Z_PAIR_BYTES) {
#pragma GCC unroll 2
        for (int hb = 0; hb < 2; hb++) {
            if (hb && b + 1 >= nb) break;
            __m512i xv = _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i *)(a + 32 * hb)));
            __m512i init = _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i *)(a + 128 + 32 * hb)));
            __m512 dx = _mm512_set1_ps(*(const float *)(a + 64 + 32 * hb));
#pragma GCC unroll 4
            for (int p = 0; p < 4; p++) {
                const uint8_t *b0 = w + (size_t)(2 * p) * ws + (size_t)(b + hb) * bs, *b1 = b0 + ws;
                /* one step = two blocks of a row: 44 (q5_0) or 68 (q8_0) bytes */
                if (!hb) {
                    const char *pf = (const char *)b0 + (size_t)MM_PF_TILES * 8 * ws;
                    _mm_prefetch(pf, _MM_HINT_T0);
                    _mm_prefetch(pf + ws, _MM_HINT_T0);
                    if (type == DT_Q8_0) {
                        _mm_prefetch(pf + 64, _MM_HINT_T0);
                        _mm_prefetch(pf + ws + 64, _MM_HINT_T0);
                    }
                }
                uint16_t h0, h1;
                memcpy(&h0, b0, 2);
                memcpy(&h1, b1, 2);
                __m128 d2 = _mm_cvtph_ps(_mm_cvtsi32_si128((int)(h0 | (uint32_t)h1 << 16)));
                __m512 dw = _mm512_permutexvar_ps(idx01, _mm512_castps128_ps512(d2));
                __m512i d = _mm512_dpbusd_epi32(init, p_unpack(type, b0, b1), xv);
                acc[p] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dx), _mm512_cvtepi32_ps(d), acc[p]);
            }
        }
    }
#pragma GCC unroll 4
    for (int p = 0; p < 4; p++) {
        y[2 * p] = hsum8(_mm512_castps512_ps256(acc[p]));
        y[2 * p + 1] = hsum8(_mm512_extractf32x8_ps(acc[p], 1));
    }
}

MM_GEMM(z_gemm_q8_0_tiles, tile32p, DT_Q8_0, 4, 4, k / QK)
MM_GEMM(z_gemm_q5_0_tiles, tile32p, DT_Q5_0, 4, 4, k / QK)

#define Z_GEMM_P(name, type)                                                                               \
    static void name(int k, const void *w, size_t ws, int nr, const void *a, size_t as, int mr, float *y,  \
                     size_t ys) {                                                                          \
        if (mr != 1) {                                                                                     \
            name##_tiles(k, w, ws, nr, a, as, mr, y, ys);                                                  \
            return;                                                                                        \
        }                                                                                                  \
        int r0 = 0;                                                                                        \
        for (; r0 + 8 <= nr; r0 += 8) tile32p_decode8(type, k / QK, (const uint8_t *)w + (size_t)r0 * ws, ws, a, y + r0); \
        if (r0 < nr) name##_tiles(k, (const uint8_t *)w + (size_t)r0 * ws, ws, nr - r0, a, as, 1, y + r0, ys); \
    }
Z_GEMM_P(z_gemm_q8_0, DT_Q8_0)
Z_GEMM_P(z_gemm_q5_0, DT_Q5_0)
MM_GEMM(z_gemm_q4_0_tiles, tile32q, DT_Q4_0, 4, 4, k / QK)

static void z_gemm_q4_0(int k, const void *w, size_t ws, int nr, const void *a, size_t as, int mr, float *y,
                        size_t ys) {
    if (mr != 1) {
        z_gemm_q4_0_tiles(k, w, ws, nr, a, as, mr, y, ys);
        return;
    }
    int r0 = 0;
    for (; r0 + 8 <= nr; r0 += 8) q4d_tile8(k / QK, (const uint8_t *)w + (size_t)r0 * ws, ws, a, y + r0);
    if (r0 < nr) z_gemm_q4_0_tiles(k, (const uint8_t *)w + (size_t)r0 * ws, ws, nr - r0, a, as, 1, y + r0, ys);
}

/* ------------------------------------------------- K-quants, 64 elements per step
 * Four steps per super-block instead of the 256-bit kernel's eight: each step's 64
 * weights are one zmm of unsigned quants, multiplied with the q8_K activations by
 * vpmaddubsw and then by their sub-block scales (an int16 vector made by one permute)
 * with vpdpwssd. The min / -32 terms are done per super-block from bsums as before. */
/* The 12 packed 6-bit scale/min bytes of a q4_K/q5_K super-block, unpacked with a few
 * 32-bit mask/shift ops instead of 16 quant_scale_min_k4 calls (same values): *sc8 the
 * 8 scales as int16 (upper lanes zero), *mins8 the 8 mins as int16. */
MM_INLINE void kq4_scales(const uint8_t *scales, __m512i *sc8, __m128i *mins8) {
    const uint32_t k6 = 0x3f3f3f3f, k4 = 0x0f0f0f0f, k2 = 0x03030303;
    uint32_t u[4];
    memcpy(u, scales, 12);
    /* bytes 0-3: scales 0-3, 4-7: scales 4-7, 8-11: mins 0-3, 12-15: mins 4-7 */
    u[3] = ((u[2] >> 4) & k4) | (((u[1] >> 6) & k2) << 4);
    const uint32_t m03 = u[1] & k6;
    u[1] = (u[2] & k4) | (((u[0] >> 6) & k2) << 4);
    u[2] = m03;
    u[0] &= k6;
    __m128i v = _mm_loadu_si128((const __m128i *)u);
    *sc8 = _mm512_zextsi256_si512(_mm256_cvtepu8_epi16(_mm_move_epi64(v)));
    *mins8 = _mm_cvtepu8_epi16(_mm_srli_si128(v, 8));
}

/* The q8_K activation's sums per 32 elements of super-block b (8 int16, from its 16
 * per-16 bsums; |sum| <= 32 * 128 fits). */
MM_INLINE __m128i q8k_sums32(const struct block_q8_K *ab) {
    __m256i s = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)ab->bsums), _mm256_set1_epi16(1));
    return _mm_packs_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

/* K-quants (q4_K, q5_K, q6_K) on zmm registers, every output in the float order of
 * ggml_vec_dot_q*_K_q8_K (AVX2), as kq_block_done / kq_result spell it out:
 *   acc  (8 lanes) += (d_x * d_w) * isum lanes          once per super-block
 *   accm (4 lanes) += (-d_x * dmin_w) * prod lanes      q4_K; q5_K: one float, sum of prod
 *   y = hsum8(acc) + hsum4(accm)
 * where prod[t] = min(2t) * xsum32(2t) + min(2t+1) * xsum32(2t+1) (exact integers, the
 * same values ggml's madd + hadd of mins x bsums give). The integer work differs from
 * the 256-bit kernel, the float work per output does not, so results are bit-identical.
 * Per super-block the float epilogue is vectorized across outputs: acc of activation
 * rows 2p and 2p+1 share one zmm (halves), and the mins of all (up to 4) activation
 * rows of a weight row are one 16-lane madd + FMA (lane group i = row i). */
MM_INLINE void tileKz(int type, int RN, int RM, int nb, const uint8_t *w, size_t ws, const uint8_t *a, size_t as,
                      float *y, size_t ys) {
    __m512 acc[4][2], accm[4];
    const int np = (RM + 1) / 2;
    const size_t bs = blkK_bytes(type);
    const __m512i m4 = _mm512_set1_epi8(0xF);
    const struct block_q8_K *ar[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) ar[i] = (const struct block_q8_K *)(a + (i < RM ? i : 0) * as);
#pragma GCC unroll 4
    for (int r = 0; r < RN; r++) {
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
        accm[r] = _mm512_setzero_ps();
    }
    for (int b = 0; b < nb; b++) {
        __m512i isum[4][4], sc8[4];
        __m128i mins8[4];
        float d[4], dmin[4];
#pragma GCC unroll 4
        for (int r = 0; r < RN; r++) {
            const uint8_t *blk = w + r * ws + b * bs;
            const char *pf = (const char *)blk + (size_t)MM_PF_TILES * RN * ws;
            for (size_t o = 0; o < bs; o += 64) _mm_prefetch(pf + o, _MM_HINT_T0);
            if (type == DT_Q6_K) {
                const struct block_q6_K *x6 = (const struct block_q6_K *)blk;
                d[r] = half_to_float(&x6->d);
                dmin[r] = 0;
                mins8[r] = _mm_setzero_si128();
                /* the 16 scales as int16 */
                sc8[r] = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x6->scales)));
            } else {
                const struct block_q4_K *x4 = (const struct block_q4_K *)blk;
                d[r] = half_to_float(&x4->d);
                dmin[r] = half_to_float(&x4->dmin);
                kq4_scales(x4->scales, &sc8[r], &mins8[r]);
            }
#pragma GCC unroll 4
            for (int i = 0; i < RM; i++) isum[r][i] = _mm512_setzero_si512();
        }
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) {
            __m512i q[4], sv[4];
            /* int16 lane l of the pair products covers elements 2l, 2l+1 of the step */
            const __m512i sidx = type == DT_Q6_K
                                     ? _mm512_add_epi16(_mm512_set1_epi16((short)(4 * g)),
                                                        _mm512_srli_epi16(_mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 3))
                                     : _mm512_mask_set1_epi16(_mm512_set1_epi16((short)(2 * g)), 0xFFFF0000u, (short)(2 * g + 1));
#pragma GCC unroll 4
            for (int r = 0; r < RN; r++) {
                const uint8_t *blk = w + r * ws + b * bs;
                if (type == DT_Q6_K) {
                    const struct block_q6_K *x6 = (const struct block_q6_K *)blk;
                    int h = g / 2, pair = g % 2;
                    __m512i ql = _mm512_loadu_si512((const void *)(x6->ql + h * 64));
                    __m256i qh = _mm256_loadu_si256((const __m256i *)(x6->qh + h * 32));
                    __m512i hq = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
                    __m512i lo = pair ? _mm512_and_si512(_mm512_srli_epi16(ql, 4), m4) : _mm512_and_si512(ql, m4);
                    if (pair) hq = _mm512_srli_epi16(hq, 4);
                    __m512i hi = _mm512_and_si512(_mm512_slli_epi16(hq, 4), _mm512_set1_epi8(0x30));
                    q[r] = _mm512_or_si512(lo, hi);
                } else {
                    const struct block_q4_K *x4 = (const struct block_q4_K *)blk;
                    const uint8_t *qs = type == DT_Q4_K ? x4->qs : ((const struct block_q5_K *)blk)->qs;
                    __m256i bytes = _mm256_loadu_si256((const __m256i *)(qs + g * 32));
                    q[r] = _mm512_and_si512(
                        _mm512_inserti64x4(_mm512_castsi256_si512(bytes), _mm256_srli_epi16(bytes, 4), 1), m4);
                    if (type == DT_Q5_K) {
                        __m256i qh = _mm256_loadu_si256((const __m256i *)((const struct block_q5_K *)blk)->qh);
                        __m512i hb = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi8((char)(1 << (2 * g)))),
                                                        _mm256_set1_epi8((char)(1 << (2 * g + 1))), 1);
                        __mmask64 mk = _mm512_test_epi8_mask(
                            _mm512_inserti64x4(_mm512_castsi256_si512(qh), qh, 1), hb);
                        q[r] = _mm512_mask_add_epi8(q[r], mk, q[r], _mm512_set1_epi8(16));
                    }
                }
                sv[r] = _mm512_permutexvar_epi16(sidx, sc8[r]);
            }
#pragma GCC unroll 4
            for (int i = 0; i < RM; i++) {
                __m512i xv = _mm512_loadu_si512((const void *)(ar[i][b].qs + 64 * g));
                /* q6_K's -32 goes in before the scale, per lane, as ggml does it */
                __m512i x32 = type == DT_Q6_K ? _mm512_maddubs_epi16(_mm512_set1_epi8(32), xv) : _mm512_setzero_si512();
#pragma GCC unroll 4
                for (int r = 0; r < RN; r++) {
                    __m512i p = _mm512_maddubs_epi16(q[r], xv);
                    if (type == DT_Q6_K) p = _mm512_sub_epi16(p, x32);
                    isum[r][i] = _mm512_dpwssd_epi32(isum[r][i], p, sv[r]);
                }
            }
        }
        /* activation scales of this super-block: [d(2p) x 8 | d(2p+1) x 8] per pair p,
         * and -d(i) in lane group i for the mins */
        __m512 dx[2];
        float dxs[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) dxs[i] = ar[i][b].d;
#pragma GCC unroll 2
        for (int p = 0; p < np; p++)
            dx[p] = _mm512_insertf32x8(_mm512_set1_ps(dxs[2 * p]), _mm256_set1_ps(dxs[2 * p + 1]), 1);
        __m512i xs32 = _mm512_setzero_si512();
        __m512 ndx = _mm512_setzero_ps();
        if (type != DT_Q6_K) {
            /* lane groups past RM stay zero: decode (RM = 1) sums one row, not four */
            __m128i s32[4];
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) s32[i] = i < RM ? q8k_sums32(&ar[i][b]) : _mm_setzero_si128();
            xs32 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(s32[1], s32[0])),
                                      _mm256_set_m128i(s32[3], s32[2]), 1);
            ndx = _mm512_insertf32x8(
                _mm512_castps256_ps512(_mm256_set_m128(_mm_set1_ps(-dxs[1]), _mm_set1_ps(-dxs[0]))),
                _mm256_set_m128(_mm_set1_ps(-dxs[3]), _mm_set1_ps(-dxs[2])), 1);
        }
#pragma GCC unroll 4
        for (int r = 0; r < RN; r++) {
            const __m512 dr = _mm512_set1_ps(d[r]);
#pragma GCC unroll 2
            for (int p = 0; p < np; p++) {
                /* lanes 8-15 are the second 32 of each step: adding them gives ggml's 8 lanes */
                __m512i A = isum[r][2 * p], B = 2 * p + 1 < RM ? isum[r][2 * p + 1] : A;
                __m512i is = _mm512_add_epi32(_mm512_shuffle_i64x2(A, B, _MM_SHUFFLE(1, 0, 1, 0)),
                                              _mm512_shuffle_i64x2(A, B, _MM_SHUFFLE(3, 2, 3, 2)));
                acc[r][p] = _mm512_fmadd_ps(_mm512_mul_ps(dx[p], dr), _mm512_cvtepi32_ps(is), acc[r][p]);
            }
            if (type == DT_Q6_K) continue;
            __m512i prod = _mm512_madd_epi16(_mm512_broadcast_i32x4(mins8[r]), xs32);
            __m512 dm = _mm512_mul_ps(ndx, _mm512_set1_ps(dmin[r]));
            if (type == DT_Q5_K) {
                /* one integer total per activation row, in every lane of its group */
                prod = _mm512_add_epi32(prod, _mm512_shuffle_epi32(prod, _MM_PERM_BADC));
                prod = _mm512_add_epi32(prod, _mm512_shuffle_epi32(prod, _MM_PERM_CDAB));
            }
            accm[r] = _mm512_fmadd_ps(dm, _mm512_cvtepi32_ps(prod), accm[r]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RN; r++) {
        float m16[16];
        _mm512_storeu_ps(m16, accm[r]);
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) {
            __m512 v = acc[r][i / 2];
            float s = hsum8(i % 2 ? _mm512_extractf32x8_ps(v, 1) : _mm512_castps512_ps256(v));
            if (type == DT_Q4_K) {
                __m128 m = _mm_loadu_ps(m16 + 4 * i);
                m = _mm_add_ps(m, _mm_movehl_ps(m, m));
                m = _mm_add_ss(m, _mm_movehdup_ps(m));
                s += _mm_cvtss_f32(m);
            } else if (type == DT_Q5_K) {
                s += m16[4 * i];
            }
            y[i * ys + r] = s;
        }
    }
}

#ifndef ZK_TN
#define ZK_TN 4
#endif
#ifndef ZK6_TN
#define ZK6_TN 4
#endif
MM_GEMM(z_gemm_q4_K_tiles, tileKz, DT_Q4_K, ZK_TN, 4, k / QK_K)
MM_GEMM(z_gemm_q5_K, tileKz, DT_Q5_K, ZK6_TN, 4, k / QK_K)
MM_GEMM(z_gemm_q6_K_tiles, tileKz, DT_Q6_K, ZK6_TN, 4, k / QK_K)

/* ------------------------------------------------- q4_K decode (one activation row)
 * tileKz with RM = 1 spends most of its time on per-row setup rather than on dots: the
 * 6-bit scales unpacked in scalar code, a permute per 64 quants for their int16
 * scale vector, and a float epilogue of shuffles for a single output. Here groups of
 * 4 weight rows share that work, per super-block:
 *  - the 16-byte heads (d, dmin, 12 packed scale bytes) of 4 rows are one zmm (one
 *    128-bit lane per row); the scales and mins of all 4 are unpacked at once with
 *    kq4_scales' 32-bit mask/shift steps;
 *  - a row's 128 quant bytes are 2 loads: low / high nibbles of bytes 0-31 of load v
 *    are sub-blocks 4v and 4v+1, of bytes 32-63 sub-blocks 4v+2 and 4v+3, so the
 *    activations are regrouped to match (4 shuffles shared by all rows) and each
 *    vpmaddubsw + vpdpwssd covers two sub-blocks; a scale vector is one vpshufb;
 *  - d x dx, dmin x -dx and the mins x activation-sums products of the 4 rows are
 *    one vector op each.
 * The int32 lanes are tileKz's (lane l: over the sub-blocks, scale x the dot of
 * elements 4l..4l+3, lanes 0-7 and 8-15 added at the end), and every output gets the
 * same float steps in the same order (acc += (dx * d) * lanes; accm += (-dx * dmin) *
 * prod; y = hsum8(acc) + hsum4(accm)), so results are bit-identical.
 * G groups of 4 rows (4G outputs y[0..4G-1]); x is the row's q8_K super-blocks. */
#ifndef Q4KD_PF
#define Q4KD_PF MM_PF_TILES
#endif
#define Q4KD_SC(a, b) \
    _mm512_inserti64x4(_mm512_set1_epi16((short)(0x8000 | (a))), _mm256_set1_epi16((short)(0x8000 | (b))), 1)
/* 128-bit lane r of v in all four lanes. The shuffle wants an immediate, which r is
 * only once the row loop is unrolled (-O2); spelled out so -O1 (the sanitizer build)
 * compiles it too. */
MM_INLINE __m512i lane_bcast(__m512i v, int r) {
    switch (r) {
    case 0: return _mm512_shuffle_i32x4(v, v, 0x00);
    case 1: return _mm512_shuffle_i32x4(v, v, 0x55);
    case 2: return _mm512_shuffle_i32x4(v, v, 0xAA);
    default: return _mm512_shuffle_i32x4(v, v, 0xFF);
    }
}

MM_INLINE void q4kd_tile(int G, int nb, const uint8_t *w, size_t ws, const struct block_q8_K *x, float *y) {
    const size_t bs = sizeof(struct block_q4_K);
    const __m512i m4 = _mm512_set1_epi8(0xF);
    /* on a row's unpacked head [8 scales, 8 mins] (bytes) in every 128-bit lane: the
     * int16 scale of the sub-block in the low 256 bits / in the high 256 bits */
    const __m512i cs[4] = {Q4KD_SC(0, 2), Q4KD_SC(1, 3), Q4KD_SC(4, 6), Q4KD_SC(5, 7)};
    /* per lane: that row's 8 mins as int16 */
    const __m512i cmin = _mm512_broadcast_i32x4(
        _mm_setr_epi8(8, -128, 9, -128, 10, -128, 11, -128, 12, -128, 13, -128, 14, -128, 15, -128));
    /* head halves: [d0 x8, d1 x8, d2 x8, d3 x8] and [dmin0 x4, .., dmin3 x4] */
    const __m512i id = _mm512_set_epi16(24, 24, 24, 24, 24, 24, 24, 24, 16, 16, 16, 16, 16, 16, 16, 16, 8, 8, 8, 8,
                                        8, 8, 8, 8, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i im = _mm512_set_epi16(25, 25, 25, 25, 17, 17, 17, 17, 9, 9, 9, 9, 1, 1, 1, 1, 25, 25, 25, 25, 17,
                                        17, 17, 17, 9, 9, 9, 9, 1, 1, 1, 1);
    const __m512i k2 = _mm512_set1_epi32(0x03030303);
    const __m512i klo = _mm512_set_epi32(0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f,
                                         0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f,
                                         0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f);
    const __m512i sh4 = _mm512_set_epi32(4, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0);
    __m512 acc[4], accm[2];
#pragma GCC unroll 4
    for (int p = 0; p < 2 * G; p++) acc[p] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int g = 0; g < G; g++) accm[g] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const struct block_q8_K *xb = x + b;
        __m512i X[4];
#pragma GCC unroll 2
        for (int v = 0; v < 2; v++) {
            __m512i A = _mm512_loadu_si512((const void *)(xb->qs + 128 * v));
            __m512i B = _mm512_loadu_si512((const void *)(xb->qs + 128 * v + 64));
            X[2 * v] = _mm512_shuffle_i64x2(A, B, _MM_SHUFFLE(1, 0, 1, 0));
            X[2 * v + 1] = _mm512_shuffle_i64x2(A, B, _MM_SHUFFLE(3, 2, 3, 2));
        }
        const __m512i xs = _mm512_broadcast_i32x4(q8k_sums32(xb));
        const __m512 dx = _mm512_set1_ps(xb->d), ndx = _mm512_set1_ps(-xb->d);
#pragma GCC unroll 2
        for (int g = 0; g < G; g++) {
            const uint8_t *blk = w + (size_t)(4 * g) * ws + (size_t)b * bs;
            /* lane r: row r's head; dwords [d|dmin, u0, u1, u2] -> unpacked as kq4_scales */
            __m512i H = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)blk));
            H = _mm512_mask_broadcast_i32x4(H, 0x00F0, _mm_loadu_si128((const __m128i *)(blk + ws)));
            H = _mm512_mask_broadcast_i32x4(H, 0x0F00, _mm_loadu_si128((const __m128i *)(blk + 2 * ws)));
            H = _mm512_mask_broadcast_i32x4(H, 0xF000, _mm_loadu_si128((const __m128i *)(blk + 3 * ws)));
            __m512i P = _mm512_shuffle_epi32(H, _MM_SHUFFLE(3, 2, 3, 1)); /* u0, u2, u1, u2 */
            __m512i Q = _mm512_shuffle_epi32(H, _MM_SHUFFLE(2, 2, 1, 1)); /* -, u0, -, u1 */
            __m512i S = _mm512_and_si512(_mm512_srlv_epi32(P, sh4), klo);
            S = _mm512_mask_or_epi32(S, 0xAAAA, S,
                                     _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(Q, 6), k2), 4));
            __m512i I[4];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                const uint8_t *rb = blk + (size_t)r * ws;
                const char *pf = (const char *)rb + (size_t)Q4KD_PF * 4 * G * ws;
                _mm_prefetch(pf, _MM_HINT_T0);
                _mm_prefetch(pf + 64, _MM_HINT_T0);
                _mm_prefetch(pf + 128, _MM_HINT_T0);
                const __m512i RS = lane_bcast(S, r);
                const __m512i q0 = _mm512_loadu_si512((const void *)(rb + 16));
                const __m512i q1 = _mm512_loadu_si512((const void *)(rb + 80));
                __m512i is = _mm512_dpwssd_epi32(_mm512_setzero_si512(),
                                                 _mm512_maddubs_epi16(_mm512_and_si512(q0, m4), X[0]),
                                                 _mm512_shuffle_epi8(RS, cs[0]));
                is = _mm512_dpwssd_epi32(is, _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(q0, 4), m4), X[1]),
                                         _mm512_shuffle_epi8(RS, cs[1]));
                is = _mm512_dpwssd_epi32(is, _mm512_maddubs_epi16(_mm512_and_si512(q1, m4), X[2]),
                                         _mm512_shuffle_epi8(RS, cs[2]));
                is = _mm512_dpwssd_epi32(is, _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(q1, 4), m4), X[3]),
                                         _mm512_shuffle_epi8(RS, cs[3]));
                I[r] = is;
            }
            const __m512i hd = _mm512_permutexvar_epi16(id, H), hm = _mm512_permutexvar_epi16(im, H);
            const __m512 D[2] = {_mm512_cvtph_ps(_mm512_castsi512_si256(hd)), _mm512_cvtph_ps(_mm512_extracti64x4_epi64(hd, 1))};
#pragma GCC unroll 2
            for (int p = 0; p < 2; p++) {
                /* [row 2p lanes 0-7 + 8-15 | row 2p+1 lanes 0-7 + 8-15] */
                __m512i A = I[2 * p], B = I[2 * p + 1];
                __m512i f = _mm512_add_epi32(_mm512_shuffle_i64x2(A, B, _MM_SHUFFLE(1, 0, 1, 0)),
                                             _mm512_shuffle_i64x2(A, B, _MM_SHUFFLE(3, 2, 3, 2)));
                acc[2 * g + p] = _mm512_fmadd_ps(_mm512_mul_ps(dx, D[p]), _mm512_cvtepi32_ps(f), acc[2 * g + p]);
            }
            __m512i prod = _mm512_madd_epi16(_mm512_shuffle_epi8(S, cmin), xs);
            __m512 dm = _mm512_mul_ps(ndx, _mm512_cvtph_ps(_mm512_castsi512_si256(hm)));
            accm[g] = _mm512_fmadd_ps(dm, _mm512_cvtepi32_ps(prod), accm[g]);
        }
    }
#pragma GCC unroll 2
    for (int g = 0; g < G; g++) {
        float a16[2][16], m16[16];
        _mm512_storeu_ps(a16[0], acc[2 * g]);
        _mm512_storeu_ps(a16[1], acc[2 * g + 1]);
        _mm512_storeu_ps(m16, accm[g]);
        for (int r = 0; r < 4; r++) {
            const float *l = a16[r / 2] + 8 * (r % 2), *m = m16 + 4 * r;
            /* hsum8 and kq_result's hsum4, spelled out in their order */
            float s = ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
            y[4 * g + r] = s + ((m[0] + m[2]) + (m[1] + m[3]));
        }
    }
}

static void z_gemm_q4_K(int k, const void *w, size_t ws, int nr, const void *a, size_t as, int mr, float *y,
                        size_t ys) {
    if (mr != 1) {
        z_gemm_q4_K_tiles(k, w, ws, nr, a, as, mr, y, ys);
        return;
    }
    const uint8_t *wb = w;
    int r0 = 0;
    for (; r0 + 8 <= nr; r0 += 8) q4kd_tile(2, k / QK_K, wb + (size_t)r0 * ws, ws, a, y + r0);
    for (; r0 + 4 <= nr; r0 += 4) q4kd_tile(1, k / QK_K, wb + (size_t)r0 * ws, ws, a, y + r0);
    if (r0 < nr) z_gemm_q4_K_tiles(k, wb + (size_t)r0 * ws, ws, nr - r0, a, as, 1, y + r0, ys);
}

/* ------------------------------------------------- q6_K decode (one activation row)
 * As q4kd_tile for q6_K (the output matrix of most Q4_K_M files): groups of 4 weight
 * rows, each row's 64 ql bytes loaded once for both nibble steps, the activations'
 * x32 terms (the -32 of ggml, per lane before the scale) made once per super-block
 * for all rows, and d x dx and the lane fold done for two rows per vector op. The
 * int32 lanes and the per-output float steps are tileKz's: bit-identical results.
 * G groups of 4 rows (4G outputs y[0..4G-1]); x is the row's q8_K super-blocks. */
MM_INLINE void q6kd_tile(int G, int nb, const uint8_t *w, size_t ws, const struct block_q8_K *x, float *y) {
    const size_t bs = sizeof(struct block_q6_K);
    const __m512i m4 = _mm512_set1_epi8(0xF), m30 = _mm512_set1_epi8(0x30);
    /* int16 lane l of step g covers elements 2l, 2l+1: scale 4g + l / 8 */
    const __m512i lane8 = _mm512_srli_epi16(
        _mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8,
                         7, 6, 5, 4, 3, 2, 1, 0),
        3);
    const __m512i dsel[2] = {_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                             _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2)};
    __m512 acc[4];
#pragma GCC unroll 4
    for (int p = 0; p < 2 * G; p++) acc[p] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const struct block_q8_K *xb = x + b;
        __m512i X[4], X32[4];
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) {
            X[g] = _mm512_loadu_si512((const void *)(xb->qs + 64 * g));
            X32[g] = _mm512_maddubs_epi16(_mm512_set1_epi8(32), X[g]);
        }
        const __m512 dx = _mm512_set1_ps(xb->d);
#pragma GCC unroll 2
        for (int g = 0; g < G; g++) {
            const uint8_t *blk = w + (size_t)(4 * g) * ws + (size_t)b * bs;
            __m512i I[4];
            uint16_t hd[4];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                const struct block_q6_K *x6 = (const struct block_q6_K *)(blk + (size_t)r * ws);
                const char *pf = (const char *)x6 + (size_t)Q4KD_PF * 4 * G * ws;
                _mm_prefetch(pf, _MM_HINT_T0);
                _mm_prefetch(pf + 64, _MM_HINT_T0);
                _mm_prefetch(pf + 128, _MM_HINT_T0);
                _mm_prefetch(pf + 192, _MM_HINT_T0);
                memcpy(&hd[r], &x6->d, 2);
                const __m512i sc = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x6->scales)));
                __m512i is = _mm512_setzero_si512();
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                    const __m512i ql = _mm512_loadu_si512((const void *)(x6->ql + 64 * h));
                    const __m256i qh = _mm256_loadu_si256((const __m256i *)(x6->qh + 32 * h));
                    const __m512i hq = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
                    /* steps 2h (low nibbles, qh bits 0-3) and 2h+1 (high nibbles, bits 4-7) */
                    const __m512i q0 = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(_mm512_slli_epi16(hq, 4), m30));
                    const __m512i q1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), _mm512_and_si512(hq, m30));
                    const __m512i s0 = _mm512_permutexvar_epi16(_mm512_add_epi16(lane8, _mm512_set1_epi16((short)(8 * h))), sc);
                    const __m512i s1 = _mm512_permutexvar_epi16(_mm512_add_epi16(lane8, _mm512_set1_epi16((short)(8 * h + 4))), sc);
                    is = _mm512_dpwssd_epi32(is, _mm512_sub_epi16(_mm512_maddubs_epi16(q0, X[2 * h]), X32[2 * h]), s0);
                    is = _mm512_dpwssd_epi32(is, _mm512_sub_epi16(_mm512_maddubs_epi16(q1, X[2 * h + 1]), X32[2 * h + 1]), s1);
                }
                I[r] = is;
            }
            const __m512 d4 = _mm512_castps128_ps512(
                _mm_cvtph_ps(_mm_setr_epi16((short)hd[0], (short)hd[1], (short)hd[2], (short)hd[3], 0, 0, 0, 0)));
#pragma GCC unroll 2
            for (int p = 0; p < 2; p++) {
                __m512i A = I[2 * p], B = I[2 * p + 1];
                __m512i f = _mm512_add_epi32(_mm512_shuffle_i64x2(A, B, _MM_SHUFFLE(1, 0, 1, 0)),
                                             _mm512_shuffle_i64x2(A, B, _MM_SHUFFLE(3, 2, 3, 2)));
                acc[2 * g + p] = _mm512_fmadd_ps(_mm512_mul_ps(dx, _mm512_permutexvar_ps(dsel[p], d4)),
                                                 _mm512_cvtepi32_ps(f), acc[2 * g + p]);
            }
        }
    }
#pragma GCC unroll 4
    for (int p = 0; p < 2 * G; p++) {
        y[2 * p] = hsum8(_mm512_castps512_ps256(acc[p]));
        y[2 * p + 1] = hsum8(_mm512_extractf32x8_ps(acc[p], 1));
    }
}

static void z_gemm_q6_K(int k, const void *w, size_t ws, int nr, const void *a, size_t as, int mr, float *y,
                        size_t ys) {
    if (mr != 1) {
        z_gemm_q6_K_tiles(k, w, ws, nr, a, as, mr, y, ys);
        return;
    }
    const uint8_t *wb = w;
    int r0 = 0;
    for (; r0 + 8 <= nr; r0 += 8) q6kd_tile(2, k / QK_K, wb + (size_t)r0 * ws, ws, a, y + r0);
    for (; r0 + 4 <= nr; r0 += 4) q6kd_tile(1, k / QK_K, wb + (size_t)r0 * ws, ws, a, y + r0);
    if (r0 < nr) z_gemm_q6_K_tiles(k, wb + (size_t)r0 * ws, ws, nr - r0, a, as, 1, y + r0, ys);
}

/* ------------------------------------------------- BF16 weights with AVX512_BF16
 * vdpbf16ps multiplies 32 bf16 pairs and adds them into 16 f32 lanes in one go; the
 * products of two bf16 values are exact in f32, so only the summation order differs
 * from the scalar path. The k % 32 tail goes through masked loads (zeros add nothing). */
MM_INLINE void tileBF16z(int type, int RN, int RM, int k, const uint8_t *w, size_t ws, const uint8_t *a,
                         size_t as, float *y, size_t ys) {
    (void)type;
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < RN; r++)
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) acc[r][i] = _mm512_setzero_ps();
    for (int e = 0; e < k; e += 32) {
        __mmask32 mk = k - e >= 32 ? (__mmask32)~0u : (__mmask32)((1u << (k - e)) - 1);
        __m512bh wv[4];
#pragma GCC unroll 4
        for (int r = 0; r < RN; r++) {
            const uint16_t *row = (const uint16_t *)(w + r * ws) + e;
            _mm_prefetch((const char *)row + (size_t)MM_PF_TILES * RN * ws, _MM_HINT_T0);
            wv[r] = (__m512bh)_mm512_maskz_loadu_epi16(mk, row);
        }
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) {
            __m512bh xv = (__m512bh)_mm512_maskz_loadu_epi16(mk, (const uint16_t *)(a + i * as) + e);
#pragma GCC unroll 4
            for (int r = 0; r < RN; r++) acc[r][i] = _mm512_dpbf16_ps(acc[r][i], wv[r], xv);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RN; r++)
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) y[i * ys + r] = _mm512_reduce_add_ps(acc[r][i]);
}

MM_GEMM(z_gemm_bf16, tileBF16z, DT_BF16, 4, 4, k)

/* ------------------------------------------------- F16 weights, llamafile's order
 * llama.cpp multiplies f16 weights by f16-rounded activations with tinyBLAS: one
 * 16-lane FMA accumulator per output over k in steps of 16, _mm512_reduce_add_ps at
 * the end. Doing the same keeps our sums bit-identical to its. k % 16 != 0 (which
 * tinyBLAS refuses) takes the 256-bit kernel over f16 activations. The activations come
 * as MM_ACT_F16F: the f16-rounded values widened to floats once per call, not in every
 * tile that reads them; the same sums in the same order. */
MM_INLINE void tileF16zf(int type, int RN, int RM, int k, const uint8_t *w, size_t ws, const uint8_t *a,
                         size_t as, float *y, size_t ys) {
    (void)type;
    __m512 acc[8][4];
#pragma GCC unroll 8
    for (int r = 0; r < RN; r++)
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) acc[r][i] = _mm512_setzero_ps();
    for (int e = 0; e < k; e += 16) {
        __m512 wv[8];
#pragma GCC unroll 8
        for (int r = 0; r < RN; r++) {
            const uint16_t *row = (const uint16_t *)(w + r * ws) + e;
            _mm_prefetch((const char *)row + (size_t)MM_PF_TILES * 4 * ws, _MM_HINT_T0);
            wv[r] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)row));
        }
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) {
            __m512 xv = _mm512_loadu_ps((const float *)(a + i * as) + e);
#pragma GCC unroll 8
            for (int r = 0; r < RN; r++) acc[r][i] = _mm512_fmadd_ps(wv[r], xv, acc[r][i]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < RN; r++)
#pragma GCC unroll 4
        for (int i = 0; i < RM; i++) y[i * ys + r] = _mm512_reduce_add_ps(acc[r][i]);
}

MM_GEMM(z_gemm_f16f_k16, tileF16zf, DT_F16, 4, 4, k)

/* F16 weights, MM_ACT_F16F activations, k % 16 == 0 */
static void z_gemm_f16f(int k, const void *w, size_t ws, int nr, const void *a, size_t as, int mr, float *y,
                        size_t ys) {
    if (mr != 1) {
        z_gemm_f16f_k16(k, w, ws, nr, a, as, mr, y, ys);
        return;
    }
    int r0 = 0;
    for (; r0 + 8 <= nr; r0 += 8) tileF16zf(DT_F16, 8, 1, k, (const uint8_t *)w + (size_t)r0 * ws, ws, a, as, y + r0, ys);
    if (r0 < nr) z_gemm_f16f_k16(k, (const uint8_t *)w + (size_t)r0 * ws, ws, nr - r0, a, as, 1, y + r0, ys);
}

/* Same arithmetic as quant_q8a (cvtps rounds to nearest even like its nearest_int),
 * so results do not depend on which path quantized the activations. */
void matmul_avx512_quant_q8z(int type, const float *x, void *out, int k) {
    const int nb = k / QK, sh = z_offset_shift(type);
    uint8_t *o = out;
    for (int b = 0; b < nb; b += 2, o += MM_Q8Z_PAIR_BYTES) {
        float d[2] = {0, 0};
        __m256i init[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int h = 0; h < 2; h++) {
            int8_t *qs = (int8_t *)o + 32 * h;
            if (b + h >= nb) {
                memset(qs, 0, 32);
                continue;
            }
            const float *xb = x + (size_t)(b + h) * QK;
            __m512 v0 = _mm512_loadu_ps(xb), v1 = _mm512_loadu_ps(xb + 16);
            float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
            __m512 id = _mm512_set1_ps(amax ? 127.f / amax : 0.f);
            __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, id)), i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, id));
            _mm_storeu_si128((__m128i *)qs, _mm512_cvtepi32_epi8(i0));
            _mm_storeu_si128((__m128i *)(qs + 16), _mm512_cvtepi32_epi8(i1));
            d[h] = fp16_to_fp32(fp32_to_fp16(amax / 127.f));
            /* the weights carry +offset per element: take offset * (sum of each 4 quants)
             * off again in every lane, so each lane's dot is the true one (as ggml's) */
            __m256i q = _mm256_loadu_si256((const __m256i *)qs);
            __m256i s4 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), q);
            init[h] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(s4, sh));
        }
        const __m512i idx = Z_IDX(0, 1);
        _mm512_store_ps((void *)(o + 64), _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(_mm_setr_ps(d[0], d[1], 0, 0))));
        _mm512_store_si512((void *)(o + 128), _mm512_inserti64x4(_mm512_castsi256_si512(init[0]), init[1], 1));
    }
}

/* quant_q8K on 16 lanes, the same bytes: amax is the largest |x| (a NaN never wins,
 * as the scalar > never takes one), max the first element of that size, the quants
 * nearest_int(iscale * x) capped at 127 and cast to int8, the per-16 sums exact. */
void matmul_avx512_quant_q8K(const float *x, struct block_q8_K *y, int64_t n) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        __m512 v[16], m = _mm512_setzero_ps();
#pragma GCC unroll 16
        for (int c = 0; c < 16; c++) {
            v[c] = _mm512_loadu_ps(x + 16 * c);
            m = _mm512_max_ps(_mm512_andnot_ps(sign, v[c]), m); /* NaN in the first operand: m kept */
        }
        const float amax = _mm512_reduce_max_ps(m);
        if (!amax) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float max = 0;
        for (int c = 0; c < 16; c++) {
            __mmask16 hit = _mm512_cmp_ps_mask(_mm512_andnot_ps(sign, v[c]), _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (hit) {
                max = x[16 * c + __builtin_ctz(hit)];
                break;
            }
        }
        const float iscale = -127.f / max;
        const __m512 is = _mm512_set1_ps(iscale);
#pragma GCC unroll 16
        for (int c = 0; c < 16; c++) {
            /* nearest_int's own steps, so even a NaN's payload comes out the same */
            __m512i b = _mm512_castps_si512(_mm512_add_ps(_mm512_mul_ps(is, v[c]), _mm512_set1_ps(12582912.f)));
            __m512i q = _mm512_sub_epi32(_mm512_and_si512(b, _mm512_set1_epi32(0x007fffff)), _mm512_set1_epi32(0x00400000));
            /* imin(127, .) (a NaN's payload can give up to 2^22 - 1 here) and the int8
             * cast, which keeps the low byte; the sums add the stored int8 values */
            q = _mm512_srai_epi32(_mm512_slli_epi32(_mm512_min_epi32(q, _mm512_set1_epi32(127)), 24), 24);
            _mm_storeu_si128((__m128i *)(y[i].qs + 16 * c), _mm512_cvtepi32_epi8(q));
            y[i].bsums[c] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        y[i].d = 1 / iscale;
    }
}

mm_gemm_fn matmul_avx512_kernel(int type, int64_t k, enum mm_act *act) {
    switch (type) {
    case DT_Q8_0: *act = MM_ACT_Q8Z; return z_gemm_q8_0;
    case DT_Q4_0: *act = MM_ACT_Q8Z; return z_gemm_q4_0;
    case DT_Q5_0: *act = MM_ACT_Q8Z; return z_gemm_q5_0;
    case DT_Q4_K: return z_gemm_q4_K;
    case DT_Q5_K: return z_gemm_q5_K;
    case DT_Q6_K: return z_gemm_q6_K;
    case DT_BF16: return cpu_features()->avx512bf16 ? z_gemm_bf16 : x86_kernel(type);
    case DT_F16:
        if (k % 16) return x86_kernel(type);
        *act = MM_ACT_F16F;
        return z_gemm_f16f;
    default: return x86_kernel(type);
    }
}

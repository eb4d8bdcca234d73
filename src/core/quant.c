/* Weight types in scalar C: dequantize_row and quantize_row for every type we support
 * (quantizers follow llama.cpp's reference ones so our files match theirs), the
 * activation quantizers, and the reference integer dot products. */
#include "core/quant.h"

#include <math.h>
#include <string.h>

#include "core/cpu.h"
#include "core/dtype.h"
#include "core/fp16.h"
#include "core/matmul.h"
#include "core/matmul_kern.h"

#define GROUP_MAX_EPS 1e-15f

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

/* Round to nearest, ties to even, as ggml's nearest_int does (|x| < 2^22). */
static inline int nearest_int(float f) {
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* ---------------------------------------------------------------- dequantize */

static void deq_q4_0(const struct block_q4_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = fp16_to_fp32(b[i].d);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = ((b[i].qs[j] & 0xF) - 8) * d;
            y[j + QK / 2] = ((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void deq_q4_1(const struct block_q4_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (b[i].qs[j] & 0xF) * d + m;
            y[j + QK / 2] = (b[i].qs[j] >> 4) * d + m;
        }
    }
}

/* The fifth bit of element j sits in bit j of the little-endian 32-bit qh. */
static inline uint32_t load_qh(const uint8_t *qh) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

static void deq_q5_0(const struct block_q5_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = fp16_to_fp32(b[i].d);
        uint32_t qh = load_qh(b[i].qh);
        for (int j = 0; j < QK / 2; j++) {
            int x0 = (b[i].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
            int x1 = (b[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
            y[j] = (x0 - 16) * d;
            y[j + QK / 2] = (x1 - 16) * d;
        }
    }
}

static void deq_q5_1(const struct block_q5_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
        uint32_t qh = load_qh(b[i].qh);
        for (int j = 0; j < QK / 2; j++) {
            int x0 = (b[i].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
            int x1 = (b[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
            y[j] = x0 * d + m;
            y[j + QK / 2] = x1 * d + m;
        }
    }
}

static void deq_q8_0(const struct block_q8_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = fp16_to_fp32(b[i].d);
        for (int j = 0; j < QK; j++) y[j] = b[i].qs[j] * d;
    }
}

/* q4_K: 8 sub-blocks of 32; byte l of each 32-byte group holds sub-block 2g in its low
 * nibble and sub-block 2g+1 in its high nibble. value = d*sc*q - dmin*m. */
static void deq_q4_K(const struct block_q4_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int g = 0; g < 4; g++, q += 32) {
            uint8_t sc, m;
            quant_scale_min_k4(2 * g, b[i].scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            quant_scale_min_k4(2 * g + 1, b[i].scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

/* q5_K: as q4_K plus a fifth bit: qh[l] bit 2g is for sub-block 2g, bit 2g+1 for 2g+1. */
static void deq_q5_K(const struct block_q5_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
        const uint8_t *ql = b[i].qs, *qh = b[i].qh;
        for (int g = 0; g < 4; g++, ql += 32) {
            uint8_t sc, m;
            quant_scale_min_k4(2 * g, b[i].scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            quant_scale_min_k4(2 * g + 1, b[i].scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0xF) + (((qh[l] >> (2 * g)) & 1) << 4)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + (((qh[l] >> (2 * g + 1)) & 1) << 4)) - m2;
        }
    }
}

/* q6_K: two halves of 128; in each, ql[l] / ql[l+32] hold low nibbles of elements
 * l, l+32 (low) and l+64, l+96 (high); qh[l] holds their 2 high bits, in that order.
 * One int8 scale per 16 elements; value = d * scale * (q - 32). */
static void deq_q6_K(const struct block_q6_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = fp16_to_fp32(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int h = 0; h < 2; h++, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

/* q2_K / q3_K element e = 128h + 32s + l (half h, bit pair s, byte l): its 2 low bits. */
static inline int q2_bits(const uint8_t *qs, int e) { return (qs[32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3; }

static void deq_q2_K(const struct block_q2_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += QK_K) {
        float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
        for (int e = 0; e < QK_K; e++) {
            uint8_t sc = b[i].scales[e / 16];
            y[e] = d * (sc & 0xF) * q2_bits(b[i].qs, e) - dmin * (sc >> 4);
        }
    }
}

/* q3_K element e: the 2 low bits as q2_K's, minus 4 where its hmask bit is clear. */
static inline int q3_value(const struct block_q3_K *b, int e) {
    int hbit = (b->hmask[e % 32] >> (e / 32)) & 1;
    return q2_bits(b->qs, e) - (hbit ? 0 : 4);
}

static void deq_q3_K(const struct block_q3_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += QK_K) {
        float d = fp16_to_fp32(b[i].d);
        int8_t sc[16];
        quant_scales_q3_K(b[i].scales, sc);
        for (int e = 0; e < QK_K; e++) y[e] = d * sc[e / 16] * q3_value(&b[i], e);
    }
}

const int8_t quant_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
/* E2M1 doubled: sign bit 3, then 0, 0.5, 1, 1.5, 2, 3, 4, 6 times two */
const int8_t quant_kvalues_mxfp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

/* The 4-bit index of element j (0..31) of a 16-byte nibble array in iq4_nl/mxfp4 order. */
static inline int nib32(const uint8_t *qs, int j) { return j < 16 ? qs[j] & 0xF : qs[j - 16] >> 4; }

static void deq_iq4_nl(const struct block_iq4_nl *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = fp16_to_fp32(b[i].d);
        for (int j = 0; j < QK; j++) y[j] = d * quant_kvalues_iq4nl[nib32(b[i].qs, j)];
    }
}

static inline int iq4_xs_scale(const struct block_iq4_xs *b, int ib) {
    return (((b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((b->scales_h >> (2 * ib)) & 3) << 4)) - 32;
}

static void deq_iq4_xs(const struct block_iq4_xs *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        float d = fp16_to_fp32(b[i].d);
        for (int ib = 0; ib < QK_K / 32; ib++, y += 32) {
            float dl = d * iq4_xs_scale(&b[i], ib);
            for (int j = 0; j < 32; j++) y[j] = dl * quant_kvalues_iq4nl[nib32(b[i].qs + 16 * ib, j)];
        }
    }
}

static void deq_mxfp4(const struct block_mxfp4 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += QK) {
        float d = quant_e8m0_half(b[i].e);
        for (int j = 0; j < QK; j++) y[j] = quant_kvalues_mxfp4[nib32(b[i].qs, j)] * d;
    }
}

int dequantize_row(int type, const void *row, float *out, int64_t n) {
    const struct dtype_info *t = dtype_info(type);
    if (!t || !t->supported || n < 0 || n % t->block) return -1;
    int64_t nb = n / t->block;
    switch (type) {
    case DT_F32: memcpy(out, row, (size_t)n * 4); return 0;
    case DT_F16: {
        const uint16_t *h = row;
        if (cpu_level() >= CPU_AVX2) matmul_avx2_from_f16(h, out, n);
        else for (int64_t i = 0; i < n; i++) out[i] = fp16_to_fp32(h[i]);
        return 0;
    }
    case DT_BF16: {
        const uint16_t *h = row;
        for (int64_t i = 0; i < n; i++) out[i] = bf16_to_fp32(h[i]);
        return 0;
    }
    case DT_Q4_0: deq_q4_0(row, out, nb); return 0;
    case DT_Q4_1: deq_q4_1(row, out, nb); return 0;
    case DT_Q5_0: deq_q5_0(row, out, nb); return 0;
    case DT_Q5_1: deq_q5_1(row, out, nb); return 0;
    case DT_Q8_0: deq_q8_0(row, out, nb); return 0;
    case DT_Q4_K: deq_q4_K(row, out, nb); return 0;
    case DT_Q5_K: deq_q5_K(row, out, nb); return 0;
    case DT_Q6_K: deq_q6_K(row, out, nb); return 0;
    case DT_Q2_K: deq_q2_K(row, out, nb); return 0;
    case DT_Q3_K: deq_q3_K(row, out, nb); return 0;
    case DT_IQ4_NL: deq_iq4_nl(row, out, nb); return 0;
    case DT_IQ4_XS: deq_iq4_xs(row, out, nb); return 0;
    case DT_MXFP4: deq_mxfp4(row, out, nb); return 0;
    case DT_IQ2_XXS: quant_deq_iq2_xxs(row, out, nb); return 0;
    case DT_IQ3_XXS: quant_deq_iq3_xxs(row, out, nb); return 0;
    case DT_IQ2_XS: quant_deq_iq2_xs(row, out, nb); return 0;
    case DT_IQ2_S: quant_deq_iq2_s(row, out, nb); return 0;
    case DT_IQ3_S: quant_deq_iq3_s(row, out, nb); return 0;
    default: return -1;
    }
}

/* ---------------------------------------------------------------- quantize */

static void q_q4_0(const float *x, struct block_q4_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK; j++)
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        float d = max / -8, id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        for (int j = 0; j < QK / 2; j++) {
            int x0 = imin(15, (int8_t)(x[j] * id + 8.5f));
            int x1 = imin(15, (int8_t)(x[j + QK / 2] * id + 8.5f));
            y[i].qs[j] = (uint8_t)(x0 | x1 << 4);
        }
    }
}

static void q_q4_1(const float *x, struct block_q4_1 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK) {
        float min = x[0], max = x[0];
        for (int j = 1; j < QK; j++) { min = fminf(min, x[j]); max = fmaxf(max, x[j]); }
        float d = (max - min) / 15, id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        y[i].m = fp32_to_fp16(min);
        for (int j = 0; j < QK / 2; j++) {
            int x0 = imin(15, (int8_t)((x[j] - min) * id + 0.5f));
            int x1 = imin(15, (int8_t)((x[j + QK / 2] - min) * id + 0.5f));
            y[i].qs[j] = (uint8_t)(x0 | x1 << 4);
        }
    }
}

static void q_q5_0(const float *x, struct block_q5_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK; j++)
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        float d = max / -16, id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK / 2; j++) {
            int x0 = imin(31, (int8_t)(x[j] * id + 16.5f));
            int x1 = imin(31, (int8_t)(x[j + QK / 2] * id + 16.5f));
            y[i].qs[j] = (uint8_t)((x0 & 0xF) | (x1 & 0xF) << 4);
            qh |= (uint32_t)((x0 >> 4) & 1) << j;
            qh |= (uint32_t)((x1 >> 4) & 1) << (j + 16);
        }
        for (int k = 0; k < 4; k++) y[i].qh[k] = (uint8_t)(qh >> (8 * k));
    }
}

static void q_q5_1(const float *x, struct block_q5_1 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK) {
        float min = x[0], max = x[0];
        for (int j = 1; j < QK; j++) { min = fminf(min, x[j]); max = fmaxf(max, x[j]); }
        float d = (max - min) / 31, id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        y[i].m = fp32_to_fp16(min);
        uint32_t qh = 0;
        for (int j = 0; j < QK / 2; j++) {
            int x0 = (int8_t)((x[j] - min) * id + 0.5f);
            int x1 = (int8_t)((x[j + QK / 2] - min) * id + 0.5f);
            y[i].qs[j] = (uint8_t)((x0 & 0xF) | (x1 & 0xF) << 4);
            qh |= (uint32_t)((x0 >> 4) & 1) << j;
            qh |= (uint32_t)((x1 >> 4) & 1) << (j + 16);
        }
        for (int k = 0; k < 4; k++) y[i].qh[k] = (uint8_t)(qh >> (8 * k));
    }
}

static void q_q8_0(const float *x, struct block_q8_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK) {
        float amax = 0;
        for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127, id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        for (int j = 0; j < QK; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

/* Fits L[i] in [0, nmax] and a scale/min to x under weights, trying nstep+1 slightly
 * different scales and keeping the one with the least weighted error (llama.cpp's
 * make_qkx2_quants). Returns the scale; *the_min receives -min (>= 0). */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min,
                           float rmin, float rdelta, int nstep) {
    uint8_t Laux[32];
    float min = x[0], max = x[0], sum_w = w[0], sum_x = w[0] * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min), scale = 1 / iscale, best = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)imax(0, imin(nmax, l));
        float diff = scale * L[i] + min - x[i];
        best += w[i] * diff * diff;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = imax(0, imin(nmax, nearest_int(iscale * (x[i] - min))));
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float err = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                err += w[i] * diff * diff;
            }
            if (err < best) {
                memcpy(L, Laux, (size_t)n);
                best = err;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* Shared by q4_K and q5_K: per-sub-block scale/min fit, packing the 6-bit scales,
 * then requantizing with the rounded scales. L receives values in [0, nmax]. */
static void q_k4_scales(const float *x, int nmax, float rmin, int nstep, uint16_t *d_out, uint16_t *dmin_out,
                        uint8_t scales_out[12], uint8_t L[QK_K]) {
    float mins[8], scales[8], w[32], max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = fit_scale_min(32, nmax, x + 32 * j, w, L + 32 * j, &mins[j], rmin, 0.1f, nstep);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    memset(scales_out, 0, 12);
    for (int j = 0; j < 8; j++) {
        uint8_t ls = (uint8_t)imin(63, nearest_int(inv_scale * scales[j]));
        uint8_t lm = (uint8_t)imin(63, nearest_int(inv_min * mins[j]));
        if (j < 4) {
            scales_out[j] = ls;
            scales_out[j + 4] = lm;
        } else {
            scales_out[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            scales_out[j - 4] |= (uint8_t)((ls >> 4) << 6);
            scales_out[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d_out = fp32_to_fp16(max_scale / 63.f);
    *dmin_out = fp32_to_fp16(max_min / 63.f);
    float dd = fp16_to_fp32(*d_out), dm = fp16_to_fp32(*dmin_out);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        quant_scale_min_k4(j, scales_out, &sc, &m);
        float d = dd * sc;
        if (!d) continue;
        float mm = dm * m;
        for (int ii = 0; ii < 32; ii++)
            L[32 * j + ii] = (uint8_t)imax(0, imin(nmax, nearest_int((x[32 * j + ii] + mm) / d)));
    }
}

static void q_q4_K(const float *x, struct block_q4_K *y, int64_t nb) {
    uint8_t L[QK_K];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        q_k4_scales(x, 15, -1.f, 20, &y[i].d, &y[i].dmin, y[i].scales, L);
        uint8_t *q = y[i].qs;
        for (int j = 0; j < QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

static void q_q5_K(const float *x, struct block_q5_K *y, int64_t nb) {
    uint8_t L[QK_K];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        q_k4_scales(x, 31, -0.5f, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
        uint8_t *ql = y[i].qs, *qh = y[i].qh;
        memset(qh, 0, QK_K / 8);
        for (int g = 0; g < 4; g++, ql += 32) {
            for (int l = 0; l < 32; l++) {
                int l1 = L[64 * g + l], l2 = L[64 * g + l + 32];
                qh[l] |= (uint8_t)(((l1 >> 4) << (2 * g)) | ((l2 >> 4) << (2 * g + 1)));
                ql[l] = (uint8_t)((l1 & 0xF) | ((l2 & 0xF) << 4));
            }
        }
    }
}

/* Symmetric fit of 16 values to [-nmax, nmax-1] with x²-weighted least squares over
 * 19 candidate scales (llama.cpp's make_qx_quants with rmse_type 1). L gets q + nmax. */
static float fit_scale_sym(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) { amax = fabsf(x[i]); max = x[i]; }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max, sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i])));
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, nearest_int(iscale * x[i]))));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

static void q_q6_K(const float *x, struct block_q6_K *y, int64_t nb) {
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float max_scale = 0, max_abs = 0;
        for (int ib = 0; ib < QK_K / 16; ib++) {
            scales[ib] = fit_scale_sym(16, 32, x + 16 * ib, L + 16 * ib);
            if (fabsf(scales[ib]) > max_abs) { max_abs = fabsf(scales[ib]); max_scale = scales[ib]; }
        }
        if (max_abs < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float iscale = -128.f / max_scale;
        y[i].d = fp32_to_fp16(1 / iscale);
        for (int ib = 0; ib < QK_K / 16; ib++) y[i].scales[ib] = (int8_t)imin(127, nearest_int(iscale * scales[ib]));
        for (int j = 0; j < QK_K / 16; j++) {
            float d = fp16_to_fp32(y[i].d) * y[i].scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++)
                L[16 * j + ii] = (int8_t)(imax(-32, imin(31, nearest_int(x[16 * j + ii] / d))) + 32);
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                int a = L[j + l], b = L[j + l + 32], c = L[j + l + 64], e = L[j + l + 96];
                ql[l] = (uint8_t)((a & 0xF) | ((c & 0xF) << 4));
                ql[l + 32] = (uint8_t)((b & 0xF) | ((e & 0xF) << 4));
                qh[l] = (uint8_t)((a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6));
            }
        }
    }
}

/* The quantizers below are omni's own (simple, deterministic fits; the goldens for these
 * types are made by the reference build on the files they write, see tests/golden). */

/* q2_K: per group of 16 an asymmetric fit (min at or below 0, 4 steps), the group scales
 * and mins quantized to 4 bits against the super-block's largest. */
static void q_q2_K(const float *x, struct block_q2_K *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float sc[16], mn[16], max_sc = 0, max_mn = 0;
        for (int g = 0; g < 16; g++) {
            float lo = 0, hi = 0;
            for (int l = 0; l < 16; l++) { lo = fminf(lo, x[16 * g + l]); hi = fmaxf(hi, x[16 * g + l]); }
            sc[g] = (hi - lo) / 3;
            mn[g] = -lo;
            max_sc = fmaxf(max_sc, sc[g]);
            max_mn = fmaxf(max_mn, mn[g]);
        }
        memset(&y[i], 0, sizeof y[i]);
        y[i].d = fp32_to_fp16(max_sc / 15);
        y[i].dmin = fp32_to_fp16(max_mn / 15);
        float d = fp16_to_fp32(y[i].d), dmin = fp16_to_fp32(y[i].dmin);
        for (int g = 0; g < 16; g++) {
            int ls = d > 0 ? imin(15, nearest_int(sc[g] / d)) : 0, lm = dmin > 0 ? imin(15, nearest_int(mn[g] / dmin)) : 0;
            y[i].scales[g] = (uint8_t)(ls | lm << 4);
            float dl = d * ls, ml = dmin * lm;
            for (int l = 0; l < 16; l++) {
                int e = 16 * g + l, q = dl > 0 ? imax(0, imin(3, nearest_int((x[e] + ml) / dl))) : 0;
                y[i].qs[32 * (e / 128) + e % 32] |= (uint8_t)(q << (2 * ((e / 32) % 4)));
            }
        }
    }
}

/* q3_K: per group of 16 a symmetric fit to -4..3 (the largest magnitude at -4), the group
 * scales quantized to signed 6 bits against the super-block's largest. */
static void q_q3_K(const float *x, struct block_q3_K *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float sc[16], max_sc = 0, amax_sc = 0;
        for (int g = 0; g < 16; g++) {
            float amax = 0, max = 0;
            for (int l = 0; l < 16; l++)
                if (fabsf(x[16 * g + l]) > amax) { amax = fabsf(x[16 * g + l]); max = x[16 * g + l]; }
            sc[g] = max / -4;
            if (fabsf(sc[g]) > amax_sc) { amax_sc = fabsf(sc[g]); max_sc = sc[g]; }
        }
        memset(&y[i], 0, sizeof y[i]);
        int ls[16] = {0};
        float d = 0;
        if (amax_sc > GROUP_MAX_EPS) {
            float iscale = -32 / max_sc;
            for (int g = 0; g < 16; g++) ls[g] = imax(-32, imin(31, nearest_int(iscale * sc[g])));
            y[i].d = fp32_to_fp16(1 / iscale);
            d = fp16_to_fp32(y[i].d);
        }
        for (int g = 0; g < 16; g++) {
            int l6 = ls[g] + 32;
            if (g < 8) y[i].scales[g] |= (uint8_t)(l6 & 0xF);
            else y[i].scales[g - 8] |= (uint8_t)((l6 & 0xF) << 4);
            y[i].scales[8 + g % 4] |= (uint8_t)((l6 >> 4) << (2 * (g / 4)));
            float dl = d * ls[g];
            for (int l = 0; l < 16; l++) {
                int e = 16 * g + l, q = dl != 0 ? imax(-4, imin(3, nearest_int(x[e] / dl))) + 4 : 4;
                y[i].qs[32 * (e / 128) + e % 32] |= (uint8_t)((q & 3) << (2 * ((e / 32) % 4)));
                if (q & 4) y[i].hmask[e % 32] |= (uint8_t)(1 << (e / 32));
            }
        }
    }
}

/* Index of the table entry nearest to v (the first of equals). */
static int nearest_entry(const int8_t *tab, float v) {
    int best = 0;
    float bd = fabsf(v - tab[0]);
    for (int k = 1; k < 16; k++)
        if (fabsf(v - tab[k]) < bd) { bd = fabsf(v - tab[k]); best = k; }
    return best;
}

/* 32 values to nibble indices of tab with scale d (qs as iq4_nl's). */
static void pack_nibbles(const int8_t *tab, const float *x, float d, uint8_t *qs) {
    float id = d != 0 ? 1 / d : 0;
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)(nearest_entry(tab, x[j] * id) | nearest_entry(tab, x[j + 16] * id) << 4);
}

/* iq4_nl: the block's largest magnitude on the table's -127 end, then nearest entries. */
static float iq4_block_scale(const float *x) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; j++)
        if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
    return max / quant_kvalues_iq4nl[0];
}

static void q_iq4_nl(const float *x, struct block_iq4_nl *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK) {
        y[i].d = fp32_to_fp16(iq4_block_scale(x));
        pack_nibbles(quant_kvalues_iq4nl, x, fp16_to_fp32(y[i].d), y[i].qs);
    }
}

/* iq4_xs: iq4_nl's per-32 scales quantized to signed 6 bits against the largest. */
static void q_iq4_xs(const float *x, struct block_iq4_xs *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float sc[8], max_sc = 0, amax_sc = 0;
        for (int ib = 0; ib < 8; ib++) {
            sc[ib] = iq4_block_scale(x + 32 * ib);
            if (fabsf(sc[ib]) > amax_sc) { amax_sc = fabsf(sc[ib]); max_sc = sc[ib]; }
        }
        memset(&y[i], 0, sizeof y[i]);
        float d = amax_sc > GROUP_MAX_EPS ? max_sc / -32 : 0;
        y[i].d = fp32_to_fp16(d);
        d = fp16_to_fp32(y[i].d);
        for (int ib = 0; ib < 8; ib++) {
            int ls = d != 0 ? imax(-32, imin(31, nearest_int(sc[ib] / d))) : 0;
            y[i].scales_l[ib / 2] |= (uint8_t)(((ls + 32) & 0xF) << (4 * (ib % 2)));
            y[i].scales_h |= (uint16_t)(((ls + 32) >> 4) << (2 * ib));
            pack_nibbles(quant_kvalues_iq4nl, x + 32 * ib, d * ls, y[i].qs + 16 * ib);
        }
    }
}

/* mxfp4: the shared exponent puts the largest magnitude in E2M1's top binade (4..6),
 * as the OCP MX specification's conversion does; then nearest E2M1 values. */
static void q_mxfp4(const float *x, struct block_mxfp4 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK) {
        float amax = 0;
        for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        int e = amax > 0 ? (int)floorf(log2f(amax)) - 2 + 127 : 0;
        y[i].e = (uint8_t)imax(0, imin(254, e));
        pack_nibbles(quant_kvalues_mxfp4, x, quant_e8m0_half(y[i].e), y[i].qs);
    }
}

size_t quantize_row(int type, const float *x, void *out, int64_t n) {
    const struct dtype_info *t = dtype_info(type);
    size_t bytes = dtype_row_bytes(type, n);
    if (!t || !bytes) return 0;
    int64_t nb = n / t->block;
    switch (type) {
    case DT_F32: memcpy(out, x, bytes); break;
    case DT_F16: for (int64_t i = 0; i < n; i++) ((uint16_t *)out)[i] = fp32_to_fp16(x[i]); break;
    case DT_BF16: for (int64_t i = 0; i < n; i++) ((uint16_t *)out)[i] = fp32_to_bf16(x[i]); break;
    case DT_Q4_0: q_q4_0(x, out, nb); break;
    case DT_Q4_1: q_q4_1(x, out, nb); break;
    case DT_Q5_0: q_q5_0(x, out, nb); break;
    case DT_Q5_1: q_q5_1(x, out, nb); break;
    case DT_Q8_0: q_q8_0(x, out, nb); break;
    case DT_Q4_K: q_q4_K(x, out, nb); break;
    case DT_Q5_K: q_q5_K(x, out, nb); break;
    case DT_Q6_K: q_q6_K(x, out, nb); break;
    case DT_Q2_K: q_q2_K(x, out, nb); break;
    case DT_Q3_K: q_q3_K(x, out, nb); break;
    case DT_IQ4_NL: q_iq4_nl(x, out, nb); break;
    case DT_IQ4_XS: q_iq4_xs(x, out, nb); break;
    case DT_MXFP4: q_mxfp4(x, out, nb); break;
    case DT_IQ2_XXS: quant_q_iq2_xxs(x, out, nb); break;
    case DT_IQ3_XXS: quant_q_iq3_xxs(x, out, nb); break;
    case DT_IQ2_XS: quant_q_iq2_xs(x, out, nb); break;
    case DT_IQ2_S: quant_q_iq2_s(x, out, nb); break;
    case DT_IQ3_S: quant_q_iq3_s(x, out, nb); break;
    default: return 0;
    }
    return bytes;
}

/* ---------------------------------------------------------------- activations */

void quant_q8a(const float *x, struct block_q8a *y, int64_t n) {
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax = 0;
        /* not fmaxf: that is a library call per element here (NaN rules), this is maxss */
        for (int j = 0; j < QK; j++) {
            float a = fabsf(x[j]);
            amax = a > amax ? a : amax;
        }
        float id = amax ? 127.f / amax : 0.f;
        int32_t sum = 0;
        for (int j = 0; j < QK; j++) {
            int q = nearest_int(x[j] * id);
            y[i].qs[j] = (int8_t)q;
            sum += q;
        }
        /* llama.cpp stores this scale as fp16; keep its rounding so results agree. */
        y[i].d = fp16_to_fp32(fp32_to_fp16(amax / 127.f));
        y[i].sum = sum;
        /* q8_1's s = d * sum is taken from the scale before its fp16 rounding, then stored as fp16 */
        y[i].s = fp16_to_fp32(fp32_to_fp16(amax / 127.f * (float)sum));
    }
}

void quant_q8K(const float *x, struct block_q8_K *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK_K; j++)
            if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
        if (!amax) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) y[i].qs[j] = (int8_t)imin(127, nearest_int(iscale * x[j]));
        for (int g = 0; g < QK_K / 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += y[i].qs[16 * g + l];
            y[i].bsums[g] = (int16_t)s;
        }
        y[i].d = 1 / iscale;
    }
}

/* ---------------------------------------------------------------- scalar dots */

float quant_dot_f32(int n, const void *w, const void *a) {
    const float *x = w, *y = a;
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)x[i] * y[i];
    return (float)s;
}

float quant_dot_f16(int n, const void *w, const void *a) {
    const uint16_t *x = w, *y = a;
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)(fp16_to_fp32(x[i]) * fp16_to_fp32(y[i]));
    return (float)s;
}

float quant_dot_bf16(int n, const void *w, const void *a) {
    const uint16_t *x = w, *y = a;
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)(bf16_to_fp32(x[i]) * bf16_to_fp32(y[i]));
    return (float)s;
}

float quant_dot_q4_0(int n, const void *w, const void *a) {
    const struct block_q4_0 *x = w;
    const struct block_q8a *y = a;
    float s = 0;
    for (int i = 0; i < n / QK; i++) {
        int sumi = 0;
        for (int j = 0; j < QK / 2; j++)
            sumi += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + QK / 2];
        s += sumi * fp16_to_fp32(x[i].d) * y[i].d;
    }
    return s;
}

/* The two types with a min, in the order of ggml_vec_dot_q4_1_q8_1 / q5_1_q8_1 (x86):
 * eight float lanes, lane l adding d_w * d_a times the integer dot of elements
 * 4l..4l+3 of each block with one fma, the min terms m * s summed apart with one fma
 * per block, then ggml's horizontal sum of the lanes plus the mins. The SIMD kernels
 * (matmul_x86.h) round the same way, bit for bit. */
static float min_type_result(const float *acc, float summs) {
    float r0 = acc[0] + acc[4], r1 = acc[1] + acc[5], r2 = acc[2] + acc[6], r3 = acc[3] + acc[7];
    return ((r0 + r2) + (r1 + r3)) + summs;
}

float quant_dot_q4_1(int n, const void *w, const void *a) {
    const struct block_q4_1 *x = w;
    const struct block_q8a *y = a;
    float acc[8] = {0}, summs = 0;
    for (int i = 0; i < n / QK; i++) {
        float dd = fp16_to_fp32(x[i].d) * y[i].d;
        summs = fmaf(fp16_to_fp32(x[i].m), y[i].s, summs);
        for (int l = 0; l < 8; l++) {
            int sumi = 0;
            for (int j = 4 * l; j < 4 * l + 4; j++)
                sumi += (j < QK / 2 ? x[i].qs[j] & 0xF : x[i].qs[j - QK / 2] >> 4) * y[i].qs[j];
            acc[l] = fmaf(dd, (float)sumi, acc[l]);
        }
    }
    return min_type_result(acc, summs);
}

float quant_dot_q5_0(int n, const void *w, const void *a) {
    const struct block_q5_0 *x = w;
    const struct block_q8a *y = a;
    float s = 0;
    for (int i = 0; i < n / QK; i++) {
        uint32_t qh = load_qh(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < QK / 2; j++) {
            int x0 = ((x[i].qs[j] & 0xF) | (((qh >> j) & 1) << 4)) - 16;
            int x1 = ((x[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
            sumi += x0 * y[i].qs[j] + x1 * y[i].qs[j + QK / 2];
        }
        s += sumi * fp16_to_fp32(x[i].d) * y[i].d;
    }
    return s;
}

float quant_dot_q5_1(int n, const void *w, const void *a) {
    const struct block_q5_1 *x = w;
    const struct block_q8a *y = a;
    float acc[8] = {0}, summs = 0;
    for (int i = 0; i < n / QK; i++) {
        uint32_t qh = load_qh(x[i].qh);
        float dd = fp16_to_fp32(x[i].d) * y[i].d;
        summs = fmaf(fp16_to_fp32(x[i].m), y[i].s, summs);
        for (int l = 0; l < 8; l++) {
            int sumi = 0;
            for (int j = 4 * l; j < 4 * l + 4; j++) {
                int q = (j < QK / 2 ? x[i].qs[j] & 0xF : x[i].qs[j - QK / 2] >> 4) | (((qh >> j) & 1) << 4);
                sumi += q * y[i].qs[j];
            }
            acc[l] = fmaf(dd, (float)sumi, acc[l]);
        }
    }
    return min_type_result(acc, summs);
}

float quant_dot_q8_0(int n, const void *w, const void *a) {
    const struct block_q8_0 *x = w;
    const struct block_q8a *y = a;
    float s = 0;
    for (int i = 0; i < n / QK; i++) {
        int sumi = 0;
        for (int j = 0; j < QK; j++) sumi += x[i].qs[j] * y[i].qs[j];
        s += sumi * fp16_to_fp32(x[i].d) * y[i].d;
    }
    return s;
}

/* K-quant dots: the integer part sums sc_j * dot(q_j, y_j) per sub-block; the min part
 * uses the activation's bsums so the weights' offsets never enter the inner loop. */
float quant_dot_q4_K(int n, const void *w, const void *a) {
    const struct block_q4_K *x = w;
    const struct block_q8_K *y = a;
    float s = 0;
    for (int i = 0; i < n / QK_K; i++) {
        int sumi = 0, summ = 0;
        const uint8_t *q = x[i].qs;
        const int8_t *q8 = y[i].qs;
        for (int g = 0; g < 4; g++, q += 32, q8 += 64) {
            uint8_t sc1, m1, sc2, m2;
            quant_scale_min_k4(2 * g, x[i].scales, &sc1, &m1);
            quant_scale_min_k4(2 * g + 1, x[i].scales, &sc2, &m2);
            int d1 = 0, d2 = 0;
            for (int l = 0; l < 32; l++) {
                d1 += (q[l] & 0xF) * q8[l];
                d2 += (q[l] >> 4) * q8[l + 32];
            }
            sumi += sc1 * d1 + sc2 * d2;
            summ += m1 * (y[i].bsums[4 * g] + y[i].bsums[4 * g + 1]) + m2 * (y[i].bsums[4 * g + 2] + y[i].bsums[4 * g + 3]);
        }
        s += y[i].d * (fp16_to_fp32(x[i].d) * sumi - fp16_to_fp32(x[i].dmin) * summ);
    }
    return s;
}

float quant_dot_q5_K(int n, const void *w, const void *a) {
    const struct block_q5_K *x = w;
    const struct block_q8_K *y = a;
    float s = 0;
    for (int i = 0; i < n / QK_K; i++) {
        int sumi = 0, summ = 0;
        const uint8_t *q = x[i].qs, *qh = x[i].qh;
        const int8_t *q8 = y[i].qs;
        for (int g = 0; g < 4; g++, q += 32, q8 += 64) {
            uint8_t sc1, m1, sc2, m2;
            quant_scale_min_k4(2 * g, x[i].scales, &sc1, &m1);
            quant_scale_min_k4(2 * g + 1, x[i].scales, &sc2, &m2);
            int d1 = 0, d2 = 0;
            for (int l = 0; l < 32; l++) {
                d1 += ((q[l] & 0xF) | (((qh[l] >> (2 * g)) & 1) << 4)) * q8[l];
                d2 += ((q[l] >> 4) | (((qh[l] >> (2 * g + 1)) & 1) << 4)) * q8[l + 32];
            }
            sumi += sc1 * d1 + sc2 * d2;
            summ += m1 * (y[i].bsums[4 * g] + y[i].bsums[4 * g + 1]) + m2 * (y[i].bsums[4 * g + 2] + y[i].bsums[4 * g + 3]);
        }
        s += y[i].d * (fp16_to_fp32(x[i].d) * sumi - fp16_to_fp32(x[i].dmin) * summ);
    }
    return s;
}

float quant_dot_q6_K(int n, const void *w, const void *a) {
    const struct block_q6_K *x = w;
    const struct block_q8_K *y = a;
    float s = 0;
    for (int i = 0; i < n / QK_K; i++) {
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales, *q8 = y[i].qs;
        int sumi = 0;
        for (int h = 0; h < 2; h++, ql += 64, qh += 32, sc += 8, q8 += 128) {
            int acc[8] = {0};
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                acc[is + 0] += (((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32) * q8[l];
                acc[is + 2] += (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32) * q8[l + 32];
                acc[is + 4] += (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * q8[l + 64];
                acc[is + 6] += (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * q8[l + 96];
            }
            for (int k = 0; k < 8; k++) sumi += sc[k] * acc[k];
        }
        s += fp16_to_fp32(x[i].d) * y[i].d * sumi;
    }
    return s;
}

/* ---------------------------------------------------------------- dots of the types with
 * bit-identical SIMD kernels, in llama.cpp's x86 order (see quant.h) */

/* lanes[l] += scale(chunk, l) * dot of elements 32c + 4l .. +3, over the 8 chunks; wq(e)
 * is weight element e as an integer, sc(g) the scale of 16-element group g. */
#define CHUNK_LANES(lanes, wq, sc, q8)                                                  \
    for (int c = 0; c < 8; c++)                                                         \
        for (int l = 0; l < 8; l++) {                                                   \
            int dot4 = 0;                                                               \
            for (int t = 0; t < 4; t++) dot4 += (wq(32 * c + 4 * l + t)) * (q8)[32 * c + 4 * l + t]; \
            (lanes)[l] += (sc(2 * c + l / 4)) * dot4;                                   \
        }

float quant_dot_q2_K(int n, const void *w, const void *a) {
    const struct block_q2_K *x = w;
    const struct block_q8_K *y = a;
    float acc[8] = {0};
    for (int i = 0; i < n / QK_K; i++) {
        int lanes[8] = {0}, mins[8];
#define Q2W(e) q2_bits(x[i].qs, e)
#define Q2S(g) (x[i].scales[g] & 0xF)
        CHUNK_LANES(lanes, Q2W, Q2S, y[i].qs)
        for (int l = 0; l < 8; l++)
            mins[l] = (x[i].scales[2 * l] >> 4) * y[i].bsums[2 * l] + (x[i].scales[2 * l + 1] >> 4) * y[i].bsums[2 * l + 1];
        quant_lanes_fma(acc, -y[i].d * fp16_to_fp32(x[i].dmin), mins);
        quant_lanes_fma(acc, y[i].d * fp16_to_fp32(x[i].d), lanes);
    }
    return quant_lanes8_sum(acc);
}

float quant_dot_q3_K(int n, const void *w, const void *a) {
    const struct block_q3_K *x = w;
    const struct block_q8_K *y = a;
    float acc[8] = {0};
    for (int i = 0; i < n / QK_K; i++) {
        int8_t sc[16];
        int lanes[8] = {0};
        quant_scales_q3_K(x[i].scales, sc);
#define Q3W(e) q3_value(&x[i], e)
#define Q3S(g) sc[g]
        CHUNK_LANES(lanes, Q3W, Q3S, y[i].qs)
        quant_lanes_fma(acc, y[i].d * fp16_to_fp32(x[i].d), lanes);
    }
    return quant_lanes8_sum(acc);
}

float quant_dot_iq4_xs(int n, const void *w, const void *a) {
    const struct block_iq4_xs *x = w;
    const struct block_q8_K *y = a;
    float acc[8] = {0};
    for (int i = 0; i < n / QK_K; i++) {
        int lanes[8] = {0};
#define IXW(e) quant_kvalues_iq4nl[nib32(x[i].qs + 16 * ((e) / 32), (e) % 32)]
#define IXS(g) iq4_xs_scale(&x[i], (g) / 2)
        CHUNK_LANES(lanes, IXW, IXS, y[i].qs)
        quant_lanes_fma(acc, fp16_to_fp32(x[i].d) * y[i].d, lanes);
    }
    return quant_lanes8_sum(acc);
}

/* Lanes of one 32-block of iq4_nl/mxfp4 nibbles against a q8a block. */
static void nib32_lanes(const int8_t *tab, const uint8_t *qs, const int8_t *q8, int *lanes) {
    for (int l = 0; l < 8; l++) {
        lanes[l] = 0;
        for (int j = 4 * l; j < 4 * l + 4; j++) lanes[l] += tab[nib32(qs, j)] * q8[j];
    }
}

/* iq4_nl: one accumulator, d_w * d_a (tinyBLAS's order, which llama.cpp uses for it) */
float quant_dot_iq4_nl(int n, const void *w, const void *a) {
    const struct block_iq4_nl *x = w;
    const struct block_q8a *y = a;
    float acc[8] = {0};
    int lanes[8];
    for (int i = 0; i < n / QK; i++) {
        nib32_lanes(quant_kvalues_iq4nl, x[i].qs, y[i].qs, lanes);
        quant_lanes_fma(acc, fp16_to_fp32(x[i].d) * y[i].d, lanes);
    }
    return quant_lanes8_sum(acc);
}

/* mxfp4: even and odd blocks in two accumulators, d_a * d_w; an odd last block is added
 * after the horizontal sum, as ggml_vec_dot_mxfp4_q8_0 does. */
float quant_dot_mxfp4(int n, const void *w, const void *a) {
    const struct block_mxfp4 *x = w;
    const struct block_q8a *y = a;
    float acc[2][8] = {{0}}, sum[8];
    int lanes[8], nb = n / QK, i = 0;
    for (; i + 1 < nb; i += 2)
        for (int h = 0; h < 2; h++) {
            nib32_lanes(quant_kvalues_mxfp4, x[i + h].qs, y[i + h].qs, lanes);
            quant_lanes_fma(acc[h], y[i + h].d * quant_e8m0_half(x[i + h].e), lanes);
        }
    for (int l = 0; l < 8; l++) sum[l] = acc[0][l] + acc[1][l];
    float s = quant_lanes8_sum(sum);
    if (i < nb) {
        nib32_lanes(quant_kvalues_mxfp4, x[i].qs, y[i].qs, lanes);
        int sumi = 0;
        for (int l = 0; l < 8; l++) sumi += lanes[l];
        s += y[i].d * quant_e8m0_half(x[i].e) * (float)sumi;
    }
    return s;
}

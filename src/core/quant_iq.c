/* The grid types (here IQ2_XXS, IQ2_XS and IQ3_XXS): dequantization, a quantizer of our own and the
 * scalar reference dot against q8_K, in the order of llama.cpp's AVX2 kernel (see
 * quant.h). The grid is a fixed constant of the GGUF format: 256 points of 8 magnitudes
 * each drawn from {8, 25, 43}; we store each point as 8 base-4 digits (digit j: the
 * index of magnitude j) and expand them at compile time. Signs: 7 bits per group of 8
 * stored, the eighth making the number of minus signs even. */
#include <math.h>
#include <string.h>

#include "core/fp16.h"
#include "core/quant.h"

#define M(i) ((uint64_t)((i) == 0 ? 8 : (i) == 1 ? 25 : 43))
#define G(c)                                                                                          \
    (M((c) & 3) | M((c) >> 2 & 3) << 8 | M((c) >> 4 & 3) << 16 | M((c) >> 6 & 3) << 24 |             \
     M((c) >> 8 & 3) << 32 | M((c) >> 10 & 3) << 40 | M((c) >> 12 & 3) << 48 | M((c) >> 14 & 3) << 56)

const uint64_t quant_iq2xxs_grid[256] = {
    G(0x0000), G(0x0002), G(0x0005), G(0x0008), G(0x000a), G(0x0011), G(0x0014), G(0x0020), G(0x0022), G(0x0028), G(0x002a), G(0x0041),
    G(0x0044), G(0x0050), G(0x0058), G(0x0061), G(0x0064), G(0x0080), G(0x0082), G(0x008a), G(0x00a2), G(0x0101), G(0x0104), G(0x0110),
    G(0x0115), G(0x0140), G(0x0184), G(0x0198), G(0x0200), G(0x0202), G(0x0222), G(0x0282), G(0x0401), G(0x0404), G(0x0410), G(0x0421),
    G(0x0424), G(0x0440), G(0x0442), G(0x0448), G(0x0460), G(0x0481), G(0x0484), G(0x0490), G(0x04a4), G(0x0500), G(0x0502), G(0x0508),
    G(0x0520), G(0x0546), G(0x0569), G(0x0580), G(0x0591), G(0x0609), G(0x0610), G(0x0640), G(0x0684), G(0x06a4), G(0x0800), G(0x0805),
    G(0x0808), G(0x0814), G(0x0828), G(0x0841), G(0x0844), G(0x0850), G(0x0852), G(0x0888), G(0x0904), G(0x0940), G(0x0a02), G(0x0a14),
    G(0x1001), G(0x1004), G(0x1010), G(0x1021), G(0x1040), G(0x1060), G(0x1084), G(0x1090), G(0x1095), G(0x1100), G(0x1108), G(0x1120),
    G(0x1150), G(0x115a), G(0x1180), G(0x1224), G(0x1245), G(0x1400), G(0x1408), G(0x1420), G(0x1425), G(0x1449), G(0x1480), G(0x1518),
    G(0x1562), G(0x1600), G(0x1616), G(0x1801), G(0x1804), G(0x1810), G(0x1840), G(0x1881), G(0x1900), G(0x1905), G(0x19a0), G(0x1a51),
    G(0x2000), G(0x2002), G(0x200a), G(0x2044), G(0x2061), G(0x2080), G(0x2082), G(0x2129), G(0x2148), G(0x2200), G(0x2202), G(0x2401),
    G(0x2404), G(0x2410), G(0x2440), G(0x2456), G(0x2500), G(0x2541), G(0x2564), G(0x2690), G(0x2808), G(0x2820), G(0x2894), G(0x2a44),
    G(0x4001), G(0x4004), G(0x4010), G(0x4018), G(0x4021), G(0x4024), G(0x4040), G(0x4048), G(0x4056), G(0x4060), G(0x4081), G(0x4084),
    G(0x4090), G(0x4100), G(0x4120), G(0x4161), G(0x4180), G(0x4185), G(0x4201), G(0x4210), G(0x4248), G(0x4256), G(0x4268), G(0x4400),
    G(0x4408), G(0x4420), G(0x4480), G(0x4499), G(0x4512), G(0x4524), G(0x4600), G(0x4801), G(0x4804), G(0x4810), G(0x4840), G(0x4845),
    G(0x4900), G(0x4958), G(0x4961), G(0x4982), G(0x4a45), G(0x4a90), G(0x5000), G(0x5008), G(0x5011), G(0x5019), G(0x5020), G(0x5080),
    G(0x5088), G(0x5104), G(0x5142), G(0x51a4), G(0x5291), G(0x5490), G(0x5492), G(0x550a), G(0x5601), G(0x5654), G(0x5800), G(0x5811),
    G(0x5819), G(0x5864), G(0x5940), G(0x5a08), G(0x6004), G(0x6010), G(0x6040), G(0x6068), G(0x6100), G(0x6155), G(0x6218), G(0x6260),
    G(0x6400), G(0x6405), G(0x6510), G(0x6512), G(0x6584), G(0x6842), G(0x8000), G(0x8002), G(0x800a), G(0x8041), G(0x8082), G(0x8104),
    G(0x8118), G(0x8140), G(0x8211), G(0x8401), G(0x8404), G(0x8410), G(0x8415), G(0x8440), G(0x8460), G(0x8500), G(0x8546), G(0x8594),
    G(0x8609), G(0x8640), G(0x8660), G(0x8802), G(0x8904), G(0x8a11), G(0x9004), G(0x9010), G(0x9024), G(0x9040), G(0x90a1), G(0x9116),
    G(0x9180), G(0x9245), G(0x9400), G(0x9422), G(0x9444), G(0x9551), G(0x9881), G(0x9920), G(0xa002), G(0xa050), G(0xa085), G(0xa109),
    G(0xa200), G(0xa418), G(0xa850), G(0xa904),
};

/* Sign byte of a group from its 7 stored bits: bit 7 set when those hold an odd count. */
#define PAR(i) (((i) ^ (i) >> 1 ^ (i) >> 2 ^ (i) >> 3 ^ (i) >> 4 ^ (i) >> 5 ^ (i) >> 6) & 1)
#define KS(i) ((i) | PAR(i) << 7)
#define SB(i, j) ((uint64_t)((KS(i) >> (j)) & 1 ? 0xFF : 0x01) << (8 * (j)))
#define S(i) (SB(i, 0) | SB(i, 1) | SB(i, 2) | SB(i, 3) | SB(i, 4) | SB(i, 5) | SB(i, 6) | SB(i, 7))

/* Per stored sign index, 8 bytes of +1 (0x01) or -1 (0xFF): _mm256_sign_epi8 operands. */
const uint64_t quant_iq2_signs64[128] = {
    S(0), S(1), S(2), S(3), S(4), S(5), S(6), S(7), S(8), S(9), S(10), S(11), S(12), S(13), S(14), S(15),
    S(16), S(17), S(18), S(19), S(20), S(21), S(22), S(23), S(24), S(25), S(26), S(27), S(28), S(29), S(30), S(31),
    S(32), S(33), S(34), S(35), S(36), S(37), S(38), S(39), S(40), S(41), S(42), S(43), S(44), S(45), S(46), S(47),
    S(48), S(49), S(50), S(51), S(52), S(53), S(54), S(55), S(56), S(57), S(58), S(59), S(60), S(61), S(62), S(63),
    S(64), S(65), S(66), S(67), S(68), S(69), S(70), S(71), S(72), S(73), S(74), S(75), S(76), S(77), S(78), S(79),
    S(80), S(81), S(82), S(83), S(84), S(85), S(86), S(87), S(88), S(89), S(90), S(91), S(92), S(93), S(94), S(95),
    S(96), S(97), S(98), S(99), S(100), S(101), S(102), S(103), S(104), S(105), S(106), S(107), S(108), S(109), S(110), S(111),
    S(112), S(113), S(114), S(115), S(116), S(117), S(118), S(119), S(120), S(121), S(122), S(123), S(124), S(125), S(126), S(127),
};

static inline uint32_t load32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Element e (0..255) of an iq2_xxs block as grid magnitude times sign (+-8..43), and the
 * 4-bit scale of its sub-block. Sub-block ib: 4 grid indices (bytes 8ib..8ib+3 of qs),
 * then a 32-bit word of 4 x 7 sign bits and the scale in its top 4 bits. */
static inline int iq2xxs_value(const uint8_t *qs, int e) {
    const uint8_t *q = qs + 8 * (e / 32);
    int g = (e % 32) / 8, j = e % 8;
    int mag = (int)(quant_iq2xxs_grid[q[g]] >> (8 * j) & 0xFF);
    int sign = KS((load32(q + 4) >> (7 * g)) & 127) >> j & 1;
    return sign ? -mag : mag;
}

void quant_deq_iq2_xxs(const void *src, float *y, int64_t nb) {
    const struct block_iq2_xxs *b = src;
    for (int64_t i = 0; i < nb; i++) {
        float d = fp16_to_fp32(b[i].d);
        const uint8_t *qs = (const uint8_t *)b[i].qs;
        for (int ib = 0; ib < 8; ib++, y += 32) {
            float db = d * (0.5f + (float)(load32(qs + 8 * ib + 4) >> 28)) * 0.25f;
            for (int j = 0; j < 32; j++) y[j] = db * (float)iq2xxs_value(qs, 32 * ib + j);
        }
    }
}

float quant_dot_iq2_xxs(int n, const void *w, const void *a) {
    const struct block_iq2_xxs *x = w;
    const struct block_q8_K *y = a;
    float acc[8] = {0};
    for (int i = 0; i < n / QK_K; i++) {
        const uint8_t *qs = (const uint8_t *)x[i].qs;
        int lanes[8] = {0};
        for (int ib = 0; ib < 8; ib++) {
            int ls = 2 * (int)(load32(qs + 8 * ib + 4) >> 28) + 1;
            for (int l = 0; l < 8; l++) {
                int dot4 = 0;
                for (int t = 0; t < 4; t++) {
                    int e = 32 * ib + 4 * l + t;
                    dot4 += iq2xxs_value(qs, e) * y[i].qs[e];
                }
                lanes[l] += ls * dot4;
            }
        }
        quant_lanes_fma(acc, fp16_to_fp32(x[i].d) * y[i].d, lanes);
    }
    return 0.125f * quant_lanes8_sum(acc);
}

/* Ours, simple: per sub-block the scale that puts its largest magnitude on 43, those
 * scales on a 4-bit grid of (2ls + 1) / 8 steps of d; per group of 8 the signs of x (the
 * smallest magnitude flipped when the count of minus signs is odd) and the grid point
 * nearest to the magnitudes (least squares over all 256). */
void quant_q_iq2_xxs(const float *x, void *dst, int64_t nb) {
    struct block_iq2_xxs *yb = dst;
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float sc[8], max_sc = 0;
        for (int ib = 0; ib < 8; ib++) {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * ib + j]));
            sc[ib] = amax / 43;
            max_sc = fmaxf(max_sc, sc[ib]);
        }
        memset(&yb[i], 0, sizeof yb[i]);
        yb[i].d = fp32_to_fp16(max_sc * 8 / 31);
        float d = fp16_to_fp32(yb[i].d);
        uint8_t *qs = (uint8_t *)yb[i].qs;
        for (int ib = 0; ib < 8; ib++) {
            int ls = 0;
            if (d > 0) {
                ls = (int)floorf((sc[ib] / d * 8 - 1) / 2 + 0.5f);
                ls = ls < 0 ? 0 : ls > 15 ? 15 : ls;
            }
            float db = d * (0.5f + (float)ls) * 0.25f;
            uint32_t aux1 = (uint32_t)ls << 28;
            for (int g = 0; g < 4; g++) {
                const float *xg = x + 32 * ib + 8 * g;
                float t[8];
                int neg = 0, kmin = 0;
                for (int j = 0; j < 8; j++) {
                    if (xg[j] < 0) neg |= 1 << j;
                    if (fabsf(xg[j]) < fabsf(xg[kmin])) kmin = j;
                }
                int flip = __builtin_popcount((unsigned)neg) & 1;
                if (flip) neg ^= 1 << kmin;
                for (int j = 0; j < 8; j++) {
                    float m = db > 0 ? fabsf(xg[j]) / db : 0;
                    t[j] = flip && j == kmin ? -m : m;
                }
                int best = 0;
                float berr = INFINITY;
                for (int k = 0; k < 256; k++) {
                    float err = 0;
                    for (int j = 0; j < 8; j++) {
                        float dv = (float)(quant_iq2xxs_grid[k] >> (8 * j) & 0xFF) - t[j];
                        err += dv * dv;
                    }
                    if (err < berr) { berr = err; best = k; }
                }
                qs[8 * ib + g] = (uint8_t)best;
                aux1 |= (uint32_t)(neg & 127) << (7 * g);
            }
            for (int k = 0; k < 4; k++) qs[8 * ib + 4 + k] = (uint8_t)(aux1 >> (8 * k));
        }
    }
}

/* ---- IQ3_XXS: 256 points of 4 magnitudes from {4, 12, 20, 28, 36, 44, 52, 62}, each
 * point stored as 4 base-8 digits. Block: d, 64 grid indices (8 per sub-block of 32),
 * then per sub-block a 32-bit word of 4 x 7 sign bits and the 4-bit scale ls in bits
 * 28..31. value = d * (2ls + 1) / 4 * grid * sign. */
#define M3(i) ((uint32_t)((i) == 7 ? 62 : 4 + 8 * (i)))
#define H(c) (M3((c) & 7) | M3((c) >> 3 & 7) << 8 | M3((c) >> 6 & 7) << 16 | M3((c) >> 9 & 7) << 24)

const uint32_t quant_iq3xxs_grid[256] = {
    H(0x000), H(0x002), H(0x004), H(0x009), H(0x00b), H(0x00f), H(0x010), H(0x012), H(0x019), H(0x022), H(0x03b), H(0x03d),
    H(0x041), H(0x043), H(0x048), H(0x04a), H(0x051), H(0x055), H(0x058), H(0x05a), H(0x061), H(0x06c), H(0x078), H(0x080),
    H(0x082), H(0x084), H(0x089), H(0x090), H(0x092), H(0x099), H(0x09b), H(0x09f), H(0x0a9), H(0x0af), H(0x0bd), H(0x0c1),
    H(0x0c7), H(0x0c8), H(0x0ca), H(0x0d5), H(0x0f8), H(0x10b), H(0x11f), H(0x124), H(0x12f), H(0x13b), H(0x13d), H(0x141),
    H(0x147), H(0x15a), H(0x16a), H(0x19d), H(0x1b4), H(0x1c8), H(0x1cc), H(0x1ce), H(0x1e3), H(0x1f1), H(0x201), H(0x203),
    H(0x208), H(0x20a), H(0x211), H(0x213), H(0x218), H(0x21a), H(0x21c), H(0x227), H(0x228), H(0x240), H(0x242), H(0x249),
    H(0x250), H(0x252), H(0x281), H(0x283), H(0x288), H(0x28a), H(0x291), H(0x298), H(0x2ba), H(0x2c0), H(0x2c2), H(0x2d0),
    H(0x2d9), H(0x2e6), H(0x2f6), H(0x301), H(0x305), H(0x328), H(0x350), H(0x354), H(0x366), H(0x379), H(0x385), H(0x3d2),
    H(0x3e0), H(0x400), H(0x402), H(0x409), H(0x40b), H(0x410), H(0x412), H(0x416), H(0x419), H(0x422), H(0x441), H(0x443),
    H(0x445), H(0x448), H(0x44a), H(0x451), H(0x458), H(0x473), H(0x477), H(0x478), H(0x480), H(0x482), H(0x489), H(0x48f),
    H(0x490), H(0x492), H(0x49f), H(0x4a0), H(0x4ad), H(0x4c1), H(0x4c8), H(0x4cc), H(0x4f8), H(0x4fc), H(0x51d), H(0x52b),
    H(0x543), H(0x557), H(0x561), H(0x57c), H(0x5c1), H(0x5c3), H(0x5ce), H(0x5e5), H(0x601), H(0x608), H(0x60a), H(0x611),
    H(0x613), H(0x628), H(0x635), H(0x63a), H(0x640), H(0x642), H(0x650), H(0x659), H(0x664), H(0x666), H(0x681), H(0x683),
    H(0x688), H(0x695), H(0x6aa), H(0x6ba), H(0x6c9), H(0x6db), H(0x718), H(0x727), H(0x73a), H(0x740), H(0x746), H(0x752),
    H(0x76d), H(0x78c), H(0x79e), H(0x7b3), H(0x7db), H(0x7f0), H(0x804), H(0x80f), H(0x81d), H(0x81f), H(0x82b), H(0x82f),
    H(0x87c), H(0x890), H(0x89f), H(0x8a0), H(0x8b0), H(0x8b6), H(0x8c7), H(0x8e5), H(0x904), H(0x929), H(0x934), H(0x955),
    H(0x963), H(0x978), H(0x9c5), H(0x9c8), H(0x9ca), H(0x9d8), H(0xa0a), H(0xa21), H(0xa38), H(0xa40), H(0xa46), H(0xa56),
    H(0xa6d), H(0xa8c), H(0xa9a), H(0xaba), H(0xac2), H(0xaeb), H(0xb08), H(0xb13), H(0xb17), H(0xb3a), H(0xb42), H(0xb59),
    H(0xba8), H(0xbd4), H(0xbe2), H(0xc14), H(0xc24), H(0xc26), H(0xc34), H(0xc51), H(0xc71), H(0xc8f), H(0xcb4), H(0xcd8),
    H(0xcde), H(0xd24), H(0xd45), H(0xd6a), H(0xd9b), H(0xdc3), H(0xdd1), H(0xe03), H(0xe05), H(0xe07), H(0xe08), H(0xe1a),
    H(0xe2a), H(0xe56), H(0xe60), H(0xe8a), H(0xea5), H(0xeaa), H(0xec0), H(0xecd), H(0xedb), H(0xef0), H(0xf11), H(0xf21),
    H(0xf40), H(0xf42), H(0xf54), H(0xf98),
};

static inline int iq3xxs_value(const uint8_t *qs, int e) {
    int ib = e / 32, g = (e % 32) / 8, j = e % 8;
    int mag = (int)(quant_iq3xxs_grid[qs[8 * ib + 2 * g + j / 4]] >> (8 * (j % 4)) & 0xFF);
    int sign = KS((load32(qs + 64 + 4 * ib) >> (7 * g)) & 127) >> j & 1;
    return sign ? -mag : mag;
}

void quant_deq_iq3_xxs(const void *src, float *y, int64_t nb) {
    const struct block_iq3_xxs *b = src;
    for (int64_t i = 0; i < nb; i++) {
        float d = fp16_to_fp32(b[i].d);
        for (int ib = 0; ib < 8; ib++, y += 32) {
            float db = d * (0.5f + (float)(load32(b[i].qs + 64 + 4 * ib) >> 28)) * 0.5f;
            for (int j = 0; j < 32; j++) y[j] = db * (float)iq3xxs_value(b[i].qs, 32 * ib + j);
        }
    }
}

float quant_dot_iq3_xxs(int n, const void *w, const void *a) {
    const struct block_iq3_xxs *x = w;
    const struct block_q8_K *y = a;
    float acc[8] = {0};
    for (int i = 0; i < n / QK_K; i++) {
        int lanes[8] = {0};
        for (int ib = 0; ib < 8; ib++) {
            int ls = 2 * (int)(load32(x[i].qs + 64 + 4 * ib) >> 28) + 1;
            for (int l = 0; l < 8; l++) {
                int dot4 = 0;
                for (int t = 0; t < 4; t++) {
                    int e = 32 * ib + 4 * l + t;
                    dot4 += iq3xxs_value(x[i].qs, e) * y[i].qs[e];
                }
                lanes[l] += ls * dot4;
            }
        }
        quant_lanes_fma(acc, fp16_to_fp32(x[i].d) * y[i].d, lanes);
    }
    return 0.25f * quant_lanes8_sum(acc);
}

/* Ours, as quant_q_iq2_xxs: sub-block scales putting the largest magnitude on 62, parity
 * signs per group of 8, and per half-group of 4 the nearest of the 256 points. */
void quant_q_iq3_xxs(const float *x, void *dst, int64_t nb) {
    struct block_iq3_xxs *yb = dst;
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float sc[8], max_sc = 0;
        for (int ib = 0; ib < 8; ib++) {
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * ib + j]));
            sc[ib] = amax / 62;
            max_sc = fmaxf(max_sc, sc[ib]);
        }
        memset(&yb[i], 0, sizeof yb[i]);
        yb[i].d = fp32_to_fp16(max_sc * 4 / 31);
        float d = fp16_to_fp32(yb[i].d);
        for (int ib = 0; ib < 8; ib++) {
            int ls = 0;
            if (d > 0) {
                ls = (int)floorf((sc[ib] / d * 4 - 1) / 2 + 0.5f);
                ls = ls < 0 ? 0 : ls > 15 ? 15 : ls;
            }
            float db = d * (0.5f + (float)ls) * 0.5f;
            uint32_t aux = (uint32_t)ls << 28;
            for (int g = 0; g < 4; g++) {
                const float *xg = x + 32 * ib + 8 * g;
                float t[8];
                int neg = 0, kmin = 0;
                for (int j = 0; j < 8; j++) {
                    if (xg[j] < 0) neg |= 1 << j;
                    if (fabsf(xg[j]) < fabsf(xg[kmin])) kmin = j;
                }
                int flip = __builtin_popcount((unsigned)neg) & 1;
                if (flip) neg ^= 1 << kmin;
                for (int j = 0; j < 8; j++) {
                    float m = db > 0 ? fabsf(xg[j]) / db : 0;
                    t[j] = flip && j == kmin ? -m : m;
                }
                for (int h = 0; h < 2; h++) {
                    int best = 0;
                    float berr = INFINITY;
                    for (int k = 0; k < 256; k++) {
                        float err = 0;
                        for (int j = 0; j < 4; j++) {
                            float dv = (float)(quant_iq3xxs_grid[k] >> (8 * j) & 0xFF) - t[4 * h + j];
                            err += dv * dv;
                        }
                        if (err < berr) { berr = err; best = k; }
                    }
                    yb[i].qs[8 * ib + 2 * g + h] = (uint8_t)best;
                }
                aux |= (uint32_t)(neg & 127) << (7 * g);
            }
            for (int k = 0; k < 4; k++) yb[i].qs[64 + 4 * ib + k] = (uint8_t)(aux >> (8 * k));
        }
    }
}

/* ---- IQ2_XS: the 512-point grid of IQ2_XXS's magnitudes. Block: d, 32 uint16 (grid
 * index in the low 9 bits, the group's 7 stored sign bits above), then per sub-block of
 * 32 a byte of two 4-bit scales (low nibble: its first 16 elements, high: the last 16).
 * value = d * (2ls + 1) / 8 * grid * sign. */
const uint64_t quant_iq2xs_grid[512] = {
    G(0x0000), G(0x0002), G(0x0005), G(0x0008), G(0x000a), G(0x0011), G(0x0014), G(0x0016), G(0x0019), G(0x0020), G(0x0022), G(0x0025),
    G(0x0028), G(0x0041), G(0x0044), G(0x0046), G(0x0049), G(0x0050), G(0x0052), G(0x0055), G(0x0058), G(0x0061), G(0x0064), G(0x0080),
    G(0x0082), G(0x0085), G(0x0088), G(0x0091), G(0x0094), G(0x0099), G(0x00a0), G(0x0101), G(0x0104), G(0x0106), G(0x0109), G(0x0110),
    G(0x0112), G(0x0115), G(0x0118), G(0x011a), G(0x0121), G(0x0124), G(0x0140), G(0x0142), G(0x0145), G(0x0148), G(0x0151), G(0x0154),
    G(0x0160), G(0x0168), G(0x0181), G(0x0184), G(0x0190), G(0x0200), G(0x0202), G(0x0205), G(0x0208), G(0x0211), G(0x0214), G(0x0220),
    G(0x0241), G(0x0244), G(0x0250), G(0x0255), G(0x0280), G(0x028a), G(0x0401), G(0x0404), G(0x0406), G(0x0409), G(0x0410), G(0x0412),
    G(0x0415), G(0x0418), G(0x0421), G(0x0424), G(0x0440), G(0x0442), G(0x0445), G(0x0448), G(0x0451), G(0x0454), G(0x0456), G(0x0460),
    G(0x0481), G(0x0484), G(0x0490), G(0x0500), G(0x0502), G(0x0505), G(0x0508), G(0x0511), G(0x0514), G(0x0520), G(0x0541), G(0x0544),
    G(0x0550), G(0x0561), G(0x0580), G(0x0601), G(0x0604), G(0x0610), G(0x0626), G(0x0640), G(0x0642), G(0x0684), G(0x0800), G(0x0802),
    G(0x0805), G(0x0808), G(0x080a), G(0x0811), G(0x0814), G(0x0820), G(0x0825), G(0x0841), G(0x0844), G(0x0850), G(0x0858), G(0x0880),
    G(0x08a0), G(0x08aa), G(0x0901), G(0x0904), G(0x0910), G(0x0940), G(0x0981), G(0x0989), G(0x0a00), G(0x0a20), G(0x0a28), G(0x0a96),
    G(0x0aa0), G(0x1001), G(0x1004), G(0x1006), G(0x1009), G(0x1010), G(0x1012), G(0x1015), G(0x1018), G(0x1021), G(0x1024), G(0x1040),
    G(0x1042), G(0x1045), G(0x1048), G(0x1051), G(0x1054), G(0x1060), G(0x106a), G(0x1081), G(0x1084), G(0x1090), G(0x1100), G(0x1102),
    G(0x1105), G(0x1108), G(0x1111), G(0x1114), G(0x1120), G(0x1141), G(0x1144), G(0x1150), G(0x1180), G(0x1194), G(0x1196), G(0x1201),
    G(0x1204), G(0x1206), G(0x1210), G(0x1240), G(0x1260), G(0x1400), G(0x1402), G(0x1405), G(0x1408), G(0x1411), G(0x1414), G(0x1420),
    G(0x1441), G(0x1444), G(0x1449), G(0x1450), G(0x1464), G(0x1480), G(0x1501), G(0x1504), G(0x1510), G(0x1540), G(0x1600), G(0x1614),
    G(0x1649), G(0x1801), G(0x1804), G(0x1810), G(0x1812), G(0x1840), G(0x1854), G(0x1886), G(0x1900), G(0x1905), G(0x1966), G(0x1a51),
    G(0x1aa9), G(0x2000), G(0x2002), G(0x2005), G(0x2008), G(0x200a), G(0x2011), G(0x2014), G(0x2020), G(0x2041), G(0x2044), G(0x2050),
    G(0x2080), G(0x20a0), G(0x2101), G(0x2104), G(0x2110), G(0x2140), G(0x2148), G(0x2165), G(0x2200), G(0x2222), G(0x2280), G(0x22a8),
    G(0x2401), G(0x2404), G(0x2410), G(0x2429), G(0x2440), G(0x2500), G(0x2541), G(0x2552), G(0x2599), G(0x2601), G(0x261a), G(0x26a6),
    G(0x2800), G(0x2808), G(0x280a), G(0x2820), G(0x2855), G(0x2888), G(0x28a2), G(0x2968), G(0x2990), G(0x2a08), G(0x2a20), G(0x2a82),
    G(0x2a88), G(0x2a8a), G(0x4001), G(0x4004), G(0x4006), G(0x4009), G(0x4010), G(0x4012), G(0x4015), G(0x4018), G(0x4021), G(0x4024),
    G(0x4040), G(0x4042), G(0x4045), G(0x4048), G(0x404a), G(0x4051), G(0x4054), G(0x4060), G(0x4065), G(0x4081), G(0x4084), G(0x4090),
    G(0x4100), G(0x4102), G(0x4105), G(0x4108), G(0x4111), G(0x4114), G(0x4120), G(0x4141), G(0x4144), G(0x4150), G(0x4180), G(0x4185),
    G(0x41a2), G(0x4201), G(0x4204), G(0x4210), G(0x4212), G(0x4229), G(0x4240), G(0x4400), G(0x4402), G(0x4405), G(0x4408), G(0x4411),
    G(0x4414), G(0x4419), G(0x4420), G(0x4441), G(0x4444), G(0x4450), G(0x4480), G(0x4494), G(0x4501), G(0x4504), G(0x4510), G(0x4524),
    G(0x4540), G(0x459a), G(0x4600), G(0x460a), G(0x4644), G(0x4650), G(0x4801), G(0x4804), G(0x4810), G(0x4840), G(0x4845), G(0x4854),
    G(0x4862), G(0x4900), G(0x4911), G(0x4944), G(0x4950), G(0x4969), G(0x4a04), G(0x5000), G(0x5002), G(0x5005), G(0x5008), G(0x5011),
    G(0x5014), G(0x5020), G(0x5028), G(0x5041), G(0x5044), G(0x5050), G(0x5080), G(0x5101), G(0x5104), G(0x5110), G(0x5115), G(0x5140),
    G(0x5142), G(0x5200), G(0x5244), G(0x52aa), G(0x5401), G(0x5404), G(0x5410), G(0x5421), G(0x5440), G(0x5460), G(0x5481), G(0x54a1),
    G(0x5500), G(0x5508), G(0x5580), G(0x5588), G(0x5621), G(0x5668), G(0x56a1), G(0x5800), G(0x5814), G(0x5841), G(0x5850), G(0x5899),
    G(0x591a), G(0x5940), G(0x5942), G(0x5a85), G(0x6001), G(0x6004), G(0x6010), G(0x6040), G(0x6054), G(0x6062), G(0x6086), G(0x60a9),
    G(0x6100), G(0x6224), G(0x624a), G(0x6292), G(0x6400), G(0x6416), G(0x6510), G(0x6540), G(0x6545), G(0x65a4), G(0x6801), G(0x686a),
    G(0x6925), G(0x6a06), G(0x6a54), G(0x6a62), G(0x8000), G(0x8002), G(0x8005), G(0x8008), G(0x8011), G(0x8014), G(0x8020), G(0x802a),
    G(0x8041), G(0x8044), G(0x8050), G(0x8080), G(0x8082), G(0x80a8), G(0x80aa), G(0x8101), G(0x8104), G(0x8106), G(0x8110), G(0x8140),
    G(0x8151), G(0x8159), G(0x8200), G(0x8220), G(0x8280), G(0x8282), G(0x82a0), G(0x82a8), G(0x8401), G(0x8404), G(0x8410), G(0x8412),
    G(0x8415), G(0x8440), G(0x8460), G(0x8489), G(0x8500), G(0x8544), G(0x85a5), G(0x8618), G(0x866a), G(0x8800), G(0x8808), G(0x8825),
    G(0x885a), G(0x8880), G(0x8882), G(0x88a8), G(0x8906), G(0x8a22), G(0x8a80), G(0x8a88), G(0x8a96), G(0x8aa8), G(0x9001), G(0x9004),
    G(0x9010), G(0x9040), G(0x9056), G(0x9084), G(0x9100), G(0x9122), G(0x9164), G(0x9256), G(0x9289), G(0x9400), G(0x9405), G(0x9444),
    G(0x9450), G(0x9458), G(0x9529), G(0x9590), G(0x9592), G(0x9641), G(0x9851), G(0x98a6), G(0x9949), G(0x9a15), G(0x9a60), G(0xa000),
    G(0xa002), G(0xa008), G(0xa00a), G(0xa020), G(0xa02a), G(0xa0a0), G(0xa151), G(0xa159), G(0xa1a6), G(0xa200), G(0xa202), G(0xa208),
    G(0xa22a), G(0xa280), G(0xa2a0), G(0xa440), G(0xa495), G(0xa665), G(0xa698), G(0xa80a), G(0xa820), G(0xa822), G(0xa828), G(0xa8a0),
    G(0xa8a8), G(0xa904), G(0xa984), G(0xa986), G(0xaa28), G(0xaa2a), G(0xaa91), G(0xaaaa),
};

static inline int iq2xs_value(const uint16_t *qs, int e) {
    uint16_t q = qs[e / 8];
    int j = e % 8, mag = (int)(quant_iq2xs_grid[q & 511] >> (8 * j) & 0xFF);
    return KS(q >> 9) >> j & 1 ? -mag : mag;
}

static inline int iq2xs_scale(const struct block_iq2_xs *b, int e) {
    return 2 * ((b->scales[e / 32] >> (4 * ((e % 32) / 16))) & 0xF) + 1;
}

void quant_deq_iq2_xs(const void *src, float *y, int64_t nb) {
    const struct block_iq2_xs *b = src;
    for (int64_t i = 0; i < nb; i++, y += QK_K) {
        float d = fp16_to_fp32(b[i].d);
        for (int e = 0; e < QK_K; e++) {
            float db = d * (0.5f + (float)((b[i].scales[e / 32] >> (4 * ((e % 32) / 16))) & 0xF)) * 0.25f;
            y[e] = db * (float)iq2xs_value(b[i].qs, e);
        }
    }
}

float quant_dot_iq2_xs(int n, const void *w, const void *a) {
    const struct block_iq2_xs *x = w;
    const struct block_q8_K *y = a;
    float acc[8] = {0};
    for (int i = 0; i < n / QK_K; i++) {
        int lanes[8] = {0};
        for (int c = 0; c < 8; c++)
            for (int l = 0; l < 8; l++) {
                int dot4 = 0, e0 = 32 * c + 4 * l;
                for (int t = 0; t < 4; t++) dot4 += iq2xs_value(x[i].qs, e0 + t) * y[i].qs[e0 + t];
                lanes[l] += iq2xs_scale(&x[i], e0) * dot4;
            }
        quant_lanes_fma(acc, fp16_to_fp32(x[i].d) * y[i].d, lanes);
    }
    return 0.125f * quant_lanes8_sum(acc);
}

/* Ours, as quant_q_iq2_xxs but with a scale per 16 and the 512-point grid. */
void quant_q_iq2_xs(const float *x, void *dst, int64_t nb) {
    struct block_iq2_xs *yb = dst;
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float sc[16], max_sc = 0;
        for (int h = 0; h < 16; h++) {
            float amax = 0;
            for (int j = 0; j < 16; j++) amax = fmaxf(amax, fabsf(x[16 * h + j]));
            sc[h] = amax / 43;
            max_sc = fmaxf(max_sc, sc[h]);
        }
        memset(&yb[i], 0, sizeof yb[i]);
        yb[i].d = fp32_to_fp16(max_sc * 8 / 31);
        float d = fp16_to_fp32(yb[i].d);
        for (int h = 0; h < 16; h++) {
            int ls = 0;
            if (d > 0) {
                ls = (int)floorf((sc[h] / d * 8 - 1) / 2 + 0.5f);
                ls = ls < 0 ? 0 : ls > 15 ? 15 : ls;
            }
            yb[i].scales[h / 2] |= (uint8_t)(ls << (4 * (h % 2)));
            float db = d * (0.5f + (float)ls) * 0.25f;
            for (int g = 2 * h; g < 2 * h + 2; g++) {
                const float *xg = x + 8 * g;
                float t[8];
                int neg = 0, kmin = 0;
                for (int j = 0; j < 8; j++) {
                    if (xg[j] < 0) neg |= 1 << j;
                    if (fabsf(xg[j]) < fabsf(xg[kmin])) kmin = j;
                }
                int flip = __builtin_popcount((unsigned)neg) & 1;
                if (flip) neg ^= 1 << kmin;
                for (int j = 0; j < 8; j++) {
                    float m = db > 0 ? fabsf(xg[j]) / db : 0;
                    t[j] = flip && j == kmin ? -m : m;
                }
                int best = 0;
                float berr = INFINITY;
                for (int k = 0; k < 512; k++) {
                    float err = 0;
                    for (int j = 0; j < 8; j++) {
                        float dv = (float)(quant_iq2xs_grid[k] >> (8 * j) & 0xFF) - t[j];
                        err += dv * dv;
                    }
                    if (err < berr) { berr = err; best = k; }
                }
                yb[i].qs[g] = (uint16_t)(best | (neg & 127) << 9);
            }
        }
    }
}

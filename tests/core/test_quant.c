/* Weight types: dequantization of hand-packed blocks against values computed here from
 * the logical quants (element -> byte/bit position as ggml documents it), and
 * quantize -> dequantize round trips within each type's error bound. */
#include "test.h"
#include "core/dtype.h"
#include "core/fp16.h"
#include "core/matmul.h"
#include "core/quant.h"

#include <stdint.h>

static uint32_t rng = 12345;
static float frand(void) { /* uniform in [-1, 1) */
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void set_nibble(uint8_t *p, int idx, int high, int v) { p[idx] |= (uint8_t)((v & 15) << (high ? 4 : 0)); }
static void set_bit(uint8_t *p, int bit) { p[bit / 8] |= (uint8_t)(1u << (bit % 8)); }

static int deq_matches(int type, const uint8_t *blk, int n, const float *want, double tol) {
    float got[256];
    if (dequantize_row(type, blk, got, n)) return 0;
    int bad = 0;
    for (int i = 0; i < n; i++)
        if (fabs(got[i] - want[i]) > tol) {
            if (bad++ < 3) fprintf(stderr, "  %s[%d]: got %g want %g\n", dtype_name(type), i, got[i], want[i]);
        }
    return bad == 0;
}

TEST(dequant_q4_0_q4_1) {
    uint8_t b[20] = {0};
    float want[32];
    int q[32];
    for (int e = 0; e < 32; e++) q[e] = (e * 7 + 3) % 16;
    put16(b, 0x3800); /* 0.5 */
    for (int e = 0; e < 32; e++) set_nibble(b + 2, e % 16, e >= 16, q[e]);
    for (int e = 0; e < 32; e++) want[e] = (q[e] - 8) * 0.5f;
    CHECK(deq_matches(DT_Q4_0, b, 32, want, 0));

    memset(b, 0, sizeof b);
    put16(b, 0x3400);     /* d = 0.25 */
    put16(b + 2, 0xbc00); /* m = -1 */
    for (int e = 0; e < 32; e++) set_nibble(b + 4, e % 16, e >= 16, q[e]);
    for (int e = 0; e < 32; e++) want[e] = q[e] * 0.25f - 1.0f;
    CHECK(deq_matches(DT_Q4_1, b, 32, want, 0));
}

TEST(dequant_q5_0_q5_1) {
    uint8_t b[24] = {0};
    float want[32];
    int q[32];
    for (int e = 0; e < 32; e++) q[e] = (e * 11 + 5) % 32;
    put16(b, 0x3800);
    for (int e = 0; e < 32; e++) {
        set_nibble(b + 6, e % 16, e >= 16, q[e]);
        if (q[e] & 16) set_bit(b + 2, e);
    }
    for (int e = 0; e < 32; e++) want[e] = (q[e] - 16) * 0.5f;
    CHECK(deq_matches(DT_Q5_0, b, 32, want, 0));

    memset(b, 0, sizeof b);
    put16(b, 0x3400);
    put16(b + 2, 0x3c00); /* m = +1 */
    for (int e = 0; e < 32; e++) {
        set_nibble(b + 8, e % 16, e >= 16, q[e]);
        if (q[e] & 16) set_bit(b + 4, e);
    }
    for (int e = 0; e < 32; e++) want[e] = q[e] * 0.25f + 1.0f;
    CHECK(deq_matches(DT_Q5_1, b, 32, want, 0));
}

TEST(dequant_q8_0_and_halves) {
    uint8_t b[34] = {0};
    float want[32];
    put16(b, 0x3000); /* 0.125 */
    for (int e = 0; e < 32; e++) {
        int q = e * 8 - 128;
        b[2 + e] = (uint8_t)(int8_t)q;
        want[e] = q * 0.125f;
    }
    CHECK(deq_matches(DT_Q8_0, b, 32, want, 0));

    uint16_t h[4] = {0x3c00, 0xc000, 0x3555, 0x0001};
    float wh[4] = {1.0f, -2.0f, 0.33325195f, 5.9604645e-8f};
    CHECK(deq_matches(DT_F16, (uint8_t *)h, 4, wh, 1e-8));
    uint16_t bf[3] = {0x3f80, 0xc0a0, 0x4049};
    float wb[3] = {1.0f, -5.0f, 3.140625f};
    CHECK(deq_matches(DT_BF16, (uint8_t *)bf, 3, wb, 0));
}

/* dequantize_row takes F16C where the CPU has it: every one of the 65536 halves
 * (subnormals, infinities, NaN payloads, signalling NaNs) must come out as the
 * scalar conversion's bits, in whole 8-lane groups and in a 5-element tail. */
TEST(f16_rows_equal_the_scalar_conversion) {
    static uint16_t h[65536 + 5];
    static float got[65536 + 5];
    for (int i = 0; i < 65536; i++) h[i] = (uint16_t)(i * 40503u); /* every value once, NaNs among finite ones */
    for (int i = 0; i < 5; i++) h[65536 + i] = (uint16_t)(0x7c01 + i * 0x80);
    CHECK(dequantize_row(DT_F16, h, got, 65536 + 5) == 0);
    int bad = 0;
    for (int i = 0; i < 65536 + 5; i++) bad += fp32_to_bits(got[i]) != fp32_to_bits(fp16_to_fp32(h[i]));
    CHECK_MSG(bad == 0, "%d halves converted to other bits", bad);
}

/* Packs 6-bit scales/mins of 8 sub-blocks the way ggml documents get_scale_min_k4:
 * bytes 0-3: sc[0..3] | (sc[4..7] >> 4) << 6; bytes 4-7: the same for mins;
 * bytes 8-11: (sc[4..7] & 15) | (mn[4..7] & 15) << 4. */
static void pack_k4_scales(uint8_t *s, const int *sc, const int *mn) {
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)(mn[j] | ((mn[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
    }
}

TEST(dequant_q4_K) {
    uint8_t b[144] = {0};
    int sc[8] = {1, 63, 17, 32, 45, 5, 60, 33}, mn[8] = {0, 7, 63, 21, 48, 16, 2, 37};
    float want[256];
    put16(b, 0x2e66);     /* d ≈ 0.1 */
    put16(b + 2, 0x2666); /* dmin ≈ 0.025 */
    pack_k4_scales(b + 4, sc, mn);
    float d = fp16_to_fp32(0x2e66), dmin = fp16_to_fp32(0x2666);
    for (int e = 0; e < 256; e++) {
        int q = (e * 5 + e / 7) % 16, s = e / 32;
        /* sub-blocks 2g and 2g+1 share the 32 bytes of group g: low and high nibbles */
        set_nibble(b + 16, (s / 2) * 32 + e % 32, s % 2, q);
        want[e] = d * sc[s] * q - dmin * mn[s];
    }
    CHECK(deq_matches(DT_Q4_K, b, 256, want, 1e-6));
}

TEST(dequant_q5_K) {
    uint8_t b[176] = {0};
    int sc[8] = {63, 1, 2, 40, 16, 31, 50, 9}, mn[8] = {5, 0, 63, 33, 12, 47, 20, 1};
    float want[256];
    put16(b, 0x2e66);
    put16(b + 2, 0x2666);
    pack_k4_scales(b + 4, sc, mn);
    float d = fp16_to_fp32(0x2e66), dmin = fp16_to_fp32(0x2666);
    for (int e = 0; e < 256; e++) {
        int q = (e * 13 + e / 5) % 32, s = e / 32;
        set_nibble(b + 48, (s / 2) * 32 + e % 32, s % 2, q);
        if (q & 16) b[16 + e % 32] |= (uint8_t)(1u << s); /* qh[l] bit s = sub-block s */
        want[e] = d * sc[s] * q - dmin * mn[s];
    }
    CHECK(deq_matches(DT_Q5_K, b, 256, want, 1e-6));
}

TEST(dequant_q6_K) {
    uint8_t b[210] = {0};
    float want[256];
    int8_t sc[16];
    for (int i = 0; i < 16; i++) sc[i] = (int8_t)(i * 17 - 128 + (i & 3));
    memcpy(b + 192, sc, 16);
    put16(b + 208, 0x2400); /* d = 2^-6 */
    for (int e = 0; e < 256; e++) {
        int q = (e * 29 + e / 3) % 64;
        int h = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
        /* quarters 0,1 use low nibbles of ql[l], ql[l+32]; quarters 2,3 their high nibbles */
        set_nibble(b, h * 64 + l + (quarter & 1) * 32, quarter >= 2, q & 15);
        b[128 + h * 32 + l] |= (uint8_t)((q >> 4) << (2 * quarter));
        want[e] = 0.015625f * sc[e / 16] * (q - 32);
    }
    CHECK(deq_matches(DT_Q6_K, b, 256, want, 1e-6));
}

/* Random blocks of every added type against the reference build's dequantization
 * (tests/golden/quant/dequant_ref.txt; see tests/golden/README.md): bit for bit. */
static int hexval(char c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }

TEST(dequant_matches_reference_build) {
    char *text = read_file("tests/golden/quant/dequant_ref.txt", NULL);
    REQUIRE(text != NULL, "missing tests/golden/quant/dequant_ref.txt (run from the project root)");
    int lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char name[32], *p = line;
        int nb, used;
        if (sscanf(p, "%31s %d %n", name, &nb, &used) != 2) continue;
        p += used;
        int type = dtype_from_name(name);
        REQUIRE(type >= 0 && nb > 0 && nb <= 8, "bad golden line for %s", name);
        size_t bytes = dtype_row_bytes(type, (int64_t)nb * dtype_info(type)->block);
        int64_t n = (int64_t)nb * dtype_info(type)->block;
        uint8_t *blk = malloc(bytes);
        float *got = malloc(sizeof(float) * (size_t)n);
        for (size_t i = 0; i < bytes; i++) blk[i] = (uint8_t)(hexval(p[2 * i]) << 4 | hexval(p[2 * i + 1]));
        p += 2 * bytes;
        CHECK_MSG(dequantize_row(type, blk, got, n) == 0, "%s refused", name);
        int bad = 0;
        for (int64_t i = 0; i < n; i++) {
            uint32_t want = (uint32_t)strtoul(p, &p, 16), have;
            memcpy(&have, &got[i], 4);
            if (want != have && bad++ < 3)
                fprintf(stderr, "  %s[%lld]: %g, reference %g\n", name, (long long)i, got[i], fp32_from_bits(want));
        }
        CHECK_MSG(bad == 0, "%s: %d of %lld values differ from the reference build's", name, bad, (long long)n);
        lines++;
        free(blk);
        free(got);
    }
    CHECK_EQ_INT(lines, 10); /* q2_K, q3_K, iq4_nl, iq4_xs, mxfp4, iq2_xxs, iq3_xxs, iq2_xs, iq3_s, iq2_s */
    free(text);
}

/* MXFP4 from its definition: E2M1 value (sign, 2-bit exponent, 1-bit mantissa; 0.5 for
 * the subnormal 1) times 2^(e - 127), checked at the extreme shared exponents too. */
TEST(dequant_mxfp4_from_the_format) {
    const int es[] = {127, 0, 1, 130, 250};
    for (int k = 0; k < 5; k++) {
        uint8_t b[17] = {(uint8_t)es[k]};
        float want[32];
        for (int j = 0; j < 32; j++) {
            int code = (j * 7 + k) % 16, sign = code >> 3, ex = (code >> 1) & 3, man = code & 1;
            double v = ex == 0 ? 0.5 * man : ldexp(1.0 + 0.5 * man, ex - 1);
            set_nibble(b + 1, j % 16, j >= 16, code);
            want[j] = (float)ldexp(sign ? -v : v, es[k] - 127);
        }
        CHECK(deq_matches(DT_MXFP4, b, 32, want, 0));
    }
}

/* quant_scales_q3_K unpacks four scales per 32-bit word; here against the layout one
 * scale at a time (low 4 bits: nibble j / 8 of byte j % 8, high 2: bits 2(j / 4) of byte
 * 8 + j % 4, offset 32), on random bytes and on all-ones. */
TEST(q3_K_scales_unpack_as_the_layout_says) {
    uint8_t s[12];
    uint32_t r = 99; /* its own stream: the other tests' draws stay as they were */
    int bad = 0;
    for (int it = 0; it < 2000; it++) {
        for (int i = 0; i < 12; i++) r = r * 1664525u + 1013904223u, s[i] = it == 0 ? 0xFF : (uint8_t)(r >> 24);
        int8_t got[16];
        quant_scales_q3_K(s, got);
        for (int j = 0; j < 16; j++) {
            int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4, hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
            bad += got[j] != (lo | hi << 4) - 32;
        }
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(unsupported_types_are_refused) {
    float out[256];
    uint8_t b[400] = {0};
    CHECK(dequantize_row(DT_IQ1_S, b, out, 256) == -1);
    CHECK(dequantize_row(DT_Q8_0, b, out, 33) == -1);
    CHECK(dequantize_row(99, b, out, 32) == -1);
    CHECK(quantize_row(DT_IQ1_S, out, b, 256) == 0);
    CHECK(quantize_row(DT_Q4_K, out, b, 32) == 0); /* not a whole super-block */
}

/* Relative RMS error bounds per type for uniform data, a few times the theoretical
 * step/sqrt(12) so a wrong rounding or bit layout fails loudly. */
static void roundtrip(int type, double rel_rms_max, double max_err_steps) {
    enum { N = 4096 };
    static float x[N], y[N];
    static uint8_t q[N * 2];
    for (int i = 0; i < N; i++) x[i] = frand() * (i % 512 < 256 ? 1.0f : 0.01f); /* two magnitudes */
    size_t bytes = quantize_row(type, x, q, N);
    CHECK_EQ_INT(bytes, dtype_row_bytes(type, N));
    CHECK(dequantize_row(type, q, y, N) == 0);
    double se = 0, sx = 0, worst = 0;
    int blk = dtype_info(type)->block < 32 ? 32 : dtype_info(type)->block;
    for (int b0 = 0; b0 < N; b0 += blk) {
        double amax = 0;
        for (int i = b0; i < b0 + blk; i++) amax = fmax(amax, fabs(x[i]));
        for (int i = b0; i < b0 + blk; i++) {
            double e = fabs(y[i] - x[i]);
            se += e * e;
            sx += (double)x[i] * x[i];
            if (amax > 0 && e / amax > worst) worst = e / amax;
        }
    }
    double rel = sqrt(se / sx);
    CHECK_MSG(rel < rel_rms_max, "%s: relative rms error %g >= %g", dtype_name(type), rel, rel_rms_max);
    CHECK_MSG(worst < max_err_steps, "%s: worst error %g of the block max >= %g", dtype_name(type), worst, max_err_steps);
}

TEST(roundtrip_error_bounds) {
    roundtrip(DT_F16, 1e-3, 1e-3);
    roundtrip(DT_BF16, 5e-3, 5e-3);
    roundtrip(DT_Q8_0, 0.01, 1.0 / 254 * 1.01 + 1e-3);
    roundtrip(DT_Q4_0, 0.1, 1.0 / 8 * 1.01);
    roundtrip(DT_Q4_1, 0.1, 1.0 / 15 * 1.01);
    roundtrip(DT_Q5_0, 0.05, 1.0 / 16 * 1.01);
    roundtrip(DT_Q5_1, 0.05, 1.0 / 31 * 1.01);
    roundtrip(DT_Q4_K, 0.1, 0.15);
    roundtrip(DT_Q5_K, 0.05, 0.08);
    roundtrip(DT_Q6_K, 0.025, 0.04);
    roundtrip(DT_Q2_K, 0.4, 0.35);
    roundtrip(DT_Q3_K, 0.2, 0.3);
    roundtrip(DT_IQ4_NL, 0.12, 0.15);
    roundtrip(DT_IQ4_XS, 0.12, 0.16);
    roundtrip(DT_MXFP4, 0.2, 0.25);
    roundtrip(DT_IQ2_XXS, 0.4, 0.85);
    roundtrip(DT_IQ3_XXS, 0.3, 0.6);
    roundtrip(DT_IQ2_XS, 0.4, 0.85);
    roundtrip(DT_IQ2_S, 0.4, 0.85);
    roundtrip(DT_IQ3_S, 0.3, 0.6);
}

TEST(quantizers_keep_exact_values_exact) {
    /* Values on the q8_0 grid of their block survive exactly; zeros stay zeros. */
    float x[256], y[256];
    uint8_t q[512];
    for (int i = 0; i < 32; i++) x[i] = (float)((i * 37) % 255 - 127) / 4; /* integers/4, max 31.75 = 127/4 */
    x[0] = 127.0f / 4;
    quantize_row(DT_Q8_0, x, q, 32);
    dequantize_row(DT_Q8_0, q, y, 32);
    for (int i = 0; i < 32; i++) CHECK_NEAR(y[i], x[i], 1e-6);

    memset(x, 0, sizeof x);
    int types[] = {DT_Q4_0, DT_Q4_1, DT_Q5_0, DT_Q5_1, DT_Q8_0, DT_Q4_K, DT_Q5_K, DT_Q6_K,
                   DT_Q2_K, DT_Q3_K, DT_IQ4_NL, DT_IQ4_XS, DT_MXFP4, DT_IQ2_XXS, DT_IQ3_XXS, DT_IQ2_XS, DT_IQ2_S, DT_IQ3_S};
    for (unsigned t = 0; t < sizeof types / sizeof *types; t++) {
        CHECK(quantize_row(types[t], x, q, 256) > 0);
        CHECK(dequantize_row(types[t], q, y, 256) == 0);
        for (int i = 0; i < 256; i++) CHECK_NEAR(y[i], 0, 0);
    }
}

TEST(q4_0_quantizer_matches_reference_rounding) {
    /* llama.cpp: d = max/-8 (max = the value of largest magnitude), q = min(15, (int)(x/d + 8.5)). */
    float x[32];
    uint8_t q[18];
    for (int i = 0; i < 32; i++) x[i] = frand();
    x[5] = -1.5f;
    quantize_row(DT_Q4_0, x, q, 32);
    float d = fp16_to_fp32((uint16_t)(q[0] | q[1] << 8));
    CHECK_NEAR(d, 1.5f / 8, 1e-4);
    float id = 1.0f / (-1.5f / -8);
    for (int i = 0; i < 32; i++) {
        int want = (int)(x[i] * id + 8.5f);
        if (want > 15) want = 15;
        int got = i < 16 ? q[2 + i] & 15 : q[2 + i - 16] >> 4;
        CHECK_EQ_INT(got, want);
    }
}

TEST(activation_q8_K_sums) {
    float x[512];
    struct block_q8_K b[2];
    for (int i = 0; i < 512; i++) x[i] = frand() * 3;
    quant_q8K(x, b, 512);
    for (int k = 0; k < 2; k++) {
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += b[k].qs[16 * g + l];
            CHECK_EQ_INT(b[k].bsums[g], s);
        }
        for (int i = 0; i < 256; i++) CHECK_NEAR(b[k].qs[i] * b[k].d, x[256 * k + i], fabs(b[k].d) * 0.5 + 1e-6);
    }
    struct block_q8a a[16];
    quant_q8a(x, a, 512);
    for (int k = 0; k < 16; k++) {
        int s = 0;
        for (int i = 0; i < 32; i++) {
            s += a[k].qs[i];
            CHECK_NEAR(a[k].qs[i] * a[k].d, x[32 * k + i], a[k].d * 0.51 + fabs(x[32 * k + i]) * 1e-3);
        }
        CHECK_EQ_INT(a[k].sum, s);
    }
}

int main(void) {
    TEST_EXPECT(15);
    RUN(dequant_q4_0_q4_1);
    RUN(dequant_q5_0_q5_1);
    RUN(dequant_q8_0_and_halves);
    RUN(dequant_q4_K);
    RUN(dequant_q5_K);
    RUN(dequant_q6_K);
    RUN(dequant_matches_reference_build);
    RUN(dequant_mxfp4_from_the_format);
    RUN(q3_K_scales_unpack_as_the_layout_says);
    RUN(unsupported_types_are_refused);
    RUN(roundtrip_error_bounds);
    RUN(quantizers_keep_exact_values_exact);
    RUN(q4_0_quantizer_matches_reference_rounding);
    RUN(activation_q8_K_sums);
    RUN(f16_rows_equal_the_scalar_conversion);
    return test_summary();
}

/* gelu_f16 (ggml's F16-table GELU, core/gelu_f16.h): the table against the tanh formula
 * on F16 inputs, the F16 rounding of inputs and outputs, the bypass outside (-10, 10),
 * and the AVX2 path bit-identical to the portable one on every F16 value and on random
 * floats (odd lengths, so the scalar tail runs too). */
#include "test.h"
#include "core/cpu.h"
#include "core/fp16.h"
#include "core/gelu_f16.h"

static float ref(float x) {  /* what ggml's table holds, as floats */
    float f = fp16_to_fp32(fp32_to_fp16(x));
    return fp16_to_fp32(fp32_to_fp16(0.5f * f * (1.0f + tanhf(0.79788456080286535587989211986876f * f * (1.0f + 0.044715f * f * f)))));
}

TEST(table_values) {
    float x[8] = {-12.0f, -10.0f, -1.0f, -0.1234567f, 0.0f, 0.5f, 3.3333f, 10.0f};
    float y[8];
    memcpy(y, x, sizeof x);
    gelu_f16(y, 8);
    CHECK(y[0] == 0.0f && y[1] == 0.0f);          /* <= -10: 0 */
    CHECK(y[7] == 10.0f);                          /* >= 10: x */
    for (int i = 2; i < 7; i++) CHECK_MSG(y[i] == ref(x[i]), "x %g: %g vs %g", x[i], y[i], ref(x[i]));
    CHECK_NEAR(y[5], 0.5 * 0.5 * (1 + erf(0.5 / sqrt(2))), 2e-3);  /* near the exact GELU */
    /* the output is an F16 value */
    CHECK(fp16_to_fp32(fp32_to_fp16(y[3])) == y[3]);
}

TEST(avx2_equals_portable) {
    if (cpu_level() < CPU_AVX2) SKIP("this CPU has no AVX2 (the portable path is the only one)");
    enum cpu_level saved = cpu_level();
    long n = 65536 + 7;
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
    unsigned s = 12345;
    for (long i = 0; i < n; i++) {
        if (i < 65536) a[i] = fp16_to_fp32((uint16_t)i);   /* every F16, NaN and inf included */
        else { s = s * 1103515245u + 12345u; a[i] = ((float)(s >> 8) / (1 << 24) - 0.5f) * 30.0f; }
    }
    memcpy(b, a, sizeof(float) * n);
    gelu_f16(a, n);
    cpu_set_level(CPU_SCALAR);
    gelu_f16(b, n);
    cpu_set_level(saved);
    long diff = 0;
    for (long i = 0; i < n; i++) diff += memcmp(&a[i], &b[i], 4) != 0;
    CHECK_MSG(diff == 0, "%ld of %ld values differ between AVX2 and portable", diff, n);
    free(a);
    free(b);
}

int main(void) {
    TEST_EXPECT(2);
    RUN(table_values);
    RUN(avx2_equals_portable);
    return test_summary();
}

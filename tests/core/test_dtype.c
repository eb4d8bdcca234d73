/* The type table and the scalar half/bfloat16 conversions every kernel is checked against. */
#include "test.h"
#include "core/dtype.h"
#include "core/fp16.h"

TEST(type_table_matches_ggml) {
    CHECK_EQ_INT(dtype_row_bytes(DT_Q8_0, 64), 68);
    CHECK_EQ_INT(dtype_row_bytes(DT_Q4_K, 512), 288);
    CHECK_EQ_INT(dtype_row_bytes(DT_Q6_K, 256), 210);
    CHECK_EQ_INT(dtype_row_bytes(DT_Q5_K, 256), 176);
    CHECK_EQ_INT(dtype_row_bytes(DT_Q4_0, 32), 18);
    CHECK_EQ_INT(dtype_row_bytes(DT_BF16, 3), 6);
    CHECK_EQ_INT(dtype_row_bytes(DT_Q8_0, 33), 0);   /* not a whole block */
    CHECK_EQ_INT(dtype_row_bytes(99, 32), 0);
    CHECK_EQ_INT(dtype_from_name("Q4_K"), DT_Q4_K);
    CHECK_STR(dtype_name(DT_F16), "f16");
    CHECK(dtype_info(4) == NULL);                    /* removed ggml ids stay unknown */
}

TEST(fp16_round_trips_every_half) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue; /* NaN payloads */
        if (fp32_to_fp16(fp16_to_fp32((uint16_t)h)) != h) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(fp16_known_values_and_rounding) {
    CHECK_EQ_INT(fp32_to_fp16(1.0f), 0x3c00);
    CHECK_EQ_INT(fp32_to_fp16(-2.0f), 0xc000);
    CHECK_EQ_INT(fp32_to_fp16(65504.0f), 0x7bff);
    CHECK_EQ_INT(fp32_to_fp16(65520.0f), 0x7c00);          /* rounds to inf */
    CHECK_EQ_INT(fp32_to_fp16(5.9604645e-8f), 0x0001);     /* smallest subnormal */
    CHECK_EQ_INT(fp32_to_fp16(2.9802322e-8f), 0x0000);     /* half of it: ties to even */
    CHECK_EQ_INT(fp32_to_fp16(1.0f + 1.0f / 2048), 0x3c00); /* tie, even stays */
    CHECK_EQ_INT(fp32_to_fp16(1.0f + 3.0f / 2048), 0x3c02); /* tie, odd rounds up */
    CHECK_NEAR(fp16_to_fp32(0x3555), 0.33325195, 1e-8);
}

TEST(bf16_rounds_to_nearest_even) {
    CHECK_EQ_INT(fp32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ_INT(fp32_to_bf16(fp32_from_bits(0x3f808000)), 0x3f80); /* tie to even */
    CHECK_EQ_INT(fp32_to_bf16(fp32_from_bits(0x3f818000)), 0x3f82);
    CHECK_NEAR(bf16_to_fp32(0xc0a0), -5.0, 0);
}

int main(void) {
    TEST_EXPECT(4);
    RUN(type_table_matches_ggml);
    RUN(fp16_round_trips_every_half);
    RUN(fp16_known_values_and_rounding);
    RUN(bf16_rounds_to_nearest_even);
    return test_summary();
}

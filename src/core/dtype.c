/* The type table: block size and bytes per block for every ggml type id. */
#include "core/dtype.h"

#include <strings.h>

static const struct dtype_info g_types[DT_COUNT] = {
    [DT_F32] = {"f32", 1, 4, 1},      [DT_F16] = {"f16", 1, 2, 1},
    [DT_Q4_0] = {"q4_0", 32, 18, 1},  [DT_Q4_1] = {"q4_1", 32, 20, 1},
    [DT_Q5_0] = {"q5_0", 32, 22, 1},  [DT_Q5_1] = {"q5_1", 32, 24, 1},
    [DT_Q8_0] = {"q8_0", 32, 34, 1},  [DT_Q8_1] = {"q8_1", 32, 36, 0},
    [DT_Q2_K] = {"q2_K", 256, 84, 1}, [DT_Q3_K] = {"q3_K", 256, 110, 1},
    [DT_Q4_K] = {"q4_K", 256, 144, 1}, [DT_Q5_K] = {"q5_K", 256, 176, 1},
    [DT_Q6_K] = {"q6_K", 256, 210, 1}, [DT_Q8_K] = {"q8_K", 256, 292, 0},
    [DT_IQ2_XXS] = {"iq2_xxs", 256, 66, 1}, [DT_IQ2_XS] = {"iq2_xs", 256, 74, 1},
    [DT_IQ3_XXS] = {"iq3_xxs", 256, 98, 1}, [DT_IQ1_S] = {"iq1_s", 256, 50, 0},
    [DT_IQ4_NL] = {"iq4_nl", 32, 18, 1},    [DT_IQ3_S] = {"iq3_s", 256, 110, 1},
    [DT_IQ2_S] = {"iq2_s", 256, 82, 1},     [DT_IQ4_XS] = {"iq4_xs", 256, 136, 1},
    [DT_I8] = {"i8", 1, 1, 0},   [DT_I16] = {"i16", 1, 2, 0}, [DT_I32] = {"i32", 1, 4, 0},
    [DT_I64] = {"i64", 1, 8, 0}, [DT_F64] = {"f64", 1, 8, 0}, [DT_IQ1_M] = {"iq1_m", 256, 56, 0},
    [DT_BF16] = {"bf16", 1, 2, 1},     [DT_MXFP4] = {"mxfp4", 32, 17, 1},
};

const struct dtype_info *dtype_info(int type) {
    if (type < 0 || type >= DT_COUNT || !g_types[type].name) return 0;
    return &g_types[type];
}

const char *dtype_name(int type) {
    const struct dtype_info *t = dtype_info(type);
    return t ? t->name : "?";
}

int dtype_from_name(const char *name) {
    for (int i = 0; i < DT_COUNT; i++)
        if (g_types[i].name && !strcasecmp(g_types[i].name, name)) return i;
    return -1;
}

size_t dtype_row_bytes(int type, int64_t n) {
    const struct dtype_info *t = dtype_info(type);
    if (!t || !t->block_bytes || n < 0 || n % t->block) return 0;
    return (size_t)(n / t->block) * t->block_bytes;
}

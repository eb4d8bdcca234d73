/* Weight/element types. The numeric ids are ggml's (they are stored in GGUF and
 * whisper.cpp files), so a file's type field maps straight onto this enum. */
#ifndef OMNI_CORE_DTYPE_H
#define OMNI_CORE_DTYPE_H
#include <stddef.h>
#include <stdint.h>

enum dtype {
    DT_F32 = 0, DT_F16 = 1, DT_Q4_0 = 2, DT_Q4_1 = 3,
    DT_Q5_0 = 6, DT_Q5_1 = 7, DT_Q8_0 = 8, DT_Q8_1 = 9,
    DT_Q2_K = 10, DT_Q3_K = 11, DT_Q4_K = 12, DT_Q5_K = 13, DT_Q6_K = 14, DT_Q8_K = 15,
    DT_IQ2_XXS = 16, DT_IQ2_XS = 17, DT_IQ3_XXS = 18, DT_IQ1_S = 19, DT_IQ4_NL = 20,
    DT_IQ3_S = 21, DT_IQ2_S = 22, DT_IQ4_XS = 23,
    DT_I8 = 24, DT_I16 = 25, DT_I32 = 26, DT_I64 = 27, DT_F64 = 28, DT_IQ1_M = 29,
    DT_BF16 = 30, DT_MXFP4 = 39,
    DT_COUNT = 40
};

struct dtype_info {
    const char *name;   /* "q4_K", as ggml names it */
    int block;          /* elements per block (1 for plain types) */
    size_t block_bytes; /* bytes per block; 0 = a type we know by name but cannot size */
    int supported;      /* 1 if omni can compute with it (dequantize/dot) */
};

/* NULL for an id that is not a known type. */
const struct dtype_info *dtype_info(int type);
const char *dtype_name(int type);          /* "?" for unknown ids */
int dtype_from_name(const char *name);     /* -1 when unknown; case-insensitive */

/* Bytes for a row of n elements; 0 if the type is unknown/unsized or n is not a
 * multiple of the block size. Callers validating files must treat 0 as an error. */
size_t dtype_row_bytes(int type, int64_t n);

#endif

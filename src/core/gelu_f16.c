/* GELU through an F16 table; see gelu_f16.h. The table holds, for every half-precision
 * bit pattern h, the F16 of 0.5 f (1 + tanh(sqrt(2/pi) f (1 + 0.044715 f^2))) with
 * f = h as float: 64 Ki entries, 128 KiB, built once per process. */
#include "core/gelu_f16.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>

#include "core/cpu.h"
#include "core/fp16.h"

long gelu_f16_avx2(float *x, long n, const uint16_t *table);  /* gelu_f16_avx2.c: values done */

static uint16_t table[1 << 16];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void build_table(void) {
    const float c = 0.79788456080286535587989211986876f, a = 0.044715f;
    for (uint32_t i = 0; i < (1u << 16); i++) {
        float f = fp16_to_fp32((uint16_t)i);
        table[i] = fp32_to_fp16(0.5f * f * (1.0f + tanhf(c * f * (1.0f + a * f * f))));
    }
}

void gelu_f16(float *x, long n) {
    pthread_once(&table_once, build_table);
    long i = cpu_level() >= CPU_AVX2 ? gelu_f16_avx2(x, n, table) : 0;
    for (; i < n; i++) {
        float v = x[i];
        if (v <= -10.0f) x[i] = 0.0f;
        else if (v < 10.0f) x[i] = fp16_to_fp32(table[fp32_to_fp16(v)]);
    }
}

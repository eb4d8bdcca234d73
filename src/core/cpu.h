/* Run-time CPU feature detection, so one binary uses AVX2 / AVX-512 where present.
 * OMNI_CPU=scalar|avx2|avx512 caps the level (tests compare the paths this way). */
#ifndef OMNI_CORE_CPU_H
#define OMNI_CORE_CPU_H

enum cpu_level { CPU_SCALAR = 0, CPU_AVX2 = 1, CPU_AVX512 = 2 };

struct cpu_features {
    int avx2, fma, f16c;
    int avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16;
};

const struct cpu_features *cpu_features(void);
/* The highest level both the CPU and OMNI_CPU allow. */
enum cpu_level cpu_level(void);
/* Overrides the level (clamped to what the CPU has); for tests and benchmarks. */
void cpu_set_level(enum cpu_level level);
const char *cpu_level_name(enum cpu_level level);

#endif

/* Run-time CPU feature detection with cpuid/xgetbv: a feature counts only when the
 * CPU has it and the OS saves its registers. OMNI_CPU caps the level. */
#include "core/cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void) {
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static void detect(struct cpu_features *f) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    int fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return;
    unsigned long long xcr0 = xgetbv0();
    int os_avx = (xcr0 & 0x6) == 0x6;            /* XMM and YMM state */
    int os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0; /* opmask, ZMM0-15 high, ZMM16-31 */
    if (!os_avx) return;
    unsigned max_leaf = __get_cpuid_max(0, 0);
    if (max_leaf < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    f->avx2 = (b >> 5) & 1;
    f->fma = fma;
    f->f16c = f16c;
    if (os_avx512) {
        f->avx512f = (b >> 16) & 1;
        f->avx512dq = (b >> 17) & 1;
        f->avx512bw = (b >> 30) & 1;
        f->avx512vl = (b >> 31) & 1;
        f->avx512vnni = (c >> 11) & 1;
        unsigned a1, b1, c1, d1;
        __cpuid_count(7, 1, a1, b1, c1, d1);
        f->avx512bf16 = (a1 >> 5) & 1;
    }
}
#else
static void detect(struct cpu_features *f) { (void)f; }
#endif

static struct cpu_features g_features;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static enum cpu_level g_hw_level, g_level;

static void detect_once(void) {
    detect(&g_features);
    const struct cpu_features *f = &g_features;
    g_hw_level = CPU_SCALAR;
    if (f->avx2 && f->fma && f->f16c) g_hw_level = CPU_AVX2;
    /* Our AVX-512 kernels use VNNI for every int8 dot, so the level requires it. */
    if (g_hw_level == CPU_AVX2 && f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx512vnni)
        g_hw_level = CPU_AVX512;
    g_level = g_hw_level;
    const char *env = getenv("OMNI_CPU");
    if (env && *env) {
        enum cpu_level cap = CPU_AVX512;
        if (!strcmp(env, "scalar")) cap = CPU_SCALAR;
        else if (!strcmp(env, "avx2")) cap = CPU_AVX2;
        if (cap < g_level) g_level = cap;
    }
}

static void init(void) { pthread_once(&g_once, detect_once); }

const struct cpu_features *cpu_features(void) {
    init();
    return &g_features;
}

enum cpu_level cpu_level(void) {
    init();
    return g_level;
}

void cpu_set_level(enum cpu_level level) {
    init();
    if (level < CPU_SCALAR) level = CPU_SCALAR;
    g_level = level > g_hw_level ? g_hw_level : level;
}

const char *cpu_level_name(enum cpu_level level) {
    switch (level) {
    case CPU_SCALAR: return "scalar";
    case CPU_AVX2: return "avx2";
    case CPU_AVX512: return "avx512";
    }
    return "?";
}

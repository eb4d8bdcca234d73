/* The frozen backward's block kernels (training/train_fb.h): the AVX2 and AVX-512 versions
 * give exactly the bits of the one-column-at-a-time sum (each product rounded, then added
 * in row order), on shapes with column and row tails (n not a multiple of the register
 * width, T not a multiple of 4), so the trainer's results do not depend on the CPU level. */
#include "test.h"

#include <stdint.h>

#include "core/cpu.h"
#include "training/train_fb.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2 - 1);
}

static void reference(float *d, size_t ds, const float *g, size_t gs, const float *buf, int n, int nr, int T) {
    for (int t = 0; t < T; t++)
        for (int c = 0; c < n; c++) {
            volatile float acc = d[(size_t)t * ds + c];
            for (int q = 0; q < nr; q++) {
                volatile float p = g[(size_t)t * gs + q] * buf[(size_t)q * n + c];
                acc = acc + p;
            }
            d[(size_t)t * ds + c] = acc;
        }
}

static int same(void (*kern)(float *, size_t, const float *, size_t, const float *, int, int, int), int n, int nr,
                int T) {
    size_t ds = (size_t)n + 3, gs = (size_t)nr + 5;
    float *g = malloc(sizeof(float) * gs * T), *buf = malloc(sizeof(float) * (size_t)n * nr);
    float *a = malloc(sizeof(float) * ds * T), *b = malloc(sizeof(float) * ds * T);
    for (size_t i = 0; i < gs * T; i++) g[i] = frand();
    for (size_t i = 0; i < (size_t)n * nr; i++) buf[i] = frand();
    for (size_t i = 0; i < ds * T; i++) a[i] = b[i] = frand();
    reference(a, ds, g, gs, buf, n, nr, T);
    kern(b, ds, g, gs, buf, n, nr, T);
    int ok = !memcmp(a, b, sizeof(float) * ds * T);
    free(g), free(buf), free(a), free(b);
    return ok;
}

static const int shapes[][3] = {{576, 64, 512}, {100, 64, 7}, {33, 17, 5}, {1, 1, 1}, {48, 3, 4}, {1536, 64, 9}};

TEST(avx2_block_is_bit_exact) {
    const struct cpu_features *f = cpu_features();
    if (!(f->avx2 && f->fma)) { fprintf(stderr, "  (no AVX2 here)\n"); return; }
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        CHECK_MSG(same(train_fb_block_avx2, shapes[i][0], shapes[i][1], shapes[i][2]), "n %d rows %d T %d",
                  shapes[i][0], shapes[i][1], shapes[i][2]);
}

TEST(avx512_block_is_bit_exact) {
    const struct cpu_features *f = cpu_features();
    if (!(f->avx512f && f->avx512vl && f->avx512dq && f->avx512bw)) { fprintf(stderr, "  (no AVX-512 here)\n"); return; }
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        CHECK_MSG(same(train_fb_block_avx512, shapes[i][0], shapes[i][1], shapes[i][2]), "n %d rows %d T %d",
                  shapes[i][0], shapes[i][1], shapes[i][2]);
}

int main(void) {
    TEST_EXPECT(2);
    RUN(avx2_block_is_bit_exact);
    RUN(avx512_block_is_bit_exact);
    return test_summary();
}

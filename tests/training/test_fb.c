/* The trainer's SIMD builds give the bits of the plain ones, so its results do not depend
 * on the CPU level: the frozen backward's block kernels (training/train_fb.h, AVX2 and
 * AVX-512) against the one-column-at-a-time sum (one fused multiply-add a term, in row
 * order), on shapes with column and row tails; and the AVX2 build of the float training
 * ops (_fa) against the SSE2 one (_fs), op by op, on random inputs. */
#include "test.h"

#include <stdint.h>

#include "core/cpu.h"
#include "training/train_fb.h"
#include "training/train_ops.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2 - 1);
}

static void reference(float *d, size_t ds, const float *g, size_t gs, const float *buf, size_t bs, int n, int nr,
                      int T) {
    for (int t = 0; t < T; t++)
        for (int c = 0; c < n; c++) {
            volatile float acc = d[(size_t)t * ds + c];
            for (int q = 0; q < nr; q++) acc = fmaf(g[(size_t)t * gs + q], buf[(size_t)q * bs + c], acc);
            d[(size_t)t * ds + c] = acc;
        }
}

typedef void kern_fn(float *, size_t, const float *, size_t, const float *, size_t, int, int, int);
static int same(kern_fn *kern, int n, int nr,
                int T) {
    size_t ds = (size_t)n + 3, gs = (size_t)nr + 5, bs = (size_t)n + 7;
    float *g = malloc(sizeof(float) * gs * T), *buf = malloc(sizeof(float) * bs * nr);
    float *a = malloc(sizeof(float) * ds * T), *b = malloc(sizeof(float) * ds * T);
    for (size_t i = 0; i < gs * T; i++) g[i] = frand();
    for (size_t i = 0; i < bs * nr; i++) buf[i] = frand();
    for (size_t i = 0; i < ds * T; i++) a[i] = b[i] = frand();
    reference(a, ds, g, gs, buf, bs, n, nr, T);
    kern(b, ds, g, gs, buf, bs, n, nr, T);
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

static float *rnd(size_t n) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = frand();
    return p;
}
static float *fdup(const float *p, size_t n) {
    float *q = malloc(n * sizeof *q);
    memcpy(q, p, n * sizeof *q);
    return q;
}
#define SAME(a, b, n, what) CHECK_MSG(!memcmp(a, b, (n) * sizeof(float)), "%s differs", what)

TEST(avx2_ops_are_bit_exact) {
    const struct cpu_features *f = cpu_features();
    if (!(f->avx2 && f->fma)) { fprintf(stderr, "  (no AVX2 here)\n"); return; }
    const int T = 37, n_in = 100, n_out = 83, r = 16, nh = 4, nkv = 2, hd = 24;
    float *x = rnd((size_t)T * n_in), *A = rnd((size_t)r * n_in), *B = rnd((size_t)n_out * r), *dy = rnd((size_t)T * n_out);
    float *y0 = rnd((size_t)T * n_out), *y1 = fdup(y0, (size_t)T * n_out), *u0 = rnd((size_t)T * r), *u1 = fdup(u0, (size_t)T * r);
    float *ls = rnd((size_t)(r + 1) * (n_out + 32));
    tops_lora_fwd_fs(y0, u0, x, A, B, 0.5f, T, n_in, n_out, r, ls);
    tops_lora_fwd_fa(y1, u1, x, A, B, 0.5f, T, n_in, n_out, r, ls);
    SAME(y0, y1, (size_t)T * n_out, "lora_fwd y");
    SAME(u0, u1, (size_t)T * r, "lora_fwd u");
    float *dx0 = rnd((size_t)T * n_in), *dx1 = fdup(dx0, (size_t)T * n_in), *dA0 = rnd((size_t)r * n_in),
          *dA1 = fdup(dA0, (size_t)r * n_in), *dB0 = rnd((size_t)n_out * r), *dB1 = fdup(dB0, (size_t)n_out * r),
          *du = rnd((size_t)T * r);
    tops_lora_bwd_fs(dx0, dA0, dB0, du, dy, x, u0, A, B, 0.5f, T, n_in, n_out, r);
    tops_lora_bwd_fa(dx1, dA1, dB1, du, dy, x, u0, A, B, 0.5f, T, n_in, n_out, r);
    SAME(dx0, dx1, (size_t)T * n_in, "lora_bwd dx");
    SAME(dA0, dA1, (size_t)r * n_in, "lora_bwd dA");
    SAME(dB0, dB1, (size_t)n_out * r, "lora_bwd dB");
    size_t qn = (size_t)T * nh * hd, kn = (size_t)T * nkv * hd;
    float *q = rnd(qn), *k = rnd(kn), *v = rnd(kn), *o0 = rnd(qn), *o1 = rnd(qn), *scr = rnd(2 * ((size_t)T + 32) * (T + hd));
    tops_attn_fwd_fs(o0, q, k, v, T, nh, nkv, hd, 0.2f, 0, nkv, scr);
    tops_attn_fwd_fa(o1, q, k, v, T, nh, nkv, hd, 0.2f, 0, nkv, scr);
    SAME(o0, o1, qn, "attn_fwd");
    float *dq0 = rnd(qn), *dq1 = fdup(dq0, qn), *dk0 = rnd(kn), *dk1 = fdup(dk0, kn), *dv0 = rnd(kn), *dv1 = fdup(dv0, kn);
    tops_attn_bwd_fs(dq0, dk0, dv0, o0, q, k, v, T, nh, nkv, hd, 0.2f, 0, nkv, scr);
    tops_attn_bwd_fa(dq1, dk1, dv1, o0, q, k, v, T, nh, nkv, hd, 0.2f, 0, nkv, scr);
    SAME(dq0, dq1, qn, "attn_bwd dq");
    SAME(dk0, dk1, kn, "attn_bwd dk");
    SAME(dv0, dv1, kn, "attn_bwd dv");
    float *w = rnd((size_t)n_in), *r0 = rnd((size_t)T * n_in), *r1 = fdup(r0, (size_t)T * n_in);
    tops_rmsnorm_fwd_fs(r0, x, w, T, n_in, 1e-5f);
    tops_rmsnorm_fwd_fa(r1, x, w, T, n_in, 1e-5f);
    SAME(r0, r1, (size_t)T * n_in, "rmsnorm_fwd");
    tops_rmsnorm_bwd_fs(r0, dx0, x, w, T, n_in, 1e-5f);
    tops_rmsnorm_bwd_fa(r1, dx0, x, w, T, n_in, 1e-5f);
    SAME(r0, r1, (size_t)T * n_in, "rmsnorm_bwd");
    float *g0 = rnd((size_t)T * n_in), *g1 = rnd((size_t)T * n_in), *h0 = rnd((size_t)T * n_in), *h1 = rnd((size_t)T * n_in);
    tops_swiglu_fwd_fs(h0, x, dx0, (long)T * n_in);
    tops_swiglu_fwd_fa(h1, x, dx0, (long)T * n_in);
    SAME(h0, h1, (size_t)T * n_in, "swiglu_fwd");
    tops_swiglu_bwd_fs(g0, h0, dx1, x, dx0, (long)T * n_in);
    tops_swiglu_bwd_fa(g1, h1, dx1, x, dx0, (long)T * n_in);
    SAME(g0, g1, (size_t)T * n_in, "swiglu_bwd dg");
    SAME(h0, h1, (size_t)T * n_in, "swiglu_bwd du");
    int ids[37];
    for (int i = 0; i < T; i++) ids[i] = (i * 7) % n_in;
    float *z0 = rnd((size_t)T * n_in), *z1 = rnd((size_t)T * n_in);
    double l0 = tops_xent_fs(z0, NULL, x, ids, NULL, T, n_in), l1 = tops_xent_fa(z1, NULL, x, ids, NULL, T, n_in);
    CHECK(l0 == l1);
    SAME(z0, z1, (size_t)T * n_in, "xent dz");
    float *all[] = {x, A, B, dy, y0, y1, u0, u1, dx0, dx1, dA0, dA1, dB0, dB1, du, q, k, v, o0, o1, scr,
                    dq0, dq1, dk0, dk1, dv0, dv1, w, r0, r1, g0, g1, h0, h1, z0, z1, ls};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]);
}

int main(void) {
    TEST_EXPECT(3);
    RUN(avx2_block_is_bit_exact);
    RUN(avx512_block_is_bit_exact);
    RUN(avx2_ops_are_bit_exact);
    return test_summary();
}

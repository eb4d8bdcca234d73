/* The trainer's SIMD builds give the bits of the plain ones, so its results do not depend
 * on the CPU level: the frozen backward's block kernels (training/train_fb.h, AVX2 and
 * AVX-512) against the one-column-at-a-time sum (one fused multiply-add a term, in row
 * order), on shapes with column and row tails; and the AVX2 build of the float training
 * ops (_fa) and the AVX-512 one (_fz) against the SSE2 one (_fs), op by op, on random inputs
 * of three shapes. */
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

/* one shape's inputs to every op, and what each op gives, for one build of the ops */
struct shape { int T, n_in, n_out, r, nh, nkv, hd; };
struct ins { struct shape s; float *x, *A, *B, *dy, *y, *u, *dx, *dA, *dB, *du, *q, *k, *v, *o, *dq, *dk, *dv, *w, *rr, *g, *h; int *ids; };
enum { N_OUT = 17 };
struct outs { float *b[N_OUT]; size_t n[N_OUT]; const char *what[N_OUT]; double loss; };

static void out_add(struct outs *o, int i, const char *what, const float *p, size_t n) {
    o->b[i] = fdup(p, n), o->n[i] = n, o->what[i] = what;
}

/* runs every op of build SUF on a copy of the inputs; the results go to o */
#define DEFINE_RUN(SUF)                                                                                         \
    static void run##SUF(const struct ins *in, struct outs *o) {                                                \
        const struct shape *s = &in->s;                                                                         \
        int T = s->T, n_in = s->n_in, n_out = s->n_out, r = s->r, nh = s->nh, nkv = s->nkv, hd = s->hd;         \
        size_t qn = (size_t)T * nh * hd, kn = (size_t)T * nkv * hd, xn = (size_t)T * n_in;                      \
        float *y = fdup(in->y, (size_t)T * n_out), *u = fdup(in->u, (size_t)T * r);                             \
        float *ls = calloc((size_t)(r + 1) * (n_out + 32), sizeof(float));                                      \
        tops_lora_fwd##SUF(y, u, in->x, in->A, in->B, 0.5f, T, n_in, n_out, r, ls);                             \
        out_add(o, 0, "lora_fwd y", y, (size_t)T * n_out), out_add(o, 1, "lora_fwd u", u, (size_t)T * r);      \
        float *dx = fdup(in->dx, xn), *dA = fdup(in->dA, (size_t)r * n_in), *dB = fdup(in->dB, (size_t)n_out * r); \
        tops_lora_bwd##SUF(dx, dA, dB, in->du, in->dy, in->x, in->u, in->A, in->B, 0.5f, T, n_in, n_out, r);    \
        out_add(o, 2, "lora_bwd dx", dx, xn), out_add(o, 3, "lora_bwd dA", dA, (size_t)r * n_in);              \
        out_add(o, 4, "lora_bwd dB", dB, (size_t)n_out * r);                                                    \
        float *scr = calloc(2 * ((size_t)T + 32) * (T + hd) + 64, sizeof(float)), *ao = fdup(in->o, qn);        \
        tops_attn_fwd##SUF(ao, in->q, in->k, in->v, T, nh, nkv, hd, 0.2f, 0, nkv, scr);                         \
        out_add(o, 5, "attn_fwd", ao, qn);                                                                      \
        float *dq = fdup(in->dq, qn), *dk = fdup(in->dk, kn), *dv = fdup(in->dv, kn);                           \
        tops_attn_bwd##SUF(dq, dk, dv, in->o, in->q, in->k, in->v, T, nh, nkv, hd, 0.2f, 0, nkv, scr);          \
        out_add(o, 6, "attn_bwd dq", dq, qn), out_add(o, 7, "attn_bwd dk", dk, kn);                            \
        out_add(o, 8, "attn_bwd dv", dv, kn);                                                                   \
        float *rr = fdup(in->rr, xn);                                                                           \
        tops_rmsnorm_fwd##SUF(rr, in->x, in->w, T, n_in, 1e-5f);                                                \
        out_add(o, 9, "rmsnorm_fwd", rr, xn);                                                                   \
        tops_rmsnorm_bwd##SUF(rr, in->dx, in->x, in->w, T, n_in, 1e-5f);                                        \
        out_add(o, 10, "rmsnorm_bwd", rr, xn);                                                                  \
        float *h = fdup(in->h, xn), *g = fdup(in->g, xn);                                                       \
        tops_swiglu_fwd##SUF(h, in->x, in->dx, (long)xn);                                                       \
        out_add(o, 11, "swiglu_fwd", h, xn);                                                                    \
        tops_swiglu_bwd##SUF(g, h, in->rr, in->x, in->dx, (long)xn);                                            \
        out_add(o, 12, "swiglu_bwd dg", g, xn), out_add(o, 13, "swiglu_bwd du", h, xn);                        \
        float *z = fdup(in->g, xn);                                                                             \
        o->loss = tops_xent##SUF(z, NULL, in->x, in->ids, NULL, T, n_in);                                       \
        out_add(o, 14, "xent dz", z, xn);                                                                       \
        float *d2 = fdup(in->dx, xn);                                                                           \
        tops_linear_bwd_x##SUF(d2, in->dy, in->B, T, n_in < n_out ? n_in : n_out, r);                           \
        out_add(o, 15, "linear_bwd_x", d2, xn);                                                                 \
        float *d3 = fdup(in->dA, (size_t)r * n_in);                                                             \
        tops_lora_da##SUF(d3, in->du, in->x, T, n_in, r, 0, n_in);                                              \
        out_add(o, 16, "lora_da", d3, (size_t)r * n_in);                                                        \
        free(y), free(u), free(ls), free(dx), free(dA), free(dB), free(scr), free(ao), free(dq), free(dk);      \
        free(dv), free(rr), free(h), free(g), free(z), free(d2), free(d3);                                      \
    }
DEFINE_RUN(_fs)
DEFINE_RUN(_fa)
DEFINE_RUN(_fz)

static void ins_make(struct ins *in, struct shape s) {
    in->s = s;
    size_t xn = (size_t)s.T * s.n_in, qn = (size_t)s.T * s.nh * s.hd, kn = (size_t)s.T * s.nkv * s.hd;
    in->x = rnd(xn), in->A = rnd((size_t)s.r * s.n_in), in->B = rnd((size_t)s.n_out * s.r), in->dy = rnd((size_t)s.T * s.n_out);
    in->y = rnd((size_t)s.T * s.n_out), in->u = rnd((size_t)s.T * s.r), in->dx = rnd(xn), in->dA = rnd((size_t)s.r * s.n_in);
    in->dB = rnd((size_t)s.n_out * s.r), in->du = rnd((size_t)s.T * s.r), in->q = rnd(qn), in->k = rnd(kn), in->v = rnd(kn);
    in->o = rnd(qn), in->dq = rnd(qn), in->dk = rnd(kn), in->dv = rnd(kn), in->w = rnd((size_t)s.n_in), in->rr = rnd(xn);
    in->g = rnd(xn), in->h = rnd(xn);
    for (size_t i = 0; i < xn; i += 7) in->x[i] *= 40; /* the sigmoid and the exp far from 0 */
    in->ids = malloc((size_t)s.T * sizeof *in->ids);
    for (int i = 0; i < s.T; i++) in->ids[i] = (i * 7) % s.n_in;
}
static void ins_free(struct ins *in) {
    float *all[] = {in->x, in->A, in->B, in->dy, in->y, in->u, in->dx, in->dA, in->dB, in->du, in->q,
                    in->k, in->v, in->o, in->dq, in->dk, in->dv, in->w, in->rr, in->g, in->h};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]);
    free(in->ids);
}
static void outs_free(struct outs *o) {
    for (int i = 0; i < N_OUT; i++) free(o->b[i]);
}

/* shapes with and without 64-column blocks (hd 64, n_in 100 and 600), key counts with 16-
 * and 8-key tails (T 37, 100) */
static const struct shape op_shapes[] = {{37, 100, 83, 16, 4, 2, 24}, {100, 600, 70, 16, 3, 1, 64}, {9, 8, 5, 3, 2, 2, 8}};

static void same_as_sse2(void (*run)(const struct ins *, struct outs *), const char *build) {
    for (size_t k = 0; k < sizeof op_shapes / sizeof *op_shapes; k++) {
        struct ins in;
        ins_make(&in, op_shapes[k]);
        struct outs a = {0}, b = {0};
        run_fs(&in, &a);
        run(&in, &b);
        CHECK_MSG(a.loss == b.loss, "%s, shape %zu: xent loss %.17g vs %.17g", build, k, a.loss, b.loss);
        for (int i = 0; i < N_OUT; i++)
            CHECK_MSG(a.n[i] == b.n[i] && !memcmp(a.b[i], b.b[i], a.n[i] * sizeof(float)), "%s, shape %zu: %s differs",
                      build, k, a.what[i]);
        outs_free(&a), outs_free(&b), ins_free(&in);
    }
}

TEST(avx2_ops_are_bit_exact) {
    const struct cpu_features *f = cpu_features();
    if (!(f->avx2 && f->fma)) { fprintf(stderr, "  (no AVX2 here)\n"); return; }
    same_as_sse2(run_fa, "AVX2");
}

TEST(avx512_ops_are_bit_exact) {
    const struct cpu_features *f = cpu_features();
    if (!(f->avx512f && f->avx512vl && f->avx512dq && f->avx512bw)) { fprintf(stderr, "  (no AVX-512 here)\n"); return; }
    same_as_sse2(run_fz, "AVX-512");
}

int main(void) {
    TEST_EXPECT(4);
    RUN(avx2_block_is_bit_exact);
    RUN(avx512_block_is_bit_exact);
    RUN(avx2_ops_are_bit_exact);
    RUN(avx512_ops_are_bit_exact);
    return test_summary();
}

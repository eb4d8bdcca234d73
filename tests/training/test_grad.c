/* Gradient checks: every backward op of src/training/train_ops.h against central finite
 * differences of its forward, both in double precision (the _d instance of the same
 * source the trainer runs in float), on small random inputs. Each check perturbs every
 * input element by +-1e-5 and compares (L(x+h) - L(x-h)) / 2h with the analytic
 * gradient, L = sum(c . y) for a random c (or the loss itself for cross-entropy). */
#include <math.h>
#include <stdint.h>

#include "test.h"
#include "training/train_ops.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double urand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0 * 2 - 1;
}
static double *rnd(size_t n, double scale) {
    double *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = urand() * scale;
    return p;
}
static double *zeros(size_t n) { return calloc(n, sizeof(double)); }

typedef double (*loss_fn)(void *ctx);

/* worst |numeric - analytic| / max(1, |analytic|) over x[0..n) */
static double check_grad(loss_fn f, void *ctx, double *x, const double *g, size_t n) {
    double worst = 0, h = 1e-5;
    for (size_t i = 0; i < n; i++) {
        double x0 = x[i];
        x[i] = x0 + h;
        double fp = f(ctx);
        x[i] = x0 - h;
        double fm = f(ctx);
        x[i] = x0;
        double num = (fp - fm) / (2 * h), err = fabs(num - g[i]) / fmax(1, fabs(g[i]));
        if (err > worst) worst = err;
    }
    return worst;
}
static double dotc(const double *c, const double *y, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += c[i] * y[i];
    return s;
}
#define TOL 1e-7

/* ---- RMSNorm ---- */
struct norm_ctx { double *x, *w, *y, *c; int T, n; };
static double norm_loss(void *p) {
    struct norm_ctx *k = p;
    tops_rmsnorm_fwd_d(k->y, k->x, k->w, k->T, k->n, 1e-5);
    return dotc(k->c, k->y, (size_t)k->T * k->n);
}
TEST(rmsnorm_backward_matches_finite_differences) {
    struct norm_ctx k = {.T = 3, .n = 7};
    size_t N = (size_t)k.T * k.n;
    k.x = rnd(N, 1), k.w = rnd(k.n, 1), k.y = zeros(N), k.c = rnd(N, 1);
    double *dx = zeros(N);
    tops_rmsnorm_bwd_d(dx, k.c, k.x, k.w, k.T, k.n, 1e-5);
    double e = check_grad(norm_loss, &k, k.x, dx, N);
    CHECK_MSG(e < TOL, "rmsnorm dx worst error %g", e);
    /* without a weight (qwen3's per-head norms have one; the trainer's plain path none) */
    free(k.w), k.w = NULL;
    for (size_t i = 0; i < N; i++) dx[i] = 0;
    tops_rmsnorm_bwd_d(dx, k.c, k.x, NULL, k.T, k.n, 1e-5);
    e = check_grad(norm_loss, &k, k.x, dx, N);
    CHECK_MSG(e < TOL, "rmsnorm (no weight) dx worst error %g", e);
    free(k.x), free(k.y), free(k.c), free(dx);
}

/* ---- RoPE ---- */
struct rope_ctx { double *x, *y, *c; int T, nh, hd, nrot, neox; float *ff; };
static double rope_loss(void *p) {
    struct rope_ctx *k = p;
    size_t N = (size_t)k->T * k->nh * k->hd;
    memcpy(k->y, k->x, N * sizeof *k->y);
    tops_rope_d(k->y, k->T, k->nh, k->hd, k->nrot, 3, 10000.0, 0.5, k->ff, k->neox, 1);
    return dotc(k->c, k->y, N);
}
TEST(rope_backward_matches_finite_differences) {
    float ff[3] = {1.0f, 2.0f, 4.0f};
    for (int neox = 0; neox < 2; neox++) {
        struct rope_ctx k = {.T = 4, .nh = 2, .hd = 8, .nrot = 6, .neox = neox, .ff = neox ? ff : NULL};
        size_t N = (size_t)k.T * k.nh * k.hd;
        k.x = rnd(N, 1), k.y = zeros(N), k.c = rnd(N, 1);
        double *dx = malloc(N * sizeof *dx);
        memcpy(dx, k.c, N * sizeof *dx);
        tops_rope_d(dx, k.T, k.nh, k.hd, k.nrot, 3, 10000.0, 0.5, k.ff, k.neox, -1);
        double e = check_grad(rope_loss, &k, k.x, dx, N);
        CHECK_MSG(e < TOL, "rope (neox %d) dx worst error %g", neox, e);
        free(k.x), free(k.y), free(k.c), free(dx);
    }
}

/* ---- attention ---- */
struct attn_ctx { double *q, *k, *v, *o, *c, *scr; int T, nh, nkv, hd; };
static double attn_loss(void *p) {
    struct attn_ctx *a = p;
    tops_attn_fwd_d(a->o, a->q, a->k, a->v, a->T, a->nh, a->nkv, a->hd, 0.35, 0, a->nkv, a->scr);
    return dotc(a->c, a->o, (size_t)a->T * a->nh * a->hd);
}
TEST(attention_backward_matches_finite_differences) {
    struct attn_ctx a = {.T = 5, .nh = 4, .nkv = 2, .hd = 3};  /* grouped: 2 query heads per kv head */
    size_t NQ = (size_t)a.T * a.nh * a.hd, NK = (size_t)a.T * a.nkv * a.hd;
    a.q = rnd(NQ, 1), a.k = rnd(NK, 1), a.v = rnd(NK, 1), a.o = zeros(NQ), a.c = rnd(NQ, 1);
    a.scr = zeros(2 * ((size_t)a.T + 32) * (a.T + a.hd));
    double *dq = zeros(NQ), *dk = zeros(NK), *dv = zeros(NK);
    /* two calls over halves of the kv heads: what the trainer's threads do */
    tops_attn_bwd_d(dq, dk, dv, a.c, a.q, a.k, a.v, a.T, a.nh, a.nkv, a.hd, 0.35, 0, 1, a.scr);
    tops_attn_bwd_d(dq, dk, dv, a.c, a.q, a.k, a.v, a.T, a.nh, a.nkv, a.hd, 0.35, 1, 2, a.scr);
    double eq = check_grad(attn_loss, &a, a.q, dq, NQ), ek = check_grad(attn_loss, &a, a.k, dk, NK),
           ev = check_grad(attn_loss, &a, a.v, dv, NK);
    CHECK_MSG(eq < TOL && ek < TOL && ev < TOL, "attention worst errors dq %g dk %g dv %g", eq, ek, ev);
    free(a.q), free(a.k), free(a.v), free(a.o), free(a.c), free(a.scr), free(dq), free(dk), free(dv);
}

/* ---- SwiGLU ---- */
struct swi_ctx { double *g, *u, *h, *c; long n; };
static double swi_loss(void *p) {
    struct swi_ctx *k = p;
    tops_swiglu_fwd_d(k->h, k->g, k->u, k->n);
    return dotc(k->c, k->h, (size_t)k->n);
}
TEST(swiglu_backward_matches_finite_differences) {
    struct swi_ctx k = {.n = 23};
    k.g = rnd(23, 4), k.u = rnd(23, 2), k.h = zeros(23), k.c = rnd(23, 1);
    double *dg = zeros(23), *du = zeros(23);
    tops_swiglu_bwd_d(dg, du, k.c, k.g, k.u, k.n);
    double eg = check_grad(swi_loss, &k, k.g, dg, 23), eu = check_grad(swi_loss, &k, k.u, du, 23);
    CHECK_MSG(eg < TOL && eu < TOL, "swiglu worst errors dg %g du %g", eg, eu);
    free(k.g), free(k.u), free(k.h), free(k.c), free(dg), free(du);
}

/* ---- dense product and LoRA ---- */
struct lin_ctx { double *x, *W, *b, *A, *B, *y, *u, *c, *scr; int T, ni, no, r; double s; };
static double lin_loss(void *p) {
    struct lin_ctx *k = p;
    tops_linear_fwd_d(k->y, k->x, k->W, k->b, k->T, k->ni, k->no);
    tops_lora_fwd_d(k->y, k->u, k->x, k->A, k->B, k->s, k->T, k->ni, k->no, k->r, k->scr);
    return dotc(k->c, k->y, (size_t)k->T * k->no);
}
TEST(linear_and_lora_backward_match_finite_differences) {
    struct lin_ctx k = {.T = 3, .ni = 6, .no = 5, .r = 2, .s = 1.7};
    k.x = rnd(18, 1), k.W = rnd(30, 1), k.b = rnd(5, 1), k.A = rnd(12, 1), k.B = rnd(10, 1);
    k.y = zeros(15), k.u = zeros(6), k.c = rnd(15, 1), k.scr = zeros((size_t)(k.r + 1) * (k.no + 32));
    double *dx = zeros(18), *dW = zeros(30), *dA = zeros(12), *dB = zeros(10), *du = zeros(6);
    lin_loss(&k);  /* u as the forward leaves it */
    tops_linear_bwd_x_d(dx, k.c, k.W, k.T, k.ni, k.no);
    tops_linear_bwd_w_d(dW, k.c, k.x, k.T, k.ni, k.no);
    tops_lora_bwd_d(dx, dA, dB, du, k.c, k.x, k.u, k.A, k.B, k.s, k.T, k.ni, k.no, k.r);
    double ex = check_grad(lin_loss, &k, k.x, dx, 18), ew = check_grad(lin_loss, &k, k.W, dW, 30),
           ea = check_grad(lin_loss, &k, k.A, dA, 12), eb = check_grad(lin_loss, &k, k.B, dB, 10);
    CHECK_MSG(ex < TOL && ew < TOL && ea < TOL && eb < TOL, "linear/lora worst errors dx %g dW %g dA %g dB %g", ex,
              ew, ea, eb);
    free(k.x), free(k.W), free(k.b), free(k.A), free(k.B), free(k.y), free(k.u), free(k.c), free(k.scr);
    free(dx), free(dW), free(dA), free(dB), free(du);
}

/* ---- embedding ---- */
struct emb_ctx { double *E, *x, *c; const int *ids; int T, n; };
static double emb_loss(void *p) {
    struct emb_ctx *k = p;
    tops_embed_fwd_d(k->x, k->E, k->ids, k->T, k->n);
    return dotc(k->c, k->x, (size_t)k->T * k->n);
}
TEST(embedding_backward_matches_finite_differences) {
    static const int ids[4] = {2, 0, 2, 3};  /* a repeated id: its rows' gradients add up */
    struct emb_ctx k = {.T = 4, .n = 3, .ids = ids};
    k.E = rnd(15, 1), k.x = zeros(12), k.c = rnd(12, 1);
    double *dE = zeros(15);
    tops_embed_bwd_d(dE, k.c, ids, k.T, k.n);
    double e = check_grad(emb_loss, &k, k.E, dE, 15);
    CHECK_MSG(e < TOL, "embedding dE worst error %g", e);
    free(k.E), free(k.x), free(k.c), free(dE);
}

/* ---- masked cross-entropy ---- */
struct xent_ctx { double *z, *w; const int *y; int T, V; };
static double xent_loss(void *p) {
    struct xent_ctx *k = p;
    return tops_xent_d(NULL, NULL, k->z, k->y, k->w, k->T, k->V);
}
TEST(cross_entropy_backward_matches_finite_differences) {
    static const int y[4] = {1, 6, 0, 3};
    double w[4] = {1, 0, 0.5, 1};  /* the second position is masked out (a prompt token) */
    struct xent_ctx k = {.T = 4, .V = 7, .y = y, .w = w};
    k.z = rnd(28, 3);
    double *dz = zeros(28), logp[4];
    double L = tops_xent_d(dz, logp, k.z, y, w, k.T, k.V);
    double e = check_grad(xent_loss, &k, k.z, dz, 28);
    CHECK_MSG(e < TOL, "cross-entropy dz worst error %g", e);
    CHECK_NEAR(L, -(logp[0] + 0.5 * logp[2] + logp[3]), 1e-12);
    for (int i = 0; i < 7; i++) CHECK(dz[7 + i] == 0);  /* a masked row has no gradient */
    free(k.z), free(dz);
}

/* The float instance the trainer runs is the same computation: its attention, norm, SwiGLU
 * and cross-entropy agree with the double one to float rounding. */
TEST(float_instance_agrees_with_double) {
    enum { T = 6, NH = 2, HD = 4 };
    double qd[T * NH * HD], od[T * NH * HD], sd[(T + 32) * (HD + 2)];
    float qf[T * NH * HD], of[T * NH * HD], sf[(T + 32) * (HD + 2)];
    for (int i = 0; i < T * NH * HD; i++) qf[i] = (float)(qd[i] = urand());
    tops_attn_fwd_d(od, qd, qd, qd, T, NH, NH, HD, 0.5, 0, NH, sd);
    tops_attn_fwd_f(of, qf, qf, qf, T, NH, NH, HD, 0.5f, 0, NH, sf);
    double worst = 0;
    for (int i = 0; i < T * NH * HD; i++) worst = fmax(worst, fabs(od[i] - of[i]));
    CHECK_MSG(worst < 1e-5, "attention float vs double: %g", worst);
    tops_rmsnorm_fwd_d(od, qd, NULL, T, NH * HD, 1e-5);
    tops_rmsnorm_fwd_f(of, qf, NULL, T, NH * HD, 1e-5f);
    worst = 0;
    for (int i = 0; i < T * NH * HD; i++) worst = fmax(worst, fabs(od[i] - of[i]));
    CHECK_MSG(worst < 1e-5, "rmsnorm float vs double: %g", worst);

    /* SwiGLU and cross-entropy take the float exp (eight lanes, no libm): over the whole
     * range, with a length that leaves a tail of 5, and the gradient written over the
     * logits themselves, as the trainer calls it */
    enum { N = 61, V = 77, TR = 3 };
    double gd[N], ud[N], hd[N], dgd[N], dud[N], hgd[N];
    float gf[N], uf[N], hf[N], dgf[N], duf[N], hgf[N];
    for (int i = 0; i < N; i++) {
        double g = i == 0 ? 0 : i == 1 ? 100 : i == 2 ? -100 : i == 3 ? -90 : urand() * 12;
        gf[i] = (float)(gd[i] = g), uf[i] = (float)(ud[i] = urand()), hgf[i] = (float)(hgd[i] = urand());
    }
    tops_swiglu_fwd_d(hd, gd, ud, N), tops_swiglu_fwd_f(hf, gf, uf, N);
    tops_swiglu_bwd_d(dgd, dud, hgd, gd, ud, N), tops_swiglu_bwd_f(dgf, duf, hgf, gf, uf, N);
    double wh = 0, wg = 0, wu = 0;
    for (int i = 0; i < N; i++) {
        wh = fmax(wh, fabs(hd[i] - hf[i]) / (1 + fabs(hd[i])));
        wg = fmax(wg, fabs(dgd[i] - dgf[i]) / (1 + fabs(dgd[i])));
        wu = fmax(wu, fabs(dud[i] - duf[i]) / (1 + fabs(dud[i])));
    }
    CHECK_MSG(wh < 1e-6 && wg < 1e-6 && wu < 1e-6, "swiglu float vs double: h %g dg %g du %g", wh, wg, wu);
    double zd[TR * V], dzd[TR * V], lpd[TR], wd[TR] = {1, 0.5, 2};
    float zf[TR * V], lpf[TR], wf[TR] = {1, 0.5f, 2};
    int y[TR] = {0, 76, 40};
    for (int i = 0; i < TR * V; i++) zf[i] = (float)(zd[i] = urand() * (i % 9 == 0 ? 30 : 4));
    double ld = tops_xent_d(dzd, lpd, zd, y, wd, TR, V), lf = tops_xent_f(zf, lpf, zf, y, wf, TR, V);
    CHECK_MSG(fabs(ld - lf) < 1e-5 * (1 + fabs(ld)), "cross-entropy float vs double: %.9g %.9g", ld, lf);
    worst = 0;
    for (int t = 0; t < TR; t++) worst = fmax(worst, fabs(lpd[t] - lpf[t]));
    for (int i = 0; i < TR * V; i++) worst = fmax(worst, fabs(dzd[i] - zf[i]));
    CHECK_MSG(worst < 1e-6, "cross-entropy float vs double (log p and the gradient in place): %g", worst);
}

int main(void) {
    TEST_EXPECT(8);
    RUN(rmsnorm_backward_matches_finite_differences);
    RUN(rope_backward_matches_finite_differences);
    RUN(attention_backward_matches_finite_differences);
    RUN(swiglu_backward_matches_finite_differences);
    RUN(linear_and_lora_backward_match_finite_differences);
    RUN(embedding_backward_matches_finite_differences);
    RUN(cross_entropy_backward_matches_finite_differences);
    RUN(float_instance_agrees_with_double);
    return test_summary();
}

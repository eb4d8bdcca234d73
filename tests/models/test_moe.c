/* The mixture-of-experts block (models/moe.c) and its products (core/matmul_id.c):
 * the SIMD kernels equal the scalar reference bit for bit, the block equals a plain
 * double-precision reading of llama.cpp's build_moe_ffn (router softmax or softmax
 * over the chosen, top-k, renormalised weights, biases, gpt-oss's clamped SwiGLU),
 * and a batch gives the same rows as its tokens one at a time. */
#include "test.h"
#include "core/cpu.h"
#include "core/dtype.h"
#include "core/fp16.h"
#include "core/matmul_id.h"
#include "core/pool.h"
#include "models/moe.h"

static unsigned rng = 12345;
static float frand(void) {
    rng = rng * 1103515245u + 12345u;
    return ((rng >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

static struct tensor mk(int type, int k, int n, int ne2, void *data) {
    struct tensor t = {0};
    t.type = type;
    t.n_dims = ne2 > 1 ? 3 : 2;
    t.ne[0] = k, t.ne[1] = n, t.ne[2] = ne2, t.ne[3] = 1;
    t.data = data;
    t.nbytes = dtype_row_bytes(type, k) * (size_t)n * ne2;
    return t;
}

/* every f16 product of a vec_dot / tinyBLAS order against double sums, and the
 * kernels against the scalar path at every shape, bit for bit */
TEST(kernels_match_scalar) {
    struct pool *p = pool_process(2);
    enum cpu_level saved = cpu_level();
    int ks[] = {64, 96, 128, 200, 16, 48};
    for (int ki = 0; ki < 6; ki++)
        for (int m = 1; m <= 5; m += 2) {
            int k = ks[ki], n = 37;
            uint16_t *w16 = malloc(sizeof(uint16_t) * k * n);
            float *w32 = malloc(sizeof(float) * k * n), *x = malloc(sizeof(float) * k * m);
            float *y[2][2];
            for (int i = 0; i < k * n; i++) w32[i] = frand(), w16[i] = fp32_to_fp16(w32[i]);
            for (int i = 0; i < k * m; i++) x[i] = frand();
            struct tensor t16 = mk(DT_F16, k, n, 1, w16), t32 = mk(DT_F32, k, n, 1, w32);
            for (int lv = 0; lv < 2; lv++) {
                cpu_set_level(lv ? CPU_AVX512 : CPU_SCALAR);
                y[lv][0] = malloc(sizeof(float) * n * m);
                y[lv][1] = malloc(sizeof(float) * n * m);
                matmul_id(p, &t16, x, y[lv][0], m);
                matmul_f32_tinyblas(p, &t32, x, y[lv][1], m);
            }
            double err16 = 0, err32 = 0;
            int same = 1;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double r16 = 0, r32 = 0;
                    for (int e = 0; e < k; e++) {
                        r16 += (double)fp16_to_fp32(w16[j * k + e]) * fp16_to_fp32(fp32_to_fp16(x[i * k + e]));
                        r32 += (double)w32[j * k + e] * x[i * k + e];
                    }
                    err16 = fmax(err16, fabs(y[0][0][i * n + j] - r16));
                    err32 = fmax(err32, fabs(y[0][1][i * n + j] - r32));
                    same &= y[0][0][i * n + j] == y[1][0][i * n + j];
                    /* f32 rows of k % 16 != 0 go through matmul(), whose paths sum differently */
                    if (k % 16 == 0) same &= y[0][1][i * n + j] == y[1][1][i * n + j];
                }
            CHECK_MSG(err16 < 1e-4 && err32 < 1e-4, "k %d m %d: f16 err %g, f32 err %g", k, m, err16, err32);
            if (cpu_level() >= CPU_AVX512) CHECK_MSG(same, "k %d m %d: AVX-512 differs from scalar", k, m);
            for (int lv = 0; lv < 2; lv++) free(y[lv][0]), free(y[lv][1]);
            free(w16); free(w32); free(x);
        }
    cpu_set_level(saved);
}

/* the block in double from the definition, for one token */
static void ref_block(const struct moe_cfg *c, const struct moe_layer *L, const float *x, double *out) {
    int E = c->n_embd, F = c->n_ff, X = c->n_expert, K = c->n_used;
    double lg[16], w[16];
    int sel[16];
    const float *gi = L->gate_inp.data;
    for (int e = 0; e < X; e++) {
        lg[e] = L->gate_inp_b.data ? ((const float *)L->gate_inp_b.data)[e] : 0;
        for (int i = 0; i < E; i++) lg[e] += (double)gi[e * E + i] * x[i];
    }
    double pr[16], mx = -1e300, sum = 0;
    for (int e = 0; e < X; e++) pr[e] = lg[e], mx = fmax(mx, lg[e]);
    if (c->gating == MOE_GATING_SOFTMAX) {
        for (int e = 0; e < X; e++) sum += pr[e] = exp(lg[e] - mx);
        for (int e = 0; e < X; e++) pr[e] /= sum;
    }
    for (int k = 0; k < K; k++) {
        int b = -1;
        for (int e = 0; e < X; e++) {
            int taken = 0;
            for (int j = 0; j < k; j++) taken |= sel[j] == e;
            if (!taken && (b < 0 || pr[e] > pr[b])) b = e;
        }
        sel[k] = b, w[k] = pr[b];
    }
    if (c->gating == MOE_GATING_SOFTMAX_WEIGHT) {
        double m2 = -1e300, s2 = 0;
        for (int k = 0; k < K; k++) m2 = fmax(m2, w[k]);
        for (int k = 0; k < K; k++) s2 += w[k] = exp(w[k] - m2);
        for (int k = 0; k < K; k++) w[k] /= s2;
    }
    if (c->norm_w) {
        double s = 0;
        for (int k = 0; k < K; k++) s += w[k];
        for (int k = 0; k < K; k++) w[k] /= s;
    }
    for (int i = 0; i < E; i++) out[i] = 0;
    for (int k = 0; k < K; k++) {
        int e = sel[k];
        const float *G = (const float *)L->gate_exps.data + (size_t)e * F * E;
        const float *U = (const float *)L->up_exps.data + (size_t)e * F * E;
        const float *D = (const float *)L->down_exps.data + (size_t)e * E * F;
        double h[64];
        for (int f = 0; f < F; f++) {
            double g = L->gate_b.data ? ((const float *)L->gate_b.data)[e * F + f] : 0;
            double u = L->up_b.data ? ((const float *)L->up_b.data)[e * F + f] : 0;
            for (int i = 0; i < E; i++) g += (double)G[f * E + i] * x[i], u += (double)U[f * E + i] * x[i];
            if (c->act == MOE_ACT_SWIGLU_OAI) {
                g = fmin(g, 7.0), u = fmax(-7.0, fmin(u, 7.0));
                h[f] = g / (1 + exp(-1.702 * g)) * (u + 1);
            } else h[f] = g / (1 + exp(-g)) * u;
        }
        for (int i = 0; i < E; i++) {
            double d = L->down_b.data ? ((const float *)L->down_b.data)[e * E + i] : 0;
            for (int f = 0; f < F; f++) d += (double)D[i * F + f] * h[f];
            out[i] += w[k] * d;
        }
    }
}

static float *fill(size_t n, float scale) {
    float *v = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) v[i] = frand() * scale;
    return v;
}

static void block_case(int gating, int act, int norm_w, int biases) {
    struct pool *p = pool_process(2);
    struct moe_cfg c = {.n_embd = 32, .n_ff = 24, .n_expert = 6, .n_used = 3, .gating = gating, .act = act,
                        .norm_w = norm_w};
    int E = c.n_embd, F = c.n_ff, X = c.n_expert, n = 7;
    struct moe_layer L = {0};
    float *gi = fill((size_t)E * X, 0.5f), *g = fill((size_t)E * F * X, 0.4f), *u = fill((size_t)E * F * X, 0.4f),
          *d = fill((size_t)E * F * X, 0.3f);
    float *gib = fill(X, 0.5f), *gb = fill((size_t)F * X, 0.5f), *ub = fill((size_t)F * X, 0.5f), *db = fill((size_t)E * X, 0.5f);
    L.gate_inp = mk(DT_F32, E, X, 1, gi);
    L.gate_exps = mk(DT_F32, E, F, X, g);
    L.up_exps = mk(DT_F32, E, F, X, u);
    L.down_exps = mk(DT_F32, F, E, X, d);
    if (biases) {
        L.gate_inp_b = mk(DT_F32, X, 1, 1, gib);
        L.gate_b = mk(DT_F32, F, X, 1, gb);
        L.up_b = mk(DT_F32, F, X, 1, ub);
        L.down_b = mk(DT_F32, E, X, 1, db);
    }
    float *x = fill((size_t)n * E, 3.0f), *y = malloc(sizeof(float) * n * E), *y1 = malloc(sizeof(float) * E);
    struct moe_scratch *s = NULL;
    REQUIRE(moe_reserve(&s, &c, n) == 0, "out of memory");
    CHECK(moe_ffn(p, &c, &L, x, y, n, s) == 0);
    double err = 0, same = 1;
    for (int i = 0; i < n; i++) {
        double r[32];
        ref_block(&c, &L, x + (size_t)i * E, r);
        for (int j = 0; j < E; j++) err = fmax(err, fabs(y[(size_t)i * E + j] - r[j]));
        CHECK(moe_ffn(p, &c, &L, x + (size_t)i * E, y1, 1, s) == 0);
        for (int j = 0; j < E; j++) same = same && y1[j] == y[(size_t)i * E + j];
    }
    fprintf(stderr, "  gating %d act %d norm %d biases %d: max |diff| from double %.2e\n", gating, act, norm_w, biases, err);
    CHECK_MSG(err < 2e-4, "block differs from its definition by %g", err);
    CHECK_MSG(same, "a batch's rows differ from its tokens one at a time");
    /* in place, as the forward calls it */
    CHECK(moe_ffn(p, &c, &L, x, x, n, s) == 0);
    CHECK(memcmp(x, y, sizeof(float) * n * E) == 0);
    /* a scratch reserved for fewer tokens is refused, not overrun */
    struct moe_scratch *small = NULL;
    REQUIRE(moe_reserve(&small, &c, 2) == 0, "out of memory");
    CHECK(moe_ffn(p, &c, &L, x, y, n, small) == -1);
    moe_scratch_free(small);
    moe_scratch_free(s);
    free(gi); free(g); free(u); free(d); free(gib); free(gb); free(ub); free(db); free(x); free(y); free(y1);
}

TEST(qwen3moe_block_is_its_definition) { block_case(MOE_GATING_SOFTMAX, MOE_ACT_SWIGLU, 1, 0); }
TEST(gpt_oss_block_is_its_definition) { block_case(MOE_GATING_SOFTMAX_WEIGHT, MOE_ACT_SWIGLU_OAI, 0, 1); }

int main(void) {
    TEST_EXPECT(3);
    RUN(kernels_match_scalar);
    RUN(qwen3moe_block_is_its_definition);
    RUN(gpt_oss_block_is_its_definition);
    return test_summary();
}

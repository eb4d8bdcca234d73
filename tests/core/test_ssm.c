/* The recurrent-layer ops (core/ssm.h) against direct formulas in double: the causal
 * conv stepped token by token equals the convolution over the whole sequence, the
 * delta rule equals its matrix form, and its AVX-512 copy gives the portable bits. */
#include "test.h"
#include "core/cpu.h"
#include "core/ssm.h"

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

TEST(causal_conv_steps_equal_the_convolution) {
    enum { C = 37, K = 4, T = 9 };
    float x[T][C], w[C * K], state[C * (K - 1)] = {0}, y[C];
    unsigned s = 3;
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++) x[t][c] = frand(&s);
    for (int i = 0; i < C * K; i++) w[i] = frand(&s);
    for (int t = 0; t < T; t++) {
        /* two channel ranges, as two threads would */
        ops_conv1d_causal_step(y, state, x[t], w, K, 0, 20);
        ops_conv1d_causal_step(y, state, x[t], w, K, 20, C);
        for (int c = 0; c < C; c++) {
            double ref = 0;  /* inputs before the sequence are zero */
            for (int k = 0; k < K; k++)
                if (t - (K - 1) + k >= 0) ref += (double)x[t - (K - 1) + k][c] * w[c * K + k];
            CHECK_NEAR(y[c], ref, 1e-5);
        }
    }
    /* in place (y = x) gives the same */
    float state2[C * (K - 1)] = {0}, xx[C];
    for (int t = 0; t < T; t++) {
        for (int c = 0; c < C; c++) xx[c] = x[t][c];
        ops_conv1d_causal_step(xx, state2, xx, w, K, 0, C);
    }
    for (int c = 0; c < C; c++) CHECK(xx[c] == y[c]);
    /* and the portable path gives the same bits */
    enum cpu_level saved = cpu_level();
    cpu_set_level(CPU_SCALAR);
    float state3[C * (K - 1)] = {0};
    for (int t = 0; t < T; t++) {
        for (int c = 0; c < C; c++) xx[c] = x[t][c];
        ops_conv1d_causal_step(xx, state3, xx, w, K, 0, C);
    }
    cpu_set_level(saved);
    for (int c = 0; c < C; c++) CHECK(xx[c] == y[c]);
}

TEST(l2norm_softplus_silu) {
    float x[3] = {3, 0, -4};
    ops_l2norm(x, 3, 1e-6f);
    CHECK_NEAR(x[0], 0.6, 1e-7);
    CHECK_NEAR(x[2], -0.8, 1e-7);
    float z[2] = {0, 0};
    ops_l2norm(z, 2, 1e-6f);  /* eps keeps zero at zero */
    CHECK(z[0] == 0 && z[1] == 0);
    CHECK_NEAR(ops_softplus(0), log(2.0), 1e-7);
    CHECK(ops_softplus(30) == 30);
    float v[17];
    for (int i = 0; i < 17; i++) v[i] = (float)i - 8;
    ops_silu(v, 17);
    for (int i = 0; i < 17; i++) CHECK_NEAR(v[i], (i - 8) / (1 + exp(8.0 - i)), 1e-5);
}

/* M (key x value) per step: M = decay M; M += k ((v - Mᵀk) beta)ᵀ; o = Mᵀq scale */
TEST(delta_rule_matches_its_matrix_form_on_every_path) {
    enum { N = 80, T = 6 };  /* 80: one whole 64-element step and 16 leftovers */
    static float S[N * N], S2[N * N], S3[N * N];
    static double M[N][N];
    float q[T][N], k[T][N], v[T][N], o[N], o2[N], o3[N];
    unsigned s = 11;
    for (int t = 0; t < T; t++) {
        double nq = 0, nk = 0;
        for (int i = 0; i < N; i++) {
            q[t][i] = frand(&s), k[t][i] = frand(&s), v[t][i] = frand(&s);
            nq += q[t][i] * q[t][i], nk += k[t][i] * k[t][i];
        }
        for (int i = 0; i < N; i++) q[t][i] /= (float)sqrt(nq), k[t][i] /= (float)sqrt(nk);
    }
    enum cpu_level saved = cpu_level();
    for (int t = 0; t < T; t++) {
        float decay = 0.5f + 0.08f * t, beta = 0.9f - 0.1f * t, scale = 0.25f;
        cpu_set_level(saved);
        ops_delta_rule_step(S, q[t], k[t], v[t], decay, beta, scale, o, N);
        cpu_set_level(CPU_SCALAR);
        ops_delta_rule_step(S2, q[t], k[t], v[t], decay, beta, scale, o2, N);
        cpu_set_level(CPU_AVX2);  /* or less where the CPU lacks it */
        ops_delta_rule_step(S3, q[t], k[t], v[t], decay, beta, scale, o3, N);
        for (int j = 0; j < N; j++) CHECK(o[j] == o2[j] && o3[j] == o2[j]);
        double d[N];
        for (int j = 0; j < N; j++) {
            double mk = 0;
            for (int i = 0; i < N; i++) M[i][j] *= decay, mk += M[i][j] * k[t][i];
            d[j] = (v[t][j] - mk) * beta;
        }
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) M[i][j] += k[t][i] * d[j];
        for (int j = 0; j < N; j++) {
            double r = 0;
            for (int i = 0; i < N; i++) r += M[i][j] * q[t][i];
            CHECK_NEAR(o[j], r * scale, 1e-5);
        }
    }
    cpu_set_level(saved);
    for (int i = 0; i < N * N; i++) CHECK(S[i] == S2[i] && S3[i] == S2[i]);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) CHECK_NEAR(S[j * N + i], M[i][j], 1e-5);
    fprintf(stderr, "  delta rule checked at %s, avx2 and scalar\n", cpu_level_name(saved));
}

int main(void) {
    TEST_EXPECT(3);
    RUN(causal_conv_steps_equal_the_convolution);
    RUN(l2norm_softplus_silu);
    RUN(delta_rule_matches_its_matrix_form_on_every_path);
    return test_summary();
}

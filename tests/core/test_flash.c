/* The tiled attention kernel (core/flash.h): against a double-precision formula and the
 * exact kernel (ops_attention_f16_sink) within float rounding, every instruction level
 * bit-identical to the portable one, and a row's result independent of the rows it is
 * grouped with and of the ring-buffer layout of its cache. */
#include "test.h"
#include "core/cpu.h"
#include "core/dtype.h"
#include "core/matmul.h"
#include "core/flash.h"
#include "core/fp16.h"
#include "core/ops.h"

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

enum { MAXN = 2048, STRIDE = 136 };

struct fx {
    uint16_t *k, *v;
    float q[FLASH_MAX_ROWS * 128];
    int lo[FLASH_MAX_ROWS], hi[FLASH_MAX_ROWS];
    float sinks[FLASH_MAX_ROWS];
};

static void fill(struct fx *f, int n_rows, int hd, unsigned seed, float qscale) {
    f->k = malloc(sizeof(uint16_t) * MAXN * STRIDE);
    f->v = malloc(sizeof(uint16_t) * MAXN * STRIDE);
    for (int i = 0; i < MAXN * STRIDE; i++) {
        f->k[i] = fp32_to_fp16(frand(&seed));
        f->v[i] = fp32_to_fp16(frand(&seed));
    }
    /* q rounded to f16 as the engine passes it, so the exact kernel sees the same q */
    for (int i = 0; i < n_rows * hd; i++) f->q[i] = fp16_to_fp32(fp32_to_fp16(qscale * frand(&seed)));
    for (int r = 0; r < n_rows; r++) f->sinks[r] = frand(&seed) * 3;
}

static void unfill(struct fx *f) { free(f->k); free(f->v); }

static void run(float *out, const struct fx *f, int n, int hd, const int *lo, const int *hi, const float *q,
                float softcap, const float *sinks, const struct flash_kv *kv) {
    float *scratch = malloc(sizeof(float) * flash_scratch_floats(hd));
    float *accml = malloc(sizeof(float) * 2 * n * (hd + FLASH_ML));
    struct flash_rows r = {n, hd, q, lo, hi};
    float *rows[FLASH_MAX_ROWS];
    for (int i = 0; i < n; i++) rows[i] = out + (long)i * hd;
    flash_attend(&r, kv, 1.0f / sqrtf((float)hd), softcap, sinks, rows, accml, scratch);
    free(scratch); free(accml);
}

/* n rows of head_dim hd, row r over [lo_r, hi_r); every level's bits, the formula, the exact kernel */
static void flash_case_ranges(int n, int hd, int max_len, int window, float softcap, int use_sinks, int same) {
    struct fx f;
    fill(&f, n, hd, (unsigned)(n * 131 + hd * 7 + max_len), 2.0f);
    for (int r = 0; r < n; r++) {
        f.hi[r] = same ? max_len : max_len - (r * 37) % (max_len / 2 + 1);
        if (f.hi[r] < 1) f.hi[r] = 1;
        f.lo[r] = window ? f.hi[r] - window : 0;
        if (f.lo[r] < 0) f.lo[r] = 0;
    }
    struct flash_kv kv = {f.k, f.v, 2 * STRIDE, 0, DT_F16, NULL, 0};
    const float *sinks = use_sinks ? f.sinks : NULL;
    float *o_s = malloc(sizeof(float) * n * hd), *o_v = malloc(sizeof(float) * n * hd);
    enum cpu_level lv = cpu_level();
    cpu_set_level(CPU_SCALAR);
    run(o_s, &f, n, hd, f.lo, f.hi, f.q, softcap, sinks, &kv);
    for (int want = CPU_AVX2; want <= (int)lv; want++) {
        cpu_set_level((enum cpu_level)want);
        run(o_v, &f, n, hd, f.lo, f.hi, f.q, softcap, sinks, &kv);
        CHECK_MSG(memcmp(o_s, o_v, sizeof(float) * n * hd) == 0, "n %d hd %d len %d: %s differs from portable", n,
                  hd, max_len, cpu_level_name((enum cpu_level)want));
    }
    cpu_set_level(lv);
    /* the tiles converted beforehand (a prompt's layer, flash_convert): the same bits */
    int hi_max = 0;
    for (int r = 0; r < n; r++) hi_max = f.hi[r] > hi_max ? f.hi[r] : hi_max;
    int n_tiles = (hi_max + FLASH_TILE - 1) / FLASH_TILE;
    float *tiles = malloc(sizeof(float) * n_tiles * FLASH_TILE_FLOATS(hd));
    for (int t = 0; t < n_tiles; t++)
        flash_convert(&kv, t * FLASH_TILE, hi_max - t * FLASH_TILE, hd, tiles + t * FLASH_TILE_FLOATS(hd));
    struct flash_kv pre = kv;
    pre.tiles = tiles, pre.n_tiles = n_tiles;
    run(o_v, &f, n, hd, f.lo, f.hi, f.q, softcap, sinks, &pre);
    CHECK_MSG(memcmp(o_s, o_v, sizeof(float) * n * hd) == 0, "n %d hd %d len %d: converted tiles differ", n, hd,
              max_len);
    free(tiles);
    float scale = 1.0f / sqrtf((float)hd);
    float *att = malloc(sizeof(float) * ops_attention_scratch(max_len, hd)), ex[256];
    double worst_ref = 0, worst_exact = 0;
    for (int r = 0; r < n; r++) {
        const float *q = f.q + r * hd;
        int L = f.hi[r];
        double *p = malloc(sizeof(double) * L), mx = use_sinks ? f.sinks[r] : -1e300, z = 0;
        for (int t = f.lo[r]; t < L; t++) {
            double s = 0;
            for (int d = 0; d < hd; d++) s += (double)q[d] * fp16_to_fp32(f.k[t * STRIDE + d]);
            if (softcap > 0) s = softcap * tanh(s / softcap);
            p[t] = s * scale;
            mx = fmax(mx, p[t]);
        }
        for (int t = f.lo[r]; t < L; t++) z += (p[t] = exp(p[t] - mx));
        if (use_sinks) z += exp(f.sinks[r] - mx);
        ops_attention_f16_sink(ex, q, f.k, f.v, f.lo[r], L, hd, STRIDE, scale, softcap,
                               use_sinks ? f.sinks[r] : -INFINITY, 1, att);
        for (int d = 0; d < hd; d++) {
            double o = 0;
            for (int t = f.lo[r]; t < L; t++) o += p[t] / z * fp16_to_fp32(f.v[t * STRIDE + d]);
            worst_ref = fmax(worst_ref, fabs(o_s[r * hd + d] - o));
            worst_exact = fmax(worst_exact, fabs(o_s[r * hd + d] - ex[d]));
        }
        free(p);
    }
    /* f32 throughout: far closer to the formula than the exact kernel, whose q·k products
     * and probabilities are f16 as llama.cpp's are */
    CHECK_MSG(worst_ref < 2e-5, "n %d hd %d len %d: %.3g from the double formula", n, hd, max_len, worst_ref);
    CHECK_MSG(worst_exact < 2e-3, "n %d hd %d len %d: %.3g from the exact kernel", n, hd, max_len, worst_exact);

    /* each row alone gives its bits in the group (grouping is a speed matter only) */
    for (int r = 0; r < n; r += 5) {
        run(o_v, &f, 1, hd, f.lo + r, f.hi + r, f.q + r * hd, softcap, sinks ? sinks + r : NULL, &kv);
        CHECK_MSG(memcmp(o_v, o_s + r * hd, sizeof(float) * hd) == 0, "row %d alone differs from its group", r);
    }
    free(o_s); free(o_v); free(att);
    unfill(&f);
}

static void flash_case(int n, int hd, int max_len, int window, float softcap, int use_sinks) {
    flash_case_ranges(n, hd, max_len, window, softcap, use_sinks, 0);
}

/* A decode step's rows (one token's query heads) share their range: whole tiles take the
 * kernels that read the cache in place (scores_kv / pv_kv) and must give the same bits. */
TEST(flash_decode_rows_read_the_cache_in_place) {
    flash_case_ranges(7, 64, 1300, 0, 0, 0, 1);
    flash_case_ranges(8, 128, 700, 0, 0, 0, 1);
    flash_case_ranges(1, 64, 2000, 0, 0, 1, 1);
    flash_case_ranges(3, 96, 900, 0, 0, 0, 1);
    flash_case_ranges(2, 64, 1100, 300, 0, 0, 1);
    flash_case_ranges(12, 64, 1500, 0, 0, 0, 1);  /* more rows than the in-place kernels take: pv4 */
}

TEST(flash_matches_formula_exact_kernel_and_every_level) {
    flash_case(1, 64, 1, 0, 0, 0);
    flash_case(7, 64, 100, 0, 0, 0);
    flash_case(28, 64, 1300, 0, 0, 0);
    flash_case(3, 64, 1025, 0, 0, 0);
    flash_case(9, 128, 700, 0, 0, 0);
    flash_case(5, 80, 600, 0, 0, 0);     /* head size not a multiple of 16: AVX2 only */
    flash_case(4, 256, 300, 0, 0, 0);
}

TEST(flash_window_softcap_and_sinks) {
    flash_case(8, 64, 1200, 32, 0, 0);   /* a sliding window across tile and chunk edges */
    flash_case(6, 128, 900, 600, 0, 0);
    flash_case(6, 256, 500, 0, 50.0f, 0);  /* gemma2's soft-capped scores */
    flash_case(16, 64, 1100, 128, 0, 1);   /* gpt-oss: window and sinks */
}

/* A ring buffer of R slots holding positions [p - R + 1, p] gives the linear cache's bits. */
TEST(flash_ring_buffer_equals_linear_cache) {
    enum { HD = 64, RING = 160, N = 1000, W = 100 };
    struct fx f;
    fill(&f, 4, HD, 99, 2.0f);
    uint16_t *rk = malloc(sizeof(uint16_t) * RING * STRIDE), *rv = malloc(sizeof(uint16_t) * RING * STRIDE);
    for (int t = 0; t < N; t++) {
        memcpy(rk + (t % RING) * STRIDE, f.k + t * STRIDE, sizeof(uint16_t) * STRIDE);
        memcpy(rv + (t % RING) * STRIDE, f.v + t * STRIDE, sizeof(uint16_t) * STRIDE);
    }
    int lo[4], hi[4];
    for (int r = 0; r < 4; r++) hi[r] = N - 3 * r, lo[r] = hi[r] - W;
    float a[4 * HD], b[4 * HD];
    struct flash_kv lin = {f.k, f.v, 2 * STRIDE, 0, DT_F16, NULL, 0}, ring = {rk, rv, 2 * STRIDE, RING, DT_F16, NULL, 0};
    run(a, &f, 4, HD, lo, hi, f.q, 0, NULL, &lin);
    run(b, &f, 4, HD, lo, hi, f.q, 0, NULL, &ring);
    CHECK(memcmp(a, b, sizeof a) == 0);
    free(rk); free(rv);
    unfill(&f);
}

/* Splitting a row's positions into chunks computed apart and merged in order (how decode
 * spreads one token over threads) is flash_attend itself. */
TEST(flash_chunks_merged_in_order_equal_attend) {
    enum { HD = 64, N = 1800 };
    struct fx f;
    fill(&f, 2, HD, 5, 1.0f);
    int lo[2] = {0, 300}, hi[2] = {N, N - 1};
    struct flash_kv kv = {f.k, f.v, 2 * STRIDE, 0, DT_F16, NULL, 0};
    struct flash_rows r = {2, HD, f.q, lo, hi};
    float want[2 * HD], got[2 * HD];
    run(want, &f, 2, HD, lo, hi, f.q, 0, NULL, &kv);
    float *scratch = malloc(sizeof(float) * flash_scratch_floats(HD));
    enum { NC = (N + FLASH_CHUNK - 1) / FLASH_CHUNK };
    static float acc[NC][2 * HD], ml[NC][2 * FLASH_ML];
    for (int c = NC - 1; c >= 0; c--)  /* any order of computing */
        flash_chunk(&r, &kv, c * FLASH_CHUNK, (c + 1) * FLASH_CHUNK, 1.0f / 8, 0, acc[c], ml[c], scratch);
    for (int i = 0; i < 2; i++) {
        float a[HD], m[FLASH_ML] = {-INFINITY};
        for (int c = 0; c < NC; c++) flash_merge(HD, a, m, acc[c] + i * HD, ml[c] + i * FLASH_ML);
        flash_finish(HD, got + i * HD, a, m, -INFINITY);
    }
    CHECK(memcmp(want, got, sizeof want) == 0);
    free(scratch);
    unfill(&f);
}

/* Q8_0 and Q4_0 caches: the kernel on the dequantized values (every level the same bits),
 * and near the F16 cache's result (Q8_0 much nearer than Q4_0) */
TEST(flash_quantized_caches) {
    enum { HD = 64, N = 700, ROWS = 7, QS = 128 };  /* rows of two heads: whole blocks */
    struct fx f;
    fill(&f, ROWS, HD, 17, 2.0f);
    int lo[ROWS], hi[ROWS];
    for (int r = 0; r < ROWS; r++) lo[r] = 0, hi[r] = N - r * 50;
    float want[ROWS * HD], got[ROWS * HD], again[ROWS * HD];
    struct flash_kv f16 = {f.k, f.v, 2 * STRIDE, 0, DT_F16, NULL, 0};
    run(want, &f, ROWS, HD, lo, hi, f.q, 0, NULL, &f16);
    const int types[2] = {DT_Q8_0, DT_Q4_0};
    double err[2];
    for (int ti = 0; ti < 2; ti++) {
        size_t rb = dtype_row_bytes(types[ti], QS);
        char *qk = malloc(rb * N), *qv = malloc(rb * N);
        float *dk = malloc(sizeof(float) * N * STRIDE), *dv = malloc(sizeof(float) * N * STRIDE);
        float row[QS];
        for (int t = 0; t < N; t++) {
            for (int d = 0; d < QS; d++) row[d] = fp16_to_fp32(f.k[t * STRIDE + d]);
            quantize_row(types[ti], row, qk + rb * t, QS);
            dequantize_row(types[ti], qk + rb * t, dk + t * STRIDE, QS);
            for (int d = 0; d < QS; d++) row[d] = fp16_to_fp32(f.v[t * STRIDE + d]);
            quantize_row(types[ti], row, qv + rb * t, QS);
            dequantize_row(types[ti], qv + rb * t, dv + t * STRIDE, QS);
        }
        struct flash_kv qkv = {qk, qv, (long)rb, 0, types[ti], NULL, 0};
        enum cpu_level lv = cpu_level();
        cpu_set_level(CPU_SCALAR);
        run(got, &f, ROWS, HD, lo, hi, f.q, 0, NULL, &qkv);
        for (int want_lv = CPU_AVX2; want_lv <= (int)lv; want_lv++) {  /* the in-place readers of each level */
            cpu_set_level((enum cpu_level)want_lv);
            run(again, &f, ROWS, HD, lo, hi, f.q, 0, NULL, &qkv);
            CHECK_MSG(memcmp(got, again, sizeof got) == 0, "%s: %s differs from portable", dtype_name(types[ti]),
                      cpu_level_name((enum cpu_level)want_lv));
        }
        cpu_set_level(lv);
        /* the formula on the dequantized values */
        double worst = 0;
        for (int r = 0; r < ROWS; r++) {
            double *p = malloc(sizeof(double) * N), mx = -1e300, z = 0;
            for (int t = 0; t < hi[r]; t++) {
                double sc = 0;
                for (int d = 0; d < HD; d++) sc += (double)f.q[r * HD + d] * dk[t * STRIDE + d];
                p[t] = sc / 8;
                mx = fmax(mx, p[t]);
            }
            for (int t = 0; t < hi[r]; t++) z += (p[t] = exp(p[t] - mx));
            for (int d = 0; d < HD; d++) {
                double o = 0;
                for (int t = 0; t < hi[r]; t++) o += p[t] / z * dv[t * STRIDE + d];
                worst = fmax(worst, fabs(got[r * HD + d] - o));
            }
            free(p);
        }
        CHECK_MSG(worst < 2e-5, "%s: %.3g from the formula on its values", dtype_name(types[ti]), worst);
        err[ti] = 0;
        for (int i = 0; i < ROWS * HD; i++) err[ti] = fmax(err[ti], fabs(got[i] - want[i]));
        free(qk); free(qv); free(dk); free(dv);
    }
    CHECK_MSG(err[0] < 0.02 && err[0] < err[1] && err[1] < 0.2, "q8_0 %.4f q4_0 %.4f from f16", err[0], err[1]);
    unfill(&f);
}

int main(void) {
    TEST_EXPECT(5);
    RUN(flash_matches_formula_exact_kernel_and_every_level);
    RUN(flash_decode_rows_read_the_cache_in_place);
    RUN(flash_window_softcap_and_sinks);
    RUN(flash_ring_buffer_equals_linear_cache);
    RUN(flash_chunks_merged_in_order_equal_attend);
    RUN(flash_quantized_caches);
    return test_summary();
}

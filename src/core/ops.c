/* Vector operations for transformer forward passes (see ops.h). Kept as simple
 * loops over contiguous arrays: at -O2 with the right flags GCC vectorizes them,
 * and none of them is where decode time goes (the matmuls are). */
#include "core/ops.h"

#include <math.h>
#include <pthread.h>

#include "core/cpu.h"
#include "core/fp16.h"

/* ops_attn_avx2.c */
void ops_attention_f16_avx2(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n0, int n_kv,
                            int head_dim, long stride, float scale, float softcap, float sink, int gemm, float *att);
void ops_f32_to_f16_avx2(uint16_t *out, const float *x, int n);
/* ops_attn_avx512.c */
void ops_attention_f16_avx512(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n0, int n_kv,
                              int head_dim, long stride, float scale, float softcap, float sink, int gemm, float *att);
/* ops_swiglu_avx2.c */
void ops_swiglu_avx2(float *out, const float *gate, const float *up, int n);

void ops_rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
    /* squares summed in double, the scale in float: ggml's exact arithmetic, so
     * activations that are later rounded to 8-16 bits round the same way */
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)(x[i] * x[i]);
    float mean = (float)(ss / n);
    float s = 1.0f / sqrtf(mean + eps);
    if (w)
        for (int i = 0; i < n; i++) out[i] = x[i] * s * w[i];
    else
        for (int i = 0; i < n; i++) out[i] = x[i] * s;
}

void ops_softmax(float *x, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i++) { x[i] = expf(x[i] - mx); sum += x[i]; }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void ops_add(float *x, const float *y, int n) {
    for (int i = 0; i < n; i++) x[i] += y[i];
}

void ops_scale(float *x, float s, int n) {
    for (int i = 0; i < n; i++) x[i] *= s;
}

void ops_softcap(float *x, float cap, int n) {
    float inv = 1.0f / cap;  /* ggml: scale by 1/cap, tanh, scale by cap: three roundings */
    for (int i = 0; i < n; i++) x[i] = tanhf(x[i] * inv) * cap;
}

/* ggml's GELU table: for each f16 value h, 0.5 h (1 + tanh(sqrt(2/pi) h (1 + a h^2))) in
 * float, the inner 1 + a h h contracted to one FMA as the reference build compiles it
 * (all 65536 entries then equal ggml_table_gelu_f16), rounded to f16; kept as floats */
static float gelu_table[65536];
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;
static void gelu_table_init(void) {
    const float c = 0.79788456080286535587989211986876f, a = 0.044715f;
    for (int i = 0; i < 65536; i++) {
        float h = fp16_to_fp32((uint16_t)i);
        float g = 0.5f * h * (1.0f + tanhf(c * h * fmaf(a * h, h, 1.0f)));
        gelu_table[i] = fp16_to_fp32(fp32_to_fp16(g));
    }
}

void ops_geglu(float *out, const float *gate, const float *up, int n) {
    pthread_once(&gelu_once, gelu_table_init);
    for (int i = 0; i < n; i++) {
        float x = gate[i];
        if (x <= -10.0f) out[i] = 0.0f;
        else if (x >= 10.0f) out[i] = x * up[i];
        else out[i] = gelu_table[fp32_to_fp16(x)] * up[i];
    }
}

void ops_swiglu(float *out, const float *gate, const float *up, int n, int n_vec) {
    int i = 0;
    if (n_vec > n) n_vec = n;
    if (cpu_level() >= CPU_AVX2) {  /* AVX2 implies FMA here (core/cpu.c) */
        i = n_vec & ~7;
        ops_swiglu_avx2(out, gate, up, i);
    }
    for (; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + (i < n_vec ? ops_expf_ggml(-g) : expf(-g))) * up[i];
    }
}

void ops_rope_cache(float *cs, int n_rot, int pos, float theta_base, float freq_scale,
                    const float *freq_factors) {
    ops_rope_cache_ms(cs, n_rot, pos, theta_base, freq_scale, freq_factors, 1.0f);
}

void ops_rope_cache_ms(float *cs, int n_rot, int pos, float theta_base, float freq_scale,
                       const float *freq_factors, float mscale) {
    /* angles built by repeated float multiplication and taken with cosf/sinf, as
     * ggml does: quantized activations downstream amplify any last-bit difference */
    float step = powf(theta_base, -2.0f / n_rot), theta = (float)pos;
    for (int i = 0; i < n_rot / 2; i++) {
        float a = theta;
        if (freq_factors) a /= freq_factors[i];
        a *= freq_scale;
        cs[2 * i] = cosf(a) * mscale;
        cs[2 * i + 1] = sinf(a) * mscale;
        theta *= step;
    }
}

void ops_rope_cache_yarn(float *cs, int n_rot, int pos, float theta_base, float freq_scale,
                         const float *freq_factors, float mscale, float ext_factor, const float corr[2]) {
    float step = powf(theta_base, -2.0f / n_rot), theta = (float)pos;
    float span = corr[1] - corr[0] > 0.001f ? corr[1] - corr[0] : 0.001f;
    for (int i = 0; i < n_rot / 2; i++) {
        float te = freq_factors ? theta / freq_factors[i] : theta, ti = freq_scale * te;
        float y = ((float)i - corr[0]) / span;
        float ramp = (1 - (y < 0 ? 0 : y > 1 ? 1 : y)) * ext_factor;
        float a = ti * (1 - ramp) + te * ramp;
        cs[2 * i] = cosf(a) * mscale;
        cs[2 * i + 1] = sinf(a) * mscale;
        theta *= step;
    }
}

/* fmaf is a libm call unless the compiler may emit the instruction; the result is the
 * same exact fused operation either way, so the FMA build is only faster */
#if defined(__x86_64__) && defined(__GNUC__)
#define ROPE_FMA_TARGET __attribute__((target("fma")))
#else
#define ROPE_FMA_TARGET
#endif
static inline __attribute__((always_inline)) void rope(float *x, int n_heads, int head_dim, int n_rot,
                                                      const float *cs, int neox) {
    int half = n_rot / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (long)h * head_dim;
        for (int i = 0; i < half; i++) {
            int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
            float c = cs[2 * i], s = cs[2 * i + 1];
            float x0 = v[a], x1 = v[b];
            v[a] = fmaf(x0, c, -(x1 * s));
            v[b] = fmaf(x0, s, x1 * c);
        }
    }
}

ROPE_FMA_TARGET static void rope_fma(float *x, int n_heads, int head_dim, int n_rot, const float *cs, int neox) {
    rope(x, n_heads, head_dim, n_rot, cs, neox);
}

void ops_rope(float *x, int n_heads, int head_dim, int n_rot, const float *cs, int neox) {
    if (cpu_level() >= CPU_AVX2) {  /* the AVX2 level implies FMA (core/cpu.c) */
        rope_fma(x, n_heads, head_dim, n_rot, cs, neox);
        return;
    }
    rope(x, n_heads, head_dim, n_rot, cs, neox);
}

/* f16 -> f32 through a table: exact, and far cheaper than the bit-twiddling
 * reference in fp16.h inside the attention loops. */
static float f16_table[65536];
static pthread_once_t f16_once = PTHREAD_ONCE_INIT;
static void f16_table_init(void) {
    for (int i = 0; i < 65536; i++) f16_table[i] = fp16_to_fp32((uint16_t)i);
}
static inline const float *f16_lut(void) {
    pthread_once(&f16_once, f16_table_init);
    return f16_table;
}

void ops_f32_to_f16(uint16_t *out, const float *x, int n) {
    if (cpu_level() >= CPU_AVX2 && cpu_features()->f16c) {
        ops_f32_to_f16_avx2(out, x, n);
        return;
    }
    for (int i = 0; i < n; i++) out[i] = fp32_to_fp16(x[i]);
}

float ops_dot_f16(const float *q, const uint16_t *k, int n) {
    const float *t = f16_lut();
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += q[i] * t[k[i]];
        s1 += q[i + 1] * t[k[i + 1]];
        s2 += q[i + 2] * t[k[i + 2]];
        s3 += q[i + 3] * t[k[i + 3]];
    }
    for (; i < n; i++) s0 += q[i] * t[k[i]];
    return (s0 + s1) + (s2 + s3);
}

void ops_axpy_f16(float *y, float a, const uint16_t *v, int n) {
    const float *t = f16_lut();
    for (int i = 0; i < n; i++) y[i] += a * t[v[i]];
}

/* ---- Attention in llama.cpp's arithmetic order ----
 * Random-weight models make attention nearly one-hot, so a last-bit difference in a
 * score flips the f16 rounding of a probability and moves logits by 1e-2..1e-1. We
 * therefore sum in exactly the order of ggml's AVX-512 CPU kernels (the reference):
 * 16 float lanes, fused multiply-adds, and the halving tree of _mm512_reduce_add_ps.
 * These portable versions are the specification; ops_attn_avx2.c computes the same
 * bits with two 8-lane registers per 16 lanes. */

long ops_attention_scratch(int n_ctx, int head_dim) {
    return OPS_PAD32(n_ctx) + 65L * head_dim;
}

/* a[0..16) summed as (a[i] + a[i+8]), then (+4), then (+2), then the last pair */
static float sum16(const float *a) {
    float b[8], c[4];
    for (int i = 0; i < 8; i++) b[i] = a[i] + a[i + 8];
    for (int i = 0; i < 4; i++) c[i] = b[i] + b[i + 4];
    return (c[0] + c[2]) + (c[1] + c[3]);
}

/* four 16-lane accumulators (acc[16j + l]) folded as ggml_vec_dot_f16 does: (x0+x2)+(x1+x3) */
static float fold64(const float *acc) {
    float y[16];
    for (int l = 0; l < 16; l++) y[l] = (acc[l] + acc[l + 32]) + (acc[l + 16] + acc[l + 48]);
    return sum16(y);
}

float ops_expf_ggml(float x) {
    /* ggml_v_expf: 2^n * p(b) with n = round(x / ln 2) and a degree-5 polynomial */
    const float r = 0x1.8p23f;
    float z = fmaf(x, 0x1.715476p+0f, r), n = z - r;
    float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    if (fabsf(n) > 192) return n <= 0 ? 0.0f : INFINITY;
    float u = b * b;
    float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
                   fmaf(0x1.ffffecp-1f, b, 1.0f));
    return ldexpf(j, (int)n);
}

/* q·k over the f16 row k. gemm: llamafile's tinyBLAS (one 16-lane accumulator, n % 16
 * == 0); otherwise ggml_vec_dot_f16 (four accumulators over 64-blocks, rest in double). */
static float dot_f16_ggml(const float *q, const uint16_t *k, int n, int gemm, const float *t) {
    if (gemm) {
        float acc[16] = {0};
        for (int i = 0; i < n; i += 16)
            for (int l = 0; l < 16; l++) acc[l] = fmaf(t[k[i + l]], q[i + l], acc[l]);
        return sum16(acc);
    }
    float acc[64] = {0};
    int np = n & ~63;
    for (int i = 0; i < np; i += 64)
        for (int l = 0; l < 64; l++) acc[l] = fmaf(t[k[i + l]], q[i + l], acc[l]);
    double s = fold64(acc);
    for (int i = np; i < n; i++) s += (double)(q[i] * t[k[i]]);
    return (float)s;
}

/* with a sink logit (gpt-oss): it joins the max and the sum but has no value row */
static void softmax_ggml_sink(float *x, int n, float sink) {
    float mx = sink;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i += 16) {
        float e[16] = {0};
        for (int l = 0; l < 16 && i + l < n; l++) e[l] = x[i + l] = ops_expf_ggml(x[i + l] - mx);
        sum += sum16(e);
    }
    if (sink > -INFINITY) sum += (double)expf(sink - mx);  /* ggml: libm's expf, after the row */
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void ops_softmax_ggml(float *x, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i += 16) {
        float e[16] = {0};  /* positions past n are masked (-inf) in ggml: exp gives 0 */
        for (int l = 0; l < 16 && i + l < n; l++) e[l] = x[i + l] = ops_expf_ggml(x[i + l] - mx);
        sum += sum16(e);
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

static void attention_portable(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n0, int n_kv,
                               int head_dim, long stride, float scale, float softcap, float sink, int gemm,
                               float *att) {
    const float *t16 = f16_lut();
    float *qh = att + OPS_PAD32(n_kv), *acc = qh + head_dim;
    /* ggml converts q to f16 for its f16 x f16 product with the K cache */
    for (int i = 0; i < head_dim; i++) qh[i] = fp16_to_fp32(fp32_to_fp16(q[i]));
    int kq_gemm = gemm && head_dim % 16 == 0;
    float inv_cap = softcap > 0 ? 1.0f / softcap : 0;
    for (int t = 0; t < n_kv; t++) {
        if (t < n0) { att[t] = -INFINITY; continue; }  /* masked: exp gives 0 */
        float d = dot_f16_ggml(qh, k + t * stride, head_dim, kq_gemm, t16);
        if (softcap > 0) d = tanhf(d * inv_cap) * softcap;
        att[t] = d * scale;
    }
    if (sink > -INFINITY) softmax_ggml_sink(att, n_kv, sink);
    else ops_softmax_ggml(att, n_kv);
    /* and the probabilities to f16 for the product with V (which ggml stores transposed,
     * so each output is a dot product over positions: lanes are positions here) */
    for (int t = 0; t < n_kv; t++) att[t] = fp16_to_fp32(fp32_to_fp16(att[t]));
    int lanes = gemm && head_dim % 4 == 0 ? 16 : 64;
    /* vec_dot runs over the cache length ggml sees (padded to 32): whole 64-blocks in
     * lanes, the rest in double */
    int np = lanes == 16 ? n_kv : OPS_PAD32(n_kv) & ~63;
    for (long i = 0; i < (long)lanes * head_dim; i++) acc[i] = 0;
    for (int t = 0; t < n_kv && t < np; t++) {
        const uint16_t *vr = v + t * stride;
        float p = att[t], *a = acc + (long)(t % lanes) * head_dim;
        if (p != 0)  /* adding p*v = 0 changes nothing */
            for (int i = 0; i < head_dim; i++) a[i] = fmaf(t16[vr[i]], p, a[i]);
    }
    for (int i = 0; i < head_dim; i++) {
        float col[64];
        for (int l = 0; l < lanes; l++) col[l] = acc[(long)l * head_dim + i];
        if (lanes == 16) {
            out[i] = sum16(col);
            continue;
        }
        double s = fold64(col);
        for (int t = np; t < n_kv; t++) s += (double)(att[t] * t16[v[t * stride + i]]);
        out[i] = (float)s;
    }
}

void ops_attention_f16_sink(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n0, int n_kv,
                            int head_dim, long stride, float scale, float softcap, float sink, int gemm, float *att) {
    if (n0 < 0) n0 = 0;
    if (cpu_level() >= CPU_AVX512 && head_dim % 16 == 0) {
        ops_attention_f16_avx512(out, q, k, v, n0, n_kv, head_dim, stride, scale, softcap, sink, gemm, att);
        return;
    }
    if (cpu_level() >= CPU_AVX2 && cpu_features()->f16c && head_dim % 16 == 0) {
        ops_attention_f16_avx2(out, q, k, v, n0, n_kv, head_dim, stride, scale, softcap, sink, gemm, att);
        return;
    }
    attention_portable(out, q, k, v, n0, n_kv, head_dim, stride, scale, softcap, sink, gemm, att);
}

void ops_attention_f16_ext(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n0, int n_kv,
                           int head_dim, long stride, float scale, float softcap, int gemm, float *att) {
    ops_attention_f16_sink(out, q, k, v, n0, n_kv, head_dim, stride, scale, softcap, -INFINITY, gemm, att);
}

void ops_attention_f16(float *out, const float *q, const uint16_t *k, const uint16_t *v,
                       int n_kv, int head_dim, long stride, float scale, int gemm, float *att) {
    ops_attention_f16_ext(out, q, k, v, 0, n_kv, head_dim, stride, scale, 0, gemm, att);
}

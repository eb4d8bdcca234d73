/* Vector operations for transformer forward passes (see ops.h). Kept as simple
 * loops over contiguous arrays: at -O2 with the right flags GCC vectorizes them,
 * and none of them is where decode time goes (the matmuls are). */
#include "core/ops.h"

#include <math.h>
#include <pthread.h>

#include "core/cpu.h"
#include "core/fp16.h"

/* ops_attn_avx2.c */
void ops_attention_f16_avx2(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n_kv,
                            int head_dim, long stride, float scale, float *att);

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

void ops_swiglu(float *gate, const float *up, int n) {
    for (int i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void ops_rope_cache(float *cs, int n_rot, int pos, float theta_base, float freq_scale,
                    const float *freq_factors) {
    /* angles built by repeated float multiplication and taken with cosf/sinf, as
     * ggml does: quantized activations downstream amplify any last-bit difference */
    float step = powf(theta_base, -2.0f / n_rot), theta = (float)pos;
    for (int i = 0; i < n_rot / 2; i++) {
        float a = theta;
        if (freq_factors) a /= freq_factors[i];
        a *= freq_scale;
        cs[2 * i] = cosf(a);
        cs[2 * i + 1] = sinf(a);
        theta *= step;
    }
}

void ops_rope(float *x, int n_heads, int head_dim, int n_rot, const float *cs, int neox) {
    int half = n_rot / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (long)h * head_dim;
        for (int i = 0; i < half; i++) {
            int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
            float c = cs[2 * i], s = cs[2 * i + 1];
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
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

void ops_attention_f16(float *out, const float *q, const uint16_t *k, const uint16_t *v,
                       int n_kv, int head_dim, long stride, float scale, float *att) {
    if (cpu_level() >= CPU_AVX2 && cpu_features()->f16c && head_dim % 8 == 0) {
        ops_attention_f16_avx2(out, q, k, v, n_kv, head_dim, stride, scale, att);
        return;
    }
    /* Round q and the probabilities to f16 as ggml does when it multiplies them
     * with an f16 cache: it brings us from ~1e-2 to ~3e-3 of llama.cpp's logits. */
    float *qh = att + n_kv;
    for (int i = 0; i < head_dim; i++) qh[i] = fp16_to_fp32(fp32_to_fp16(q[i]));
    for (int t = 0; t < n_kv; t++) att[t] = scale * ops_dot_f16(qh, k + t * stride, head_dim);
    ops_softmax(att, n_kv);
    for (int t = 0; t < n_kv; t++) att[t] = fp16_to_fp32(fp32_to_fp16(att[t]));
    for (int i = 0; i < head_dim; i++) out[i] = 0;
    for (int t = 0; t < n_kv; t++) ops_axpy_f16(out, att[t], v + t * stride, head_dim);
}

/* Tensor lookups shared by the code predictor and the codec decoder (q3_parts.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/fp16.h"
#include "core/matmul.h"
#include "tts/q3_parts.h"

int q3_tensor(const struct gguf *g, const char *name, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2,
              struct tensor *t, struct err *e) {
    int64_t i = gguf_find_tensor(g, name);
    if (i < 0 || gguf_tensor(g, i, t)) return err_set(e, "%s: tensor '%s' is missing", gguf_path(g), name);
    int64_t want[3] = {ne0, ne1, ne2};
    for (int d = 0; d < 3 && d < n_dims; d++)
        if (want[d] && t->ne[d] != want[d])
            return err_set(e, "%s: tensor '%s' has dim %d of %lld, expected %lld", gguf_path(g), name, d,
                           (long long)t->ne[d], (long long)want[d]);
    for (int d = n_dims; d < 4; d++)
        if (t->ne[d] != 1) return err_set(e, "%s: tensor '%s' should have %d dims", gguf_path(g), name, n_dims);
    if (!dtype_info(t->type)) return err_set(e, "%s: tensor '%s' has an unsupported type", gguf_path(g), name);
    return 0;
}

int q3_vector(const struct gguf *g, const char *name, int64_t n, const float **out, struct err *e) {
    struct tensor t;
    if (q3_tensor(g, name, 1, n, 0, 0, &t, e)) return -1;
    if (t.type != DT_F32) return err_set(e, "%s: tensor '%s' should be F32", gguf_path(g), name);
    *out = t.data;
    return 0;
}

struct tensor q3_slice(const struct tensor *t, int64_t k) {
    struct tensor s = *t;
    size_t bytes = dtype_row_bytes(t->type, t->ne[0]) * (size_t)t->ne[1];
    s.n_dims = 2;
    s.ne[2] = 1;
    s.data = (const char *)t->data + bytes * (size_t)k;
    s.nbytes = bytes;
    return s;
}

void q3_row(const struct tensor *t, int64_t r, float *out) {
    dequantize_row(t->type, (const char *)t->data + dtype_row_bytes(t->type, t->ne[0]) * (size_t)r, out, t->ne[0]);
}

int q3_requant(struct tensor *t, int type, void **own, struct err *e) {
    *own = NULL;
    if (type < 0 || (t->type != DT_F16 && t->type != DT_F32) || t->ne[0] % 32) return 0;
    int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
    size_t rb = dtype_row_bytes(type, t->ne[0]), ib = dtype_row_bytes(t->type, t->ne[0]);
    char *buf = malloc(rb * (size_t)rows);
    float *tmp = malloc(sizeof(float) * (size_t)t->ne[0]);
    if (!buf || !tmp) { free(buf), free(tmp); return err_set(e, "out of memory"); }
    for (int64_t r = 0; r < rows; r++) {
        dequantize_row(t->type, (const char *)t->data + ib * (size_t)r, tmp, t->ne[0]);
        if (quantize_row(type, tmp, buf + rb * (size_t)r, t->ne[0]) != rb) {
            free(buf), free(tmp);
            return err_set(e, "cannot requantize '%s' to %s", t->name ? t->name : "?", dtype_name(type));
        }
    }
    free(tmp);
    t->type = type, t->data = buf, t->nbytes = rb * (size_t)rows;
    *own = buf;
    return 0;
}

static float r16(float x) { return fp16_to_fp32(fp32_to_fp16(x)); }

void q3_round16(float *x, long n) {
    for (long i = 0; i < n; i++) x[i] = r16(x[i]);
}

/* kv16: K and V already hold f16 values (q3_round16), so rounding them again would change
 * nothing; the loops skip it. */
#define ATTN_BODY(RK)                                                                                       \
    for (int r = r0; r <= r1; r++) {                                                                        \
        const float *k = K + (long)r * stride, *v = V + (long)r * stride;                                   \
        float s = 0;                                                                                        \
        for (int d = 0; d < hd; d++) s += out[d] * RK(k[d]);                                                \
        s *= scale;                                                                                         \
        float ms = 1, vs = 1;                                                                               \
        if (s > M) {                                                                                        \
            float old = M;                                                                                  \
            M = s;                                                                                          \
            ms = expf(old - M);                                                                             \
            for (int d = 0; d < hd; d++) acc[d] = tiled ? acc[d] * ms : r16(acc[d] * ms);                   \
        } else {                                                                                            \
            vs = expf(s - M);                                                                               \
        }                                                                                                   \
        if (tiled)                                                                                          \
            for (int d = 0; d < hd; d++) acc[d] = acc[d] + RK(v[d]) * vs;                                   \
        else                                                                                                \
            for (int d = 0; d < hd; d++) acc[d] = r16(acc[d] + RK(v[d]) * vs);                              \
        S = S * ms + vs;                                                                                    \
    }
#define SAME(x) (x)

void q3_attn_f16(float *out, const float *q, const float *K, const float *V, long stride, int hd, int r0, int r1,
                 float scale, int flags, float *acc) {
    const int tiled = flags & Q3_ATTN_TILED;
    float M = -INFINITY, S = 0;
    for (int d = 0; d < hd; d++) out[d] = tiled ? q[d] : r16(q[d]), acc[d] = 0;  /* out holds q until the end */
    if (flags & Q3_ATTN_KV16) {
        ATTN_BODY(SAME)
    } else {
        ATTN_BODY(r16)
    }
    float inv = S == 0 ? 0 : 1.0f / S;
    for (int d = 0; d < hd; d++) out[d] = acc[d] * inv;
}

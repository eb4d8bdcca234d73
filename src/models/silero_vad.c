/* Silero VAD forward pass and segmentation; see silero_vad.h. The network is tiny
 * (~300 k weights), so it runs on plain f32 loops. ggml's conv_1d converts its input
 * to f16 (im2col in the kernel's type); we round the same way so the probabilities
 * match whisper.cpp's to ~1e-5 instead of ~1e-3. */
#include "models/silero_vad.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/fp16.h"
#include "formats/ggml_whisper.h"

#define VAD_RATE 16000
#define VAD_LAYERS 4

struct conv {
    int in, out, k, stride;
    float *w; /* [out][in][k] */
    float *b; /* [out] */
};

struct vad {
    int n_window, pad, hop;          /* 512 samples, reflect pad 64, STFT hop 128 */
    int n_fft_k, n_bins;             /* STFT kernel 256, 129 frequency bins */
    float *stft;                     /* [2 * n_bins][n_fft_k] */
    struct conv enc[VAD_LAYERS];
    int hidden;
    float *w_ih, *w_hh, *b_ih, *b_hh; /* [4h][h], gates i, f, g, o */
    float *w_out, b_out;
    float *h, *c;
    float *buf_a, *buf_b, *gates, *xin;
};

struct vad_params vad_default_params(void) {
    struct vad_params p = {0.5f, 250, 100, FLT_MAX, 30, 0.1f};
    return p;
}

static float f16r(float x) { return fp16_to_fp32(fp32_to_fp16(x)); }

/* Copies a tensor of the expected shape to f32 (owned). */
static float *take(const struct ggw_file *f, const char *name, int64_t n0, int64_t n1, int64_t n2,
                   const char *path, struct err *e) {
    const struct tensor *t = ggw_tensor(f, name);
    if (!t) { err_set(e, "%s: VAD tensor '%s' is missing", path, name); return NULL; }
    if (t->ne[0] != n0 || t->ne[1] != n1 || t->ne[2] != n2 || t->ne[3] != 1) {
        err_set(e, "%s: VAD tensor '%s' has shape [%lld,%lld,%lld], expected [%lld,%lld,%lld]", path, name,
                (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)n0, (long long)n1,
                (long long)n2);
        return NULL;
    }
    if (t->type != DT_F32 && t->type != DT_F16) {
        err_set(e, "%s: VAD tensor '%s' has type %s, expected f32 or f16", path, name, dtype_name(t->type));
        return NULL;
    }
    size_t n = (size_t)(n0 * n1 * n2);
    float *out = malloc(n * sizeof(float));
    if (!out) { err_set(e, "out of memory"); return NULL; }
    for (size_t i = 0; i < n; i++) {
        if (t->type == DT_F32) memcpy(&out[i], (const char *)t->data + 4 * i, 4);
        else { uint16_t h; memcpy(&h, (const char *)t->data + 2 * i, 2); out[i] = fp16_to_fp32(h); }
    }
    return out;
}

struct vad *vad_load(const char *path, struct err *e) {
    struct ggw_file *f = ggw_load(path, e);
    if (!f) return NULL;
    struct vad *v = calloc(1, sizeof *v);
    if (!v) { ggw_free(f); err_set(e, "out of memory"); return NULL; }
    const struct ggw_vad_hparams *hp = &f->vad;
    if (f->kind != GGW_VAD) { err_set(e, "%s: this is a Whisper model, not a VAD model", path); goto fail; }
    if (strncmp(hp->type, "silero", 6) || hp->n_encoder_layers != VAD_LAYERS || hp->final_conv_out != 1 ||
        hp->final_conv_in != hp->lstm_hidden_size) {
        err_set(e, "%s: unsupported VAD model '%s' (expected Silero with 4 encoder layers)", path, hp->type);
        goto fail;
    }
    const struct tensor *basis = ggw_tensor(f, "_model.stft.forward_basis_buffer");
    if (!basis || basis->ne[1] != 1 || basis->ne[2] % 2) {
        err_set(e, "%s: missing or malformed STFT basis tensor", path);
        goto fail;
    }
    v->n_window = hp->n_window;
    v->n_fft_k = (int)basis->ne[0];
    v->n_bins = (int)basis->ne[2] / 2;
    v->pad = v->n_fft_k / 4;
    v->hop = hp->lstm_input_size; /* whisper.cpp uses this hparam as the STFT stride */
    if (v->n_window + 2 * v->pad < v->n_fft_k || v->hop < 1 || v->n_bins != hp->enc_in[0]) {
        err_set(e, "%s: STFT shape does not fit the window (%d, kernel %d, %d bins)", path, v->n_window,
                v->n_fft_k, v->n_bins);
        goto fail;
    }
    if (!(v->stft = take(f, "_model.stft.forward_basis_buffer", v->n_fft_k, 1, 2 * v->n_bins, path, e))) goto fail;
    static const int strides[VAD_LAYERS] = {1, 2, 2, 1};
    for (int l = 0; l < VAD_LAYERS; l++) {
        struct conv *c = &v->enc[l];
        char name[96];
        c->in = hp->enc_in[l];
        c->out = hp->enc_out[l];
        c->k = hp->enc_kernel[l];
        c->stride = strides[l];
        if (l > 0 && c->in != v->enc[l - 1].out) { err_set(e, "%s: encoder layer %d input width mismatch", path, l); goto fail; }
        snprintf(name, sizeof name, "_model.encoder.%d.reparam_conv.weight", l);
        if (!(c->w = take(f, name, c->k, c->in, c->out, path, e))) goto fail;
        snprintf(name, sizeof name, "_model.encoder.%d.reparam_conv.bias", l);
        if (!(c->b = take(f, name, c->out, 1, 1, path, e))) goto fail;
    }
    int h = v->hidden = hp->lstm_hidden_size;
    if (v->enc[VAD_LAYERS - 1].out != h) { err_set(e, "%s: encoder output %d != LSTM width %d", path, v->enc[3].out, h); goto fail; }
    if (!(v->w_ih = take(f, "_model.decoder.rnn.weight_ih", h, 4 * h, 1, path, e)) ||
        !(v->w_hh = take(f, "_model.decoder.rnn.weight_hh", h, 4 * h, 1, path, e)) ||
        !(v->b_ih = take(f, "_model.decoder.rnn.bias_ih", 4 * h, 1, 1, path, e)) ||
        !(v->b_hh = take(f, "_model.decoder.rnn.bias_hh", 4 * h, 1, 1, path, e)) ||
        !(v->w_out = take(f, "_model.decoder.decoder.2.weight", h, 1, 1, path, e)))
        goto fail;
    float *bo = take(f, "_model.decoder.decoder.2.bias", 1, 1, 1, path, e);
    if (!bo) goto fail;
    v->b_out = bo[0];
    free(bo);
    int frames = (v->n_window + 2 * v->pad - v->n_fft_k) / v->hop + 1;
    int widest = 2 * v->n_bins;
    for (int l = 0; l < VAD_LAYERS; l++) if (v->enc[l].out > widest) widest = v->enc[l].out;
    v->buf_a = calloc((size_t)widest * (size_t)frames, sizeof(float));
    v->buf_b = calloc((size_t)widest * (size_t)frames, sizeof(float));
    v->gates = calloc(4 * (size_t)h, sizeof(float));
    v->xin = calloc((size_t)(v->n_window + 2 * v->pad), sizeof(float));
    v->h = calloc((size_t)h, sizeof(float));
    v->c = calloc((size_t)h, sizeof(float));
    if (!v->buf_a || !v->buf_b || !v->gates || !v->xin || !v->h || !v->c) { err_set(e, "out of memory"); goto fail; }
    ggw_free(f);
    return v;
fail:
    ggw_free(f);
    vad_free(v);
    return NULL;
}

void vad_free(struct vad *v) {
    if (!v) return;
    free(v->stft);
    for (int l = 0; l < VAD_LAYERS; l++) { free(v->enc[l].w); free(v->enc[l].b); }
    free(v->w_ih); free(v->w_hh); free(v->b_ih); free(v->b_hh); free(v->w_out);
    free(v->h); free(v->c); free(v->buf_a); free(v->buf_b); free(v->gates); free(v->xin);
    free(v);
}

int vad_window(const struct vad *v) { return v->n_window; }

void vad_reset(struct vad *v) {
    memset(v->h, 0, (size_t)v->hidden * sizeof(float));
    memset(v->c, 0, (size_t)v->hidden * sizeof(float));
}

/* Conv1d with padding k/2 and ReLU: x [in][t_in] -> y [out][t_out], inputs rounded to f16. */
static int conv_relu(const struct conv *c, const float *x, int t_in, float *y) {
    int pad = c->k / 2, t_out = (t_in + 2 * pad - c->k) / c->stride + 1;
    for (int o = 0; o < c->out; o++)
        for (int t = 0; t < t_out; t++) {
            float s = 0;
            for (int i = 0; i < c->in; i++) {
                const float *w = c->w + ((size_t)o * c->in + i) * c->k;
                for (int k = 0; k < c->k; k++) {
                    int ti = t * c->stride + k - pad;
                    if (ti >= 0 && ti < t_in) s += w[k] * f16r(x[i * t_in + ti]);
                }
            }
            s += c->b[o];
            y[o * t_out + t] = s > 0 ? s : 0;
        }
    return t_out;
}

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

float vad_step(struct vad *v, const float *samples, int n) {
    int W = v->n_window, P = v->pad, L = W + 2 * P;
    if (n > W) n = W;
    if (n < 0) n = 0;
    /* reflect padding on both sides, then f16 rounding as ggml's im2col does */
    for (int i = 0; i < W; i++) v->xin[P + i] = i < n ? samples[i] : 0.0f;
    for (int i = 0; i < P; i++) {
        v->xin[P - 1 - i] = v->xin[P + 1 + i];
        v->xin[P + W + i] = v->xin[P + W - 2 - i];
    }
    for (int i = 0; i < L; i++) v->xin[i] = f16r(v->xin[i]);

    int T = (L - v->n_fft_k) / v->hop + 1, nb = v->n_bins;
    float *mag = v->buf_a; /* [nb][T] */
    for (int t = 0; t < T; t++) {
        const float *x = v->xin + t * v->hop;
        for (int b = 0; b < nb; b++) {
            const float *wr = v->stft + (size_t)b * v->n_fft_k, *wi = v->stft + (size_t)(b + nb) * v->n_fft_k;
            float re = 0, im = 0;
            for (int k = 0; k < v->n_fft_k; k++) { re += wr[k] * x[k]; im += wi[k] * x[k]; }
            mag[b * T + t] = sqrtf(re * re + im * im);
        }
    }
    float *a = v->buf_a, *b = v->buf_b;
    for (int l = 0; l < VAD_LAYERS; l++) {
        T = conv_relu(&v->enc[l], a, T, b);
        float *tmp = a; a = b; b = tmp;
    }
    /* the LSTM sees only the first time step, like pytorch's [:, :, 0] */
    int H = v->hidden;
    for (int i = 0; i < H; i++) b[i] = a[i * T];
    for (int g = 0; g < 4 * H; g++) {
        const float *wi = v->w_ih + (size_t)g * H, *wh = v->w_hh + (size_t)g * H;
        float s = v->b_ih[g] + v->b_hh[g];
        for (int i = 0; i < H; i++) s += wi[i] * b[i] + wh[i] * v->h[i];
        v->gates[g] = s;
    }
    float logit = v->b_out;
    for (int i = 0; i < H; i++) {
        float ig = sigmoidf(v->gates[i]), fg = sigmoidf(v->gates[H + i]);
        float gg = tanhf(v->gates[2 * H + i]), og = sigmoidf(v->gates[3 * H + i]);
        v->c[i] = fg * v->c[i] + ig * gg;
        v->h[i] = og * tanhf(v->c[i]);
        float r = v->h[i] > 0 ? v->h[i] : 0;
        logit += v->w_out[i] * f16r(r);
    }
    return sigmoidf(logit);
}

int vad_probs(struct vad *v, const float *x, size_t n, float **probs, int *n_probs, struct err *e) {
    size_t W = (size_t)v->n_window, nc = (n + W - 1) / W;
    if (nc > INT_MAX) return err_set(e, "audio too long for VAD (%zu samples)", n);
    *probs = malloc((nc ? nc : 1) * sizeof(float));
    if (!*probs) return err_set(e, "out of memory");
    vad_reset(v);
    for (size_t i = 0; i < nc; i++) {
        size_t len = n - i * W < W ? n - i * W : W;
        (*probs)[i] = vad_step(v, x + i * W, (int)len);
    }
    *n_probs = (int)nc;
    return 0;
}

int64_t vad_samples_to_cs(int64_t samples) { return (int64_t)((double)samples / VAD_RATE * 100.0 + 0.5); }

/* The segmentation follows whisper.cpp (itself a port of silero-vad's get_speech_timestamps)
 * so segment boundaries agree with it exactly. */
int vad_segments(const float *probs, int n_probs, int window, const struct vad_params *p,
                 struct vad_segment **segs, int *n_segs, struct err *e) {
    *segs = NULL;
    *n_segs = 0;
    const int sr = VAD_RATE;
    int min_silence = sr * p->min_silence_ms / 1000;
    int min_speech = sr * p->min_speech_ms / 1000;
    int pad = sr * p->speech_pad_ms / 1000;
    int64_t audio_len = (int64_t)n_probs * window;
    int64_t max_speech;
    if (p->max_speech_s > 100000.0f) max_speech = INT_MAX / 2;
    else {
        max_speech = (int64_t)sr * (int64_t)p->max_speech_s - window - 2 * pad;
        if (max_speech < 0 || max_speech > INT_MAX) max_speech = INT_MAX / 2;
    }
    int min_silence_at_max = sr * 98 / 1000;
    float neg = p->threshold - 0.15f;
    if (neg < 0.01f) neg = 0.01f;

    int cap = 16, n = 0;
    struct vad_segment *s = malloc((size_t)cap * sizeof *s);
    if (!s) return err_set(e, "out of memory");
#define PUSH(a, b) do { if (n == cap) { struct vad_segment *ns = realloc(s, (size_t)(cap *= 2) * sizeof *s); \
        if (!ns) { free(s); return err_set(e, "out of memory"); } s = ns; } s[n].start = (a); s[n].end = (b); n++; } while (0)

    int in_speech = 0, has_cur = 0;
    int64_t temp_end = 0, prev_end = 0, next_start = 0, cur_start = 0;
    for (int i = 0; i < n_probs; i++) {
        float pr = probs[i];
        int64_t cs = (int64_t)window * i;
        if (pr >= p->threshold && temp_end) {
            temp_end = 0;
            if (next_start < prev_end) next_start = cs;
        }
        if (pr >= p->threshold && !in_speech) {
            in_speech = has_cur = 1;
            cur_start = cs;
            continue;
        }
        if (in_speech && cs - cur_start > max_speech) {
            if (prev_end) {
                PUSH(cur_start, prev_end);
                has_cur = 1;
                if (next_start < prev_end) in_speech = has_cur = 0;
                else cur_start = next_start;
                prev_end = next_start = temp_end = 0;
            } else {
                PUSH(cur_start, cs);
                prev_end = next_start = temp_end = 0;
                in_speech = has_cur = 0;
                continue;
            }
        }
        if (pr < neg && in_speech) {
            if (!temp_end) temp_end = cs;
            if (cs - temp_end > min_silence_at_max) prev_end = temp_end;
            if (cs - temp_end < min_silence) continue;
            if (temp_end - cur_start > min_speech) PUSH(cur_start, temp_end);
            prev_end = next_start = temp_end = 0;
            in_speech = has_cur = 0;
        }
    }
    if (has_cur && audio_len - cur_start > min_speech) PUSH(cur_start, audio_len);
#undef PUSH
    /* merge segments separated by less than 200 ms */
    int max_gap = sr * 200 / 1000;
    for (int i = 0; i + 1 < n; i++)
        if (s[i + 1].start - s[i].end < max_gap) {
            s[i].end = s[i + 1].end;
            memmove(&s[i + 1], &s[i + 2], (size_t)(n - i - 2) * sizeof *s);
            n--;
            i--;
        }
    for (int i = 0; i < n; i++)
        if (s[i].end - s[i].start < min_speech) {
            memmove(&s[i], &s[i + 1], (size_t)(n - i - 1) * sizeof *s);
            n--;
            i--;
        }
    for (int i = 0; i < n; i++) {
        if (i == 0) s[i].start = s[i].start > pad ? s[i].start - pad : 0;
        if (i < n - 1) {
            int64_t gap = s[i + 1].start - s[i].end;
            if (gap < 2 * pad) {
                s[i].end += gap / 2;
                s[i + 1].start = s[i + 1].start > gap / 2 ? s[i + 1].start - gap / 2 : 0;
            } else {
                s[i].end = s[i].end + pad < audio_len ? s[i].end + pad : audio_len;
                s[i + 1].start = s[i + 1].start > pad ? s[i + 1].start - pad : 0;
            }
        } else {
            s[i].end = s[i].end + pad < audio_len ? s[i].end + pad : audio_len;
        }
    }
    if (!n) { free(s); s = NULL; }
    *segs = s;
    *n_segs = n;
    return 0;
}

/* Random-weight Whisper files in whisper.cpp's ggml layout (see synth_whisper.h):
 * header, mel filters, vocabulary, then tensors named and typed as whisper.cpp's
 * converter writes them, so both our loader and whisper.cpp read them. */
#include "models/synth_whisper.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/fp16.h"
#include "core/matmul.h"
#include "formats/ggml_whisper.h"

const struct synth_whisper_shape synth_whisper_shapes[] = {
    {"whisper-tiny", 51865, 1500, 448, 384, 6, 4, 80},
    {"whisper-base", 51865, 1500, 448, 512, 8, 6, 80},
    {"whisper-micro", 51865, 1500, 448, 64, 2, 2, 80},
    {NULL, 0, 0, 0, 0, 0, 0, 0},
};

const struct synth_whisper_shape *synth_whisper_find_shape(const char *name) {
    for (const struct synth_whisper_shape *s = synth_whisper_shapes; s->name; s++)
        if (!strcmp(s->name, name)) return s;
    return NULL;
}

/* ---- Slaney mel scale (librosa's default, which Whisper's filters were made with) ---- */

static double hz_to_mel(double f) {
    const double f_sp = 200.0 / 3, min_log_hz = 1000.0, logstep = log(6.4) / 27.0;
    if (f < min_log_hz) return f / f_sp;
    return min_log_hz / f_sp + log(f / min_log_hz) / logstep;
}

static double mel_to_hz(double m) {
    const double f_sp = 200.0 / 3, min_log_hz = 1000.0, logstep = log(6.4) / 27.0;
    const double min_log_mel = min_log_hz / f_sp;
    if (m < min_log_mel) return m * f_sp;
    return min_log_hz * exp(logstep * (m - min_log_mel));
}

void synth_whisper_mel_filters(int sample_rate, int n_fft, int n_mels, float *out) {
    int n_bins = n_fft / 2 + 1;
    double *mel_f = malloc((size_t)(n_mels + 2) * sizeof *mel_f);
    if (!mel_f) return;
    double m0 = hz_to_mel(0), m1 = hz_to_mel(sample_rate / 2.0);
    for (int i = 0; i < n_mels + 2; i++) mel_f[i] = mel_to_hz(m0 + (m1 - m0) * i / (n_mels + 1));
    for (int i = 0; i < n_mels; i++) {
        double lo = mel_f[i + 1] - mel_f[i], hi = mel_f[i + 2] - mel_f[i + 1];
        double enorm = 2.0 / (mel_f[i + 2] - mel_f[i]); /* each triangle has unit area */
        for (int k = 0; k < n_bins; k++) {
            double f = (double)k * sample_rate / n_fft;
            double up = (f - mel_f[i]) / lo, down = (mel_f[i + 2] - f) / hi;
            double w = up < down ? up : down;
            out[(size_t)i * n_bins + k] = (float)(w > 0 ? w * enorm : 0.0);
        }
    }
    free(mel_f);
}

/* ---- deterministic random numbers (splitmix64 per tensor) ---- */

static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t hash_name(const char *s, uint64_t seed) {
    uint64_t h = 1469598103934665603ull ^ seed;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* ---- writer ---- */

struct wctx {
    FILE *f;
    const char *path;
    uint64_t seed;
    int quant;       /* q8_0 for 2-D weights */
    struct err *e;
    int failed;
};

static void put(struct wctx *w, const void *p, size_t n) {
    if (!w->failed && fwrite(p, 1, n, w->f) != n) {
        w->failed = 1;
        err_set(w->e, "%s: write failed (disk full?)", w->path);
    }
}

static void put_i32(struct wctx *w, int32_t v) { put(w, &v, 4); }

/* One tensor of ne0 x ne1 x ne2 values offset + scale * uniform(-1, 1). `kind` picks the
 * stored type the way whisper.cpp's tools do: 'f' f32 always, 'c' f16 (conv kernels,
 * never quantized: rows of 3), 'w' f16 or q8_0. */
static void tensor(struct wctx *w, const char *name, char kind, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2,
                   float scale, float offset) {
    if (w->failed) return;
    int type = kind == 'f' ? DT_F32 : kind == 'c' ? DT_F16 : w->quant && ne0 % 32 == 0 ? DT_Q8_0 : DT_F16;
    int64_t ne[3] = {ne0, ne1, ne2};
    put_i32(w, n_dims);
    put_i32(w, (int32_t)strlen(name));
    put_i32(w, type);
    for (int i = 0; i < n_dims; i++) put_i32(w, (int32_t)ne[i]);
    put(w, name, strlen(name));
    size_t row_bytes = dtype_row_bytes(type, ne0);
    float *x = malloc((size_t)ne0 * sizeof *x);
    void *row = malloc(row_bytes);
    if (!x || !row) {
        free(x); free(row);
        w->failed = 1;
        err_set(w->e, "synth: out of memory for tensor %s", name);
        return;
    }
    uint64_t st = hash_name(name, w->seed);
    for (int64_t r = 0; r < ne1 * ne2 && !w->failed; r++) {
        for (int64_t i = 0; i < ne0; i++)
            x[i] = offset + scale * (float)((splitmix(&st) >> 40) * (2.0 / 16777216.0) - 1.0);
        if (type == DT_F32) put(w, x, row_bytes);
        else if (type == DT_F16) {
            uint16_t *h = row;
            for (int64_t i = 0; i < ne0; i++) h[i] = fp32_to_fp16(x[i]);
            put(w, row, row_bytes);
        } else {
            quantize_row(type, x, row, ne0);
            put(w, row, row_bytes);
        }
    }
    free(x);
    free(row);
}

/* GPT-2's byte order: the printable bytes first, then the rest (its bytes_to_unicode). */
static void byte_order(uint8_t order[256]) {
    int n = 0, used[256] = {0};
    for (int b = 0; b < 256; b++)
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) { order[n++] = (uint8_t)b; used[b] = 1; }
    for (int b = 0; b < 256; b++)
        if (!used[b]) order[n++] = (uint8_t)b;
}

/* 50257 regular tokens as whisper.cpp stores them (raw bytes): the 256 bytes, then
 * distinct short letter strings with and without a leading space, then an empty
 * <|endoftext|>; the special tokens after it are implied by position. */
static void write_vocab(struct wctx *w) {
    const int n = 50257;
    uint8_t order[256];
    byte_order(order);
    put_i32(w, n);
    for (int i = 0; i < n; i++) {
        char t[8];
        int len = 0;
        if (i < 256) t[len++] = (char)order[i];
        else if (i < n - 1) {
            int j = i - 256, k = j / 2, L = k < 676 ? 2 : k < 676 + 17576 ? 3 : 4;
            k -= L == 2 ? 0 : L == 3 ? 676 : 676 + 17576;
            if (j % 2 == 0) t[len++] = ' ';
            for (int c = L - 1; c >= 0; c--) { t[len + c] = (char)('a' + k % 26); k /= 26; }
            len += L;
        }
        put_i32(w, len);
        put(w, t, (size_t)len);
    }
}

static void block(struct wctx *w, const char *pre, int i, int D, int cross) {
    const float ws = 0.035f, bs = 0.02f;
    char n[128];
#define NM(s) (snprintf(n, sizeof n, "%s.blocks.%d.%s", pre, i, s), n)
    tensor(w, NM("attn_ln.weight"), 'f', 1, D, 1, 1, 0.02f, 1.0f);
    tensor(w, NM("attn_ln.bias"), 'f', 1, D, 1, 1, bs, 0);
    tensor(w, NM("mlp_ln.weight"), 'f', 1, D, 1, 1, 0.02f, 1.0f);
    tensor(w, NM("mlp_ln.bias"), 'f', 1, D, 1, 1, bs, 0);
    if (cross) {
        tensor(w, NM("cross_attn_ln.weight"), 'f', 1, D, 1, 1, 0.02f, 1.0f);
        tensor(w, NM("cross_attn_ln.bias"), 'f', 1, D, 1, 1, bs, 0);
    }
    tensor(w, NM("attn.query.weight"), 'w', 2, D, D, 1, ws, 0);
    tensor(w, NM("attn.query.bias"), 'f', 1, D, 1, 1, bs, 0);
    tensor(w, NM("attn.key.weight"), 'w', 2, D, D, 1, ws, 0);
    tensor(w, NM("attn.value.weight"), 'w', 2, D, D, 1, ws, 0);
    tensor(w, NM("attn.value.bias"), 'f', 1, D, 1, 1, bs, 0);
    tensor(w, NM("attn.out.weight"), 'w', 2, D, D, 1, ws, 0);
    tensor(w, NM("attn.out.bias"), 'f', 1, D, 1, 1, bs, 0);
    if (cross) {
        tensor(w, NM("cross_attn.query.weight"), 'w', 2, D, D, 1, ws, 0);
        tensor(w, NM("cross_attn.query.bias"), 'f', 1, D, 1, 1, bs, 0);
        tensor(w, NM("cross_attn.key.weight"), 'w', 2, D, D, 1, ws, 0);
        tensor(w, NM("cross_attn.value.weight"), 'w', 2, D, D, 1, ws, 0);
        tensor(w, NM("cross_attn.value.bias"), 'f', 1, D, 1, 1, bs, 0);
        tensor(w, NM("cross_attn.out.weight"), 'w', 2, D, D, 1, ws, 0);
        tensor(w, NM("cross_attn.out.bias"), 'f', 1, D, 1, 1, bs, 0);
    }
    tensor(w, NM("mlp.0.weight"), 'w', 2, D, 4 * D, 1, ws, 0);
    tensor(w, NM("mlp.0.bias"), 'f', 1, 4 * D, 1, 1, bs, 0);
    tensor(w, NM("mlp.2.weight"), 'w', 2, 4 * D, D, 1, ws, 0);
    tensor(w, NM("mlp.2.bias"), 'f', 1, D, 1, 1, bs, 0);
#undef NM
}

int synth_whisper_write(const struct synth_whisper_shape *s, const char *ftype, uint64_t seed, const char *path,
                        struct err *e) {
    int quant;
    if (!strcmp(ftype, "f16")) quant = 0;
    else if (!strcmp(ftype, "q8_0")) quant = 1;
    else return err_set(e, "synth: type '%s' is not available for Whisper shapes (expected f16 or q8_0)", ftype);
    FILE *f = fopen(path, "wb");
    if (!f) return err_set(e, "%s: cannot create (%m)", path);
    struct wctx w = {f, path, seed, quant, e, 0};
    const int D = s->n_state, n_fft = 400, n_bins = n_fft / 2 + 1;
    /* whisper.cpp's ftype: 1 = mostly f16; quantized types add GGML_QNT_VERSION * 1000 */
    int32_t hdr[12] = {(int32_t)GGW_MAGIC, s->n_vocab, s->n_audio_ctx, D, s->n_head, s->n_layer,
                       s->n_text_ctx, D, s->n_head, s->n_layer, s->n_mels, quant ? 2000 + 7 : 1};
    for (int i = 0; i < 12; i++) put_i32(&w, hdr[i]);

    float *filters = malloc((size_t)s->n_mels * n_bins * sizeof *filters);
    if (!filters) { fclose(f); return err_set(e, "synth: out of memory"); }
    synth_whisper_mel_filters(16000, n_fft, s->n_mels, filters);
    put_i32(&w, s->n_mels);
    put_i32(&w, n_bins);
    put(&w, filters, (size_t)s->n_mels * n_bins * sizeof *filters);
    free(filters);
    write_vocab(&w);

    const float ws = 0.035f, bs = 0.02f;
    tensor(&w, "encoder.positional_embedding", 'f', 2, D, s->n_audio_ctx, 1, ws, 0);
    tensor(&w, "encoder.conv1.weight", 'c', 3, 3, s->n_mels, D, ws, 0);
    tensor(&w, "encoder.conv1.bias", 'f', 2, 1, D, 1, bs, 0);
    tensor(&w, "encoder.conv2.weight", 'c', 3, 3, D, D, ws, 0);
    tensor(&w, "encoder.conv2.bias", 'f', 2, 1, D, 1, bs, 0);
    for (int i = 0; i < s->n_layer; i++) block(&w, "encoder", i, D, 0);
    tensor(&w, "encoder.ln_post.weight", 'f', 1, D, 1, 1, 0.02f, 1.0f);
    tensor(&w, "encoder.ln_post.bias", 'f', 1, D, 1, 1, bs, 0);
    tensor(&w, "decoder.positional_embedding", 'f', 2, D, s->n_text_ctx, 1, ws, 0);
    tensor(&w, "decoder.token_embedding.weight", 'w', 2, D, s->n_vocab, 1, ws, 0);
    for (int i = 0; i < s->n_layer; i++) block(&w, "decoder", i, D, 1);
    tensor(&w, "decoder.ln.weight", 'f', 1, D, 1, 1, 0.02f, 1.0f);
    tensor(&w, "decoder.ln.bias", 'f', 1, D, 1, 1, bs, 0);

    if (fclose(f) && !w.failed) { w.failed = 1; err_set(e, "%s: write failed", path); }
    if (w.failed) { remove(path); return -1; }
    return 0;
}

/* Whisper network: weight binding from a whisper.cpp ggml file, the audio encoder
 * (2 conv1d + GELU, positions, pre-LN transformer blocks) and the text decoder (token +
 * position embeddings, causal self-attention with a KV cache, cross-attention over the
 * encoder output, logits through the tied token embedding). Weight products go through
 * matmul(); attention keys/values are f16, like whisper.cpp's, so results agree closely. */
#include "models/whisper.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/fp16.h"
#include "core/gelu.h"
#include "core/layernorm.h"
#include "core/matmul.h"
#include "core/ops.h"
#include "core/cpu.h"
#include "models/whisper_attn.h"

#define LN_EPS 1e-5f

/* f16 -> f32 for the attention inner loops */
static float g_h2f[65536];
static pthread_once_t g_h2f_once = PTHREAD_ONCE_INIT;
static uint16_t g_gelu16[65536];
static float g_gelu32[65536]; /* g_h2f[g_gelu16[i]]: one gather in the SIMD version */
static void h2f_init(void) {
    for (int i = 0; i < 65536; i++) g_h2f[i] = fp16_to_fp32((uint16_t)i);
    for (int i = 0; i < 65536; i++) {
        float v = g_h2f[i];
        if (isfinite(v)) gelu(&v, 1);
        g_gelu16[i] = fp32_to_fp16(v);
        g_gelu32[i] = g_h2f[g_gelu16[i]];
    }
}

/* One attention sublayer with its pre-norm (the key projection has no bias). */
struct wattn {
    const float *ln_w, *ln_b, *q_b, *v_b, *o_b;
    const struct tensor *q, *k, *v, *o;
};

struct wblock {
    struct wattn self, cross; /* cross: decoder only */
    const float *mln_w, *mln_b, *fc1_b, *fc2_b;
    const struct tensor *fc1, *fc2;
};

struct whisper_model {
    struct ggw_file *f;
    struct ggw_whisper_hparams hp;
    struct whisper_special sp;
    int multilingual;
    struct tensor conv1, conv2; /* viewed as [k * in] x out matrices */
    const float *conv1_b, *conv2_b, *enc_pos, *ln_post_w, *ln_post_b;
    struct wblock *enc, *dec;
    const struct tensor *tok_emb;
    const float *dec_pos, *dec_ln_w, *dec_ln_b;
};

struct whisper_state {
    const struct whisper_model *m;
    struct pool *pool;
    int n_ctx;         /* encoder positions of the last encode */
    int null_keys;     /* emulate whisper.cpp's zero padding of attention to 256 positions */
    uint16_t *xk, *xv; /* cross K/V: [layer][n_audio_ctx][text_state] */
    uint16_t *sk, *sv; /* self K/V: [seq][layer][n_text_ctx][text_state] */
    int n_seq;         /* decoder sequences with their own self K/V (beam search) */
    uint16_t *tk, *tv; /* scratch for reordering sequences */
    float *x, *h, *q, *k, *v, *att, *tmp, *ff, *scores;
};

static const char *g_langs[] = {
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it", "id",
    "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur", "hr", "bg",
    "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn", "et", "mk", "br",
    "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw", "gl", "mr", "pa", "si", "km", "sn", "yo", "so",
    "af", "oc", "ka", "be", "tg", "sd", "gu", "am", "yi", "lo", "uz", "fo", "ht", "ps", "tk", "nn", "mt",
    "sa", "lb", "my", "bo", "tl", "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue"};
#define N_LANGS_TABLE ((int)(sizeof g_langs / sizeof g_langs[0]))

int whisper_lang_index(const char *code) {
    for (int i = 0; code && i < N_LANGS_TABLE; i++)
        if (!strcmp(g_langs[i], code)) return i;
    return -1;
}
const char *whisper_lang_code(int i) { return i >= 0 && i < N_LANGS_TABLE ? g_langs[i] : NULL; }

/* ---- loading ---- */

struct binder {
    const struct ggw_file *f;
    const char *path;
    struct err *e;
    int failed;
};

static const struct tensor *bind(struct binder *b, const char *name, int64_t n0, int64_t n1, int64_t n2) {
    if (b->failed) return NULL;
    const struct tensor *t = ggw_tensor(b->f, name);
    if (!t) {
        b->failed = 1;
        err_set(b->e, "%s: tensor '%s' is missing", b->path, name);
        return NULL;
    }
    if (t->ne[0] != n0 || t->ne[1] != n1 || t->ne[2] != n2 || t->ne[3] != 1) {
        b->failed = 1;
        err_set(b->e, "%s: tensor '%s' has shape [%lld,%lld,%lld], expected [%lld,%lld,%lld]", b->path, name,
                (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)n0, (long long)n1,
                (long long)n2);
        return NULL;
    }
    return t;
}

/* A vector or table that is read directly as floats: must be f32. */
static const float *bindf(struct binder *b, const char *name, int64_t n0, int64_t n1) {
    const struct tensor *t = bind(b, name, n0, n1, 1);
    if (!t) return NULL;
    if (t->type != DT_F32) {
        b->failed = 1;
        err_set(b->e, "%s: tensor '%s' is %s, expected f32", b->path, name, dtype_name(t->type));
        return NULL;
    }
    return t->data;
}

static const float *bindf_either(struct binder *b, const char *name, int64_t n) {
    /* biases are stored [n] by newer converters and [1, n] by older ones */
    const struct tensor *t = ggw_tensor(b->f, name);
    if (t && t->n_dims == 2) return bindf(b, name, 1, n);
    return bindf(b, name, n, 1);
}

static void bind_attn(struct binder *b, struct wattn *a, const char *pre, int i, const char *kind, int D) {
    char n[128];
#define NM(s) (snprintf(n, sizeof n, "%s.blocks.%d.%s%s", pre, i, kind, s), n)
    a->ln_w = bindf(b, NM("_ln.weight"), D, 1);
    a->ln_b = bindf(b, NM("_ln.bias"), D, 1);
    a->q = bind(b, NM(".query.weight"), D, D, 1);
    a->q_b = bindf(b, NM(".query.bias"), D, 1);
    a->k = bind(b, NM(".key.weight"), D, D, 1);
    a->v = bind(b, NM(".value.weight"), D, D, 1);
    a->v_b = bindf(b, NM(".value.bias"), D, 1);
    a->o = bind(b, NM(".out.weight"), D, D, 1);
    a->o_b = bindf(b, NM(".out.bias"), D, 1);
#undef NM
}

static void bind_block(struct binder *b, struct wblock *w, const char *pre, int i, int D, int cross) {
    char n[128];
    bind_attn(b, &w->self, pre, i, "attn", D);
    if (cross) bind_attn(b, &w->cross, pre, i, "cross_attn", D);
#define NM(s) (snprintf(n, sizeof n, "%s.blocks.%d.%s", pre, i, s), n)
    w->mln_w = bindf(b, NM("mlp_ln.weight"), D, 1);
    w->mln_b = bindf(b, NM("mlp_ln.bias"), D, 1);
    w->fc1 = bind(b, NM("mlp.0.weight"), D, 4 * D, 1);
    w->fc1_b = bindf(b, NM("mlp.0.bias"), 4 * D, 1);
    w->fc2 = bind(b, NM("mlp.2.weight"), 4 * D, D, 1);
    w->fc2_b = bindf(b, NM("mlp.2.bias"), D, 1);
#undef NM
}

static void set_special(struct whisper_model *m) {
    struct whisper_special *s = &m->sp;
    int nv = m->hp.n_vocab;
    m->multilingual = nv >= 51865;
    *s = (struct whisper_special){50256, 50257, 50357, 50358, 50359, 50360, 50361, 50362, 50363, 0, 0};
    s->n_langs = nv - 51765 - (m->multilingual ? 1 : 0);
    if (m->multilingual) {
        int dt = s->n_langs - 98;
        s->eot++;
        s->sot++;
        s->translate += dt; s->transcribe += dt; s->solm += dt; s->prev += dt;
        s->nosp += dt; s->notimestamps += dt; s->beg += dt;
    }
    s->lang0 = s->sot + 1;
    if (s->n_langs > N_LANGS_TABLE) s->n_langs = N_LANGS_TABLE;
}

struct whisper_model *whisper_load(const char *path, struct err *e) {
    struct ggw_file *f = ggw_load(path, e);
    if (!f) return NULL;
    if (f->kind != GGW_WHISPER) {
        ggw_free(f);
        err_set(e, "%s: this is a VAD model, not a Whisper model", path);
        return NULL;
    }
    struct whisper_model *m = calloc(1, sizeof *m);
    if (!m) { ggw_free(f); err_set(e, "out of memory"); return NULL; }
    m->f = f;
    m->hp = f->hp;
    const struct ggw_whisper_hparams *hp = &m->hp;
    set_special(m);
    if (f->n_tensors == 0) { err_set(e, "%s: the file has no weights (a vocabulary-only test file?)", path); goto fail; }
    if (hp->n_vocab < 51864 || hp->n_vocab > 60000) { err_set(e, "%s: n_vocab = %d is not a Whisper vocabulary", path, hp->n_vocab); goto fail; }
    if (f->n_mel != hp->n_mels || f->n_fft != MEL_N_FFT / 2 + 1) {
        err_set(e, "%s: mel filterbank is %dx%d, expected %dx%d", path, f->n_mel, f->n_fft, hp->n_mels, MEL_N_FFT / 2 + 1);
        goto fail;
    }
    if (hp->n_text_ctx > 448 * 4) { err_set(e, "%s: n_text_ctx = %d is implausible", path, hp->n_text_ctx); goto fail; }

    struct binder b = {f, path, e, 0};
    int Da = hp->n_audio_state, Dt = hp->n_text_state;
    const struct tensor *c1 = bind(&b, "encoder.conv1.weight", 3, hp->n_mels, Da);
    const struct tensor *c2 = bind(&b, "encoder.conv2.weight", 3, Da, Da);
    m->conv1_b = bindf_either(&b, "encoder.conv1.bias", Da);
    m->conv2_b = bindf_either(&b, "encoder.conv2.bias", Da);
    m->enc_pos = bindf(&b, "encoder.positional_embedding", Da, hp->n_audio_ctx);
    m->ln_post_w = bindf(&b, "encoder.ln_post.weight", Da, 1);
    m->ln_post_b = bindf(&b, "encoder.ln_post.bias", Da, 1);
    m->tok_emb = bind(&b, "decoder.token_embedding.weight", Dt, hp->n_vocab, 1);
    m->dec_pos = bindf(&b, "decoder.positional_embedding", Dt, hp->n_text_ctx);
    m->dec_ln_w = bindf(&b, "decoder.ln.weight", Dt, 1);
    m->dec_ln_b = bindf(&b, "decoder.ln.bias", Dt, 1);
    m->enc = calloc((size_t)hp->n_audio_layer, sizeof *m->enc);
    m->dec = calloc((size_t)hp->n_text_layer, sizeof *m->dec);
    if (!m->enc || !m->dec) { err_set(e, "out of memory"); goto fail; }
    for (int i = 0; i < hp->n_audio_layer; i++) bind_block(&b, &m->enc[i], "encoder", i, Da, 0);
    for (int i = 0; i < hp->n_text_layer; i++) bind_block(&b, &m->dec[i], "decoder", i, Dt, 1);
    if (b.failed) goto fail;
    if (Da != Dt) { err_set(e, "%s: audio width %d != text width %d is not supported", path, Da, Dt); goto fail; }
    m->conv1 = *c1;
    m->conv1.n_dims = 2; m->conv1.ne[0] = 3 * hp->n_mels; m->conv1.ne[1] = Da; m->conv1.ne[2] = 1;
    m->conv2 = *c2;
    m->conv2.n_dims = 2; m->conv2.ne[0] = 3 * Da; m->conv2.ne[1] = Da; m->conv2.ne[2] = 1;
    if (!dtype_row_bytes(m->conv1.type, m->conv1.ne[0]) || !dtype_row_bytes(m->conv2.type, m->conv2.ne[0])) {
        err_set(e, "%s: conv weights of type %s cannot be used", path, dtype_name(c1->type));
        goto fail;
    }
    return m;
fail:
    whisper_free(m);
    return NULL;
}

void whisper_free(struct whisper_model *m) {
    if (!m) return;
    ggw_free(m->f);
    free(m->enc);
    free(m->dec);
    free(m);
}

const struct ggw_whisper_hparams *whisper_hparams(const struct whisper_model *m) { return &m->hp; }
const struct whisper_special *whisper_special(const struct whisper_model *m) { return &m->sp; }
int whisper_is_multilingual(const struct whisper_model *m) { return m->multilingual; }
int whisper_n_vocab(const struct whisper_model *m) { return m->hp.n_vocab; }

const char *whisper_token_text(const struct whisper_model *m, int id, int *len) {
    if (id >= 0 && id < m->f->n_vocab_file && id < m->sp.eot) {
        if (len) *len = m->f->vocab_len[id];
        return m->f->vocab[id];
    }
    if (len) *len = 0;
    return "";
}

int whisper_mel(const struct whisper_model *m, const float *x, size_t n, struct mel *out, struct err *e) {
    return mel_compute(x, n, m->f->filters, m->f->n_mel, m->f->n_fft, out, e);
}

/* ---- state ---- */

struct whisper_state *whisper_state_new(const struct whisper_model *m, struct pool *pool, struct err *e) {
    struct whisper_state *s = calloc(1, sizeof *s);
    if (!s) { err_set(e, "out of memory"); return NULL; }
    pthread_once(&g_h2f_once, h2f_init);
    s->m = m;
    s->pool = pool;
    s->null_keys = 1;
    const struct ggw_whisper_hparams *hp = &m->hp;
    size_t D = (size_t)hp->n_text_state, L = (size_t)hp->n_text_layer;
    s->xk = malloc(L * (size_t)hp->n_audio_ctx * D * 2);
    s->xv = malloc(L * (size_t)hp->n_audio_ctx * D * 2);
    s->sk = malloc(L * (size_t)hp->n_text_ctx * D * 2);
    s->sv = malloc(L * (size_t)hp->n_text_ctx * D * 2);
    s->x = malloc(D * 4); s->h = malloc(D * 4); s->q = malloc(D * 4); s->k = malloc(D * 4);
    s->v = malloc(D * 4); s->att = malloc(D * 4); s->tmp = malloc(D * 4); s->ff = malloc(4 * D * 4);
    int nmax = hp->n_audio_ctx > hp->n_text_ctx ? hp->n_audio_ctx : hp->n_text_ctx;
    s->scores = malloc((size_t)hp->n_text_head * ((size_t)nmax + D) * 4);
    s->n_seq = 1;
    if (!s->xk || !s->xv || !s->sk || !s->sv || !s->x || !s->h || !s->q || !s->k || !s->v || !s->att ||
        !s->tmp || !s->ff || !s->scores) {
        whisper_state_free(s);
        err_set(e, "out of memory for the Whisper state");
        return NULL;
    }
    return s;
}

void whisper_state_free(struct whisper_state *s) {
    if (!s) return;
    free(s->xk); free(s->xv); free(s->sk); free(s->sv); free(s->tk); free(s->tv);
    free(s->x); free(s->h); free(s->q); free(s->k); free(s->v); free(s->att); free(s->tmp); free(s->ff);
    free(s->scores);
    free(s);
}

int whisper_n_audio_ctx(const struct whisper_state *s) { return s->n_ctx; }

static size_t seq_elems(const struct whisper_state *s) {
    const struct ggw_whisper_hparams *hp = &s->m->hp;
    return (size_t)hp->n_text_layer * hp->n_text_ctx * hp->n_text_state;
}

int whisper_reserve_seqs(struct whisper_state *s, int n, struct err *e) {
    /* the reorder scratch (tk, tv) comes with the first reservation, also of a single
     * sequence (beam search with one beam): sequence 0 alone is allocated without it */
    if (n <= s->n_seq && s->tk && s->tv) return 0;
    if (n > 16) return err_set(e, "at most 16 decoder sequences (asked for %d)", n);
    if (n < s->n_seq) n = s->n_seq;
    size_t el = seq_elems(s);
    uint16_t *k = realloc(s->sk, (size_t)n * el * 2), *v;
    if (!k) return err_set(e, "out of memory for %d decoder caches", n);
    s->sk = k;
    if (!(v = realloc(s->sv, (size_t)n * el * 2))) return err_set(e, "out of memory for %d decoder caches", n);
    s->sv = v;
    if (!(k = realloc(s->tk, (size_t)n * el * 2))) return err_set(e, "out of memory for %d decoder caches", n);
    s->tk = k;
    if (!(v = realloc(s->tv, (size_t)n * el * 2))) return err_set(e, "out of memory for %d decoder caches", n);
    s->tv = v;
    s->n_seq = n;
    return 0;
}

void whisper_seqs_reorder(struct whisper_state *s, const int *src, int n, int n_pos) {
    const struct ggw_whisper_hparams *hp = &s->m->hp;
    size_t el = seq_elems(s), per_layer = (size_t)hp->n_text_ctx * hp->n_text_state;
    size_t used = (size_t)n_pos * hp->n_text_state;
    /* copy the sources aside first: a sequence may be both a source and a destination */
    for (int i = 0; i < n; i++)
        for (int l = 0; l < hp->n_text_layer; l++) {
            memcpy(s->tk + i * el + l * per_layer, s->sk + (size_t)src[i] * el + l * per_layer, used * 2);
            memcpy(s->tv + i * el + l * per_layer, s->sv + (size_t)src[i] * el + l * per_layer, used * 2);
        }
    for (int i = 0; i < n; i++)
        for (int l = 0; l < hp->n_text_layer; l++) {
            memcpy(s->sk + i * el + l * per_layer, s->tk + i * el + l * per_layer, used * 2);
            memcpy(s->sv + i * el + l * per_layer, s->tv + i * el + l * per_layer, used * 2);
        }
}
const struct whisper_model *whisper_state_model(const struct whisper_state *s) { return s->m; }
void whisper_set_null_keys(struct whisper_state *s, int on) { s->null_keys = on; }

/* whisper.cpp (flash attention, its default) attends over the audio positions padded
 * to a multiple of 256 with zero keys and values and no mask. Those padding keys score
 * 0 and add exp(-max) each to the softmax denominator; reproducing that is what makes
 * our logits agree with its output. */
static int null_key_count(const struct whisper_state *s, int T) {
    return s->null_keys ? (T + 255) / 256 * 256 - T : 0;
}

static void softmax_nullpad(float *x, int n, int n_null) {
    float mx = n_null ? 0.0f : -INFINITY;
    for (int i = 0; i < n; i++) if (x[i] > mx) mx = x[i];
    double sum = n_null * exp(-(double)mx);
    for (int i = 0; i < n; i++) { x[i] = expf(x[i] - mx); sum += x[i]; }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

/* Rounds to the nearest f16 value (ties to even) without leaving float registers:
 * exact for f16's normal range, which is all an attention accumulator holds; values
 * below 6e-5 keep a few more bits than a true f16 subnormal (an error < 3e-8). */
static inline float f16_round(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    u = (u + 0xfffu + ((u >> 13) & 1u)) & ~0x1fffu;
    memcpy(&x, &u, 4);
    return x;
}


/* One query head over n_kv f16 keys/values `stride` apart, then n_null zero padding
 * keys, the way ggml's CPU flash attention does it: query rounded to f16, online
 * softmax, and the weighted sum of values kept in an f16 accumulator. att is scratch
 * of at least d floats. */
static void attend_f16(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n_kv, int d,
                       long stride, float scale, float *att, int n_null) {
    const float *h2f = g_h2f;
    float *qh = att;
    for (int i = 0; i < d; i++) qh[i] = f16_round(q[i]);
    float M = -INFINITY, S = 0;
    for (int i = 0; i < d; i++) out[i] = 0;
    for (int t = 0; t < n_kv + n_null; t++) {
        float sc = 0;
        if (t < n_kv) sc = scale * ops_dot_f16(qh, k + t * stride, d);
        float ms = 1, vs;
        if (sc > M) {
            float Mold = M;
            M = sc;
            ms = expf(Mold - M);
            for (int i = 0; i < d; i++) out[i] = f16_round(out[i] * ms);
            vs = 1;
        } else {
            vs = expf(sc - M);
        }
        if (t < n_kv) {
            const uint16_t *vr = v + t * stride;
            for (int i = 0; i < d; i++) out[i] = f16_round(out[i] + h2f[vr[i]] * vs);
        }
        S = S * ms + vs;
    }
    float inv = 1.0f / S;
    for (int i = 0; i < d; i++) out[i] *= inv;
}

struct attn_job {
    float *out;
    const float *q;
    const uint16_t *k, *v;
    int n_kv, d, n_heads, n_null, simd;
    long stride, scratch;
    float scale, *att;
};

static void attn_worker(void *arg, int ith, int nth) {
    struct attn_job *j = arg;
    long lo, hi;
    pool_split(j->n_heads, ith, nth, &lo, &hi);
    for (long h = lo; h < hi; h++) {
        long o = h * j->d;
        if (j->simd)
            whisper_attend_avx2(j->out + o, j->q + o, j->k + o, j->v + o, j->n_kv, j->d, j->stride, j->scale, j->n_null);
        else
            attend_f16(j->out + o, j->q + o, j->k + o, j->v + o, j->n_kv, j->d, j->stride, j->scale,
                       j->att + h * j->scratch, j->n_null);
    }
}

/* All heads of one attention, split over the pool's threads. */
static void attend_heads(struct whisper_state *s, float *out, const float *q, const uint16_t *k, const uint16_t *v,
                         int n_kv, int n_null) {
    const struct ggw_whisper_hparams *hp = &s->m->hp;
    int D = hp->n_text_state, H = hp->n_text_head, d = D / H;
    int nmax = hp->n_audio_ctx > hp->n_text_ctx ? hp->n_audio_ctx : hp->n_text_ctx;
    struct attn_job j = {out, q, k, v, n_kv, d, H, n_null, cpu_level() >= CPU_AVX2 && d % 8 == 0 && d <= WATTN_MAX_D,
                         D, nmax + D, 1.0f / sqrtf((float)d), s->scores};
    pool_run(s->pool, attn_worker, &j);
}

/* ---- encoder ---- */

static void add_bias(float *y, const float *b, int n, int m) {
    for (int r = 0; r < m; r++) ops_add(y + (size_t)r * n, b, n);
}

struct rows_job {
    float *p;
    int n, m, n_null;
    void (*fn)(float *row, int n);
};
static void rows_worker(void *arg, int ith, int nth) {
    struct rows_job *j = arg;
    long lo, hi;
    pool_split(j->m, ith, nth, &lo, &hi);
    for (long r = lo; r < hi; r++) j->fn(j->p + (size_t)r * j->n, j->n);
}
static void softmax_worker(void *arg, int ith, int nth) {
    struct rows_job *j = arg;
    long lo, hi;
    pool_split(j->m, ith, nth, &lo, &hi);
    int simd = cpu_level() >= CPU_AVX2;
    for (long r = lo; r < hi; r++) {
        if (simd) whisper_softmax_avx2(j->p + (size_t)r * j->n, j->n, j->n_null);
        else softmax_nullpad(j->p + (size_t)r * j->n, j->n, j->n_null);
    }
}
/* ggml evaluates GELU from a table indexed by the f16 input (f16 out); doing the same
 * is faster than tanhf and keeps the random-weight test models within tolerance. */
static void gelu_f16(float *x, long n) {
    long i = 0;
    if (cpu_level() >= CPU_AVX2) {
        whisper_gelu_avx2(x, n, g_gelu32);
        i = n - n % 8;
    }
    for (; i < n; i++) {
        float v = x[i];
        if (v <= -10.0f) x[i] = 0.0f;
        else if (v < 10.0f) x[i] = g_h2f[g_gelu16[fp32_to_fp16(v)]];
    }
}
static void gelu_row(float *row, int n) { gelu_f16(row, n); }
static void for_rows(struct pool *p, float *x, int n, int m, void (*fn)(float *, int)) {
    struct rows_job j = {x, n, m, 0, fn};
    pool_run(p, rows_worker, &j);
}

/* Multi-head self-attention over T positions with no mask: per head, scores = Q·Kᵀ and
 * out = softmax(scores)·V as two matmul() calls with f16 K and Vᵀ as the "weights". */
static int enc_attention(struct whisper_state *s, const float *q, const float *k, const float *v, float *out,
                         int T, int D, int H, float *S, uint16_t *kh, float *vt, float *qh, float *oh) {
    int d = D / H;
    float scale = 1.0f / sqrtf((float)d);
    for (int h = 0; h < H; h++) {
        for (int t = 0; t < T; t++) {
            const float *kr = k + (size_t)t * D + (size_t)h * d, *vr = v + (size_t)t * D + (size_t)h * d;
            const float *qr = q + (size_t)t * D + (size_t)h * d;
            for (int i = 0; i < d; i++) {
                kh[(size_t)t * d + i] = fp32_to_fp16(kr[i]);
                vt[(size_t)i * T + t] = vr[i];
                qh[(size_t)t * d + i] = qr[i] * scale;
            }
        }
        struct tensor tk = {"attn.k", DT_F16, 2, {d, T, 1, 1}, kh, (size_t)d * T * 2};
        struct tensor tv = {"attn.vT", DT_F32, 2, {T, d, 1, 1}, vt, (size_t)d * T * 4};
        matmul(s->pool, &tk, qh, S, T);
        struct rows_job sj = {S, T, T, null_key_count(s, T), NULL};
        pool_run(s->pool, softmax_worker, &sj);
        matmul(s->pool, &tv, S, oh, T);
        for (int t = 0; t < T; t++) memcpy(out + (size_t)t * D + (size_t)h * d, oh + (size_t)t * d, (size_t)d * 4);
    }
    return 0;
}

/* The fused path: per head, queries (scaled) and keys rounded to f16 values as the
 * matmul path's f16 conversion would, keys transposed so 16 keys load as two vectors;
 * then blocks of 4 queries go through scores, softmax and P·V without leaving L2.
 * Work items are (head, query block) pairs shared over the pool. */
struct enc_attn_job {
    const float *q, *k, *v;
    float *qh, *kt, *out, *scr;
    int T, tq, tp, D, d, H, n_null;
    float scale;
};

static void enc_attn_prep(void *arg, int ith, int nth) {
    struct enc_attn_job *j = arg;
    long lo, hi;
    pool_split(j->H, ith, nth, &lo, &hi);
    for (long h = lo; h < hi; h++) {
        float *qh = j->qh + h * j->tq * j->d, *kt = j->kt + h * j->d * j->tp;
        for (int t = 0; t < j->tq; t++)
            for (int i = 0; i < j->d; i++)
                qh[(size_t)t * j->d + i] = t < j->T ? f16_round(j->q[(size_t)t * j->D + h * j->d + i] * j->scale) : 0.0f;
        for (int i = 0; i < j->d; i++) {
            float *row = kt + (size_t)i * j->tp;
            for (int t = 0; t < j->T; t++) row[t] = f16_round(j->k[(size_t)t * j->D + h * j->d + i]);
            for (int t = j->T; t < j->tp; t++) row[t] = 0.0f;
        }
    }
}

static void enc_attn_run(void *arg, int ith, int nth) {
    struct enc_attn_job *j = arg;
    int nqb = j->tq / 4;
    long lo, hi;
    pool_split((long)j->H * nqb, ith, nth, &lo, &hi);
    for (long it = lo; it < hi; it++) {
        long h = it / nqb, b = it % nqb;
        whisper_enc_attend4_avx2(j->out + b * 4 * j->D + h * j->d, j->D, j->qh + (h * j->tq + b * 4) * j->d,
                                 j->kt + h * j->d * j->tp, j->T, j->tp, j->v + h * j->d, j->D, j->d, j->n_null,
                                 j->scr + (size_t)ith * 4 * j->tp);
    }
}

/* out needs room for T rounded up to a multiple of 4 rows. */
static int enc_attention_fused(struct whisper_state *s, const float *q, const float *k, const float *v, float *out,
                               int T, int D, int H) {
    int d = D / H, tq = (T + 3) / 4 * 4, tp = (T + 15) / 16 * 16, nth = pool_size(s->pool);
    struct enc_attn_job j = {q, k, v, NULL, NULL, out, NULL, T, tq, tp, D, d, H, null_key_count(s, T),
                             1.0f / sqrtf((float)d)};
    j.qh = malloc((size_t)H * tq * d * sizeof(float));
    j.kt = malloc((size_t)H * d * tp * sizeof(float));
    j.scr = malloc((size_t)nth * 4 * tp * sizeof(float));
    int rc = -1;
    if (j.qh && j.kt && j.scr) {
        pool_run(s->pool, enc_attn_prep, &j);
        pool_run(s->pool, enc_attn_run, &j);
        rc = 0;
    }
    free(j.qh); free(j.kt); free(j.scr);
    return rc;
}

int whisper_encode(struct whisper_state *s, const struct mel *mel, int offset, int n_ctx, struct err *e) {
    const struct whisper_model *m = s->m;
    const struct ggw_whisper_hparams *hp = &m->hp;
    if (n_ctx <= 0 || n_ctx > hp->n_audio_ctx) n_ctx = hp->n_audio_ctx;
    if (mel->n_mel != hp->n_mels) return err_set(e, "mel has %d bins, the model expects %d", mel->n_mel, hp->n_mels);
    if (offset < 0) return err_set(e, "negative mel offset %d", offset);
    int T = n_ctx, T2 = 2 * n_ctx, D = hp->n_audio_state, H = hp->n_audio_head, NM = hp->n_mels;
    size_t TD = (size_t)T * D;
    float *col = calloc((size_t)T2 * 3 * (size_t)(NM > D ? NM : D), 4);
    float *h1 = malloc((size_t)T2 * D * 4);
    float *x = malloc(TD * 4), *hb = malloc(TD * 4), *q = malloc(TD * 4), *k = malloc(TD * 4);
    float *v = malloc(TD * 4), *att = malloc(((size_t)T + 3) * D * 4), *ff = malloc(TD * 4 * 4);
    int fused = cpu_level() >= CPU_AVX2 && (D / H) % 16 == 0 && !getenv("OMNI_WHISPER_UNFUSED");
    float *S = malloc((size_t)T * T * 4), *qh = malloc(TD * 4), *oh = malloc(TD * 4);
    uint16_t *kh = malloc(TD * 2);
    float *vt = malloc(TD * 4);
    int rc = -1;
    if (!col || !h1 || !x || !hb || !q || !k || !v || !att || !ff || !S || !qh || !oh || !kh || !vt) {
        err_set(e, "out of memory encoding %d positions", T);
        goto done;
    }
    /* conv1 (kernel 3, padding 1) as im2col + matmul; past the mel's end reads as 0 */
    for (int t = 0; t < T2; t++) {
        float *c = col + (size_t)t * 3 * NM;
        for (int i = 0; i < NM; i++)
            for (int kk = 0; kk < 3; kk++) {
                int f = offset + t + kk - 1;
                c[i * 3 + kk] = (t + kk - 1 >= 0 && t + kk - 1 < T2 && f < mel->n_len) ? mel->data[(size_t)i * mel->n_len + f] : 0.0f;
            }
    }
    matmul(s->pool, &m->conv1, col, h1, T2);
    add_bias(h1, m->conv1_b, D, T2);
    for_rows(s->pool, h1, D, T2, gelu_row);
    /* conv2 (kernel 3, stride 2, padding 1) */
    for (int t = 0; t < T; t++) {
        float *c = col + (size_t)t * 3 * D;
        for (int i = 0; i < D; i++)
            for (int kk = 0; kk < 3; kk++) {
                int f = 2 * t + kk - 1;
                c[i * 3 + kk] = f >= 0 && f < T2 ? h1[(size_t)f * D + i] : 0.0f;
            }
    }
    matmul(s->pool, &m->conv2, col, x, T);
    add_bias(x, m->conv2_b, D, T);
    for_rows(s->pool, x, D, T, gelu_row);
    for (int t = 0; t < T; t++) ops_add(x + (size_t)t * D, m->enc_pos + (size_t)t * D, D);

    for (int l = 0; l < hp->n_audio_layer; l++) {
        const struct wblock *w = &m->enc[l];
        layernorm(hb, x, w->self.ln_w, w->self.ln_b, D, T, LN_EPS);
        matmul(s->pool, w->self.q, hb, q, T);
        add_bias(q, w->self.q_b, D, T);
        matmul(s->pool, w->self.k, hb, k, T);
        matmul(s->pool, w->self.v, hb, v, T);
        add_bias(v, w->self.v_b, D, T);
        if (!fused || enc_attention_fused(s, q, k, v, att, T, D, H))
            enc_attention(s, q, k, v, att, T, D, H, S, kh, vt, qh, oh);
        matmul(s->pool, w->self.o, att, hb, T);
        add_bias(hb, w->self.o_b, D, T);
        for (size_t i = 0; i < TD; i++) x[i] += hb[i];

        layernorm(hb, x, w->mln_w, w->mln_b, D, T, LN_EPS);
        matmul(s->pool, w->fc1, hb, ff, T);
        add_bias(ff, w->fc1_b, 4 * D, T);
        for_rows(s->pool, ff, 4 * D, T, gelu_row);
        matmul(s->pool, w->fc2, ff, hb, T);
        add_bias(hb, w->fc2_b, D, T);
        for (size_t i = 0; i < TD; i++) x[i] += hb[i];
    }
    layernorm(x, x, m->ln_post_w, m->ln_post_b, D, T, LN_EPS);

    /* cross-attention keys/values for every decoder layer, computed once per window */
    for (int l = 0; l < hp->n_text_layer; l++) {
        const struct wblock *w = &m->dec[l];
        size_t base = (size_t)l * hp->n_audio_ctx * D;
        matmul(s->pool, w->cross.k, x, k, T);
        matmul(s->pool, w->cross.v, x, v, T);
        add_bias(v, w->cross.v_b, D, T);
        ops_f32_to_f16(s->xk + base, k, (int)TD);
        ops_f32_to_f16(s->xv + base, v, (int)TD);
    }
    s->n_ctx = T;
    rc = 0;
done:
    free(col); free(h1); free(x); free(hb); free(q); free(k); free(v); free(att); free(ff);
    free(S); free(qh); free(oh); free(kh); free(vt);
    return rc;
}

/* ---- decoder ---- */

static void dec_step(struct whisper_state *s, int seq, int token, int pos) {
    const struct whisper_model *m = s->m;
    const struct ggw_whisper_hparams *hp = &m->hp;
    int D = hp->n_text_state;
    size_t row = dtype_row_bytes(m->tok_emb->type, D);
    dequantize_row(m->tok_emb->type, (const char *)m->tok_emb->data + (size_t)token * row, s->x, D);
    ops_add(s->x, m->dec_pos + (size_t)pos * D, D);
    for (int l = 0; l < hp->n_text_layer; l++) {
        const struct wblock *w = &m->dec[l];
        size_t base = (size_t)seq * seq_elems(s) + (size_t)l * hp->n_text_ctx * D;
        uint16_t *sk = s->sk + base, *sv = s->sv + base;
        layernorm(s->h, s->x, w->self.ln_w, w->self.ln_b, D, 1, LN_EPS);
        matmul(s->pool, w->self.q, s->h, s->q, 1);
        ops_add(s->q, w->self.q_b, D);
        matmul(s->pool, w->self.k, s->h, s->k, 1);
        matmul(s->pool, w->self.v, s->h, s->v, 1);
        ops_add(s->v, w->self.v_b, D);
        ops_f32_to_f16(sk + (size_t)pos * D, s->k, D);
        ops_f32_to_f16(sv + (size_t)pos * D, s->v, D);
        attend_heads(s, s->att, s->q, sk, sv, pos + 1, 0);
        matmul(s->pool, w->self.o, s->att, s->tmp, 1);
        ops_add(s->tmp, w->self.o_b, D);
        ops_add(s->x, s->tmp, D);

        uint16_t *xk = s->xk + (size_t)l * hp->n_audio_ctx * D, *xv = s->xv + (size_t)l * hp->n_audio_ctx * D;
        layernorm(s->h, s->x, w->cross.ln_w, w->cross.ln_b, D, 1, LN_EPS);
        matmul(s->pool, w->cross.q, s->h, s->q, 1);
        ops_add(s->q, w->cross.q_b, D);
        attend_heads(s, s->att, s->q, xk, xv, s->n_ctx, null_key_count(s, s->n_ctx));
        matmul(s->pool, w->cross.o, s->att, s->tmp, 1);
        ops_add(s->tmp, w->cross.o_b, D);
        ops_add(s->x, s->tmp, D);

        layernorm(s->h, s->x, w->mln_w, w->mln_b, D, 1, LN_EPS);
        matmul(s->pool, w->fc1, s->h, s->ff, 1);
        ops_add(s->ff, w->fc1_b, 4 * D);
        gelu_f16(s->ff, 4 * D);
        matmul(s->pool, w->fc2, s->ff, s->tmp, 1);
        ops_add(s->tmp, w->fc2_b, D);
        ops_add(s->x, s->tmp, D);
    }
}

int whisper_decode(struct whisper_state *s, const int *tokens, int n, int n_past, float *logits, struct err *e) {
    return whisper_decode_seq(s, 0, tokens, n, n_past, logits, e);
}

int whisper_decode_seq(struct whisper_state *s, int seq, const int *tokens, int n, int n_past, float *logits,
                       struct err *e) {
    const struct whisper_model *m = s->m;
    if (seq < 0 || seq >= s->n_seq) return err_set(e, "decoder sequence %d was not reserved", seq);
    if (!s->n_ctx) return err_set(e, "whisper_decode before whisper_encode");
    if (n < 1 || n_past < 0 || n_past + n > m->hp.n_text_ctx)
        return err_set(e, "decoder positions %d..%d exceed the text context of %d", n_past, n_past + n, m->hp.n_text_ctx);
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= m->hp.n_vocab) return err_set(e, "token id %d is out of range", tokens[i]);
        dec_step(s, seq, tokens[i], n_past + i);
    }
    layernorm(s->h, s->x, m->dec_ln_w, m->dec_ln_b, m->hp.n_text_state, 1, LN_EPS);
    matmul(s->pool, m->tok_emb, s->h, logits, 1);
    return 0;
}

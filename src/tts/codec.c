/* Qwen3-TTS's codec decoder (the 12 Hz speech tokenizer's decoder, llama.cpp's
 * qwen3tts_gen GEN_WAV graph): RVQ codebooks -> causal conv -> 8 transformer layers with
 * a 72-frame sliding window -> 2x (causal transposed conv + ConvNeXt) twice -> DAC
 * decoder (SnakeBeta, transposed convs by 8, 5, 4, 3, dilated residual units) -> 24 kHz.
 * Everything is causal, so the decoder streams: it keeps each conv's left context, each
 * transposed conv's overlap tail and the transformer's last 71 frames of K/V between
 * calls, and works through a call's frames a few at a time to bound its memory.
 * Arithmetic follows ggml's: conv inputs are rounded to f16 for the f16 kernels (its
 * im2col), GELU through the f16 table. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/gelu_f16.h"
#include "core/layernorm.h"
#include "core/matmul.h"
#include "core/ops.h"
#include "tts/q3_parts.h"

#define TFM_LAYERS 8
#define TFM_HEADS 16
#define TFM_WINDOW 72
#define SUB_FRAMES 4   /* frames per internal pass */

/* A causal conv's left context: the last `n` input rows of `c` channels (zeros at first). */
struct hist { int n, c; float *rows; };

struct conv { struct tensor w; const float *b; int K, IC, OC, dil; struct hist h; };  /* w viewed [K*IC, OC] */
struct convt { struct tensor wt; float *wbuf; const float *b; int K, OC, IC, stride; float *tail; };  /* wt [IC, K*OC] */
struct snake { const float *a, *b; int c; };

struct tfm_layer {
    const float *ln1, *ln2, *ls1, *ls2;
    struct tensor q, k, v, o, gate, up, down;
    float *kh, *vh;   /* [TFM_WINDOW - 1][TQ] previous frames' K and V */
};

struct up_block {
    struct convt ct;
    const float *dw_w16_b, *norm_w, *norm_b, *pw1_b, *pw2_b, *gamma;
    struct tensor dw, pw1, pw2;
    struct hist dwh;
};

struct res_unit { struct snake a1, a2; struct conv c1, c2; };
struct dac_block { struct snake sn; struct convt ct; struct res_unit r[3]; };

struct q3_codec {
    struct tensor cb0, out0, cbr, outr;
    int D, Q, PC, H, TQ, hd, TF;
    struct conv pre;
    struct tensor in_w, out_w, onorm_t;
    const float *in_b, *out_b, *onorm;
    struct tfm_layer tl[TFM_LAYERS];
    int n_hist;        /* frames held in the layers' kh/vh */
    int pos;           /* frames decoded so far (rope position of the next) */
    struct up_block up[2];
    struct conv entry;
    struct dac_block dac[4];
    struct snake post_sn;
    struct conv post;
};

static void conv_free(struct conv *c) { free(c->h.rows); }
void q3_codec_free(struct q3_codec *c) {
    if (!c) return;
    conv_free(&c->pre), conv_free(&c->entry), conv_free(&c->post);
    for (int l = 0; l < TFM_LAYERS; l++) free(c->tl[l].kh), free(c->tl[l].vh);
    for (int b = 0; b < 2; b++) free(c->up[b].ct.wbuf), free(c->up[b].ct.tail), free(c->up[b].dwh.rows);
    for (int b = 0; b < 4; b++) {
        free(c->dac[b].ct.wbuf), free(c->dac[b].ct.tail);
        for (int r = 0; r < 3; r++) conv_free(&c->dac[b].r[r].c1), conv_free(&c->dac[b].r[r].c2);
    }
    free(c);
}

static int load_conv(const struct gguf *g, const char *base, int IC, int dil, struct conv *c, struct err *e) {
    char n[96];
    struct tensor w;
    snprintf(n, sizeof n, "%s.weight", base);
    if (q3_tensor(g, n, 3, 0, IC, 0, &w, e)) return -1;
    c->K = (int)w.ne[0], c->IC = IC, c->OC = (int)w.ne[2], c->dil = dil;
    c->w = w;
    c->w.n_dims = 2, c->w.ne[0] = w.ne[0] * w.ne[1], c->w.ne[1] = w.ne[2], c->w.ne[2] = 1;
    snprintf(n, sizeof n, "%s.bias", base);
    if (q3_vector(g, n, c->OC, &c->b, e)) return -1;
    c->h.n = (c->K - 1) * dil, c->h.c = IC;
    c->h.rows = calloc((size_t)(c->h.n ? c->h.n : 1) * (size_t)IC, sizeof(float));
    return c->h.rows ? 0 : err_set(e, "out of memory");
}

static int load_convt(const struct gguf *g, const char *base, int IC, int stride, struct convt *c, struct err *e) {
    char n[96];
    struct tensor w;
    snprintf(n, sizeof n, "%s.weight", base);
    if (q3_tensor(g, n, 3, 0, 0, IC, &w, e)) return -1;
    c->K = (int)w.ne[0], c->OC = (int)w.ne[1], c->IC = IC, c->stride = stride;
    if (c->K < stride) return err_set(e, "%s: %s kernel %d is shorter than its stride %d", gguf_path(g), n, c->K, stride);
    size_t J = (size_t)c->K * (size_t)c->OC;
    float *src = malloc(sizeof(float) * J * (size_t)IC);
    c->wbuf = malloc(sizeof(float) * J * (size_t)IC);
    c->tail = calloc((size_t)(c->K - stride + 1) * (size_t)c->OC, sizeof(float));
    if (!src || !c->wbuf || !c->tail) { free(src); return err_set(e, "out of memory"); }
    for (int ic = 0; ic < IC; ic++) {  /* rows j = k + K*oc of one input channel each */
        struct tensor rowt = w;
        rowt.ne[0] = (int64_t)J, rowt.ne[1] = IC, rowt.ne[2] = 1;
        q3_row(&rowt, ic, src + J * (size_t)ic);
    }
    for (size_t j = 0; j < J; j++)
        for (int ic = 0; ic < IC; ic++) c->wbuf[j * (size_t)IC + (size_t)ic] = src[(size_t)ic * J + j];
    free(src);
    c->wt = (struct tensor){n, DT_F32, 2, {IC, (int64_t)J, 1, 1}, c->wbuf, sizeof(float) * J * (size_t)IC};
    c->wt.name = "convt";
    snprintf(n, sizeof n, "%s.bias", base);
    return q3_vector(g, n, c->OC, &c->b, e);
}

static int load_snake(const struct gguf *g, const char *base, int C, struct snake *s, struct err *e) {
    char n[96];
    s->c = C;
    snprintf(n, sizeof n, "%s.alpha", base);
    if (q3_vector(g, n, C, &s->a, e)) return -1;
    snprintf(n, sizeof n, "%s.beta", base);
    return q3_vector(g, n, C, &s->b, e);
}

struct q3_codec *q3_codec_load(const struct gguf *g, struct err *e) {
    struct q3_codec *c = calloc(1, sizeof *c);
    if (!c) { err_set(e, "out of memory"); return NULL; }
    char n[96];
    if (q3_tensor(g, "a.gen.wav.quant.first.codebook.weight", 2, 0, 0, 0, &c->cb0, e)) goto fail;
    c->D = (int)c->cb0.ne[0];
    if (q3_tensor(g, "a.gen.wav.quant.first.out_proj.weight", 2, c->D, 0, 0, &c->out0, e)) goto fail;
    c->Q = (int)c->out0.ne[1];
    if (q3_tensor(g, "a.gen.wav.quant.rest.codebook.weight", 3, c->D, 0, Q3_N_CODES - 1, &c->cbr, e) ||
        q3_tensor(g, "a.gen.wav.quant.rest.out_proj.weight", 2, c->D, c->Q, 0, &c->outr, e) ||
        load_conv(g, "a.gen.wav.pre_conv", c->Q, 1, &c->pre, e))
        goto fail;
    c->PC = c->pre.OC;
    if (q3_tensor(g, "a.gen.wav.tfm.in_proj.weight", 2, c->PC, 0, 0, &c->in_w, e)) goto fail;
    c->H = (int)c->in_w.ne[1];
    if (q3_vector(g, "a.gen.wav.tfm.in_proj.bias", c->H, &c->in_b, e) ||
        q3_tensor(g, "a.gen.wav.tfm.out_proj.weight", 2, c->H, c->PC, 0, &c->out_w, e) ||
        q3_vector(g, "a.gen.wav.tfm.out_proj.bias", c->PC, &c->out_b, e) ||
        q3_vector(g, "a.gen.wav.tfm.output_norm.weight", c->H, &c->onorm, e))
        goto fail;
    for (int l = 0; l < TFM_LAYERS; l++) {
        struct tfm_layer *t = &c->tl[l];
#define T(field, nm, d0, d1) (snprintf(n, sizeof n, "a.gen.wav.tfm.blk.%d." nm, l), q3_tensor(g, n, 2, d0, d1, 0, &t->field, e))
#define VV(field, nm, len) (snprintf(n, sizeof n, "a.gen.wav.tfm.blk.%d." nm, l), q3_vector(g, n, len, &t->field, e))
        if (T(q, "attn_q.weight", c->H, 0)) goto fail;
        c->TQ = (int)t->q.ne[1];
        if (c->TQ % TFM_HEADS) { err_set(e, "%s: codec attn_q rows %d are not %d heads", gguf_path(g), c->TQ, TFM_HEADS); goto fail; }
        if (T(k, "attn_k.weight", c->H, c->TQ) || T(v, "attn_v.weight", c->H, c->TQ) || T(o, "attn_out.weight", c->TQ, c->H) ||
            T(gate, "ffn_gate.weight", c->H, 0))
            goto fail;
        c->TF = (int)t->gate.ne[1];
        if (T(up, "ffn_up.weight", c->H, c->TF) || T(down, "ffn_down.weight", c->TF, c->H) || VV(ln1, "ln1.weight", c->H) ||
            VV(ln2, "ln2.weight", c->H) || VV(ls1, "ls1.weight", c->H) || VV(ls2, "ls2.weight", c->H))
            goto fail;
#undef T
#undef VV
        t->kh = calloc((size_t)(TFM_WINDOW - 1) * (size_t)c->TQ, sizeof(float));
        t->vh = calloc((size_t)(TFM_WINDOW - 1) * (size_t)c->TQ, sizeof(float));
        if (!t->kh || !t->vh) { err_set(e, "out of memory"); goto fail; }
    }
    c->hd = c->TQ / TFM_HEADS;
    for (int b = 0; b < 2; b++) {
        struct up_block *u = &c->up[b];
        snprintf(n, sizeof n, "a.gen.wav.up.blk.%d.conv", b);
        if (load_convt(g, n, c->PC, 2, &u->ct, e)) goto fail;
        if (u->ct.OC != c->PC) { err_set(e, "%s: %s should keep %d channels", gguf_path(g), n, c->PC); goto fail; }
#define T(field, nm, nd, d0, d1, d2) (snprintf(n, sizeof n, "a.gen.wav.up.blk.%d." nm, b), q3_tensor(g, n, nd, d0, d1, d2, &u->field, e))
#define VV(field, nm, len) (snprintf(n, sizeof n, "a.gen.wav.up.blk.%d." nm, b), q3_vector(g, n, len, &u->field, e))
        if (T(dw, "dwconv.weight", 3, 0, 1, c->PC) || VV(dw_w16_b, "dwconv.bias", c->PC) || VV(norm_w, "norm.weight", c->PC) ||
            VV(norm_b, "norm.bias", c->PC) || T(pw1, "pw1.weight", 2, c->PC, 0, 0) || T(pw2, "pw2.weight", 2, u->pw1.ne[1], c->PC, 0) ||
            VV(pw1_b, "pw1.bias", u->pw1.ne[1]) || VV(pw2_b, "pw2.bias", c->PC) ||
            (snprintf(n, sizeof n, "a.gen.wav.up.blk.%d.gamma", b), q3_vector(g, n, c->PC, &u->gamma, e)))
            goto fail;
#undef T
#undef VV
        u->dwh.n = (int)u->dw.ne[0] - 1, u->dwh.c = c->PC;
        u->dwh.rows = calloc((size_t)(u->dwh.n + 1) * (size_t)c->PC, sizeof(float));
        if (!u->dwh.rows) { err_set(e, "out of memory"); goto fail; }
    }
    if (load_conv(g, "a.gen.wav.dac.entry", c->PC, 1, &c->entry, e)) goto fail;
    int ch = c->entry.OC;
    static const int dil[3] = {1, 3, 9};
    for (int b = 0; b < 4; b++) {
        struct dac_block *d = &c->dac[b];
        snprintf(n, sizeof n, "a.gen.wav.dac.blk.%d.snake", b);
        if (load_snake(g, n, ch, &d->sn, e)) goto fail;
        snprintf(n, sizeof n, "a.gen.wav.dac.blk.%d.conv.weight", b);
        struct tensor w;
        if (q3_tensor(g, n, 3, 0, 0, ch, &w, e)) goto fail;
        snprintf(n, sizeof n, "a.gen.wav.dac.blk.%d.conv", b);
        if (load_convt(g, n, ch, (int)w.ne[0] / 2, &d->ct, e)) goto fail;  /* kernel = 2 x stride */
        ch = d->ct.OC;
        for (int r = 0; r < 3; r++) {
            snprintf(n, sizeof n, "a.gen.wav.dac.blk.%d.res.%d.act1", b, r);
            if (load_snake(g, n, ch, &d->r[r].a1, e)) goto fail;
            snprintf(n, sizeof n, "a.gen.wav.dac.blk.%d.res.%d.act2", b, r);
            if (load_snake(g, n, ch, &d->r[r].a2, e)) goto fail;
            snprintf(n, sizeof n, "a.gen.wav.dac.blk.%d.res.%d.conv1", b, r);
            if (load_conv(g, n, ch, dil[r], &d->r[r].c1, e)) goto fail;
            snprintf(n, sizeof n, "a.gen.wav.dac.blk.%d.res.%d.conv2", b, r);
            if (load_conv(g, n, ch, 1, &d->r[r].c2, e)) goto fail;
            if (d->r[r].c1.OC != ch || d->r[r].c2.OC != ch) { err_set(e, "%s: %s changes the width", gguf_path(g), n); goto fail; }
        }
    }
    if (load_snake(g, "a.gen.wav.dac.post_snake", ch, &c->post_sn, e) || load_conv(g, "a.gen.wav.dac.post_conv", ch, 1, &c->post, e))
        goto fail;
    if (c->post.OC != 1) { err_set(e, "%s: the codec's last conv should give 1 channel", gguf_path(g)); goto fail; }
    return c;
fail:
    q3_codec_free(c);
    return NULL;
}

static void hist_zero(struct hist *h) { memset(h->rows, 0, sizeof(float) * (size_t)h->n * (size_t)h->c); }

void q3_codec_reset(struct q3_codec *c) {
    hist_zero(&c->pre.h), hist_zero(&c->entry.h), hist_zero(&c->post.h);
    c->n_hist = 0, c->pos = 0;
    for (int b = 0; b < 2; b++) hist_zero(&c->up[b].dwh);
    for (int b = 0; b < 4; b++) {
        memset(c->dac[b].ct.tail, 0, sizeof(float) * (size_t)(c->dac[b].ct.K - c->dac[b].ct.stride) * (size_t)c->dac[b].ct.OC);
        for (int r = 0; r < 3; r++) hist_zero(&c->dac[b].r[r].c1.h), hist_zero(&c->dac[b].r[r].c2.h);
    }
}

/* [h.n rows of history; x's T rows] into a new buffer; the history becomes its last h.n rows. */
static float *with_hist(struct hist *h, const float *x, int T) {
    size_t C = (size_t)h->c, n = (size_t)h->n;
    float *full = malloc(sizeof(float) * (n + (size_t)T) * C);
    if (!full) return NULL;
    memcpy(full, h->rows, sizeof(float) * n * C);
    memcpy(full + n * C, x, sizeof(float) * (size_t)T * C);
    memcpy(h->rows, full + (size_t)T * C, sizeof(float) * n * C);
    return full;
}

/* Causal conv: x [T][IC] -> y [T][OC]. */
static int conv_run(struct conv *c, struct pool *pool, const float *x, int T, float *y) {
    float *full = with_hist(&c->h, x, T);
    size_t KI = (size_t)c->K * (size_t)c->IC;
    float *col = malloc(sizeof(float) * KI * (size_t)T);
    if (!full || !col) { free(full), free(col); return -1; }
    for (int t = 0; t < T; t++)
        for (int ic = 0; ic < c->IC; ic++)
            for (int k = 0; k < c->K; k++) col[(size_t)t * KI + (size_t)ic * (size_t)c->K + (size_t)k] =
                full[((size_t)t + (size_t)k * (size_t)c->dil) * (size_t)c->IC + (size_t)ic];
    matmul(pool, &c->w, col, y, T);
    for (int t = 0; t < T; t++) ops_add(y + (size_t)t * (size_t)c->OC, c->b, c->OC);
    free(full), free(col);
    return 0;
}

/* Causal transposed conv: x [T][IC] -> y [T * stride][OC]; the overlap tail waits for the next call. */
static int convt_run(struct convt *c, struct pool *pool, const float *x, int T, float *y) {
    const int K = c->K, OC = c->OC, s = c->stride, trim = K - s;
    size_t J = (size_t)K * (size_t)OC, L = (size_t)T * (size_t)s + (size_t)trim;
    float *col = malloc(sizeof(float) * J * (size_t)T), *full = calloc(L * (size_t)OC, sizeof(float));
    if (!col || !full) { free(col), free(full); return -1; }
    matmul(pool, &c->wt, x, col, T);
    for (int t = 0; t < T; t++)
        for (int oc = 0; oc < OC; oc++)
            for (int k = 0; k < K; k++)
                full[((size_t)t * (size_t)s + (size_t)k) * (size_t)OC + (size_t)oc] += col[(size_t)t * J + (size_t)k + (size_t)K * (size_t)oc];
    for (size_t i = 0; i < (size_t)trim * (size_t)OC; i++) full[i] += c->tail[i];
    memcpy(c->tail, full + (size_t)T * (size_t)s * (size_t)OC, sizeof(float) * (size_t)trim * (size_t)OC);
    memcpy(y, full, sizeof(float) * (size_t)T * (size_t)s * (size_t)OC);
    for (int t = 0; t < T * s; t++) ops_add(y + (size_t)t * (size_t)OC, c->b, OC);
    free(col), free(full);
    return 0;
}

static void snake_run(const struct snake *s, float *x, int T) {
    for (int t = 0; t < T; t++) {
        float *r = x + (size_t)t * (size_t)s->c;
        for (int i = 0; i < s->c; i++) {
            float v = sinf(r[i] * s->a[i]);
            r[i] += v * v * s->b[i];
        }
    }
}

/* ConvNeXt block on x [T][PC] in place. */
static int convnext_run(struct q3_codec *c, struct up_block *u, struct pool *pool, float *x, int T) {
    const int C = c->PC, K = (int)u->dw.ne[0], F = (int)u->pw1.ne[1];
    float *full = with_hist(&u->dwh, x, T), *h = malloc(sizeof(float) * (size_t)T * (size_t)C),
          *g = malloc(sizeof(float) * (size_t)T * (size_t)F), *wk = malloc(sizeof(float) * (size_t)K);
    if (!full || !h || !g || !wk) { free(full), free(h), free(g), free(wk); return -1; }
    q3_round16(full, (long)(u->dwh.n + T) * C);  /* the depthwise taps read f16 inputs: round each once, not K times */
    for (int ch = 0; ch < C; ch++) {
        q3_row(&u->dw, ch, wk);  /* dw viewed as C rows of K: [K, 1, C] */
        for (int t = 0; t < T; t++) {
            float s = 0;
            for (int k = 0; k < K; k++) s += full[((size_t)t + (size_t)k) * (size_t)C + (size_t)ch] * wk[k];
            h[(size_t)t * (size_t)C + (size_t)ch] = s + u->dw_w16_b[ch];
        }
    }
    layernorm(h, h, u->norm_w, u->norm_b, C, T, 1e-6f);
    matmul(pool, &u->pw1, h, g, T);
    for (int t = 0; t < T; t++) ops_add(g + (size_t)t * (size_t)F, u->pw1_b, F);
    gelu_f16(g, (long)T * F);
    matmul(pool, &u->pw2, g, h, T);
    for (int t = 0; t < T; t++) {
        float *r = h + (size_t)t * (size_t)C, *o = x + (size_t)t * (size_t)C;
        for (int i = 0; i < C; i++) o[i] += (r[i] + u->pw2_b[i]) * u->gamma[i];
    }
    free(full), free(h), free(g), free(wk);
    return 0;
}

/* The 8 transformer layers over N new frames x [N][H], in place. */
static int tfm_run(struct q3_codec *c, struct pool *pool, float *x, int N) {
    const int H = c->H, TQ = c->TQ, hd = c->hd, nh = c->n_hist, R = nh + N;
    float *h = malloc(sizeof(float) * (size_t)N * (size_t)H), *q = malloc(sizeof(float) * (size_t)N * (size_t)TQ),
          *K = malloc(sizeof(float) * (size_t)R * (size_t)TQ), *V = malloc(sizeof(float) * (size_t)R * (size_t)TQ),
          *ao = malloc(sizeof(float) * (size_t)N * (size_t)TQ), *att = malloc(sizeof(float) * (size_t)(R > hd ? R : hd)),
          *gt = malloc(sizeof(float) * (size_t)N * (size_t)c->TF), *up = malloc(sizeof(float) * (size_t)N * (size_t)c->TF),
          *cs = malloc(sizeof(float) * (size_t)N * (size_t)hd);
    int rc = -1;
    if (!h || !q || !K || !V || !ao || !att || !gt || !up || !cs) goto done;
    for (int i = 0; i < N; i++) ops_rope_cache(cs + (size_t)i * (size_t)hd, hd, c->pos + i, 10000.0f, 1.0f, NULL);
    const float scale = 1.0f / sqrtf((float)hd);
    /* llama.cpp runs a window's 72 queries at once: ggml's tiled kernel when the head size is
     * a whole number of its (AVX-512) vectors, else the one-row kernel */
    const int flags = (hd % 16 == 0 ? Q3_ATTN_TILED : 0) | Q3_ATTN_KV16;
    for (int l = 0; l < TFM_LAYERS; l++) {
        struct tfm_layer *t = &c->tl[l];
        for (int i = 0; i < N; i++) ops_rmsnorm(h + (size_t)i * (size_t)H, x + (size_t)i * (size_t)H, t->ln1, H, 1e-5f);
        memcpy(K, t->kh, sizeof(float) * (size_t)nh * (size_t)TQ);
        memcpy(V, t->vh, sizeof(float) * (size_t)nh * (size_t)TQ);
        matmul(pool, &t->q, h, q, N);
        matmul(pool, &t->k, h, K + (size_t)nh * (size_t)TQ, N);
        matmul(pool, &t->v, h, V + (size_t)nh * (size_t)TQ, N);
        for (int i = 0; i < N; i++) {
            ops_rope(q + (size_t)i * (size_t)TQ, TFM_HEADS, hd, hd, cs + (size_t)i * (size_t)hd, 1);
            ops_rope(K + (size_t)(nh + i) * (size_t)TQ, TFM_HEADS, hd, hd, cs + (size_t)i * (size_t)hd, 1);
        }
        /* K/V are read only as f16 (and kept so for the next call): round the new rows once */
        q3_round16(K + (size_t)nh * (size_t)TQ, (long)N * TQ);
        q3_round16(V + (size_t)nh * (size_t)TQ, (long)N * TQ);
        for (int i = 0; i < N; i++) {
            int r1 = nh + i, r0 = r1 - (TFM_WINDOW - 1) > 0 ? r1 - (TFM_WINDOW - 1) : 0;
            for (int hh = 0; hh < TFM_HEADS; hh++)
                q3_attn_f16(ao + (size_t)i * (size_t)TQ + (size_t)hh * (size_t)hd,
                            q + (size_t)i * (size_t)TQ + (size_t)hh * (size_t)hd, K + (size_t)hh * (size_t)hd,
                            V + (size_t)hh * (size_t)hd, TQ, hd, r0, r1, scale, flags, att);
        }
        /* keep the last 71 frames' K/V for the next call */
        int keep = R < TFM_WINDOW - 1 ? R : TFM_WINDOW - 1;
        memmove(t->kh, K + (size_t)(R - keep) * (size_t)TQ, sizeof(float) * (size_t)keep * (size_t)TQ);
        memmove(t->vh, V + (size_t)(R - keep) * (size_t)TQ, sizeof(float) * (size_t)keep * (size_t)TQ);
        matmul(pool, &t->o, ao, h, N);
        for (int i = 0; i < N; i++) {
            float *xr = x + (size_t)i * (size_t)H, *hr = h + (size_t)i * (size_t)H;
            for (int d = 0; d < H; d++) xr[d] += hr[d] * t->ls1[d];
            ops_rmsnorm(hr, xr, t->ln2, H, 1e-5f);
        }
        matmul(pool, &t->gate, h, gt, N);
        matmul(pool, &t->up, h, up, N);
        ops_swiglu(gt, gt, up, N * c->TF, 0);
        matmul(pool, &t->down, gt, h, N);
        for (int i = 0; i < N; i++) {
            float *xr = x + (size_t)i * (size_t)H, *hr = h + (size_t)i * (size_t)H;
            for (int d = 0; d < H; d++) xr[d] += hr[d] * t->ls2[d];
        }
    }
    c->n_hist = R < TFM_WINDOW - 1 ? R : TFM_WINDOW - 1;
    c->pos += N;
    rc = 0;
done:
    free(h), free(q), free(K), free(V), free(ao), free(att), free(gt), free(up), free(cs);
    return rc;
}

static int decode_some(struct q3_codec *c, struct pool *pool, const int32_t *codes, int N, float *pcm) {
    int rc = -1;
    /* the widest stage: the frames at Q, PC or H wide, the 4x upsampled ones at PC or the DAC's
     * entry width, then each DAC block's output */
    size_t cap = (size_t)N * (size_t)(c->Q > c->PC ? (c->Q > c->H ? c->Q : c->H) : (c->PC > c->H ? c->PC : c->H));
    size_t T4 = (size_t)N * 4, w4 = (size_t)(c->PC > c->entry.OC ? c->PC : c->entry.OC);
    if (T4 * w4 > cap) cap = T4 * w4;
    for (int d = 0; d < 4; d++) {
        T4 *= (size_t)c->dac[d].ct.stride;
        if (T4 * (size_t)c->dac[d].ct.OC > cap) cap = T4 * (size_t)c->dac[d].ct.OC;
    }
    float *a = malloc(sizeof(float) * cap), *b = malloc(sizeof(float) * cap), *row = malloc(sizeof(float) * (size_t)c->D),
          *acc = malloc(sizeof(float) * (size_t)c->D), *tmp = malloc(sizeof(float) * (size_t)c->Q);
    if (!a || !b || !row || !acc || !tmp) goto done;
    /* 1. RVQ decode: [N][Q] */
    for (int f = 0; f < N; f++) {
        const int32_t *cd = codes + (size_t)f * Q3_N_CODES;
        q3_row(&c->cb0, cd[0], row);
        matmul(pool, &c->out0, row, a + (size_t)f * (size_t)c->Q, 1);
        memset(acc, 0, sizeof(float) * (size_t)c->D);
        for (int g = 1; g < Q3_N_CODES; g++) {
            struct tensor cb = q3_slice(&c->cbr, g - 1);
            q3_row(&cb, cd[g], row);
            ops_add(acc, row, c->D);
        }
        matmul(pool, &c->outr, acc, tmp, 1);
        ops_add(a + (size_t)f * (size_t)c->Q, tmp, c->Q);
    }
    /* 2. pre_conv -> [N][PC]; 3. transformer at H wide, back to PC */
    if (conv_run(&c->pre, pool, a, N, b)) goto done;
    matmul(pool, &c->in_w, b, a, N);
    for (int i = 0; i < N; i++) ops_add(a + (size_t)i * (size_t)c->H, c->in_b, c->H);
    if (tfm_run(c, pool, a, N)) goto done;
    for (int i = 0; i < N; i++) ops_rmsnorm(a + (size_t)i * (size_t)c->H, a + (size_t)i * (size_t)c->H, c->onorm, c->H, 1e-5f);
    matmul(pool, &c->out_w, a, b, N);
    for (int i = 0; i < N; i++) ops_add(b + (size_t)i * (size_t)c->PC, c->out_b, c->PC);
    /* 4. 2x upsampling twice */
    int T = N;
    for (int u = 0; u < 2; u++) {
        if (convt_run(&c->up[u].ct, pool, b, T, a)) goto done;
        T *= 2;
        if (convnext_run(c, &c->up[u], pool, a, T)) goto done;
        float *s = a; a = b; b = s;
    }
    /* 5. DAC (the signal is in b) */
    if (conv_run(&c->entry, pool, b, T, a)) goto done;
    for (int d = 0; d < 4; d++) {
        struct dac_block *db = &c->dac[d];
        snake_run(&db->sn, a, T);
        if (convt_run(&db->ct, pool, a, T, b)) goto done;
        T *= db->ct.stride;
        for (int r = 0; r < 3; r++) {
            struct res_unit *ru = &db->r[r];
            size_t n = (size_t)T * (size_t)db->ct.OC;
            memcpy(a, b, sizeof(float) * n);
            snake_run(&ru->a1, a, T);
            float *t2 = malloc(sizeof(float) * n);
            if (!t2) goto done;
            if (conv_run(&ru->c1, pool, a, T, t2)) { free(t2); goto done; }
            snake_run(&ru->a2, t2, T);
            if (conv_run(&ru->c2, pool, t2, T, a)) { free(t2); goto done; }
            free(t2);
            ops_add(b, a, (int)n);
        }
        float *s = a; a = b; b = s;
    }
    snake_run(&c->post_sn, a, T);
    if (conv_run(&c->post, pool, a, T, pcm)) goto done;
    for (int i = 0; i < T; i++) pcm[i] = pcm[i] < -1.0f ? -1.0f : pcm[i] > 1.0f ? 1.0f : pcm[i];
    rc = 0;
done:
    free(a), free(b), free(row), free(acc), free(tmp);
    return rc;
}

int q3_codec_decode(struct q3_codec *c, struct pool *pool, const int32_t *codes, int n, float *pcm, struct err *e) {
    for (int f = 0; f < n; f++)
        for (int g = 0; g < Q3_N_CODES; g++) {
            int32_t v = codes[(size_t)f * Q3_N_CODES + (size_t)g];
            int64_t vocab = g ? c->cbr.ne[1] : c->cb0.ne[1];
            if (v < 0 || v >= vocab)
                return err_set(e, "codec: code %d of codebook %d (frame %d) is outside 0..%lld", v, g, f, (long long)vocab - 1);
        }
    for (int f = 0; f < n; f += SUB_FRAMES) {
        int m = n - f < SUB_FRAMES ? n - f : SUB_FRAMES;
        if (decode_some(c, pool, codes + (size_t)f * Q3_N_CODES, m, pcm + (size_t)f * Q3_FRAME_SAMPLES))
            return err_set(e, "codec: out of memory");
    }
    return 0;
}

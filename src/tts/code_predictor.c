/* Qwen3-TTS's code predictor (llama.cpp's qwen3tts_gen GEN_CODE graph): a small qwen3
 * transformer run over 17 positions per frame. Position 0 is the talker's hidden state,
 * position 1 the embedding of the semantic code; each later position embeds the code just
 * predicted with the previous codebook's table, and codebook g's head reads the output
 * of position g + 1. Greedy: each code is its head's argmax (llama-tts at --top-k 1). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/matmul.h"
#include "core/ops.h"
#include "tts/q3_parts.h"

#define N_POS (Q3_N_CODES + 1)

struct cp_layer {
    const float *ln1, *ln2, *q_norm, *k_norm;
    struct tensor wq, wk, wv, wo, gate, up, down;
};

struct q3_predictor {
    int E, P, F, L, H, HKV, hd, vocab;
    float eps, theta;
    struct tensor embd, head, out_embd, proj_w;  /* embd [E, vocab, 15], head [P, vocab, 15], out_embd [E, 3072] */
    const float *proj_b, *norm;
    int has_proj;
    struct cp_layer *layers;
    float *k, *v;               /* [L][N_POS][HKV * hd] */
    void *owned[16 * 8 + 4];   /* requantized copies (q3_requant) */
    int n_owned;
    float *x, *h, *q, *kk, *vv, *att, *ao, *g, *u, *logits, *row, *cs;
};

void q3_predictor_free(struct q3_predictor *p) {
    if (!p) return;
    for (int i = 0; i < p->n_owned; i++) free(p->owned[i]);
    free(p->layers), free(p->k), free(p->v), free(p->x), free(p->h), free(p->q), free(p->kk), free(p->vv);
    free(p->att), free(p->ao), free(p->g), free(p->u), free(p->logits), free(p->row), free(p->cs);
    free(p);
}

static int hp(const struct gguf *g, const char *key, int *out, struct err *e) {
    int bad = 0;
    int64_t v = gguf_get_int(g, key, -1, &bad);
    if (bad || v < 1 || v > (1 << 20)) return err_set(e, "%s: metadata key '%s' is missing or out of range", gguf_path(g), key);
    *out = (int)v;
    return 0;
}

static int own(struct q3_predictor *p, struct tensor *t, int wtype, struct err *e) {
    void *buf;
    if (p->n_owned >= (int)(sizeof p->owned / sizeof *p->owned)) return 0;  /* more layers than owned[]: keep the file's */
    if (q3_requant(t, wtype, &buf, e)) return -1;
    if (buf) p->owned[p->n_owned++] = buf;
    return 0;
}

struct q3_predictor *q3_predictor_load(const struct gguf *g, int n_embd_talker, int wtype, struct err *e) {
    struct q3_predictor *p = calloc(1, sizeof *p);
    if (!p) { err_set(e, "out of memory"); return NULL; }
    p->E = n_embd_talker;
    int bad = 0;
    if (hp(g, "clip.gen.audio.embedding_length", &p->P, e) || hp(g, "clip.gen.audio.feed_forward_length", &p->F, e) ||
        hp(g, "clip.gen.audio.block_count", &p->L, e) || hp(g, "clip.gen.audio.attention.head_count", &p->H, e) ||
        hp(g, "clip.gen.audio.attention.head_count_kv", &p->HKV, e))
        goto fail;
    p->eps = (float)gguf_get_float(g, "clip.gen.audio.attention.layer_norm_epsilon", 1e-6, &bad);
    p->theta = 1000000.0f;  /* as llama.cpp fixes it for this projector */
    if (q3_tensor(g, "a.gen.code.embd.weight", 3, p->E, 0, Q3_N_CODES - 1, &p->embd, e) ||
        q3_tensor(g, "a.gen.code.head.weight", 3, p->P, p->embd.ne[1], Q3_N_CODES - 1, &p->head, e) ||
        q3_tensor(g, "a.gen.code.out_embd.weight", 2, p->E, 0, 0, &p->out_embd, e) ||
        q3_vector(g, "a.gen.code.output_norm.weight", p->P, &p->norm, e))
        goto fail;
    p->vocab = (int)p->head.ne[1];
    if (own(p, &p->head, wtype, e)) goto fail;  /* 15 heads [P, vocab] each: q3_slice follows the new type */
    p->has_proj = gguf_find_tensor(g, "a.gen.code.proj_in.weight") >= 0;
    if (p->has_proj) {
        if (q3_tensor(g, "a.gen.code.proj_in.weight", 2, p->E, p->P, 0, &p->proj_w, e) || own(p, &p->proj_w, wtype, e)) goto fail;
        if (gguf_find_tensor(g, "a.gen.code.proj_in.bias") >= 0 && q3_vector(g, "a.gen.code.proj_in.bias", p->P, &p->proj_b, e))
            goto fail;
    } else if (p->E != p->P) {
        err_set(e, "%s: the code predictor is %d wide and the talker %d, but there is no a.gen.code.proj_in", gguf_path(g), p->P, p->E);
        goto fail;
    }
    p->layers = calloc((size_t)p->L, sizeof *p->layers);
    if (!p->layers) { err_set(e, "out of memory"); goto fail; }
    for (int l = 0; l < p->L; l++) {
        struct cp_layer *ly = &p->layers[l];
        char n[96];
#define T(field, nm, d0, d1) (snprintf(n, sizeof n, "a.gen.code.blk.%d." nm, l), q3_tensor(g, n, 2, d0, d1, 0, &ly->field, e))
#define VV(field, nm, len) (snprintf(n, sizeof n, "a.gen.code.blk.%d." nm, l), q3_vector(g, n, len, &ly->field, e))
        if (T(wq, "attn_q.weight", p->P, 0)) goto fail;
        if (ly->wq.ne[1] % p->H) { err_set(e, "%s: code predictor attn_q rows %lld are not %d heads", gguf_path(g), (long long)ly->wq.ne[1], p->H); goto fail; }
        p->hd = (int)ly->wq.ne[1] / p->H;
        if (T(wk, "attn_k.weight", p->P, p->HKV * p->hd) || T(wv, "attn_v.weight", p->P, p->HKV * p->hd) ||
            T(wo, "attn_out.weight", p->H * p->hd, p->P) || T(gate, "ffn_gate.weight", p->P, p->F) ||
            T(up, "ffn_up.weight", p->P, p->F) || T(down, "ffn_down.weight", p->F, p->P) ||
            VV(ln1, "ln1.weight", p->P) || VV(ln2, "ln2.weight", p->P) || VV(q_norm, "attn_q_norm.weight", p->hd) ||
            VV(k_norm, "attn_k_norm.weight", p->hd))
            goto fail;
        if (own(p, &ly->wq, wtype, e) || own(p, &ly->wk, wtype, e) || own(p, &ly->wv, wtype, e) || own(p, &ly->wo, wtype, e) ||
            own(p, &ly->gate, wtype, e) || own(p, &ly->up, wtype, e) || own(p, &ly->down, wtype, e))
            goto fail;
#undef T
#undef VV
    }
    if (p->H % p->HKV) { err_set(e, "%s: %d heads over %d KV heads", gguf_path(g), p->H, p->HKV); goto fail; }
    size_t kvd = (size_t)p->HKV * (size_t)p->hd, cache = (size_t)p->L * N_POS * kvd;
    p->k = calloc(cache, sizeof(float)), p->v = calloc(cache, sizeof(float));
    int big = p->E > p->P ? p->E : p->P;
    p->x = malloc(sizeof(float) * (size_t)big), p->h = malloc(sizeof(float) * (size_t)big);
    p->q = malloc(sizeof(float) * (size_t)(p->H * p->hd)), p->ao = malloc(sizeof(float) * (size_t)(p->H * p->hd));
    p->kk = malloc(sizeof(float) * kvd), p->vv = malloc(sizeof(float) * kvd);
    p->att = malloc(sizeof(float) * (size_t)(p->hd > N_POS ? p->hd : N_POS));
    p->g = malloc(sizeof(float) * (size_t)p->F), p->u = malloc(sizeof(float) * (size_t)p->F);
    p->logits = malloc(sizeof(float) * (size_t)p->vocab), p->row = malloc(sizeof(float) * (size_t)p->E);
    p->cs = malloc(sizeof(float) * (size_t)p->hd);
    if (!p->k || !p->v || !p->x || !p->h || !p->q || !p->ao || !p->kk || !p->vv || !p->att || !p->g || !p->u ||
        !p->logits || !p->row || !p->cs) {
        err_set(e, "out of memory");
        goto fail;
    }
    return p;
fail:
    q3_predictor_free(p);
    return NULL;
}

/* One position: in (E floats, before proj_in) -> p->x holds the final normed output (P). */
static void step(struct q3_predictor *p, struct pool *pool, const float *in, int pos) {
    const int P = p->P, hd = p->hd, H = p->H, HKV = p->HKV, kvd = HKV * hd, grp = H / HKV;
    if (p->has_proj) {
        matmul(pool, &p->proj_w, in, p->x, 1);
        if (p->proj_b) ops_add(p->x, p->proj_b, P);
    } else {
        memcpy(p->x, in, sizeof(float) * (size_t)P);
    }
    ops_rope_cache(p->cs, hd, pos, p->theta, 1.0f, NULL);
    const float scale = 1.0f / sqrtf((float)hd);
    for (int l = 0; l < p->L; l++) {
        const struct cp_layer *ly = &p->layers[l];
        float *K = p->k + ((size_t)l * N_POS) * (size_t)kvd, *V = p->v + ((size_t)l * N_POS) * (size_t)kvd;
        ops_rmsnorm(p->h, p->x, ly->ln1, P, p->eps);
        matmul(pool, &ly->wq, p->h, p->q, 1);
        matmul(pool, &ly->wk, p->h, K + (size_t)pos * kvd, 1);
        matmul(pool, &ly->wv, p->h, V + (size_t)pos * kvd, 1);
        for (int h = 0; h < H; h++) ops_rmsnorm(p->q + h * hd, p->q + h * hd, ly->q_norm, hd, p->eps);
        for (int h = 0; h < HKV; h++)
            ops_rmsnorm(K + (size_t)pos * kvd + h * hd, K + (size_t)pos * kvd + h * hd, ly->k_norm, hd, p->eps);
        ops_rope(p->q, H, hd, hd, p->cs, 1);
        ops_rope(K + (size_t)pos * kvd, HKV, hd, hd, p->cs, 1);
        q3_round16(K + (size_t)pos * kvd, kvd);  /* the cache is read only as f16 */
        q3_round16(V + (size_t)pos * kvd, kvd);
        for (int h = 0; h < H; h++)  /* as clip.cpp's flash attention: f16 K/V */
            q3_attn_f16(p->ao + h * hd, p->q + h * hd, K + (h / grp) * hd, V + (h / grp) * hd, kvd, hd, 0, pos, scale,
                        Q3_ATTN_KV16, p->att);
        matmul(pool, &ly->wo, p->ao, p->h, 1);
        ops_add(p->x, p->h, P);
        ops_rmsnorm(p->h, p->x, ly->ln2, P, p->eps);
        matmul(pool, &ly->gate, p->h, p->g, 1);
        matmul(pool, &ly->up, p->h, p->u, 1);
        ops_swiglu(p->g, p->g, p->u, p->F, 0);
        matmul(pool, &ly->down, p->g, p->h, 1);
        ops_add(p->x, p->h, P);
    }
    ops_rmsnorm(p->x, p->x, p->norm, P, p->eps);
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

int q3_predict(struct q3_predictor *p, struct pool *pool, const float *hidden, int code0, int32_t *codes,
               float *embd, struct err *e) {
    if (code0 < 0 || code0 >= p->out_embd.ne[1])
        return err_set(e, "code predictor: semantic code %d is outside 0..%lld", code0, (long long)p->out_embd.ne[1] - 1);
    codes[0] = code0;
    step(p, pool, hidden, 0);
    q3_row(&p->out_embd, code0, embd);
    const float *in = embd;
    for (int g = 0; g < Q3_N_CODES - 1; g++) {
        step(p, pool, in, g + 1);
        struct tensor head = q3_slice(&p->head, g);
        matmul(pool, &head, p->x, p->logits, 1);
        codes[g + 1] = argmax(p->logits, p->vocab);
        struct tensor tab = q3_slice(&p->embd, g);
        q3_row(&tab, codes[g + 1], p->row);
        in = p->row;
        /* the talker's next input: all 16 codebooks' embeddings summed */
        ops_add(embd, p->row, p->E);
    }
    return 0;
}

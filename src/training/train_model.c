/* The fine-tune's model (train_model.h): a llama-style block, as models/llama.c, qwen2.c
 * and qwen3.c run it, re-expressed with the training ops so every step has a backward:
 *
 *   xn = rmsnorm(x) * attn_norm
 *   q, k, v = Wq xn (+bq), Wk xn (+bk), Wv xn (+bv)      each + s B(A xn)
 *   q, k = rmsnorm per head * q_norm, k_norm (qwen3); rope(q), rope(k)
 *   x = x + Wo attn(q, k, v)                               + LoRA
 *   xn = rmsnorm(x) * ffn_norm
 *   x = x + Wdown (silu(Wgate xn) * Wup xn)                 each + LoRA
 *
 * then logits = Wout (rmsnorm(x) * output_norm) for the positions whose target has a
 * weight. Base products run through matmul() on the file's type (as inference does);
 * their backward dx += W^T dy dequantises 64 rows at a time. Every split over threads
 * (columns of the backward product, rows of the attention and of the LoRA products)
 * gives each output element to one thread, summed in the order the whole-range op sums
 * it, so results do not depend on the thread count. */
#include "training/train_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bigbuf.h"
#include "core/cpu.h"
#include "core/dtype.h"
#include "core/matmul.h"
#include "core/pool.h"
#include "formats/gguf.h"
#include "models/lora.h"
#include "training/train_fb.h"
#include "training/train_ops.h"

static const char *const tname[LORA_N_TARGET] = {
    "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
};

#define FB_ROWS 64

struct tlayer {
    struct tensor w[LORA_N_TARGET];
    float *attn_norm, *ffn_norm, *q_norm, *k_norm;  /* dequantised; q/k norms NULL unless qwen3 */
    float *bias[3];                                 /* q, k, v biases (qwen2) or NULL */
    size_t off[LORA_N_TARGET];                      /* A's offset in the parameters; B follows */
    int n_in[LORA_N_TARGET], n_out[LORA_N_TARGET];
    /* what the backward reads, ctx rows each */
    float *xin, *xn1, *q, *k, *v, *qr, *kr, *ao, *xmid, *xn2, *g, *up, *h, *u[LORA_N_TARGET];
};

struct tmodel {
    struct llm *m;
    struct pool *pool;
    const struct llm_hparams *hp;
    int r, ctx, n_rot, nth, d, qd, kd, ff, V, max_in;
    float alpha, s;
    struct tensor tok_embd, output;
    float *out_norm, *rope_ff;
    struct tlayer *L;
    size_t n_params;
    float *P, *G;
    float *xL, *xf, *xrows, *logits, *wrows;
    int32_t *yrows, *rows;
    float *dx, *dxn, *dq, *dk, *dv, *dao, *dg, *dup, *dh, *du, *dtmp, *dxrows;
    double *rowloss;
    size_t att_per, fb_per;
    float *att_scr, *att_pd, *fb_buf; /* att_pd: one head's probabilities and their gradients, [2, ctx, ctx] */
    struct chunk { void *p; size_t n, used; } *allocs; /* every buffer's memory, freed together */
    int n_allocs, cap_allocs;
};

size_t tmodel_n_params(const struct tmodel *t) { return t->n_params; }
float *tmodel_params(struct tmodel *t) { return t->P; }
float *tmodel_grads(struct tmodel *t) { return t->G; }

/* n zeroed floats, 64-byte aligned, carved from 64 MiB chunks of huge-page memory (a larger
 * request gets a chunk of its own): the activations of every layer then fault in 2 MiB at
 * a time, not 4 KiB (core/bigbuf.h) */
#if defined(__SANITIZE_ADDRESS__)
#define CHUNK_BYTES ((size_t)0) /* a buffer each, so the sanitizer sees every overrun */
#else
#define CHUNK_BYTES ((size_t)64 << 20)
#endif
static float *falloc(struct tmodel *t, size_t n) {
    size_t bytes = ((n ? n : 1) * sizeof(float) + 63) / 64 * 64;
    struct chunk *c = t->n_allocs ? &t->allocs[t->n_allocs - 1] : NULL;
    if (!c || c->n - c->used < bytes) {
        if (t->n_allocs == t->cap_allocs) {
            int cap = t->cap_allocs ? 2 * t->cap_allocs : 16;
            struct chunk *a = realloc(t->allocs, (size_t)cap * sizeof *a);
            if (!a) return NULL;
            t->allocs = a, t->cap_allocs = cap;
        }
        size_t sz = bytes > CHUNK_BYTES ? bytes : CHUNK_BYTES;
        void *p = bigbuf_alloc(sz);
        if (!p) return NULL;
        c = &t->allocs[t->n_allocs++];
        *c = (struct chunk){p, sz, 0};
    }
    float *p = (float *)((char *)c->p + c->used);
    c->used += bytes;
    return p;
}

void tmodel_free(struct tmodel *t) {
    if (!t) return;
    for (int i = 0; i < t->n_allocs; i++) bigbuf_free(t->allocs[i].p, t->allocs[i].n);
    free(t->allocs);
    free(t->L);
    free(t);
}

static int get_tensor(const struct gguf *g, const char *name, int opt, struct tensor *out, struct err *e) {
    int64_t i = gguf_find_tensor(g, name);
    if (i < 0) {
        memset(out, 0, sizeof *out);
        return opt ? 0 : err_set(e, "%s: tensor '%s' is missing", gguf_path(g), name);
    }
    if (gguf_tensor(g, i, out)) return err_set(e, "%s: tensor '%s' is unreadable", gguf_path(g), name);
    return 0;
}

/* a 1-D weight of n values as floats (NULL with *out when opt and absent) */
static int get_vec(struct tmodel *t, const char *name, int n, int opt, float **out, struct err *e) {
    struct tensor w;
    *out = NULL;
    if (get_tensor(llm_gguf(t->m), name, opt, &w, e)) return -1;
    if (!w.data) return 0;
    if (tensor_nelements(&w) != n)
        return err_set(e, "'%s' has %lld values, expected %d", name, (long long)tensor_nelements(&w), n);
    if (!(*out = falloc(t, (size_t)n))) return err_set(e, "out of memory");
    if (dequantize_row(w.type, w.data, *out, n)) return err_set(e, "'%s' has type %s, which omni cannot read", name,
                                                                dtype_name(w.type));
    return 0;
}

struct tmodel *tmodel_new(struct llm *m, int rank, float alpha, int ctx, struct err *e) {
    const struct llm_hparams *hp = llm_hparams(m);
    if (strcmp(hp->arch, "llama") && strcmp(hp->arch, "qwen2") && strcmp(hp->arch, "qwen3")) {
        err_set(e, "fine-tuning supports llama, qwen2 and qwen3 models; this one is '%s'", hp->arch);
        return NULL;
    }
    if (hp->n_expert || hp->n_swa || hp->attn_softcap != 0 || hp->final_softcap != 0 || hp->rope_ext_factor != 0 ||
        hp->nope_period || hp->attn_temp_scale != 0 || hp->rope_attn_factor != 1.0f) {
        err_set(e, "fine-tuning does not support this model's experts, sliding window, softcap or rope scaling");
        return NULL;
    }
    if (rank < 1 || rank > 1024 || ctx < 2 || !(alpha > 0)) {
        err_set(e, "bad LoRA settings: rank %d (1..1024), alpha %g (> 0), ctx %d (>= 2)", rank, alpha, ctx);
        return NULL;
    }
    struct tmodel *t = calloc(1, sizeof *t);
    if (!t || !(t->L = calloc((size_t)hp->n_layer, sizeof *t->L))) {
        free(t);
        err_set(e, "out of memory");
        return NULL;
    }
    const struct gguf *g = llm_gguf(m);
    t->m = m, t->pool = llm_pool(m), t->hp = hp, t->r = rank, t->ctx = ctx, t->alpha = alpha;
    t->s = alpha / (float)rank;
    t->nth = pool_size(t->pool) > 0 ? pool_size(t->pool) : 1;
    t->d = hp->n_embd, t->qd = hp->n_head * hp->head_dim, t->kd = hp->n_head_kv * hp->head_dim, t->ff = hp->n_ff;
    t->V = hp->n_vocab;
    char key[96];
    snprintf(key, sizeof key, "%s.rope.dimension_count", hp->arch);
    int bad = 0;
    t->n_rot = (int)gguf_get_int(g, key, hp->head_dim, &bad);
    if (bad || t->n_rot < 2 || t->n_rot > hp->head_dim || t->n_rot % 2) {
        err_set(e, "bad %s", key);
        goto fail;
    }
    if (hp->n_head_kv < 1 || hp->n_head % hp->n_head_kv) {
        err_set(e, "bad head counts %d / %d", hp->n_head, hp->n_head_kv);
        goto fail;
    }
    if (get_tensor(g, "token_embd.weight", 0, &t->tok_embd, e) || get_tensor(g, "output.weight", 1, &t->output, e) ||
        get_vec(t, "output_norm.weight", t->d, 0, &t->out_norm, e) ||
        get_vec(t, "rope_freqs.weight", t->n_rot / 2, 1, &t->rope_ff, e))
        goto fail;
    if (!t->output.data) t->output = t->tok_embd;
    int d = t->d, ins[LORA_N_TARGET] = {d, d, d, t->qd, d, d, t->ff},
        outs[LORA_N_TARGET] = {t->qd, t->kd, t->kd, d, t->ff, t->ff, d};
    size_t off = 0;
    int qk = !strcmp(hp->arch, "qwen3"), bias = !strcmp(hp->arch, "qwen2");
    for (int l = 0; l < hp->n_layer; l++) {
        struct tlayer *L = &t->L[l];
        char name[96];
        for (int k = 0; k < LORA_N_TARGET; k++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, tname[k]);
            if (get_tensor(g, name, 0, &L->w[k], e)) goto fail;
            if (L->w[k].ne[0] != ins[k] || L->w[k].ne[1] != outs[k]) {
                err_set(e, "'%s' is [%lld, %lld], expected [%d, %d]", name, (long long)L->w[k].ne[0],
                        (long long)L->w[k].ne[1], ins[k], outs[k]);
                goto fail;
            }
            L->n_in[k] = ins[k], L->n_out[k] = outs[k], L->off[k] = off;
            off += (size_t)rank * (size_t)(ins[k] + outs[k]);
        }
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        if (get_vec(t, name, d, 0, &L->attn_norm, e)) goto fail;
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
        if (get_vec(t, name, d, 0, &L->ffn_norm, e)) goto fail;
        if (qk) {
            snprintf(name, sizeof name, "blk.%d.attn_q_norm.weight", l);
            if (get_vec(t, name, hp->head_dim, 0, &L->q_norm, e)) goto fail;
            snprintf(name, sizeof name, "blk.%d.attn_k_norm.weight", l);
            if (get_vec(t, name, hp->head_dim, 0, &L->k_norm, e)) goto fail;
        }
        if (bias)
            for (int k = 0; k < 3; k++) {
                snprintf(name, sizeof name, "blk.%d.%s.bias", l, tname[k]);
                if (get_vec(t, name, outs[k], 1, &L->bias[k], e)) goto fail;
            }
    }
    t->n_params = off;
    t->max_in = d > t->ff ? d : t->ff;
    if (t->qd > t->max_in) t->max_in = t->qd;
    size_t C = (size_t)ctx;
    int ok = (t->P = falloc(t, off)) && (t->G = falloc(t, off));
    for (int l = 0; ok && l < hp->n_layer; l++) {
        struct tlayer *L = &t->L[l];
        ok = (L->xin = falloc(t, C * d)) && (L->xn1 = falloc(t, C * d)) && (L->q = falloc(t, C * t->qd)) &&
             (L->k = falloc(t, C * t->kd)) && (L->v = falloc(t, C * t->kd)) && (L->ao = falloc(t, C * t->qd)) &&
             (L->xmid = falloc(t, C * d)) && (L->xn2 = falloc(t, C * d)) && (L->g = falloc(t, C * t->ff)) &&
             (L->up = falloc(t, C * t->ff)) && (L->h = falloc(t, C * t->ff)) &&
             (!qk || ((L->qr = falloc(t, C * t->qd)) && (L->kr = falloc(t, C * t->kd))));
        for (int k = 0; ok && k < LORA_N_TARGET; k++) ok = (L->u[k] = falloc(t, C * rank)) != NULL;
    }
    size_t big = (size_t)t->max_in;
    t->fb_per = FB_ROWS * (big + 32 + C); /* a thread's dequantised rows and dy's columns */
    /* a thread's scratch: the attention's p, K and V transposed; LoRA's B transposed */
    t->att_per = (C + 32) * (2 * (size_t)hp->head_dim + 1);
    if ((size_t)(rank + 1) * (big + 32) > t->att_per) t->att_per = (size_t)(rank + 1) * (big + 32);
    ok = ok && (t->xL = falloc(t, C * d)) && (t->xf = falloc(t, C * d)) && (t->xrows = falloc(t, C * d)) &&
         (t->logits = falloc(t, C * t->V)) && (t->wrows = falloc(t, C)) &&
         (t->yrows = (int32_t *)falloc(t, C)) && (t->rows = (int32_t *)falloc(t, C)) &&
         (t->dx = falloc(t, C * d)) && (t->dxn = falloc(t, C * d)) && (t->dq = falloc(t, C * t->qd)) &&
         (t->dk = falloc(t, C * t->kd)) && (t->dv = falloc(t, C * t->kd)) && (t->dao = falloc(t, C * t->qd)) &&
         (t->dg = falloc(t, C * t->ff)) && (t->dup = falloc(t, C * t->ff)) && (t->dh = falloc(t, C * t->ff)) &&
         (t->du = falloc(t, C * rank)) && (t->dtmp = falloc(t, C * (big + (size_t)t->kd))) && (t->dxrows = falloc(t, C * d)) &&
         (t->att_scr = falloc(t, (size_t)t->nth * t->att_per)) &&
         (t->att_pd = falloc(t, 2 * C * C)) && (t->rowloss = (double *)falloc(t, 2 * C)) &&
         (t->fb_buf = falloc(t, (size_t)t->nth * t->fb_per));
    if (!ok) {
        err_set(e, "out of memory for the training state (ctx %d)", ctx);
        goto fail;
    }
    return t;
fail:
    tmodel_free(t);
    return NULL;
}

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void tmodel_init(struct tmodel *t, uint64_t seed) {
    uint64_t s = seed;
    for (int l = 0; l < t->hp->n_layer; l++)
        for (int k = 0; k < LORA_N_TARGET; k++) {
            struct tlayer *L = &t->L[l];
            float *A = t->P + L->off[k], *B = A + (size_t)t->r * L->n_in[k];
            float lim = 1.0f / sqrtf((float)L->n_in[k]);
            for (size_t i = 0; i < (size_t)t->r * L->n_in[k]; i++)
                A[i] = ((float)(rng_next(&s) >> 40) / 16777216.0f * 2 - 1) * lim;
            memset(B, 0, (size_t)t->r * L->n_out[k] * sizeof *B);
        }
}

/* ---- threaded pieces ---- */

/* dx[t] += W^T dy[t] for a frozen weight in its file type. Each part takes a range of
 * the n_in columns (whole quantization blocks) for every row t, dequantising that slice
 * of W 64 rows at a time, so W is dequantised once per call and every dx[t][i] sums over
 * the rows j in the same order whatever the thread count. */
struct fb_job {
    struct tmodel *t;
    const struct tensor *w;
    const float *dy;
    float *dx;
    int T, n_in, n_out, bad;
};

static void fb_run(void *arg, int ith, int nth) {
    struct fb_job *j = arg;
    const struct dtype_info *di = dtype_info(j->w->type);
    int blk = di && di->block > 0 ? di->block : 1, unit = blk < 16 ? 16 : blk;  /* blocks of 1, 32 or 256 */
    int units = (j->n_in + unit - 1) / unit;
    long lo, hi;
    pool_split(units, ith, nth, &lo, &hi);
    if (lo >= hi) return;
    int i0 = (int)lo * unit, i1 = (int)hi * unit < j->n_in ? (int)hi * unit : j->n_in, n = i1 - i0;
    size_t rb = dtype_row_bytes(j->w->type, j->n_in), off = (size_t)(i0 / blk) * (di ? di->block_bytes : 4);
    /* buf's rows an odd number of cache lines apart: at 768 floats (3 KiB) the 64 rows of a
     * column strip fell into a few L1 sets and evicted each other */
    size_t bs = ((size_t)n + 15) / 16 | 1;
    bs *= 16;
    float *buf = j->t->fb_buf + (size_t)ith * j->t->fb_per, *gp = buf + FB_ROWS * ((size_t)j->t->max_in + 32);
    const enum cpu_level lv = cpu_level();
    for (int j0 = 0; j0 < j->n_out; j0 += FB_ROWS) {
        int nr = j->n_out - j0 < FB_ROWS ? j->n_out - j0 : FB_ROWS;
        for (int q = 0; q < nr; q++)
            if (dequantize_row(j->w->type, (const char *)j->w->data + (size_t)(j0 + q) * rb + off, buf + (size_t)q * bs, n))
                j->bad = 1;
        /* dy's nr columns side by side: the output's rows are 49152 floats apart, a page per t */
        for (int t = 0; t < j->T; t++)
            memcpy(gp + (size_t)t * nr, j->dy + (size_t)t * j->n_out + j0, (size_t)nr * sizeof *gp);
        /* the same sums with wider registers, 4 rows of t at a time (train_fb.h) */
        if (lv >= CPU_AVX512) {
            train_fb_block_avx512(j->dx + i0, (size_t)j->n_in, gp, (size_t)nr, buf, bs, n, nr, j->T);
            continue;
        }
        if (lv >= CPU_AVX2) {
            train_fb_block_avx2(j->dx + i0, (size_t)j->n_in, gp, (size_t)nr, buf, bs, n, nr, j->T);
            continue;
        }
        /* the plain version: fmaf, one rounding a term as the vector FMAs */
        for (int t = 0; t < j->T; t++) {
            const float *g = gp + (size_t)t * nr;
            float *d = j->dx + (size_t)t * j->n_in + i0;
            for (int c = 0; c < n; c++) {
                float acc = d[c];
                for (int q = 0; q < nr; q++) acc = fmaf(g[q], buf[(size_t)q * bs + c], acc);
                d[c] = acc;
            }
        }
    }
}

static int frozen_bwd(struct tmodel *t, const struct tensor *w, const float *dy, float *dx, int T, int n_in, int n_out,
                      struct err *e) {
    const struct dtype_info *di = dtype_info(w->type);
    if (n_in > t->max_in || !di || di->block < 1 || n_in % di->block || !di->block_bytes)
        return err_set(e, "'%s' has type %s, which the trainer cannot use", w->name, dtype_name(w->type));
    struct fb_job j = {t, w, dy, dx, T, n_in, n_out, 0};
    if (pool_size(t->pool) > t->nth) return err_set(e, "internal: the pool grew");
    pool_run(t->pool, fb_run, &j);
    return j.bad ? err_set(e, "'%s' has type %s, which omni cannot dequantise", w->name, dtype_name(w->type)) : 0;
}

/* Attention over the pool: a row t of the causal scores costs t + 1, a key row j T - j, so
 * rows are split where the running cost crosses each thread's share (all query heads at once
 * forward; one head at a time backward, its query rows then its key rows). */
struct attn_job {
    struct tmodel *t;
    float *out, *dq, *dk, *dv;
    const float *q, *k, *v, *dout;
    int T, h, phase; /* 0 forward; backward 1 (query rows of head h) then 2 (its key rows) */
};

/* rows [lo, hi) of part ith when row i costs i + 1 */
static void split_tri(int T, int ith, int nth, int *lo, int *hi) {
    double total = (double)T * (T + 1) / 2;
    int b[2];
    for (int e = 0; e < 2; e++) {
        double want = total * (ith + e) / nth;
        int t = (int)(sqrt(2 * want + 0.25) - 0.5);
        while (t > 0 && (double)t * (t + 1) / 2 > want) t--;
        while (t < T && (double)t * (t + 1) / 2 < want) t++;
        b[e] = e == 1 && ith + 1 == nth ? T : t;
    }
    *lo = ith == 0 ? 0 : b[0], *hi = b[1];
}

static void attn_run(void *arg, int ith, int nth) {
    struct attn_job *j = arg;
    const struct llm_hparams *hp = j->t->hp;
    int lo, hi;
    if (j->phase == 2) { /* key rows: the mirror image */
        split_tri(j->T, nth - 1 - ith, nth, &lo, &hi);
        int l = j->T - hi;
        hi = j->T - lo, lo = l;
    } else
        split_tri(j->T, ith, nth, &lo, &hi);
    if (lo >= hi) return;
    float *P = j->t->att_pd, *DS = P + (size_t)j->T * j->T;
    if (j->phase == 0) {
        float *scr = j->t->att_scr + (size_t)ith * j->t->att_per;
        for (int h = 0; h < hp->n_head; h++)
            tops_attn_fwd_rows_f(j->out, j->q, j->k, j->v, hp->n_head, hp->n_head_kv, hp->head_dim, hp->attn_scale, h,
                                 lo, hi, scr);
    } else if (j->phase == 1)
        tops_attn_bwd_q_f(j->dq, P, DS, j->dout, j->q, j->k, j->v, j->T, hp->n_head, hp->n_head_kv, hp->head_dim,
                          hp->attn_scale, j->h, lo, hi, j->t->att_scr + (size_t)ith * j->t->att_per);
    else
        tops_attn_bwd_kv_f(j->dk, j->dv, P, DS, j->dout, j->q, j->T, hp->n_head, hp->n_head_kv, hp->head_dim, j->h, lo,
                           hi);
}

/* LoRA's products over the pool: the forward and du, dx by rows t, dB by its rows o, dA by
 * its columns; every element is one thread's, summed in the order of the whole-range op */
struct lora_job {
    float *y, *u, *dx, *dA, *dB, *du, *scr; /* scr: scr_per floats a part */
    size_t scr_per;
    const float *x, *dy, *A, *B;
    float s;
    int T, n_in, n_out, r, phase; /* 0 forward; backward 1 (du, dB) then 2 (dA, dx) */
};

static void lora_run(void *arg, int ith, int nth) {
    struct lora_job *j = arg;
    long t0, t1;
    pool_split(j->T, ith, nth, &t0, &t1);
    if (j->phase == 0) {
        if (t0 < t1)
            tops_lora_fwd_f(j->y + t0 * j->n_out, j->u + t0 * j->r, j->x + t0 * j->n_in, j->A, j->B, j->s,
                            (int)(t1 - t0), j->n_in, j->n_out, j->r, j->scr + (size_t)ith * j->scr_per);
        return;
    }
    if (j->phase == 1) {
        long o0, o1;
        pool_split(j->n_out, ith, nth, &o0, &o1);
        tops_lora_du_f(j->du, j->dy, j->B, j->s, (int)t0, (int)t1, j->n_out, j->r);
        tops_lora_db_f(j->dB, j->dy, j->u, j->s, j->T, (int)o0, (int)o1, j->n_out, j->r);
        return;
    }
    long c0, c1; /* columns in 16s */
    pool_split((j->n_in + 15) / 16, ith, nth, &c0, &c1);
    c0 *= 16, c1 = c1 * 16 < j->n_in ? c1 * 16 : j->n_in;
    if (c0 < c1) tops_lora_da_f(j->dA, j->du, j->x, j->T, j->n_in, j->r, (int)c0, (int)c1);
    if (t0 < t1 && j->dx)
        tops_linear_bwd_x_f(j->dx + t0 * j->n_in, j->du + t0 * j->r, j->A, (int)(t1 - t0), j->n_in, j->r);
}

/* The row-wise ops over the pool (each row, or each element, is one thread's: the bits of
 * one call over all of them): RMSNorm, RoPE, SwiGLU and the cross-entropy, whose rows'
 * losses are added in row order afterwards. */
enum { EW_NORM_F, EW_NORM_B, EW_ROPE, EW_SWIGLU_F, EW_SWIGLU_B, EW_XENT };

struct ew_job {
    struct tmodel *t;
    int op, rows, n, heads, dir;
    float *o1, *o2;
    const float *i1, *i2, *i3, *w;
    const int32_t *ids;
    float eps;
    double *loss; /* EW_XENT: per row */
};

static void ew_run(void *arg, int ith, int nth) {
    struct ew_job *j = arg;
    const struct llm_hparams *hp = j->t->hp;
    long lo, hi;
    if (j->op == EW_SWIGLU_F || j->op == EW_SWIGLU_B) {
        pool_split(((long)j->rows * j->n + 15) / 16, ith, nth, &lo, &hi);
        long N = (long)j->rows * j->n;
        lo *= 16, hi = hi * 16 < N ? hi * 16 : N;
        if (lo >= hi) return;
        if (j->op == EW_SWIGLU_F)
            tops_swiglu_fwd_f(j->o1 + lo, j->i1 + lo, j->i2 + lo, hi - lo);
        else
            tops_swiglu_bwd_f(j->o1 + lo, j->o2 + lo, j->i3 + lo, j->i1 + lo, j->i2 + lo, hi - lo);
        return;
    }
    pool_split(j->rows, ith, nth, &lo, &hi);
    if (lo >= hi) return;
    size_t o = (size_t)lo * j->n;
    int m = (int)(hi - lo);
    switch (j->op) {
    case EW_NORM_F: tops_rmsnorm_fwd_f(j->o1 + o, j->i1 + o, j->w, m, j->n, j->eps); break;
    case EW_NORM_B: tops_rmsnorm_bwd_f(j->o1 + o, j->i1 + o, j->i2 + o, j->w, m, j->n, j->eps); break;
    case EW_ROPE: /* rows are positions here, n = heads * head_dim */
        tops_rope_f(j->o1 + o, m, j->heads, hp->head_dim, j->t->n_rot, (int)lo, hp->rope_theta, hp->rope_freq_scale,
                    j->t->rope_ff, hp->rope_neox, j->dir);
        break;
    case EW_XENT:
        for (long r = lo; r < hi; r++)
            j->loss[r] = tops_xent_f(j->o1 ? j->o1 + (size_t)r * j->n : NULL, NULL, j->i1 + (size_t)r * j->n,
                                     j->ids + r, j->w + r, 1, j->n);
        break;
    }
}

static void p_norm_fwd(struct tmodel *t, float *y, const float *x, const float *w, int rows, int n, float eps) {
    struct ew_job j = {.t = t, .op = EW_NORM_F, .rows = rows, .n = n, .o1 = y, .i1 = x, .w = w, .eps = eps};
    pool_run(t->pool, ew_run, &j);
}
static void p_norm_bwd(struct tmodel *t, float *dx, const float *dy, const float *x, const float *w, int rows, int n,
                       float eps) {
    struct ew_job j = {.t = t, .op = EW_NORM_B, .rows = rows, .n = n, .o1 = dx, .i1 = dy, .i2 = x, .w = w, .eps = eps};
    pool_run(t->pool, ew_run, &j);
}
static void p_rope(struct tmodel *t, float *x, int T, int heads, int dir) {
    struct ew_job j = {.t = t, .op = EW_ROPE, .rows = T, .n = heads * t->hp->head_dim, .heads = heads, .o1 = x,
                       .dir = dir};
    pool_run(t->pool, ew_run, &j);
}
static void p_swiglu_fwd(struct tmodel *t, float *h, const float *g, const float *u, int rows, int n) {
    struct ew_job j = {.t = t, .op = EW_SWIGLU_F, .rows = rows, .n = n, .o1 = h, .i1 = g, .i2 = u};
    pool_run(t->pool, ew_run, &j);
}
static void p_swiglu_bwd(struct tmodel *t, float *dg, float *du, const float *dh, const float *g, const float *u,
                         int rows, int n) {
    struct ew_job j = {.t = t, .op = EW_SWIGLU_B, .rows = rows, .n = n, .o1 = dg, .o2 = du, .i1 = g, .i2 = u, .i3 = dh};
    pool_run(t->pool, ew_run, &j);
}

/* ---- forward and backward ---- */

static void proj(struct tmodel *t, int l, int k, const float *x, float *y, int T, int lora) {
    struct tlayer *L = &t->L[l];
    matmul(t->pool, &L->w[k], x, y, T);
    if (k < 3 && L->bias[k])
        for (int i = 0; i < T; i++)
            for (int o = 0; o < L->n_out[k]; o++) y[(size_t)i * L->n_out[k] + o] += L->bias[k][o];
    if (lora) {
        const float *A = t->P + L->off[k], *B = A + (size_t)t->r * L->n_in[k];
        struct lora_job j = {.y = y, .u = L->u[k], .x = x, .A = A, .B = B, .s = t->s, .T = T, .n_in = L->n_in[k],
                             .n_out = L->n_out[k], .r = t->r, .scr = t->att_scr, .scr_per = t->att_per};
        pool_run(t->pool, lora_run, &j);
    }
}

static int proj_bwd(struct tmodel *t, int l, int k, const float *dy, const float *x, float *dx, int T, struct err *e) {
    struct tlayer *L = &t->L[l];
    if (frozen_bwd(t, &L->w[k], dy, dx, T, L->n_in[k], L->n_out[k], e)) return -1;
    const float *A = t->P + L->off[k], *B = A + (size_t)t->r * L->n_in[k];
    float *dA = t->G + L->off[k], *dB = dA + (size_t)t->r * L->n_in[k];
    struct lora_job j = {.dx = dx, .dA = dA, .dB = dB, .du = t->du, .dy = dy, .x = x, .u = L->u[k], .A = A, .B = B,
                         .s = t->s, .T = T, .n_in = L->n_in[k], .n_out = L->n_out[k], .r = t->r, .phase = 1};
    pool_run(t->pool, lora_run, &j);
    j.phase = 2;
    pool_run(t->pool, lora_run, &j);
    return 0;
}

static void zero(float *p, size_t n) { memset(p, 0, n * sizeof *p); }

double tmodel_run(struct tmodel *t, const int32_t *ids, int T, const float *w, int lora, int backward, struct err *e) {
    const struct llm_hparams *hp = t->hp;
    int d = t->d, nh = hp->n_head, nkv = hp->n_head_kv, hd = hp->head_dim, ff = t->ff, NL = hp->n_layer;
    float eps = hp->norm_eps;
    if (T < 1 || T > t->ctx) return err_set(e, "a sequence of %d tokens (1..%d)", T, t->ctx);
    for (int i = 0; i <= T; i++)
        if (ids[i] < 0 || ids[i] >= t->V) return err_set(e, "token id %d out of range (vocabulary %d)", ids[i], t->V);
    size_t erb = dtype_row_bytes(t->tok_embd.type, d);
    for (int i = 0; i < T; i++)
        if (dequantize_row(t->tok_embd.type, (const char *)t->tok_embd.data + (size_t)ids[i] * erb,
                           t->L[0].xin + (size_t)i * d, d))
            return err_set(e, "token_embd has type %s, which omni cannot read", dtype_name(t->tok_embd.type));
    for (int l = 0; l < NL; l++) {
        struct tlayer *L = &t->L[l];
        float *xout = l + 1 < NL ? t->L[l + 1].xin : t->xL;
        p_norm_fwd(t, L->xn1, L->xin, L->attn_norm, T, d, eps);
        proj(t, l, LORA_Q, L->xn1, L->q_norm ? L->qr : L->q, T, lora);
        proj(t, l, LORA_K, L->xn1, L->k_norm ? L->kr : L->k, T, lora);
        proj(t, l, LORA_V, L->xn1, L->v, T, lora);
        if (L->q_norm) {
            p_norm_fwd(t, L->q, L->qr, L->q_norm, T * nh, hd, eps);
            p_norm_fwd(t, L->k, L->kr, L->k_norm, T * nkv, hd, eps);
        }
        p_rope(t, L->q, T, nh, 1);
        p_rope(t, L->k, T, nkv, 1);
        struct attn_job aj = {.t = t, .out = L->ao, .q = L->q, .k = L->k, .v = L->v, .T = T};
        pool_run(t->pool, attn_run, &aj);
        proj(t, l, LORA_O, L->ao, t->dtmp, T, lora);
        for (size_t i = 0; i < (size_t)T * d; i++) L->xmid[i] = L->xin[i] + t->dtmp[i];
        p_norm_fwd(t, L->xn2, L->xmid, L->ffn_norm, T, d, eps);
        proj(t, l, LORA_GATE, L->xn2, L->g, T, lora);
        proj(t, l, LORA_UP, L->xn2, L->up, T, lora);
        p_swiglu_fwd(t, L->h, L->g, L->up, T, ff);
        proj(t, l, LORA_DOWN, L->h, t->dtmp, T, lora);
        for (size_t i = 0; i < (size_t)T * d; i++) xout[i] = L->xmid[i] + t->dtmp[i];
    }
    p_norm_fwd(t, t->xf, t->xL, t->out_norm, T, d, eps);
    int Tm = 0;
    for (int i = 0; i < T; i++)
        if (w[i] != 0) {
            t->rows[Tm] = i, t->yrows[Tm] = ids[i + 1], t->wrows[Tm] = w[i];
            memcpy(t->xrows + (size_t)Tm * d, t->xf + (size_t)i * d, (size_t)d * sizeof(float));
            Tm++;
        }
    if (!Tm) return 0;
    matmul(t->pool, &t->output, t->xrows, t->logits, Tm);
    struct ew_job xj = {.t = t, .op = EW_XENT, .rows = Tm, .n = t->V, .o1 = backward ? t->logits : NULL,
                        .i1 = t->logits, .ids = t->yrows, .w = t->wrows, .loss = t->rowloss};
    pool_run(t->pool, ew_run, &xj);
    double loss = 0;
    for (int i = 0; i < Tm; i++) loss += t->rowloss[i]; /* each is 0 - w lp: the one call's running sum */
    if (!backward) return loss;

    /* backward: logits -> final norm -> layers in reverse */
    zero(t->dxrows, (size_t)Tm * d);
    if (frozen_bwd(t, &t->output, t->logits, t->dxrows, Tm, d, t->V, e)) return -1;
    zero(t->xrows, (size_t)T * d);  /* reused as d(xf) */
    for (int i = 0; i < Tm; i++)
        memcpy(t->xrows + (size_t)t->rows[i] * d, t->dxrows + (size_t)i * d, (size_t)d * sizeof(float));
    zero(t->dx, (size_t)T * d);
    p_norm_bwd(t, t->dx, t->xrows, t->xL, t->out_norm, T, d, eps);
    for (int l = NL - 1; l >= 0; l--) {
        struct tlayer *L = &t->L[l];
        /* dx: d(layer output) = d(xmid) through the residual, plus the FFN branch */
        zero(t->dh, (size_t)T * ff);
        if (proj_bwd(t, l, LORA_DOWN, t->dx, L->h, t->dh, T, e)) return -1;
        p_swiglu_bwd(t, t->dg, t->dup, t->dh, L->g, L->up, T, ff);
        zero(t->dxn, (size_t)T * d);
        if (proj_bwd(t, l, LORA_GATE, t->dg, L->xn2, t->dxn, T, e) ||
            proj_bwd(t, l, LORA_UP, t->dup, L->xn2, t->dxn, T, e))
            return -1;
        p_norm_bwd(t, t->dx, t->dxn, L->xmid, L->ffn_norm, T, d, eps);
        /* dx: d(xmid) = d(xin) through the residual, plus the attention branch */
        zero(t->dao, (size_t)T * t->qd);
        if (proj_bwd(t, l, LORA_O, t->dx, L->ao, t->dao, T, e)) return -1;
        zero(t->dq, (size_t)T * t->qd), zero(t->dk, (size_t)T * t->kd), zero(t->dv, (size_t)T * t->kd);
        struct attn_job aj = {.t = t, .dq = t->dq, .dk = t->dk, .dv = t->dv, .dout = t->dao, .q = L->q, .k = L->k,
                              .v = L->v, .T = T};
        for (aj.h = 0; aj.h < nh; aj.h++) {
            aj.phase = 1;
            pool_run(t->pool, attn_run, &aj);
            aj.phase = 2;
            pool_run(t->pool, attn_run, &aj);
        }
        p_rope(t, t->dq, T, nh, -1);
        p_rope(t, t->dk, T, nkv, -1);
        float *dq = t->dq, *dk = t->dk;
        if (L->q_norm) { /* back through the per-head norms: dtmp holds d(q raw) then d(k raw) */
            dq = t->dtmp, dk = t->dtmp + (size_t)T * t->qd;
            zero(t->dtmp, (size_t)T * (t->qd + t->kd));
            p_norm_bwd(t, dq, t->dq, L->qr, L->q_norm, T * nh, hd, eps);
            p_norm_bwd(t, dk, t->dk, L->kr, L->k_norm, T * nkv, hd, eps);
        }
        zero(t->dxn, (size_t)T * d);
        if (proj_bwd(t, l, LORA_Q, dq, L->xn1, t->dxn, T, e) || proj_bwd(t, l, LORA_K, dk, L->xn1, t->dxn, T, e) ||
            proj_bwd(t, l, LORA_V, t->dv, L->xn1, t->dxn, T, e))
            return -1;
        p_norm_bwd(t, t->dx, t->dxn, L->xin, L->attn_norm, T, d, eps);
    }
    return loss;
}

int tmodel_write_adapter(const struct tmodel *t, const char *path, struct err *e) {
    struct gguf_writer *w = gguf_writer_new();
    if (!w) return err_set(e, "out of memory");
    gguf_w_str(w, "general.architecture", t->hp->arch);
    gguf_w_str(w, "general.type", "adapter");
    gguf_w_str(w, "general.name", "omni finetune");
    gguf_w_str(w, "adapter.type", "lora");
    gguf_w_f32(w, "adapter.lora.alpha", t->alpha);
    for (int l = 0; l < t->hp->n_layer; l++)
        for (int k = 0; k < LORA_N_TARGET; k++) {
            const struct tlayer *L = &t->L[l];
            const float *A = t->P + L->off[k], *B = A + (size_t)t->r * L->n_in[k];
            char name[96];
            int64_t na[2] = {L->n_in[k], t->r}, nb[2] = {t->r, L->n_out[k]};
            snprintf(name, sizeof name, "blk.%d.%s.weight.lora_a", l, tname[k]);
            if (gguf_w_tensor(w, name, DT_F32, 2, na, A, e)) goto fail;
            snprintf(name, sizeof name, "blk.%d.%s.weight.lora_b", l, tname[k]);
            if (gguf_w_tensor(w, name, DT_F32, 2, nb, B, e)) goto fail;
        }
    if (gguf_writer_save(w, path, e)) goto fail;
    gguf_writer_free(w);
    return 0;
fail:
    gguf_writer_free(w);
    return -1;
}

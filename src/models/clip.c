/* CLIP-style vision encoder + LLaVA projector from an mmproj GGUF; see clip.h.
 * The forward follows llama.cpp's clip.cpp graph: patch conv (as one matmul over
 * unfolded patches), class token, learned positions, pre-LN, pre-norm blocks run up
 * to the feature layer, optional post-LN, class token dropped, projector. */
#include "models/clip.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/gelu.h"
#include "core/gelu_quick.h"
#include "core/layernorm.h"
#include "core/matmul.h"
#include "core/ops.h"
#include "formats/gguf.h"
#include "models/image_preprocess.h"

#define CLIP_MAX_FEATURE_LAYERS 8

struct clip_block {
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    struct tensor wq, wk, wv, wo, ffn_in, ffn_out;
    float *bq, *bk, *bv, *bo, *ffn_in_b, *ffn_out_b;
};

struct clip {
    struct clip_hparams hp;
    struct gguf *g;
    struct tensor patch_w;           /* viewed as [3 * p * p, n_embd] */
    float *patch_b, *class_embd, *pos_embd, *pre_ln_w, *pre_ln_b, *post_ln_w, *post_ln_b;
    struct clip_block *blk;
    struct tensor mm0, mm2;
    float *mm0_b, *mm2_b;
    int n_feat;                      /* explicit feature layers (0: just the last run layer) */
    int feat[CLIP_MAX_FEATURE_LAYERS];
    float **owned;                   /* every float vector above, for clip_free */
    int n_owned, cap_owned;
};

const struct clip_hparams *clip_hparams(const struct clip *c) { return &c->hp; }

/* ---- loading ---- */

static int own(struct clip *c, float *p) {
    if (c->n_owned == c->cap_owned) {
        int cap = c->cap_owned ? 2 * c->cap_owned : 64;
        float **o = realloc(c->owned, (size_t)cap * sizeof *o);
        if (!o) return -1;
        c->owned = o;
        c->cap_owned = cap;
    }
    c->owned[c->n_owned++] = p;
    return 0;
}

/* A weight matrix [ne0, ne1] for matmul(). */
static int get_mat(struct clip *c, const char *name, int64_t ne0, int64_t ne1, struct tensor *t, struct err *e) {
    memset(t, 0, sizeof *t);
    int64_t i = gguf_find_tensor(c->g, name);
    if (i < 0) return err_set(e, "%s: tensor '%s' is missing", gguf_path(c->g), name);
    gguf_tensor(c->g, i, t);
    if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != 1 || t->ne[3] != 1)
        return err_set(e, "%s: %s: expected [%lld, %lld], file has [%lld, %lld, %lld, %lld]", gguf_path(c->g), name,
                       (long long)ne0, (long long)ne1, (long long)t->ne[0], (long long)t->ne[1],
                       (long long)t->ne[2], (long long)t->ne[3]);
    const struct dtype_info *di = dtype_info(t->type);
    size_t rb = dtype_row_bytes(t->type, t->ne[0]);
    if (!di || !di->supported || rb == 0)
        return err_set(e, "%s: %s: weight type %s is not supported here", gguf_path(c->g), name, dtype_name(t->type));
    if (rb * (size_t)t->ne[1] != t->nbytes)
        return err_set(e, "%s: %s: size %zu does not match its shape and type", gguf_path(c->g), name, t->nbytes);
    return 0;
}

/* A vector (or small table) of n floats, converted to f32 and owned by c.
 * optional: absent gives *out = NULL. */
static int get_vec(struct clip *c, const char *name, int64_t n, int optional, float **out, struct err *e) {
    *out = NULL;
    int64_t i = gguf_find_tensor(c->g, name);
    if (i < 0) return optional ? 0 : err_set(e, "%s: tensor '%s' is missing", gguf_path(c->g), name);
    struct tensor t;
    gguf_tensor(c->g, i, &t);
    if (tensor_nelements(&t) != n)
        return err_set(e, "%s: %s: expected %lld values, file has %lld", gguf_path(c->g), name, (long long)n,
                       (long long)tensor_nelements(&t));
    if (t.type != DT_F32 && t.type != DT_F16 && t.type != DT_BF16)
        return err_set(e, "%s: %s: expected f32/f16/bf16, file has %s", gguf_path(c->g), name, dtype_name(t.type));
    if (dtype_row_bytes(t.type, n) != t.nbytes)
        return err_set(e, "%s: %s: size %zu does not match its shape", gguf_path(c->g), name, t.nbytes);
    float *v = malloc((size_t)n * sizeof *v);
    if (!v || own(c, v)) {
        free(v);
        return err_set(e, "%s: out of memory for %s", gguf_path(c->g), name);
    }
    dequantize_row(t.type, t.data, v, n);
    *out = v;
    return 0;
}

static int get_int(const struct gguf *g, const char *key, int required, int def, int lo, int hi, int *out,
                   struct err *e) {
    int bad = 0;
    if (gguf_find_key(g, key) < 0) {
        if (required) return err_set(e, "%s: metadata key '%s' is missing", gguf_path(g), key);
        *out = def;
        return 0;
    }
    int64_t v = gguf_get_int(g, key, def, &bad);
    if (bad) return err_set(e, "%s: metadata key '%s' should be an integer", gguf_path(g), key);
    if (v < lo || v > hi)
        return err_set(e, "%s: metadata key '%s' = %lld is out of range %d..%d", gguf_path(g), key, (long long)v, lo, hi);
    *out = (int)v;
    return 0;
}

static int load_hparams(struct clip *c, struct err *e) {
    struct clip_hparams *hp = &c->hp;
    const struct gguf *g = c->g;
    const char *path = gguf_path(g);
    struct gguf_str a = gguf_get_str(g, "general.architecture");
    if (!a.s || a.len != 4 || memcmp(a.s, "clip", 4))
        return err_set(e, "%s: not an image encoder (general.architecture is '%.*s', expected 'clip')", path,
                       a.s ? (int)(a.len > 40 ? 40 : a.len) : 7, a.s ? a.s : "missing");
    if (!gguf_get_bool(g, "clip.has_vision_encoder", 1, NULL))
        return err_set(e, "%s: the file has no vision encoder (clip.has_vision_encoder is false)", path);
    if (get_int(g, "clip.vision.image_size", 1, 0, 1, 8192, &hp->image_size, e) ||
        get_int(g, "clip.vision.patch_size", 1, 0, 1, 1024, &hp->patch_size, e) ||
        get_int(g, "clip.vision.embedding_length", 1, 0, 1, 1 << 16, &hp->n_embd, e) ||
        get_int(g, "clip.vision.feed_forward_length", 1, 0, 1, 1 << 18, &hp->n_ff, e) ||
        get_int(g, "clip.vision.attention.head_count", 1, 0, 1, 1024, &hp->n_head, e) ||
        get_int(g, "clip.vision.block_count", 1, 0, 1, 1024, &hp->n_layer, e))
        return -1;
    /* SigLIP-so400m is 384 px in 14 px patches: the strided conv covers 27x27 patches
     * and ignores the last 6 pixels, so only a patch larger than the image is wrong. */
    if (hp->image_size < hp->patch_size)
        return err_set(e, "%s: image size %d is smaller than the patch size %d", path, hp->image_size, hp->patch_size);
    if (hp->n_embd % hp->n_head)
        return err_set(e, "%s: width %d is not a multiple of the head count %d", path, hp->n_embd, hp->n_head);
    int bad = 0;
    hp->eps = (float)gguf_get_float(g, "clip.vision.attention.layer_norm_epsilon", 1e-5, &bad);
    if (bad || !(hp->eps >= 0)) return err_set(e, "%s: bad clip.vision.attention.layer_norm_epsilon", path);
    hp->use_gelu = gguf_get_bool(g, "clip.use_gelu", 0, NULL);
    if (gguf_get_bool(g, "clip.use_silu", 0, NULL))
        return err_set(e, "%s: SiLU vision towers (clip.use_silu) are not supported yet", path);
    static const char *const stat_key[2] = {"clip.vision.image_mean", "clip.vision.image_std"};
    for (int s = 0; s < 2; s++) {
        enum gguf_type et;
        uint64_t n;
        float *dst = s ? hp->std : hp->mean;
        if (gguf_get_arr(g, stat_key[s], &et, &n) || n != 3 || (et != GGUF_FLOAT32 && et != GGUF_FLOAT64))
            return err_set(e, "%s: metadata key '%s' should be an array of 3 floats", path, stat_key[s]);
        for (int i = 0; i < 3; i++) dst[i] = (float)gguf_get_arr_float(g, stat_key[s], (uint64_t)i);
        if (s && (hp->std[0] <= 0 || hp->std[1] <= 0 || hp->std[2] <= 0))
            return err_set(e, "%s: image_std must be positive", path);
    }
    struct gguf_str pt = gguf_get_str(g, "clip.projector_type");
    if (pt.s) snprintf(hp->projector, sizeof hp->projector, "%.*s", (int)(pt.len < 31 ? pt.len : 31), pt.s);
    else snprintf(hp->projector, sizeof hp->projector, "mlp");
    if (strcmp(hp->projector, "mlp"))
        return err_set(e, "%s: projector type '%s' is not supported yet (supported: mlp, the LLaVA-1.5 layout)",
                       path, hp->projector);
    struct gguf_str mt = gguf_get_str(g, "clip.vision.mm_patch_merge_type");
    if (mt.s && mt.len == 13 && !memcmp(mt.s, "spatial_unpad", 13))
        return err_set(e, "%s: LLaVA-1.6 'anyres' tiling (spatial_unpad) is not supported yet", path);

    /* Which layer the projector reads: LLaVA takes the penultimate block's output,
     * so llama.cpp runs n_layer - 1 blocks unless the file names feature layers. */
    enum gguf_type et;
    uint64_t nf = 0;
    hp->n_layer_run = hp->n_layer - 1;
    if (!gguf_get_arr(g, "clip.vision.feature_layer", &et, &nf) && nf > 0) {
        if (nf > CLIP_MAX_FEATURE_LAYERS || et == GGUF_STRING || et == GGUF_ARRAY || et == GGUF_FLOAT32 || et == GGUF_FLOAT64)
            return err_set(e, "%s: clip.vision.feature_layer should be up to %d integers", path, CLIP_MAX_FEATURE_LAYERS);
        int deepest = -1;
        for (uint64_t i = 0; i < nf; i++) {
            int64_t l = gguf_get_arr_int(g, "clip.vision.feature_layer", i);
            if (l < 0 || l > hp->n_layer)
                return err_set(e, "%s: feature layer %lld is outside 0..%d", path, (long long)l, hp->n_layer);
            c->feat[c->n_feat++] = (int)l;
            if (l > deepest) deepest = (int)l;
        }
        hp->n_layer_run = deepest;
    }
    hp->has_class = gguf_find_tensor(g, "v.class_embd") >= 0;
    int side = hp->image_size / hp->patch_size;
    hp->n_image_pos = side * side;
    return 0;
}

static int load_tensors(struct clip *c, struct err *e) {
    struct clip_hparams *hp = &c->hp;
    const int E = hp->n_embd, F = hp->n_ff, P = hp->patch_size;
    const int n_pos = hp->n_image_pos + hp->has_class;
    char name[96];

    int64_t ti = gguf_find_tensor(c->g, "v.patch_embd.weight");
    if (ti < 0) return err_set(e, "%s: tensor 'v.patch_embd.weight' is missing", gguf_path(c->g));
    gguf_tensor(c->g, ti, &c->patch_w);
    struct tensor *pw = &c->patch_w;
    if (pw->ne[0] != P || pw->ne[1] != P || pw->ne[2] != 3 || pw->ne[3] != E)
        return err_set(e, "%s: v.patch_embd.weight: expected [%d, %d, 3, %d], file has [%lld, %lld, %lld, %lld]",
                       gguf_path(c->g), P, P, E, (long long)pw->ne[0], (long long)pw->ne[1], (long long)pw->ne[2],
                       (long long)pw->ne[3]);
    /* The convolution with stride = kernel is a matmul over unfolded patches. */
    pw->ne[0] = (int64_t)3 * P * P;
    pw->ne[1] = E;
    pw->ne[2] = pw->ne[3] = 1;
    pw->n_dims = 2;
    const struct dtype_info *di = dtype_info(pw->type);
    if (!di || !di->supported || dtype_row_bytes(pw->type, pw->ne[0]) * (size_t)E != pw->nbytes)
        return err_set(e, "%s: v.patch_embd.weight: type %s with rows of %lld is not supported", gguf_path(c->g),
                       dtype_name(pw->type), (long long)pw->ne[0]);
    if (get_vec(c, "v.patch_embd.bias", E, 1, &c->patch_b, e) ||
        get_vec(c, "v.class_embd", E, 1, &c->class_embd, e) ||
        get_vec(c, "v.pre_ln.weight", E, 1, &c->pre_ln_w, e) || get_vec(c, "v.pre_ln.bias", E, 1, &c->pre_ln_b, e) ||
        get_vec(c, "v.post_ln.weight", E, 1, &c->post_ln_w, e) || get_vec(c, "v.post_ln.bias", E, 1, &c->post_ln_b, e))
        return -1;
    ti = gguf_find_tensor(c->g, "v.position_embd.weight");
    if (ti < 0) return err_set(e, "%s: tensor 'v.position_embd.weight' is missing", gguf_path(c->g));
    struct tensor pe;
    gguf_tensor(c->g, ti, &pe);
    if (pe.ne[0] != E || pe.ne[1] != n_pos)
        return err_set(e, "%s: v.position_embd.weight: expected [%d, %d], file has [%lld, %lld]", gguf_path(c->g), E,
                       n_pos, (long long)pe.ne[0], (long long)pe.ne[1]);
    if (get_vec(c, "v.position_embd.weight", (int64_t)E * n_pos, 0, &c->pos_embd, e)) return -1;

    c->blk = calloc((size_t)hp->n_layer, sizeof *c->blk);
    if (!c->blk) return err_set(e, "out of memory");
    for (int l = 0; l < hp->n_layer_run && l < hp->n_layer; l++) {
        struct clip_block *b = &c->blk[l];
#define NM(s) (snprintf(name, sizeof name, "v.blk.%d.%s", l, s), name)
        if (get_vec(c, NM("ln1.weight"), E, 0, &b->ln1_w, e) || get_vec(c, NM("ln1.bias"), E, 0, &b->ln1_b, e) ||
            get_vec(c, NM("ln2.weight"), E, 0, &b->ln2_w, e) || get_vec(c, NM("ln2.bias"), E, 0, &b->ln2_b, e) ||
            get_mat(c, NM("attn_q.weight"), E, E, &b->wq, e) || get_vec(c, NM("attn_q.bias"), E, 0, &b->bq, e) ||
            get_mat(c, NM("attn_k.weight"), E, E, &b->wk, e) || get_vec(c, NM("attn_k.bias"), E, 0, &b->bk, e) ||
            get_mat(c, NM("attn_v.weight"), E, E, &b->wv, e) || get_vec(c, NM("attn_v.bias"), E, 0, &b->bv, e) ||
            get_mat(c, NM("attn_out.weight"), E, E, &b->wo, e) || get_vec(c, NM("attn_out.bias"), E, 0, &b->bo, e))
            return -1;
        /* llama.cpp's LLaVA converter names the expanding FFN matrix ffn_down and the
         * contracting one ffn_up (clip.cpp reads them as ff_i / ff_o); newer files
         * may use the usual names, so pick by shape. */
        const char *in_name = "ffn_down", *out_name = "ffn_up";
        int64_t t_up = gguf_find_tensor(c->g, NM("ffn_up.weight"));
        if (t_up >= 0 && E != F) {
            struct tensor tu;
            gguf_tensor(c->g, t_up, &tu);
            if (tu.ne[0] == E && tu.ne[1] == F) in_name = "ffn_up", out_name = "ffn_down";
        }
        char wn[64], bn[64];
        snprintf(wn, sizeof wn, "%s.weight", in_name);
        snprintf(bn, sizeof bn, "%s.bias", in_name);
        if (get_mat(c, NM(wn), E, F, &b->ffn_in, e) || get_vec(c, NM(bn), F, 0, &b->ffn_in_b, e)) return -1;
        snprintf(wn, sizeof wn, "%s.weight", out_name);
        snprintf(bn, sizeof bn, "%s.bias", out_name);
        if (get_mat(c, NM(wn), F, E, &b->ffn_out, e) || get_vec(c, NM(bn), E, 0, &b->ffn_out_b, e)) return -1;
#undef NM
    }
    int n_in = E * (c->n_feat ? c->n_feat : 1);
    int64_t t0 = gguf_find_tensor(c->g, "mm.0.weight"), t2 = gguf_find_tensor(c->g, "mm.2.weight");
    if (t0 < 0 || t2 < 0) return err_set(e, "%s: the mlp projector needs mm.0.weight and mm.2.weight", gguf_path(c->g));
    struct tensor t;
    gguf_tensor(c->g, t0, &t);
    int hidden = (int)t.ne[1];
    gguf_tensor(c->g, t2, &t);
    hp->n_out = (int)t.ne[1];
    if (hidden <= 0 || hp->n_out <= 0) return err_set(e, "%s: bad projector shapes", gguf_path(c->g));
    if (get_mat(c, "mm.0.weight", n_in, hidden, &c->mm0, e) || get_vec(c, "mm.0.bias", hidden, 0, &c->mm0_b, e) ||
        get_mat(c, "mm.2.weight", hidden, hp->n_out, &c->mm2, e) || get_vec(c, "mm.2.bias", hp->n_out, 0, &c->mm2_b, e))
        return -1;
    return 0;
}

struct clip *clip_load(const char *path, struct err *e) {
    struct clip *c = calloc(1, sizeof *c);
    if (!c) {
        err_set(e, "out of memory");
        return NULL;
    }
    c->g = gguf_open_weights(path, e);
    if (!c->g || load_hparams(c, e) || load_tensors(c, e)) {
        clip_free(c);
        return NULL;
    }
    return c;
}

void clip_free(struct clip *c) {
    if (!c) return;
    for (int i = 0; i < c->n_owned; i++) free(c->owned[i]);
    free(c->owned);
    free(c->blk);
    gguf_close(c->g);
    free(c);
}

/* ---- forward ---- */

static void add_bias(float *x, const float *b, int rows, int n) {
    if (!b) return;
    for (int r = 0; r < rows; r++) ops_add(x + (size_t)r * n, b, n);
}

/* Full (unmasked) self-attention of all positions, one head at a time as two matmuls
 * (scores = K_h q, out = V_h^T p) so the SIMD kernels do the N*N*width work: with 577
 * (CLIP-L) or 729 (SigLIP) positions it is about a tenth of the encoder's arithmetic. */
struct attn_bufs {
    float *qh, *kh, *vt, *s, *oh;   /* N*hd, N*hd, hd*N, N*N, N*hd */
};

struct softmax_job {
    float *s;
    int n;
};

static void softmax_worker(void *arg, int ith, int nth) {
    const struct softmax_job *j = arg;
    long lo, hi;
    pool_split(j->n, ith, nth, &lo, &hi);
    for (long r = lo; r < hi; r++) ops_softmax(j->s + (size_t)r * j->n, j->n);
}

static void attention(struct pool *p, const struct attn_bufs *b, const float *q, const float *k, const float *v,
                      float *out, int N, int width, int n_head) {
    const int hd = width / n_head;
    const float scale = 1.0f / sqrtf((float)hd);
    struct tensor kt = {"attn K", DT_F32, 2, {hd, N, 1, 1}, b->kh, (size_t)N * hd * sizeof(float)};
    struct tensor vt = {"attn V^T", DT_F32, 2, {N, hd, 1, 1}, b->vt, (size_t)N * hd * sizeof(float)};
    struct softmax_job sj = {b->s, N};
    for (int h = 0; h < n_head; h++) {
        for (int t = 0; t < N; t++) {
            const size_t o = (size_t)t * width + (size_t)h * hd;
            for (int x = 0; x < hd; x++) {
                b->qh[(size_t)t * hd + x] = q[o + x] * scale;
                b->kh[(size_t)t * hd + x] = k[o + x];
                b->vt[(size_t)x * N + t] = v[o + x];
            }
        }
        matmul(p, &kt, b->qh, b->s, N);          /* s[i][t] = q_i . k_t */
        pool_run(p, softmax_worker, &sj);
        matmul(p, &vt, b->s, b->oh, N);          /* oh[i][x] = sum_t p_it v_t[x] */
        for (int t = 0; t < N; t++)
            memcpy(out + (size_t)t * width + (size_t)h * hd, b->oh + (size_t)t * hd, (size_t)hd * sizeof *out);
    }
}

int clip_encode(struct clip *c, struct pool *p, const float *pixels, float *out, struct err *e) {
    const struct clip_hparams *hp = &c->hp;
    const int E = hp->n_embd, F = hp->n_ff, P = hp->patch_size, S = hp->image_size;
    const int side = S / P, n_patch = hp->n_image_pos, N = n_patch + hp->has_class;
    const int K = 3 * P * P;
    const int n_feat = c->n_feat ? c->n_feat : 1;
    const int n_in = E * n_feat;
    const int hidden = (int)c->mm0.ne[1];
    size_t big = (size_t)N * (K > F ? (K > E ? K : E) : (F > E ? F : E));
    if ((size_t)n_patch * hidden > big) big = (size_t)n_patch * hidden;
    float *x = malloc((size_t)N * E * sizeof *x), *h = malloc(big * sizeof *h), *q = malloc((size_t)N * E * sizeof *q),
          *k = malloc((size_t)N * E * sizeof *k), *v = malloc((size_t)N * E * sizeof *v),
          *ff = malloc(big * sizeof *ff), *feat = malloc((size_t)n_patch * n_in * sizeof *feat);
    const int HD = E / hp->n_head;
    struct attn_bufs ab = {malloc((size_t)N * HD * sizeof(float)), malloc((size_t)N * HD * sizeof(float)),
                           malloc((size_t)N * HD * sizeof(float)), malloc((size_t)N * N * sizeof(float)),
                           malloc((size_t)N * HD * sizeof(float))};
    int rc = 0;
    if (!x || !h || !q || !k || !v || !ff || !feat || !ab.qh || !ab.kh || !ab.vt || !ab.s || !ab.oh) {
        rc = err_set(e, "clip: out of memory for an image of %d positions", N);
        goto done;
    }

    /* Unfold patches: row = patch (row-major over the grid), column = (c, ky, kx)
     * with kx fastest, the order of the conv kernel's elements. */
    for (int py = 0; py < side; py++)
        for (int px = 0; px < side; px++) {
            float *r = h + ((size_t)py * side + px) * K;
            for (int ch = 0; ch < 3; ch++)
                for (int ky = 0; ky < P; ky++)
                    memcpy(r + ((size_t)ch * P + ky) * P,
                           pixels + (size_t)ch * S * S + (size_t)(py * P + ky) * S + (size_t)px * P, (size_t)P * sizeof *r);
        }
    float *xp = x + (size_t)hp->has_class * E;
    matmul(p, &c->patch_w, h, xp, n_patch);
    add_bias(xp, c->patch_b, n_patch, E);
    if (hp->has_class) memcpy(x, c->class_embd, (size_t)E * sizeof *x);
    for (int i = 0; i < N; i++) ops_add(x + (size_t)i * E, c->pos_embd + (size_t)i * E, E);
    if (c->pre_ln_w) layernorm(x, x, c->pre_ln_w, c->pre_ln_b, E, N, hp->eps);

    /* Saves x (without the class row) as feature slot `slot` of each patch row. */
#define SAVE_FEATURE(slot)                                                                   \
    for (int i = 0; i < n_patch; i++)                                                        \
        memcpy(feat + (size_t)i * n_in + (size_t)(slot) * E, x + (size_t)(i + hp->has_class) * E, \
               (size_t)E * sizeof *x)

    for (int l = 0; l < hp->n_layer_run; l++) {
        for (int f = 0; f < c->n_feat; f++)
            if (c->feat[f] == l) SAVE_FEATURE(f);
        const struct clip_block *b = &c->blk[l];
        layernorm(h, x, b->ln1_w, b->ln1_b, E, N, hp->eps);
        matmul(p, &b->wq, h, q, N);
        matmul(p, &b->wk, h, k, N);
        matmul(p, &b->wv, h, v, N);
        add_bias(q, b->bq, N, E);
        add_bias(k, b->bk, N, E);
        add_bias(v, b->bv, N, E);
        attention(p, &ab, q, k, v, h, N, E, hp->n_head);
        matmul(p, &b->wo, h, ff, N);
        add_bias(ff, b->bo, N, E);
        ops_add(x, ff, N * E);
        layernorm(h, x, b->ln2_w, b->ln2_b, E, N, hp->eps);
        matmul(p, &b->ffn_in, h, ff, N);
        add_bias(ff, b->ffn_in_b, N, F);
        if (hp->use_gelu) gelu(ff, (long)N * F);
        else gelu_quick(ff, (long)N * F);
        matmul(p, &b->ffn_out, ff, h, N);
        add_bias(h, b->ffn_out_b, N, E);
        ops_add(x, h, N * E);
    }
    if (c->post_ln_w) layernorm(x, x, c->post_ln_w, c->post_ln_b, E, N, hp->eps);
    if (!c->n_feat) SAVE_FEATURE(0);
    for (int f = 0; f < c->n_feat; f++)
        if (c->feat[f] == hp->n_layer_run) SAVE_FEATURE(f);
#undef SAVE_FEATURE

    /* LLaVA mlp projector: Linear -> GELU -> Linear. */
    matmul(p, &c->mm0, feat, ff, n_patch);
    add_bias(ff, c->mm0_b, n_patch, hidden);
    gelu(ff, (long)n_patch * hidden);
    matmul(p, &c->mm2, ff, out, n_patch);
    add_bias(out, c->mm2_b, n_patch, hp->n_out);
done:
    free(x), free(h), free(q), free(k), free(v), free(ff), free(feat);
    free(ab.qh), free(ab.kh), free(ab.vt), free(ab.s), free(ab.oh);
    return rc;
}

int clip_encode_image(struct clip *c, struct pool *p, const struct image *img, float *out, struct err *e) {
    const int S = c->hp.image_size;
    float *px = malloc((size_t)3 * S * S * sizeof *px);
    if (!px) return err_set(e, "clip: out of memory for a %dx%d input", S, S);
    int rc = image_preprocess_llava(img, S, c->hp.mean, c->hp.std, px, e);
    if (!rc) rc = clip_encode(c, p, px, out, e);
    free(px);
    return rc;
}

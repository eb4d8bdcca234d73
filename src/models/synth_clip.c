/* Writes random-weight mmproj GGUFs with real encoders' shapes; see synth_clip.h.
 * Weights are uniform in +-1/sqrt(fan_in) so activations stay in a normal range and
 * the forward pass costs (and behaves numerically) like a trained encoder's. */
#include "models/synth_clip.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/fp16.h"
#include "formats/gguf.h"

#define OPENAI_MEAN {0.48145466f, 0.4578275f, 0.40821073f}
#define OPENAI_STD {0.26862954f, 0.26130258f, 0.27577711f}

const struct synth_clip_shape synth_clip_shapes[] = {
    /* LLaVA-1.5-7B's encoder: OpenAI CLIP ViT-L/14 at 336 px, 2-layer MLP to Llama-2-7B's 4096;
     * llama.cpp's converter keeps 23 of the 24 blocks (the projector reads the penultimate). */
    {"clip-vit-l-14-336", 336, 14, 1024, 4096, 16, 23, 4096, 1, 0, 0, 1e-5f, OPENAI_MEAN, OPENAI_STD},
    /* SigLIP-so400m/14 at 384 px (27x27 patches, the conv drops the last 6 pixels; no class
     * token, GELU, post-LayerNorm), MLP to Qwen2-0.5B's 896 as in nanoLLaVA / LLaVA-OneVision. */
    {"siglip-so400m-14-384", 384, 14, 1152, 4304, 16, 27, 896, 0, 1, 0, 1e-6f, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}},
    /* A tiny SigLIP-layout encoder for tests (tests/golden/vision): 112 px in 15 px patches
     * (7x7, the last 7 pixels unused as so400m's last 6), width 64, 3 blocks of which llama.cpp
     * runs 2, MLP to 64 = synth-smollm2's width. */
    {"tiny-siglip-112", 112, 15, 64, 128, 4, 3, 64, 0, 1, 0, 1e-6f, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}},
    {NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, {0}, {0}},
};

const struct synth_clip_shape *synth_clip_find_shape(const char *name) {
    for (const struct synth_clip_shape *s = synth_clip_shapes; s->name; s++)
        if (!strcmp(s->name, name)) return s;
    return NULL;
}

struct rng {
    uint64_t s;
};

static float rng_uniform(struct rng *r) {  /* xorshift64*: in [-1, 1) */
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (float)((r->s * 2685821657736338717ull) >> 40) / (float)(1 << 23) - 1.0f;
}

/* Adds one tensor: F16 random (fan_in > 0), F32 constant `fill` (fan_in == 0), or F32 random small. */
static int add(struct gguf_writer *w, struct rng *r, const char *name, int n_dims, const int64_t *ne, int fan_in,
               float fill, struct err *e) {
    size_t n = 1;
    for (int i = 0; i < n_dims; i++) n *= (size_t)ne[i];
    int rc;
    if (fan_in > 0) {
        uint16_t *d = malloc(n * sizeof *d);
        if (!d) return err_set(e, "out of memory for %s", name);
        float a = 1.0f / sqrtf((float)fan_in);
        for (size_t i = 0; i < n; i++) d[i] = fp32_to_fp16(a * rng_uniform(r));
        rc = gguf_w_tensor(w, name, DT_F16, n_dims, ne, d, e);
        free(d);
    } else {
        float *d = malloc(n * sizeof *d);
        if (!d) return err_set(e, "out of memory for %s", name);
        for (size_t i = 0; i < n; i++) d[i] = fan_in < 0 ? 0.02f * rng_uniform(r) : fill;
        rc = gguf_w_tensor(w, name, DT_F32, n_dims, ne, d, e);
        free(d);
    }
    return rc;
}

int synth_clip_write(const struct synth_clip_shape *s, const char *ftype, uint64_t seed, int n_out, const char *path,
                     struct err *e) {
    if (strcmp(ftype, "f16")) return err_set(e, "synth: image encoders are written as f16 only, not '%s'", ftype);
    if (n_out < 0 || n_out > (1 << 16)) return err_set(e, "synth: projector width %d is outside 1..65536", n_out);
    if (!n_out) n_out = s->n_out;
    struct gguf_writer *w = gguf_writer_new();
    if (!w) return err_set(e, "out of memory");
    struct rng r = {seed * 0x9E3779B97F4A7C15ull + 1};
    const int E = s->n_embd, F = s->n_ff, P = s->patch_size, side = s->image_size / s->patch_size;
    const int n_pos = side * side + s->has_class;  /* side rounds down, as the strided conv does */
    gguf_w_str(w, "general.architecture", "clip");
    gguf_w_str(w, "general.name", s->name);
    /* llava-cli's clip.cpp refuses a file without it; the converter's wording for LLaVA. */
    gguf_w_str(w, "general.description", "image encoder for LLaVA (random weights, omni synth)");
    gguf_w_u32(w, "general.file_type", 1);
    gguf_w_bool(w, "clip.has_text_encoder", 0);
    gguf_w_bool(w, "clip.has_vision_encoder", 1);
    gguf_w_bool(w, "clip.has_llava_projector", 1);
    gguf_w_str(w, "clip.projector_type", "mlp");
    gguf_w_bool(w, "clip.use_gelu", s->use_gelu);
    gguf_w_u32(w, "clip.vision.image_size", (uint32_t)s->image_size);
    gguf_w_u32(w, "clip.vision.patch_size", (uint32_t)P);
    gguf_w_u32(w, "clip.vision.embedding_length", (uint32_t)E);
    gguf_w_u32(w, "clip.vision.feed_forward_length", (uint32_t)F);
    gguf_w_u32(w, "clip.vision.projection_dim", (uint32_t)n_out);
    gguf_w_u32(w, "clip.vision.attention.head_count", (uint32_t)s->n_head);
    gguf_w_f32(w, "clip.vision.attention.layer_norm_epsilon", s->eps);
    gguf_w_u32(w, "clip.vision.block_count", (uint32_t)s->n_layer);
    gguf_w_arr_f32(w, "clip.vision.image_mean", s->mean, 3);
    gguf_w_arr_f32(w, "clip.vision.image_std", s->std, 3);
    if (s->feature_layer > 0) {
        int32_t fl = s->feature_layer;
        gguf_w_arr_i32(w, "clip.vision.feature_layer", &fl, 1);
    }

    char name[96];
    int rc = 0;
    int64_t ne4[4] = {P, P, 3, E}, v[1] = {E}, pe[2] = {E, n_pos};
    rc = rc || add(w, &r, "v.patch_embd.weight", 4, ne4, 3 * P * P, 0, e);
    rc = rc || add(w, &r, "v.patch_embd.bias", 1, v, -1, 0, e);
    rc = rc || add(w, &r, "v.position_embd.weight", 2, pe, -1, 0, e);
    if (s->has_class) {
        rc = rc || add(w, &r, "v.class_embd", 1, v, -1, 0, e);
        rc = rc || add(w, &r, "v.pre_ln.weight", 1, v, 0, 1, e);
        rc = rc || add(w, &r, "v.pre_ln.bias", 1, v, 0, 0, e);
    } else {
        rc = rc || add(w, &r, "v.post_ln.weight", 1, v, 0, 1, e);
        rc = rc || add(w, &r, "v.post_ln.bias", 1, v, 0, 0, e);
    }
    for (int l = 0; l < s->n_layer && !rc; l++) {
#define NM(x) (snprintf(name, sizeof name, "v.blk.%d.%s", l, x), name)
        int64_t ee[2] = {E, E}, ef[2] = {E, F}, fe[2] = {F, E}, f1[1] = {F};
        static const char *const attn[4] = {"attn_q", "attn_k", "attn_v", "attn_out"};
        for (int k = 0; k < 4 && !rc; k++) {
            char wn[32], bn[32];
            snprintf(wn, sizeof wn, "%s.weight", attn[k]);
            snprintf(bn, sizeof bn, "%s.bias", attn[k]);
            rc = add(w, &r, NM(wn), 2, ee, E, 0, e) || add(w, &r, NM(bn), 1, v, -1, 0, e);
        }
        rc = rc || add(w, &r, NM("ln1.weight"), 1, v, 0, 1, e) || add(w, &r, NM("ln1.bias"), 1, v, 0, 0, e);
        rc = rc || add(w, &r, NM("ln2.weight"), 1, v, 0, 1, e) || add(w, &r, NM("ln2.bias"), 1, v, 0, 0, e);
        /* llama.cpp's LLaVA converter layout: ffn_down expands (E -> F), ffn_up contracts. */
        rc = rc || add(w, &r, NM("ffn_down.weight"), 2, ef, E, 0, e) || add(w, &r, NM("ffn_down.bias"), 1, f1, -1, 0, e);
        rc = rc || add(w, &r, NM("ffn_up.weight"), 2, fe, F, 0, e) || add(w, &r, NM("ffn_up.bias"), 1, v, -1, 0, e);
#undef NM
    }
    int64_t m0[2] = {E, n_out}, m2[2] = {n_out, n_out}, o[1] = {n_out};
    rc = rc || add(w, &r, "mm.0.weight", 2, m0, E, 0, e) || add(w, &r, "mm.0.bias", 1, o, -1, 0, e);
    rc = rc || add(w, &r, "mm.2.weight", 2, m2, n_out, 0, e) || add(w, &r, "mm.2.bias", 1, o, -1, 0, e);
    if (!rc) rc = gguf_writer_save(w, path, e);
    gguf_writer_free(w);
    return rc;
}

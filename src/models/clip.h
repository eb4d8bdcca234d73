/* Image encoders from llama.cpp "mmproj" GGUF files (general.architecture = clip):
 * a CLIP-style ViT (v.* tensors) and a projector (mm.*) that maps its patch features
 * to the language model's embedding width. Supported now: ViT with class token or
 * not, learned positions, pre/post LayerNorm, GELU or quick-GELU, the feature layer(s)
 * LLaVA reads, and the LLaVA "mlp" projector (Linear -> GELU -> Linear).
 * Other projectors (SmolVLM, Qwen2-VL, Gemma-3) slot in as one file each behind
 * clip_encode; they are refused with a clear message until then. */
#ifndef OMNI_MODELS_CLIP_H
#define OMNI_MODELS_CLIP_H

#include "core/error.h"
#include "core/pool.h"
#include "formats/image_decode.h"

struct clip_hparams {
    int image_size;      /* encoder input is image_size x image_size */
    int patch_size;
    int n_embd;          /* ViT width */
    int n_ff;
    int n_head;
    int n_layer;         /* blocks in the file */
    int n_layer_run;     /* blocks actually run (LLaVA: n_layer - 1, the penultimate layer) */
    int n_out;           /* projected width = the LLM's n_embd */
    int n_image_pos;     /* embeddings per image given to the LLM (patches; class token dropped) */
    float eps;
    int use_gelu;        /* 1: GELU (tanh form); 0: quick GELU */
    int has_class;       /* class token present */
    float mean[3], std[3];
    char projector[32];  /* clip.projector_type */
};

struct clip;

/* Opens and validates an mmproj GGUF (weights stay mmap'ed). */
struct clip *clip_load(const char *path, struct err *e);
void clip_free(struct clip *c);
const struct clip_hparams *clip_hparams(const struct clip *c);

/* Pre-processes (model family's way) and encodes one decoded image.
 * out receives n_image_pos * n_out floats, one row per image position.
 * p: borrowed compute threads (e.g. the LLM's), NULL = this thread only. */
int clip_encode_image(struct clip *c, struct pool *p, const struct image *img, float *out, struct err *e);

/* Encodes already pre-processed pixels: planar float RGB, 3 x image_size x image_size. */
int clip_encode(struct clip *c, struct pool *p, const float *pixels, float *out, struct err *e);

#endif

/* Random-weight image encoders ("mmproj" GGUF, llama.cpp's clip.* keys and v.* / mm.*
 * tensor names) with the exact shapes of real ones (CLIP ViT-L/14-336 as in LLaVA-1.5,
 * SigLIP-so400m as in LLaVA-OneVision): they cost what the real encoders cost, so the
 * vision benchmark can time encoding without the real weights. */
#ifndef OMNI_MODELS_SYNTH_CLIP_H
#define OMNI_MODELS_SYNTH_CLIP_H
#include <stdint.h>

#include "core/error.h"

struct synth_clip_shape {
    const char *name;     /* "clip-vit-l-14-336" */
    int image_size, patch_size, n_embd, n_ff, n_head, n_layer;
    int n_out;            /* projector output = the paired LLM's width */
    int has_class;        /* CLIP has a class token and a pre-LayerNorm; SigLIP neither */
    int use_gelu;         /* 1: GELU; 0: quick GELU (OpenAI CLIP) */
    int feature_layer;    /* block whose output the projector reads; 0: llama.cpp's default (n_layer - 1) */
    float eps;            /* LayerNorm epsilon: 1e-5 in OpenAI CLIP, 1e-6 in SigLIP */
    float mean[3], std[3];
};

/* Known shapes; NULL-name terminated. */
extern const struct synth_clip_shape synth_clip_shapes[];
const struct synth_clip_shape *synth_clip_find_shape(const char *name);

/* Writes the encoder with F16 matrices and F32 vectors (as llama.cpp's converter does
 * for "f16"); ftype must be "f16". n_out > 0 replaces the shape's projector width so
 * the encoder pairs with another LLM (llava-cli refuses a width unlike the LLM's). */
int synth_clip_write(const struct synth_clip_shape *s, const char *ftype, uint64_t seed, int n_out, const char *path,
                     struct err *e);

#endif

/* Image pre-processing for the vision encoders: the exact pixel pipeline llama.cpp's
 * clip.cpp applies before the ViT, so our embeddings match the reference.
 * Output is planar float RGB (3 planes of size x size), normalised with the
 * encoder file's mean/std, the layout the patch-embedding convolution reads. */
#ifndef OMNI_MODELS_IMAGE_PREPROCESS_H
#define OMNI_MODELS_IMAGE_PREPROCESS_H
#include <stdint.h>

#include "core/error.h"
#include "formats/image_decode.h"

/* LLaVA-1.5: a non-square image is padded to a square with the mean colour
 * (mean * 255, truncated, as LLaVA does), the image in the top-left corner as
 * llama.cpp places it; then resized to size x size (bilinear on 8-bit values, rounded,
 * as clip.cpp does for this family), then normalised. out: 3 * size * size floats. */
int image_preprocess_llava(const struct image *img, int size, const float mean[3], const float std[3],
                           float *out, struct err *e);

/* clip.cpp's bicubic resize of 8-bit RGB (used by llava-1.6 tiles, Qwen2-VL, Gemma-3,
 * GLM-Edge): dst must hold 3 * dw * dh bytes. */
void image_resize_bicubic(const struct image *src, uint8_t *dst, int dw, int dh);

/* Interleaved 8-bit RGB -> planar normalised floats: out[c][y][x] = (v/255 - mean[c]) / std[c]. */
void image_normalize(const uint8_t *rgb, int w, int h, const float mean[3], const float std[3], float *out);

#endif

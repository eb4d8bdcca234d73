/* The frozen weights' backward product dx[t] += W^T dy[t] over one block of W's rows,
 * dequantised already: buf holds nr rows of n floats (columns i0.. of W) bs apart, g[t] the nr
 * matching entries of dy[t] (gs apart), d[t] the n matching entries of dx[t] (ds apart).
 * Every dx element adds its nr products in row order, each a fused multiply-add (one
 * rounding, fmaf): the same bits from the scalar, AVX2 and AVX-512 versions, which only
 * differ in how many columns and rows of t they hold in registers at once (train_model.c
 * picks by cpu_level()). */
#ifndef OMNI_TRAINING_TRAIN_FB_H
#define OMNI_TRAINING_TRAIN_FB_H
#include <stddef.h>

void train_fb_block_avx2(float *d, size_t ds, const float *g, size_t gs, const float *buf, size_t bs, int n, int nr, int T);
void train_fb_block_avx512(float *d, size_t ds, const float *g, size_t gs, const float *buf, size_t bs, int n, int nr, int T);

#endif

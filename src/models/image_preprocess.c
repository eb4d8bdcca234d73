/* Image pre-processing, following llama.cpp's clip.cpp step for step (same
 * interpolation, same rounding to 8 bits in between) so a test image gives the
 * reference's pixels; see image_preprocess.h. */
#include "models/image_preprocess.h"

#include <math.h>

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
static uint8_t to_u8(float v) { return (uint8_t)fminf(fmaxf(roundf(v), 0.0f), 255.0f); }

void image_normalize(const uint8_t *rgb, int w, int h, const float mean[3], const float std[3], float *out) {
    long n = (long)w * h;
    for (int c = 0; c < 3; c++)
        for (long i = 0; i < n; i++) out[c * n + i] = ((float)rgb[3 * i + c] / 255.0f - mean[c]) / std[c];
}

/* Cubic through four samples at -1, 0, 1, 2, evaluated at t in [0, 1): the
 * coefficients clip.cpp uses (from ViT.cpp). Computed in double then stored as
 * float, matching the reference's mix of float variables and double constants. */
static float cubic(float p0, float p1, float p2, float p3, float t) {
    float d0 = p0 - p1, d2 = p2 - p1, d3 = p3 - p1, a0 = p1;
    float a1 = (float)(-1.0 / 3 * d0 + d2 - 1.0 / 6 * d3);
    float a2 = (float)(1.0 / 2 * d0 + 1.0 / 2 * d2);
    float a3 = (float)(-1.0 / 6 * d0 - 1.0 / 2 * d2 + 1.0 / 6 * d3);
    return a0 + a1 * t + a2 * t * t + a3 * t * t * t;
}

void image_resize_bicubic(const struct image *src, uint8_t *dst, int dw, int dh) {
    const int nx = src->w, ny = src->h;
    const float tx = (float)nx / (float)dw, ty = (float)ny / (float)dh;
    for (int i = 0; i < dh; i++) {
        for (int j = 0; j < dw; j++) {
            int x = (int)(tx * j), y = (int)(ty * i);
            float dx = tx * j - x, dy = ty * i - y;
            for (int k = 0; k < 3; k++) {
                float col[4];
                for (int jj = 0; jj < 4; jj++) {
                    const uint8_t *row = src->rgb + (size_t)clampi(y - 1 + jj, 0, ny - 1) * nx * 3;
                    col[jj] = cubic(row[clampi(x - 1, 0, nx - 1) * 3 + k], row[clampi(x, 0, nx - 1) * 3 + k],
                                    row[clampi(x + 1, 0, nx - 1) * 3 + k], row[clampi(x + 2, 0, nx - 1) * 3 + k], dx);
                }
                dst[((size_t)i * dw + j) * 3 + k] = to_u8(cubic(col[0], col[1], col[2], col[3], dy));
            }
        }
    }
}

/* A pixel of the image padded (virtually) to an n x n square, the image in the
 * top-left corner: never materialised, since a 40000 x 1 image would need gigabytes. */
static float padded(const struct image *img, const uint8_t bg[3], int x, int y, int c) {
    if (x < img->w && y < img->h) return img->rgb[((size_t)y * img->w + x) * 3 + c];
    return bg[c];
}

int image_preprocess_llava(const struct image *img, int size, const float mean[3], const float std[3],
                           float *out, struct err *e) {
    if (!img || !img->rgb || img->w <= 0 || img->h <= 0) return err_set(e, "preprocess: empty image");
    if (size <= 0) return err_set(e, "preprocess: bad encoder image size %d", size);
    const int n = img->w > img->h ? img->w : img->h;
    uint8_t bg[3];
    for (int c = 0; c < 3; c++) bg[c] = (uint8_t)fminf(fmaxf(mean[c] * 255.0f, 0.0f), 255.0f);
    /* Bilinear with pixel centres aligned; each value rounded to 8 bits first. */
    const float scale = (float)n / (float)size;
    const long plane = (long)size * size;
    for (int y = 0; y < size; y++) {
        float sy = (y + 0.5f) * scale - 0.5f;
        int y0 = (int)floorf(sy);
        if (y0 < 0) y0 = 0;
        int y1 = y0 + 1 < n - 1 ? y0 + 1 : n - 1;
        float dy = sy - y0;
        for (int x = 0; x < size; x++) {
            float sx = (x + 0.5f) * scale - 0.5f;
            int x0 = (int)floorf(sx);
            if (x0 < 0) x0 = 0;
            int x1 = x0 + 1 < n - 1 ? x0 + 1 : n - 1;
            float dx = sx - x0;
            for (int c = 0; c < 3; c++) {
                float v00 = padded(img, bg, x0, y0, c), v01 = padded(img, bg, x1, y0, c);
                float v10 = padded(img, bg, x0, y1, c), v11 = padded(img, bg, x1, y1, c);
                float v0 = v00 * (1.0f - dx) + v01 * dx, v1 = v10 * (1.0f - dx) + v11 * dx;
                float v = v0 * (1.0f - dy) + v1 * dy;
                out[c * plane + (long)y * size + x] = ((float)to_u8(v) / 255.0f - mean[c]) / std[c];
            }
        }
    }
    return 0;
}

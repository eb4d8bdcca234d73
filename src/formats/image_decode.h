/* Image decoding for the vision encoders: PNG, JPEG, GIF (first frame), BMP
 * (via Debian's stb_image, the decoder llama.cpp uses, so pixels match the reference)
 * into 8-bit RGB. Untrusted bytes: corrupt, truncated or oversized images end in an
 * error message, never a crash or a huge allocation. WebP is not decoded (stb has no
 * WebP decoder); it is recognised and refused by name. */
#ifndef OMNI_FORMATS_IMAGE_DECODE_H
#define OMNI_FORMATS_IMAGE_DECODE_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* 8-bit RGB, rows top to bottom, 3 bytes per pixel, no padding. */
struct image {
    int w, h;
    uint8_t *rgb;   /* owned: free with image_free */
};

/* Default pixel limit: 64 megapixels (an 8K x 8K photo), about 200 MB decoded. */
#define IMAGE_DEFAULT_MAX_PIXELS (64L * 1024 * 1024)

/* Decodes an in-memory image. max_pixels <= 0 means IMAGE_DEFAULT_MAX_PIXELS; the size
 * is checked from the header before any pixel memory is allocated. `what` names the
 * source in messages (a path, "image_url", ...). On failure *out is zeroed. */
int image_decode_memory(const void *data, size_t size, long max_pixels, const char *what,
                        struct image *out, struct err *e);
/* Reads and decodes a file. */
int image_decode_file(const char *path, long max_pixels, struct image *out, struct err *e);
/* "png", "jpeg", "gif", "bmp", "webp", ... from the magic bytes; "unknown" otherwise. */
const char *image_format_name(const void *data, size_t size);
void image_free(struct image *img);

#endif

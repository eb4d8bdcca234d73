/* omni_image: the public API's decoded image (see runtime/image.h). Decoding happens
 * when the image is attached, so a missing or corrupt file is reported before a turn
 * starts; the fingerprint lets the session's prompt cache tell images apart. */
#include "runtime/image.h"

#include <stdio.h>
#include <stdlib.h>

#include "omni.h"

/* FNV-1a over the size and pixels: a cheap identity, not a security boundary. */
static uint64_t image_key(const struct image *im) {
    uint64_t h = 1469598103934665603ull;
    const uint32_t dims[2] = {(uint32_t)im->w, (uint32_t)im->h};
    const uint8_t *d = (const uint8_t *)dims;
    for (size_t i = 0; i < sizeof dims; i++) h = (h ^ d[i]) * 1099511628211ull;
    const size_t n = (size_t)im->w * (size_t)im->h * 3;
    for (size_t i = 0; i < n; i++) h = (h ^ im->rgb[i]) * 1099511628211ull;
    return h ? h : 1;
}

static omni_image *finish(struct image *im, int rc, struct err *e, char *err, size_t err_size) {
    if (rc) {
        if (err && err_size) snprintf(err, err_size, "%s", e->msg);
        return NULL;
    }
    omni_image *o = malloc(sizeof *o);
    if (!o) {
        image_free(im);
        if (err && err_size) snprintf(err, err_size, "out of memory");
        return NULL;
    }
    o->img = *im;
    o->key = image_key(im);
    return o;
}

omni_image *omni_image_load(const char *path, char *err, size_t err_size) {
    struct err e = {{0}};
    struct image im;
    int rc = image_decode_file(path, 0, &im, &e);
    return finish(&im, rc, &e, err, err_size);
}

omni_image *omni_image_load_memory(const void *data, size_t size, const char *what, char *err, size_t err_size) {
    struct err e = {{0}};
    struct image im;
    int rc = image_decode_memory(data, size, 0, what ? what : "image", &im, &e);
    return finish(&im, rc, &e, err, err_size);
}

void omni_image_free(omni_image *img) {
    if (!img) return;
    image_free(&img->img);
    free(img);
}

int omni_image_width(const omni_image *img) { return img->img.w; }
int omni_image_height(const omni_image *img) { return img->img.h; }

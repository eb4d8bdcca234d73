/* The struct behind omni.h's omni_image: decoded pixels plus a fingerprint of them,
 * which the session keeps beside cached image positions so that a follow-up prompt
 * reuses an image's KV entries only when it really is the same picture. */
#ifndef OMNI_RUNTIME_IMAGE_H
#define OMNI_RUNTIME_IMAGE_H
#include <stdint.h>

#include "formats/image_decode.h"

struct omni_image {
    struct image img;
    uint64_t key;      /* hash of size and pixels; never 0 (0 marks text positions) */
};

#endif

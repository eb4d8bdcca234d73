/* libFuzzer target for the image path: any byte string must decode to a valid RGB
 * image or fail with a message; a decoded image then goes through the LLaVA
 * pre-processing and the bicubic resize (arbitrary sizes and aspect ratios).
 * Built and run by tests/fuzz/build.sh (`make fuzz`); tests/fuzz/test_fuzz_image.c replays
 * the corpus. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/image_decode.h"
#include "models/image_preprocess.h"

static int fuzz_setup(void) { return 0; } /* nothing to load (replay.h calls it too) */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fuzz_setup()) return 0;
    struct image img;
    struct err e;
    /* A small pixel limit keeps each run fast; the limit check itself is exercised. */
    if (image_decode_memory(data, size, 1L << 20, "fuzz", &img, &e)) {
        if (!e.msg[0]) abort();
        return 0;
    }
    if (img.w <= 0 || img.h <= 0 || !img.rgb) abort();
    volatile unsigned h = 0;
    for (long i = 0; i < (long)img.w * img.h * 3; i++) h += img.rgb[i];   /* every byte readable */
    (void)h;
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}, std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    float px[3 * 28 * 28];
    if (image_preprocess_llava(&img, 28, mean, std, px, &e)) abort();
    uint8_t small[3 * 13 * 7];
    image_resize_bicubic(&img, small, 13, 7);
    image_free(&img);
    return 0;
}

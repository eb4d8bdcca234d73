/* libFuzzer target for data: URIs and base64 (images and audio sent inline in chat
 * requests, input_audio_buffer.append in the Realtime API). The input is tried as a
 * whole URI (NUL-terminated, as cJSON hands it over) and as bare base64 of its exact
 * length: each must decode or fail with a message, never write past a buffer, and
 * the decoded size must fit what base64 can carry. Built by tests/fuzz/build.sh;
 * tests/fuzz/test_fuzz_data_uri.c replays the corpus. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/data_uri.h"

static int fuzz_setup(void) { return 0; } /* nothing to load (replay.h calls it too) */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fuzz_setup()) return 0;
    char *uri = malloc(size + 1);
    if (!uri) return 0;
    memcpy(uri, data, size);
    uri[size] = 0;
    uint8_t *out = NULL;
    size_t n = 0;
    struct err e = {{0}};
    /* a small mime buffer (truncation) and a roomy one */
    char mime_small[8], mime[64];
    size_t caps[2] = {sizeof mime_small, sizeof mime};
    char *bufs[2] = {mime_small, mime};
    for (int k = 0; k < 2; k++) {
        if (data_uri_decode(uri, bufs[k], caps[k], &out, &n, &e)) {
            if (!e.msg[0] || out) abort();
        } else {
            if (!out || n > size / 4 * 3 + 3 || strlen(bufs[k]) >= caps[k]) abort();
            volatile uint8_t h = n ? out[n - 1] : 0;
            (void)h;
        }
        free(out);
        out = NULL;
    }
    if (data_uri_base64_decode((const char *)data, size, &out, &n, &e)) {
        if (!e.msg[0] || out) abort();
    } else if (!out || n > size / 4 * 3 + 3) {
        abort();
    }
    free(out);
    free(uri);
    return 0;
}

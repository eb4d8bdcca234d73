/* libFuzzer target for audio decoding (uploads to /v1/audio/transcriptions and
 * input_audio parts): any byte string goes through libsndfile (WAV, FLAC,
 * OGG/Vorbis, Opus, ...) with libmpg123 as the MP3 fallback, from memory, then
 * down-mixing and resampling to 16 kHz. It must decode to samples or fail with a
 * message; every sample must be readable. Built by tests/fuzz/build.sh;
 * tests/fuzz/test_fuzz_audio.c replays the corpus. */
#include <stdint.h>
#include <stdlib.h>

#include "formats/audio_decode.h"

static int fuzz_setup(void) { return 0; } /* nothing to load (replay.h calls it too) */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fuzz_setup()) return 0;
    float *pcm = NULL;
    size_t n = 0;
    struct err e = {{0}};
    if (audio_decode_mem(data, size, "fuzz", &pcm, &n, &e)) {
        if (!e.msg[0] || pcm) abort();
        return 0;
    }
    if (!pcm || !n) abort();
    volatile float s = 0;
    for (size_t i = 0; i < n; i++) s += pcm[i];
    (void)s;
    free(pcm);
    return 0;
}

/* libFuzzer target for the whisper.cpp ggml reader (Whisper and Silero VAD model
 * files): any byte string must load or fail with a message; a loaded file's mel
 * filters, vocabulary and every tensor byte must be readable, and each tensor must
 * be found by name. Built by tests/fuzz/build.sh; tests/fuzz/test_fuzz_ggml_whisper.c
 * replays the corpus. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/ggml_whisper.h"

static int fuzz_setup(void) { return 0; } /* nothing to load (replay.h calls it too) */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fuzz_setup()) return 0;
    struct err e = {{0}};
    struct ggw_file *f = ggw_load_mem(data, size, "fuzz", &e);
    if (!f) {
        if (!e.msg[0]) abort();
        return 0;
    }
    volatile unsigned h = 0;
    if (f->kind == GGW_WHISPER) {
        for (size_t i = 0; i < (size_t)f->n_mel * (size_t)f->n_fft; i++) h += f->filters[i] > 0;
        for (int i = 0; i < f->n_vocab_file; i++) {
            if (strlen(f->vocab[i]) > (size_t)f->vocab_len[i]) abort(); /* NUL-terminated at its length */
            if (f->vocab_len[i]) h += (uint8_t)f->vocab[i][f->vocab_len[i] - 1];
        }
    } else if (f->kind != GGW_VAD || strlen(f->vad.type) >= sizeof f->vad.type) {
        abort();
    }
    for (int i = 0; i < f->n_tensors; i++) {
        const struct tensor *t = &f->tensors[i];
        if (ggw_tensor(f, t->name) != t) abort(); /* names are unique */
        if ((uintptr_t)t->data % 64) abort();
        if (t->nbytes) h += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
    }
    (void)h;
    ggw_free(f);
    return 0;
}

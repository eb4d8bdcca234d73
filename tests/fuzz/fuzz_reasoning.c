/* libFuzzer target for the reasoning splitter (runtime/reasoning.c), which reads what a
 * model generates: byte 0 picks the syntax (none, think tags, harmony, [THINK] tags) and whether the
 * prompt opened the thoughts, byte 1 a piece length; the rest is the generated text.
 * It is fed whole, in pieces of that length, and byte by byte: the three must give the
 * same thoughts and answer, never more bytes than went in, and with no syntax exactly
 * the input as the answer. Built by tests/fuzz/build.sh; tests/fuzz/test_fuzz_reasoning.c
 * replays the corpus. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/reasoning.h"

static int fuzz_setup(void) { return 0; } /* nothing to load (replay.h calls it too) */

struct sink {
    char *buf[2];
    size_t n[2], cap;
};

static int sink_emit(int reasoning, const char *s, size_t n, void *user) {
    struct sink *k = user;
    int i = reasoning ? 1 : 0;
    if (k->n[i] + n > k->cap) abort();   /* more out than in */
    memcpy(k->buf[i] + k->n[i], s, n);
    k->n[i] += n;
    return 0;
}

static void run(enum reasoning_syntax syn, int opened, const uint8_t *text, size_t len, size_t piece,
                struct sink *k) {
    struct reasoning_split r;
    reasoning_split_init(&r, syn, opened);
    for (size_t at = 0; at < len;) {
        size_t n = len - at < piece ? len - at : piece;
        if (reasoning_split_push(&r, (const char *)text + at, n, sink_emit, k)) break;   /* out of memory */
        at += n;
    }
    reasoning_split_flush(&r, sink_emit, k);
    reasoning_split_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fuzz_setup() || size < 2) return 0;
    enum reasoning_syntax syn = (enum reasoning_syntax)(data[0] % 4);
    int opened = (data[0] / 4) & 1;
    size_t piece = (size_t)data[1] % 16 + 1;
    const uint8_t *text = data + 2;
    size_t len = size - 2;
    struct sink k[3];
    size_t pieces[3] = {len ? len : 1, piece, 1};
    for (int j = 0; j < 3; j++) {
        k[j].cap = len;
        k[j].buf[0] = malloc(len + 1);
        k[j].buf[1] = malloc(len + 1);
        k[j].n[0] = k[j].n[1] = 0;
        if (!k[j].buf[0] || !k[j].buf[1]) abort();
        run(syn, opened, text, len, pieces[j], &k[j]);
    }
    for (int j = 1; j < 3; j++)
        for (int i = 0; i < 2; i++)
            if (k[j].n[i] != k[0].n[i] || memcmp(k[j].buf[i], k[0].buf[i], k[0].n[i])) abort();
    if (syn == REASONING_NONE && (k[0].n[1] || k[0].n[0] != len || memcmp(k[0].buf[0], text, len))) abort();
    if (k[0].n[0] + k[0].n[1] > len) abort();
    for (int j = 0; j < 3; j++) { free(k[j].buf[0]); free(k[j].buf[1]); }
    return 0;
}

/* libFuzzer target for the tokenizers on arbitrary bytes (invalid UTF-8 included).
 * The first input byte picks a vocabulary and the flags, the rest is the text:
 *   byte0 & 15        the vocabulary: SentencePiece (llama, phi-3, baichuan), byte-level
 *                     BPE under each pre-tokenizer the vocab folder has (gpt-2, llama-3,
 *                     qwen2, deepseek llm/coder, falcon, starcoder, mpt, refact, gpt-neox,
 *                     smollm), WordPiece (bert-bge) or SentencePiece unigram (synth-ugm)
 *   bit 4 / bit 5     add_special / parse_special
 *   bit 7             the ids decoded raw (else mapped into -1..n_vocab)
 * Encoding must succeed (or fail with a message) with every id in the vocabulary;
 * the ids then go through tokenizer_decode, the streaming detokenizer and
 * tokenizer_piece; then the text's bytes taken as ids (valid or not) decode too.
 * Streamed output must be valid UTF-8. Vocabularies come from $OMNI_MODELS/vocab.
 * Built by tests/fuzz/build.sh; tests/fuzz/test_fuzz_tokenizer.c replays the corpus. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

static const char *const VOCABS[] = {
    "vocab/ggml-vocab-llama-spm.gguf",      "vocab/ggml-vocab-phi-3.gguf",          "vocab/ggml-vocab-baichuan.gguf",
    "vocab/ggml-vocab-gpt-2.gguf",          "vocab/ggml-vocab-gpt2-pre-llama3.gguf", "vocab/ggml-vocab-gpt2-pre-qwen2.gguf",
    "vocab/ggml-vocab-deepseek-llm.gguf",   "vocab/ggml-vocab-deepseek-coder.gguf", "vocab/ggml-vocab-falcon.gguf",
    "vocab/ggml-vocab-starcoder.gguf",      "vocab/ggml-vocab-mpt.gguf",            "vocab/ggml-vocab-refact.gguf",
    "vocab/ggml-vocab-gpt-neox.gguf",       "synth/synth-smollm2-f16.gguf",         "vocab/ggml-vocab-bert-bge.gguf",
    "vocab/ggml-vocab-synth-ugm.gguf",
};
#define N_VOCABS (int)(sizeof VOCABS / sizeof *VOCABS)
static struct tokenizer *fuzz_tok[N_VOCABS];
static int fuzz_state; /* 0 not tried, 1 ready, -1 assets missing */

static int fuzz_setup(void) {
    if (fuzz_state) return fuzz_state > 0 ? 0 : -1;
    const char *dir = getenv("OMNI_MODELS");
    if (!dir || !*dir) dir = "../shared/models";
    fuzz_state = 1;
    for (int i = 0; i < N_VOCABS; i++) {
        char path[1024];
        struct err e = {{0}};
        snprintf(path, sizeof path, "%s/%s", dir, VOCABS[i]);
        struct gguf *g = gguf_open(path, &e);
        if (g) fuzz_tok[i] = tokenizer_load(g, &e);
        gguf_close(g);
        if (!fuzz_tok[i]) { fprintf(stderr, "fuzz_tokenizer: %s: %s\n", path, e.msg); fuzz_state = -1; }
    }
    return fuzz_state > 0 ? 0 : -1;
}

static int valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        int k = utf8_char_valid((const unsigned char *)s + i, n - i);
        if (k <= 0) return 0;
        i += (size_t)k;
    }
    return 1;
}

/* Decodes ids every way there is; streamed text must be valid UTF-8. */
static void decode_all(const struct tokenizer *t, const int32_t *ids, size_t n) {
    for (int special = 0; special < 2; special++) {
        char *s = NULL;
        size_t len = 0;
        struct err e = {{0}};
        if (tokenizer_decode(t, ids, n, special, &s, &len, &e)) { if (!e.msg[0]) abort(); }
        else if (!s || s[len] != 0) abort();
        free(s);
        struct detok d;
        detok_init(&d, t, special);
        char buf[512];
        size_t max = tokenizer_max_piece(t);
        for (size_t i = 0; i <= n; i++) {
            size_t k = i < n ? detok_push(&d, ids[i], buf, sizeof buf) : detok_flush(&d, buf, sizeof buf);
            if (k >= sizeof buf || buf[k] != 0 || (i < n && k > 3 * max + 16)) abort();
            if (!valid_utf8(buf, k)) abort();
        }
        size_t pl;
        for (size_t i = 0; i < n; i++) {
            const char *p = tokenizer_piece(t, ids[i], special, &pl);
            if (!p || pl > max) abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fuzz_setup()) abort(); /* fuzzing without the vocabularies would test nothing */
    if (size < 1 || size > 4096) return 0;
    const struct tokenizer *t = fuzz_tok[(data[0] & 15) % N_VOCABS];
    int add_special = (data[0] >> 4) & 1, parse_special = (data[0] >> 5) & 1;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int32_t *ids = NULL;
    size_t n = 0;
    struct err e = {{0}};
    if (tokenizer_encode(t, text, len, add_special, parse_special, &ids, &n, &e)) {
        if (!e.msg[0]) abort();
    } else {
        for (size_t i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= tokenizer_n_vocab(t)) abort();
        decode_all(t, ids, n);
    }
    free(ids);
    /* the bytes as arbitrary ids, out-of-range and negative ones included */
    size_t k = len / 4;
    int32_t *raw = malloc((k ? k : 1) * sizeof *raw);
    if (raw) {
        memcpy(raw, text, k * sizeof *raw);
        for (size_t i = 0; i < k; i++)
            if (!(data[0] & 0x80)) raw[i] = (int32_t)((uint32_t)raw[i] % (uint32_t)(tokenizer_n_vocab(t) + 2)) - 1;
        decode_all(t, raw, k);
        free(raw);
    }
    return 0;
}

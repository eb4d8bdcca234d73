/* `omni tokenize`: prints the token ids of stdin's text for a model's vocabulary as
 * one JSON array line. Only the tokenizer is built; weights are never read, so
 * vocab-only GGUF files work too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "omni.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: omni tokenize -m MODEL [--no-special] < text.txt\n\n"
            "Reads all of standard input as UTF-8 text and prints its token ids for MODEL's\n"
            "vocabulary as one JSON array line, e.g. [1,15043,3186]. The ids are the ones\n"
            "llama.cpp gives (SentencePiece, byte-level BPE, WordPiece and unigram\n"
            "vocabularies).\n\n"
            "  -m, --model MODEL  a GGUF file (a full model or a vocab-only file), or the name\n"
            "                     of a model in the store (see omni list)\n"
            "  --no-special       add no BOS/EOS and spell out text such as \"<|im_start|>\"\n"
            "                     instead of turning it into that special token\n\n"
            "By default the vocabulary's BOS (and EOS, if it asks for one) is added and special-\n"
            "token text in the input becomes the special token, as llama-tokenize does.\n\n"
            "example: printf 'Hello world' | omni tokenize -m stories260K.gguf\n");
}

static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, stdin);
        n += got;
        if (got == 0) break;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); return NULL; }
            buf = nb;
            cap *= 2;
        }
    }
    if (buf && ferror(stdin)) { free(buf); return NULL; }
    *len = n;
    return buf;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL;
    int special = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && i + 1 < argc) model = argv[++i];
        else if (!strcmp(a, "--no-special")) special = 0;
        else return cli_fail("tokenize: unknown or incomplete option '%s' (see omni tokenize --help)", a);
    }
    if (!model) return cli_fail("tokenize: no model given; use -m MODEL (see omni tokenize --help)");

    char err[512], path[4096];
    if (!omni_store_resolve(model, path, sizeof path, err, sizeof err)) return cli_fail("tokenize: %s", err);
    omni_vocab *t = omni_vocab_load(path, err, sizeof err);
    if (!t) return cli_fail("tokenize: %s", err);

    size_t len = 0;
    char *text = read_stdin(&len);
    if (!text) { omni_vocab_free(t); return cli_fail("tokenize: cannot read standard input"); }
    int32_t *ids = NULL;
    int n = omni_vocab_tokenize(t, text, len, special, special, &ids, err, sizeof err);
    free(text);
    omni_vocab_free(t);
    if (n < 0) return cli_fail("tokenize: %s", err);
    putchar('[');
    for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
    puts("]");
    free(ids);
    return fflush(stdout) == 0 ? 0 : cli_fail("tokenize: cannot write the output");
}

/* omni_vocab: a tokenizer without its model (omni.h), for `omni tokenize` on full and
 * vocabulary-only GGUF files alike: the metadata is read, the weights never. */
#include <stdlib.h>

#include "formats/gguf.h"
#include "omni.h"
#include "text/tokenizer.h"

struct omni_vocab {
    struct tokenizer *tok;
};

omni_vocab *omni_vocab_load(const char *path, char *err, size_t err_size) {
    struct err e = {{0}};
    omni_vocab *v = calloc(1, sizeof *v);
    struct gguf *g = v ? gguf_open(path, &e) : NULL;
    if (!v) err_set(&e, "out of memory");
    if (g) v->tok = tokenizer_load(g, &e);
    gguf_close(g);
    if (!v || !v->tok) {
        err_copy(&e, err, err_size);
        free(v);
        return NULL;
    }
    return v;
}

void omni_vocab_free(omni_vocab *v) {
    if (!v) return;
    tokenizer_free(v->tok);
    free(v);
}

int omni_vocab_tokenize(const omni_vocab *v, const char *text, size_t len, int add_special, int parse_special,
                        int32_t **tokens, char *err, size_t err_size) {
    struct err e = {{0}};
    int32_t *ids = NULL;
    size_t n = 0;
    *tokens = NULL;
    if (tokenizer_encode(v->tok, text, len, add_special, parse_special, &ids, &n, &e)) {
        free(ids);
        return err_copy(&e, err, err_size);
    }
    if (n > (size_t)1 << 30) {
        free(ids);
        err_set(&e, "the text has too many tokens (%zu)", n);
        return err_copy(&e, err, err_size);
    }
    if (!n) {
        free(ids);
        ids = NULL;
    }
    *tokens = ids;
    return (int)n;
}

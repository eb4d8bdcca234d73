/* Prompt tokenization for the routes; see tokenize.h. */
#include "api/tokenize.h"

#include <stdlib.h>
#include <string.h>

int api_tokenize(const omni_model *m, const char *text, int add_special, int32_t **out) {
    size_t len = strlen(text);
    int cap = (int)len + 8;
    *out = malloc((size_t)cap * sizeof **out);
    if (!*out) return -1;
    int n = omni_tokenize(m, text, len, add_special, 1, *out, cap);
    if (n > cap) {
        int32_t *g = realloc(*out, (size_t)n * sizeof *g);
        if (!g) return -1;
        *out = g;
        n = omni_tokenize(m, text, len, add_special, 1, *out, n);
    }
    /* Chat templates usually spell out the BOS token themselves, and the tokenizer
     * adds one too; a model never wants two. A control token's text, tokenized
     * without special parsing, is several tokens — that tells BOS from plain text. */
    if (n >= 2 && (*out)[0] == (*out)[1]) {
        size_t bl = 0;
        const char *b = omni_token_text(m, (*out)[0], 1, &bl);
        int32_t probe[4];
        if (b && bl && omni_tokenize(m, b, bl, 0, 0, probe, 4) != 1) {
            memmove(*out, *out + 1, (size_t)(n - 1) * sizeof **out);
            n--;
        }
    }
    return n;
}

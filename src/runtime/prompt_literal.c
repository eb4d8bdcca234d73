/* Fencing message content as literal text; see prompt_literal.h. */
#include "runtime/prompt_literal.h"

#include <stdlib.h>
#include <string.h>

char *prompt_literal_fence(const char *content) {
    size_t n = strlen(content);
    char *out = malloc(n + 7), *w = out;
    if (!out) return NULL;
    memcpy(w, PROMPT_LITERAL_OPEN, 3), w += 3;
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && (!memcmp(content + i, PROMPT_LITERAL_OPEN, 3) || !memcmp(content + i, PROMPT_LITERAL_CLOSE, 3))) {
            i += 3;  /* a fence inside the content would end the literal early */
            continue;
        }
        *w++ = content[i++];
    }
    memcpy(w, PROMPT_LITERAL_CLOSE, 3), w += 3;
    *w = 0;
    return out;
}

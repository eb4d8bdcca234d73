/* Prompt lookup drafts; see lookup.h. A linear scan from the newest position back:
 * O(n x ngram) per call, well under the cost of one forward for any context here. */
#include "runtime/lookup.h"

#include <string.h>

int lookup_draft(const int32_t *hist, int n, int ngram_min, int ngram_max, int32_t *out, int max_out) {
    if (!hist || n < 2 || max_out <= 0) return 0;
    if (ngram_min < 1) ngram_min = 1;
    for (int g = ngram_max; g >= ngram_min; g--) {
        if (g >= n) continue;
        const int32_t *pat = hist + n - g;
        /* start i of an earlier occurrence: it ends before the pattern's own start
         * plus g - 1, so at least one token follows it (i + g < n) */
        for (int i = n - g - 1; i >= 0; i--) {
            if (hist[i] != pat[0] || memcmp(hist + i, pat, (size_t)g * sizeof *pat)) continue;
            /* what followed, read on into the guess itself when the match is so recent
             * that the history ends first: a repeating cycle keeps repeating */
            const int from = i + g;
            for (int j = 0; j < max_out; j++) out[j] = from + j < n ? hist[from + j] : out[from + j - n];
            return max_out;
        }
    }
    return 0;
}

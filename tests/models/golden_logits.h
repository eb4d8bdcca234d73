/* Reading logits in the golden tests: the top token and its lead over the runner-up,
 * which decides whether a reference's top-1 is meaningful enough to hold us to. */
#ifndef OMNI_TESTS_MODELS_GOLDEN_LOGITS_H
#define OMNI_TESTS_MODELS_GOLDEN_LOGITS_H
#include <math.h>

/* Index of the largest of x[0..n); *margin (optional): its lead over the second
 * (INFINITY when n == 1). Ties keep the lower index. */
static inline int argmax(const float *x, int n, float *margin) {
    int best = 0, second = -1;
    for (int i = 1; i < n; i++) {
        if (x[i] > x[best]) { second = best; best = i; }
        else if (second < 0 || x[i] > x[second]) second = i;
    }
    if (margin) *margin = second >= 0 ? x[best] - x[second] : INFINITY;
    return best;
}

#endif

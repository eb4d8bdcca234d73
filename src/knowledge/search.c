/* Nearest neighbours and rank fusion; see search.h. The top-k keeps a small sorted
 * array (k is tens): one pass over the vectors, no allocation. */
#include "knowledge/search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float dot(const float *a, const float *b, int n) {
    /* four partial sums: the compiler vectorises this loop without changing its order */
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

int kb_vec_topk(const float *vecs, const int64_t *ids, int n, int dim, const float *q, int k, struct kb_hit *out) {
    int m = 0;
    if (k <= 0) return 0;
    for (int i = 0; i < n; i++) {
        float s = dot(vecs + (size_t)i * dim, q, dim);
        if (m == k && !(s > out[m - 1].score)) continue;
        int j = m < k ? m++ : k - 1;
        while (j > 0 && out[j - 1].score < s) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = (struct kb_hit){ids ? ids[i] : i, s};
    }
    return m;
}

void kb_vec_normalize(float *v, int dim) {
    double s = 0;
    for (int i = 0; i < dim; i++) s += (double)v[i] * v[i];
    if (s <= 0) return;
    float inv = (float)(1.0 / sqrt(s));
    for (int i = 0; i < dim; i++) v[i] *= inv;
}

static int by_score(const void *a, const void *b) {
    const struct kb_hit *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int by_id(const void *a, const void *b) {
    const struct kb_hit *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

int kb_rrf(const struct kb_hit *const *lists, const int *lens, int n_lists, int k_rrf, struct kb_hit *out, int cap) {
    size_t total = 0;
    for (int l = 0; l < n_lists; l++) total += (size_t)(lens[l] > 0 ? lens[l] : 0);
    if (!total || cap <= 0) return 0;
    struct kb_hit *all = malloc(sizeof *all * total);
    if (!all) return -1;
    size_t n = 0;
    for (int l = 0; l < n_lists; l++)
        for (int r = 0; r < lens[l]; r++) all[n++] = (struct kb_hit){lists[l][r].id, 1.0f / (float)(k_rrf + r + 1)};
    qsort(all, n, sizeof *all, by_id);
    size_t u = 0;
    for (size_t i = 0; i < n; i++) {
        if (u && all[u - 1].id == all[i].id) all[u - 1].score += all[i].score;
        else all[u++] = all[i];
    }
    qsort(all, u, sizeof *all, by_score);
    int m = u < (size_t)cap ? (int)u : cap;
    memcpy(out, all, sizeof *out * (size_t)m);
    free(all);
    return m;
}

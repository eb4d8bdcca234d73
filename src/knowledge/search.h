/* The retrieval arithmetic of knowledge search: brute-force nearest neighbours over
 * L2-normalised vectors (a dot product is the cosine; fine to about a million chunks on
 * one core, see bench), and reciprocal-rank fusion of several ranked lists (dense and
 * keyword) into one, as hybrid search does before the reranker. Pure functions:
 * thread-safe. */
#ifndef OMNI_KNOWLEDGE_SEARCH_H
#define OMNI_KNOWLEDGE_SEARCH_H
#include <stddef.h>
#include <stdint.h>

struct kb_hit {
    int64_t id;     /* the caller's id of the item */
    float score;    /* cosine, fused score, or the reranker's */
};

/* The k best of n vectors (row i of vecs, dim floats, id ids[i]) by dot product with q,
 * best first, into out; returns how many (min(k, n)). Ties keep the lower index first. */
int kb_vec_topk(const float *vecs, const int64_t *ids, int n, int dim, const float *q, int k, struct kb_hit *out);

/* Scales v to unit length in place (a zero vector stays zero). */
void kb_vec_normalize(float *v, int dim);

/* Reciprocal-rank fusion: each list ranked best first; an item's score is the sum over
 * the lists that hold it of 1 / (k_rrf + rank), rank from 1 (k_rrf 60 is the usual
 * choice). Writes at most cap fused hits, best first (ties by id), returns the count;
 * -1 when out of memory. */
int kb_rrf(const struct kb_hit *const *lists, const int *lens, int n_lists, int k_rrf, struct kb_hit *out, int cap);

#endif

/* Retrieval arithmetic (src/knowledge/search.c): the top-k equals a full sort of the
 * cosines on random vectors, for every k; reciprocal-rank fusion scores and orders as its
 * formula says, and an item that ranks well in both lists beats one that tops only one. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "knowledge/search.h"

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x > y ? -1 : x < y;
}

TEST(topk_equals_full_sort) {
    enum { N = 2000, D = 97 };
    float *v = malloc(sizeof(float) * N * D), q[D], all[N];
    int64_t ids[N];
    REQUIRE(v, "out of memory");
    uint32_t r = 7;
    for (int i = 0; i < N * D; i++) r = r * 1664525u + 1013904223u, v[i] = (float)((r >> 8) % 2001) / 1000.0f - 1.0f;
    for (int i = 0; i < D; i++) r = r * 1664525u + 1013904223u, q[i] = (float)((r >> 8) % 2001) / 1000.0f - 1.0f;
    for (int i = 0; i < N; i++) kb_vec_normalize(v + (size_t)i * D, D), ids[i] = 1000 + i;
    kb_vec_normalize(q, D);
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int j = 0; j < D; j++) s += (double)v[(size_t)i * D + j] * q[j];
        all[i] = (float)s;
    }
    qsort(all, N, sizeof *all, cmp_desc);
    static const int ks[] = {1, 5, 10, 50, N, N + 5};
    for (size_t t = 0; t < sizeof ks / sizeof *ks; t++) {
        struct kb_hit *h = malloc(sizeof *h * (size_t)ks[t]);
        REQUIRE(h, "out of memory");
        int m = kb_vec_topk(v, ids, N, D, q, ks[t], h);
        CHECK_EQ_INT(m, ks[t] < N ? ks[t] : N);
        for (int i = 0; i < m; i++) {
            CHECK_NEAR(h[i].score, all[i], 1e-5);
            CHECK(h[i].id >= 1000 && h[i].id < 1000 + N);
            if (i) CHECK(h[i - 1].score >= h[i].score);
        }
        free(h);
    }
    float z[3] = {0, 0, 0};
    kb_vec_normalize(z, 3);
    CHECK(z[0] == 0 && z[1] == 0 && z[2] == 0);
    free(v);
}

TEST(reciprocal_rank_fusion) {
    const struct kb_hit dense[] = {{1, .9f}, {2, .8f}, {3, .7f}};
    const struct kb_hit keyword[] = {{4, 12}, {2, 9}, {5, 3}};
    const struct kb_hit *lists[] = {dense, keyword};
    int lens[] = {3, 3};
    struct kb_hit out[10];
    int m = kb_rrf(lists, lens, 2, 60, out, 10);
    REQUIRE(m == 5, "fused %d", m);
    CHECK_EQ_INT(out[0].id, 2);  /* second in both beats first in one */
    CHECK_NEAR(out[0].score, 1.0 / 62 + 1.0 / 62, 1e-7);
    CHECK_NEAR(out[1].score, 1.0 / 61, 1e-7);
    CHECK_EQ_INT(out[1].id, 1);  /* ties (1 and 4) by id */
    CHECK_EQ_INT(out[2].id, 4);
    CHECK_EQ_INT(kb_rrf(lists, lens, 2, 60, out, 2), 2);
    int none[] = {0, 0};
    CHECK_EQ_INT(kb_rrf(lists, none, 2, 60, out, 10), 0);
}

int main(void) {
    TEST_EXPECT(2);
    RUN(topk_equals_full_sort);
    RUN(reciprocal_rank_fusion);
    return test_summary();
}

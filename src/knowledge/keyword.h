/* The keyword half of hybrid search: which passages contain the query's words, scored
 * the way a trigram full-text index (SQLite FTS5 trigram) finds them, so it works for
 * Korean and other text that whitespace does not split into words: a query term of 3+
 * characters matches through its character trigrams (a passage holding most of them
 * ranks high, "설치하기" still finds "설치하는"), a 1-2 character term as a substring.
 * Each trigram weighs its inverse document frequency over the passages searched (rare
 * words count more, BM25's idf), and a term found whole adds its own weight again.
 * ASCII letters compare case-insensitively. Pure function: thread-safe. */
#ifndef OMNI_KNOWLEDGE_KEYWORD_H
#define OMNI_KNOWLEDGE_KEYWORD_H
#include "knowledge/search.h"

/* Scores texts[0..n) against query; writes the passages with a score > 0, best first
 * (ties by lower index), id = the passage's index, at most cap of them; returns how
 * many, or -1 when out of memory. */
int kb_keyword_rank(const char *query, const char *const *texts, int n, struct kb_hit *out, int cap);

#endif

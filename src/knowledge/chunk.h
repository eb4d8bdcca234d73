/* A document's blocks (doc.h) cut into passages for retrieval, by structure first: a
 * heading always starts a new chunk and each chunk remembers its heading path
 * ("제품 설명서 > 1장 설치") and pages, so an answer can cite "manual.pdf, p. 3, 1장
 * 설치"; paragraphs and table rows fill a chunk up to a token budget; a paragraph larger
 * than the budget is cut at sentence ends (then at blanks, then at a character); the
 * next chunk of the same section repeats the last sentences of the one before, up to
 * the overlap budget, so a fact that straddles the cut is whole in one of them.
 *
 * Tokens are counted by the caller's function (the embedding model's tokenizer), or
 * estimated: a Hangul/CJK character ~ 1 token, other text ~ 4 characters a token. */
#ifndef OMNI_KNOWLEDGE_CHUNK_H
#define OMNI_KNOWLEDGE_CHUNK_H
#include "knowledge/doc.h"

typedef int (*kb_token_count)(const char *s, size_t n, void *user);

struct kb_chunk_params {
    int max_tokens;         /* per chunk (default 400) */
    int overlap_tokens;     /* repeated from the chunk before in the same section (default 60) */
    kb_token_count count;   /* NULL: the estimate above */
    void *count_user;
};
struct kb_chunk_params kb_chunk_default_params(void);

struct kb_chunk {
    char *text;             /* the passage: its blocks, blank-line separated */
    char *heading;          /* the heading path, " > " joined, or NULL before any heading */
    int page_first, page_last;  /* 0 when the format has no pages */
    int block_first, block_last;  /* the blocks it covers (an overlap reaches back into the previous) */
    int n_tokens;
};

/* 0 with *out (kb_chunks_free) and *n, or -1 with e (out of memory). */
int kb_chunk_doc(const struct kb_doc *d, const struct kb_chunk_params *p, struct kb_chunk **out, int *n, struct err *e);
void kb_chunks_free(struct kb_chunk *c, int n);
/* The estimate, for callers without a tokenizer. */
int kb_estimate_tokens(const char *s, size_t n);

#endif

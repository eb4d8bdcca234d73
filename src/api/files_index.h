/* Knowledge for the Files, Vector Stores and Responses APIs: the background indexer
 * that turns a file attached to a vector store into embedded chunks, and the hybrid
 * search over a user's stores that /v1/vector_stores/{id}/search and the file_search
 * tool of /v1/responses share.
 *
 * Indexing (one worker thread per server, jobs in order): the file's bytes from storage
 * -> knowledge/doc.h extraction (format by magic and name) -> knowledge/chunk.h chunks
 * (the request's static max_chunk_size_tokens / chunk_overlap_tokens, or "auto": the
 * structural chunker's defaults), tokens counted by the embedding model's own tokenizer
 * -> vectors from the server's embedding model (--embedding-model, else the registry's
 * first embedding model) -> chunks + vectors stored and the attachment "completed" in
 * one transaction; any failure is "failed" with last_error {code, message}. Attachments
 * still in_progress when the server starts (a restart mid-indexing) are queued again.
 *
 * Search: the stores' chunks (filtered on their file's attributes) ranked twice, by
 * cosine to the query's vector (knowledge/search.h) and by keywords (knowledge/keyword.h,
 * trigram matching that works for Korean), fused by weighted reciprocal rank (k = 60). The score
 * reported is the fused score over its maximum (1: first in both lists), 0..1 like
 * OpenAI's; with a reranker, the best of the fusion are reordered by it and scored by its
 * sigmoid (see api_fs_query.rerank). */
#ifndef OMNI_API_FILES_INDEX_H
#define OMNI_API_FILES_INDEX_H
#include <cJSON.h>

#include "api/routes.h"

struct api_indexer;

/* Starts the worker of server s (its store from s->p.auth); NULL when accounts are off
 * or the thread cannot start. Queues the attachments left in_progress. */
struct api_indexer *api_indexer_start(struct api_server *s);
/* Stops the worker after the job it is on (jobs left stay in_progress in storage and are
 * taken up at the next start). NULL is fine. */
void api_indexer_stop(struct api_indexer *ix);
/* Queues the attachment (vs_id, file_id) of user_id. 0, or -1 out of memory. */
int api_indexer_enqueue(struct api_indexer *ix, const char *user_id, const char *vs_id, const char *file_id);
/* Waits (test and CLI use) until the queue is empty and the worker idle. */
void api_indexer_wait_idle(struct api_indexer *ix);

/* One file made ready for a vector store, as the indexer does it: extracted, chunked
 * (chunking: the stored strategy JSON, NULL or "" auto), embedded with emb. rows point
 * into chunks and vecs (store_chunks_put takes them as they are). */
struct kb_chunk;
struct store_chunk;
struct api_indexed {
    struct kb_chunk *chunks;
    int n, dim, n_pages;
    float *vecs;               /* n x dim, unit length */
    struct store_chunk *rows;
};
/* 0, or -1 with code ("unsupported_file", "invalid_file", "server_error") and msg. */
int api_index_bytes(omni_embedder *emb, const char *filename, const void *data, size_t n, const char *chunking,
                    struct api_indexed *out, char *code, size_t code_cap, char *msg, size_t msg_cap);
void api_indexed_free(struct api_indexed *x);

/* A chunking_strategy object (NULL: auto) checked and resolved into its JSON text as
 * stored and answered: {"type":"auto"} or {"type":"static","static":{...}}. 0, or -1
 * with msg (the 400's message). */
int api_chunking_resolve(const cJSON *strategy, char *out, size_t cap, char *msg, size_t msg_cap);
/* The stored text back as the object the API answers (caller frees). */
cJSON *api_chunking_json(const char *stored);
/* o.last_error of a vector-store file: {code, message} when it failed, else null. */
struct store_vsfile;
void api_vsfile_last_error(cJSON *o, const struct store_vsfile *f);

/* A filters object (OpenAI's comparison {type: eq|ne|gt|gte|lt|lte|in|nin, key, value}
 * or compound {type: and|or, filters: [...]}) is well-formed: 0, or -1 with msg. */
int api_filter_check(const cJSON *f, char *msg, size_t cap);
/* 1 when attributes (a JSON object) pass f (NULL passes everything). */
int api_filter_match(const cJSON *f, const cJSON *attributes);

struct api_fs_hit {
    char file_id[64];
    char filename[256];
    double score;
    char *text, *heading;      /* heap */
    int page_first, page_last;
    cJSON *attributes;         /* owned */
};
struct api_fs_query {
    const char *query;
    int max_results;           /* 1..50 */
    const cJSON *filters;      /* checked with api_filter_check, or NULL */
    double score_threshold;    /* 0..1 */
    /* ranking_options.hybrid_search: the weights of the two rankings in the fusion
     * (default 1 and 1; 0 leaves one out) */
    double embedding_weight, text_weight;
    /* ranking_options.ranker other than "none": with a reranker on the server (--rerank-model,
     * api_embed_get), the best max(20, max_results) of the fusion are reordered by it and
     * scored by its logit through a sigmoid (what score_threshold then compares) */
    int rerank;
};
/* Searches the user's stores. 0 with *out (api_fs_hits_free) and *n, or an HTTP status
 * with code and msg (400 no embedding model / mismatched vectors, 404 a store that is not
 * the user's, 500 storage). */
int api_fs_search(struct api_server *s, const char *user_id, const char *const *vs_ids, int n_vs,
                  const struct api_fs_query *q, struct api_fs_hit **out, int *n, char *code, size_t code_cap, char *msg,
                  size_t msg_cap);
void api_fs_hits_free(struct api_fs_hit *h, int n);

/* The model search embeds with (rerank 0) or reranks with (rerank 1), held until
 * api_embed_put: 0, or -1 with msg (the server has none). */
struct api_embed_hold {
    omni_embedder *emb;
    omni_registry_ref ref;
    int held;
};
int api_embed_get(struct api_server *s, int rerank, struct api_embed_hold *h, char *msg, size_t cap);
void api_embed_put(struct api_server *s, struct api_embed_hold *h);

/* For the routes (routes_files.c, routes_vector_stores.c). */
struct store;
struct store_file;
/* The request's user and the store: 0, or the status of the refusal written (accounts
 * off: 404; a principal without a user, e.g. a server-wide key: 401). */
int api_files_user(struct api_server *s, struct mg_connection *c, struct store **st, const char **user_id);
/* The largest upload (api_params.max_file, default 32 MiB). */
size_t api_files_max(const struct api_server *s);
cJSON *api_file_json(const struct store_file *f);
/* An upload's knowledge format (enum kb_format) by magic and name, text kinds (.json,
 * .py, …) as txt; -1 when search cannot read it. */
int api_file_format(const char *filename, const void *data, size_t n);

#endif

/* Storage for the Files and Vector Stores APIs (OpenAI's /v1/files, /v1/vector_stores):
 * uploaded files (their bytes in the database, so they are as durable as the rest and go
 * with the account: ON DELETE CASCADE from users), vector stores, the files attached to
 * a store with their indexing status, and the chunks of each attached file with their
 * embeddings (float32, in the database: no separate vector server; search loads a store's
 * chunks and ranks them in memory, see knowledge/search.h).
 *
 * Conventions as storage.h: 0 or a negative STORE_* code with e set; everything is
 * scoped by the caller's user id (another user's id is STORE_NOTFOUND); times in ms.
 * Bytes and vectors travel as base64 text so the same SQL runs on SQLite and PostgreSQL.
 *
 * Tables (migration 3 in storage.c): files, file_data, vector_stores, vs_files, vs_chunks. */
#ifndef OMNI_STORAGE_FILES_H
#define OMNI_STORAGE_FILES_H
#include <stddef.h>
#include <stdint.h>

#include "storage/storage.h"

#define STORE_META_MAX 10240   /* metadata / attributes JSON (16 pairs of 64 + 512 bytes, escaped) */
#define STORE_PURPOSE_MAX 32
#define STORE_ERRMSG_MAX 1024

/* ---- files ---- */

struct store_file {
    char id[STORE_ID_MAX];              /* "file-…" */
    char user_id[STORE_ID_MAX];
    char filename[STORE_NAME_MAX];
    char purpose[STORE_PURPOSE_MAX];    /* "assistants", "user_data", "batch", "fine-tune", "vision", "evals" */
    int64_t bytes, created;
};
/* Stores f (id generated; created 0: now) with its bytes; out (may be NULL) gets the row. */
int store_file_create(struct store *st, const struct store_file *f, const void *data, size_t n, struct store_file *out,
                      struct err *e);
int store_file_get(struct store *st, const char *user_id, const char *file_id, struct store_file *out, struct err *e);
/* The bytes (malloc'ed, NUL-terminated after n; free()). */
int store_file_content(struct store *st, const char *user_id, const char *file_id, void **data, size_t *n,
                       struct err *e);
struct store_file_query {
    const char *purpose;    /* NULL: all */
    const char *after;      /* a file id: list what comes after it in this order; NULL: from the start */
    int desc;               /* 1: newest first (the default order of OpenAI's list) */
    int64_t limit;          /* 1..10000 */
};
/* *out malloc'ed (free()); has_more: rows beyond these. */
int store_file_list(struct store *st, const char *user_id, const struct store_file_query *q, struct store_file **out,
                    size_t *n, int *has_more, struct err *e);
/* Deletes the file, its bytes and its place (and chunks) in every vector store. */
int store_file_delete(struct store *st, const char *user_id, const char *file_id, struct err *e);

/* ---- vector stores ---- */

struct store_vs {
    char id[STORE_ID_MAX];              /* "vs_…" */
    char user_id[STORE_ID_MAX];
    char name[STORE_NAME_MAX];
    char metadata[STORE_META_MAX];      /* a JSON object's text */
    int64_t created, last_active;
    int64_t expires_days;               /* expires_after {anchor: last_active_at, days}; 0: never */
    /* read back (store_vs_get/list): the files by status and the bytes of their chunks */
    int64_t n_in_progress, n_completed, n_failed, n_cancelled, usage_bytes;
};
int store_vs_create(struct store *st, const struct store_vs *v, struct store_vs *out, struct err *e);
int store_vs_get(struct store *st, const char *user_id, const char *vs_id, struct store_vs *out, struct err *e);
/* Name, metadata, expires_days from v (fields: STORE_VS_* bits). */
#define STORE_VS_NAME     (1u << 0)
#define STORE_VS_METADATA (1u << 1)
#define STORE_VS_EXPIRES  (1u << 2)
int store_vs_update(struct store *st, const char *user_id, const char *vs_id, const struct store_vs *v, unsigned fields,
                    struct err *e);
int store_vs_touch(struct store *st, const char *vs_id, int64_t now, struct err *e);
struct store_page {
    const char *after, *before;         /* ids, or NULL */
    int desc;                           /* order by created */
    int64_t limit;                      /* 1..100 */
};
int store_vs_list(struct store *st, const char *user_id, const struct store_page *p, struct store_vs **out, size_t *n,
                  int *has_more, struct err *e);
/* With its files' places and chunks (the files themselves stay). */
int store_vs_delete(struct store *st, const char *user_id, const char *vs_id, struct err *e);

/* ---- files in a vector store ---- */

struct store_vsfile {
    char vs_id[STORE_ID_MAX];
    char file_id[STORE_ID_MAX];
    char user_id[STORE_ID_MAX];
    char batch_id[STORE_ID_MAX];        /* "" = added alone */
    char status[16];                    /* "in_progress" | "completed" | "failed" | "cancelled" */
    char error_code[32];                /* failed: "server_error" | "unsupported_file" | "invalid_file" */
    char error_msg[STORE_ERRMSG_MAX];
    char attributes[STORE_META_MAX];    /* a JSON object's text */
    char chunking[256];                 /* the chunking_strategy JSON as resolved */
    int64_t created, usage_bytes;
};
/* Attaches the user's file to the user's store as in_progress (chunks of an earlier
 * attachment dropped). STORE_NOTFOUND when either is not the user's. */
int store_vsfile_add(struct store *st, const struct store_vsfile *f, struct err *e);
int store_vsfile_get(struct store *st, const char *user_id, const char *vs_id, const char *file_id,
                     struct store_vsfile *out, struct err *e);
struct store_vsfile_query {
    const char *status;                 /* NULL: any */
    const char *batch_id;               /* NULL: any */
    struct store_page page;
};
int store_vsfile_list(struct store *st, const char *user_id, const char *vs_id, const struct store_vsfile_query *q,
                      struct store_vsfile **out, size_t *n, int *has_more, struct err *e);
/* Detaches (the file stays), with its chunks. */
int store_vsfile_delete(struct store *st, const char *user_id, const char *vs_id, const char *file_id, struct err *e);
int store_vsfile_set_attributes(struct store *st, const char *user_id, const char *vs_id, const char *file_id,
                                const char *attributes, struct err *e);
/* Ends indexing as failed or cancelled (only while in_progress: else STORE_NOTFOUND). */
int store_vsfile_finish(struct store *st, const char *vs_id, const char *file_id, const char *status,
                        const char *error_code, const char *error_msg, struct err *e);
/* Cancels a batch's files still in progress. */
int store_vsfile_cancel_batch(struct store *st, const char *user_id, const char *vs_id, const char *batch_id,
                              struct err *e);
/* Every attachment still in_progress, any user (the indexer's queue after a restart);
 * *out malloc'ed. */
int store_vsfile_pending(struct store *st, struct store_vsfile **out, size_t *n, struct err *e);

/* ---- chunks ---- */

struct store_chunk {
    char *text;                         /* heap */
    char *heading;                      /* heap, "" when none */
    int page_first, page_last;
    int n_tokens;
    float *vec;                         /* dim floats, heap */
    int dim;
    /* read back by store_chunks_load */
    char file_id[STORE_ID_MAX];
    char filename[STORE_NAME_MAX];
    char *attributes;                   /* heap JSON text */
    int seq;
};
/* Stores the chunks of an attachment and marks it completed, in one transaction; only
 * while it is still in_progress (a file detached or cancelled meanwhile: STORE_NOTFOUND,
 * nothing written). */
int store_chunks_put(struct store *st, const char *vs_id, const char *file_id, const struct store_chunk *c, int n,
                     struct err *e);
/* Every chunk of the user's stores vs_ids[0..n_vs) with its file's name and attributes,
 * in (store, file, seq) order; *out malloc'ed (store_chunks_free). */
int store_chunks_load(struct store *st, const char *user_id, const char *const *vs_ids, int n_vs,
                      struct store_chunk **out, size_t *n, struct err *e);
void store_chunks_free(struct store_chunk *c, size_t n);

#endif

/* Custom assistants ("GPTs"): a named configuration (instructions, starters, models,
 * capabilities, knowledge, voice, sampling defaults, visibility) that a user builds and
 * others may use; every edit is a new version, and a conversation records which assistant
 * and which version it used. Stored next to the accounts (storage/storage.h's database,
 * tables of migration 3), on SQLite and PostgreSQL alike.
 *
 * The configuration is one JSON object (asst_config_check gives its normalised form, the
 * thing stored per version):
 *   {"name", "description", "instructions", "category", "starters":[…], "model", "models":[…],
 *    "capabilities":{"knowledge","data_analysis","voice": bool, "tools":[names]},
 *    "knowledge":{"file_ids":[…], "vector_store_ids":[…], "max_chunks", "threshold", "only_knowledge"},
 *    "voice", "sampling":{"temperature","top_p","top_k","max_tokens","presence_penalty",
 *    "frequency_penalty","seed"}, "visibility": "private"|"link"|"public"}
 * Unknown fields are refused (a typo must not silently do nothing).
 *
 * Conventions as storage.h: 0 or a negative STORE_* code with e set; another user's private
 * assistant is STORE_NOTFOUND for the routes (asst_visible decides). */
#ifndef OMNI_ASSISTANTS_ASSISTANTS_H
#define OMNI_ASSISTANTS_ASSISTANTS_H
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "omni.h"
#include "storage/storage.h"

#define ASST_NOT_USED   -10     /* asst_rate: the user has not used the assistant */
#define ASST_NAME_MAX   101     /* 100 bytes */
#define ASST_DESC_MAX   2001
#define ASST_INSTR_MAX  32001
#define ASST_STARTERS   8
#define ASST_STARTER_MAX 501
#define ASST_AVATAR_MAX (512 * 1024)            /* bytes of the image */
#define ASST_FILE_MAX   (16 * 1024 * 1024)      /* one bundled knowledge file */
#define ASST_FILES_MAX  32                      /* bundled knowledge files per assistant */
#define ASST_FILENAME_MAX 129

/* The categories of the store ("other" when none is given). */
extern const char *const asst_categories[];

struct asst {
    char id[STORE_ID_MAX];          /* "asst_…" */
    char user_id[STORE_ID_MAX];     /* the author */
    char author[STORE_NAME_MAX];    /* the author's name */
    char name[ASST_NAME_MAX];
    char category[32];
    char visibility[16];            /* "private" | "link" | "public" */
    char link_token[STORE_ID_MAX];  /* "lnk_…": GET by link */
    char avatar_type[32];           /* "" = none, else image/png | image/jpeg | image/gif */
    int version;                    /* the current one */
    int featured, hidden;
    int64_t uses;                   /* chats with it, everyone's */
    int64_t users;                  /* distinct users who chatted with it */
    int64_t conversations;          /* stored conversations that used it */
    int64_t rating_n;               /* ratings given */
    double rating;                  /* their mean (0: none) */
    int64_t created, updated;
    char *config;                   /* heap: the current version's JSON */
};
struct asst_list {
    struct asst *items;
    size_t n;
};
void asst_free(struct asst *a);
void asst_list_free(struct asst_list *l);

/* Checks a configuration and writes its normalised form (defaults filled in) to *out
 * (cJSON_Delete it). On a bad field: -1 with param ("sampling.temperature") and msg. */
int asst_config_check(const cJSON *in, cJSON **out, char param[64], char msg[256]);

/* A new assistant of user_id from config (a JSON object, checked here) at version 1. */
int asst_create(struct store *st, const char *user_id, const cJSON *config, struct asst *out, struct err *e);
/* The user's own assistant gets config as its next version. */
int asst_update(struct store *st, const char *user_id, const char *id, const cJSON *config, struct asst *out,
                struct err *e);
/* Whoever owns it (the caller decides visibility with asst_visible). */
int asst_get(struct store *st, const char *id, struct asst *out, struct err *e);
int asst_get_by_link(struct store *st, const char *token, struct asst *out, struct err *e);
/* user_id NULL: any owner (an admin removing it). Everything of it goes. */
int asst_delete(struct store *st, const char *user_id, const char *id, struct err *e);
/* What user (with role) may see: own, admin, or public and not hidden. by_link: reached
 * through its link token (then link assistants are visible too). */
int asst_visible(const struct asst *a, const char *user_id, const char *role, int by_link);
/* 1 when the user may see its instructions and knowledge: the author or an admin. */
int asst_is_editor(const struct asst *a, const char *user_id, const char *role);

/* Versions, newest first (config of each filled). */
int asst_versions(struct store *st, const char *id, struct asst_list *out, struct err *e);
/* One version's config (heap, free()). */
int asst_version_config(struct store *st, const char *id, int version, char **config, struct err *e);

/* The user's assistants, newest edit first. */
int asst_list_mine(struct store *st, const char *user_id, struct asst_list *out, struct err *e);

/* The store: public, not hidden (include_hidden for admins) assistants whose name,
 * description, starters or category contain every whitespace-separated term of q (substring,
 * ASCII case-insensitive; Korean works), in category ("" = all), sorted by
 * "featured" (featured first, then use), "popular" (use), "rating", or "new". */
struct asst_query {
    const char *q, *category, *sort;
    int include_hidden;
    int64_t offset, limit;          /* limit <= 0: 50; at most 200 */
};
int asst_store_list(struct store *st, const struct asst_query *q, struct asst_list *out, struct err *e);

/* Admin: feature / hide (-1: leave as is). */
int asst_admin_set(struct store *st, const char *id, int featured, int hidden, struct err *e);

/* Avatar: the image bytes (PNG, JPEG or GIF that decodes whole, at most 4096 x 4096 and
 * ASST_AVATAR_MAX bytes); n 0 removes it. Get: *data heap (free()), *n 0 when none. */
int asst_set_avatar(struct store *st, const char *user_id, const char *id, const void *data, size_t n, struct err *e);
int asst_get_avatar(struct store *st, const char *id, char mime[32], unsigned char **data, size_t *n, struct err *e);
/* The image type of bytes (by their signature), or NULL when none we take. */
const char *asst_image_type(const unsigned char *p, size_t n);
/* The type when the bytes are an avatar we take (size, signature, and the whole image
 * decodes), else NULL with e set. */
const char *asst_avatar_check(const unsigned char *p, size_t n, struct err *e);

/* A chat with it: counts a use by user_id and, with conv_id, records (in the same
 * transaction) that the conversation uses this assistant at `version` and sets the
 * conversation's assistant_id. */
int asst_record_use(struct store *st, const char *id, int version, const char *user_id, const char *conv_id,
                    struct err *e);
/* Which assistant and version a conversation used ("" / 0 when none). */
int asst_conv_get(struct store *st, const char *conv_id, char id[STORE_ID_MAX], int *version, struct err *e);

/* Ratings: 1..5 and a review (<= 1000 bytes), one per user (a second replaces it), only
 * from users who used it (ASST_NOT_USED). */
int asst_rate(struct store *st, const char *id, const char *user_id, int stars, const char *review, struct err *e);
struct asst_review {
    char user_name[STORE_NAME_MAX];
    int stars;
    char *review;
    int64_t rated;
};
int asst_reviews(struct store *st, const char *id, struct asst_review **out, size_t *n, struct err *e);
void asst_reviews_free(struct asst_review *r, size_t n);

/* Knowledge files bundled with the assistant (what a bundle carries): name (a plain file
 * name, [A-Za-z0-9._ -] and UTF-8 letters, no path), bytes, their SHA-256. */
struct asst_file {
    char name[ASST_FILENAME_MAX];
    char mime[64];
    char sha256[65];
    int64_t size;
    unsigned char *data;            /* heap; NULL in listings */
};
int asst_file_put(struct store *st, const char *user_id, const char *id, const char *name, const char *mime,
                  const void *data, size_t n, struct err *e);
int asst_file_delete(struct store *st, const char *user_id, const char *id, const char *name, struct err *e);
/* with_data: fill data too. */
int asst_files(struct store *st, const char *id, int with_data, struct asst_file **out, size_t *n, struct err *e);
void asst_files_free(struct asst_file *f, size_t n);
/* A knowledge file about to be added: when its name or bytes say it is a format search
 * reads (knowledge/doc.h), its text must come out (a broken or scanned PDF, a zip bomb,
 * invalid UTF-8 get the extractor's one-line reason, STORE_INVALID); other files are
 * carried as they are. 0 or STORE_INVALID with e set. */
int asst_file_check(const char *name, const void *data, size_t n, struct err *e);
/* 1 when name is a plain file name we keep. */
int asst_file_name_ok(const char *name);

/* Retrieval over the bundled knowledge files (knowledge.c): every file src/knowledge reads
 * (TXT, Markdown, PDF, DOCX, HWPX, HTML, CSV) is extracted and chunked (headings and pages
 * kept), then ranked twice -- by keywords (knowledge/keyword.h: character trigrams, which
 * work for Korean where whitespace does not split words, as an FTS5 trigram index finds
 * them) and, with an embedding model, by cosine to the question's vector (each chunk
 * embedded once, when the index of the files is built) -- and the two rankings fused by
 * reciprocal rank (k 60). With a reranker (a cross-encoder), the best ASST_RERANK_TOP of
 * the fused list are scored against the question and reordered by it. The k best whose
 * relevance is at least threshold come best first.
 *
 * Relevance (0..1, what threshold compares): the reranker's logit through a sigmoid when
 * one ran; else the larger of the share of the question's character bigrams the chunk
 * holds and its cosine to the question (0 without an embedding model). */
#define ASST_RERANK_TOP 20
struct asst_retrieval {
    int k;                          /* 1..50 passages */
    double threshold;               /* 0..1 */
    omni_embedder *embedder;        /* dense half, or NULL: keywords only */
    omni_embedder *reranker;        /* a rerank model (omni_embedder_can_rerank), or NULL */
    int mode;                       /* ASST_RANK_*: both rankings (0), or one of them alone */
};
enum { ASST_RANK_HYBRID = 0, ASST_RANK_KEYWORD = 1, ASST_RANK_DENSE = 2 };
struct asst_passage {
    char file[ASST_FILENAME_MAX];
    int page;                       /* 0: the format has none */
    char *heading;                  /* heading path or NULL */
    char *text;
    int chunk;                      /* its index in the file */
    double score;                   /* relevance, 0..1 (above) */
    int keyword_rank, dense_rank;   /* 1-based place in each ranking, 0 = not in it */
    int reranked;                   /* 1: score is the reranker's */
    double rerank_score;            /* its raw logit */
};
/* method (optional, 24 bytes): "keyword", "dense", "hybrid", each with "+rerank" when the
 * reranker ran. ASST_RANK_DENSE without an embedding model finds nothing. */
int asst_knowledge_search(struct store *st, const char *id, const char *query, const struct asst_retrieval *r,
                          struct asst_passage **out, int *n, char method[24], struct err *e);
void asst_passages_free(struct asst_passage *p, int n);
/* The system-message text that gives the passages to the model, numbered for citations
 * ("[1] manual.pdf, p. 3, 1장 > 보증"); only_knowledge adds the answer-only-from-them rule. */
char *asst_knowledge_context(const struct asst_passage *p, int n, int only_knowledge);

/* SHA-256 of bytes as 64 lowercase hex digits. */
void asst_sha256_hex(const void *data, size_t n, char out[65]);

#endif

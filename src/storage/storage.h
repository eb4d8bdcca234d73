/* Storage for the server's accounts, conversations, keys, usage, limits and feedback:
 * one interface, two back ends chosen by URL.
 *
 *   sqlite:PATH                       (the default, $OMNI_HOME/omni.db; WAL, foreign keys
 *                                      on, synchronous=NORMAL: a write that returned 0 is in
 *                                      the WAL file and survives kill -9 of the process;
 *                                      nothing is ever corrupted)
 *   sqlite:PATH?synchronous=full      (each commit also fsynced: survives a power cut or
 *                                      OS crash; costs one fsync per write)
 *   postgres://USER@HOST:PORT/DB?...  (or postgresql://…, or any libpq conninfo string
 *                                      starting "postgres:"; several `omni serve` replicas
 *                                      may share one database)
 *
 * Why one interface: the HTTP layer (src/api, src/auth) is written once, and the same test
 * suite (tests/storage/test_storage.c) runs against both back ends.
 *
 * Conventions
 * - Every function that can fail returns 0 on success or a negative STORE_* code and, for
 *   a negative code, writes a message into the caller's struct err (core/error.h; e may be
 *   NULL). Out of memory is STORE_ERR, never an abort.
 * - Everything a user owns is looked up "scoped": the caller passes the user id it
 *   authenticated, and a row of another user behaves exactly as a missing one
 *   (STORE_NOTFOUND), so ids reveal nothing (answer 404).
 * - Times are int64 Unix milliseconds (UTC). A time of 0 given to a create function means
 *   "now". Days (usage) are "YYYY-MM-DD" in UTC.
 * - Ids are generated here (store_new_id): a prefix, "_", then 22 URL-safe base64
 *   characters of 128 bits from the kernel's CSPRNG (getrandom), e.g. "conv_3q2…".
 * - Strings in the structs are NUL-terminated fixed arrays; a value longer than its field
 *   is refused on write with STORE_INVALID (so what is read back always fits). Message
 *   content, comments and snapshots are heap strings owned by the struct (free with the
 *   matching *_free function).
 *
 * Thread safety: a struct store is safe to use from any number of threads at once. It keeps
 * a small pool of connections (STORE_POOL_MAX) behind a mutex; each call borrows one for
 * its duration, so a call is one round of statements on one connection and, where it
 * writes more than one row, one transaction. Several processes may open the same SQLite
 * file or PostgreSQL database: writes that must be atomic across replicas (usage
 * increments, limit counters, first-user-is-admin, migrations) are done in one statement
 * or under a lock the database holds (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory
 * transaction lock).
 *
 * A PostgreSQL connection that breaks (server restart) fails the call it was in with
 * STORE_ERR and is dropped; the next call opens a new one.
 *
 * Schema (migrations in storage.c): users, sessions, api_keys, conversations, messages (a
 * tree: parent_id; FTS5 trigram index on SQLite, pg_trgm GIN on PostgreSQL), usage_daily,
 * limit_events, feedback, schema_version; user_settings, server_settings, memories and
 * message_meta (storage/prefs.h). Everything a user owns references users(id) ON
 * DELETE CASCADE (directly or through conversations/messages). */
#ifndef OMNI_STORAGE_STORAGE_H
#define OMNI_STORAGE_STORAGE_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* ---- return codes ---- */
#define STORE_OK        0
#define STORE_ERR      -1   /* database or I/O failure, out of memory */
#define STORE_NOTFOUND -2   /* no such row, or it belongs to another user */
#define STORE_CONFLICT -3   /* a unique value is taken (email, key hash, share token) */
#define STORE_INVALID  -4   /* bad argument: too long, unknown role/status, empty id … */

#define STORE_POOL_MAX 8    /* connections per struct store */

/* field sizes (bytes, NUL included) */
#define STORE_ID_MAX    48
#define STORE_EMAIL_MAX 256
#define STORE_NAME_MAX  256
#define STORE_HASH_MAX  256  /* password hash string (crypto_pwhash_STRBYTES = 128), token/key hashes */
#define STORE_ROLE_MAX  16
#define STORE_TIER_MAX  64
#define STORE_MODEL_MAX 256
#define STORE_TITLE_MAX 1024
#define STORE_MODELS_MAX 1024
#define STORE_DAY_MAX   11   /* "YYYY-MM-DD" */

struct store;   /* opaque: the pool of connections and the back end */

/* ---- open, close ---- */

/* Opens "sqlite:PATH" or "postgres://…"/"postgresql://…" (a libpq URI) and applies the
 * migrations this build knows (each in one transaction, recorded in schema_version; a
 * second open, or a second replica, applies nothing). A database from a newer omni
 * (a schema version above ours) is refused. */
int store_open(const char *url, struct store **out, struct err *e);
/* Opens sqlite:HOME_DIR/omni.db, creating HOME_DIR (mkdir -p) if needed. The caller finds
 * the folder (e.g. $OMNI_HOME); storage does not read the environment. */
int store_open_default(const char *home_dir, struct store **out, struct err *e);
void store_close(struct store *st);
/* "sqlite" or "postgres" */
const char *store_backend(const struct store *st);
/* The schema version now in the database (the highest migration applied). */
int store_schema_version(struct store *st, int *version, struct err *e);
/* The newest schema version this build knows. */
int store_schema_latest(void);

/* ---- ids and time ---- */

/* prefix + "_" + 22 URL-safe characters (128 random bits). cap >= strlen(prefix) + 24. */
int store_new_id(const char *prefix, char *buf, size_t cap, struct err *e);
/* Fills buf with n random bytes from the CSPRNG (for tokens). */
int store_random(void *buf, size_t n, struct err *e);
int64_t store_now_ms(void);
/* "YYYY-MM-DD" (UTC) of a time in ms; buf has STORE_DAY_MAX bytes. */
void store_day(int64_t ms, char buf[STORE_DAY_MAX]);

/* ---- users ---- */

struct store_user {
    char id[STORE_ID_MAX];              /* "usr_…" */
    char email[STORE_EMAIL_MAX];        /* as given; unique ignoring ASCII case */
    char name[STORE_NAME_MAX];
    char password_hash[STORE_HASH_MAX]; /* opaque to storage ("" = no password login) */
    char role[STORE_ROLE_MAX];          /* "admin" | "trainer" | "user" */
    char tier[STORE_TIER_MAX];          /* a tier name from the tiers config, e.g. "free" */
    char status[STORE_ROLE_MAX];        /* "active" | "pending" | "disabled" */
    int consent;                        /* 1: the user allows their feedback/chats for training */
    int64_t created;
};

/* Creates a user. in->id empty: one is generated; in->created 0: now; role/tier/status
 * empty: "user" / "free" / "active". With STORE_FIRST_IS_ADMIN the user becomes "admin"
 * when the table is empty, checked and inserted atomically (two sign-ups racing on a fresh
 * install make exactly one admin, across replicas too). out (may be NULL) gets the row as
 * stored. STORE_CONFLICT: the email is taken. */
#define STORE_FIRST_IS_ADMIN 1u
int store_user_create(struct store *st, const struct store_user *in, unsigned flags,
                      struct store_user *out, struct err *e);
int store_user_get(struct store *st, const char *user_id, struct store_user *out, struct err *e);
/* Case-insensitive (ASCII) on the email. */
int store_user_get_by_email(struct store *st, const char *email, struct store_user *out, struct err *e);
/* Writes the fields named in `fields` (STORE_USER_* bits) from u, for the user u->id. */
#define STORE_USER_EMAIL    (1u << 0)
#define STORE_USER_NAME     (1u << 1)
#define STORE_USER_PASSWORD (1u << 2)
#define STORE_USER_ROLE     (1u << 3)
#define STORE_USER_TIER     (1u << 4)
#define STORE_USER_STATUS   (1u << 5)
#define STORE_USER_CONSENT  (1u << 6)
int store_user_update(struct store *st, const struct store_user *u, unsigned fields, struct err *e);
/* Deletes the user and everything of theirs (sessions, keys, conversations, messages,
 * usage, feedback, their limit counters): ON DELETE CASCADE in one transaction. */
int store_user_delete(struct store *st, const char *user_id, struct err *e);
/* Users ordered by creation (oldest first), from offset; *out is malloc'd (free()). */
int store_user_list(struct store *st, int64_t offset, int64_t limit, struct store_user **out,
                    size_t *n, struct err *e);
int store_user_count(struct store *st, int64_t *n, struct err *e);

/* ---- sessions (browser logins) ---- */

struct store_session {
    char token_hash[STORE_HASH_MAX];    /* the caller's hash of the cookie token (e.g. hex SHA-256) */
    char user_id[STORE_ID_MAX];
    int64_t created, expires, last_seen;
};
int store_session_create(struct store *st, const struct store_session *s, struct err *e);
/* STORE_NOTFOUND when missing or expired at `now` (an expired row is deleted). */
int store_session_get(struct store *st, const char *token_hash, int64_t now, struct store_session *out,
                      struct err *e);
/* Sets last_seen and, when expires > 0, a new expiry (sliding sessions). */
int store_session_touch(struct store *st, const char *token_hash, int64_t last_seen, int64_t expires,
                        struct err *e);
int store_session_delete(struct store *st, const char *token_hash, struct err *e);
/* Every session of the user (log out everywhere, password change). */
int store_session_delete_user(struct store *st, const char *user_id, struct err *e);
/* Removes sessions expired before now; *n (may be NULL) gets how many. */
int store_session_purge(struct store *st, int64_t now, int64_t *n, struct err *e);

/* ---- API keys ---- */

struct store_key {
    char id[STORE_ID_MAX];              /* "key_…" */
    char user_id[STORE_ID_MAX];
    char name[STORE_NAME_MAX];
    char prefix[32];                    /* the start of the key for masked listing ("sk-omni-ab12") */
    char key_hash[STORE_HASH_MAX];      /* unique */
    char models[STORE_MODELS_MAX];      /* allowed models, comma-separated; "" = all */
    int64_t created, last_used;         /* last_used 0: never */
    int64_t revoked;                    /* 0: active, else when it was revoked */
};
/* in->id empty: generated. STORE_CONFLICT: the hash exists. */
int store_key_create(struct store *st, const struct store_key *in, struct store_key *out, struct err *e);
/* By hash, whoever owns it (authentication); revoked keys are returned too (check revoked). */
int store_key_get_by_hash(struct store *st, const char *key_hash, struct store_key *out, struct err *e);
int store_key_get(struct store *st, const char *user_id, const char *key_id, struct store_key *out,
                  struct err *e);
/* The user's keys, newest first, revoked ones included; *out malloc'd (free()). */
int store_key_list(struct store *st, const char *user_id, struct store_key **out, size_t *n, struct err *e);
/* Marks revoked at `now` (0: now). STORE_NOTFOUND: not the user's, or already revoked. */
int store_key_revoke(struct store *st, const char *user_id, const char *key_id, int64_t now, struct err *e);
int store_key_touch(struct store *st, const char *key_id, int64_t last_used, struct err *e);

/* ---- conversations ---- */

struct store_conv {
    char id[STORE_ID_MAX];              /* "conv_…" */
    char user_id[STORE_ID_MAX];
    char title[STORE_TITLE_MAX];
    char model[STORE_MODEL_MAX];
    char assistant_id[STORE_ID_MAX];    /* "" = none (custom assistants) */
    char share_token[STORE_ID_MAX];     /* "" = not shared; unique */
    char current_leaf[STORE_ID_MAX];    /* the message the conversation shows now; "" = empty */
    int64_t created, updated;           /* updated: last change or message */
    int archived, pinned;
};
/* in->user_id is the owner (must exist: else STORE_NOTFOUND). id empty: generated. */
int store_conv_create(struct store *st, const struct store_conv *in, struct store_conv *out, struct err *e);
int store_conv_get(struct store *st, const char *user_id, const char *conv_id, struct store_conv *out,
                   struct err *e);
/* By share token, whoever owns it (read-only shared links; read its messages with
 * store_msg_path/_tree scoped by the returned conv.user_id). */
int store_conv_get_shared(struct store *st, const char *share_token, struct store_conv *out, struct err *e);

struct store_conv_query {
    int archived;     /* -1: all, 0: only not archived (the usual list), 1: only archived */
    int pinned;       /* -1: all, 0: only not pinned, 1: only pinned */
    int64_t offset;
    int64_t limit;    /* <= 0: 50; at most 1000 */
};
struct store_conv_list {
    struct store_conv *items;
    size_t n;
    int has_more;     /* more rows after these */
};
/* The user's conversations, newest `updated` first (ties by id). */
int store_conv_list(struct store *st, const char *user_id, const struct store_conv_query *q,
                    struct store_conv_list *out, struct err *e);
void store_conv_list_free(struct store_conv_list *l);

#define STORE_CONV_TITLE     (1u << 0)
#define STORE_CONV_ARCHIVED  (1u << 1)
#define STORE_CONV_PINNED    (1u << 2)
#define STORE_CONV_MODEL     (1u << 3)
#define STORE_CONV_ASSISTANT (1u << 4)
#define STORE_CONV_SHARE     (1u << 5)   /* share_token: "" un-shares */
/* Writes the fields named by `fields` from c into the user's conversation conv_id and sets
 * updated to now (title/model/assistant/share) — archiving and pinning keep `updated`. */
int store_conv_update(struct store *st, const char *user_id, const char *conv_id, const struct store_conv *c,
                      unsigned fields, struct err *e);
/* Deletes it with all its messages and their feedback. */
int store_conv_delete(struct store *st, const char *user_id, const char *conv_id, struct err *e);

/* ---- messages: a tree per conversation ----
 * A message has a parent ("" for the first one). An edited question is a new child of the
 * edited question's parent (a sibling), a regenerated answer a new child of the question:
 * nothing is ever overwritten, and the branch shown is the path from the root to the
 * conversation's current leaf. */

struct store_msg {
    char id[STORE_ID_MAX];              /* "msg_…" */
    char conv_id[STORE_ID_MAX];
    char parent_id[STORE_ID_MAX];       /* "" = root */
    char role[STORE_ROLE_MAX];          /* "system" | "user" | "assistant" | "tool" */
    char *content;                      /* heap: text or JSON (OpenAI content parts); searchable text is
                                         * the string itself, or for JSON the "text" parts / a JSON string */
    char model[STORE_MODEL_MAX];
    char status[STORE_ROLE_MAX];        /* "finished" | "partial" (a stream still being written or cut) */
    int64_t created;
    int64_t prompt_tokens, cached_tokens, completion_tokens;
};
struct store_msgs {
    struct store_msg *items;
    size_t n;
};
void store_msg_free(struct store_msg *m);      /* frees m->content */
void store_msgs_free(struct store_msgs *l);

/* Adds in (conv_id, parent_id, role, content … of the user's conversation) as a new
 * message; id empty: generated; status empty: "finished". In one transaction: checks the
 * conversation is the user's and the parent is in it, inserts, indexes the text, sets the
 * conversation's updated and (unless STORE_MSG_KEEP_LEAF) its current leaf to the new
 * message. out_id (may be NULL, STORE_ID_MAX bytes) gets the id. */
#define STORE_MSG_KEEP_LEAF 1u
int store_msg_add(struct store *st, const char *user_id, const struct store_msg *in, unsigned flags,
                  char *out_id, struct err *e);
struct store_usage;
/* The same, and in the same transaction adds usage (as store_usage_add; NULL: none): an
 * answer and what it cost are stored together, with one commit (one fsync) for both. */
int store_msg_add_usage(struct store *st, const char *user_id, const struct store_msg *in, unsigned flags,
                        const struct store_usage *usage, char *out_id, struct err *e);
/* Rewrites a message's content, status and token counts (a streamed answer: add it
 * "partial", update as it grows, finish with "finished"). */
int store_msg_update(struct store *st, const char *user_id, const char *msg_id, const char *content,
                     const char *status, int64_t prompt_tokens, int64_t cached_tokens,
                     int64_t completion_tokens, struct err *e);
int store_msg_get(struct store *st, const char *user_id, const char *msg_id, struct store_msg *out,
                  struct err *e);
/* Every message of the conversation (the whole tree), in insertion order (a parent always
 * comes before its children). */
int store_msg_tree(struct store *st, const char *user_id, const char *conv_id, struct store_msgs *out,
                   struct err *e);
/* The path root → leaf (leaf_id NULL or "": the current leaf), in order. */
int store_msg_path(struct store *st, const char *user_id, const char *conv_id, const char *leaf_id,
                   struct store_msgs *out, struct err *e);
/* Sets the conversation's current leaf (a message of that conversation; "" clears). */
int store_conv_set_leaf(struct store *st, const char *user_id, const char *conv_id, const char *msg_id,
                        struct err *e);

/* ---- search ----
 * The user's conversations whose title or any message contains every whitespace-separated
 * term of q (substring match, ASCII case-insensitive; Korean works: SQLite FTS5 with the
 * trigram tokenizer for terms of 3+ characters and LIKE for 1–2 character terms;
 * PostgreSQL ILIKE, indexed by pg_trgm when the extension could be created), newest first.
 * Each hit carries the newest matching message (msg_id "" when only the title matched)
 * and a snippet of its text around the first term (heap, UTF-8 safe, <= ~200 bytes). */
struct store_hit {
    struct store_conv conv;
    char msg_id[STORE_ID_MAX];
    char *snippet;
};
struct store_hits {
    struct store_hit *items;
    size_t n;
};
/* archived: as in store_conv_query; limit <= 0: 50. Empty q: STORE_INVALID. */
int store_search(struct store *st, const char *user_id, const char *q, int archived, int64_t limit,
                 struct store_hits *out, struct err *e);
void store_hits_free(struct store_hits *h);

/* ---- usage ---- */

struct store_usage {
    char user_id[STORE_ID_MAX];
    char key_id[STORE_ID_MAX];          /* "" = used through the app (a session), not a key */
    char model[STORE_MODEL_MAX];
    char day[STORE_DAY_MAX];            /* "YYYY-MM-DD" UTC; "" in store_usage_add = today */
    int64_t prompt_tokens, cached_tokens, completion_tokens, images, requests;
    double audio_seconds;
};
/* Adds the counts of d to its (user, key, model, day) row, atomically (one upsert: exact
 * under any number of threads and replicas). The user must exist. */
int store_usage_add(struct store *st, const struct store_usage *d, struct err *e);
/* Rows with from_day <= day <= to_day ("" = open end), for one user (user_id NULL: every
 * user), ordered by day, user, model, key; *out malloc'd (free()). */
int store_usage_query(struct store *st, const char *user_id, const char *from_day, const char *to_day,
                      struct store_usage **out, size_t *n, struct err *e);
/* The sum of those rows (user_id/key_id/model/day of *total left ""). */
int store_usage_total(struct store *st, const char *user_id, const char *from_day, const char *to_day,
                      struct store_usage *total, struct err *e);

/* ---- rate-limit counters (rolling windows, shared by replicas) ----
 * Events per (subject, bucket): subject is whatever is limited ("usr_…", "key_…",
 * "ip:1.2.3.4", "login:alice@x"), bucket what is counted ("msg:large", "req", "tok").
 * store_limit_hit, atomically for that pair (one transaction under a lock the database
 * holds, so exact across threads, connections and replicas):
 *   drops the pair's events older than now - window_ms,
 *   sums the cost of those left (used),
 *   if limit < 0, or used + cost <= limit: records an event of `cost` at now (allowed = 1),
 *   else records nothing (allowed = 0).
 * cost 0 only looks. */
struct store_limit {
    int allowed;
    int64_t used;         /* the window's total after this call (the new event included) */
    int64_t oldest;       /* time of the oldest event still in the window (0: none) */
    int64_t reset;        /* when the oldest falls out (oldest + window_ms; 0: none) — Retry-After */
};
int store_limit_hit(struct store *st, const char *subject, const char *bucket, int64_t now, int64_t window_ms,
                    int64_t limit, int64_t cost, struct store_limit *out, struct err *e);
/* Forgets a pair's events (e.g. the failed-login counter after a good login). */
int store_limit_reset(struct store *st, const char *subject, const char *bucket, struct err *e);
/* Drops every event older than `before` (housekeeping for pairs gone idle). */
int store_limit_purge(struct store *st, int64_t before, struct err *e);

/* ---- feedback (thumbs on an answer, for the trainers) ---- */

struct store_feedback {
    char id[STORE_ID_MAX];              /* "fb_…" */
    char msg_id[STORE_ID_MAX];
    char user_id[STORE_ID_MAX];
    int rating;                         /* +1 good, -1 bad (any int stored) */
    char reasons[STORE_MODELS_MAX];     /* comma-separated reason codes */
    char *comment;                      /* heap, may be NULL on input */
    char *snapshot;                     /* heap JSON: the conversation path at the time, may be NULL */
    int64_t created;
};
/* One per (message, user): a second call replaces the first. The message must be in one of
 * the user's conversations. out_id (may be NULL) gets the id. */
int store_feedback_put(struct store *st, const struct store_feedback *in, char *out_id, struct err *e);
/* Newest first; user_id NULL: everyone's (trainers). *out malloc'd: free with store_feedback_free. */
int store_feedback_list(struct store *st, const char *user_id, int64_t offset, int64_t limit,
                        struct store_feedback **out, size_t *n, struct err *e);
void store_feedback_free(struct store_feedback *items, size_t n);

/* ---- export ---- */

/* Everything of the user as one JSON document (malloc'd, free()): {"user":{…, no password
 * hash}, "keys":[… no hashes], "conversations":[{…, "messages":[…the whole tree]}],
 * "usage":[…], "feedback":[…], "exported": ms}. */
int store_export_user(struct store *st, const char *user_id, char **json, struct err *e);

/* ---- for other areas' tables (src/assistants …) ----
 * Borrow one pooled connection (db.h) for a round of statements, then give it back;
 * a transaction left open is rolled back on release. */
struct db;
int store_db_acquire(struct store *st, struct db **out, struct err *e);
void store_db_release(struct store *st, struct db *d);
/* store_db_lock: the database-wide lock for key inside the current write transaction. */
int store_db_lock(struct db *d, const char *key, struct err *e);

#endif

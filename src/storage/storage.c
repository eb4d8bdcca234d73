/* storage.h over db.h: the pool of connections, the migrations, and every store function
 * written once in the SQL both SQLite and PostgreSQL speak. What differs by dialect is
 * the DDL (migrations below, one list per back end) and the search conditions.
 *
 * Atomicity across replicas: single-statement upserts (usage), and where a read decides a
 * write (limit counters, first user is admin, migrations) the transaction takes a lock the
 * database holds for everyone: SQLite's write lock (BEGIN IMMEDIATE), PostgreSQL's
 * pg_advisory_xact_lock on a key of the thing decided. */
#include "storage/storage.h"

#include <cJSON.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "storage/db.h"
#include "storage/prefs_db.h"
#include "storage/citations.h"
#include "storage/reasoning.h"
#include "storage/rows.h"
#include "storage/store_internal.h"

struct store {
    enum db_kind kind;
    char *target;                     /* path or conninfo */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct db *idle[STORE_POOL_MAX];
    int n_idle, n_open;
};

/* ---- small helpers ---- */

int64_t store_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void store_day(int64_t ms, char buf[STORE_DAY_MAX]) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    if (!strftime(buf, STORE_DAY_MAX, "%Y-%m-%d", &tm)) buf[0] = 0;
}

int store_random(void *buf, size_t n, struct err *e) {
    unsigned char *p = buf;
    while (n) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return err_set(e, "getrandom: %s", strerror(errno));
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

int store_new_id(const char *prefix, char *buf, size_t cap, struct err *e) {
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char r[17];
    size_t pl = strlen(prefix);
    if (cap < pl + 24) return err_set(e, "id buffer too small");
    if (store_random(r, 16, e)) return STORE_ERR;
    r[16] = 0;
    memcpy(buf, prefix, pl);
    buf[pl] = '_';
    char *o = buf + pl + 1;
    /* 16 bytes = 128 bits → 22 characters of 6 bits (the last holds 2) */
    for (int i = 0, bit = 0; i < 22; i++, bit += 6) {
        int byte = bit / 8, off = bit % 8;
        unsigned v = ((unsigned)r[byte] << 8 | r[byte + 1]) >> (10 - off);
        *o++ = b64[v & 63];
    }
    *o = 0;
    return 0;
}

static void col(char *dst, size_t cap, struct dbq *q, int c) {
    snprintf(dst, cap, "%s", dbq_col_text(q, c));
}

static int need_id(const char *s, const char *what, struct err *e) {
    if (!s || !*s) {
        err_set(e, "%s is missing", what);
        return STORE_INVALID;
    }
    if (strlen(s) >= STORE_ID_MAX) {
        err_set(e, "%s is too long", what);
        return STORE_INVALID;
    }
    return 0;
}

static char *dupstr(const char *s) {
    return strdup(s ? s : "");
}

/* ---- pool ---- */

static int acquire(struct store *st, struct db **out, struct err *e) {
    pthread_mutex_lock(&st->mu);
    for (;;) {
        if (st->n_idle) {
            *out = st->idle[--st->n_idle];
            pthread_mutex_unlock(&st->mu);
            return 0;
        }
        if (st->n_open < STORE_POOL_MAX) break;
        pthread_cond_wait(&st->cv, &st->mu);
    }
    st->n_open++;
    pthread_mutex_unlock(&st->mu);
    int rc = db_connect(st->kind, st->target, out, e);
    if (rc) {
        pthread_mutex_lock(&st->mu);
        st->n_open--;
        pthread_cond_signal(&st->cv);
        pthread_mutex_unlock(&st->mu);
        return rc;
    }
    return 0;
}

/* A connection found broken (the PostgreSQL server restarted or went away) is dropped,
 * and with it every idle one: they were opened to the same server and are most likely
 * broken too, so one call fails after a restart, not one per pooled connection. */
static void release(struct store *st, struct db *d) {
    db_rollback(d); /* a transaction left open by an error path ends here */
    int keep = db_usable(d);
    struct db *drop[STORE_POOL_MAX];
    int n_drop = 0;
    pthread_mutex_lock(&st->mu);
    if (keep) {
        st->idle[st->n_idle++] = d;
    } else {
        st->n_open--;
        while (st->n_idle) drop[n_drop++] = st->idle[--st->n_idle];
        st->n_open -= n_drop;
    }
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    if (!keep) db_disconnect(d);
    for (int i = 0; i < n_drop; i++) db_disconnect(drop[i]);
}

/* The pool for the store's other files (storage/pool.h). */
int store_pool_get(struct store *st, struct db **out, struct err *e) { return acquire(st, out, e); }
void store_pool_put(struct store *st, struct db *d) { release(st, d); }

/* Takes the database-wide lock for `key` inside the current write transaction (PostgreSQL:
 * an advisory transaction lock; SQLite's BEGIN IMMEDIATE already holds the only one). */
static int lock_key(struct db *d, const char *key, struct err *e) {
    if (db_kind(d) != DB_PG) return 0;
    struct dbq *q = db_prep(d, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", 1, e);
    if (!q) return STORE_ERR;
    dbq_text(q, 1, key);
    int rc = dbq_run(q, e);
    dbq_done(q);
    return rc;
}

/* ---- migrations ---- */

/* SQLite: INTEGER PRIMARY KEY seq is the rowid the FTS5 index (trigram, external content)
 * refers to; triggers keep it in step with messages.body. */
static const char *const mig_sqlite[] = {
    /* 1: the whole first schema */
    "CREATE TABLE users ("
    " id TEXT PRIMARY KEY, email TEXT NOT NULL, email_key TEXT NOT NULL UNIQUE, name TEXT NOT NULL DEFAULT '',"
    " password_hash TEXT NOT NULL DEFAULT '',"
    " role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('admin','trainer','user')),"
    " tier TEXT NOT NULL DEFAULT 'free',"
    " status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','pending','disabled')),"
    " consent INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL);"
    "CREATE TABLE sessions ("
    " token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " created INTEGER NOT NULL, expires INTEGER NOT NULL, last_seen INTEGER NOT NULL);"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE INDEX sessions_expires ON sessions(expires);"
    "CREATE TABLE api_keys ("
    " id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL DEFAULT '', prefix TEXT NOT NULL DEFAULT '', key_hash TEXT NOT NULL UNIQUE,"
    " models TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL, last_used INTEGER NOT NULL DEFAULT 0,"
    " revoked INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX api_keys_user ON api_keys(user_id, created);"
    "CREATE TABLE conversations ("
    " id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " title TEXT NOT NULL DEFAULT '', model TEXT NOT NULL DEFAULT '', assistant_id TEXT,"
    " share_token TEXT UNIQUE, current_leaf TEXT,"
    " created INTEGER NOT NULL, updated INTEGER NOT NULL,"
    " archived INTEGER NOT NULL DEFAULT 0, pinned INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX conversations_user ON conversations(user_id, updated, id);"
    "CREATE INDEX conversations_user_arch ON conversations(user_id, archived, updated, id);"
    "CREATE TABLE messages ("
    " seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
    " conv_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
    " user_id TEXT NOT NULL, parent_id TEXT REFERENCES messages(id) ON DELETE CASCADE,"
    " role TEXT NOT NULL, content TEXT NOT NULL, body TEXT NOT NULL, model TEXT NOT NULL DEFAULT '',"
    " status TEXT NOT NULL DEFAULT 'finished' CHECK (status IN ('finished','partial')),"
    " created INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL DEFAULT 0,"
    " cached_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX messages_conv ON messages(conv_id, seq);"
    "CREATE INDEX messages_user ON messages(user_id, conv_id);"
    "CREATE INDEX messages_parent ON messages(parent_id);"
    "CREATE VIRTUAL TABLE messages_fts USING fts5(body, content='messages', content_rowid='seq', tokenize='trigram');"
    "CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN"
    " INSERT INTO messages_fts(rowid, body) VALUES (new.seq, new.body); END;"
    "CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.seq, old.body); END;"
    "CREATE TRIGGER messages_au AFTER UPDATE OF body ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.seq, old.body);"
    " INSERT INTO messages_fts(rowid, body) VALUES (new.seq, new.body); END;"
    "CREATE TABLE usage_daily ("
    " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, key_id TEXT NOT NULL DEFAULT '',"
    " model TEXT NOT NULL DEFAULT '', day TEXT NOT NULL,"
    " prompt_tokens INTEGER NOT NULL DEFAULT 0, cached_tokens INTEGER NOT NULL DEFAULT 0,"
    " completion_tokens INTEGER NOT NULL DEFAULT 0, audio_seconds REAL NOT NULL DEFAULT 0,"
    " images INTEGER NOT NULL DEFAULT 0, requests INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (user_id, day, model, key_id));"
    "CREATE INDEX usage_day ON usage_daily(day);"
    "CREATE TABLE limit_events (subject TEXT NOT NULL, bucket TEXT NOT NULL, at INTEGER NOT NULL,"
    " cost INTEGER NOT NULL DEFAULT 1);"
    "CREATE INDEX limit_events_key ON limit_events(subject, bucket, at);"
    "CREATE INDEX limit_events_at ON limit_events(at);"
    "CREATE TABLE feedback ("
    " id TEXT PRIMARY KEY, msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, rating INTEGER NOT NULL,"
    " reasons TEXT NOT NULL DEFAULT '', comment TEXT NOT NULL DEFAULT '', snapshot TEXT NOT NULL DEFAULT '',"
    " created INTEGER NOT NULL, UNIQUE (msg_id, user_id));"
    "CREATE INDEX feedback_created ON feedback(created);"
    "CREATE INDEX feedback_user ON feedback(user_id, created);",
    /* 2: the searchable text again, clustered by user (WITHOUT ROWID, key user_id, seq), so
     * that a 1-2 character search (no trigram to look up) scans one user's text
     * contiguously instead of every message row with its content */
    "CREATE TABLE message_text (user_id TEXT NOT NULL, seq INTEGER NOT NULL, conv_id TEXT NOT NULL,"
    " body TEXT NOT NULL, PRIMARY KEY (user_id, seq)) WITHOUT ROWID;"
    "INSERT INTO message_text (user_id, seq, conv_id, body) SELECT user_id, seq, conv_id, body FROM messages;"
    "CREATE TRIGGER message_text_ai AFTER INSERT ON messages BEGIN"
    " INSERT INTO message_text (user_id, seq, conv_id, body) VALUES (new.user_id, new.seq, new.conv_id, new.body); END;"
    "CREATE TRIGGER message_text_ad AFTER DELETE ON messages BEGIN"
    " DELETE FROM message_text WHERE user_id = old.user_id AND seq = old.seq; END;"
    "CREATE TRIGGER message_text_au AFTER UPDATE OF body ON messages BEGIN"
    " UPDATE message_text SET body = new.body WHERE user_id = old.user_id AND seq = old.seq; END;",
    /* 3 (responses): stored Responses and the Conversations API's conversations and items
     * (storage/responses.c) */
    "CREATE TABLE responses (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " created INTEGER NOT NULL, status TEXT NOT NULL, previous_id TEXT NOT NULL DEFAULT '',"
    " conv_id TEXT NOT NULL DEFAULT '', body TEXT NOT NULL, input TEXT NOT NULL);"
    "CREATE INDEX responses_user ON responses(user_id, created);"
    "CREATE TABLE api_conversations (id TEXT PRIMARY KEY,"
    " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, created INTEGER NOT NULL,"
    " metadata TEXT NOT NULL DEFAULT '{}');"
    "CREATE INDEX api_conversations_user ON api_conversations(user_id, created);"
    "CREATE TABLE api_conv_items (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL,"
    " conv_id TEXT NOT NULL REFERENCES api_conversations(id) ON DELETE CASCADE, user_id TEXT NOT NULL,"
    " item TEXT NOT NULL, created INTEGER NOT NULL, UNIQUE (conv_id, id));"
    "CREATE INDEX api_conv_items_conv ON api_conv_items(conv_id, seq);",
    /* 4 (accounts2): settings, server settings, memories, answers' sampling (storage/prefs.h);
     * IF NOT EXISTS: a database rolled back to an older version re-applies it safely */
    "CREATE TABLE IF NOT EXISTS user_settings (user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,"
    " settings TEXT NOT NULL, updated INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS server_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS memories (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " content TEXT NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS memories_user ON memories(user_id, created);"
    "CREATE TABLE IF NOT EXISTS message_meta (msg_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
    " user_id TEXT NOT NULL, sampling TEXT NOT NULL);",
    /* 5 (files: the Files and Vector Stores APIs, storage/files.h; IF NOT EXISTS: re-appliable) */
    "CREATE TABLE IF NOT EXISTS files (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " filename TEXT NOT NULL, purpose TEXT NOT NULL, bytes BIGINT NOT NULL, created BIGINT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS files_user ON files(user_id, created, id);"
    "CREATE TABLE IF NOT EXISTS file_data (file_id TEXT PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE, data TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS vector_stores (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL DEFAULT '', metadata TEXT NOT NULL DEFAULT '{}', created BIGINT NOT NULL,"
    " last_active BIGINT NOT NULL, expires_days BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS vector_stores_user ON vector_stores(user_id, created, id);"
    "CREATE TABLE IF NOT EXISTS vs_files (vs_id TEXT NOT NULL REFERENCES vector_stores(id) ON DELETE CASCADE,"
    " file_id TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE, user_id TEXT NOT NULL,"
    " batch_id TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, error_code TEXT NOT NULL DEFAULT '',"
    " error_msg TEXT NOT NULL DEFAULT '', attributes TEXT NOT NULL DEFAULT '{}', chunking TEXT NOT NULL DEFAULT '',"
    " created BIGINT NOT NULL, usage_bytes BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (vs_id, file_id));"
    "CREATE INDEX IF NOT EXISTS vs_files_file ON vs_files(file_id);"
    "CREATE INDEX IF NOT EXISTS vs_files_status ON vs_files(status);"
    "CREATE TABLE IF NOT EXISTS vs_chunks (vs_id TEXT NOT NULL, file_id TEXT NOT NULL, seq INTEGER NOT NULL, text TEXT NOT NULL,"
    " heading TEXT NOT NULL DEFAULT '', page_first INTEGER NOT NULL DEFAULT 0, page_last INTEGER NOT NULL DEFAULT 0,"
    " n_tokens INTEGER NOT NULL DEFAULT 0, dim INTEGER NOT NULL, vec TEXT NOT NULL, PRIMARY KEY (vs_id, file_id, seq),"
    " FOREIGN KEY (vs_id, file_id) REFERENCES vs_files(vs_id, file_id) ON DELETE CASCADE);",
    /* 6 (assistants, src/assistants): custom assistants, every edit a version, who used and
     * rated them, which conversation used which version, their bundled knowledge files */
    "CREATE TABLE IF NOT EXISTS assistants ("
    " id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', category TEXT NOT NULL DEFAULT '',"
    " visibility TEXT NOT NULL DEFAULT 'private' CHECK (visibility IN ('private','link','public')),"
    " link_token TEXT NOT NULL UNIQUE, version INTEGER NOT NULL, featured INTEGER NOT NULL DEFAULT 0,"
    " hidden INTEGER NOT NULL DEFAULT 0, avatar_type TEXT NOT NULL DEFAULT '', avatar TEXT NOT NULL DEFAULT '',"
    " search TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL, updated INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS assistants_user ON assistants(user_id, updated);"
    "CREATE INDEX IF NOT EXISTS assistants_store ON assistants(visibility, hidden, featured);"
    "CREATE TABLE IF NOT EXISTS assistant_versions ("
    " assistant_id TEXT NOT NULL REFERENCES assistants(id) ON DELETE CASCADE, version INTEGER NOT NULL,"
    " config TEXT NOT NULL, created INTEGER NOT NULL, PRIMARY KEY (assistant_id, version));"
    "CREATE TABLE IF NOT EXISTS assistant_users ("
    " assistant_id TEXT NOT NULL REFERENCES assistants(id) ON DELETE CASCADE,"
    " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, uses INTEGER NOT NULL DEFAULT 0,"
    " last_used INTEGER NOT NULL DEFAULT 0, stars INTEGER NOT NULL DEFAULT 0, review TEXT NOT NULL DEFAULT '',"
    " rated INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (assistant_id, user_id));"
    "CREATE INDEX IF NOT EXISTS assistant_users_user ON assistant_users(user_id);"
    "CREATE TABLE IF NOT EXISTS assistant_convs ("
    " conv_id TEXT PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,"
    " assistant_id TEXT NOT NULL REFERENCES assistants(id) ON DELETE CASCADE, version INTEGER NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS assistant_convs_asst ON assistant_convs(assistant_id);"
    "CREATE TABLE IF NOT EXISTS assistant_files ("
    " assistant_id TEXT NOT NULL REFERENCES assistants(id) ON DELETE CASCADE, name TEXT NOT NULL,"
    " mime TEXT NOT NULL DEFAULT '', size INTEGER NOT NULL, sha256 TEXT NOT NULL, data TEXT NOT NULL,"
    " created INTEGER NOT NULL, PRIMARY KEY (assistant_id, name));",
    /* 7 (tools: the built-in tools' runs of an answer in a stored chat, the app's "ran query…") */
    "CREATE TABLE IF NOT EXISTS message_runs (msg_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
    " user_id TEXT NOT NULL, runs TEXT NOT NULL);",
    /* 8 (web app: an answer's reasoning kept with it, storage/reasoning.h; re-appliable) */
    "CREATE TABLE IF NOT EXISTS message_reasoning (msg_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
    " user_id TEXT NOT NULL, reasoning TEXT NOT NULL);",
    /* 9 (trainer, src/trainer/tasks.h): the trainers' task sets, their items (a consented
     * user's conversation up to an answer, or an uploaded prompt) and each trainer's judgment */
    "CREATE TABLE IF NOT EXISTS task_sets (id TEXT PRIMARY KEY, owner_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('rating','compare','rewrite','tags')),"
    " model_a TEXT NOT NULL DEFAULT '', model_b TEXT NOT NULL DEFAULT '', guidelines TEXT NOT NULL DEFAULT '',"
    " per_item INTEGER NOT NULL DEFAULT 2, active INTEGER NOT NULL DEFAULT 1, created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS task_items (id TEXT PRIMARY KEY, set_id TEXT NOT NULL REFERENCES task_sets(id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL, source_user TEXT REFERENCES users(id) ON DELETE CASCADE, source_msg TEXT,"
    " assistant_id TEXT NOT NULL DEFAULT '', topic TEXT NOT NULL DEFAULT '', prompt TEXT NOT NULL,"
    " answer_a TEXT, model_a TEXT NOT NULL DEFAULT '', answer_b TEXT, model_b TEXT NOT NULL DEFAULT '',"
    " created INTEGER NOT NULL, UNIQUE (set_id, source_msg));"
    "CREATE INDEX IF NOT EXISTS task_items_set ON task_items(set_id, seq);"
    "CREATE INDEX IF NOT EXISTS task_items_user ON task_items(source_user);"
    "CREATE TABLE IF NOT EXISTS task_judgments (id TEXT PRIMARY KEY,"
    " item_id TEXT NOT NULL REFERENCES task_items(id) ON DELETE CASCADE, set_id TEXT NOT NULL,"
    " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " status TEXT NOT NULL CHECK (status IN ('done','skipped')), scores TEXT NOT NULL DEFAULT '',"
    " choice TEXT NOT NULL DEFAULT '', rewrite TEXT NOT NULL DEFAULT '', tags TEXT NOT NULL DEFAULT '',"
    " comment TEXT NOT NULL DEFAULT '', time_ms INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,"
    " UNIQUE (item_id, user_id));"
    "CREATE INDEX IF NOT EXISTS task_judgments_set ON task_judgments(set_id, created);"
    "CREATE INDEX IF NOT EXISTS task_judgments_user ON task_judgments(user_id, created);",
    /* 10 (fine-tuning, storage/ftjobs.h): OpenAI's fine-tuning jobs, their events and checkpoints */
    "CREATE TABLE IF NOT EXISTS ft_jobs (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " model TEXT NOT NULL, training_file TEXT NOT NULL, validation_file TEXT NOT NULL DEFAULT '',"
    " method TEXT NOT NULL DEFAULT 'supervised', n_epochs INTEGER NOT NULL DEFAULT 0, batch_size INTEGER NOT NULL DEFAULT 0,"
    " seed INTEGER NOT NULL DEFAULT 0, lr_multiplier REAL NOT NULL DEFAULT 1, beta REAL NOT NULL DEFAULT 0.1,"
    " suffix TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, error_code TEXT NOT NULL DEFAULT '',"
    " error_param TEXT NOT NULL DEFAULT '', error_msg TEXT NOT NULL DEFAULT '', fine_tuned_model TEXT NOT NULL DEFAULT '',"
    " adapter_path TEXT NOT NULL DEFAULT '', trained_tokens INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,"
    " started INTEGER NOT NULL DEFAULT 0, finished INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS ft_jobs_user ON ft_jobs(user_id, created, id);"
    "CREATE INDEX IF NOT EXISTS ft_jobs_status ON ft_jobs(status, created);"
    "CREATE INDEX IF NOT EXISTS ft_jobs_model ON ft_jobs(fine_tuned_model);"
    "CREATE TABLE IF NOT EXISTS ft_events (id TEXT PRIMARY KEY, job_id TEXT NOT NULL REFERENCES ft_jobs(id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL, created INTEGER NOT NULL, level TEXT NOT NULL, type TEXT NOT NULL, message TEXT NOT NULL,"
    " data TEXT NOT NULL DEFAULT '', UNIQUE (job_id, seq));"
    "CREATE TABLE IF NOT EXISTS ft_checkpoints (id TEXT PRIMARY KEY,"
    " job_id TEXT NOT NULL REFERENCES ft_jobs(id) ON DELETE CASCADE, step INTEGER NOT NULL, created INTEGER NOT NULL,"
    " train_loss REAL NOT NULL DEFAULT 0, model TEXT NOT NULL, adapter_path TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS ft_checkpoints_job ON ft_checkpoints(job_id, step);"
    "CREATE INDEX IF NOT EXISTS ft_checkpoints_model ON ft_checkpoints(model);",
    /* 11 (moderation, src/storage/audit.h): the audit log of flagged items */
    "CREATE TABLE IF NOT EXISTS moderation_audit (id TEXT PRIMARY KEY, created INTEGER NOT NULL,"
    " user_id TEXT NOT NULL DEFAULT '', key_id TEXT NOT NULL DEFAULT '', assistant_id TEXT NOT NULL DEFAULT '',"
    " api TEXT NOT NULL, stage TEXT NOT NULL, rule TEXT NOT NULL, category TEXT NOT NULL DEFAULT '',"
    " action TEXT NOT NULL, excerpt TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX IF NOT EXISTS moderation_audit_created ON moderation_audit(created);",
    /* 12 (web app: a conversation's documents, storage/conv_docs.h): the vector store of each
     * conversation that has documents attached */
    "CREATE TABLE IF NOT EXISTS conversation_stores (conv_id TEXT PRIMARY KEY REFERENCES conversations(id)"
    " ON DELETE CASCADE, user_id TEXT NOT NULL, vs_id TEXT NOT NULL, created INTEGER NOT NULL);",
    /* 13 (assistants: an answer's citations kept with it, storage/citations.h; re-appliable) */
    "CREATE TABLE IF NOT EXISTS message_citations (msg_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
    " user_id TEXT NOT NULL, citations TEXT NOT NULL);",
};

static const char *const mig_pg[] = {
    /* 1 */
    "CREATE TABLE users ("
    " id TEXT PRIMARY KEY, email TEXT NOT NULL, email_key TEXT NOT NULL UNIQUE, name TEXT NOT NULL DEFAULT '',"
    " password_hash TEXT NOT NULL DEFAULT '',"
    " role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('admin','trainer','user')),"
    " tier TEXT NOT NULL DEFAULT 'free',"
    " status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','pending','disabled')),"
    " consent INTEGER NOT NULL DEFAULT 0, created BIGINT NOT NULL);"
    "CREATE TABLE sessions ("
    " token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " created BIGINT NOT NULL, expires BIGINT NOT NULL, last_seen BIGINT NOT NULL);"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE INDEX sessions_expires ON sessions(expires);"
    "CREATE TABLE api_keys ("
    " id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL DEFAULT '', prefix TEXT NOT NULL DEFAULT '', key_hash TEXT NOT NULL UNIQUE,"
    " models TEXT NOT NULL DEFAULT '', created BIGINT NOT NULL, last_used BIGINT NOT NULL DEFAULT 0,"
    " revoked BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX api_keys_user ON api_keys(user_id, created);"
    "CREATE TABLE conversations ("
    " id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " title TEXT NOT NULL DEFAULT '', model TEXT NOT NULL DEFAULT '', assistant_id TEXT,"
    " share_token TEXT UNIQUE, current_leaf TEXT,"
    " created BIGINT NOT NULL, updated BIGINT NOT NULL,"
    " archived INTEGER NOT NULL DEFAULT 0, pinned INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX conversations_user ON conversations(user_id, updated, id);"
    "CREATE INDEX conversations_user_arch ON conversations(user_id, archived, updated, id);"
    "CREATE TABLE messages ("
    " seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
    " conv_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
    " user_id TEXT NOT NULL, parent_id TEXT REFERENCES messages(id) ON DELETE CASCADE,"
    " role TEXT NOT NULL, content TEXT NOT NULL, body TEXT NOT NULL, model TEXT NOT NULL DEFAULT '',"
    " status TEXT NOT NULL DEFAULT 'finished' CHECK (status IN ('finished','partial')),"
    " created BIGINT NOT NULL, prompt_tokens BIGINT NOT NULL DEFAULT 0,"
    " cached_tokens BIGINT NOT NULL DEFAULT 0, completion_tokens BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX messages_conv ON messages(conv_id, seq);"
    "CREATE INDEX messages_user ON messages(user_id, conv_id);"
    "CREATE INDEX messages_parent ON messages(parent_id);"
    "CREATE TABLE usage_daily ("
    " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, key_id TEXT NOT NULL DEFAULT '',"
    " model TEXT NOT NULL DEFAULT '', day TEXT NOT NULL,"
    " prompt_tokens BIGINT NOT NULL DEFAULT 0, cached_tokens BIGINT NOT NULL DEFAULT 0,"
    " completion_tokens BIGINT NOT NULL DEFAULT 0, audio_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,"
    " images BIGINT NOT NULL DEFAULT 0, requests BIGINT NOT NULL DEFAULT 0,"
    " PRIMARY KEY (user_id, day, model, key_id));"
    "CREATE INDEX usage_day ON usage_daily(day);"
    "CREATE TABLE limit_events (subject TEXT NOT NULL, bucket TEXT NOT NULL, at BIGINT NOT NULL,"
    " cost BIGINT NOT NULL DEFAULT 1);"
    "CREATE INDEX limit_events_key ON limit_events(subject, bucket, at);"
    "CREATE INDEX limit_events_at ON limit_events(at);"
    "CREATE TABLE feedback ("
    " id TEXT PRIMARY KEY, msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
    " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, rating INTEGER NOT NULL,"
    " reasons TEXT NOT NULL DEFAULT '', comment TEXT NOT NULL DEFAULT '', snapshot TEXT NOT NULL DEFAULT '',"
    " created BIGINT NOT NULL, UNIQUE (msg_id, user_id));"
    "CREATE INDEX feedback_created ON feedback(created);"
    "CREATE INDEX feedback_user ON feedback(user_id, created);",
    /* 2: (SQLite's message_text; PostgreSQL's search reads messages through its indexes) */
    "SELECT 1",
    /* 3 (responses): as SQLite's */
    "CREATE TABLE responses (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " created BIGINT NOT NULL, status TEXT NOT NULL, previous_id TEXT NOT NULL DEFAULT '',"
    " conv_id TEXT NOT NULL DEFAULT '', body TEXT NOT NULL, input TEXT NOT NULL);"
    "CREATE INDEX responses_user ON responses(user_id, created);"
    "CREATE TABLE api_conversations (id TEXT PRIMARY KEY,"
    " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, created BIGINT NOT NULL,"
    " metadata TEXT NOT NULL DEFAULT '{}');"
    "CREATE INDEX api_conversations_user ON api_conversations(user_id, created);"
    "CREATE TABLE api_conv_items (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id TEXT NOT NULL,"
    " conv_id TEXT NOT NULL REFERENCES api_conversations(id) ON DELETE CASCADE, user_id TEXT NOT NULL,"
    " item TEXT NOT NULL, created BIGINT NOT NULL, UNIQUE (conv_id, id));"
    "CREATE INDEX api_conv_items_conv ON api_conv_items(conv_id, seq);",
    /* 4 (accounts2) */
    "CREATE TABLE IF NOT EXISTS user_settings (user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,"
    " settings TEXT NOT NULL, updated BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS server_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS memories (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " content TEXT NOT NULL, created BIGINT NOT NULL, updated BIGINT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS memories_user ON memories(user_id, created);"
    "CREATE TABLE IF NOT EXISTS message_meta (msg_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
    " user_id TEXT NOT NULL, sampling TEXT NOT NULL);",
    /* 5 (files: the Files and Vector Stores APIs, storage/files.h; IF NOT EXISTS: re-appliable) */
    "CREATE TABLE IF NOT EXISTS files (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " filename TEXT NOT NULL, purpose TEXT NOT NULL, bytes BIGINT NOT NULL, created BIGINT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS files_user ON files(user_id, created, id);"
    "CREATE TABLE IF NOT EXISTS file_data (file_id TEXT PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE, data TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS vector_stores (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL DEFAULT '', metadata TEXT NOT NULL DEFAULT '{}', created BIGINT NOT NULL,"
    " last_active BIGINT NOT NULL, expires_days BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS vector_stores_user ON vector_stores(user_id, created, id);"
    "CREATE TABLE IF NOT EXISTS vs_files (vs_id TEXT NOT NULL REFERENCES vector_stores(id) ON DELETE CASCADE,"
    " file_id TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE, user_id TEXT NOT NULL,"
    " batch_id TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, error_code TEXT NOT NULL DEFAULT '',"
    " error_msg TEXT NOT NULL DEFAULT '', attributes TEXT NOT NULL DEFAULT '{}', chunking TEXT NOT NULL DEFAULT '',"
    " created BIGINT NOT NULL, usage_bytes BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (vs_id, file_id));"
    "CREATE INDEX IF NOT EXISTS vs_files_file ON vs_files(file_id);"
    "CREATE INDEX IF NOT EXISTS vs_files_status ON vs_files(status);"
    "CREATE TABLE IF NOT EXISTS vs_chunks (vs_id TEXT NOT NULL, file_id TEXT NOT NULL, seq INTEGER NOT NULL, text TEXT NOT NULL,"
    " heading TEXT NOT NULL DEFAULT '', page_first INTEGER NOT NULL DEFAULT 0, page_last INTEGER NOT NULL DEFAULT 0,"
    " n_tokens INTEGER NOT NULL DEFAULT 0, dim INTEGER NOT NULL, vec TEXT NOT NULL, PRIMARY KEY (vs_id, file_id, seq),"
    " FOREIGN KEY (vs_id, file_id) REFERENCES vs_files(vs_id, file_id) ON DELETE CASCADE);",
    /* 6 (assistants, src/assistants): custom assistants, every edit a version, who used and
     * rated them, which conversation used which version, their bundled knowledge files */
    "CREATE TABLE IF NOT EXISTS assistants ("
    " id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', category TEXT NOT NULL DEFAULT '',"
    " visibility TEXT NOT NULL DEFAULT 'private' CHECK (visibility IN ('private','link','public')),"
    " link_token TEXT NOT NULL UNIQUE, version INTEGER NOT NULL, featured INTEGER NOT NULL DEFAULT 0,"
    " hidden INTEGER NOT NULL DEFAULT 0, avatar_type TEXT NOT NULL DEFAULT '', avatar TEXT NOT NULL DEFAULT '',"
    " search TEXT NOT NULL DEFAULT '', created BIGINT NOT NULL, updated BIGINT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS assistants_user ON assistants(user_id, updated);"
    "CREATE INDEX IF NOT EXISTS assistants_store ON assistants(visibility, hidden, featured);"
    "CREATE TABLE IF NOT EXISTS assistant_versions ("
    " assistant_id TEXT NOT NULL REFERENCES assistants(id) ON DELETE CASCADE, version INTEGER NOT NULL,"
    " config TEXT NOT NULL, created BIGINT NOT NULL, PRIMARY KEY (assistant_id, version));"
    "CREATE TABLE IF NOT EXISTS assistant_users ("
    " assistant_id TEXT NOT NULL REFERENCES assistants(id) ON DELETE CASCADE,"
    " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, uses BIGINT NOT NULL DEFAULT 0,"
    " last_used BIGINT NOT NULL DEFAULT 0, stars INTEGER NOT NULL DEFAULT 0, review TEXT NOT NULL DEFAULT '',"
    " rated BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (assistant_id, user_id));"
    "CREATE INDEX IF NOT EXISTS assistant_users_user ON assistant_users(user_id);"
    "CREATE TABLE IF NOT EXISTS assistant_convs ("
    " conv_id TEXT PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,"
    " assistant_id TEXT NOT NULL REFERENCES assistants(id) ON DELETE CASCADE, version INTEGER NOT NULL,"
    " created BIGINT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS assistant_convs_asst ON assistant_convs(assistant_id);"
    "CREATE TABLE IF NOT EXISTS assistant_files ("
    " assistant_id TEXT NOT NULL REFERENCES assistants(id) ON DELETE CASCADE, name TEXT NOT NULL,"
    " mime TEXT NOT NULL DEFAULT '', size BIGINT NOT NULL, sha256 TEXT NOT NULL, data TEXT NOT NULL,"
    " created BIGINT NOT NULL, PRIMARY KEY (assistant_id, name));",
    /* 7 (tools: the built-in tools' runs of an answer in a stored chat) */
    "CREATE TABLE IF NOT EXISTS message_runs (msg_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
    " user_id TEXT NOT NULL, runs TEXT NOT NULL);",
    /* 8 (web app: an answer's reasoning) */
    "CREATE TABLE IF NOT EXISTS message_reasoning (msg_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
    " user_id TEXT NOT NULL, reasoning TEXT NOT NULL);",
    /* 9 (trainer, src/trainer/tasks.h): the trainers' task sets, their items (a consented
     * user's conversation up to an answer, or an uploaded prompt) and each trainer's judgment */
    "CREATE TABLE IF NOT EXISTS task_sets (id TEXT PRIMARY KEY, owner_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('rating','compare','rewrite','tags')),"
    " model_a TEXT NOT NULL DEFAULT '', model_b TEXT NOT NULL DEFAULT '', guidelines TEXT NOT NULL DEFAULT '',"
    " per_item INTEGER NOT NULL DEFAULT 2, active INTEGER NOT NULL DEFAULT 1, created BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS task_items (id TEXT PRIMARY KEY, set_id TEXT NOT NULL REFERENCES task_sets(id) ON DELETE CASCADE,"
    " seq BIGINT NOT NULL, source_user TEXT REFERENCES users(id) ON DELETE CASCADE, source_msg TEXT,"
    " assistant_id TEXT NOT NULL DEFAULT '', topic TEXT NOT NULL DEFAULT '', prompt TEXT NOT NULL,"
    " answer_a TEXT, model_a TEXT NOT NULL DEFAULT '', answer_b TEXT, model_b TEXT NOT NULL DEFAULT '',"
    " created BIGINT NOT NULL, UNIQUE (set_id, source_msg));"
    "CREATE INDEX IF NOT EXISTS task_items_set ON task_items(set_id, seq);"
    "CREATE INDEX IF NOT EXISTS task_items_user ON task_items(source_user);"
    "CREATE TABLE IF NOT EXISTS task_judgments (id TEXT PRIMARY KEY,"
    " item_id TEXT NOT NULL REFERENCES task_items(id) ON DELETE CASCADE, set_id TEXT NOT NULL,"
    " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " status TEXT NOT NULL CHECK (status IN ('done','skipped')), scores TEXT NOT NULL DEFAULT '',"
    " choice TEXT NOT NULL DEFAULT '', rewrite TEXT NOT NULL DEFAULT '', tags TEXT NOT NULL DEFAULT '',"
    " comment TEXT NOT NULL DEFAULT '', time_ms BIGINT NOT NULL DEFAULT 0, created BIGINT NOT NULL,"
    " UNIQUE (item_id, user_id));"
    "CREATE INDEX IF NOT EXISTS task_judgments_set ON task_judgments(set_id, created);"
    "CREATE INDEX IF NOT EXISTS task_judgments_user ON task_judgments(user_id, created);",
    /* 10 (fine-tuning, storage/ftjobs.h): OpenAI's fine-tuning jobs, their events and checkpoints */
    "CREATE TABLE IF NOT EXISTS ft_jobs (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " model TEXT NOT NULL, training_file TEXT NOT NULL, validation_file TEXT NOT NULL DEFAULT '',"
    " method TEXT NOT NULL DEFAULT 'supervised', n_epochs BIGINT NOT NULL DEFAULT 0, batch_size BIGINT NOT NULL DEFAULT 0,"
    " seed BIGINT NOT NULL DEFAULT 0, lr_multiplier DOUBLE PRECISION NOT NULL DEFAULT 1, beta DOUBLE PRECISION NOT NULL DEFAULT 0.1,"
    " suffix TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, error_code TEXT NOT NULL DEFAULT '',"
    " error_param TEXT NOT NULL DEFAULT '', error_msg TEXT NOT NULL DEFAULT '', fine_tuned_model TEXT NOT NULL DEFAULT '',"
    " adapter_path TEXT NOT NULL DEFAULT '', trained_tokens BIGINT NOT NULL DEFAULT 0, created BIGINT NOT NULL,"
    " started BIGINT NOT NULL DEFAULT 0, finished BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS ft_jobs_user ON ft_jobs(user_id, created, id);"
    "CREATE INDEX IF NOT EXISTS ft_jobs_status ON ft_jobs(status, created);"
    "CREATE INDEX IF NOT EXISTS ft_jobs_model ON ft_jobs(fine_tuned_model);"
    "CREATE TABLE IF NOT EXISTS ft_events (id TEXT PRIMARY KEY, job_id TEXT NOT NULL REFERENCES ft_jobs(id) ON DELETE CASCADE,"
    " seq BIGINT NOT NULL, created BIGINT NOT NULL, level TEXT NOT NULL, type TEXT NOT NULL, message TEXT NOT NULL,"
    " data TEXT NOT NULL DEFAULT '', UNIQUE (job_id, seq));"
    "CREATE TABLE IF NOT EXISTS ft_checkpoints (id TEXT PRIMARY KEY,"
    " job_id TEXT NOT NULL REFERENCES ft_jobs(id) ON DELETE CASCADE, step BIGINT NOT NULL, created BIGINT NOT NULL,"
    " train_loss DOUBLE PRECISION NOT NULL DEFAULT 0, model TEXT NOT NULL, adapter_path TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS ft_checkpoints_job ON ft_checkpoints(job_id, step);"
    "CREATE INDEX IF NOT EXISTS ft_checkpoints_model ON ft_checkpoints(model);",
    /* 11 (moderation, src/storage/audit.h): the audit log of flagged items */
    "CREATE TABLE IF NOT EXISTS moderation_audit (id TEXT PRIMARY KEY, created BIGINT NOT NULL,"
    " user_id TEXT NOT NULL DEFAULT '', key_id TEXT NOT NULL DEFAULT '', assistant_id TEXT NOT NULL DEFAULT '',"
    " api TEXT NOT NULL, stage TEXT NOT NULL, rule TEXT NOT NULL, category TEXT NOT NULL DEFAULT '',"
    " action TEXT NOT NULL, excerpt TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX IF NOT EXISTS moderation_audit_created ON moderation_audit(created);",
    /* 12 (web app: a conversation's documents) */
    "CREATE TABLE IF NOT EXISTS conversation_stores (conv_id TEXT PRIMARY KEY REFERENCES conversations(id)"
    " ON DELETE CASCADE, user_id TEXT NOT NULL, vs_id TEXT NOT NULL, created BIGINT NOT NULL);",
    /* 13 (assistants: an answer's citations) */
    "CREATE TABLE IF NOT EXISTS message_citations (msg_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
    " user_id TEXT NOT NULL, citations TEXT NOT NULL);",
};
#define N_MIG ((int)(sizeof mig_sqlite / sizeof *mig_sqlite))
_Static_assert(sizeof mig_sqlite / sizeof *mig_sqlite == sizeof mig_pg / sizeof *mig_pg,
               "one migration list per back end, the same length");

int store_schema_latest(void) { return N_MIG; }

static int read_version(struct db *d, int *v, struct err *e) {
    struct dbq *q = db_prep(d, "SELECT COALESCE(MAX(version), 0) FROM schema_version", 0, e);
    if (!q) return STORE_ERR;
    int rc = dbq_step(q, e);
    if (rc == 1) *v = (int)dbq_col_int(q, 0), rc = 0;
    else if (rc == 0) *v = 0;
    dbq_done(q);
    return rc;
}

/* PostgreSQL, after the schema: pg_trgm (a trusted extension since PostgreSQL 13, so the
 * database owner may create it) indexes the ILIKE search; without it search scans the
 * user's rows. Tried at every open, in a savepoint-free statement of its own. */
static void pg_trgm_indexes(struct db *d) {
    struct err ig = {{0}};
    if (db_exec(d, "CREATE EXTENSION IF NOT EXISTS pg_trgm", &ig) == 0) {
        db_exec(d, "CREATE INDEX IF NOT EXISTS messages_body_trgm ON messages USING gin (body gin_trgm_ops);"
                   "CREATE INDEX IF NOT EXISTS conversations_title_trgm ON conversations USING gin (title gin_trgm_ops)",
                &ig);
    }
}

static int migrate(struct db *d, struct err *e) {
    const char *const *mig = db_kind(d) == DB_PG ? mig_pg : mig_sqlite;
    int rc, v = 0;
    if ((rc = db_begin(d, 1, e)) || (rc = lock_key(d, "omni:migrate", e)) ||
        (rc = db_exec(d, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied BIGINT NOT NULL)",
                      e)) ||
        (rc = read_version(d, &v, e)) || (rc = db_commit(d, e))) {
        db_rollback(d);
        return err_prefix(e, "migrations: "), rc;
    }
    if (v > N_MIG) {
        err_set(e, "the database's schema version is %d, newer than this omni knows (%d): upgrade omni", v, N_MIG);
        return STORE_ERR;
    }
    for (int i = v + 1; i <= N_MIG; i++) {
        int now_v = 0;
        if ((rc = db_begin(d, 1, e)) || (rc = lock_key(d, "omni:migrate", e)) || (rc = read_version(d, &now_v, e))) {
            db_rollback(d);
            return err_prefix(e, "migration %d: ", i), rc;
        }
        if (now_v >= i) { /* another process applied it meanwhile */
            db_rollback(d);
            continue;
        }
        struct dbq *q = NULL;
        if ((rc = db_exec(d, mig[i - 1], e)) == 0) {
            q = db_prep(d, "INSERT INTO schema_version (version, applied) VALUES ($1, $2)", 0, e);
            if (!q) rc = STORE_ERR;
            else {
                dbq_int(q, 1, i);
                dbq_int(q, 2, store_now_ms());
                rc = dbq_run(q, e);
                dbq_done(q);
            }
        }
        if (rc || (rc = db_commit(d, e))) {
            db_rollback(d);
            return err_prefix(e, "migration %d: ", i), rc;
        }
    }
    if (db_kind(d) == DB_PG) pg_trgm_indexes(d);
    return 0;
}

/* ---- open, close ---- */

int store_open(const char *url, struct store **out, struct err *e) {
    *out = NULL;
    if (!url || !*url) return err_set(e, "no database URL (sqlite:PATH or postgres://…)"), STORE_INVALID;
    enum db_kind kind;
    const char *target;
    if (!strncmp(url, "sqlite:", 7)) {
        kind = DB_SQLITE;
        target = url + 7;
        if (!strncmp(target, "//", 2)) target += 2;
        if (!*target) return err_set(e, "%s: no file path after sqlite:", url), STORE_INVALID;
    } else if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13)) {
        kind = DB_PG;
        target = url;
    } else if (!strncmp(url, "postgres:", 9)) {
        kind = DB_PG;
        target = url + 9; /* a libpq conninfo string: "postgres:host=/tmp dbname=omni" */
    } else {
        return err_set(e, "%s: unknown database URL (want sqlite:PATH or postgres://…)", url), STORE_INVALID;
    }
    struct store *st = calloc(1, sizeof *st);
    if (!st || !(st->target = strdup(target))) {
        free(st);
        return err_set(e, "out of memory");
    }
    st->kind = kind;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    struct db *d;
    int rc = acquire(st, &d, e);
    if (rc == 0) {
        rc = migrate(d, e);
        release(st, d);
    }
    if (rc) {
        store_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

int store_open_default(const char *home_dir, struct store **out, struct err *e) {
    *out = NULL;
    if (!home_dir || !*home_dir) return err_set(e, "no folder for omni.db"), STORE_INVALID;
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s", home_dir) >= (int)sizeof p) return err_set(e, "%s: path too long", home_dir);
    for (char *s = p + 1;; s++) { /* mkdir -p */
        if (*s == '/' || !*s) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0700) && errno != EEXIST) return err_set(e, "%s: cannot create folder: %s", p, strerror(errno));
            if (!c) break;
            *s = c;
        }
    }
    char url[PATH_MAX + 32];
    if (snprintf(url, sizeof url, "sqlite:%s/omni.db", home_dir) >= (int)sizeof url)
        return err_set(e, "%s: path too long", home_dir);
    return store_open(url, out, e);
}

void store_close(struct store *st) {
    if (!st) return;
    for (int i = 0; i < st->n_idle; i++) db_disconnect(st->idle[i]);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    free(st->target);
    free(st);
}

const char *store_backend(const struct store *st) { return st->kind == DB_PG ? "postgres" : "sqlite"; }

int store_schema_version(struct store *st, int *version, struct err *e) {
    struct db *d;
    if (acquire(st, &d, e)) return STORE_ERR;
    int rc = read_version(d, version, e);
    release(st, d);
    return rc;
}

/* ---- users ---- */

#define USER_COLS "id, email, name, password_hash, role, tier, status, consent, created"

static void read_user(struct dbq *q, struct store_user *u) {
    memset(u, 0, sizeof *u);
    col(u->id, sizeof u->id, q, 0);
    col(u->email, sizeof u->email, q, 1);
    col(u->name, sizeof u->name, q, 2);
    col(u->password_hash, sizeof u->password_hash, q, 3);
    col(u->role, sizeof u->role, q, 4);
    col(u->tier, sizeof u->tier, q, 5);
    col(u->status, sizeof u->status, q, 6);
    u->consent = (int)dbq_col_int(q, 7);
    u->created = dbq_col_int(q, 8);
}

static int valid_role(const char *r) { return !strcmp(r, "admin") || !strcmp(r, "trainer") || !strcmp(r, "user"); }
static int valid_status(const char *s) {
    return !strcmp(s, "active") || !strcmp(s, "pending") || !strcmp(s, "disabled");
}

/* the unique key of an email: ASCII-lowercased, surrounding spaces dropped */
static int email_key(const char *email, char key[STORE_EMAIL_MAX], struct err *e) {
    while (*email == ' ' || *email == '\t') email++;
    size_t n = strlen(email);
    while (n && (email[n - 1] == ' ' || email[n - 1] == '\t')) n--;
    if (!n) return err_set(e, "email is missing"), STORE_INVALID;
    if (n >= STORE_EMAIL_MAX) return err_set(e, "email is too long"), STORE_INVALID;
    for (size_t i = 0; i < n; i++) {
        char c = email[i];
        key[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    key[n] = 0;
    return 0;
}

static int read_user_row(struct dbq *q, void *row, struct err *e) {
    if (row) read_user(q, row);
    return 0;
}

static int get_user_by(struct store *st, const char *sql, const char *arg, struct store_user *out, struct err *e) {
    const struct rowarg a[] = {ROW_T(arg)};
    return rows_one(st, sql, a, ROW_N(a), "user not found", read_user_row, out, e);
}

int store_user_create(struct store *st, const struct store_user *in, unsigned flags, struct store_user *out,
                      struct err *e) {
    struct store_user u = *in;
    char key[STORE_EMAIL_MAX];
    int rc;
    if ((rc = email_key(in->email, key, e))) return rc;
    u.id[sizeof u.id - 1] = 0;
    if (!memchr(in->id, 0, sizeof in->id) || !memchr(in->email, 0, sizeof in->email) ||
        !memchr(in->name, 0, sizeof in->name) || !memchr(in->password_hash, 0, sizeof in->password_hash) ||
        !memchr(in->role, 0, sizeof in->role) || !memchr(in->tier, 0, sizeof in->tier) ||
        !memchr(in->status, 0, sizeof in->status))
        return err_set(e, "user field not terminated"), STORE_INVALID;
    if (!u.id[0] && store_new_id("usr", u.id, sizeof u.id, e)) return STORE_ERR;
    if (!u.role[0]) strcpy(u.role, "user");
    if (!u.tier[0]) strcpy(u.tier, "free");
    if (!u.status[0]) strcpy(u.status, "active");
    if (!valid_role(u.role)) return err_set(e, "unknown role '%s' (admin, trainer or user)", u.role), STORE_INVALID;
    if (!valid_status(u.status))
        return err_set(e, "unknown status '%s' (active, pending or disabled)", u.status), STORE_INVALID;
    if (!u.created) u.created = store_now_ms();
    u.consent = u.consent ? 1 : 0;

    struct db *d;
    if (acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = NULL;
    if ((rc = db_begin(d, 1, e))) goto out;
    if (flags & STORE_FIRST_IS_ADMIN) {
        if ((rc = lock_key(d, "omni:first-user", e))) goto out;
        q = db_prep(d, "SELECT COUNT(*) FROM users", 1, e);
        if (!q) { rc = STORE_ERR; goto out; }
        rc = dbq_step(q, e);
        if (rc < 0) goto out;
        if (rc == 1 && dbq_col_int(q, 0) == 0) strcpy(u.role, "admin");
        dbq_done(q);
        q = NULL;
    }
    q = db_prep(d, "INSERT INTO users (id, email, email_key, name, password_hash, role, tier, status, consent, created)"
                   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", 1, e);
    if (!q) { rc = STORE_ERR; goto out; }
    dbq_text(q, 1, u.id);
    dbq_text(q, 2, u.email);
    dbq_text(q, 3, key);
    dbq_text(q, 4, u.name);
    dbq_text(q, 5, u.password_hash);
    dbq_text(q, 6, u.role);
    dbq_text(q, 7, u.tier);
    dbq_text(q, 8, u.status);
    dbq_int(q, 9, u.consent);
    dbq_int(q, 10, u.created);
    rc = dbq_run(q, e);
    if (rc == STORE_CONFLICT) err_set(e, "a user with that email (or id) exists");
    if (rc == 0) rc = db_commit(d, e);
out:
    dbq_done(q);
    release(st, d);
    if (rc == 0 && out) *out = u;
    return rc;
}

int store_user_get(struct store *st, const char *user_id, struct store_user *out, struct err *e) {
    int rc;
    if ((rc = need_id(user_id, "user id", e))) return rc;
    return get_user_by(st, "SELECT " USER_COLS " FROM users WHERE id = $1", user_id, out, e);
}

int store_user_get_by_email(struct store *st, const char *email, struct store_user *out, struct err *e) {
    char key[STORE_EMAIL_MAX];
    int rc;
    if ((rc = email_key(email ? email : "", key, e))) return rc;
    return get_user_by(st, "SELECT " USER_COLS " FROM users WHERE email_key = $1", key, out, e);
}

int store_user_update(struct store *st, const struct store_user *u, unsigned fields, struct err *e) {
    int rc;
    if ((rc = need_id(u->id, "user id", e))) return rc;
    char key[STORE_EMAIL_MAX];
    if ((fields & STORE_USER_EMAIL) && (rc = email_key(u->email, key, e))) return rc;
    if ((fields & STORE_USER_ROLE) && !valid_role(u->role))
        return err_set(e, "unknown role '%.15s' (admin, trainer or user)", u->role), STORE_INVALID;
    if ((fields & STORE_USER_STATUS) && !valid_status(u->status))
        return err_set(e, "unknown status '%.15s'", u->status), STORE_INVALID;
    if (!fields) return 0;
    /* each field is its own statement, all in one transaction (a handful of cached
     * statements instead of 2^7 SQL texts) */
    static const char *const sql[] = {
        "UPDATE users SET email = $2, email_key = $3 WHERE id = $1",
        "UPDATE users SET name = $2 WHERE id = $1",
        "UPDATE users SET password_hash = $2 WHERE id = $1",
        "UPDATE users SET role = $2 WHERE id = $1",
        "UPDATE users SET tier = $2 WHERE id = $1",
        "UPDATE users SET status = $2 WHERE id = $1",
        "UPDATE users SET consent = $2 WHERE id = $1",
    };
    const char *val[7] = {u->email, u->name, u->password_hash, u->role, u->tier, u->status, NULL};
    struct db *d;
    if (acquire(st, &d, e)) return STORE_ERR;
    int64_t changed = 0;
    if ((rc = db_begin(d, 1, e))) goto out;
    for (int i = 0; i < 7 && rc == 0; i++) {
        if (!(fields & (1u << i))) continue;
        struct dbq *q = db_prep(d, sql[i], 1, e);
        if (!q) { rc = STORE_ERR; break; }
        dbq_text(q, 1, u->id);
        if (i == 6) dbq_int(q, 2, u->consent ? 1 : 0);
        else dbq_text(q, 2, val[i]);
        if (i == 0) dbq_text(q, 3, key);
        rc = dbq_run(q, e);
        changed = dbq_changes(q);
        dbq_done(q);
        if (rc == 0 && changed == 0) { err_set(e, "user not found"); rc = STORE_NOTFOUND; }
    }
    if (rc == STORE_CONFLICT) err_set(e, "a user with that email exists");
    if (rc == 0) rc = db_commit(d, e);
out:
    release(st, d);
    return rc;
}

int store_user_delete(struct store *st, const char *user_id, struct err *e) {
    int rc;
    if ((rc = need_id(user_id, "user id", e))) return rc;
    struct db *d;
    if (acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = NULL;
    if ((rc = db_begin(d, 1, e))) goto out;
    if (!(q = db_prep(d, "DELETE FROM limit_events WHERE subject = $1", 1, e))) { rc = STORE_ERR; goto out; }
    dbq_text(q, 1, user_id);
    if ((rc = dbq_run(q, e))) goto out;
    dbq_done(q);
    if (!(q = db_prep(d, "DELETE FROM users WHERE id = $1", 1, e))) { rc = STORE_ERR; goto out; }
    dbq_text(q, 1, user_id);
    rc = rows_run_changed(q, "user not found", e);
    dbq_done(q);
    q = NULL;
    if (rc == 0) rc = db_commit(d, e);
out:
    dbq_done(q);
    release(st, d);
    return rc;
}

int store_user_list(struct store *st, int64_t offset, int64_t limit, struct store_user **out, size_t *n,
                    struct err *e) {
    *out = NULL;
    *n = 0;
    if (limit <= 0 || limit > 100000) limit = 100000;
    if (offset < 0) offset = 0;
    static const struct rows_shape shape = {sizeof **out, 16, read_user_row, NULL};
    const struct rowarg a[] = {ROW_I(limit), ROW_I(offset)};
    return rows_many(st, "SELECT " USER_COLS " FROM users ORDER BY created, id LIMIT $1 OFFSET $2",
                     a, ROW_N(a), &shape, 0, (void **)out, n, NULL, e);
}

int store_user_count(struct store *st, int64_t *n, struct err *e) {
    struct db *d;
    if (acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "SELECT COUNT(*) FROM users", 1, e);
    int rc = STORE_ERR;
    if (q) {
        rc = dbq_step(q, e);
        if (rc == 1) *n = dbq_col_int(q, 0), rc = 0;
        dbq_done(q);
    }
    release(st, d);
    return rc;
}

/* ---- sessions ---- */

int store_session_create(struct store *st, const struct store_session *s, struct err *e) {
    int rc;
    if (!s->token_hash[0] || !memchr(s->token_hash, 0, sizeof s->token_hash))
        return err_set(e, "session token hash is missing"), STORE_INVALID;
    if ((rc = need_id(s->user_id, "user id", e))) return rc;
    int64_t now = store_now_ms();
    struct db *d;
    if (acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "INSERT INTO sessions (token_hash, user_id, created, expires, last_seen)"
                               " VALUES ($1, $2, $3, $4, $5)", 1, e);
    rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, s->token_hash);
        dbq_text(q, 2, s->user_id);
        dbq_int(q, 3, s->created ? s->created : now);
        dbq_int(q, 4, s->expires);
        dbq_int(q, 5, s->last_seen ? s->last_seen : now);
        rc = dbq_run(q, e);
        if (rc == STORE_NOTFOUND) err_set(e, "user not found");
        dbq_done(q);
    }
    release(st, d);
    return rc;
}

int store_session_get(struct store *st, const char *token_hash, int64_t now, struct store_session *out,
                      struct err *e) {
    if (!token_hash || !*token_hash || strlen(token_hash) >= STORE_HASH_MAX)
        return err_set(e, "session not found"), STORE_NOTFOUND;
    struct db *d;
    if (acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "SELECT token_hash, user_id, created, expires, last_seen FROM sessions"
                               " WHERE token_hash = $1", 1, e);
    int rc = STORE_ERR, expired = 0;
    if (q) {
        dbq_text(q, 1, token_hash);
        rc = dbq_step(q, e);
        if (rc == 1) {
            struct store_session s;
            memset(&s, 0, sizeof s);
            col(s.token_hash, sizeof s.token_hash, q, 0);
            col(s.user_id, sizeof s.user_id, q, 1);
            s.created = dbq_col_int(q, 2);
            s.expires = dbq_col_int(q, 3);
            s.last_seen = dbq_col_int(q, 4);
            if (s.expires <= now) expired = 1;
            else if (out) *out = s;
            rc = 0;
        } else if (rc == 0) {
            rc = STORE_NOTFOUND;
        }
        dbq_done(q);
    }
    release(st, d);
    if (expired) {
        const struct rowarg a[] = {ROW_T(token_hash)};
        rows_change(st, "DELETE FROM sessions WHERE token_hash = $1", a, ROW_N(a), NULL, NULL, NULL);
        rc = STORE_NOTFOUND;
    }
    if (rc == STORE_NOTFOUND) err_set(e, expired ? "session expired" : "session not found");
    return rc;
}

int store_session_touch(struct store *st, const char *token_hash, int64_t last_seen, int64_t expires,
                        struct err *e) {
    if (!token_hash || !*token_hash) return err_set(e, "session not found"), STORE_NOTFOUND;
    struct db *d;
    if (acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "UPDATE sessions SET last_seen = $2,"
                               " expires = CASE WHEN CAST($3 AS BIGINT) > 0 THEN CAST($3 AS BIGINT) ELSE expires END WHERE token_hash = $1", 1, e);
    int rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, token_hash);
        dbq_int(q, 2, last_seen ? last_seen : store_now_ms());
        dbq_int(q, 3, expires);
        rc = rows_run_changed(q, "session not found", e);
        dbq_done(q);
    }
    release(st, d);
    return rc;
}

int store_session_delete(struct store *st, const char *token_hash, struct err *e) {
    if (!token_hash || !*token_hash) return err_set(e, "session not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(token_hash)};
    return rows_change(st, "DELETE FROM sessions WHERE token_hash = $1", a, ROW_N(a), "session not found", NULL, e);
}

int store_session_delete_user(struct store *st, const char *user_id, struct err *e) {
    int rc;
    if ((rc = need_id(user_id, "user id", e))) return rc;
    const struct rowarg a[] = {ROW_T(user_id)};
    return rows_change(st, "DELETE FROM sessions WHERE user_id = $1", a, ROW_N(a), NULL, NULL, e);
}

int store_session_purge(struct store *st, int64_t now, int64_t *n, struct err *e) {
    struct db *d;
    if (acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "DELETE FROM sessions WHERE expires <= $1", 1, e);
    int rc = STORE_ERR;
    if (q) {
        dbq_int(q, 1, now);
        rc = dbq_run(q, e);
        if (n) *n = rc ? 0 : dbq_changes(q);
        dbq_done(q);
    }
    release(st, d);
    return rc;
}

/* ---- API keys ---- */

#define KEY_COLS "id, user_id, name, prefix, key_hash, models, created, last_used, revoked"

static void read_key(struct dbq *q, struct store_key *k) {
    memset(k, 0, sizeof *k);
    col(k->id, sizeof k->id, q, 0);
    col(k->user_id, sizeof k->user_id, q, 1);
    col(k->name, sizeof k->name, q, 2);
    col(k->prefix, sizeof k->prefix, q, 3);
    col(k->key_hash, sizeof k->key_hash, q, 4);
    col(k->models, sizeof k->models, q, 5);
    k->created = dbq_col_int(q, 6);
    k->last_used = dbq_col_int(q, 7);
    k->revoked = dbq_col_int(q, 8);
}

int store_key_create(struct store *st, const struct store_key *in, struct store_key *out, struct err *e) {
    struct store_key k = *in;
    int rc;
    if ((rc = need_id(k.user_id, "user id", e))) return rc;
    if (!k.key_hash[0] || !memchr(k.key_hash, 0, sizeof k.key_hash) || !memchr(k.name, 0, sizeof k.name) ||
        !memchr(k.prefix, 0, sizeof k.prefix) || !memchr(k.models, 0, sizeof k.models))
        return err_set(e, "key hash missing or a field not terminated"), STORE_INVALID;
    if (!k.id[0] && store_new_id("key", k.id, sizeof k.id, e)) return STORE_ERR;
    if (!k.created) k.created = store_now_ms();
    struct db *d;
    if (acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "INSERT INTO api_keys (" KEY_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", 1, e);
    rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, k.id);
        dbq_text(q, 2, k.user_id);
        dbq_text(q, 3, k.name);
        dbq_text(q, 4, k.prefix);
        dbq_text(q, 5, k.key_hash);
        dbq_text(q, 6, k.models);
        dbq_int(q, 7, k.created);
        dbq_int(q, 8, k.last_used);
        dbq_int(q, 9, k.revoked);
        rc = dbq_run(q, e);
        if (rc == STORE_NOTFOUND) err_set(e, "user not found");
        if (rc == STORE_CONFLICT) err_set(e, "a key with that hash (or id) exists");
        dbq_done(q);
    }
    release(st, d);
    if (rc == 0 && out) *out = k;
    return rc;
}

static int read_key_row(struct dbq *q, void *row, struct err *e) {
    if (row) read_key(q, row);
    return 0;
}

static int key_query(struct store *st, const char *sql, const char *a, const char *b, struct store_key *out,
                     struct err *e) {
    const struct rowarg args[] = {ROW_T(a), ROW_T(b)};
    return rows_one(st, sql, args, b ? 2 : 1, "key not found", read_key_row, out, e);
}

int store_key_get_by_hash(struct store *st, const char *key_hash, struct store_key *out, struct err *e) {
    if (!key_hash || !*key_hash || strlen(key_hash) >= STORE_HASH_MAX) return err_set(e, "key not found"), STORE_NOTFOUND;
    return key_query(st, "SELECT " KEY_COLS " FROM api_keys WHERE key_hash = $1", key_hash, NULL, out, e);
}

int store_key_get(struct store *st, const char *user_id, const char *key_id, struct store_key *out, struct err *e) {
    int rc;
    if ((rc = need_id(user_id, "user id", e))) return rc;
    if (!key_id || !*key_id || strlen(key_id) >= STORE_ID_MAX) return err_set(e, "key not found"), STORE_NOTFOUND;
    return key_query(st, "SELECT " KEY_COLS " FROM api_keys WHERE id = $2 AND user_id = $1", user_id, key_id, out, e);
}

int store_key_list(struct store *st, const char *user_id, struct store_key **out, size_t *n, struct err *e) {
    *out = NULL;
    *n = 0;
    int rc;
    if ((rc = need_id(user_id, "user id", e))) return rc;
    static const struct rows_shape shape = {sizeof **out, 8, read_key_row, NULL};
    const struct rowarg a[] = {ROW_T(user_id)};
    return rows_many(st, "SELECT " KEY_COLS " FROM api_keys WHERE user_id = $1 ORDER BY created DESC, id DESC", a,
                     ROW_N(a), &shape, 0, (void **)out, n, NULL, e);
}

int store_key_revoke(struct store *st, const char *user_id, const char *key_id, int64_t now, struct err *e) {
    int rc;
    if ((rc = need_id(user_id, "user id", e))) return rc;
    if (!key_id || !*key_id || strlen(key_id) >= STORE_ID_MAX) return err_set(e, "key not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(user_id), ROW_T(key_id), ROW_I(now ? now : store_now_ms())};
    return rows_change(st, "UPDATE api_keys SET revoked = $3 WHERE id = $2 AND user_id = $1 AND revoked = 0", a,
                       ROW_N(a), "key not found", NULL, e);
}

int store_key_touch(struct store *st, const char *key_id, int64_t last_used, struct err *e) {
    if (!key_id || !*key_id) return err_set(e, "key not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(key_id), ROW_I(last_used ? last_used : store_now_ms())};
    return rows_change(st, "UPDATE api_keys SET last_used = $2 WHERE id = $1", a, ROW_N(a), "key not found", NULL, e);
}

/* ---- conversations ---- */

#define CONV_COLS "id, user_id, title, model, assistant_id, share_token, current_leaf, created, updated, archived, pinned"
#define CONV_COLS_C "c.id, c.user_id, c.title, c.model, c.assistant_id, c.share_token, c.current_leaf, c.created," \
                    " c.updated, c.archived, c.pinned"

static void read_conv(struct dbq *q, struct store_conv *c) {
    memset(c, 0, sizeof *c);
    col(c->id, sizeof c->id, q, 0);
    col(c->user_id, sizeof c->user_id, q, 1);
    col(c->title, sizeof c->title, q, 2);
    col(c->model, sizeof c->model, q, 3);
    col(c->assistant_id, sizeof c->assistant_id, q, 4);
    col(c->share_token, sizeof c->share_token, q, 5);
    col(c->current_leaf, sizeof c->current_leaf, q, 6);
    c->created = dbq_col_int(q, 7);
    c->updated = dbq_col_int(q, 8);
    c->archived = (int)dbq_col_int(q, 9);
    c->pinned = (int)dbq_col_int(q, 10);
}

static int conv_terminated(const struct store_conv *c) {
    return memchr(c->id, 0, sizeof c->id) && memchr(c->user_id, 0, sizeof c->user_id) &&
           memchr(c->title, 0, sizeof c->title) && memchr(c->model, 0, sizeof c->model) &&
           memchr(c->assistant_id, 0, sizeof c->assistant_id) && memchr(c->share_token, 0, sizeof c->share_token) &&
           memchr(c->current_leaf, 0, sizeof c->current_leaf);
}

int store_conv_create(struct store *st, const struct store_conv *in, struct store_conv *out, struct err *e) {
    struct store_conv c = *in;
    int rc;
    if (!conv_terminated(in)) return err_set(e, "conversation field not terminated"), STORE_INVALID;
    if ((rc = need_id(c.user_id, "user id", e))) return rc;
    if (!c.id[0] && store_new_id("conv", c.id, sizeof c.id, e)) return STORE_ERR;
    if (!c.created) c.created = store_now_ms();
    if (!c.updated) c.updated = c.created;
    c.current_leaf[0] = 0;
    c.archived = c.archived ? 1 : 0;
    c.pinned = c.pinned ? 1 : 0;
    struct db *d;
    if (acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "INSERT INTO conversations (" CONV_COLS ") VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8, $9, $10)",
                            1, e);
    rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, c.id);
        dbq_text(q, 2, c.user_id);
        dbq_text(q, 3, c.title);
        dbq_text(q, 4, c.model);
        dbq_text(q, 5, c.assistant_id[0] ? c.assistant_id : NULL);
        dbq_text(q, 6, c.share_token[0] ? c.share_token : NULL);
        dbq_int(q, 7, c.created);
        dbq_int(q, 8, c.updated);
        dbq_int(q, 9, c.archived);
        dbq_int(q, 10, c.pinned);
        rc = dbq_run(q, e);
        if (rc == STORE_NOTFOUND) err_set(e, "user not found");
        if (rc == STORE_CONFLICT) err_set(e, "a conversation with that id or share token exists");
        dbq_done(q);
    }
    release(st, d);
    if (rc == 0 && out) *out = c;
    return rc;
}

static int read_conv_row(struct dbq *q, void *row, struct err *e) {
    if (row) read_conv(q, row);
    return 0;
}

static int conv_query(struct store *st, const char *sql, const char *a, const char *b, struct store_conv *out,
                      struct err *e) {
    const struct rowarg args[] = {ROW_T(a), ROW_T(b)};
    return rows_one(st, sql, args, b ? 2 : 1, "conversation not found", read_conv_row, out, e);
}

static int bad_ref(const char *s) { return !s || !*s || strlen(s) >= STORE_ID_MAX; }

int store_conv_get(struct store *st, const char *user_id, const char *conv_id, struct store_conv *out,
                   struct err *e) {
    int rc;
    if ((rc = need_id(user_id, "user id", e))) return rc;
    if (bad_ref(conv_id)) return err_set(e, "conversation not found"), STORE_NOTFOUND;
    return conv_query(st, "SELECT " CONV_COLS " FROM conversations WHERE id = $2 AND user_id = $1", user_id, conv_id,
                      out, e);
}

int store_conv_get_shared(struct store *st, const char *share_token, struct store_conv *out, struct err *e) {
    if (bad_ref(share_token)) return err_set(e, "conversation not found"), STORE_NOTFOUND;
    return conv_query(st, "SELECT " CONV_COLS " FROM conversations WHERE share_token = $1", share_token, NULL, out, e);
}

/* the 9 list statements (archived × pinned filters), made once so they can be cached */
static char conv_list_sql[3][3][400];
static pthread_once_t conv_list_once = PTHREAD_ONCE_INIT;
static void conv_list_init(void) {
    static const char *const f[3] = {"", " AND archived = 0", " AND archived = 1"};
    static const char *const g[3] = {"", " AND pinned = 0", " AND pinned = 1"};
    for (int a = 0; a < 3; a++)
        for (int p = 0; p < 3; p++)
            snprintf(conv_list_sql[a][p], sizeof conv_list_sql[a][p],
                     "SELECT " CONV_COLS " FROM conversations WHERE user_id = $1%s%s"
                     " ORDER BY updated DESC, id DESC LIMIT $2 OFFSET $3", f[a], g[p]);
}

static int filt(int v) { return v < 0 ? 0 : v ? 2 : 1; }

int store_conv_list(struct store *st, const char *user_id, const struct store_conv_query *qq, struct store_conv_list *out,
                    struct err *e) {
    memset(out, 0, sizeof *out);
    int rc;
    if ((rc = need_id(user_id, "user id", e))) return rc;
    struct store_conv_query z = {.archived = 0, .pinned = -1, .offset = 0, .limit = 50};
    if (!qq) qq = &z;
    int64_t limit = qq->limit <= 0 ? 50 : qq->limit > 1000 ? 1000 : qq->limit;
    int64_t offset = qq->offset < 0 ? 0 : qq->offset;
    pthread_once(&conv_list_once, conv_list_init);
    static const struct rows_shape shape = {sizeof *out->items, 16, read_conv_row, NULL};
    const struct rowarg a[] = {ROW_T(user_id), ROW_I(limit + 1), ROW_I(offset)};
    void *items;
    /* conv_list_sql's strings are made once and never move: db_prep's cache key */
    rc = rows_many(st, conv_list_sql[filt(qq->archived)][filt(qq->pinned)], a, ROW_N(a), &shape, limit, &items, &out->n,
                   &out->has_more, e);
    out->items = items;
    return rc;
}

void store_conv_list_free(struct store_conv_list *l) {
    if (!l) return;
    free(l->items);
    memset(l, 0, sizeof *l);
}

int store_conv_update(struct store *st, const char *user_id, const char *conv_id, const struct store_conv *c,
                      unsigned fields, struct err *e) {
    int rc;
    if ((rc = need_id(user_id, "user id", e))) return rc;
    if (bad_ref(conv_id)) return err_set(e, "conversation not found"), STORE_NOTFOUND;
    if (!conv_terminated(c)) return err_set(e, "conversation field not terminated"), STORE_INVALID;
    static const char *const sql[] = {
        "UPDATE conversations SET title = $3, updated = $4 WHERE id = $2 AND user_id = $1",
        "UPDATE conversations SET archived = $3 WHERE id = $2 AND user_id = $1",
        "UPDATE conversations SET pinned = $3 WHERE id = $2 AND user_id = $1",
        "UPDATE conversations SET model = $3, updated = $4 WHERE id = $2 AND user_id = $1",
        "UPDATE conversations SET assistant_id = $3, updated = $4 WHERE id = $2 AND user_id = $1",
        "UPDATE conversations SET share_token = $3, updated = $4 WHERE id = $2 AND user_id = $1",
    };
    int64_t now = store_now_ms();
    struct db *d;
    if (acquire(st, &d, e)) return STORE_ERR;
    if ((rc = db_begin(d, 1, e))) goto out;
    /* the existence check first, so that no fields is also "not found" for others' ids */
    const struct rowarg a[] = {ROW_T(user_id), ROW_T(conv_id)};
    if ((rc = rows_one_on(d, "SELECT 1 FROM conversations WHERE id = $2 AND user_id = $1", a, ROW_N(a),
                          "conversation not found", NULL, NULL, e)))
        goto out;
    struct dbq *q;
    for (int i = 0; i < 6 && rc == 0; i++) {
        if (!(fields & (1u << i))) continue;
        if (!(q = db_prep(d, sql[i], 1, e))) { rc = STORE_ERR; break; }
        dbq_text(q, 1, user_id);
        dbq_text(q, 2, conv_id);
        switch (i) {
        case 0: dbq_text(q, 3, c->title); break;
        case 1: dbq_int(q, 3, c->archived ? 1 : 0); break;
        case 2: dbq_int(q, 3, c->pinned ? 1 : 0); break;
        case 3: dbq_text(q, 3, c->model); break;
        case 4: dbq_text(q, 3, c->assistant_id[0] ? c->assistant_id : NULL); break;
        case 5: dbq_text(q, 3, c->share_token[0] ? c->share_token : NULL); break;
        }
        if (i == 0 || i >= 3) dbq_int(q, 4, now);
        rc = dbq_run(q, e);
        dbq_done(q);
    }
    if (rc == STORE_CONFLICT) err_set(e, "that share token is taken");
    if (rc == 0) rc = db_commit(d, e);
out:
    release(st, d);
    return rc;
}

int store_conv_delete(struct store *st, const char *user_id, const char *conv_id, struct err *e) {
    int rc;
    if ((rc = need_id(user_id, "user id", e))) return rc;
    if (bad_ref(conv_id)) return err_set(e, "conversation not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(user_id), ROW_T(conv_id)};
    return rows_change(st, "DELETE FROM conversations WHERE id = $2 AND user_id = $1",
                       a, ROW_N(a), "conversation not found", NULL, e);
}

/* ---- messages ---- */

#define USAGE_COLS "user_id, key_id, model, day, prompt_tokens, cached_tokens, completion_tokens, images, requests, audio_seconds"

static int valid_day(const char *d) {
    if (strlen(d) != 10) return 0;
    for (int i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? d[i] != '-' : (d[i] < '0' || d[i] > '9')) return 0;
    return 1;
}
static int usage_check(const struct store_usage *u, char day[STORE_DAY_MAX], struct err *e);
static int usage_upsert(struct db *d, const struct store_usage *u, const char *day, struct err *e);

/* The searchable text of a message's content: a JSON string's value, the "text" of JSON
 * content parts (OpenAI's [{"type":"text","text":…}]) or an object's "text"/"content",
 * else the content as it is. malloc'd. */
static char *content_text(const char *content) {
    const char *s = content;
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r') s++;
    if (*s != '[' && *s != '{' && *s != '"') return strdup(content);
    cJSON *j = cJSON_Parse(s);
    if (!j) return strdup(content);
    char *r = NULL;
    if (cJSON_IsString(j)) {
        r = dupstr(j->valuestring);
    } else if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
        size_t len = 0, cap = 256;
        r = malloc(cap);
        if (r) r[0] = 0;
        cJSON *it = NULL;
        int single = cJSON_IsObject(j);
        for (it = single ? j : j->child; r && it; it = single ? NULL : it->next) {
            const char *t = NULL;
            if (cJSON_IsString(it)) t = it->valuestring;
            else {
                cJSON *x = cJSON_GetObjectItemCaseSensitive(it, "text");
                if (!cJSON_IsString(x)) x = cJSON_GetObjectItemCaseSensitive(it, "content");
                if (cJSON_IsString(x)) t = x->valuestring;
            }
            if (!t) continue;
            size_t n = strlen(t);
            if (len + n + 2 > cap) {
                while (len + n + 2 > cap) cap *= 2;
                char *p = realloc(r, cap);
                if (!p) { free(r); r = NULL; break; }
                r = p;
            }
            if (len) r[len++] = '\n';
            memcpy(r + len, t, n + 1);
            len += n;
        }
    } else {
        r = strdup(content);
    }
    cJSON_Delete(j);
    return r;
}

#define MSG_COLS "id, conv_id, parent_id, role, content, model, status, created, prompt_tokens, cached_tokens, completion_tokens"
#define MSG_COLS_M "m.id, m.conv_id, m.parent_id, m.role, m.content, m.model, m.status, m.created, m.prompt_tokens," \
                   " m.cached_tokens, m.completion_tokens"

static int read_msg(struct dbq *q, struct store_msg *m) {
    memset(m, 0, sizeof *m);
    col(m->id, sizeof m->id, q, 0);
    col(m->conv_id, sizeof m->conv_id, q, 1);
    col(m->parent_id, sizeof m->parent_id, q, 2);
    col(m->role, sizeof m->role, q, 3);
    m->content = strdup(dbq_col_text(q, 4));
    col(m->model, sizeof m->model, q, 5);
    col(m->status, sizeof m->status, q, 6);
    m->created = dbq_col_int(q, 7);
    m->prompt_tokens = dbq_col_int(q, 8);
    m->cached_tokens = dbq_col_int(q, 9);
    m->completion_tokens = dbq_col_int(q, 10);
    return m->content ? 0 : -1;
}

void store_msg_free(struct store_msg *m) {
    if (!m) return;
    free(m->content);
    m->content = NULL;
}

void store_msgs_free(struct store_msgs *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) free(l->items[i].content);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static int valid_msg_status(const char *s) { return !strcmp(s, "finished") || !strcmp(s, "partial"); }

int store_msg_add(struct store *st, const char *user_id, const struct store_msg *in, unsigned flags, char *out_id,
                  struct err *e) {
    return store_msg_add_usage(st, user_id, in, flags, NULL, out_id, e);
}

int store_msg_add_usage(struct store *st, const char *user_id, const struct store_msg *in, unsigned flags,
                        const struct store_usage *usage, char *out_id, struct err *e) {
    int rc;
    char day[STORE_DAY_MAX];
    if (usage && (rc = usage_check(usage, day, e))) return rc;
    if ((rc = need_id(user_id, "user id", e))) return rc;
    if (bad_ref(in->conv_id)) return err_set(e, "conversation not found"), STORE_NOTFOUND;
    if (!memchr(in->id, 0, sizeof in->id) || !memchr(in->parent_id, 0, sizeof in->parent_id) ||
        !memchr(in->role, 0, sizeof in->role) || !memchr(in->model, 0, sizeof in->model) ||
        !memchr(in->status, 0, sizeof in->status))
        return err_set(e, "message field not terminated"), STORE_INVALID;
    if (!in->role[0]) return err_set(e, "message role is missing"), STORE_INVALID;
    const char *status = in->status[0] ? in->status : "finished";
    if (!valid_msg_status(status)) return err_set(e, "unknown message status '%s'", status), STORE_INVALID;
    char id[STORE_ID_MAX];
    if (in->id[0]) snprintf(id, sizeof id, "%s", in->id);
    else if (store_new_id("msg", id, sizeof id, e)) return STORE_ERR;
    const char *content = in->content ? in->content : "";
    char *body = content_text(content);
    if (!body) return err_set(e, "out of memory");
    int64_t now = store_now_ms(), created = in->created ? in->created : now;

    struct db *d;
    if (acquire(st, &d, e)) { free(body); return STORE_ERR; }
    struct dbq *q = NULL;
    if ((rc = db_begin(d, 1, e))) goto out;
    /* the conversation is the user's (else not found), and gets its new time and leaf */
    q = db_prep(d, (flags & STORE_MSG_KEEP_LEAF)
                       ? "UPDATE conversations SET updated = $3 WHERE id = $2 AND user_id = $1"
                       : "UPDATE conversations SET updated = $3, current_leaf = $4 WHERE id = $2 AND user_id = $1",
                1, e);
    if (!q) { rc = STORE_ERR; goto out; }
    dbq_text(q, 1, user_id);
    dbq_text(q, 2, in->conv_id);
    dbq_int(q, 3, now);
    if (!(flags & STORE_MSG_KEEP_LEAF)) dbq_text(q, 4, id);
    rc = rows_run_changed(q, "conversation not found", e);
    dbq_done(q);
    q = NULL;
    if (rc) goto out;
    /* the parent must be in the same conversation */
    q = db_prep(d, "INSERT INTO messages (id, conv_id, user_id, parent_id, role, content, body, model, status, created,"
                   " prompt_tokens, cached_tokens, completion_tokens)"
                   " SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS TEXT), CAST($4 AS TEXT), CAST($5 AS TEXT),"
                   " CAST($6 AS TEXT), CAST($7 AS TEXT), CAST($8 AS TEXT), CAST($9 AS TEXT), CAST($10 AS BIGINT),"
                   " CAST($11 AS BIGINT), CAST($12 AS BIGINT), CAST($13 AS BIGINT)"
                   " WHERE CAST($4 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM messages WHERE id = $4 AND conv_id = $2)", 1, e);
    if (!q) { rc = STORE_ERR; goto out; }
    dbq_text(q, 1, id);
    dbq_text(q, 2, in->conv_id);
    dbq_text(q, 3, user_id);
    dbq_text(q, 4, in->parent_id[0] ? in->parent_id : NULL);
    dbq_text(q, 5, in->role);
    dbq_text(q, 6, content);
    dbq_text(q, 7, body);
    dbq_text(q, 8, in->model);
    dbq_text(q, 9, status);
    dbq_int(q, 10, created);
    dbq_int(q, 11, in->prompt_tokens);
    dbq_int(q, 12, in->cached_tokens);
    dbq_int(q, 13, in->completion_tokens);
    rc = rows_run_changed(q, "parent message not found", e);
    dbq_done(q);
    q = NULL;
    if (rc == STORE_CONFLICT) err_set(e, "a message with that id exists");
    if (rc == 0 && usage) rc = usage_upsert(d, usage, day, e);
    if (rc == 0) rc = db_commit(d, e);
out:
    dbq_done(q);
    release(st, d);
    free(body);
    if (rc == 0 && out_id) memcpy(out_id, id, strlen(id) + 1);
    return rc;
}

int store_msg_update(struct store *st, const char *user_id, const char *msg_id, const char *content, const char *status,
                     int64_t prompt_tokens, int64_t cached_tokens, int64_t completion_tokens, struct err *e) {
    int rc;
    if ((rc = need_id(user_id, "user id", e))) return rc;
    if (bad_ref(msg_id)) return err_set(e, "message not found"), STORE_NOTFOUND;
    if (!status || !*status) status = "finished";
    if (!valid_msg_status(status)) return err_set(e, "unknown message status '%.15s'", status), STORE_INVALID;
    if (!content) content = "";
    char *body = content_text(content);
    if (!body) return err_set(e, "out of memory");
    struct db *d;
    if (acquire(st, &d, e)) { free(body); return STORE_ERR; }
    struct dbq *q = db_prep(d, "UPDATE messages SET content = $3, body = $4, status = $5, prompt_tokens = $6,"
                               " cached_tokens = $7, completion_tokens = $8 WHERE id = $2 AND user_id = $1", 1, e);
    rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, user_id);
        dbq_text(q, 2, msg_id);
        dbq_text(q, 3, content);
        dbq_text(q, 4, body);
        dbq_text(q, 5, status);
        dbq_int(q, 6, prompt_tokens);
        dbq_int(q, 7, cached_tokens);
        dbq_int(q, 8, completion_tokens);
        rc = rows_run_changed(q, "message not found", e);
        dbq_done(q);
    }
    release(st, d);
    free(body);
    return rc;
}

static int read_msg_row(struct dbq *q, void *row, struct err *e) {
    return read_msg(q, row) ? err_set(e, "out of memory") : 0;
}

static void drop_msg(void *row) { free(((struct store_msg *)row)->content); }

int store_msg_get(struct store *st, const char *user_id, const char *msg_id, struct store_msg *out, struct err *e) {
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = need_id(user_id, "user id", e))) return rc;
    if (bad_ref(msg_id)) return err_set(e, "message not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(user_id), ROW_T(msg_id)};
    return rows_one(st, "SELECT " MSG_COLS " FROM messages WHERE id = $2 AND user_id = $1",
                    a, ROW_N(a), "message not found", read_msg_row, out, e);
}

static int collect_msgs(struct dbq *q, struct store_msgs *out, struct err *e) {
    static const struct rows_shape shape = {sizeof *out->items, 16, read_msg_row, drop_msg};
    void *items;
    int rc = rows_collect(q, &shape, 0, &items, &out->n, NULL, e);
    out->items = items;
    return rc;
}

/* the user's conversation exists (0) or STORE_NOTFOUND; *leaf (may be NULL) gets current_leaf */
static int read_leaf(struct dbq *q, void *row, struct err *e) {
    if (row) col(row, STORE_ID_MAX, q, 0);
    return 0;
}

static int conv_check(struct db *d, const char *user_id, const char *conv_id, char *leaf, struct err *e) {
    const struct rowarg a[] = {ROW_T(user_id), ROW_T(conv_id)};
    return rows_one_on(d, "SELECT current_leaf FROM conversations WHERE id = $2 AND user_id = $1", a, ROW_N(a),
                       "conversation not found", read_leaf, leaf, e);
}

int store_msg_tree(struct store *st, const char *user_id, const char *conv_id, struct store_msgs *out, struct err *e) {
    memset(out, 0, sizeof *out);
    int rc;
    if ((rc = need_id(user_id, "user id", e))) return rc;
    if (bad_ref(conv_id)) return err_set(e, "conversation not found"), STORE_NOTFOUND;
    struct db *d;
    if (acquire(st, &d, e)) return STORE_ERR;
    if ((rc = db_begin(d, 0, e)) || (rc = conv_check(d, user_id, conv_id, NULL, e))) goto out;
    struct dbq *q = db_prep(d, "SELECT " MSG_COLS " FROM messages WHERE conv_id = $1 ORDER BY seq", 1, e);
    if (!q) { rc = STORE_ERR; goto out; }
    dbq_text(q, 1, conv_id);
    rc = collect_msgs(q, out, e);
    dbq_done(q);
    if (rc == 0) rc = db_commit(d, e);
out:
    release(st, d);
    if (rc) store_msgs_free(out);
    return rc;
}

int store_msg_path(struct store *st, const char *user_id, const char *conv_id, const char *leaf_id,
                   struct store_msgs *out, struct err *e) {
    memset(out, 0, sizeof *out);
    int rc;
    if ((rc = need_id(user_id, "user id", e))) return rc;
    if (bad_ref(conv_id)) return err_set(e, "conversation not found"), STORE_NOTFOUND;
    if (leaf_id && strlen(leaf_id) >= STORE_ID_MAX) return err_set(e, "message not found"), STORE_NOTFOUND;
    char leaf[STORE_ID_MAX] = "";
    struct db *d;
    if (acquire(st, &d, e)) return STORE_ERR;
    if ((rc = db_begin(d, 0, e)) || (rc = conv_check(d, user_id, conv_id, leaf, e))) goto out;
    if (leaf_id && *leaf_id) snprintf(leaf, sizeof leaf, "%s", leaf_id);
    if (!leaf[0]) { rc = db_commit(d, e); goto out; }
    struct dbq *q = db_prep(d, "WITH RECURSIVE p(id, parent_id, depth) AS ("
                               " SELECT id, parent_id, 0 FROM messages WHERE id = $1 AND conv_id = $2"
                               " UNION ALL SELECT m.id, m.parent_id, p.depth + 1 FROM messages m JOIN p ON m.id = p.parent_id)"
                               " SELECT " MSG_COLS_M " FROM messages m JOIN p ON m.id = p.id ORDER BY p.depth DESC", 1, e);
    if (!q) { rc = STORE_ERR; goto out; }
    dbq_text(q, 1, leaf);
    dbq_text(q, 2, conv_id);
    rc = collect_msgs(q, out, e);
    dbq_done(q);
    if (rc == 0 && out->n == 0) { err_set(e, "message not found"); rc = STORE_NOTFOUND; }
    if (rc == 0) rc = db_commit(d, e);
out:
    release(st, d);
    if (rc) store_msgs_free(out);
    return rc;
}

int store_conv_set_leaf(struct store *st, const char *user_id, const char *conv_id, const char *msg_id, struct err *e) {
    int rc;
    if ((rc = need_id(user_id, "user id", e))) return rc;
    if (bad_ref(conv_id)) return err_set(e, "conversation not found"), STORE_NOTFOUND;
    if (msg_id && strlen(msg_id) >= STORE_ID_MAX) return err_set(e, "message not found"), STORE_NOTFOUND;
    struct db *d;
    if (acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "UPDATE conversations SET current_leaf = $3 WHERE id = $2 AND user_id = $1"
                               " AND (CAST($3 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM messages WHERE id = $3 AND conv_id = $2))", 1, e);
    rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, user_id);
        dbq_text(q, 2, conv_id);
        dbq_text(q, 3, msg_id && *msg_id ? msg_id : NULL);
        rc = rows_run_changed(q, "conversation or message not found", e);
        dbq_done(q);
    }
    release(st, d);
    return rc;
}

/* ---- search ---- */

#define MAX_TERMS 8

static size_t utf8_chars(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) c++;
    return c;
}

/* '%' + term with \ % _ escaped + '%' (LIKE … ESCAPE '\') */
static char *like_pattern(const char *t, size_t n) {
    char *p = malloc(2 * n + 3), *o = p;
    if (!p) return NULL;
    *o++ = '%';
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '\\' || t[i] == '%' || t[i] == '_') *o++ = '\\';
        *o++ = t[i];
    }
    *o++ = '%';
    *o = 0;
    return p;
}

/* A snippet of body around the first occurrence of term (ASCII case-insensitive): up to 60
 * bytes before and 140 after, cut on UTF-8 character boundaries, "…" where cut. */
static char *make_snippet(const char *body, const char *term) {
    size_t n = strlen(body);
    const char *hit = term && *term ? strcasestr(body, term) : NULL;
    size_t at = hit ? (size_t)(hit - body) : 0;
    size_t a = at > 60 ? at - 60 : 0, b = at + 140 < n ? at + 140 : n;
    while (a > 0 && ((unsigned char)body[a] & 0xC0) == 0x80) a--;
    while (b < n && ((unsigned char)body[b] & 0xC0) == 0x80) b++;
    char *s = malloc(b - a + 8), *o = s;
    if (!s) return NULL;
    if (a > 0) { memcpy(o, "\xe2\x80\xa6", 3); o += 3; }
    memcpy(o, body + a, b - a);
    o += b - a;
    if (b < n) { memcpy(o, "\xe2\x80\xa6", 3); o += 3; }
    *o = 0;
    for (char *c = s; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t') *c = ' ';
    return s;
}

void store_hits_free(struct store_hits *h) {
    if (!h) return;
    for (size_t i = 0; i < h->n; i++) free(h->items[i].snippet);
    free(h->items);
    memset(h, 0, sizeof *h);
}

static int append(char *buf, size_t cap, size_t *len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int append(char *buf, size_t cap, size_t *len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap - *len) return -1;
    *len += (size_t)n;
    return 0;
}

int store_search(struct store *st, const char *user_id, const char *qtext, int archived, int64_t limit,
                 struct store_hits *out, struct err *e) {
    memset(out, 0, sizeof *out);
    int rc;
    if ((rc = need_id(user_id, "user id", e))) return rc;
    if (!qtext) qtext = "";
    if (strlen(qtext) > 1000) return err_set(e, "search text is too long (at most 1000 bytes)"), STORE_INVALID;
    if (limit <= 0) limit = 50;
    if (limit > 1000) limit = 1000;
    /* terms */
    const char *ts[MAX_TERMS];
    size_t tn[MAX_TERMS];
    int nt = 0;
    for (const char *s = qtext; *s;) {
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
        if (!*s) break;
        const char *b = s;
        while (*s && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') s++;
        if (nt == MAX_TERMS) return err_set(e, "too many search terms (at most %d)", MAX_TERMS), STORE_INVALID;
        ts[nt] = b;
        tn[nt++] = (size_t)(s - b);
    }
    if (!nt) return err_set(e, "empty search"), STORE_INVALID;
    char *pat[MAX_TERMS] = {0}, *rawt[MAX_TERMS] = {0}, *fts = NULL, *first = NULL;
    int is_long[MAX_TERMS], raw[MAX_TERMS], n_long = 0;
    rc = 0;
    for (int i = 0; i < nt && rc == 0; i++) {
        if (!(pat[i] = like_pattern(ts[i], tn[i])) || !(rawt[i] = strndup(ts[i], tn[i]))) rc = err_set(e, "out of memory");
        size_t nc = utf8_chars(ts[i], tn[i]);
        int letters = 0;
        for (size_t k = 0; k < tn[i]; k++)
            if ((ts[i][k] | 0x20) >= 'a' && (ts[i][k] | 0x20) <= 'z') letters = 1;
        is_long[i] = st->kind == DB_SQLITE && nc >= 3;
        raw[i] = nc < 3 && !letters;
        n_long += is_long[i];
    }
    first = rc ? NULL : strndup(ts[0], tn[0]);
    if (!rc && !first) rc = err_set(e, "out of memory");
    /* FTS5 query: every long term as a quoted phrase ("" escapes "), implicitly ANDed */
    if (!rc && n_long) {
        size_t cap = 4, len = 0;
        for (int i = 0; i < nt; i++) cap += 2 * tn[i] + 4;
        if (!(fts = malloc(cap))) rc = err_set(e, "out of memory");
        for (int i = 0; fts && i < nt; i++) {
            if (!is_long[i]) continue;
            if (len) fts[len++] = ' ';
            fts[len++] = '"';
            for (size_t k = 0; k < tn[i]; k++) {
                if (ts[i][k] == '"') fts[len++] = '"';
                fts[len++] = ts[i][k];
            }
            fts[len++] = '"';
        }
        if (fts) fts[len] = 0;
    }
    if (rc) goto free_terms;

    /* Per term, one condition on a text column X (the message body, the title):
     *   raw (1-2 characters, no ASCII letter: nothing to fold) instr/strpos(X, term) > 0
     *   else X LIKE (SQLite, ASCII case-insensitive) / ILIKE (PostgreSQL) '%term%'
     * and on SQLite, for message bodies, every term of 3+ characters goes to the FTS5
     * trigram index instead (one MATCH of all of them).
     * SQL: $1 user; (SQLite with long terms) $2 the FTS query; then one parameter per term
     * (the LIKE pattern, or the raw term). The candidates (conversations with a matching
     * message, or a matching title) are collected first, then joined and ordered, so the
     * cost follows the matches, not the user's whole history. */
    char sql[8192];
    size_t len = 0;
    int p_fts = n_long ? 2 : 0, p0 = n_long ? 3 : 2;
    const char *like = st->kind == DB_PG ? "ILIKE" : "LIKE", *pos = st->kind == DB_PG ? "strpos" : "instr";
    int bad = append(sql, sizeof sql, &len, "WITH h AS (SELECT conv_id, MAX(seq) AS seq FROM %s WHERE user_id = $1",
                     st->kind == DB_SQLITE ? "message_text" : "messages");
    if (p_fts) bad |= append(sql, sizeof sql, &len, " AND seq IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH $%d)", p_fts);
    for (int i = 0; i < nt; i++) {
        if (is_long[i]) continue;
        if (raw[i]) bad |= append(sql, sizeof sql, &len, " AND %s(body, $%d) > 0", pos, p0 + i);
        else bad |= append(sql, sizeof sql, &len, " AND body %s $%d ESCAPE '\\'", like, p0 + i);
    }
    bad |= append(sql, sizeof sql, &len, " GROUP BY conv_id),"
                                         " k AS (SELECT conv_id AS id FROM h UNION SELECT id FROM conversations WHERE user_id = $1");
    for (int i = 0; i < nt; i++) {
        if (raw[i]) bad |= append(sql, sizeof sql, &len, " AND %s(title, $%d) > 0", pos, p0 + i);
        else bad |= append(sql, sizeof sql, &len, " AND title %s $%d ESCAPE '\\'", like, p0 + i);
    }
    bad |= append(sql, sizeof sql, &len, ") SELECT " CONV_COLS_C ", m.id, m.body FROM k JOIN conversations c ON c.id = k.id"
                                         " LEFT JOIN h ON h.conv_id = c.id LEFT JOIN messages m ON m.seq = h.seq"
                                         " WHERE c.user_id = $1");
    if (archived >= 0) bad |= append(sql, sizeof sql, &len, " AND c.archived = %d", archived ? 1 : 0);
    bad |= append(sql, sizeof sql, &len, " ORDER BY c.updated DESC, c.id DESC LIMIT %lld", (long long)limit);
    if (bad) { rc = err_set(e, "search query too long"); goto free_terms; }

    struct db *d;
    if (acquire(st, &d, e)) { rc = STORE_ERR; goto free_terms; }
    struct dbq *q = db_prep(d, sql, 0, e);
    if (!q) rc = STORE_ERR;
    else {
        dbq_text(q, 1, user_id);
        if (p_fts) dbq_text(q, p_fts, fts);
        for (int i = 0; i < nt; i++) dbq_text(q, p0 + i, raw[i] ? rawt[i] : pat[i]);
        size_t cap = 0;
        while ((rc = dbq_step(q, e)) == 1) {
            void *items = out->items;
            if ((rc = rows_grow(&items, &cap, out->n, sizeof *out->items, 16, e))) break;
            out->items = items;
            struct store_hit *h = &out->items[out->n];
            memset(h, 0, sizeof *h);
            read_conv(q, &h->conv);
            col(h->msg_id, sizeof h->msg_id, q, 11);
            h->snippet = make_snippet(h->msg_id[0] ? dbq_col_text(q, 12) : h->conv.title, first);
            if (!h->snippet) { rc = err_set(e, "out of memory"); break; }
            out->n++;
        }
        dbq_done(q);
    }
    release(st, d);
free_terms:
    for (int i = 0; i < nt; i++) free(pat[i]), free(rawt[i]);
    free(fts);
    free(first);
    if (rc) store_hits_free(out);
    return rc;
}

/* ---- usage ---- */


/* checks u and fills day (u->day, or today) */
static int usage_check(const struct store_usage *u, char day[STORE_DAY_MAX], struct err *e) {
    int rc;
    if ((rc = need_id(u->user_id, "user id", e))) return rc;
    if (!memchr(u->key_id, 0, sizeof u->key_id) || !memchr(u->model, 0, sizeof u->model) ||
        !memchr(u->day, 0, sizeof u->day))
        return err_set(e, "usage field not terminated"), STORE_INVALID;
    if (u->day[0]) {
        if (!valid_day(u->day)) return err_set(e, "usage day '%s' is not YYYY-MM-DD", u->day), STORE_INVALID;
        memcpy(day, u->day, STORE_DAY_MAX);
    } else {
        store_day(store_now_ms(), day);
    }
    return 0;
}

static int usage_upsert(struct db *d, const struct store_usage *u, const char *day, struct err *e) {
    struct dbq *q = db_prep(d, "INSERT INTO usage_daily (" USAGE_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                               " ON CONFLICT (user_id, day, model, key_id) DO UPDATE SET"
                               " prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens,"
                               " cached_tokens = usage_daily.cached_tokens + excluded.cached_tokens,"
                               " completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens,"
                               " images = usage_daily.images + excluded.images,"
                               " requests = usage_daily.requests + excluded.requests,"
                               " audio_seconds = usage_daily.audio_seconds + excluded.audio_seconds", 1, e);
    if (!q) return STORE_ERR;
    dbq_text(q, 1, u->user_id);
    dbq_text(q, 2, u->key_id);
    dbq_text(q, 3, u->model);
    dbq_text(q, 4, day);
    dbq_int(q, 5, u->prompt_tokens);
    dbq_int(q, 6, u->cached_tokens);
    dbq_int(q, 7, u->completion_tokens);
    dbq_int(q, 8, u->images);
    dbq_int(q, 9, u->requests);
    dbq_real(q, 10, u->audio_seconds);
    int rc = dbq_run(q, e);
    if (rc == STORE_NOTFOUND) err_set(e, "user not found");
    dbq_done(q);
    return rc;
}

int store_usage_add(struct store *st, const struct store_usage *u, struct err *e) {
    char day[STORE_DAY_MAX];
    int rc;
    if ((rc = usage_check(u, day, e))) return rc;
    struct db *d;
    if (acquire(st, &d, e)) return STORE_ERR;
    rc = usage_upsert(d, u, day, e);
    release(st, d);
    return rc;
}

static void read_usage(struct dbq *q, struct store_usage *u) {
    memset(u, 0, sizeof *u);
    col(u->user_id, sizeof u->user_id, q, 0);
    col(u->key_id, sizeof u->key_id, q, 1);
    col(u->model, sizeof u->model, q, 2);
    col(u->day, sizeof u->day, q, 3);
    u->prompt_tokens = dbq_col_int(q, 4);
    u->cached_tokens = dbq_col_int(q, 5);
    u->completion_tokens = dbq_col_int(q, 6);
    u->images = dbq_col_int(q, 7);
    u->requests = dbq_col_int(q, 8);
    u->audio_seconds = dbq_col_real(q, 9);
}

/* $1 user ('' = all), $2 from ('' = open), $3 to */
#define USAGE_WHERE " WHERE ($1 = '' OR user_id = $1) AND ($2 = '' OR day >= $2) AND ($3 = '' OR day <= $3)"

static int usage_run(struct store *st, const char *sql, const char *user_id, const char *from, const char *to,
                     struct store_usage **rows, size_t *n, struct store_usage *total, struct err *e) {
    if (user_id && strlen(user_id) >= STORE_ID_MAX) return err_set(e, "user not found"), STORE_NOTFOUND;
    if ((from && *from && !valid_day(from)) || (to && *to && !valid_day(to)))
        return err_set(e, "usage days are YYYY-MM-DD"), STORE_INVALID;
    struct db *d;
    if (acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, sql, 1, e);
    int rc = STORE_ERR;
    size_t cap = 0;
    if (q) {
        dbq_text(q, 1, user_id ? user_id : "");
        dbq_text(q, 2, from ? from : "");
        dbq_text(q, 3, to ? to : "");
        while ((rc = dbq_step(q, e)) == 1) {
            if (total) {
                memset(total, 0, sizeof *total);
                total->prompt_tokens = dbq_col_int(q, 0);
                total->cached_tokens = dbq_col_int(q, 1);
                total->completion_tokens = dbq_col_int(q, 2);
                total->images = dbq_col_int(q, 3);
                total->requests = dbq_col_int(q, 4);
                total->audio_seconds = dbq_col_real(q, 5);
                continue;
            }
            void *arr = *rows;
            if ((rc = rows_grow(&arr, &cap, *n, sizeof **rows, 16, e))) break;
            *rows = arr;
            read_usage(q, &(*rows)[(*n)++]);
        }
        dbq_done(q);
    }
    release(st, d);
    return rc;
}

int store_usage_query(struct store *st, const char *user_id, const char *from_day, const char *to_day,
                      struct store_usage **out, size_t *n, struct err *e) {
    *out = NULL;
    *n = 0;
    int rc = usage_run(st, "SELECT " USAGE_COLS " FROM usage_daily" USAGE_WHERE " ORDER BY day, user_id, model, key_id",
                       user_id, from_day, to_day, out, n, NULL, e);
    if (rc) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int store_usage_total(struct store *st, const char *user_id, const char *from_day, const char *to_day,
                      struct store_usage *total, struct err *e) {
    memset(total, 0, sizeof *total);
    return usage_run(st, "SELECT COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(cached_tokens), 0),"
                         " COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(images), 0), COALESCE(SUM(requests), 0),"
                         " COALESCE(SUM(audio_seconds), 0) FROM usage_daily" USAGE_WHERE,
                     user_id, from_day, to_day, NULL, NULL, total, e);
}

/* ---- limits ---- */

int store_limit_hit(struct store *st, const char *subject, const char *bucket, int64_t now, int64_t window_ms,
                    int64_t limit, int64_t cost, struct store_limit *out, struct err *e) {
    memset(out, 0, sizeof *out);
    if (!subject || !*subject || !bucket || !*bucket || strlen(subject) > 512 || strlen(bucket) > 512)
        return err_set(e, "limit subject and bucket are needed (at most 512 bytes)"), STORE_INVALID;
    if (window_ms <= 0 || cost < 0) return err_set(e, "limit window must be > 0 and cost >= 0"), STORE_INVALID;
    if (!now) now = store_now_ms();
    char key[1100];
    snprintf(key, sizeof key, "omni:limit:%s\x1f%s", subject, bucket);
    struct db *d;
    if (acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = NULL;
    int rc;
    if ((rc = db_begin(d, 1, e)) || (rc = lock_key(d, key, e))) goto out;
    if (!(q = db_prep(d, "DELETE FROM limit_events WHERE subject = $1 AND bucket = $2 AND at <= $3", 1, e))) {
        rc = STORE_ERR;
        goto out;
    }
    dbq_text(q, 1, subject);
    dbq_text(q, 2, bucket);
    dbq_int(q, 3, now - window_ms);
    if ((rc = dbq_run(q, e))) goto out;
    dbq_done(q);
    if (!(q = db_prep(d, "SELECT COALESCE(SUM(cost), 0), COALESCE(MIN(at), 0) FROM limit_events"
                         " WHERE subject = $1 AND bucket = $2", 1, e))) {
        rc = STORE_ERR;
        goto out;
    }
    dbq_text(q, 1, subject);
    dbq_text(q, 2, bucket);
    if ((rc = dbq_step(q, e)) < 0) goto out;
    int64_t used = rc == 1 ? dbq_col_int(q, 0) : 0, oldest = rc == 1 ? dbq_col_int(q, 1) : 0;
    dbq_done(q);
    q = NULL;
    rc = 0;
    out->allowed = limit < 0 || used + cost <= limit;
    if (out->allowed && cost > 0) {
        if (!(q = db_prep(d, "INSERT INTO limit_events (subject, bucket, at, cost) VALUES ($1, $2, $3, $4)", 1, e))) {
            rc = STORE_ERR;
            goto out;
        }
        dbq_text(q, 1, subject);
        dbq_text(q, 2, bucket);
        dbq_int(q, 3, now);
        dbq_int(q, 4, cost);
        if ((rc = dbq_run(q, e))) goto out;
        used += cost;
        if (!oldest) oldest = now;
    }
    out->used = used;
    out->oldest = oldest;
    out->reset = oldest ? oldest + window_ms : 0;
    rc = db_commit(d, e);
out:
    dbq_done(q);
    release(st, d);
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}

int store_limit_reset(struct store *st, const char *subject, const char *bucket, struct err *e) {
    if (!subject || !*subject || !bucket || !*bucket) return err_set(e, "limit subject and bucket are needed"), STORE_INVALID;
    const struct rowarg a[] = {ROW_T(subject), ROW_T(bucket)};
    return rows_change(st, "DELETE FROM limit_events WHERE subject = $1 AND bucket = $2", a, ROW_N(a), NULL, NULL, e);
}

int store_limit_purge(struct store *st, int64_t before, struct err *e) {
    struct db *d;
    if (acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "DELETE FROM limit_events WHERE at < $1", 1, e);
    int rc = STORE_ERR;
    if (q) {
        dbq_int(q, 1, before);
        rc = dbq_run(q, e);
        dbq_done(q);
    }
    release(st, d);
    return rc;
}

/* ---- feedback ---- */

#define FB_COLS "id, msg_id, user_id, rating, reasons, comment, snapshot, created"

int store_feedback_put(struct store *st, const struct store_feedback *in, char *out_id, struct err *e) {
    int rc;
    if ((rc = need_id(in->user_id, "user id", e))) return rc;
    if (bad_ref(in->msg_id)) return err_set(e, "message not found"), STORE_NOTFOUND;
    if (!memchr(in->id, 0, sizeof in->id) || !memchr(in->reasons, 0, sizeof in->reasons))
        return err_set(e, "feedback field not terminated"), STORE_INVALID;
    char id[STORE_ID_MAX];
    if (in->id[0]) snprintf(id, sizeof id, "%s", in->id);
    else if (store_new_id("fb", id, sizeof id, e)) return STORE_ERR;
    struct db *d;
    if (acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "INSERT INTO feedback (" FB_COLS ")"
                               " SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS TEXT), CAST($4 AS INTEGER),"
                               " CAST($5 AS TEXT), CAST($6 AS TEXT), CAST($7 AS TEXT), CAST($8 AS BIGINT)"
                               " WHERE EXISTS (SELECT 1 FROM messages WHERE id = $2 AND user_id = $3)"
                               " ON CONFLICT (msg_id, user_id) DO UPDATE SET rating = excluded.rating,"
                               " reasons = excluded.reasons, comment = excluded.comment, snapshot = excluded.snapshot,"
                               " created = excluded.created RETURNING id", 1, e);
    rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, id);
        dbq_text(q, 2, in->msg_id);
        dbq_text(q, 3, in->user_id);
        dbq_int(q, 4, in->rating);
        dbq_text(q, 5, in->reasons);
        dbq_text(q, 6, in->comment ? in->comment : "");
        dbq_text(q, 7, in->snapshot ? in->snapshot : "");
        dbq_int(q, 8, in->created ? in->created : store_now_ms());
        rc = dbq_step(q, e);
        if (rc == 1) {
            if (out_id) col(out_id, STORE_ID_MAX, q, 0);
            rc = 0;
            while (dbq_step(q, NULL) == 1) {}
        } else if (rc == 0) {
            err_set(e, "message not found");
            rc = STORE_NOTFOUND;
        }
        dbq_done(q);
    }
    release(st, d);
    return rc;
}

void store_feedback_free(struct store_feedback *items, size_t n) {
    for (size_t i = 0; items && i < n; i++) {
        free(items[i].comment);
        free(items[i].snapshot);
    }
    free(items);
}

int store_feedback_list(struct store *st, const char *user_id, int64_t offset, int64_t limit,
                        struct store_feedback **out, size_t *n, struct err *e) {
    *out = NULL;
    *n = 0;
    if (user_id && strlen(user_id) >= STORE_ID_MAX) return err_set(e, "user not found"), STORE_NOTFOUND;
    if (limit <= 0 || limit > 10000) limit = 10000;
    if (offset < 0) offset = 0;
    struct db *d;
    if (acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "SELECT " FB_COLS " FROM feedback WHERE ($1 = '' OR user_id = $1)"
                               " ORDER BY created DESC, id DESC LIMIT $2 OFFSET $3", 1, e);
    int rc = STORE_ERR;
    size_t cap = 0;
    if (q) {
        dbq_text(q, 1, user_id ? user_id : "");
        dbq_int(q, 2, limit);
        dbq_int(q, 3, offset);
        while ((rc = dbq_step(q, e)) == 1) {
            if (*n == cap) {
                size_t nc = cap ? cap * 2 : 16;
                struct store_feedback *p = realloc(*out, nc * sizeof *p);
                if (!p) { rc = err_set(e, "out of memory"); break; }
                *out = p;
                cap = nc;
            }
            struct store_feedback *f = &(*out)[*n];
            memset(f, 0, sizeof *f);
            col(f->id, sizeof f->id, q, 0);
            col(f->msg_id, sizeof f->msg_id, q, 1);
            col(f->user_id, sizeof f->user_id, q, 2);
            f->rating = (int)dbq_col_int(q, 3);
            col(f->reasons, sizeof f->reasons, q, 4);
            f->comment = strdup(dbq_col_text(q, 5));
            f->snapshot = strdup(dbq_col_text(q, 6));
            f->created = dbq_col_int(q, 7);
            (*n)++;
            if (!f->comment || !f->snapshot) { rc = err_set(e, "out of memory"); break; }
        }
        dbq_done(q);
    }
    release(st, d);
    if (rc) {
        store_feedback_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

/* ---- export ---- */

/* cJSON builders that remember a failed allocation */
struct jb {
    int bad;
};
static cJSON *jadd(struct jb *b, cJSON *obj, const char *k, cJSON *v) {
    if (!v || !obj || !cJSON_AddItemToObject(obj, k, v)) {
        if (v && obj) cJSON_Delete(v);
        b->bad = 1;
        return NULL;
    }
    return v;
}
static void jstr(struct jb *b, cJSON *o, const char *k, const char *s) { jadd(b, o, k, cJSON_CreateString(s ? s : "")); }
static void jnum(struct jb *b, cJSON *o, const char *k, double v) { jadd(b, o, k, cJSON_CreateNumber(v)); }
static void jpush(struct jb *b, cJSON *arr, cJSON *v) {
    if (!v || !arr || !cJSON_AddItemToArray(arr, v)) {
        if (v && arr) cJSON_Delete(v);
        b->bad = 1;
    }
}

static cJSON *conv_json(struct jb *b, const struct store_conv *c) {
    cJSON *o = cJSON_CreateObject();
    if (!o) { b->bad = 1; return NULL; }
    jstr(b, o, "id", c->id);
    jstr(b, o, "title", c->title);
    jstr(b, o, "model", c->model);
    jstr(b, o, "assistant_id", c->assistant_id);
    jstr(b, o, "current_leaf", c->current_leaf);
    jnum(b, o, "created", (double)c->created);
    jnum(b, o, "updated", (double)c->updated);
    jadd(b, o, "archived", cJSON_CreateBool(c->archived));
    jadd(b, o, "pinned", cJSON_CreateBool(c->pinned));
    return o;
}

static cJSON *msg_json(struct jb *b, const struct store_msg *m) {
    cJSON *o = cJSON_CreateObject();
    if (!o) { b->bad = 1; return NULL; }
    jstr(b, o, "id", m->id);
    jstr(b, o, "parent_id", m->parent_id);
    jstr(b, o, "role", m->role);
    jstr(b, o, "content", m->content);
    jstr(b, o, "model", m->model);
    jstr(b, o, "status", m->status);
    jnum(b, o, "created", (double)m->created);
    jnum(b, o, "prompt_tokens", (double)m->prompt_tokens);
    jnum(b, o, "cached_tokens", (double)m->cached_tokens);
    jnum(b, o, "completion_tokens", (double)m->completion_tokens);
    return o;
}

int store_export_user(struct store *st, const char *user_id, char **json, struct err *e) {
    *json = NULL;
    struct store_user u;
    int rc = store_user_get(st, user_id, &u, e);
    if (rc) return rc;
    struct jb b = {0};
    cJSON *root = cJSON_CreateObject();
    if (!root) return err_set(e, "out of memory");
    cJSON *ju = jadd(&b, root, "user", cJSON_CreateObject());
    jstr(&b, ju, "id", u.id);
    jstr(&b, ju, "email", u.email);
    jstr(&b, ju, "name", u.name);
    jstr(&b, ju, "role", u.role);
    jstr(&b, ju, "tier", u.tier);
    jstr(&b, ju, "status", u.status);
    jadd(&b, ju, "consent", cJSON_CreateBool(u.consent));
    jnum(&b, ju, "created", (double)u.created);

    struct store_key *keys = NULL;
    size_t nk = 0;
    cJSON *jk = jadd(&b, root, "keys", cJSON_CreateArray());
    if (!rc && !(rc = store_key_list(st, user_id, &keys, &nk, e))) {
        for (size_t i = 0; i < nk; i++) {
            cJSON *o = cJSON_CreateObject();
            jstr(&b, o, "id", keys[i].id);
            jstr(&b, o, "name", keys[i].name);
            jstr(&b, o, "prefix", keys[i].prefix);
            jstr(&b, o, "models", keys[i].models);
            jnum(&b, o, "created", (double)keys[i].created);
            jnum(&b, o, "last_used", (double)keys[i].last_used);
            jnum(&b, o, "revoked", (double)keys[i].revoked);
            jpush(&b, jk, o);
        }
        free(keys);
    }

    cJSON *jc = jadd(&b, root, "conversations", cJSON_CreateArray());
    for (int64_t off = 0; !rc && !b.bad;) {
        struct store_conv_query cq = {.archived = -1, .pinned = -1, .offset = off, .limit = 1000};
        struct store_conv_list l;
        if ((rc = store_conv_list(st, user_id, &cq, &l, e))) break;
        for (size_t i = 0; i < l.n && !rc; i++) {
            cJSON *o = conv_json(&b, &l.items[i]);
            struct store_msgs ms;
            if ((rc = store_msg_tree(st, user_id, l.items[i].id, &ms, e))) {
                cJSON_Delete(o);
                break;
            }
            cJSON *ja = jadd(&b, o, "messages", cJSON_CreateArray());
            for (size_t k = 0; k < ms.n; k++) jpush(&b, ja, msg_json(&b, &ms.items[k]));
            store_msgs_free(&ms);
            /* the answers' thoughts and sources; a failed read exports the answers all the same */
            if (store_reasoning_attach(st, user_id, l.items[i].id, ja) ||
                store_citations_attach(st, user_id, l.items[i].id, ja, NULL))
                b.bad = 1;
            jpush(&b, jc, o);
        }
        int more = l.has_more;
        off += (int64_t)l.n;
        store_conv_list_free(&l);
        if (!more) break;
    }

    struct store_usage *us = NULL;
    size_t nu = 0;
    cJSON *jus = jadd(&b, root, "usage", cJSON_CreateArray());
    if (!rc && !(rc = store_usage_query(st, user_id, NULL, NULL, &us, &nu, e))) {
        for (size_t i = 0; i < nu; i++) {
            cJSON *o = cJSON_CreateObject();
            jstr(&b, o, "day", us[i].day);
            jstr(&b, o, "model", us[i].model);
            jstr(&b, o, "key_id", us[i].key_id);
            jnum(&b, o, "prompt_tokens", (double)us[i].prompt_tokens);
            jnum(&b, o, "cached_tokens", (double)us[i].cached_tokens);
            jnum(&b, o, "completion_tokens", (double)us[i].completion_tokens);
            jnum(&b, o, "audio_seconds", us[i].audio_seconds);
            jnum(&b, o, "images", (double)us[i].images);
            jnum(&b, o, "requests", (double)us[i].requests);
            jpush(&b, jus, o);
        }
        free(us);
    }

    struct store_feedback *fb = NULL;
    size_t nf = 0;
    cJSON *jf = jadd(&b, root, "feedback", cJSON_CreateArray());
    if (!rc && !(rc = store_feedback_list(st, user_id, 0, 0, &fb, &nf, e))) {
        for (size_t i = 0; i < nf; i++) {
            cJSON *o = cJSON_CreateObject();
            jstr(&b, o, "id", fb[i].id);
            jstr(&b, o, "msg_id", fb[i].msg_id);
            jnum(&b, o, "rating", fb[i].rating);
            jstr(&b, o, "reasons", fb[i].reasons);
            jstr(&b, o, "comment", fb[i].comment);
            jstr(&b, o, "snapshot", fb[i].snapshot);
            jnum(&b, o, "created", (double)fb[i].created);
            jpush(&b, jf, o);
        }
        store_feedback_free(fb, nf);
    }
    if (!rc && !b.bad) rc = store_prefs_export(st, user_id, root, e); /* settings, memories (prefs.c) */
    jnum(&b, root, "exported", (double)store_now_ms());
    if (!rc && b.bad) rc = err_set(e, "out of memory");
    if (!rc && !(*json = cJSON_PrintUnformatted(root))) rc = err_set(e, "out of memory");
    cJSON_Delete(root);
    return rc;
}

/* ---- for the other store files (prefs.c, files.c: storage/store_internal.h, prefs_db.h) ---- */
int store_db_acquire(struct store *st, struct db **out, struct err *e) { return acquire(st, out, e); }
void store_db_release(struct store *st, struct db *d) { release(st, d); }
int store_db_lock(struct db *d, const char *key, struct err *e) { return lock_key(d, key, e); }

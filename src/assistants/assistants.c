/* Custom assistants over storage's database (see assistants.h): the configuration check,
 * and every read and write in the SQL both back ends speak. Aggregates (uses, ratings,
 * conversations) are computed from assistant_users / assistant_convs when read, so there
 * is no counter to drift between replicas. */
#include "assistants/assistants.h"

#include <math.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/data_uri.h"
#include "formats/image_decode.h"
#include "storage/db.h"
#include "storage/rows.h"

const char *const asst_categories[] = {"writing",   "productivity", "research",         "programming", "education",
                                       "lifestyle", "customer_support", "other", NULL};

void asst_sha256_hex(const void *data, size_t n, char out[65]) {
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256(data, n, h);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* ---- base64 (avatars and files are TEXT columns in both dialects) ---- */

static char *b64_encode(const unsigned char *p, size_t n) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc((n + 2) / 3 * 4 + 1), *w = o;
    if (!o) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        *w++ = t[v >> 18 & 63];
        *w++ = t[v >> 12 & 63];
        *w++ = i + 1 < n ? t[v >> 6 & 63] : '=';
        *w++ = i + 2 < n ? t[v & 63] : '=';
    }
    *w = 0;
    return o;
}

/* ---- the configuration ---- */

struct ck {
    char *param, *msg;
};

static int bad(struct ck *k, const char *param, const char *fmt, const char *a) {
    snprintf(k->param, 64, "%s", param);
    snprintf(k->msg, 256, fmt, a ? a : param);
    return -1;
}

static int valid_utf8(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2 : (*p & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0 || (n == 1 && *p < 0xC2)) return 0;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xC0) != 0x80) return 0;
    }
    return 1;
}

/* A string field (absent: def) of at most max-1 bytes into out. */
static int str_field(struct ck *k, const cJSON *in, cJSON *out, const char *name, const char *param, size_t max,
                     const char *def, int required) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, name);
    if (!v || cJSON_IsNull(v)) {
        if (required) return bad(k, param, "'%s' is required", NULL);
        cJSON_AddStringToObject(out, name, def);
        return 0;
    }
    if (!cJSON_IsString(v)) return bad(k, param, "'%s' must be a string", NULL);
    if (strlen(v->valuestring) >= max) {
        char m[128];
        snprintf(m, sizeof m, "'%s' is longer than %zu bytes", param, max - 1);
        return bad(k, param, "%s", m);
    }
    if (!valid_utf8(v->valuestring)) return bad(k, param, "'%s' is not valid UTF-8", NULL);
    if (required && !v->valuestring[0]) return bad(k, param, "'%s' must not be empty", NULL);
    cJSON_AddStringToObject(out, name, v->valuestring);
    return 0;
}

static int str_array(struct ck *k, const cJSON *in, cJSON *out, const char *name, const char *param, int max_n,
                     size_t max_len) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, name);
    cJSON *a = cJSON_AddArrayToObject(out, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsArray(v)) return bad(k, param, "'%s' must be an array of strings", NULL);
    if (cJSON_GetArraySize(v) > max_n) {
        char m[128];
        snprintf(m, sizeof m, "'%s' has more than %d items", param, max_n);
        return bad(k, param, "%s", m);
    }
    const cJSON *x;
    cJSON_ArrayForEach(x, v) {
        if (!cJSON_IsString(x) || !x->valuestring[0] || strlen(x->valuestring) >= max_len ||
            !valid_utf8(x->valuestring)) {
            char m[160];
            snprintf(m, sizeof m, "every item of '%s' must be a non-empty UTF-8 string of at most %zu bytes", param,
                     max_len - 1);
            return bad(k, param, "%s", m);
        }
        cJSON_AddItemToArray(a, cJSON_CreateString(x->valuestring));
    }
    return 0;
}

static int bool_field(struct ck *k, const cJSON *in, cJSON *out, const char *name, const char *param) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, name);
    if (v && !cJSON_IsNull(v) && !cJSON_IsBool(v)) return bad(k, param, "'%s' must be true or false", NULL);
    cJSON_AddBoolToObject(out, name, cJSON_IsTrue(v));
    return 0;
}

/* A number in [lo, hi] (integer when integral); absent or null stays absent. */
static int num_field(struct ck *k, const cJSON *in, cJSON *out, const char *name, const char *param, double lo,
                     double hi, int integral) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi ||
        (integral && v->valuedouble != floor(v->valuedouble))) {
        char m[160];
        snprintf(m, sizeof m, "'%s' must be %s from %g to %g", param, integral ? "an integer" : "a number", lo, hi);
        return bad(k, param, "%s", m);
    }
    cJSON_AddNumberToObject(out, name, v->valuedouble);
    return 0;
}

/* Every key of o is one of names (NULL-terminated). */
static int known_keys(struct ck *k, const cJSON *o, const char *prefix, const char *const *names) {
    const cJSON *x;
    cJSON_ArrayForEach(x, o) {
        int ok = 0;
        for (int i = 0; names[i] && !ok; i++) ok = !strcmp(x->string, names[i]);
        if (!ok) {
            char p[64], m[200];
            snprintf(p, sizeof p, "%s%.40s", prefix, x->string);
            snprintf(m, sizeof m, "unknown field '%s'", p);
            return bad(k, p, "%s", m);
        }
    }
    return 0;
}

static int sub_object(struct ck *k, const cJSON *in, const char *name, const cJSON **sub) {
    *sub = cJSON_GetObjectItemCaseSensitive(in, name);
    if (*sub && cJSON_IsNull(*sub)) *sub = NULL;
    if (*sub && !cJSON_IsObject(*sub)) return bad(k, name, "'%s' must be an object", NULL);
    return 0;
}

int asst_config_check(const cJSON *in, cJSON **out, char param[64], char msg[256]) {
    static const char *const top[] = {"name", "description", "instructions", "category", "starters", "model",
                                      "models", "capabilities", "knowledge", "voice", "sampling", "visibility", NULL};
    static const char *const caps[] = {"knowledge", "data_analysis", "voice", "tools", NULL};
    static const char *const know[] = {"file_ids", "vector_store_ids", "max_chunks", "threshold", "only_knowledge", NULL};
    static const char *const samp[] = {"temperature", "top_p", "top_k", "max_tokens", "presence_penalty",
                                       "frequency_penalty", "seed", NULL};
    struct ck k = {param, msg};
    param[0] = msg[0] = 0;
    *out = NULL;
    if (!cJSON_IsObject(in)) return bad(&k, "", "the assistant must be a JSON object", "");
    cJSON *o = cJSON_CreateObject();
    if (!o) return bad(&k, "", "out of memory", "");
    const cJSON *c = NULL, *kn = NULL, *sa = NULL, *v;
    if (known_keys(&k, in, "", top) || str_field(&k, in, o, "name", "name", ASST_NAME_MAX, "", 1) ||
        str_field(&k, in, o, "description", "description", ASST_DESC_MAX, "", 0) ||
        str_field(&k, in, o, "instructions", "instructions", ASST_INSTR_MAX, "", 0) ||
        str_field(&k, in, o, "category", "category", 32, "other", 0) ||
        str_array(&k, in, o, "starters", "starters", ASST_STARTERS, ASST_STARTER_MAX) ||
        str_field(&k, in, o, "model", "model", STORE_MODEL_MAX, "", 0) ||
        str_array(&k, in, o, "models", "models", 32, STORE_MODEL_MAX) ||
        str_field(&k, in, o, "voice", "voice", 64, "", 0) ||
        str_field(&k, in, o, "visibility", "visibility", 16, "private", 0))
        goto fail;
    const char *cat = cJSON_GetObjectItemCaseSensitive(o, "category")->valuestring;
    int cat_ok = 0;
    for (int i = 0; asst_categories[i]; i++) cat_ok |= !strcmp(cat, asst_categories[i]);
    if (!cat_ok) {
        bad(&k, "category", "'category' must be one of writing, productivity, research, programming, education, "
                            "lifestyle, customer_support, other%s", "");
        goto fail;
    }
    const char *vis = cJSON_GetObjectItemCaseSensitive(o, "visibility")->valuestring;
    if (strcmp(vis, "private") && strcmp(vis, "link") && strcmp(vis, "public")) {
        bad(&k, "visibility", "'visibility' must be private, link or public%s", "");
        goto fail;
    }
    /* the default model is one of the allowed ones when both are given */
    const char *dm = cJSON_GetObjectItemCaseSensitive(o, "model")->valuestring;
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(o, "models");
    if (dm[0] && cJSON_GetArraySize(ms) > 0) {
        int found = 0;
        cJSON_ArrayForEach(v, ms) found |= !strcmp(v->valuestring, dm);
        if (!found) {
            bad(&k, "model", "'model' must be one of 'models'%s", "");
            goto fail;
        }
    }
    cJSON *oc = cJSON_AddObjectToObject(o, "capabilities");
    if (sub_object(&k, in, "capabilities", &c) || (c && known_keys(&k, c, "capabilities.", caps)) ||
        bool_field(&k, c, oc, "knowledge", "capabilities.knowledge") ||
        bool_field(&k, c, oc, "data_analysis", "capabilities.data_analysis") ||
        bool_field(&k, c, oc, "voice", "capabilities.voice") ||
        str_array(&k, c, oc, "tools", "capabilities.tools", 32, 128))
        goto fail;
    cJSON *ok = cJSON_AddObjectToObject(o, "knowledge");
    if (sub_object(&k, in, "knowledge", &kn) || (kn && known_keys(&k, kn, "knowledge.", know)) ||
        str_array(&k, kn, ok, "file_ids", "knowledge.file_ids", 100, STORE_ID_MAX + 16) ||
        str_array(&k, kn, ok, "vector_store_ids", "knowledge.vector_store_ids", 4, STORE_ID_MAX + 16) ||
        num_field(&k, kn, ok, "max_chunks", "knowledge.max_chunks", 1, 50, 1) ||
        num_field(&k, kn, ok, "threshold", "knowledge.threshold", 0, 1, 0) ||
        bool_field(&k, kn, ok, "only_knowledge", "knowledge.only_knowledge"))
        goto fail;
    if (!cJSON_GetObjectItemCaseSensitive(ok, "max_chunks")) cJSON_AddNumberToObject(ok, "max_chunks", 5);
    if (!cJSON_GetObjectItemCaseSensitive(ok, "threshold")) cJSON_AddNumberToObject(ok, "threshold", 0);
    cJSON *os = cJSON_AddObjectToObject(o, "sampling");
    if (sub_object(&k, in, "sampling", &sa) || (sa && known_keys(&k, sa, "sampling.", samp)) ||
        num_field(&k, sa, os, "temperature", "sampling.temperature", 0, 2, 0) ||
        num_field(&k, sa, os, "top_p", "sampling.top_p", 0, 1, 0) ||
        num_field(&k, sa, os, "top_k", "sampling.top_k", 0, 1000, 1) ||
        num_field(&k, sa, os, "max_tokens", "sampling.max_tokens", 1, 1 << 20, 1) ||
        num_field(&k, sa, os, "presence_penalty", "sampling.presence_penalty", -2, 2, 0) ||
        num_field(&k, sa, os, "frequency_penalty", "sampling.frequency_penalty", -2, 2, 0) ||
        num_field(&k, sa, os, "seed", "sampling.seed", 0, 4294967295.0, 1))
        goto fail;
    *out = o;
    return 0;
fail:
    cJSON_Delete(o);
    return -1;
}

/* ---- rows ---- */

void asst_free(struct asst *a) {
    if (!a) return;
    free(a->config);
    a->config = NULL;
}

void asst_list_free(struct asst_list *l) {
    for (size_t i = 0; l && i < l->n; i++) asst_free(&l->items[i]);
    if (l) free(l->items), l->items = NULL, l->n = 0;
}

#define ASST_COLS                                                                                                     \
    "a.id, a.user_id, COALESCE(u.name, ''), a.name, a.category, a.visibility, a.link_token, a.avatar_type,"          \
    " a.version, a.featured, a.hidden, a.created, a.updated,"                                                         \
    " COALESCE((SELECT SUM(x.uses) FROM assistant_users x WHERE x.assistant_id = a.id), 0),"                          \
    " (SELECT COUNT(*) FROM assistant_users x WHERE x.assistant_id = a.id AND x.uses > 0),"                           \
    " (SELECT COUNT(*) FROM assistant_convs x WHERE x.assistant_id = a.id),"                                          \
    " (SELECT COUNT(*) FROM assistant_users x WHERE x.assistant_id = a.id AND x.stars > 0),"                          \
    " COALESCE((SELECT AVG(x.stars) FROM assistant_users x WHERE x.assistant_id = a.id AND x.stars > 0), 0),"        \
    " v.config"
#define ASST_FROM                                                                                                     \
    " FROM assistants a JOIN assistant_versions v ON v.assistant_id = a.id AND v.version = a.version"                 \
    " LEFT JOIN users u ON u.id = a.user_id"

static void cp(char *dst, size_t cap, const char *s) { snprintf(dst, cap, "%s", s ? s : ""); }

static int read_row(struct dbq *q, struct asst *a) {
    memset(a, 0, sizeof *a);
    cp(a->id, sizeof a->id, dbq_col_text(q, 0));
    cp(a->user_id, sizeof a->user_id, dbq_col_text(q, 1));
    cp(a->author, sizeof a->author, dbq_col_text(q, 2));
    cp(a->name, sizeof a->name, dbq_col_text(q, 3));
    cp(a->category, sizeof a->category, dbq_col_text(q, 4));
    cp(a->visibility, sizeof a->visibility, dbq_col_text(q, 5));
    cp(a->link_token, sizeof a->link_token, dbq_col_text(q, 6));
    cp(a->avatar_type, sizeof a->avatar_type, dbq_col_text(q, 7));
    a->version = (int)dbq_col_int(q, 8);
    a->featured = (int)dbq_col_int(q, 9);
    a->hidden = (int)dbq_col_int(q, 10);
    a->created = dbq_col_int(q, 11);
    a->updated = dbq_col_int(q, 12);
    a->uses = dbq_col_int(q, 13);
    a->users = dbq_col_int(q, 14);
    a->conversations = dbq_col_int(q, 15);
    a->rating_n = dbq_col_int(q, 16);
    a->rating = dbq_col_real(q, 17);
    a->config = strdup(dbq_col_text(q, 18));
    return a->config ? 0 : -1;
}

static int bad_id(const char *s) { return !s || !*s || strlen(s) >= STORE_ID_MAX; }

static int read_asst(struct dbq *q, void *row, struct err *e) {
    return read_row(q, row) ? err_set(e, "out of memory") : 0;
}

static void drop_asst(void *row) { asst_free(row); }

static const struct rows_shape ASST_ROW = {sizeof(struct asst), 8, read_asst, drop_asst};

/* Runs q (bound) and collects its rows. */
static int collect(struct dbq *q, struct asst_list *out, struct err *e) {
    void *items;
    int rc = rows_collect(q, &ASST_ROW, 0, &items, &out->n, NULL, e);
    out->items = items;
    return rc;
}

static int get_one(struct store *st, const char *sql, const char *arg, struct asst *out, struct err *e) {
    memset(out, 0, sizeof *out);
    if (bad_id(arg)) return err_set(e, "no such assistant"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(arg)};
    return rows_one(st, sql, a, ROW_N(a), "no such assistant", read_asst, out, e);
}

int asst_get(struct store *st, const char *id, struct asst *out, struct err *e) {
    return get_one(st, "SELECT " ASST_COLS ASST_FROM " WHERE a.id = $1", id, out, e);
}

int asst_get_by_link(struct store *st, const char *token, struct asst *out, struct err *e) {
    return get_one(st, "SELECT " ASST_COLS ASST_FROM " WHERE a.link_token = $1", token, out, e);
}

int asst_is_editor(const struct asst *a, const char *user_id, const char *role) {
    return (user_id && !strcmp(a->user_id, user_id)) || (role && !strcmp(role, "admin"));
}

int asst_visible(const struct asst *a, const char *user_id, const char *role, int by_link) {
    if (asst_is_editor(a, user_id, role)) return 1;
    if (a->hidden) return 0;
    return !strcmp(a->visibility, "public") || (by_link && !strcmp(a->visibility, "link"));
}

/* The store's search text: name, description, starters and category, ASCII-lowercased. */
static char *search_text(const cJSON *cfg) {
    size_t n = 1;
    const char *f[] = {"name", "description", "category"};
    for (int i = 0; i < 3; i++) n += strlen(cJSON_GetObjectItemCaseSensitive(cfg, f[i])->valuestring) + 1;
    const cJSON *s, *st = cJSON_GetObjectItemCaseSensitive(cfg, "starters");
    cJSON_ArrayForEach(s, st) n += strlen(s->valuestring) + 1;
    char *o = malloc(n), *w = o;
    if (!o) return NULL;
    for (int i = 0; i < 3; i++) w += sprintf(w, "%s\n", cJSON_GetObjectItemCaseSensitive(cfg, f[i])->valuestring);
    cJSON_ArrayForEach(s, st) w += sprintf(w, "%s\n", s->valuestring);
    *w = 0;
    for (char *p = o; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    return o;
}

static int check_config(const cJSON *config, cJSON **norm, struct err *e) {
    char param[64], msg[256];
    if (asst_config_check(config, norm, param, msg)) {
        err_set(e, "%s", msg);
        return STORE_INVALID;
    }
    return 0;
}

/* Writes version `version` of id with norm, and the head row's copies of its fields. */
static int write_version(struct db *d, const char *id, int version, const cJSON *norm, int64_t now, struct err *e) {
    char *text = cJSON_PrintUnformatted(norm), *search = search_text(norm);
    int rc = STORE_ERR;
    if (!text || !search) {
        err_set(e, "out of memory");
        goto out;
    }
    struct dbq *q = db_prep(d, "INSERT INTO assistant_versions (assistant_id, version, config, created) VALUES ($1, $2, $3, $4)",
                            1, e);
    if (!q) goto out;
    dbq_text(q, 1, id);
    dbq_int(q, 2, version);
    dbq_text(q, 3, text);
    dbq_int(q, 4, now);
    rc = dbq_run(q, e);
    dbq_done(q);
    if (rc) goto out;
    q = db_prep(d, "UPDATE assistants SET name = $2, description = $3, category = $4, visibility = $5, version = $6,"
                   " search = $7, updated = $8 WHERE id = $1", 1, e);
    if (!q) { rc = STORE_ERR; goto out; }
    dbq_text(q, 1, id);
    dbq_text(q, 2, cJSON_GetObjectItemCaseSensitive(norm, "name")->valuestring);
    dbq_text(q, 3, cJSON_GetObjectItemCaseSensitive(norm, "description")->valuestring);
    dbq_text(q, 4, cJSON_GetObjectItemCaseSensitive(norm, "category")->valuestring);
    dbq_text(q, 5, cJSON_GetObjectItemCaseSensitive(norm, "visibility")->valuestring);
    dbq_int(q, 6, version);
    dbq_text(q, 7, search);
    dbq_int(q, 8, now);
    rc = dbq_run(q, e);
    dbq_done(q);
out:
    free(text);
    free(search);
    return rc;
}

int asst_create(struct store *st, const char *user_id, const cJSON *config, struct asst *out, struct err *e) {
    if (out) memset(out, 0, sizeof *out);
    if (bad_id(user_id)) return err_set(e, "no such user"), STORE_NOTFOUND;
    cJSON *norm;
    int rc = check_config(config, &norm, e);
    if (rc) return rc;
    char id[STORE_ID_MAX], link[STORE_ID_MAX];
    if (store_new_id("asst", id, sizeof id, e) || store_new_id("lnk", link, sizeof link, e)) {
        cJSON_Delete(norm);
        return STORE_ERR;
    }
    struct db *d;
    if (store_db_acquire(st, &d, e)) { cJSON_Delete(norm); return STORE_ERR; }
    int64_t now = store_now_ms();
    if (!(rc = db_begin(d, 1, e))) {
        struct dbq *q = db_prep(d, "INSERT INTO assistants (id, user_id, name, link_token, version, created, updated)"
                                   " VALUES ($1, $2, '', $3, 1, $4, $4)", 1, e);
        if (!q) rc = STORE_ERR;
        else {
            dbq_text(q, 1, id);
            dbq_text(q, 2, user_id);
            dbq_text(q, 3, link);
            dbq_int(q, 4, now);
            rc = dbq_run(q, e);
            dbq_done(q);
            /* a missing owner is a foreign-key failure */
            if (rc == STORE_NOTFOUND) err_set(e, "no such user");
        }
        if (!rc) rc = write_version(d, id, 1, norm, now, e);
        if (!rc) rc = db_commit(d, e);
    }
    store_db_release(st, d);
    cJSON_Delete(norm);
    if (!rc && out) rc = asst_get(st, id, out, e);
    return rc;
}

static int read_version(struct dbq *q, void *row, struct err *e) {
    *(int *)row = (int)dbq_col_int(q, 0);
    return 0;
}

int asst_update(struct store *st, const char *user_id, const char *id, const cJSON *config, struct asst *out,
                struct err *e) {
    if (out) memset(out, 0, sizeof *out);
    if (bad_id(user_id) || bad_id(id)) return err_set(e, "no such assistant"), STORE_NOTFOUND;
    cJSON *norm;
    int rc = check_config(config, &norm, e);
    if (rc) return rc;
    struct db *d;
    if (store_db_acquire(st, &d, e)) { cJSON_Delete(norm); return STORE_ERR; }
    if (!(rc = db_begin(d, 1, e))) {
        /* the row lock (PostgreSQL FOR UPDATE; SQLite's write lock) makes two editors
         * take consecutive versions */
        const struct rowarg a[] = {ROW_T(id), ROW_T(user_id)};
        int ver = 0;
        rc = rows_one_on(d, db_kind(d) == DB_PG ? "SELECT version FROM assistants WHERE id = $1 AND user_id = $2 FOR UPDATE"
                                                : "SELECT version FROM assistants WHERE id = $1 AND user_id = $2",
                         a, ROW_N(a), "no such assistant", read_version, &ver, e);
        if (!rc) rc = write_version(d, id, ver + 1, norm, store_now_ms(), e);
        if (!rc) rc = db_commit(d, e);
    }
    store_db_release(st, d);
    cJSON_Delete(norm);
    if (!rc && out) rc = asst_get(st, id, out, e);
    return rc;
}

int asst_delete(struct store *st, const char *user_id, const char *id, struct err *e) {
    if (bad_id(id) || (user_id && bad_id(user_id))) return err_set(e, "no such assistant"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(id), ROW_T(user_id)};
    if (user_id)
        return rows_change(st, "DELETE FROM assistants WHERE id = $1 AND user_id = $2",
                           a, 2, "no such assistant", NULL, e);
    return rows_change(st, "DELETE FROM assistants WHERE id = $1", a, 1, "no such assistant", NULL, e);
}

int asst_admin_set(struct store *st, const char *id, int featured, int hidden, struct err *e) {
    if (bad_id(id)) return err_set(e, "no such assistant"), STORE_NOTFOUND;
    int rc = 0;
    if (featured >= 0) {
        const struct rowarg a[] = {ROW_T(id), ROW_I(featured ? 1 : 0)};
        rc = rows_change(st, "UPDATE assistants SET featured = $2 WHERE id = $1",
                         a, ROW_N(a), "no such assistant", NULL, e);
    }
    if (!rc && hidden >= 0) {
        const struct rowarg a[] = {ROW_T(id), ROW_I(hidden ? 1 : 0)};
        rc = rows_change(st, "UPDATE assistants SET hidden = $2 WHERE id = $1",
                         a, ROW_N(a), "no such assistant", NULL, e);
    }
    return rc;
}

int asst_versions(struct store *st, const char *id, struct asst_list *out, struct err *e) {
    memset(out, 0, sizeof *out);
    struct asst a;
    int rc = asst_get(st, id, &a, e);
    if (rc) return rc;
    struct db *d;
    if (store_db_acquire(st, &d, e)) { asst_free(&a); return STORE_ERR; }
    struct dbq *q = db_prep(d, "SELECT version, config, created FROM assistant_versions WHERE assistant_id = $1"
                               " ORDER BY version DESC", 1, e);
    rc = q ? 0 : STORE_ERR;
    size_t cap = 0;
    if (q) {
        dbq_text(q, 1, id);
        while ((rc = dbq_step(q, e)) == 1) {
            void *items = out->items;
            if ((rc = rows_grow(&items, &cap, out->n, sizeof *out->items, 8, e))) break;
            out->items = items;
            struct asst *x = &out->items[out->n];
            *x = a;
            x->config = NULL;
            x->version = (int)dbq_col_int(q, 0);
            x->updated = dbq_col_int(q, 2);
            if (!(x->config = strdup(dbq_col_text(q, 1)))) { rc = err_set(e, "out of memory"); break; }
            out->n++;
        }
    }
    dbq_done(q);
    store_db_release(st, d);
    asst_free(&a);
    if (rc < 0) { asst_list_free(out); return rc; }
    return 0;
}

static int read_config(struct dbq *q, void *row, struct err *e) {
    char **config = row;
    return (*config = strdup(dbq_col_text(q, 0))) ? 0 : err_set(e, "out of memory");
}

int asst_version_config(struct store *st, const char *id, int version, char **config, struct err *e) {
    *config = NULL;
    if (bad_id(id)) return err_set(e, "no such assistant"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(id), ROW_I(version)};
    return rows_one(st, "SELECT config FROM assistant_versions WHERE assistant_id = $1 AND version = $2", a, ROW_N(a),
                    "no such version", read_config, config, e);
}

int asst_list_mine(struct store *st, const char *user_id, struct asst_list *out, struct err *e) {
    memset(out, 0, sizeof *out);
    if (bad_id(user_id)) return 0;
    const struct rowarg a[] = {ROW_T(user_id)};
    void *items;
    int rc = rows_many(st, "SELECT " ASST_COLS ASST_FROM " WHERE a.user_id = $1 ORDER BY a.updated DESC, a.id",
                       a, ROW_N(a), &ASST_ROW, 0, &items, &out->n, NULL, e);
    out->items = items;
    return rc;
}

/* A LIKE pattern for substring term (ASCII-lowercased; % _ \ escaped). */
static char *like_of(const char *t, size_t n) {
    char *o = malloc(2 * n + 3), *w = o;
    if (!o) return NULL;
    *w++ = '%';
    for (size_t i = 0; i < n; i++) {
        char ch = t[i];
        if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
        if (ch == '%' || ch == '_' || ch == '\\') *w++ = '\\';
        *w++ = ch;
    }
    *w++ = '%';
    *w = 0;
    return o;
}

#define ASST_MAX_TERMS 8

int asst_store_list(struct store *st, const struct asst_query *qq, struct asst_list *out, struct err *e) {
    memset(out, 0, sizeof *out);
    const char *sort = qq->sort && *qq->sort ? qq->sort : "featured";
    const char *order;
    if (!strcmp(sort, "featured")) order = " ORDER BY a.featured DESC, 14 DESC, a.updated DESC, a.id";
    else if (!strcmp(sort, "popular")) order = " ORDER BY 14 DESC, a.updated DESC, a.id";
    else if (!strcmp(sort, "rating")) order = " ORDER BY 18 DESC, 17 DESC, a.id";
    else if (!strcmp(sort, "new")) order = " ORDER BY a.created DESC, a.id";
    else return err_set(e, "'sort' must be featured, popular, rating or new"), STORE_INVALID;
    int64_t limit = qq->limit <= 0 ? 50 : qq->limit > 200 ? 200 : qq->limit, offset = qq->offset < 0 ? 0 : qq->offset;
    /* the terms */
    char *pat[ASST_MAX_TERMS];
    int nt = 0, rc = 0;
    const char *p = qq->q ? qq->q : "";
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n') p++;
        const char *s = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n') p++;
        if (p == s) break;
        if (nt == ASST_MAX_TERMS) { rc = err_set(e, "at most %d search terms", ASST_MAX_TERMS), rc = STORE_INVALID; break; }
        if (!(pat[nt] = like_of(s, (size_t)(p - s)))) { rc = err_set(e, "out of memory"); break; }
        nt++;
    }
    char sql[2400];
    size_t len = (size_t)snprintf(sql, sizeof sql, "SELECT " ASST_COLS ASST_FROM " WHERE a.visibility = 'public'%s",
                                  qq->include_hidden ? "" : " AND a.hidden = 0");
    int np = 0;
    for (int i = 0; i < nt && !rc; i++)
        len += (size_t)snprintf(sql + len, sizeof sql - len, " AND a.search LIKE $%d ESCAPE '\\'", ++np);
    int cat = qq->category && *qq->category;
    if (cat) len += (size_t)snprintf(sql + len, sizeof sql - len, " AND a.category = $%d", ++np);
    len += (size_t)snprintf(sql + len, sizeof sql - len, "%s LIMIT $%d OFFSET $%d", order, np + 1, np + 2);
    if (!rc) {
        struct db *d;
        if (store_db_acquire(st, &d, e)) rc = STORE_ERR;
        else {
            struct dbq *q = db_prep(d, sql, 0, e);
            if (!q) rc = STORE_ERR;
            else {
                int k = 0;
                for (int i = 0; i < nt; i++) dbq_text(q, ++k, pat[i]);
                if (cat) dbq_text(q, ++k, qq->category);
                dbq_int(q, ++k, limit);
                dbq_int(q, ++k, offset);
                rc = collect(q, out, e);
            }
            dbq_done(q);
            store_db_release(st, d);
        }
    }
    for (int i = 0; i < nt; i++) free(pat[i]);
    return rc;
}

/* ---- avatar ---- */

const char *asst_image_type(const unsigned char *p, size_t n) {
    if (n >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8)) return "image/png";
    if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return "image/jpeg";
    if (n >= 6 && (!memcmp(p, "GIF87a", 6) || !memcmp(p, "GIF89a", 6))) return "image/gif";
    return NULL;
}

/* The avatar's type when its bytes are a whole image that decodes (a signature alone is
 * not enough: a polyglot or truncated file is refused), at most 4096 x 4096. */
const char *asst_avatar_check(const unsigned char *p, size_t n, struct err *e) {
    if (n > ASST_AVATAR_MAX) return err_set(e, "the avatar is %zu bytes; at most %d are allowed", n, ASST_AVATAR_MAX), NULL;
    const char *t = asst_image_type(p, n);
    if (!t) return err_set(e, "the avatar must be a PNG, JPEG or GIF image"), NULL;
    struct image img;
    struct err de = {{0}};
    if (image_decode_memory(p, n, 4096L * 4096, "avatar", &img, &de))
        return err_set(e, "the avatar is not a readable image (%.150s)", de.msg), NULL;
    image_free(&img);
    return t;
}

int asst_set_avatar(struct store *st, const char *user_id, const char *id, const void *data, size_t n, struct err *e) {
    if (bad_id(user_id) || bad_id(id)) return err_set(e, "no such assistant"), STORE_NOTFOUND;
    const char *type = "";
    char *b64 = NULL;
    if (n) {
        if (!(type = asst_avatar_check(data, n, e))) return STORE_INVALID;
        if (!(b64 = b64_encode(data, n))) return err_set(e, "out of memory");
    }
    const struct rowarg a[] = {ROW_T(id), ROW_T(user_id), ROW_T(type), ROW_T(b64 ? b64 : ""), ROW_I(store_now_ms())};
    int rc = rows_change(st, "UPDATE assistants SET avatar_type = $3, avatar = $4, updated = $5 WHERE id = $1 AND user_id = $2",
                         a, ROW_N(a), "no such assistant", NULL, e);
    free(b64);
    return rc;
}

static int get_blob(struct store *st, const char *sql, const char *a, const char *b, char *mime, size_t mime_cap,
                    unsigned char **data, size_t *n, char *sha, struct err *e) {
    *data = NULL;
    *n = 0;
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, sql, 0, e);
    int rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, a);
        if (b) dbq_text(q, 2, b);
        rc = dbq_step(q, e);
        if (rc == 1) {
            cp(mime, mime_cap, dbq_col_text(q, 0));
            if (sha) cp(sha, 65, dbq_col_text(q, 2));
            const char *t = dbq_col_text(q, 1);
            rc = 0;
            if (*t) {
                uint8_t *o = NULL;
                size_t on = 0;
                rc = data_uri_base64_decode(t, strlen(t), &o, &on, e) ? STORE_ERR : 0;
                *data = o;
                *n = on;
            }
        } else if (rc == 0) rc = STORE_NOTFOUND, err_set(e, "not found");
    }
    dbq_done(q);
    store_db_release(st, d);
    return rc;
}

int asst_get_avatar(struct store *st, const char *id, char mime[32], unsigned char **data, size_t *n, struct err *e) {
    mime[0] = 0;
    if (bad_id(id)) return err_set(e, "no such assistant"), STORE_NOTFOUND;
    return get_blob(st, "SELECT avatar_type, avatar FROM assistants WHERE id = $1", id, NULL, mime, 32, data, n, NULL, e);
}

/* ---- uses, conversations, ratings ---- */

int asst_record_use(struct store *st, const char *id, int version, const char *user_id, const char *conv_id,
                    struct err *e) {
    if (bad_id(id) || bad_id(user_id)) return err_set(e, "no such assistant"), STORE_NOTFOUND;
    int64_t now = store_now_ms();
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    int rc = db_begin(d, 1, e);
    if (!rc) {
        struct dbq *q = db_prep(d, "INSERT INTO assistant_users (assistant_id, user_id, uses, last_used) VALUES ($1, $2, 1, $3)"
                                   " ON CONFLICT (assistant_id, user_id) DO UPDATE SET uses = assistant_users.uses + 1,"
                                   " last_used = excluded.last_used", 1, e);
        if (!q) rc = STORE_ERR;
        else {
            dbq_text(q, 1, id);
            dbq_text(q, 2, user_id);
            dbq_int(q, 3, now);
            rc = dbq_run(q, e);
            dbq_done(q);
        }
    }
    if (!rc && conv_id && *conv_id) {
        struct dbq *q = db_prep(d, "INSERT INTO assistant_convs (conv_id, assistant_id, version, created)"
                                   " SELECT id, CAST($2 AS TEXT), CAST($3 AS BIGINT), CAST($4 AS BIGINT) FROM conversations"
                                   " WHERE id = $1 AND user_id = $5"
                                   " ON CONFLICT (conv_id) DO UPDATE SET assistant_id = excluded.assistant_id,"
                                   " version = excluded.version", 1, e);
        if (!q) rc = STORE_ERR;
        else {
            dbq_text(q, 1, conv_id);
            dbq_text(q, 2, id);
            dbq_int(q, 3, version);
            dbq_int(q, 4, now);
            dbq_text(q, 5, user_id);
            rc = dbq_run(q, e);
            dbq_done(q);
        }
        if (!rc && (q = db_prep(d, "UPDATE conversations SET assistant_id = $2 WHERE id = $1 AND user_id = $3", 1, e))) {
            dbq_text(q, 1, conv_id);
            dbq_text(q, 2, id);
            dbq_text(q, 3, user_id);
            rc = dbq_run(q, e);
            dbq_done(q);
        } else if (!rc) rc = STORE_ERR;
    }
    if (!rc) rc = db_commit(d, e);
    /* a foreign key: the assistant or user is gone */
    if (rc == STORE_NOTFOUND) err_set(e, "no such assistant");
    store_db_release(st, d);
    return rc;
}

int asst_conv_get(struct store *st, const char *conv_id, char id[STORE_ID_MAX], int *version, struct err *e) {
    id[0] = 0;
    *version = 0;
    if (bad_id(conv_id)) return 0;
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "SELECT assistant_id, version FROM assistant_convs WHERE conv_id = $1", 1, e);
    int rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, conv_id);
        rc = dbq_step(q, e);
        if (rc == 1) cp(id, STORE_ID_MAX, dbq_col_text(q, 0)), *version = (int)dbq_col_int(q, 1);
        if (rc >= 0) rc = 0;
    }
    dbq_done(q);
    store_db_release(st, d);
    return rc;
}

int asst_rate(struct store *st, const char *id, const char *user_id, int stars, const char *review, struct err *e) {
    if (bad_id(id) || bad_id(user_id)) return err_set(e, "no such assistant"), STORE_NOTFOUND;
    if (stars < 1 || stars > 5) return err_set(e, "'stars' must be 1 to 5"), STORE_INVALID;
    if (!review) review = "";
    if (strlen(review) > 1000) return err_set(e, "'review' is longer than 1000 bytes"), STORE_INVALID;
    if (!valid_utf8(review)) return err_set(e, "'review' is not valid UTF-8"), STORE_INVALID;
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "UPDATE assistant_users SET stars = $3, review = $4, rated = $5"
                               " WHERE assistant_id = $1 AND user_id = $2 AND uses > 0", 1, e);
    int rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, id);
        dbq_text(q, 2, user_id);
        dbq_int(q, 3, stars);
        dbq_text(q, 4, review);
        dbq_int(q, 5, store_now_ms());
        rc = dbq_run(q, e);
        if (!rc && dbq_changes(q) == 0) rc = ASST_NOT_USED, err_set(e, "only users who have chatted with this assistant can rate it");
    }
    dbq_done(q);
    store_db_release(st, d);
    return rc;
}

static int read_review(struct dbq *q, void *row, struct err *e) {
    struct asst_review *r = row;
    cp(r->user_name, sizeof r->user_name, dbq_col_text(q, 0));
    r->stars = (int)dbq_col_int(q, 1);
    r->rated = dbq_col_int(q, 3);
    return (r->review = strdup(dbq_col_text(q, 2))) ? 0 : err_set(e, "out of memory");
}

static void drop_review(void *row) { free(((struct asst_review *)row)->review); }

int asst_reviews(struct store *st, const char *id, struct asst_review **out, size_t *n, struct err *e) {
    *out = NULL;
    *n = 0;
    if (bad_id(id)) return err_set(e, "no such assistant"), STORE_NOTFOUND;
    static const struct rows_shape shape = {sizeof **out, 8, read_review, drop_review};
    const struct rowarg a[] = {ROW_T(id)};
    return rows_many(st, "SELECT COALESCE(u.name, ''), x.stars, x.review, x.rated FROM assistant_users x"
                         " LEFT JOIN users u ON u.id = x.user_id WHERE x.assistant_id = $1 AND x.stars > 0"
                         " ORDER BY x.rated DESC, x.user_id LIMIT 100",
                     a, ROW_N(a), &shape, 0, (void **)out, n, NULL, e);
}

void asst_reviews_free(struct asst_review *r, size_t n) {
    for (size_t i = 0; i < n; i++) free(r[i].review);
    free(r);
}

/* ---- bundled knowledge files ---- */

int asst_file_name_ok(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (!n || n >= ASST_FILENAME_MAX || name[0] == '.' || name[0] == ' ' || !valid_utf8(name)) return 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (!(*p >= 0x80 || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-' || *p == ' '))
            return 0;
    return 1;
}

int asst_file_put(struct store *st, const char *user_id, const char *id, const char *name, const char *mime,
                  const void *data, size_t n, struct err *e) {
    if (bad_id(user_id) || bad_id(id)) return err_set(e, "no such assistant"), STORE_NOTFOUND;
    if (!asst_file_name_ok(name))
        return err_set(e, "'%.140s' is not a plain file name (letters, digits, . _ - and spaces; no path)", name ? name : ""),
               STORE_INVALID;
    if (n > ASST_FILE_MAX) return err_set(e, "the file is %zu bytes; at most %d are allowed", n, ASST_FILE_MAX), STORE_INVALID;
    if (!mime) mime = "";
    if (strlen(mime) >= 64) return err_set(e, "the media type is too long"), STORE_INVALID;
    char sha[65];
    asst_sha256_hex(data, n, sha);
    char *b64 = b64_encode(data, n);
    if (!b64) return err_set(e, "out of memory");
    struct db *d;
    if (store_db_acquire(st, &d, e)) { free(b64); return STORE_ERR; }
    int rc = db_begin(d, 1, e);
    struct dbq *q = NULL;
    if (!rc && !(q = db_prep(d, "SELECT (SELECT COUNT(*) FROM assistant_files f WHERE f.assistant_id = a.id AND f.name <> $3)"
                                " FROM assistants a WHERE a.id = $1 AND a.user_id = $2", 1, e)))
        rc = STORE_ERR;
    if (!rc) {
        dbq_text(q, 1, id);
        dbq_text(q, 2, user_id);
        dbq_text(q, 3, name);
        rc = dbq_step(q, e);
        if (rc == 1) rc = dbq_col_int(q, 0) >= ASST_FILES_MAX ? (err_set(e, "an assistant keeps at most %d files", ASST_FILES_MAX), STORE_INVALID) : 0;
        else if (rc == 0) rc = STORE_NOTFOUND, err_set(e, "no such assistant");
        dbq_done(q);
    }
    if (!rc) {
        if (!(q = db_prep(d, "INSERT INTO assistant_files (assistant_id, name, mime, size, sha256, data, created)"
                             " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (assistant_id, name) DO UPDATE SET"
                             " mime = excluded.mime, size = excluded.size, sha256 = excluded.sha256, data = excluded.data,"
                             " created = excluded.created", 1, e)))
            rc = STORE_ERR;
        else {
            dbq_text(q, 1, id);
            dbq_text(q, 2, name);
            dbq_text(q, 3, mime);
            dbq_int(q, 4, (int64_t)n);
            dbq_text(q, 5, sha);
            dbq_text(q, 6, b64);
            dbq_int(q, 7, store_now_ms());
            rc = dbq_run(q, e);
            dbq_done(q);
        }
    }
    if (!rc) rc = db_commit(d, e);
    store_db_release(st, d);
    free(b64);
    return rc;
}

int asst_file_delete(struct store *st, const char *user_id, const char *id, const char *name, struct err *e) {
    if (bad_id(user_id) || bad_id(id) || !name) return err_set(e, "no such file"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(id), ROW_T(name), ROW_T(user_id)};
    return rows_change(st, "DELETE FROM assistant_files WHERE assistant_id = $1 AND name = $2 AND assistant_id IN"
                           " (SELECT id FROM assistants WHERE id = $1 AND user_id = $3)",
                       a, ROW_N(a), "no such file", NULL, e);
}

static int read_file_meta(struct dbq *q, void *row, struct err *e) {
    struct asst_file *f = row;
    cp(f->name, sizeof f->name, dbq_col_text(q, 0));
    cp(f->mime, sizeof f->mime, dbq_col_text(q, 1));
    cp(f->sha256, sizeof f->sha256, dbq_col_text(q, 2));
    f->size = dbq_col_int(q, 3);
    return 0;
}

static int read_file_data(struct dbq *q, void *row, struct err *e) {
    struct asst_file *f = row;
    read_file_meta(q, row, e);
    const char *t = dbq_col_text(q, 4);
    uint8_t *o = NULL;
    size_t on = 0;
    if (*t && data_uri_base64_decode(t, strlen(t), &o, &on, e)) return STORE_ERR;
    f->data = o;
    if ((int64_t)on != f->size) return err_set(e, "file '%s' is damaged in the database", f->name);
    return 0;
}

static void drop_file(void *row) { free(((struct asst_file *)row)->data); }

int asst_files(struct store *st, const char *id, int with_data, struct asst_file **out, size_t *n, struct err *e) {
    *out = NULL;
    *n = 0;
    if (bad_id(id)) return err_set(e, "no such assistant"), STORE_NOTFOUND;
    static const struct rows_shape meta = {sizeof **out, 8, read_file_meta, drop_file},
                                   data = {sizeof **out, 8, read_file_data, drop_file};
    const struct rowarg a[] = {ROW_T(id)};
    if (with_data)
        return rows_many(st, "SELECT name, mime, sha256, size, data FROM assistant_files WHERE assistant_id = $1 ORDER BY name",
                         a, ROW_N(a), &data, 0, (void **)out, n, NULL, e);
    return rows_many(st, "SELECT name, mime, sha256, size, '' FROM assistant_files WHERE assistant_id = $1 ORDER BY name",
                     a, ROW_N(a), &meta, 0, (void **)out, n, NULL, e);
}

void asst_files_free(struct asst_file *f, size_t n) {
    for (size_t i = 0; i < n; i++) free(f[i].data);
    free(f);
}

/* The account routes the web app's settings, sharing, feedback and memory pages use:
 * PATCH /api/me, GET|PATCH /api/settings, GET|PATCH /api/admin/settings, share links
 * (POST|DELETE /api/conversations/{id}/share, GET /api/shared/{token} without login),
 * feedback on an answer (POST /api/conversations/{cid}/messages/{mid}/feedback,
 * GET /api/feedback) and memories (/api/memories). Shapes in README's accounts section.
 * Thin: parse, authorize, call storage, write; errors in the /v1 shape, another user's
 * ids answer 404 like missing ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/msg_citations.h"
#include "api/reply.h"
#include "api/routes.h"
#include "api/routes_me.h"
#include "api/user_prefs.h"
#include "api/who.h"
#include "storage/prefs.h"

static int reply_free(struct mg_connection *c, int status, cJSON *o) {
    if (!o) return api_reply_error(c, 500, NULL, NULL, "out of memory");
    int st = api_reply_json(c, status, o);
    cJSON_Delete(o);
    return st;
}

static int not_allowed(struct mg_connection *c, const char *m, const char *allowed) {
    return api_reply_error(c, 405, NULL, "method_not_allowed", "%s is not allowed here; use %s", m, allowed);
}

static int is_admin(const struct api_who *w) { return !strcmp(w->user.role, "admin"); }

/* Characters (UTF-8 code points) of s. */
static size_t u8len(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* ---- PATCH /api/me ---- */

static int email_ok(const char *s) {
    size_t n = strlen(s);
    if (n < 3 || n >= STORE_EMAIL_MAX) return 0;
    const char *at = strchr(s, '@');
    if (!at || at == s || !at[1] || strchr(at + 1, '@')) return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '"' || *p == '<' || *p == '>') return 0;
    return 1;
}

static int patch_me(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *body, size_t len) {
    struct auth_config *a = s->p.auth;
    if (w->kind == API_WHO_LOCAL) return api_reply_error(c, 400, NULL, "no_auth", "the local user of --no-auth has no profile to change");
    int status = 0, bad = 0;
    cJSON *j = api_json_object(c, body, len, &status);
    if (!j) return status;
    const char *name = api_json_str(c, j, "name", &bad), *email = api_json_str(c, j, "email", &bad),
               *pw = api_json_str(c, j, "password", &bad), *cur = api_json_str(c, j, "current_password", &bad);
    if (bad) { cJSON_Delete(j); return 400; }
    struct store_user u = w->user;
    unsigned fields = 0;
    struct err e = {{0}};
    int st;
    if (name) {
        if (strlen(name) >= sizeof u.name) { st = api_reply_error(c, 400, "name", "invalid_value", "'name' is too long"); goto out; }
        snprintf(u.name, sizeof u.name, "%s", name);
        fields |= STORE_USER_NAME;
    }
    if ((email && strcmp(email, w->user.email)) || pw) {
        /* the account's keys to the castle: only with the password that is in force now */
        if (!cur) { st = api_reply_error(c, 403, "current_password", "invalid_current_password", "changing the email or password needs 'current_password'"); goto out; }
        if (!w->user.password_hash[0] || !auth_password_verify(w->user.password_hash, cur)) {
            st = api_reply_error(c, 403, "current_password", "invalid_current_password", "the current password is wrong");
            goto out;
        }
    }
    if (email && strcmp(email, w->user.email)) {
        if (!email_ok(email)) { st = api_reply_error(c, 400, "email", "invalid_value", "'email' is not an email address"); goto out; }
        snprintf(u.email, sizeof u.email, "%s", email);
        fields |= STORE_USER_EMAIL;
    }
    if (pw) {
        if (auth_password_acceptable(pw, &e)) { st = api_reply_error(c, 400, "password", "invalid_value", "%s", e.msg); goto out; }
        if (auth_password_hash(pw, u.password_hash, &e)) { st = api_reply_error(c, 500, NULL, NULL, "%s", e.msg); goto out; }
        fields |= STORE_USER_PASSWORD;
    }
    int rc = fields ? store_user_update(a->st, &u, fields, &e) : 0;
    if (rc == STORE_CONFLICT) { st = api_reply_error(c, 409, "email", "email_taken", "an account with this email exists"); goto out; }
    if (rc) { st = api_reply_store(c, rc, &e, "user"); goto out; }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "user", api_user_json(&u));
    if (fields & STORE_USER_PASSWORD) {
        /* every session ends (a thief's too); the one that made the change gets a new one */
        store_session_delete_user(a->st, u.id, &e);
        cJSON_AddBoolToObject(o, "sessions_revoked", 1);
        if (w->kind == API_WHO_SESSION) {
            char tok[AUTH_TOKEN_CHARS + 1], h[256];
            struct auth_refusal r;
            if (auth_session_start(a, &u, tok, &r)) { cJSON_Delete(o); st = api_reply_refusal(c, &r); goto out; }
            int secure = s->p.tls_cert != NULL || a->secure_cookie;
            if (auth_cookie_header(h, sizeof h, tok, (long)(a->session_ttl_ms / 1000), secure) < 0) h[0] = 0;
            st = api_reply_json_headers(c, 200, o, h);
            cJSON_Delete(o);
            goto out;
        }
    }
    st = reply_free(c, 200, o);
out:
    if (pw) auth_password_burn(pw);
    if (cur) auth_password_burn(cur);
    cJSON_Delete(j);
    return st;
}

/* ---- settings ---- */

static int get_settings(struct api_server *s, struct mg_connection *c, struct api_who *w) {
    struct api_user_prefs p;
    struct err e = {{0}};
    int rc = api_user_prefs_load(s, w->user.id, &p, &e);
    if (rc) return api_reply_store(c, rc, &e, "settings");
    cJSON *o = api_user_prefs_json(&p);
    api_user_prefs_free(&p);
    return reply_free(c, 200, o);
}

static int patch_settings(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *body, size_t len) {
    int status = 0;
    cJSON *j = api_json_object(c, body, len, &status);
    if (!j) return status;
    char *doc = NULL;
    struct err e = {{0}};
    int rc = store_settings_get(s->p.auth->st, w->user.id, &doc, &e);
    if (rc) { cJSON_Delete(j); return api_reply_store(c, rc, &e, "settings"); }
    cJSON *cur = doc ? cJSON_Parse(doc) : NULL;
    free(doc);
    if (!cJSON_IsObject(cur)) { cJSON_Delete(cur); cur = cJSON_CreateObject(); }
    static const char *const strs[] = {"about_me", "response_style", "default_model", "voice", "theme", "language"};
    static const char *const bools[] = {"memory_enabled", "improve_model"};
    const cJSON *it;
    int st = 0, consent = -1;
    cJSON_ArrayForEach(it, j) {
        const char *k = it->string;
        int known = 0;
        for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) known |= !strcmp(k, strs[i]);
        for (size_t i = 0; i < sizeof bools / sizeof *bools; i++) known |= 2 * !strcmp(k, bools[i]);
        if (!known) { st = api_reply_error(c, 400, k, "unknown_parameter", "unknown setting '%s'", k); break; }
        int nullable = !strcmp(k, "default_model") || !strcmp(k, "voice");
        if (known == 2) {
            if (!cJSON_IsBool(it)) { st = api_reply_error(c, 400, k, "invalid_type", "'%s' must be true or false", k); break; }
            if (!strcmp(k, "improve_model")) consent = cJSON_IsTrue(it);
        } else if (cJSON_IsNull(it) && nullable) {
        } else if (!cJSON_IsString(it)) {
            st = api_reply_error(c, 400, k, "invalid_type", "'%s' must be a string", k);
            break;
        } else {
            const char *v = it->valuestring;
            if ((!strcmp(k, "about_me") || !strcmp(k, "response_style")) && u8len(v) > API_INSTRUCTIONS_MAX) {
                st = api_reply_error(c, 400, k, "invalid_value", "'%s' is at most %d characters", k, API_INSTRUCTIONS_MAX);
                break;
            }
            if (!strcmp(k, "theme") && strcmp(v, "light") && strcmp(v, "dark") && strcmp(v, "system")) {
                st = api_reply_error(c, 400, k, "invalid_value", "'theme' must be light, dark or system");
                break;
            }
            if (!strcmp(k, "language") && strcmp(v, "ko") && strcmp(v, "en")) {
                st = api_reply_error(c, 400, k, "invalid_value", "'language' must be ko or en");
                break;
            }
            if ((!strcmp(k, "default_model") && strlen(v) >= 256) || (!strcmp(k, "voice") && strlen(v) >= 64)) {
                st = api_reply_error(c, 400, k, "invalid_value", "'%s' is too long", k);
                break;
            }
        }
        cJSON *dup = cJSON_Duplicate(it, 1);
        if (!dup) { st = api_reply_error(c, 500, NULL, NULL, "out of memory"); break; }
        if (cJSON_HasObjectItem(cur, k)) cJSON_ReplaceItemInObjectCaseSensitive(cur, k, dup);
        else cJSON_AddItemToObject(cur, k, dup);
    }
    cJSON_Delete(j);
    if (st) { cJSON_Delete(cur); return st; }
    char *out = cJSON_PrintUnformatted(cur);
    cJSON_Delete(cur);
    if (!out) return api_reply_error(c, 500, NULL, NULL, "out of memory");
    rc = store_settings_put(s->p.auth->st, w->user.id, out, &e);
    free(out);
    if (rc) return api_reply_store(c, rc, &e, "settings");
    if (consent >= 0) { /* the users row keeps the consent too (for the CLI and exports) */
        struct store_user u = w->user;
        u.consent = consent;
        if ((rc = store_user_update(s->p.auth->st, &u, STORE_USER_CONSENT, &e))) return api_reply_store(c, rc, &e, "user");
    }
    return get_settings(s, c, w);
}

static int admin_settings(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m,
                          const char *body, size_t len) {
    if (!is_admin(w)) return api_reply_error(c, 403, NULL, "admin_only", "only admins change the server's settings");
    if (!strcmp(m, "PATCH")) {
        int status = 0;
        cJSON *j = api_json_object(c, body, len, &status);
        if (!j) return status;
        const cJSON *it;
        cJSON_ArrayForEach(it, j) {
            if (strcmp(it->string, "improve_model_default")) {
                status = api_reply_error(c, 400, it->string, "unknown_parameter", "unknown setting '%s'", it->string);
                cJSON_Delete(j);
                return status;
            }
            if (!cJSON_IsBool(it)) {
                cJSON_Delete(j);
                return api_reply_error(c, 400, "improve_model_default", "invalid_type", "'improve_model_default' must be true or false");
            }
        }
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "improve_model_default");
        struct err e = {{0}};
        int rc = v ? store_server_put(s->p.auth->st, "improve_model_default", cJSON_IsTrue(v) ? "true" : "false", &e) : 0;
        cJSON_Delete(j);
        if (rc) return api_reply_store(c, rc, &e, "setting");
    } else if (strcmp(m, "GET")) return not_allowed(c, m, "GET or PATCH");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "server_settings");
    cJSON_AddBoolToObject(o, "improve_model_default", api_improve_default(s));
    return reply_free(c, 200, o);
}

/* ---- share links ---- */

static int share(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m, const char *cid) {
    struct store *st = s->p.auth->st;
    struct store_conv v;
    struct err e = {{0}};
    int rc = strlen(cid) < STORE_ID_MAX ? store_conv_get(st, w->user.id, cid, &v, &e) : STORE_NOTFOUND;
    if (rc) return api_reply_store(c, rc, &e, "conversation");
    if (!strcmp(m, "POST")) {
        int created = 0;
        if (!v.share_token[0]) {
            /* a token unrelated to the id: 128 random bits, so links cannot be guessed from ids */
            if (store_new_id("shr", v.share_token, sizeof v.share_token, &e)) return api_reply_store(c, STORE_ERR, &e, "share");
            if ((rc = store_conv_update(st, w->user.id, cid, &v, STORE_CONV_SHARE, &e))) return api_reply_store(c, rc, &e, "conversation");
            created = 1;
        }
        cJSON *o = cJSON_CreateObject();
        char url[STORE_ID_MAX + 16];
        snprintf(url, sizeof url, "/shared/%s", v.share_token);
        cJSON_AddStringToObject(o, "object", "share");
        cJSON_AddStringToObject(o, "conversation_id", v.id);
        cJSON_AddStringToObject(o, "token", v.share_token);
        cJSON_AddStringToObject(o, "url", url);
        return reply_free(c, created ? 201 : 200, o);
    }
    if (!strcmp(m, "DELETE")) {
        v.share_token[0] = 0;
        if ((rc = store_conv_update(st, w->user.id, cid, &v, STORE_CONV_SHARE, &e))) return api_reply_store(c, rc, &e, "conversation");
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "conversation_id", v.id);
        cJSON_AddBoolToObject(o, "shared", 0);
        return reply_free(c, 200, o);
    }
    return not_allowed(c, m, "POST or DELETE");
}

int route_shared(struct api_server *s, struct mg_connection *c, const char *m, const char *token) {
    if (strcmp(m, "GET") && strcmp(m, "HEAD")) return not_allowed(c, m, "GET");
    struct store *st = s->p.auth->st;
    struct store_conv v;
    struct err e = {{0}};
    int rc = *token && strlen(token) < STORE_ID_MAX && !strchr(token, '/') ? store_conv_get_shared(st, token, &v, &e) : STORE_NOTFOUND;
    if (rc == STORE_NOTFOUND) return api_reply_error(c, 404, NULL, "not_found", "no such shared conversation");
    if (rc) return api_reply_store(c, rc, &e, "conversation");
    struct store_msgs path;
    if ((rc = store_msg_path(st, v.user_id, v.id, NULL, &path, &e))) return api_reply_store(c, rc, &e, "conversation");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "shared_conversation");
    cJSON_AddStringToObject(o, "token", v.share_token);
    cJSON_AddStringToObject(o, "title", v.title);
    cJSON_AddStringToObject(o, "model", v.model);
    cJSON_AddNumberToObject(o, "created", (double)v.created);
    cJSON_AddNumberToObject(o, "updated", (double)v.updated);
    cJSON *ms = cJSON_AddArrayToObject(o, "messages");
    for (size_t i = 0; i < path.n; i++) {
        const struct store_msg *pm = &path.items[i];
        if (!strcmp(pm->role, "system")) continue; /* the owner's instructions are not the reader's business */
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", pm->id);
        cJSON_AddStringToObject(x, "role", pm->role);
        cJSON_AddStringToObject(x, "content", pm->content ? pm->content : "");
        cJSON_AddStringToObject(x, "model", pm->model);
        cJSON_AddNumberToObject(x, "created", (double)pm->created);
        cJSON_AddItemToArray(ms, x);
    }
    store_msgs_free(&path);
    /* an assistant's answer names its sources, not their passages: the link's reader is not
     * a user of the assistant, whose knowledge is its author's (the answer's text is shared) */
    api_citations_attach(st, v.user_id, v.id, ms, 0);
    return reply_free(c, 200, o);
}

/* ---- feedback ---- */

static cJSON *feedback_json(const struct store_feedback *f, int with_snapshot) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", f->id);
    cJSON_AddStringToObject(o, "object", "feedback");
    cJSON_AddStringToObject(o, "message_id", f->msg_id);
    cJSON_AddStringToObject(o, "user_id", f->user_id);
    cJSON_AddStringToObject(o, "rating", f->rating > 0 ? "up" : "down");
    cJSON *rs = cJSON_AddArrayToObject(o, "reasons");
    char list[STORE_MODELS_MAX], *save = NULL;
    snprintf(list, sizeof list, "%s", f->reasons);
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) cJSON_AddItemToArray(rs, cJSON_CreateString(t));
    cJSON_AddStringToObject(o, "comment", f->comment ? f->comment : "");
    cJSON_AddNumberToObject(o, "created", (double)f->created);
    cJSON *snap = f->snapshot && *f->snapshot ? cJSON_Parse(f->snapshot) : NULL;
    const char *keys[] = {"conversation_id", "model", "sampling"};
    for (int i = 0; i < 3; i++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(snap, keys[i]);
        cJSON_AddItemToObject(o, keys[i], v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
    }
    if (with_snapshot && snap) cJSON_AddItemToObject(o, "snapshot", snap);
    else cJSON_Delete(snap);
    return o;
}

static int post_feedback(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *cid,
                         const char *mid, const char *body, size_t len) {
    struct store *st = s->p.auth->st;
    struct err e = {{0}};
    struct store_conv v;
    struct store_msg msg;
    memset(&msg, 0, sizeof msg);
    int rc = strlen(cid) < STORE_ID_MAX ? store_conv_get(st, w->user.id, cid, &v, &e) : STORE_NOTFOUND;
    if (rc) return api_reply_store(c, rc, &e, "conversation");
    rc = strlen(mid) < STORE_ID_MAX ? store_msg_get(st, w->user.id, mid, &msg, &e) : STORE_NOTFOUND;
    if (!rc && strcmp(msg.conv_id, cid)) rc = STORE_NOTFOUND;
    if (rc) { store_msg_free(&msg); return api_reply_store(c, rc, &e, "message"); }
    int is_answer = !strcmp(msg.role, "assistant");
    char model[STORE_MODEL_MAX];
    snprintf(model, sizeof model, "%s", msg.model);
    store_msg_free(&msg);
    if (!is_answer) return api_reply_error(c, 400, NULL, "invalid_value", "feedback is given on an answer (an assistant message)");
    int status = 0, bad = 0;
    cJSON *j = api_json_object(c, body, len, &status);
    if (!j) return status;
    const char *rating = api_json_str(c, j, "rating", &bad), *comment = api_json_str(c, j, "comment", &bad);
    if (bad) { cJSON_Delete(j); return 400; }
    struct store_feedback f;
    memset(&f, 0, sizeof f);
    if (!rating || (strcmp(rating, "up") && strcmp(rating, "down"))) {
        cJSON_Delete(j);
        return api_reply_error(c, 400, "rating", "invalid_value", "'rating' must be \"up\" or \"down\"");
    }
    f.rating = !strcmp(rating, "up") ? 1 : -1;
    const cJSON *reasons = cJSON_GetObjectItemCaseSensitive(j, "reasons"), *it;
    if (reasons && !cJSON_IsNull(reasons)) {
        int ok = cJSON_IsArray(reasons);
        cJSON_ArrayForEach(it, reasons) {
            if (!ok || !cJSON_IsString(it) || !*it->valuestring || strchr(it->valuestring, ',') || strlen(it->valuestring) > 64 ||
                strlen(f.reasons) + strlen(it->valuestring) + 2 >= sizeof f.reasons) { ok = 0; break; }
            if (f.reasons[0]) strcat(f.reasons, ",");
            strcat(f.reasons, it->valuestring);
        }
        if (!ok) {
            cJSON_Delete(j);
            return api_reply_error(c, 400, "reasons", "invalid_value", "'reasons' must be a list of short strings without commas");
        }
    }
    if (comment && strlen(comment) > 8000) {
        cJSON_Delete(j);
        return api_reply_error(c, 400, "comment", "invalid_value", "'comment' is at most 8000 bytes");
    }
    /* the snapshot: the conversation up to that answer, the model and how it was sampled */
    struct store_msgs path;
    if ((rc = store_msg_path(st, w->user.id, cid, mid, &path, &e))) { cJSON_Delete(j); return api_reply_store(c, rc, &e, "message"); }
    char *sampling = NULL;
    (void)store_msg_meta_get(st, w->user.id, mid, &sampling, &e);
    cJSON *snap = cJSON_CreateObject();
    cJSON_AddStringToObject(snap, "conversation_id", cid);
    cJSON_AddStringToObject(snap, "title", v.title);
    cJSON_AddStringToObject(snap, "model", model);
    cJSON *sj = sampling ? cJSON_Parse(sampling) : NULL;
    free(sampling);
    cJSON_AddItemToObject(snap, "sampling", sj ? sj : cJSON_CreateObject());
    cJSON *ms = cJSON_AddArrayToObject(snap, "messages");
    for (size_t i = 0; i < path.n; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", path.items[i].id);
        cJSON_AddStringToObject(x, "role", path.items[i].role);
        cJSON_AddStringToObject(x, "content", path.items[i].content ? path.items[i].content : "");
        cJSON_AddStringToObject(x, "model", path.items[i].model);
        cJSON_AddItemToArray(ms, x);
    }
    store_msgs_free(&path);
    f.snapshot = cJSON_PrintUnformatted(snap);
    cJSON_Delete(snap);
    snprintf(f.msg_id, sizeof f.msg_id, "%s", mid);
    snprintf(f.user_id, sizeof f.user_id, "%s", w->user.id);
    f.comment = comment ? (char *)comment : "";
    f.created = store_now_ms();
    if (!f.snapshot) { cJSON_Delete(j); return api_reply_error(c, 500, NULL, NULL, "out of memory"); }
    rc = store_feedback_put(st, &f, f.id, &e);
    cJSON *o = rc ? NULL : feedback_json(&f, 0);
    free(f.snapshot);
    cJSON_Delete(j);
    if (rc) return api_reply_store(c, rc, &e, "message");
    return reply_free(c, 200, o);
}

int route_feedback_list(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m) {
    if (strcmp(m, "GET")) return not_allowed(c, m, "GET");
    char all[8] = "";
    api_query(c, "all", all, sizeof all);
    int everyone = all[0] && strcmp(all, "0") && strcmp(all, "false");
    if (everyone && strcmp(w->user.role, "admin") && strcmp(w->user.role, "trainer"))
        return api_reply_error(c, 403, "all", "trainer_only", "only trainers and admins see everyone's feedback");
    struct store_feedback *fb = NULL;
    size_t n = 0;
    struct err e = {{0}};
    int rc = store_feedback_list(s->p.auth->st, everyone ? NULL : w->user.id, 0, 0, &fb, &n, &e);
    if (rc) return api_reply_store(c, rc, &e, "feedback");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *d = cJSON_AddArrayToObject(o, "data");
    /* everyone's: only of users whose training consent is on (their choice, else the default) */
    char (*ok_ids)[STORE_ID_MAX] = NULL, (*no_ids)[STORE_ID_MAX] = NULL;
    size_t n_ok = 0, n_no = 0;
    if (everyone && n) {
        ok_ids = calloc(n, sizeof *ok_ids);
        no_ids = calloc(n, sizeof *no_ids);
        if (!ok_ids || !no_ids) n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (everyone) {
            int known = 0, ok = 0;
            for (size_t k = 0; k < n_ok && !known; k++) if (!strcmp(ok_ids[k], fb[i].user_id)) known = ok = 1;
            for (size_t k = 0; k < n_no && !known; k++) if (!strcmp(no_ids[k], fb[i].user_id)) known = 1;
            if (!known) {
                struct api_user_prefs p;
                ok = api_user_prefs_load(s, fb[i].user_id, &p, &e) == 0 && p.improve_model;
                if (p.about_me) api_user_prefs_free(&p);
                snprintf(ok ? ok_ids[n_ok++] : no_ids[n_no++], STORE_ID_MAX, "%s", fb[i].user_id);
            }
            if (!ok) continue;
        }
        cJSON_AddItemToArray(d, feedback_json(&fb[i], 1));
    }
    free(ok_ids);
    free(no_ids);
    store_feedback_free(fb, n ? n : 0);
    return reply_free(c, 200, o);
}

/* ---- memories ---- */

static cJSON *memory_json(const struct store_memory *m) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", m->id);
    cJSON_AddStringToObject(o, "object", "memory");
    cJSON_AddStringToObject(o, "content", m->content ? m->content : "");
    cJSON_AddNumberToObject(o, "created", (double)m->created);
    cJSON_AddNumberToObject(o, "updated", (double)m->updated);
    return o;
}

static const char *content_of(struct mg_connection *c, cJSON *j, int *status) {
    int bad = 0;
    const char *t = api_json_str(c, j, "content", &bad);
    if (bad) { *status = 400; return NULL; }
    if (!t || !*t) { *status = api_reply_error(c, 400, "content", "invalid_value", "'content' must be a non-empty string"); return NULL; }
    return t;
}

int route_memories(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m, const char *id,
                   const char *body, size_t len) {
    struct store *st = s->p.auth->st;
    struct err e = {{0}};
    int rc, status = 0;
    if (!id) {
        if (!strcmp(m, "GET")) {
            struct store_memory *ms = NULL;
            size_t n = 0;
            if ((rc = store_memory_list(st, w->user.id, &ms, &n, &e))) return api_reply_store(c, rc, &e, "memory");
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "object", "list");
            cJSON *d = cJSON_AddArrayToObject(o, "data");
            for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(d, memory_json(&ms[i]));
            store_memories_free(ms, n);
            return reply_free(c, 200, o);
        }
        if (!strcmp(m, "POST")) {
            cJSON *j = api_json_object(c, body, len, &status);
            if (!j) return status;
            const char *t = content_of(c, j, &status);
            struct store_memory mm;
            rc = t ? store_memory_add(st, w->user.id, t, &mm, &e) : 0;
            cJSON_Delete(j);
            if (!t) return status;
            if (rc) return api_reply_store(c, rc, &e, "memory");
            cJSON *o = memory_json(&mm);
            free(mm.content);
            return reply_free(c, 201, o);
        }
        if (!strcmp(m, "DELETE")) {
            int64_t n = 0;
            if ((rc = store_memory_delete_all(st, w->user.id, &n, &e))) return api_reply_store(c, rc, &e, "memory");
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "deleted", (double)n);
            return reply_free(c, 200, o);
        }
        return not_allowed(c, m, "GET, POST or DELETE");
    }
    if (!strcmp(m, "PATCH")) {
        cJSON *j = api_json_object(c, body, len, &status);
        if (!j) return status;
        const char *t = content_of(c, j, &status);
        rc = t ? store_memory_update(st, w->user.id, id, t, &e) : 0;
        cJSON_Delete(j);
        if (!t) return status;
        if (rc) return api_reply_store(c, rc, &e, "memory");
        struct store_memory *ms = NULL;
        size_t n = 0;
        if ((rc = store_memory_list(st, w->user.id, &ms, &n, &e))) return api_reply_store(c, rc, &e, "memory");
        cJSON *o = NULL;
        for (size_t i = 0; i < n && !o; i++) if (!strcmp(ms[i].id, id)) o = memory_json(&ms[i]);
        store_memories_free(ms, n);
        return o ? reply_free(c, 200, o) : api_reply_error(c, 404, NULL, "not_found", "no such memory");
    }
    if (!strcmp(m, "DELETE")) {
        if ((rc = store_memory_delete(st, w->user.id, id, &e))) return api_reply_store(c, rc, &e, "memory");
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddBoolToObject(o, "deleted", 1);
        return reply_free(c, 200, o);
    }
    return not_allowed(c, m, "PATCH or DELETE");
}

/* ---- dispatch ---- */

int route_me_patch(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *body, size_t len) {
    return patch_me(s, c, w, body, len);
}

int route_settings(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m, const char *body,
                   size_t len) {
    if (!strcmp(m, "GET")) return get_settings(s, c, w);
    if (!strcmp(m, "PATCH")) return patch_settings(s, c, w, body, len);
    return not_allowed(c, m, "GET or PATCH");
}

int route_admin_settings(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m,
                         const char *body, size_t len) {
    return admin_settings(s, c, w, m, body, len);
}

int route_conversation_extra(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m,
                             const char *rest, const char *body, size_t len) {
    /* rest: "/{cid}/share" or "/{cid}/messages/{mid}/feedback" */
    if (rest[0] != '/') return 0;
    const char *a = rest + 1, *sl = strchr(a, '/');
    if (!sl || sl == a) return 0;
    char cid[STORE_ID_MAX + 1];
    size_t n = (size_t)(sl - a);
    if (n > STORE_ID_MAX) n = STORE_ID_MAX; /* too long: looked up as is, a 404 */
    memcpy(cid, a, n);
    cid[n] = 0;
    if (!strcmp(sl, "/share")) return share(s, c, w, m, cid);
    if (!strncmp(sl, "/messages/", 10)) {
        const char *mid = sl + 10, *fb = strchr(mid, '/');
        if (!fb || fb == mid || strcmp(fb, "/feedback")) return 0;
        char mbuf[STORE_ID_MAX + 1];
        size_t k = (size_t)(fb - mid);
        if (k > STORE_ID_MAX) k = STORE_ID_MAX;
        memcpy(mbuf, mid, k);
        mbuf[k] = 0;
        if (strcmp(m, "POST")) return not_allowed(c, m, "POST");
        return post_feedback(s, c, w, cid, mbuf, body, len);
    }
    return 0;
}

/* One request's moderation; see guardrails.h. */
#include "api/guardrails.h"

#include <cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/who.h"
#include "core/log.h"
#include "moderation/guard_run.h"
#include "storage/audit.h"
#include "storage/prefs.h"

#define AUDIT_RETENTION_DEFAULT_DAYS 90

static _Thread_local struct api_guard *current;

struct api_guard *api_guard_current(void) { return current; }
void api_guard_use(struct api_guard *g) { current = g; }

static const char *api_of(const char *path) {
    if (!path) return "";
    if (!strcmp(path, "/v1/chat/completions")) return "chat.completions";
    if (!strncmp(path, "/v1/responses", 13)) return "responses";
    if (!strncmp(path, "/v1/messages", 12)) return "messages";
    if (!strcmp(path, "/api/chat")) return "ollama";
    if (!strcmp(path, "/v1/realtime")) return "realtime";
    return path;
}

void api_guard_begin(struct api_guard *g, struct api_server *s, struct mg_connection *c) {
    memset(g, 0, sizeof *g);
    g->s = s;
    const struct mg_request_info *ri = c ? mg_get_request_info(c) : NULL;
    const char *path = ri ? ri->local_uri : NULL;
    g->api = api_of(path);
    /* counting a prompt's tokens generates nothing: no checks, nothing in the audit log */
    g->off = path && (!strcmp(path, "/v1/responses/input_tokens") || !strcmp(path, "/v1/messages/count_tokens"));
    const char *al = c ? mg_get_header(c, "Accept-Language") : NULL;
    g->korean = al && !strncasecmp(al, "ko", 2);
    current = g;
}

void api_guard_end(struct api_guard *g) {
    if (current == g) current = NULL;
    mod_policy_free(g->owned);
    free(g->last_user);
    for (int i = 0; i < g->n_keep; i++) free(g->keep[i]);
    free(g->keep);
    memset(g, 0, sizeof *g);
}

static struct mod_policy *default_policy;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void) {
    struct err e = {{0}};
    default_policy = mod_policy_parse(mod_policy_default_json, strlen(mod_policy_default_json), &e);
    if (!default_policy) log_warn("the default moderation policy: %s", e.msg);
}

/* A stored policy for scope/name, parsed into g->owned: 1 when one applies. */
static int stored(struct api_guard *g, struct store *st, const char *scope, const char *name) {
    if (!name || !*name) return 0;
    char *doc = NULL;
    struct err e = {{0}};
    if (store_policy_get(st, scope, name, &doc, &e) || !doc) return 0;
    g->owned = mod_policy_parse(doc, strlen(doc), &e);
    if (!g->owned) log_warn("moderation policy for %s %s: %s", scope, name, e.msg);
    free(doc);
    return g->owned != NULL;
}

void api_guard_set_assistant(struct api_guard *g, const char *id) {
    if (!g || !id || !strcmp(g->assistant_id, id)) return;
    snprintf(g->assistant_id, sizeof g->assistant_id, "%s", id);
    mod_policy_free(g->owned);   /* resolved again with the assistant's */
    g->owned = NULL;
    g->policy = NULL;
    g->resolved = 0;
}

const struct mod_policy *api_guard_policy(struct api_guard *g) {
    if (!g || g->off) return NULL;
    if (g->resolved) return g->policy;
    g->resolved = 1;
    struct api_server *s = g->s;
    struct auth_config *a = s->p.auth;
    const struct api_who *w = g->who ? g->who : api_who();
    if (a && a->st && w) {
        if ((w->kind == API_WHO_KEY && stored(g, a->st, "key", w->key.id)) || stored(g, a->st, "assistant", g->assistant_id) ||
            (api_who_has_user(w) && stored(g, a->st, "tier", w->user.tier)))
            return g->policy = g->owned;
    }
    if (s->moderation && s->moderation->policy) return g->policy = s->moderation->policy;
    if (a && !a->no_auth) {
        pthread_once(&default_once, default_init);
        g->policy = default_policy;
    }
    return g->policy;
}

static int has_hangul(const char *t) {
    for (const unsigned char *p = (const unsigned char *)t; *p; p++)
        if (p[0] == 0xEA && p[1] >= 0xB0) return 1;                     /* U+AC00..U+AFFF */
        else if (p[0] >= 0xEB && p[0] <= 0xEC) return 1;                /* U+B000..U+CFFF */
        else if (p[0] == 0xED && p[1] && p[1] < 0x9F) return 1;         /* ..U+D7A3 */
    return 0;
}

/* p is freed with the guard; -1 (p freed now) when out of memory. */
static int keep(struct api_guard *g, void *p) {
    char **k = realloc(g->keep, sizeof *k * (size_t)(g->n_keep + 1));
    if (!k) { free(p); return -1; }
    g->keep = k;
    g->keep[g->n_keep++] = p;
    return 0;
}

void api_guard_audit(struct api_guard *g, const char *stage, const char *rule, const char *category,
                     const char *action, const char *text, size_t len) {
    log_info("moderation: %s %s %s: rule %s%s%s", g->api, stage, action, rule, category && *category ? ", " : "",
             category ? category : "");
    struct auth_config *a = g->s->p.auth;
    if (!a || !a->st) return;
    const struct api_who *w = g->who ? g->who : api_who();
    struct store_audit r;
    memset(&r, 0, sizeof r);
    if (w && api_who_has_user(w)) snprintf(r.user_id, sizeof r.user_id, "%s", w->user.id);
    if (w && w->kind == API_WHO_KEY) snprintf(r.key_id, sizeof r.key_id, "%s", w->key.id);
    snprintf(r.assistant_id, sizeof r.assistant_id, "%.*s", (int)sizeof r.assistant_id - 1, g->assistant_id);
    snprintf(r.api, sizeof r.api, "%s", g->api);
    snprintf(r.stage, sizeof r.stage, "%s", stage);
    snprintf(r.rule, sizeof r.rule, "%s", rule ? rule : "");
    snprintf(r.category, sizeof r.category, "%s", category ? category : "");
    snprintf(r.action, sizeof r.action, "%s", action);
    size_t n = len < STORE_AUDIT_EXCERPT_MAX ? len : STORE_AUDIT_EXCERPT_MAX;
    while (n < len && n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) n--;
    memcpy(r.excerpt, text, n);
    r.excerpt[n] = 0;
    struct err e = {{0}};
    if (store_audit_add(a->st, &r, &e)) log_warn("moderation audit: %s", e.msg);
    /* the admin's retention (days), applied as rows are added */
    char *v = NULL;
    long days = AUDIT_RETENTION_DEFAULT_DAYS;
    if (!store_server_get(a->st, "moderation_audit_retention_days", &v, &e) && v) days = strtol(v, NULL, 10);
    free(v);
    if (days > 0) store_audit_prune(a->st, store_now_ms() - (int64_t)days * 86400000, NULL, &e);
}

static const char *stage_words(const char *stage, int ko) {
    if (!strcmp(stage, "output"))
        return ko ? "답변이 이 서버의 콘텐츠 정책에 따라 중단되었습니다" : "The answer was stopped by this server's content policy";
    if (!strcmp(stage, "tool_result"))
        return ko ? "도구 결과가 이 서버의 콘텐츠 정책에 따라 차단되었습니다" : "A tool's result was blocked by this server's content policy";
    if (!strcmp(stage, "knowledge"))
        return ko ? "검색된 자료가 이 서버의 콘텐츠 정책에 따라 제외되었습니다" : "Retrieved text was left out by this server's content policy";
    return ko ? "보내신 메시지가 이 서버의 콘텐츠 정책에 따라 차단되었습니다" : "Your message was blocked by this server's content policy";
}

/* The user's app language is Korean (their settings' "language"). */
static int ui_korean(struct api_guard *g) {
    struct auth_config *a = g->s->p.auth;
    const struct api_who *w = g->who ? g->who : api_who();
    if (!a || !a->st || !w || !api_who_has_user(w)) return 0;
    char *doc = NULL;
    struct err e = {{0}};
    if (store_settings_get(a->st, w->user.id, &doc, &e) || !doc) return 0;
    cJSON *j = cJSON_Parse(doc);
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "language");
    int ko = cJSON_IsString(l) && !strcmp(l->valuestring, "ko");
    cJSON_Delete(j);
    free(doc);
    return ko;
}

static void say(struct api_guard *g, const struct mod_policy *p, const char *stage, const char *rule_msg,
                const char *why, char *msg, size_t cap) {
    if (!g->korean) g->korean = ui_korean(g);
    const char *own = g->korean && p->message_ko ? p->message_ko : p->message;
    if (rule_msg) snprintf(g->reason, sizeof g->reason, "%s", rule_msg);
    else if (own) snprintf(g->reason, sizeof g->reason, "%s", own);
    else snprintf(g->reason, sizeof g->reason, "%s (%s%s).", stage_words(stage, g->korean), g->korean ? "규칙: " : "rule: ",
                  why);
    if (msg) snprintf(msg, cap, "%s", g->reason);
}

/* The rules, then the guard, over text (an answer to reply_to when set). 0 to go on
 * (*rewritten: a redacted copy, malloc'd), 400 blocked (msg), 503 the guard failed. */
static int check_text(struct api_guard *g, const struct mod_policy *p, const char *stage, const char *text,
                      const char *reply_to, char **rewritten, char *msg, size_t cap) {
    *rewritten = NULL;
    struct mod_verdict v;
    struct err e = {{0}};
    size_t len = strlen(text);
    if (mod_rules_check(p->rules, text, len, &v, &e)) {
        snprintf(msg, cap, "moderation failed: %s", e.msg);
        return 503;
    }
    for (int i = 0; i < v.n_hits && i < 8; i++) {
        const struct mod_hit *h = &v.hits[i];
        if (h->action < MOD_LOG) continue;
        api_guard_audit(g, stage, h->rule, h->kind ? h->kind : h->category, mod_action_name(h->action), text, len);
    }
    if (v.action == MOD_BLOCK) {
        say(g, p, stage, v.message, v.rule ? v.rule : "block list", msg, cap);
        mod_verdict_free(&v);
        return 400;
    }
    if (v.text && !(*rewritten = strdup(v.text))) {
        mod_verdict_free(&v);
        snprintf(msg, cap, "out of memory");
        return 503;
    }
    mod_verdict_free(&v);
    struct api_moderation *m = g->s->moderation;
    if (!p->use_guard || !m || !m->guard) return 0;
    const char *subject = *rewritten ? *rewritten : text;
    int n = m->cfg.family == GUARD_SHIELDGEMMA ? SG_N_POLICIES : 1;
    for (int k = 0; k < n; k++) {
        struct guard_check gc;
        char err[256] = "";
        int rc = reply_to ? guard_run(m->guard, m->cfg.cache, m->cfg.family, k, reply_to, subject, &gc, err, sizeof err)
                          : guard_run(m->guard, m->cfg.cache, m->cfg.family, k, subject, NULL, &gc, err, sizeof err);
        if (rc) {
            free(*rewritten);
            *rewritten = NULL;
            snprintf(msg, cap, "the guard model failed: %s", err);
            return 503;
        }
        if (gc.v.safety != GUARD_UNSAFE && !(m->cfg.strict && gc.v.safety == GUARD_CONTROVERSIAL)) continue;
        enum mod_action a = mod_policy_action(p, gc.v.oai);
        const char *cat = gc.v.n_raw ? gc.v.raw[0] : "unsafe";
        for (int c = 0; c < OAI_N_CATEGORIES; c++)
            if (gc.v.oai & (1u << c)) { cat = oai_category_name((enum oai_category)c); break; }
        char rule[96];
        snprintf(rule, sizeof rule, "guard:%s", cat);
        if (a >= MOD_LOG) api_guard_audit(g, stage, rule, cat, mod_action_name(a), subject, strlen(subject));
        if (a == MOD_BLOCK) {
            say(g, p, stage, NULL, rule, msg, cap);
            free(*rewritten);
            *rewritten = NULL;
            return 400;
        }
    }
    return 0;
}

int api_guard_input(struct api_guard *g, const omni_chat_message **msgs, int n, char *msg, size_t cap) {
    const struct mod_policy *p = api_guard_policy(g);
    if (!p) return 0;
    int start = 0;
    for (int i = n - 1; i >= 0; i--)
        if (!strcmp((*msgs)[i].role, "assistant")) { start = i + 1; break; }
    omni_chat_message *copy = NULL;
    for (int i = start; i < n; i++) {
        const char *role = (*msgs)[i].role, *text = (*msgs)[i].content ? (*msgs)[i].content : "";
        int user = !strcmp(role, "user"), tool = !strcmp(role, "tool");
        if (!((user && p->on_input) || (tool && p->on_tools))) continue;
        if (has_hangul(text)) g->korean = 1;
        char *rw = NULL;
        int rc = check_text(g, p, user ? "input" : "tool_result", text, NULL, &rw, msg, cap);
        if (rc) return rc;
        if (rw) {
            if (!copy) {
                if (!(copy = malloc(sizeof *copy * (size_t)n)) || keep(g, copy)) {
                    free(rw);
                    snprintf(msg, cap, "out of memory");
                    return 503;
                }
                memcpy(copy, *msgs, sizeof *copy * (size_t)n);
            }
            if (keep(g, rw)) { snprintf(msg, cap, "out of memory"); return 503; }
            copy[i].content = rw;
            text = rw;
        }
        if (user) {
            free(g->last_user);
            g->last_user = strdup(text);
        }
    }
    if (copy) *msgs = copy;
    return 0;
}

int api_guard_knowledge(struct api_guard *g, const char *text) {
    const struct mod_policy *p = api_guard_policy(g);
    if (!p || !p->on_knowledge) return 0;
    char *rw = NULL, msg[400];
    int rc = check_text(g, p, "knowledge", text, NULL, &rw, msg, sizeof msg);
    free(rw);
    return rc != 0;
}

int api_guard_output_active(struct api_guard *g) {
    const struct mod_policy *p = api_guard_policy(g);
    if (!p || !p->on_output) return 0;
    return mod_rules_count(p->rules) > 0 || (p->use_guard && g->s->moderation && g->s->moderation->guard);
}

int api_guard_sentence(const char *s, size_t n, char **replacement, void *user) {
    struct api_guard *g = user;
    const struct mod_policy *p = api_guard_policy(g);
    if (!p) return 0;
    char *t = strndup(s, n), msg[400];
    if (!t) return -1;
    if (has_hangul(t)) g->korean = 1;
    int rc = check_text(g, p, "output", t, g->last_user, replacement, msg, sizeof msg);
    free(t);
    return rc == 400 ? 1 : rc ? -1 : 0;
}

int api_guard_voice(const char *text, size_t len, int reply, void *guard) {
    struct api_guard *g = guard;
    char *t = strndup(text, len);
    if (!t) return 1;
    int flagged;
    if (reply) {
        char *rep = NULL;   /* a spoken clause cannot be rewritten: a redaction lets it through */
        flagged = api_guard_sentence(t, len, &rep, g) != 0;
        free(rep);
    } else {
        omni_chat_message m = {"user", t};
        const omni_chat_message *msgs = &m;
        char msg[400];
        flagged = api_guard_input(g, &msgs, 1, msg, sizeof msg) != 0;
    }
    free(t);
    return flagged;
}

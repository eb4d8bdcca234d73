/* SFT and DPO JSONL from task items and judgments; see export.h. */
#include "trainer/export.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "moderation/pii.h"
#include "trainer/tasks.h"

int trainer_export_format_ok(const char *f) { return f && (!strcmp(f, "sft") || !strcmp(f, "dpo")); }

int64_t trainer_parse_day(const char *s, int end_of_day) {
    int y, m, d;
    char tail;
    if (!s || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || strlen(s) != 10 || m < 1 || m > 12 || d < 1 || d > 31 ||
        y < 1970)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
    time_t t = timegm(&tm);
    struct tm back;
    gmtime_r(&t, &back);
    if (back.tm_mday != d) return -1; /* 2026-02-31 */
    return (int64_t)t * 1000 + (end_of_day ? 86400000 - 1 : 0);
}

char *trainer_scrub(const char *text) {
    size_t len = strlen(text);
    struct pii_match *m = NULL;
    int n = 0;
    if (pii_find(text, len, PII_ALL, &m, &n, NULL)) return NULL;
    size_t cap = len + 8 * (size_t)n + 1, o = 0, at = 0;
    char *out = malloc(cap);
    if (!out) { free(m); return NULL; }
    static const char *const rep[PII_N_KINDS] = {"[EMAIL]", "[PHONE]", "[CARD]", "[RRN]"};
    for (int i = 0; i < n; i++) {
        if (m[i].start < at) continue;
        memcpy(out + o, text + at, m[i].start - at);
        o += m[i].start - at;
        size_t rl = strlen(rep[m[i].kind]);
        memcpy(out + o, rep[m[i].kind], rl);
        o += rl;
        at = m[i].start + m[i].len;
    }
    memcpy(out + o, text + at, len - at);
    out[o + len - at] = 0;
    free(m);
    return out;
}

/* {"role":"assistant","content": scrubbed text} */
static cJSON *msg(const char *role, const char *text) {
    char *s = trainer_scrub(text ? text : "");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "role", role);
    cJSON_AddStringToObject(o, "content", s ? s : "");
    free(s);
    return o;
}

/* The item's prompt messages, scrubbed; NULL when it has none usable. */
static cJSON *prompt_msgs(const char *prompt) {
    cJSON *p = cJSON_Parse(prompt), *out = cJSON_CreateArray(), *m;
    int users = 0;
    cJSON_ArrayForEach(m, p) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "role"), *c = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsString(r) || !cJSON_IsString(c)) continue;
        if (strcmp(r->valuestring, "system") && strcmp(r->valuestring, "user") && strcmp(r->valuestring, "assistant")) continue;
        users += !strcmp(r->valuestring, "user");
        cJSON_AddItemToArray(out, msg(r->valuestring, c->valuestring));
    }
    cJSON_Delete(p);
    if (!users) { cJSON_Delete(out); return NULL; }
    return out;
}

static int has_tag(const char *list, const char *tag) {
    size_t n = strlen(tag);
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t k = c ? (size_t)(c - p) : strlen(p);
        if (k == n && !strncmp(p, tag, n)) return 1;
        if (!c) break;
        p = c + 1;
    }
    return 0;
}

struct buf {
    char *p;
    size_t len, cap;
    int oom;
};
static void put_line(struct buf *b, cJSON *o, int64_t *lines) {
    if (!o) return; /* an item without a user turn: nothing to learn from */
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) { b->oom = 1; return; }
    size_t n = strlen(s);
    if (b->len + n + 2 > b->cap) {
        size_t nc = (b->cap + n + 2) * 2;
        char *q = realloc(b->p, nc);
        if (!q) { free(s); b->oom = 1; return; }
        b->p = q, b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len++] = '\n';
    b->p[b->len] = 0;
    free(s);
    (*lines)++;
}

static cJSON *dpo_line(const char *prompt, const char *good, const char *bad) {
    cJSON *pm = prompt_msgs(prompt);
    if (!pm) return NULL;
    cJSON *o = cJSON_CreateObject(), *in = cJSON_AddObjectToObject(o, "input");
    cJSON_AddItemToObject(in, "messages", pm);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "preferred_output"), msg("assistant", good));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "non_preferred_output"), msg("assistant", bad));
    return o;
}

static cJSON *sft_line(const char *prompt, const char *answer) {
    cJSON *pm = prompt_msgs(prompt);
    if (!pm) return NULL;
    cJSON_AddItemToArray(pm, msg("assistant", answer));
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "messages", pm);
    return o;
}

int trainer_export(struct store *st, const char *format, const struct texport_filter *f, char **out, int64_t *lines,
                   struct err *e) {
    *out = NULL;
    *lines = 0;
    if (!trainer_export_format_ok(format)) return err_set(e, "format must be sft or dpo"), STORE_INVALID;
    int dpo = !strcmp(format, "dpo");
    struct titem *it = NULL;
    struct tjudg *js = NULL;
    size_t ni = 0, nj = 0;
    int rc = titem_list(st, f->set_id, &it, &ni, e);
    if (!rc) rc = tjudg_list(st, f->set_id, NULL, NULL, &js, &nj, e);
    if (rc) { titems_free(it, ni); return rc; }
    struct buf b = {calloc(1, 1), 0, 1, 0};
    if (!b.p) b.oom = 1;
    char (*seen)[STORE_ID_MAX] = ni ? calloc(ni, sizeof *seen) : NULL;
    int *ok = ni ? calloc(ni, sizeof *ok) : NULL;
    size_t ns = 0;
    if (ni && (!seen || !ok)) b.oom = 1;
    for (size_t i = 0; i < ni && !b.oom; i++) {
        const struct titem *t = &it[i];
        if (t->source_user[0]) { /* consent now, asked once per user */
            size_t k = 0;
            while (k < ns && strcmp(seen[k], t->source_user)) k++;
            if (k == ns) snprintf(seen[ns], STORE_ID_MAX, "%s", t->source_user), ok[ns++] = trainer_consented(st, t->source_user);
            if (!ok[k]) continue;
        }
        if ((f->from && t->created < f->from) || (f->to && t->created > f->to)) continue;
        if (f->model && *f->model && strcmp(t->model_a, f->model) && strcmp(t->model_b, f->model)) continue;
        if (f->assistant && *f->assistant && strcmp(t->assistant_id, f->assistant)) continue;
        int tagged = !(f->tag && *f->tag) || !strcmp(t->topic, f->tag);
        /* this item's done judgments: the latest rewrite, the votes, the mean score */
        const char *rewrite = NULL;
        int va = 0, vb = 0, n_scores = 0;
        double sum = 0;
        for (size_t k = 0; k < nj; k++) {
            const struct tjudg *j = &js[k];
            if (strcmp(j->item_id, t->id) || strcmp(j->status, "done")) continue;
            if (!tagged && has_tag(j->tags, f->tag)) tagged = 1;
            if (j->rewrite && *j->rewrite) rewrite = j->rewrite;
            va += !strcmp(j->choice, "a");
            vb += !strcmp(j->choice, "b");
            cJSON *sc = j->scores && *j->scores ? cJSON_Parse(j->scores) : NULL, *v;
            cJSON_ArrayForEach(v, sc) if (cJSON_IsNumber(v)) sum += v->valuedouble, n_scores++;
            cJSON_Delete(sc);
        }
        if (!tagged) continue;
        if (dpo) {
            if (va != vb && t->answer_a && t->answer_b)
                put_line(&b, dpo_line(t->prompt, va > vb ? t->answer_a : t->answer_b, va > vb ? t->answer_b : t->answer_a), lines);
            if (rewrite && t->answer_a && strcmp(rewrite, t->answer_a) && !b.oom)
                put_line(&b, dpo_line(t->prompt, rewrite, t->answer_a), lines);
        } else if (rewrite) {
            put_line(&b, sft_line(t->prompt, rewrite), lines);
        } else if (f->min_rating > 0 && n_scores && sum / n_scores >= f->min_rating && t->answer_a) {
            put_line(&b, sft_line(t->prompt, t->answer_a), lines);
        }
    }
    free(seen);
    free(ok);
    titems_free(it, ni);
    tjudgs_free(js, nj);
    if (b.oom) { free(b.p); return err_set(e, "out of memory"), STORE_ERR; }
    *out = b.p;
    return 0;
}

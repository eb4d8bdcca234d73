/* Agreement, leaderboard and throughput over the stored judgments; see report.h. */
#include "trainer/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/stats.h"
#include "trainer/tasks.h"

static void add_num(cJSON *o, const char *k, double v) {
    if (isnan(v)) cJSON_AddNullToObject(o, k);
    else cJSON_AddNumberToObject(o, k, v);
}

/* ---- agreement ---- */

#define MAX_DIMS 64
struct labels {
    int *a, *b;
    size_t n, cap;
};
struct pair {
    char u[STORE_ID_MAX], v[STORE_ID_MAX];
    struct labels dim[MAX_DIMS];
};
static int push(struct labels *l, int a, int b) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        int *x = realloc(l->a, nc * sizeof *x), *y = x ? realloc(l->b, nc * sizeof *y) : NULL;
        if (x) l->a = x;
        if (!y) return -1;
        l->b = y, l->cap = nc;
    }
    l->a[l->n] = a, l->b[l->n++] = b;
    return 0;
}

static int choice_label(const char *c) {
    for (int i = 0; i < 4; i++) if (!strcmp(c, trainer_choices[i])) return i;
    return -1;
}
static int score_label(const char *scores, const char *crit) {
    cJSON *o = cJSON_Parse(scores);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, crit);
    int r = cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 7 ? (int)v->valuedouble - 1 : -1;
    cJSON_Delete(o);
    return r;
}
static int tag_in(const char *list, const char *tag) {
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

static cJSON *stat_obj(const struct labels *l, int k) {
    cJSON *o = cJSON_CreateObject();
    double ag = NAN, ka = NAN;
    if (l->n) trainer_kappa(l->a, l->b, l->n, k, &ag, &ka, NULL);
    cJSON_AddNumberToObject(o, "items", (double)l->n);
    add_num(o, "percent_agreement", isnan(ag) ? NAN : 100.0 * ag);
    add_num(o, "kappa", ka);
    return o;
}

cJSON *trainer_agreement(struct store *st, const char *set_id, struct err *e) {
    struct tset set;
    if (tset_get(st, set_id, &set, e)) return NULL;
    struct tjudg *js = NULL;
    size_t nj = 0;
    if (tjudg_list(st, set_id, NULL, NULL, &js, &nj, e)) { tset_free(&set); return NULL; }
    /* the dimensions: compare 1 (k 4), rating the criteria (k 7), tags each tag seen (k 2) */
    const char *dims[MAX_DIMS];
    char tagstore[MAX_DIMS][64];
    int nd = 0, k = 2;
    if (!strcmp(set.kind, "compare")) dims[nd++] = "choice", k = 4;
    else if (!strcmp(set.kind, "rating")) {
        for (int i = 0; i < TRAINER_N_CRITERIA; i++) dims[nd++] = trainer_criteria[i];
        k = 7;
    } else if (!strcmp(set.kind, "tags")) {
        char (*tagbuf)[64] = tagstore;
        for (size_t i = 0; i < nj && nd < MAX_DIMS; i++) {
            char list[TRAINER_TAGS_MAX], *save = NULL;
            snprintf(list, sizeof list, "%s", js[i].tags);
            for (char *t = strtok_r(list, ",", &save); t && nd < MAX_DIMS; t = strtok_r(NULL, ",", &save)) {
                int have = 0;
                for (int d = 0; d < nd; d++) have |= !strcmp(dims[d], t);
                if (!have && strlen(t) < 64) snprintf(tagbuf[nd], 64, "%s", t), dims[nd] = tagbuf[nd], nd++;
            }
        }
    }
    struct pair *pairs = NULL;
    size_t np = 0, pcap = 0;
    int oom = 0;
    for (size_t x = 0; x < nj && !oom; x++) {
        if (strcmp(js[x].status, "done")) continue;
        for (size_t y = x + 1; y < nj && !oom; y++) {
            if (strcmp(js[y].status, "done") || strcmp(js[x].item_id, js[y].item_id) || !strcmp(js[x].user_id, js[y].user_id)) continue;
            const struct tjudg *p = &js[x], *q = &js[y];
            if (strcmp(p->user_id, q->user_id) > 0) { const struct tjudg *t = p; p = q; q = t; }
            size_t i = 0;
            while (i < np && (strcmp(pairs[i].u, p->user_id) || strcmp(pairs[i].v, q->user_id))) i++;
            if (i == np) {
                if (np == pcap) {
                    size_t nc = pcap ? pcap * 2 : 4;
                    struct pair *g = realloc(pairs, nc * sizeof *g);
                    if (!g) { oom = 1; break; }
                    pairs = g, pcap = nc;
                }
                memset(&pairs[np], 0, sizeof pairs[np]);
                snprintf(pairs[np].u, STORE_ID_MAX, "%s", p->user_id);
                snprintf(pairs[np].v, STORE_ID_MAX, "%s", q->user_id);
                np++;
            }
            for (int d = 0; d < nd && !oom; d++) {
                int la, lb;
                if (!strcmp(set.kind, "compare")) la = choice_label(p->choice), lb = choice_label(q->choice);
                else if (!strcmp(set.kind, "rating")) la = score_label(p->scores, dims[d]), lb = score_label(q->scores, dims[d]);
                else la = tag_in(p->tags, dims[d]), lb = tag_in(q->tags, dims[d]);
                if (la >= 0 && lb >= 0 && push(&pairs[i].dim[d], la, lb)) oom = 1;
            }
        }
    }
    cJSON *o = oom ? NULL : cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "object", "agreement");
        cJSON_AddStringToObject(o, "set_id", set.id);
        cJSON_AddStringToObject(o, "kind", set.kind);
        cJSON *arr = cJSON_AddArrayToObject(o, "pairs");
        struct labels all = {0};
        for (size_t i = 0; i < np && !oom; i++) {
            cJSON *x = cJSON_CreateObject(), *tr = cJSON_AddArrayToObject(x, "trainers");
            cJSON_AddItemToArray(tr, cJSON_CreateString(pairs[i].u));
            cJSON_AddItemToArray(tr, cJSON_CreateString(pairs[i].v));
            struct labels pooled = {0};
            cJSON *cr = nd > 1 ? cJSON_AddObjectToObject(x, "criteria") : NULL;
            for (int d = 0; d < nd; d++) {
                const struct labels *l = &pairs[i].dim[d];
                for (size_t z = 0; z < l->n && !oom; z++)
                    oom |= push(&pooled, l->a[z], l->b[z]) || push(&all, l->a[z], l->b[z]);
                if (cr) cJSON_AddItemToObject(cr, dims[d], stat_obj(l, k));
            }
            cJSON *s = stat_obj(&pooled, k), *it;
            cJSON_ArrayForEach(it, s) cJSON_AddItemToObject(x, it->string, cJSON_Duplicate(it, 1));
            cJSON_Delete(s);
            free(pooled.a), free(pooled.b);
            cJSON_AddItemToArray(arr, x);
        }
        if (all.n) cJSON_AddItemToObject(o, "overall", stat_obj(&all, k));
        else cJSON_AddNullToObject(o, "overall");
        free(all.a), free(all.b);
        if (oom) { cJSON_Delete(o); o = NULL; }
    }
    for (size_t i = 0; i < np; i++)
        for (int d = 0; d < MAX_DIMS; d++) free(pairs[i].dim[d].a), free(pairs[i].dim[d].b);
    free(pairs);
    tjudgs_free(js, nj);
    tset_free(&set);
    if (!o) err_set(e, "out of memory");
    return o;
}

/* ---- leaderboard ---- */

struct names {
    char (*v)[STORE_MODEL_MAX];
    int n;
};
static int name_index(struct names *m, const char *s) {
    for (int i = 0; i < m->n; i++) if (!strcmp(m->v[i], s)) return i;
    if (m->n >= BT_MAX_MODELS) return -1;
    snprintf(m->v[m->n], STORE_MODEL_MAX, "%s", s);
    return m->n++;
}

static cJSON *board(const struct bt_game *g, size_t n, const struct names *m) {
    cJSON *arr = cJSON_CreateArray();
    /* only the models that played here, renumbered */
    int map[BT_MAX_MODELS], back[BT_MAX_MODELS], k = 0;
    for (int i = 0; i < m->n; i++) map[i] = -1;
    for (size_t x = 0; x < n; x++)
        for (int s = 0; s < 2; s++) {
            int i = s ? g[x].j : g[x].i;
            if (map[i] < 0) back[k] = i, map[i] = k++;
        }
    if (k < 2) return arr;
    struct bt_game *h = malloc(n * sizeof *h);
    struct bt_rating *r = malloc((size_t)k * sizeof *r);
    if (h && r) {
        for (size_t x = 0; x < n; x++) h[x] = (struct bt_game){map[g[x].i], map[g[x].j], g[x].outcome};
        if (!trainer_bradley_terry(k, h, n, r, NULL)) {
            int order[BT_MAX_MODELS];
            for (int i = 0; i < k; i++) order[i] = i;
            for (int i = 1; i < k; i++) /* best first */
                for (int j = i; j > 0 && r[order[j]].score > r[order[j - 1]].score; j--) {
                    int t = order[j]; order[j] = order[j - 1]; order[j - 1] = t;
                }
            for (int z = 0; z < k; z++) {
                const struct bt_rating *q = &r[order[z]];
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "model", m->v[back[order[z]]]);
                add_num(o, "score", round(q->score * 10) / 10);
                add_num(o, "ci_low", round(q->lo * 10) / 10);
                add_num(o, "ci_high", round(q->hi * 10) / 10);
                cJSON_AddNumberToObject(o, "wins", q->wins);
                cJSON_AddNumberToObject(o, "losses", q->losses);
                cJSON_AddNumberToObject(o, "ties", q->ties);
                cJSON_AddNumberToObject(o, "games", q->games);
                cJSON_AddItemToArray(arr, o);
            }
        }
    }
    free(h);
    free(r);
    return arr;
}

cJSON *trainer_leaderboard(struct store *st, const char *set_id, struct err *e) {
    struct tset *sets = NULL;
    size_t ns = 0;
    if (tset_list(st, &sets, &ns, e)) return NULL;
    struct names m = {calloc(BT_MAX_MODELS, sizeof *m.v), 0};
    struct bt_game *g = NULL;
    char (*topic)[STORE_NAME_MAX] = NULL;
    size_t n = 0, cap = 0;
    int fail = !m.v;
    for (size_t s = 0; s < ns && !fail; s++) {
        if (strcmp(sets[s].kind, "compare") || (set_id && strcmp(sets[s].id, set_id))) continue;
        struct titem *it = NULL;
        struct tjudg *js = NULL;
        size_t ni = 0, nj = 0;
        if (titem_list(st, sets[s].id, &it, &ni, e) || tjudg_list(st, sets[s].id, NULL, NULL, &js, &nj, e)) fail = 1;
        for (size_t x = 0; x < nj && !fail; x++) {
            const struct tjudg *j = &js[x];
            int lab = choice_label(j->choice);
            if (strcmp(j->status, "done") || lab < 0) continue;
            const struct titem *t = NULL;
            for (size_t y = 0; y < ni && !t; y++) if (!strcmp(it[y].id, j->item_id)) t = &it[y];
            if (!t || !t->model_a[0] || !t->model_b[0] || !strcmp(t->model_a, t->model_b)) continue;
            int a = name_index(&m, t->model_a), b = name_index(&m, t->model_b);
            if (a < 0 || b < 0) continue;
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 32;
                struct bt_game *p = realloc(g, nc * sizeof *p);
                if (p) g = p;
                char (*q)[STORE_NAME_MAX] = p ? realloc(topic, nc * sizeof *q) : NULL;
                if (!q) { fail = 1; break; }
                topic = q, cap = nc;
            }
            g[n] = (struct bt_game){a, b, lab == 0 ? 1.0 : lab == 1 ? 0.0 : 0.5};
            snprintf(topic[n], STORE_NAME_MAX, "%s", t->topic[0] ? t->topic : "general");
            n++;
        }
        titems_free(it, ni);
        tjudgs_free(js, nj);
    }
    tsets_free(sets, ns);
    cJSON *o = NULL;
    if (!fail) {
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "object", "leaderboard");
        cJSON_AddStringToObject(o, "method", "bradley_terry");
        cJSON_AddNumberToObject(o, "votes", (double)n);
        cJSON_AddItemToObject(o, "models", board(g, n, &m));
        cJSON *tp = cJSON_AddObjectToObject(o, "topics");
        struct bt_game *sub = n ? malloc(n * sizeof *sub) : NULL;
        for (size_t x = 0; x < n && sub; x++) {
            if (cJSON_HasObjectItem(tp, topic[x])) continue;
            size_t k = 0;
            for (size_t y = 0; y < n; y++) if (!strcmp(topic[y], topic[x])) sub[k++] = g[y];
            cJSON_AddItemToObject(tp, topic[x], board(sub, k, &m));
        }
        free(sub);
    } else if (!e || !e->msg[0]) err_set(e, "out of memory");
    free(g);
    free(topic);
    free(m.v);
    return o;
}

/* ---- throughput ---- */

cJSON *trainer_throughput(struct store *st, const char *set_id, struct err *e) {
    struct tjudg *js = NULL;
    size_t nj = 0;
    if (tjudg_list(st, set_id, NULL, NULL, &js, &nj, e)) return NULL;
    cJSON *o = cJSON_CreateObject(), *d = cJSON_AddArrayToObject(o, "data");
    cJSON_AddStringToObject(o, "object", "list");
    for (size_t x = 0; x < nj; x++) {
        int first = 1;
        for (size_t y = 0; y < x && first; y++) first = strcmp(js[y].user_id, js[x].user_id) != 0;
        if (!first) continue;
        int64_t done = 0, skipped = 0, ms = 0;
        for (size_t y = x; y < nj; y++) {
            if (strcmp(js[y].user_id, js[x].user_id)) continue;
            if (!strcmp(js[y].status, "done")) done++, ms += js[y].time_ms;
            else skipped++;
        }
        struct store_user u;
        int have = store_user_get(st, js[x].user_id, &u, NULL) == 0;
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "trainer_id", js[x].user_id);
        cJSON_AddStringToObject(r, "email", have ? u.email : "");
        cJSON_AddStringToObject(r, "name", have ? u.name : "");
        cJSON_AddNumberToObject(r, "done", (double)done);
        cJSON_AddNumberToObject(r, "skipped", (double)skipped);
        cJSON_AddNumberToObject(r, "time_ms", (double)ms);
        add_num(r, "mean_ms", done ? (double)ms / (double)done : NAN);
        add_num(r, "per_hour", ms > 0 ? round((double)done / ((double)ms / 3.6e6) * 10) / 10 : NAN);
        cJSON_AddItemToArray(d, r);
    }
    tjudgs_free(js, nj);
    return o;
}

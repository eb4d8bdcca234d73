/* Rules, then the guard; see moderate.h. */
#include "moderation/moderate.h"

#include <stdio.h>
#include <string.h>

static int oai_by_name(const char *name) {
    for (int c = 0; name && c < OAI_N_CATEGORIES; c++)
        if (!strcmp(name, oai_category_name((enum oai_category)c))) return c;
    return -1;
}

static void add_guard(const struct moderation *m, struct mod_result *r, const struct guard_check *g) {
    for (int c = 0; c < OAI_N_CATEGORIES; c++)
        if (g->v.oai & (1u << c)) {
            r->categories |= 1u << c;
            if (g->p_unsafe > r->scores[c]) r->scores[c] = g->p_unsafe;
        }
    if (g->v.safety == GUARD_UNSAFE || (m->strict && g->v.safety == GUARD_CONTROVERSIAL)) r->flagged = 1;
}

int moderation_check(const struct moderation *m, const char *text, const char *reply, struct mod_result *r, char *err,
                     size_t err_size) {
    memset(r, 0, sizeof *r);
    const char *subject = reply ? reply : text;
    if (m->rules) {
        struct err e = {{0}};
        if (mod_rules_check(m->rules, subject, strlen(subject), &r->rules, &e)) {
            snprintf(err, err_size, "%s", e.msg);
            return -1;
        }
        for (int i = 0; i < r->rules.n_hits; i++) {
            const struct mod_hit *h = &r->rules.hits[i];
            int c = oai_by_name(h->category);
            if (c >= 0 && h->action >= MOD_WARN && h->action != MOD_REDACT) {
                r->categories |= 1u << c;
                r->scores[c] = 1.0f;
            }
        }
        if (r->rules.action == MOD_BLOCK) r->flagged = 1;
    }
    if (!m->guard) return 0;
    int n = m->family == GUARD_SHIELDGEMMA ? SG_N_POLICIES : 1;
    for (int p = 0; p < n; p++) {
        if (guard_run(m->guard, m->cache, m->family, p, text, reply, &r->guard[p], err, err_size)) return -1;
        r->n_guard++;
        add_guard(m, r, &r->guard[p]);
    }
    return 0;
}

void mod_result_free(struct mod_result *r) { mod_verdict_free(&r->rules); }

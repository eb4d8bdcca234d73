/* See lazy_json.h. The text since the last value (a window of its last bytes) is
 * searched for a trigger, then for its start marker; the bytes after the marker that
 * came with the same token are fed to the matcher, whose masks then steer sampling. */
#include "runtime/lazy_json.h"

#include <stdlib.h>
#include <string.h>

#include "text/json_schema.h"

enum { WIN = 1024 };

struct lazy_json {
    const struct lazy_json_spec *spec;
    int n;
    struct json_schema_matcher **m;
    int active;          /* spec whose value is being written, or -1 */
    int armed;           /* spec whose trigger was seen, waiting for its start, or -1 */
    size_t armed_at;     /* in win: where the text after the trigger begins */
    char win[WIN];
    size_t wn;
};

struct lazy_json *lazy_json_new(const struct lazy_json_spec *specs, int n, const char *const *pieces,
                                const size_t *lens, int n_vocab, struct err *e) {
    struct lazy_json *lj = calloc(1, sizeof *lj);
    if (!lj || !(lj->m = calloc((size_t)(n > 0 ? n : 1), sizeof *lj->m))) {
        free(lj);
        err_set(e, "out of memory");
        return NULL;
    }
    lj->spec = specs;
    lj->n = n;
    lj->active = lj->armed = -1;
    for (int i = 0; i < n; i++)
        if (!(lj->m[i] = json_schema_matcher_new(specs[i].schema, pieces, lens, n_vocab, -1, e))) {
            lazy_json_free(lj);
            return NULL;
        }
    return lj;
}

void lazy_json_free(struct lazy_json *lj) {
    if (!lj) return;
    for (int i = 0; i < lj->n; i++) json_schema_matcher_free(lj->m[i]);
    free(lj->m);
    free(lj);
}

int lazy_json_active(const struct lazy_json *lj) { return lj && lj->active >= 0; }

void lazy_json_mask(void *p, float *logits, int n_vocab) {
    struct lazy_json *lj = p;
    if (lj->active >= 0) json_schema_matcher_mask(lj->m[lj->active], logits, n_vocab);
}

static int name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
}

/* Keeps the window's last bytes when it would overflow (a trigger is short). */
static void win_add(struct lazy_json *lj, const char *s, size_t n) {
    if (n >= WIN) { s += n - WIN / 2; n = WIN / 2; }
    if (lj->wn + n > WIN) {
        size_t drop = lj->wn + n - WIN;
        memmove(lj->win, lj->win + drop, lj->wn - drop);
        lj->wn -= drop;
        if (lj->armed >= 0) {
            if (lj->armed_at < drop) lj->armed = -1;
            else lj->armed_at -= drop;
        }
    }
    memcpy(lj->win + lj->wn, s, n);
    lj->wn += n;
}

/* Starts spec k's value with the window's bytes from `from` on. */
static void activate(struct lazy_json *lj, int k, size_t from) {
    json_schema_matcher_reset(lj->m[k]);
    lj->active = k;
    lj->armed = -1;
    if (from < lj->wn && json_schema_matcher_feed(lj->m[k], lj->win + from, lj->wn - from)) lj->active = -1;
    lj->wn = 0;
    if (lj->active >= 0 && json_schema_matcher_done(lj->m[k])) lj->active = -1;
}

/* Looks for a trigger (the longest at the earliest place), then its start marker. */
static void scan(struct lazy_json *lj) {
    if (lj->armed < 0) {
        size_t best_at = lj->wn;
        int best = -1;
        for (int k = 0; k < lj->n; k++) {
            const char *t = lj->spec[k].trigger;
            size_t tl = strlen(t);
            if (!tl || tl > lj->wn) continue;
            for (size_t i = 0; i + tl <= lj->wn; i++) {
                if (memcmp(lj->win + i, t, tl)) continue;
                /* a trigger ending in a name only counts once the name has ended */
                if (name_char(t[tl - 1]) && (i + tl >= lj->wn || name_char(lj->win[i + tl]))) continue;
                if (i < best_at || (i == best_at && tl > strlen(lj->spec[best].trigger))) { best_at = i; best = k; }
                break;
            }
        }
        if (best < 0) return;
        lj->armed = best;
        lj->armed_at = best_at + strlen(lj->spec[best].trigger);
    }
    const char *st = lj->spec[lj->armed].start;
    size_t sl = st ? strlen(st) : 0;
    if (!sl) { activate(lj, lj->armed, lj->armed_at); return; }
    for (size_t i = lj->armed_at; i + sl <= lj->wn; i++)
        if (!memcmp(lj->win + i, st, sl)) { activate(lj, lj->armed, i + sl); return; }
}

int lazy_json_accept(struct lazy_json *lj, int32_t token, const char *text, size_t n) {
    if (lj->active >= 0) {
        if (json_schema_matcher_accept(lj->m[lj->active], token)) return -1;
        if (json_schema_matcher_done(lj->m[lj->active])) lj->active = -1;
        return 0;
    }
    if (!n) return 0;
    win_add(lj, text, n);
    scan(lj);
    return 0;
}

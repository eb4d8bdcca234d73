/* Stop-string matching with hold-back; see stop_match.h. */
#include "runtime/stop_match.h"

#include <stdlib.h>
#include <string.h>

void stop_match_init(struct stop_match *m, const char *const *stop, int n_stop) {
    memset(m, 0, sizeof *m);
    m->stop = stop;
    m->n_stop = n_stop;
}

void stop_match_free(struct stop_match *m) {
    free(m->held);
    free(m->out);
    memset(m, 0, sizeof *m);
}

static int reserve(char **p, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    char *q = realloc(*p, c);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* Sets out to held[0..n) and keeps held[n..) for later. */
static int release(struct stop_match *m, size_t n, const char **out, size_t *out_len) {
    if (reserve(&m->out, &m->cap_out, n + 1)) return -1;
    memcpy(m->out, m->held, n);
    m->out[n] = 0;
    memmove(m->held, m->held + n, m->n_held - n);
    m->n_held -= n;
    *out = m->out;
    *out_len = n;
    return 0;
}

int stop_match_push(struct stop_match *m, const char *text, size_t len, const char **out, size_t *out_len) {
    *out = "";
    *out_len = 0;
    if (m->n_stop == 0) {   /* the common case: pass straight through */
        *out = text;
        *out_len = len;
        return 0;
    }
    if (reserve(&m->held, &m->cap_held, m->n_held + len + 1)) return -1;
    memcpy(m->held + m->n_held, text, len);
    m->n_held += len;

    size_t first = (size_t)-1;
    int which = 0;
    for (int i = 0; i < m->n_stop; i++) {
        size_t sl = strlen(m->stop[i]);
        if (!sl || sl > m->n_held) continue;
        const char *hit = memmem(m->held, m->n_held, m->stop[i], sl);
        if (hit && (size_t)(hit - m->held) < first) { first = (size_t)(hit - m->held); which = i + 1; }
    }
    if (first != (size_t)-1) {
        m->hit = which;
        if (release(m, first, out, out_len)) return -1;
        m->n_held = 0;   /* the stop string and anything after it are dropped */
        return 1;
    }
    /* Hold back the longest tail that is a prefix of some stop string. */
    size_t keep = 0;
    for (int i = 0; i < m->n_stop; i++) {
        size_t sl = strlen(m->stop[i]);
        for (size_t k = sl - 1 < m->n_held ? sl - 1 : m->n_held; k > keep; k--)
            if (!memcmp(m->held + m->n_held - k, m->stop[i], k)) { keep = k; break; }
    }
    return release(m, m->n_held - keep, out, out_len);
}

void stop_match_flush(struct stop_match *m, const char **out, size_t *out_len) {
    *out = "";
    *out_len = 0;
    if (m->n_held) release(m, m->n_held, out, out_len);
}

/* Audio upload fields; see multipart.h. */
#include "api/multipart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const api_form_field_names[API_FORM_N] = {"file", "model", "language", "prompt", "response_format",
                                                      "temperature", "timestamp_granularities[]"};

void api_form_init(struct api_form *fm, size_t max_body) {
    memset(fm, 0, sizeof *fm);
    fm->max = max_body;
    fm->max_text = API_FORM_MAX_TEXT;
    fm->cur = -1;
}

/* timestamp_granularities[] may repeat; each value is judged when the next field starts. */
static void finish_gran(struct api_form *fm) {
    struct api_form_field *g = &fm->f[API_FORM_GRAN];
    if (fm->cur != API_FORM_GRAN) return;
    if (g->n == 4 && !memcmp(g->p, "word", 4)) fm->gran_word = 1;
    else if (g->n == 7 && !memcmp(g->p, "segment", 7)) fm->gran_segment = 1;
    else if (!fm->gran_bad[0]) snprintf(fm->gran_bad, sizeof fm->gran_bad, "%.*s", (int)(g->n < 40 ? g->n : 40), g->p ? g->p : "");
    g->n = 0;
}

int api_form_field_begin(struct api_form *fm, const char *key) {
    finish_gran(fm);
    fm->cur = -1;
    for (int i = 0; i < API_FORM_N; i++)
        if (!strcmp(key, api_form_field_names[i]) || (i == API_FORM_GRAN && !strcmp(key, "timestamp_granularities")))
            fm->cur = i;
    if (fm->cur < 0) return 0;
    struct api_form_field *f = &fm->f[fm->cur];
    f->seen = 1;
    f->n = 0; /* a repeated field: the last one wins */
    return 1;
}

int api_form_field_data(struct api_form *fm, const char *value, size_t len) {
    if (fm->cur < 0) return 0;
    struct api_form_field *f = &fm->f[fm->cur];
    fm->total += len;
    if (fm->total > fm->max) { fm->too_big = 1; return -1; }
    if (fm->cur != API_FORM_FILE && f->n + len > fm->max_text) {
        fm->text_too_long = fm->cur + 1;
        return -1;
    }
    if (f->n + len + 1 > f->cap) {
        size_t cap = (f->cap ? f->cap * 2 : 256) + len;
        char *q = realloc(f->p, cap);
        if (!q) { fm->oom = 1; return -1; }
        f->p = q;
        f->cap = cap;
    }
    memcpy(f->p + f->n, value, len);
    f->n += len;
    f->p[f->n] = 0;
    return 0;
}

void api_form_end(struct api_form *fm) { finish_gran(fm); }

const char *api_form_text(const struct api_form *fm, int i) {
    return fm->f[i].seen && fm->f[i].n ? fm->f[i].p : NULL;
}

void api_form_free(struct api_form *fm) {
    for (int i = 0; i < API_FORM_N; i++) free(fm->f[i].p);
}

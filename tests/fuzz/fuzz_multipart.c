/* libFuzzer target for audio upload fields (api/multipart.c) and what the route
 * reads from them. The byte-level multipart parser is civetweb's (the Debian
 * library; it needs a live connection), so the input is a multipart/form-data body
 * with the boundary "B", split here as civetweb splits it (parts between
 * "\r\n--B", a part's name from its Content-Disposition header), and each field's
 * data is handed over in pieces as civetweb's read buffer would: first in pieces
 * of 1..64 bytes (the size from the input's length), then whole. Limits are small
 * so they are reached. Afterwards the text fields are read the way
 * routes_audio_transcriptions.c reads them (response_format, language code,
 * temperature). Built by tests/fuzz/build.sh; tests/fuzz/test_fuzz_multipart.c
 * replays the corpus. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/multipart.h"
#include "models/whisper.h"

static int fuzz_setup(void) { return 0; } /* nothing to load (replay.h calls it too) */

/* The value of name="..." in a part's headers (NUL-terminated into out), or -1. */
static int part_name(const char *h, size_t n, char *out, size_t cap) {
    const char *p = memmem(h, n, "name=\"", 6);
    if (!p) return -1;
    p += 6;
    const char *q = memchr(p, '"', (size_t)(h + n - p));
    if (!q || (size_t)(q - p) >= cap) return -1;
    memcpy(out, p, (size_t)(q - p));
    out[q - p] = 0;
    return 0;
}

static void run(const char *body, size_t size, size_t chunk) {
    struct api_form fm;
    api_form_init(&fm, 4096);
    fm.max_text = 256;
    static const char delim[] = "\r\n--B";
    /* the body starts with "--B" (no CRLF before the first boundary) */
    const char *p = size >= 3 && !memcmp(body, "--B", 3) ? body + 3 : NULL, *end = body + size;
    int stop = 0;
    while (p && !stop) {
        if (end - p >= 2 && !memcmp(p, "--", 2)) break; /* the closing boundary */
        const char *hdr = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hdr) break;
        const char *data = hdr + 4, *next = memmem(data, (size_t)(end - data), delim, sizeof delim - 1);
        const char *dend = next ? next : end;
        char name[128];
        if (part_name(p, (size_t)(hdr - p), name, sizeof name) == 0 && api_form_field_begin(&fm, name)) {
            for (const char *d = data; d < dend && !stop; d += chunk)
                stop = api_form_field_data(&fm, d, (size_t)(dend - d) < chunk ? (size_t)(dend - d) : chunk) != 0;
        }
        p = next ? next + sizeof delim - 1 : NULL;
    }
    api_form_end(&fm);
    if (stop && !fm.too_big && !fm.text_too_long && !fm.oom) abort(); /* a stop says why */
    if (fm.total > fm.max + 4096 || strlen(fm.gran_bad) >= sizeof fm.gran_bad) abort();
    for (int i = 0; i < API_FORM_N; i++) {
        const struct api_form_field *f = &fm.f[i];
        if (f->n && (!f->p || f->p[f->n] != 0 || f->n >= f->cap)) abort();
        if (i != API_FORM_FILE && f->n > fm.max_text) abort();
        const char *t = api_form_text(&fm, i);
        if (t && !f->seen) abort();
    }
    const char *lang = api_form_text(&fm, API_FORM_LANGUAGE), *temp = api_form_text(&fm, API_FORM_TEMPERATURE);
    volatile int h = lang ? whisper_lang_index(lang) : 0;
    if (temp) {
        char *e = NULL;
        h += strtod(temp, &e) > 0;
    }
    (void)h;
    api_form_free(&fm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fuzz_setup()) return 0;
    run((const char *)data, size, 1 + size % 64);
    run((const char *)data, size, size ? size : 1);
    return 0;
}

/* The fields of an audio upload (POST /v1/audio/transcriptions and /translations).
 * civetweb's multipart/form-data parser (mg_handle_form_request) reads the body and
 * reports each field's start and its data in pieces; this collects them: the fields
 * the route uses, size limits (the whole upload, any text field), repeated fields
 * (the last wins) and timestamp_granularities[] (which may repeat). No connection
 * needed, so it is unit-tested and fuzzed on its own. */
#ifndef OMNI_API_MULTIPART_H
#define OMNI_API_MULTIPART_H
#include <stddef.h>

enum { API_FORM_FILE, API_FORM_MODEL, API_FORM_LANGUAGE, API_FORM_PROMPT, API_FORM_FORMAT, API_FORM_TEMPERATURE,
       API_FORM_GRAN, API_FORM_N };
/* "file", "model", ..., "timestamp_granularities[]" (also accepted without the []) */
extern const char *const api_form_field_names[API_FORM_N];
#define API_FORM_MAX_TEXT (64u << 10) /* any field but the file: far more than a prompt needs */

struct api_form_field {
    char *p; /* NUL-terminated after n bytes */
    size_t n, cap;
    int seen;
};

struct api_form {
    size_t max, total, max_text;
    int too_big, oom, text_too_long; /* text_too_long: the field's index + 1 */
    int cur;                         /* the field being received, -1 for one we skip */
    struct api_form_field f[API_FORM_N];
    int gran_word, gran_segment;
    char gran_bad[64];               /* the first timestamp_granularities[] value we do not know */
};

/* max_body bounds the data of all fields together; text fields get API_FORM_MAX_TEXT. */
void api_form_init(struct api_form *fm, size_t max_body);
/* A field named key starts: 1 to receive its data, 0 to skip it (a field the route
 * does not use: stream, include[], ...). */
int api_form_field_begin(struct api_form *fm, const char *key);
/* A piece of the current field's data: 0 to go on, -1 to stop reading the body
 * (too_big, text_too_long or oom says why). */
int api_form_field_data(struct api_form *fm, const char *value, size_t len);
/* After the last field. */
void api_form_end(struct api_form *fm);
/* A text field's value, or NULL when it was not sent (or sent empty). */
const char *api_form_text(const struct api_form *fm, int i);
void api_form_free(struct api_form *fm);

#endif

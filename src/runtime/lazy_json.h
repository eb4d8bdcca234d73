/* The lazy JSON constraint behind omni_generate_params.lazy_json (function calling): the
 * reply's text is watched for a call's trigger; from its start marker on, a JSON-schema
 * matcher masks the sampling until the value is complete, then the text is free again.
 * Plugs into sampler_set_constraint like the JSON grammars; the engine thread alone uses
 * it (one per running request). */
#ifndef OMNI_RUNTIME_LAZY_JSON_H
#define OMNI_RUNTIME_LAZY_JSON_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

struct json_schema;

struct lazy_json_spec {
    char *trigger, *start;          /* start "" : at once */
    struct json_schema *schema;     /* compiled */
};

struct lazy_json;

/* specs (borrowed), pieces/lens as json_schema_matcher_new takes them. */
struct lazy_json *lazy_json_new(const struct lazy_json_spec *specs, int n, const char *const *pieces,
                                const size_t *lens, int n_vocab, struct err *e);
void lazy_json_free(struct lazy_json *lj);
/* sampler_constraint_fn: masks only while a value is being written. */
void lazy_json_mask(void *lj, float *logits, int n_vocab);
/* The chosen token and the text it added to the reply. 0, or -1 when the token breaks
 * the value being written (cannot happen after lazy_json_mask). */
int lazy_json_accept(struct lazy_json *lj, int32_t token, const char *text, size_t n);
/* 1 while a value is being written. */
int lazy_json_active(const struct lazy_json *lj);

#endif

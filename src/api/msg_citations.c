/* Answers' citations on the HTTP API: see msg_citations.h. */
#include "api/msg_citations.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/citations.h"

#define CITATIONS_MAX_ITEMS 50   /* an assistant's knowledge.max_chunks is at most 50 */

int api_citations_put(struct store *st, const char *user_id, const char *msg_id, const cJSON *cites, struct err *e) {
    if (!cJSON_IsArray(cites) || !cJSON_GetArraySize(cites)) return 0;
    char *js = cJSON_PrintUnformatted(cites);
    if (js && strlen(js) > STORE_CITATIONS_MAX) {
        /* too long: the passages' texts go from the last one back until it fits */
        cJSON *slim = cJSON_Duplicate(cites, 1);
        for (int i = cJSON_GetArraySize(slim) - 1; slim && js && strlen(js) > STORE_CITATIONS_MAX && i >= 0; i--) {
            cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetArrayItem(slim, i), "text");
            free(js);
            js = cJSON_PrintUnformatted(slim);
        }
        cJSON_Delete(slim);
    }
    if (!js) return err_set(e, "out of memory");
    int rc = store_msg_citations_put(st, user_id, msg_id, js, e);
    free(js);
    return rc;
}

static int opt_type(const cJSON *o, const char *k, int (*is)(const cJSON *)) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return !v || cJSON_IsNull(v) || is(v);
}

int api_citations_check(const cJSON *v, char *msg, size_t cap) {
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > CITATIONS_MAX_ITEMS) {
        snprintf(msg, cap, "'citations' must be an array of at most %d sources", CITATIONS_MAX_ITEMS);
        return -1;
    }
    int i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, v) {
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(c, "index"), *file = cJSON_GetObjectItemCaseSensitive(c, "file");
        if (!cJSON_IsObject(c) || !cJSON_IsNumber(idx) || idx->valuedouble < 1 || idx->valuedouble > 1e6 ||
            idx->valuedouble != (double)(int)idx->valuedouble || !cJSON_IsString(file) || !opt_type(c, "page", cJSON_IsNumber) ||
            !opt_type(c, "heading", cJSON_IsString) || !opt_type(c, "text", cJSON_IsString)) {
            snprintf(msg, cap, "'citations[%d]' must be an object with an integer 'index' (1 or more), a string 'file', "
                     "and 'page' a number, 'heading' and 'text' strings, or null", i);
            return -1;
        }
        i++;
    }
    return 0;
}

/* Where a source is, without its passage: what a share link's reader sees. */
static cJSON *labels_only(const cJSON *cites) {
    static const char *const keep[] = {"index", "file", "page", "heading"};
    cJSON *out = cJSON_CreateArray();
    const cJSON *c;
    cJSON_ArrayForEach(c, cites) {
        cJSON *o = cJSON_CreateObject();
        for (size_t k = 0; o && k < sizeof keep / sizeof *keep; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, keep[k]);
            cJSON_AddItemToObject(o, keep[k], v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
        }
        if (o) cJSON_AddItemToArray(out, o);
    }
    return out;
}

static cJSON *shape_labels(cJSON *arr) {
    cJSON *l = labels_only(arr);
    cJSON_Delete(arr);
    return l;
}

void api_citations_attach(struct store *st, const char *user_id, const char *conv_id, cJSON *messages, int passages) {
    store_citations_attach(st, user_id, conv_id, messages, passages ? NULL : shape_labels);
}

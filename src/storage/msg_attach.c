/* Per-message rows onto message objects: see msg_attach.h. */
#include "storage/msg_attach.h"

#include <string.h>

static int attach_one(cJSON *m, const char *field, const char *base, size_t n, size_t stride, size_t id_off,
                      store_attach_make make, void *ctx) {
    const char *mid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "id"));
    for (size_t i = 0; mid && i < n; i++) {
        const char *row = base + i * stride;
        if (strcmp(row + id_off, mid)) continue;
        cJSON *v = make(row, ctx);
        if (v && !cJSON_AddItemToObject(m, field, v)) { cJSON_Delete(v); return -1; }
        return 0;
    }
    return 0;
}

int store_attach_per_msg(cJSON *messages, const char *field, const void *rows, size_t n, size_t stride,
                         size_t id_off, store_attach_make make, void *ctx) {
    if (!messages || !n) return 0;
    if (cJSON_IsObject(messages)) return attach_one(messages, field, rows, n, stride, id_off, make, ctx);
    int rc = 0;
    cJSON *m;
    cJSON_ArrayForEach(m, messages)
        if (attach_one(m, field, rows, n, stride, id_off, make, ctx)) rc = -1;
    return rc;
}

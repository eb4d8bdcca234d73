/* Model names from requests to the server's models; see model_names.h. */
#include "api/model_names.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && !strcasecmp(s + n - k, tail);
}

int api_name_means(const char *name, const char *id, const char *general) {
    char base[256];
    snprintf(base, sizeof base, "%s", name);
    if (ends_with(base, ":latest")) base[strlen(base) - 7] = 0;
    if (!strcasecmp(name, id) || !strcasecmp(base, id)) return 1;
    if (general && *general && (!strcasecmp(name, general) || !strcasecmp(base, general))) return 1;
    char *colon = strchr(base, ':');
    if (!colon || colon == base || !colon[1]) return 0;
    *colon = '-';
    size_t k = strlen(base);
    return !strncasecmp(id, base, k) && (id[k] == 0 || id[k] == '-' || id[k] == '.');
}

int api_served_models(struct api_server *s, struct api_served *out, int cap) {
    int n = 0;
    if (s->model && n < cap)
        out[n++] = (struct api_served){s->model_id, API_MODEL_CHAT, s->model, NULL, s->p.model_path};
    if (s->embedder && n < cap)
        out[n++] = (struct api_served){s->embed_id, API_MODEL_EMBED, NULL, s->embedder, s->p.embed_path};
    return n;
}

int api_find_model(struct api_server *s, const char *name, struct api_served *out) {
    struct api_served all[2];
    int n = api_served_models(s, all, 2);
    for (int i = 0; i < n; i++) {
        const char *general = all[i].model ? omni_model_name(all[i].model) : omni_embedder_name(all[i].embedder);
        if (!name || !*name || api_name_means(name, all[i].id, general)) {
            *out = all[i];
            return 0;
        }
    }
    return -1;
}

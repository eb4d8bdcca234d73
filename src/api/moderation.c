/* Loading the moderation setup; see moderation.h. */
#include "api/moderation.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "moderation/guard_cache.h"

static char *base_name(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 5 && !strcmp(b + n - 5, ".gguf")) n -= 5;
    char *s = malloc(n + 1);
    if (s) memcpy(s, b, n), s[n] = 0;
    return s;
}

struct api_moderation *api_moderation_open(const char *policy, const char *guard_model, int n_threads, struct err *e) {
    if (!policy && !guard_model) return NULL;
    struct api_moderation *m = calloc(1, sizeof *m);
    if (!m) { err_set(e, "out of memory"); return NULL; }
    if (policy && !(m->policy = mod_policy_load(policy, e))) {
        err_prefix(e, "--moderation: ");
        api_moderation_close(m);
        return NULL;
    }
    if (guard_model) {
        char msg[512] = "";
        omni_model_params mp = omni_model_default_params();
        mp.n_threads = n_threads;
        if (!(m->guard = omni_model_load(guard_model, &mp, msg, sizeof msg))) {
            err_set(e, "--guard-model: %s", msg);
            api_moderation_close(m);
            return NULL;
        }
        const char *tpl = omni_model_chat_template(m->guard);
        int fam = guard_family_of(guard_model, tpl);
        if (fam < 0) fam = guard_family_of(omni_model_name(m->guard), tpl);
        if (fam < 0) {
            err_set(e, "--guard-model: %s is not a guard model omni knows (Qwen3Guard-Gen, Llama Guard 3, ShieldGemma: "
                       "by its name or chat template)", guard_model);
            api_moderation_close(m);
            return NULL;
        }
        m->cfg.family = (enum guard_family)fam;
        m->cfg.guard = m->guard;
        /* before the first request: only a check's own text and the template's tail are left
         * to compute; without it the checks still run, on the engine's slots */
        if (!(m->cache = guard_cache_new(m->guard, m->cfg.family, msg, sizeof msg)))
            log_warn("--guard-model: its prompt beginning is not kept cached: %s", msg);
        m->cfg.cache = m->cache;
    }
    m->guard_id = guard_model ? base_name(guard_model) : strdup("omni-rules");
    if (!m->guard_id) { err_set(e, "out of memory"); api_moderation_close(m); return NULL; }
    m->cfg.rules = m->policy ? m->policy->rules : NULL;
    return m;
}

void api_moderation_close(struct api_moderation *m) {
    if (!m) return;
    mod_policy_free(m->policy);
    guard_cache_free(m->cache);
    if (m->guard) omni_model_free(m->guard);
    free(m->guard_id);
    free(m);
}

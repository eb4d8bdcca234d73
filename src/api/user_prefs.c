/* User settings with their defaults; see user_prefs.h. */
#include "api/user_prefs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/accounts.h"
#include "storage/prefs.h"

int api_improve_default(struct api_server *s) {
    char *v = NULL;
    struct err e = {{0}};
    int on = store_server_get(s->p.auth->st, "improve_model_default", &v, &e) == 0 && v && !strcmp(v, "true");
    free(v);
    return on;
}

static void str_field(const cJSON *o, const char *k, char *dst, size_t cap, const char *dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    snprintf(dst, cap, "%s", cJSON_IsString(v) ? v->valuestring : dflt);
}

int api_user_prefs_load(struct api_server *s, const char *user_id, struct api_user_prefs *p, struct err *e) {
    memset(p, 0, sizeof *p);
    char *doc = NULL;
    int rc = store_settings_get(s->p.auth->st, user_id, &doc, e);
    if (rc) return rc;
    cJSON *o = doc ? cJSON_Parse(doc) : NULL;
    free(doc);
    const cJSON *am = cJSON_GetObjectItemCaseSensitive(o, "about_me"), *rs = cJSON_GetObjectItemCaseSensitive(o, "response_style");
    p->about_me = strdup(cJSON_IsString(am) ? am->valuestring : "");
    p->response_style = strdup(cJSON_IsString(rs) ? rs->valuestring : "");
    str_field(o, "default_model", p->default_model, sizeof p->default_model, "");
    str_field(o, "voice", p->voice, sizeof p->voice, "");
    str_field(o, "theme", p->theme, sizeof p->theme, "system");
    str_field(o, "language", p->language, sizeof p->language, "en");
    const cJSON *me = cJSON_GetObjectItemCaseSensitive(o, "memory_enabled"), *im = cJSON_GetObjectItemCaseSensitive(o, "improve_model");
    p->memory_enabled = cJSON_IsBool(me) ? cJSON_IsTrue(me) : 1;
    p->improve_model = cJSON_IsBool(im) ? cJSON_IsTrue(im) : api_improve_default(s);
    cJSON_Delete(o);
    if (!p->about_me || !p->response_style) {
        api_user_prefs_free(p);
        return err_set(e, "out of memory");
    }
    return 0;
}

void api_user_prefs_free(struct api_user_prefs *p) {
    free(p->about_me);
    free(p->response_style);
    p->about_me = p->response_style = NULL;
}

cJSON *api_user_prefs_json(const struct api_user_prefs *p) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "object", "settings");
    cJSON_AddStringToObject(o, "about_me", p->about_me);
    cJSON_AddStringToObject(o, "response_style", p->response_style);
    if (p->default_model[0]) cJSON_AddStringToObject(o, "default_model", p->default_model);
    else cJSON_AddNullToObject(o, "default_model");
    if (p->voice[0]) cJSON_AddStringToObject(o, "voice", p->voice);
    else cJSON_AddNullToObject(o, "voice");
    cJSON_AddStringToObject(o, "theme", p->theme);
    cJSON_AddStringToObject(o, "language", p->language);
    cJSON_AddBoolToObject(o, "memory_enabled", p->memory_enabled);
    cJSON_AddBoolToObject(o, "improve_model", p->improve_model);
    return o;
}

/* A user's settings as the server uses them (GET|PATCH /api/settings keep the document;
 * the chat routes read custom instructions and the memory switch from it), and the
 * effective training consent (the user's choice, else the admin's server default). */
#ifndef OMNI_API_USER_PREFS_H
#define OMNI_API_USER_PREFS_H
#include <cJSON.h>

#include "api/routes.h"

#define API_INSTRUCTIONS_MAX 1500   /* characters of about_me and of response_style, as ChatGPT */

struct api_user_prefs {
    char *about_me, *response_style;   /* heap, "" when unset */
    char default_model[256], voice[64], theme[16], language[8];
    int memory_enabled;
    int improve_model;                 /* effective: the user's choice or the server default */
};

/* The settings of user_id with defaults filled in. 0, or a STORE_* code with e set. */
int api_user_prefs_load(struct api_server *s, const char *user_id, struct api_user_prefs *p, struct err *e);
void api_user_prefs_free(struct api_user_prefs *p);
/* The settings as the JSON object GET /api/settings answers (caller frees). */
cJSON *api_user_prefs_json(const struct api_user_prefs *p);
/* The server's default consent (admin setting "improve_model_default"; off when unset). */
int api_improve_default(struct api_server *s);

#endif

/* Custom assistants on the HTTP API (routes_assistants.c): the /api/assistants and
 * /api/store routes, and the step a chat completion takes when it names an assistant. */
#ifndef OMNI_API_ROUTES_ASSISTANTS_H
#define OMNI_API_ROUTES_ASSISTANTS_H
#include <cJSON.h>

#include "api/routes.h"
#include "api/who.h"

int route_assistants(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m, const char *rest,
                     const char *body, size_t len);
int route_store(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m, const char *rest);

/* A chat naming an assistant ("assistant": ID or link token, or "model": "asst:ID"). */
struct api_asst_use {
    int active;                     /* 1: the request named one and it applies */
    char id[STORE_ID_MAX];
    int version;
    char user_id[STORE_ID_MAX];
    char conv_id[STORE_ID_MAX];     /* the conversation named by the request, "" = none */
    int recorded;
};
/* Rewrites the request j for the assistant it names, before the chat route reads it: its
 * instructions become the system message (ahead of one the request brings), its default
 * model is used unless the request names one of its allowed models, its sampling defaults
 * fill what the request leaves unset, and "starter": N adds its N-th conversation starter
 * as the user's turn. Returns 0 (go on; u->active tells whether an assistant applies) or
 * the status of the refusal written: 404 for an assistant the caller may not see, 400 for
 * a model it does not allow or a bad starter, 401 without an account. */
int api_assistant_chat_begin(struct api_server *s, struct mg_connection *c, cJSON *j, struct api_asst_use *u);
/* After the chat: with status 200, counts the use and records the conversation's
 * assistant and version. */
void api_assistant_chat_end(struct api_server *s, struct api_asst_use *u, int status);
/* Called by the chat's storage step when the generation has ended (before the reply's end):
 * records the use of this thread's request now, if it named an assistant. */
void api_assistant_chat_done(void);

#endif

/* Settings, share links, feedback and memory routes (routes_me.c), called from
 * route_api in routes_auth.c. Each returns the status written; route_conversation_extra
 * returns 0 when rest is none of its paths (route_conversations answers then). */
#ifndef OMNI_API_ROUTES_ME_H
#define OMNI_API_ROUTES_ME_H
#include "api/routes.h"
#include "api/who.h"

int route_me_patch(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *body, size_t len);
int route_settings(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m, const char *body,
                   size_t len);
int route_admin_settings(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m,
                         const char *body, size_t len);
/* GET /api/shared/{token}: no login. */
int route_shared(struct api_server *s, struct mg_connection *c, const char *m, const char *token);
int route_feedback_list(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m);
/* /api/memories (id NULL) and /api/memories/{id} */
int route_memories(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m, const char *id,
                   const char *body, size_t len);
int route_conversation_extra(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m,
                             const char *rest, const char *body, size_t len);

#endif

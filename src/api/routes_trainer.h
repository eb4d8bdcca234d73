/* The workbench's routes (routes_trainer.c), called from route_api: /api/trainer/… and
 * the admin's /api/admin/task_sets…, /leaderboard, /throughput, /exports. Returns the
 * status written, or 0 when p (the path after "/api") is none of these. */
#ifndef OMNI_API_ROUTES_TRAINER_H
#define OMNI_API_ROUTES_TRAINER_H
#include "api/routes.h"
#include "api/who.h"

int route_trainer(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m, const char *p,
                  const char *body, size_t len);

#endif

/* Who is asking: the principal of one HTTP request, found from its credentials. With
 * accounts on (api_params.auth), a request carries a bearer key (one of the static
 * --api-key list, or a user's "sk-omni-" key) or the session cookie of a login; with
 * --no-auth everything is the one local user. A cookie-authenticated write must also
 * come from our own origin (CSRF). The route handlers read the result with api_who(). */
#ifndef OMNI_API_WHO_H
#define OMNI_API_WHO_H
#include "api/routes.h"
#include "auth/accounts.h"

enum api_who_kind {
    API_WHO_OPEN,      /* accounts off and no static keys: anyone */
    API_WHO_STATIC,    /* a key of the static --api-key list: no user, no limits */
    API_WHO_SESSION,   /* logged in through the app (cookie) */
    API_WHO_KEY,       /* a user's API key */
    API_WHO_LOCAL,     /* --no-auth: the implicit local user */
};

struct api_who {
    enum api_who_kind kind;
    struct store_user user;   /* SESSION, KEY, LOCAL */
    struct store_key key;     /* KEY */
    char token[64];           /* SESSION: the cookie's token (for logout) */
};

/* Resolves the request's principal into w. need_user: the route works on a user's data
 * (the /api routes), so a static key or no credentials are refused. write: the method
 * changes state (CSRF check). Returns 0, or the HTTP status of the refusal it wrote. */
int api_who_resolve(struct api_server *s, struct mg_connection *c, int need_user, int write, struct api_who *w);
/* The other /v1 POST routes (completions, embeddings, audio) with a user's key: the key's
 * model list (this server's chat or embedding model must be on it) and the tier's requests
 * per minute. 0, or the status of the refusal written (403, 429). Chat completions check
 * their requested model and count in api/chat_store.c instead. */
int api_who_v1_gate(struct api_server *s, struct mg_connection *c, const struct api_who *w);
/* For the Realtime WebSocket with accounts on: 1 when the upgrade carries a static key, a
 * user's key (token: from the header or the subprotocol, or NULL) or a login cookie from
 * our own origin (a cross-site page must not open a socket with the user's cookie). */
int api_who_socket_ok(struct api_server *s, const struct mg_connection *c, const char *token);
/* The same, filling *w with the socket's principal (KEY or SESSION; a static key: STATIC). */
int api_who_socket(struct api_server *s, const struct mg_connection *c, const char *token, struct api_who *w);
/* The principal of the request this thread is handling (set by the dispatcher), or NULL. */
struct api_who *api_who(void);
void api_who_set(struct api_who *w);
/* 1 when w has a user (SESSION, KEY, LOCAL). */
int api_who_has_user(const struct api_who *w);
/* The client's address text ("127.0.0.1"). */
const char *api_client_addr(struct mg_connection *c);
/* Writes an auth_refusal as an error (with Retry-After for 429). */
int api_reply_refusal(struct mg_connection *c, const struct auth_refusal *r);

/* Parses a JSON object body; an empty body counts as {}. NULL after writing a 400 (*status). */
cJSON *api_json_object(struct mg_connection *c, const char *body, size_t len, int *status);
/* A string field: NULL when absent or null; *bad = 1 (and a 400 written) when another type. */
const char *api_json_str(struct mg_connection *c, const cJSON *o, const char *name, int *bad);
/* The value of query parameter name into out (URL-decoded); 1 when present. */
int api_query(struct mg_connection *c, const char *name, char *out, size_t cap);
/* Replies with a storage failure (500) or, for STORE_NOTFOUND, a 404 naming what. */
int api_reply_store(struct mg_connection *c, int rc, const struct err *e, const char *what);
/* The user as JSON (no password hash). */
cJSON *api_user_json(const struct store_user *u);

#endif

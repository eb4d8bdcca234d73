/* Writing HTTP responses from route handlers: JSON bodies with the right headers,
 * and errors in OpenAI's shape {"error":{"message","type","param","code"}} so that
 * SDK clients show the message instead of a parse failure. */
#ifndef OMNI_API_REPLY_H
#define OMNI_API_REPLY_H
#include <stddef.h>

#include <cJSON.h>
#include <civetweb.h>

/* Sends status + body with Content-Type/Length and CORS headers. extra_headers is
 * NULL or complete "Name: value\r\n" lines. Returns the status (for the access log). */
/* Call before replying when the server will close the connection after this response
 * (e.g. an upload refused unread): the reply then says "Connection: close", so a
 * keep-alive client does not send its next request on a socket that is going away. */
void api_reply_then_close(struct mg_connection *c);
/* After refusing an upload: reads (a bounded 256 MiB of) what is left of the body, so the
 * client, still sending, gets our answer instead of a connection reset. */
void api_drain_body(struct mg_connection *c);
int api_reply(struct mg_connection *c, int status, const char *mime, const char *body, size_t len,
              const char *extra_headers);
/* Serialises and sends j; j stays owned by the caller. */
int api_reply_json(struct mg_connection *c, int status, const cJSON *j);
/* The same with extra header lines ("Name: value\r\n"...; NULL: none). */
int api_reply_json_headers(struct mg_connection *c, int status, const cJSON *j, const char *extra_headers);

/* Which API's error shape this worker thread's errors take: every route answers in its
 * own clients' shape (dispatch sets it per request, before anything can fail). ollama's
 * is {"error":"message"}: its routes write their own errors, and set it around the shared
 * helpers they call (fine-tuned model names). */
enum api_dialect { API_DIALECT_OPENAI = 0, API_DIALECT_ANTHROPIC = 1, API_DIALECT_OLLAMA = 2 };
void api_reply_set_dialect(enum api_dialect d);

/* The error types OpenAI uses for each status, so clients map them to the same exceptions. */
const char *api_error_type(int status);
/* Sends an OpenAI error body. param names the offending request field (or NULL),
 * code is a short machine string (or NULL). */
int api_reply_error(struct mg_connection *c, int status, const char *param, const char *code,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The same with header lines of the caller's instead of the defaults (429's Retry-After). */
int api_reply_error_headers(struct mg_connection *c, int status, const char *param, const char *code,
                            const char *headers, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* The same body as a cJSON object (for SSE error events); caller frees. In the Anthropic
 * dialect both give {"type":"error","error":{"type","message"}} (param and code unused). */
cJSON *api_error_json(int status, const char *param, const char *code, const char *msg);

#endif

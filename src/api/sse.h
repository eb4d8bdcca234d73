/* Server-sent events over a chunked HTTP/1.1 response, as OpenAI streams them:
 * "data: {json}\n\n" per event and "data: [DONE]\n\n" at the end. Every function
 * returns 0, or -1 when the client is gone (the caller then cancels its work). */
#ifndef OMNI_API_SSE_H
#define OMNI_API_SSE_H
#include <cJSON.h>
#include <civetweb.h>

/* extra_headers: whole "Name: value\r\n" lines, or NULL. */
int sse_begin(struct mg_connection *c, const char *extra_headers);
int sse_send_json(struct mg_connection *c, const cJSON *j);
/* A comment line (ignored by clients): keeps proxies from timing out and detects a closed socket. */
int sse_comment(struct mg_connection *c, const char *text);
/* A named event ("event: NAME" then the data line), as the Responses API streams them. */
int sse_send_event(struct mg_connection *c, const char *event, const cJSON *j);
/* Ends the chunked body without "[DONE]" (the Responses API ends with its last event). */
int sse_close(struct mg_connection *c);
/* Sends "data: [DONE]" and ends the chunked body. */
int sse_end(struct mg_connection *c);

#endif

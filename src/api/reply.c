/* HTTP responses and OpenAI-shaped error bodies; see reply.h. */
#include "api/reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/meter.h"

static const char *status_text(int status) {
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 201: return "Created";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

/* The connection (of this worker thread) whose next reply is its last; see reply.h. */
static _Thread_local struct mg_connection *closing;

void api_reply_then_close(struct mg_connection *c) {
    mg_disable_keep_alive(c);
    closing = c;
}

void api_drain_body(struct mg_connection *c) {
    char tmp[65536];
    size_t total = 0;
    int k;
    while (total < (256u << 20) && (k = mg_read(c, tmp, sizeof tmp)) > 0) total += (size_t)k;
}

int api_reply(struct mg_connection *c, int status, const char *mime, const char *body, size_t len,
              const char *extra_headers) {
    const char *conn = closing == c ? "Connection: close\r\n" : "";
    closing = NULL; /* civetweb reuses a worker's connection struct for the next client */
    /* a metered request (api/meter.h): its usage is written before the answer goes out,
     * and its x-ratelimit-* lines go with it (unless the caller's lines have them) */
    api_meter_flush(status < 400);
    const char *meter = extra_headers && strstr(extra_headers, "x-ratelimit-") ? "" : api_meter_headers();
    mg_printf(c,
              "HTTP/1.1 %d %s\r\n"
              "Content-Type: %s\r\n"
              "Content-Length: %zu\r\n"
              "Access-Control-Allow-Origin: *\r\n"
              "Cache-Control: no-store\r\n"
              "%s%s%s\r\n",
              status, status_text(status), mime, len, conn, extra_headers ? extra_headers : "", meter);
    if (len) mg_write(c, body, len);
    return status;
}

int api_reply_json(struct mg_connection *c, int status, const cJSON *j) {
    return api_reply_json_headers(c, status, j, NULL);
}

int api_reply_json_headers(struct mg_connection *c, int status, const cJSON *j, const char *extra_headers) {
    char *s = cJSON_PrintUnformatted(j);
    if (!s) return api_reply(c, 500, "application/json", "{\"error\":{\"message\":\"out of memory\"}}", 37, NULL);
    api_reply(c, status, "application/json", s, strlen(s), extra_headers);
    free(s);
    return status;
}

const char *api_error_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 500: return "server_error";
    case 503: return "service_unavailable";
    default: return "invalid_request_error";
    }
}

static _Thread_local enum api_dialect dialect;

void api_reply_set_dialect(enum api_dialect d) { dialect = d; }

/* Anthropic's error types, which its SDK turns into the error classes by status. */
static const char *anthropic_error_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503: case 529: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

cJSON *api_error_json(int status, const char *param, const char *code, const char *msg) {
    if (dialect == API_DIALECT_OLLAMA) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "error", msg);
        return root;
    }
    if (dialect == API_DIALECT_ANTHROPIC) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "type", "error");
        cJSON *e = cJSON_AddObjectToObject(root, "error");
        cJSON_AddStringToObject(e, "type", anthropic_error_type(status));
        cJSON_AddStringToObject(e, "message", msg);
        return root;
    }
    cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", api_error_type(status));
    if (param) cJSON_AddStringToObject(e, "param", param); else cJSON_AddNullToObject(e, "param");
    if (code) cJSON_AddStringToObject(e, "code", code); else cJSON_AddNullToObject(e, "code");
    return root;
}

static int reply_error_v(struct mg_connection *c, int status, const char *param, const char *code,
                         const char *headers, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    cJSON *j = api_error_json(status, param, code, msg);
    char *s = cJSON_PrintUnformatted(j);
    const char *extra = headers;
    if (!extra && status == 429) extra = "Retry-After: 1\r\n";
    else if (!extra && status == 503) extra = "Retry-After: 2\r\n";
    else if (!extra && status == 401 && dialect == API_DIALECT_OPENAI) extra = "WWW-Authenticate: Bearer\r\n";
    api_reply(c, status, "application/json", s ? s : "{}", s ? strlen(s) : 2, extra);
    free(s);
    cJSON_Delete(j);
    return status;
}

int api_reply_error(struct mg_connection *c, int status, const char *param, const char *code,
                    const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    reply_error_v(c, status, param, code, NULL, fmt, ap);
    va_end(ap);
    return status;
}

int api_reply_error_headers(struct mg_connection *c, int status, const char *param, const char *code,
                            const char *headers, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    reply_error_v(c, status, param, code, headers, fmt, ap);
    va_end(ap);
    return status;
}

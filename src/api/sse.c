/* Server-sent events; see sse.h. Each event goes out as one HTTP chunk so the
 * client sees it at once (no buffering until the response ends). */
#include "api/sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/meter.h"

/* Writes one HTTP chunk: hex length, CRLF, data, CRLF. */
static int send_chunk(struct mg_connection *c, const char *a, size_t na, const char *b, size_t nb, const char *z,
                      size_t nz) {
    char head[32];
    int h = snprintf(head, sizeof head, "%zx\r\n", na + nb + nz);
    if (mg_write(c, head, (size_t)h) <= 0) return -1;
    if (na && mg_write(c, a, na) <= 0) return -1;
    if (nb && mg_write(c, b, nb) <= 0) return -1;
    if (nz && mg_write(c, z, nz) <= 0) return -1;
    return mg_write(c, "\r\n", 2) == 2 ? 0 : -1;
}

int http_chunk(struct mg_connection *c, const char *a, size_t na, const char *b, size_t nb) {
    return send_chunk(c, a, na, b, nb, "", 0);
}

int sse_begin(struct mg_connection *c, const char *extra_headers) {
    int n = mg_printf(c,
                      "HTTP/1.1 200 OK\r\n"
                      "Content-Type: text/event-stream; charset=utf-8\r\n"
                      "Cache-Control: no-cache\r\n"
                      "Access-Control-Allow-Origin: *\r\n"
                      "X-Accel-Buffering: no\r\n"
                      "%s%s"
                      "Transfer-Encoding: chunked\r\n\r\n", extra_headers ? extra_headers : "",
                      extra_headers && strstr(extra_headers, "x-ratelimit-") ? "" : api_meter_headers());
    return n > 0 ? 0 : -1;
}

int sse_send_json(struct mg_connection *c, const cJSON *j) {
    char *s = cJSON_PrintUnformatted(j);
    if (!s) return -1;
    int r = send_chunk(c, "data: ", 6, s, strlen(s), "\n\n", 2);
    free(s);
    return r;
}

int sse_comment(struct mg_connection *c, const char *text) {
    return send_chunk(c, ": ", 2, text, strlen(text), "\n\n", 2);
}

int sse_end(struct mg_connection *c) {
    api_meter_flush(1); /* a metered stream's usage, before its last bytes */
    if (send_chunk(c, "data: [DONE]\n\n", 14, "", 0, "", 0)) return -1;
    return mg_write(c, "0\r\n\r\n", 5) == 5 ? 0 : -1;
}

int sse_send_event(struct mg_connection *c, const char *event, const cJSON *j) {
    char *d = cJSON_PrintUnformatted(j);
    size_t el = strlen(event);
    char *head = d ? malloc(el + 16) : NULL;
    if (!head) { free(d); return -1; }
    int h = snprintf(head, el + 16, "event: %s\ndata: ", event);
    int r = send_chunk(c, head, (size_t)h, d, strlen(d), "\n\n", 2);
    free(head);
    free(d);
    return r;
}

int sse_close(struct mg_connection *c) {
    api_meter_flush(1);
    return mg_write(c, "0\r\n\r\n", 5) == 5 ? 0 : -1; }

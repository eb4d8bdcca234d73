/* Serves the web app from the copy embedded in the binary (web_assets[], bundled from
 * web/ by web/build.mjs at build time), so `omni serve` needs no files on disk. The app's
 * own pages (/c/{id} a conversation, /shared/{token} a shared one) are index.html, which
 * reads the path. A file built with a gzip twin (X.gz) is sent compressed to a browser
 * that accepts it: the first load is about half the bytes. */
#include <string.h>
#include <strings.h>

#include "api/reply.h"
#include "api/routes.h"
#include "api/web_assets.h"

static const struct web_asset *find(const char *path, size_t n) {
    for (const struct web_asset *a = web_assets; a->path; a++)
        if (strlen(a->path) == n && !memcmp(a->path, path, n)) return a;
    return NULL;
}

/* The app's pages: "/c/" or "/shared/" then one id of [A-Za-z0-9_-]. */
static int app_page(const char *path) {
    const char *id = !strncmp(path, "/c/", 3) ? path + 3 : !strncmp(path, "/shared/", 8) ? path + 8 : NULL;
    if (!id || !*id || strlen(id) > 128) return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

/* Accept-Encoding names gzip (with a q-value other than 0). */
static int accepts_gzip(struct mg_connection *c) {
    const char *ae = mg_get_header(c, "Accept-Encoding");
    for (const char *p = ae; p && (p = strcasestr(p, "gzip")); p += 4) {
        const char *q = p + 4;
        while (*q == ' ') q++;
        if (*q == ';') {
            const char *v = strstr(q, "q=");
            if (v && (!strncmp(v, "q=0,", 4) || !strcmp(v, "q=0") || !strncmp(v, "q=0.0", 5) || !strncmp(v, "q=0 ", 4))) continue;
        }
        return 1;
    }
    return 0;
}

int route_static(struct api_server *s, struct mg_connection *c, const char *path) {
    (void)s;
    if (!strcmp(path, "/") || !strcmp(path, "/trainer") || app_page(path)) path = "/index.html";
    size_t n = strlen(path);
    if (n >= 3 && !strcmp(path + n - 3, ".gz")) return 0; /* the twins are not pages of their own */
    const struct web_asset *a = find(path, n), *z = NULL;
    if (!a) return 0;
    if (accepts_gzip(c)) {
        char gz[256];
        if (n + 4 <= sizeof gz) {
            memcpy(gz, path, n);
            memcpy(gz + n, ".gz", 4);
            z = find(gz, n + 3);
        }
    }
    const struct web_asset *body = z ? z : a;
    int head = !strcmp(mg_get_request_info(c)->request_method, "HEAD");
    /* index.html is never cached (it names the bundle); the rest is revalidated too: the
     * binary may have been rebuilt with new files under the same names */
    mg_printf(c,
              "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
              "Vary: Accept-Encoding\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n"
              "Content-Security-Policy: default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: data:; "
              "style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self' ws: wss:; object-src 'none'; "
              "base-uri 'none'; frame-ancestors 'none'\r\n\r\n",
              a->mime, body->size, z ? "Content-Encoding: gzip\r\n" : "");
    if (!head) mg_write(c, body->data, body->size);
    return 200;
}

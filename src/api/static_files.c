/* Serves the web app from the copy embedded in the binary (web_assets[], generated
 * from web/ at build time), so `omni serve` needs no files on disk. */
#include <string.h>

#include "api/reply.h"
#include "api/routes.h"
#include "api/web_assets.h"

int route_static(struct api_server *s, struct mg_connection *c, const char *path) {
    (void)s;
    if (!strcmp(path, "/")) path = "/index.html";
    for (const struct web_asset *a = web_assets; a->path; a++) {
        if (strcmp(a->path, path)) continue;
        int head = !strcmp(mg_get_request_info(c)->request_method, "HEAD");
        mg_printf(c,
                  "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                  "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n\r\n",
                  a->mime, a->size);
        if (!head) mg_write(c, a->data, a->size);
        return 200;
    }
    return 0;
}

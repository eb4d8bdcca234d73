/* The web app's files, embedded at build time by scripts/embed_web.sh so that a
 * single `omni` binary serves its own UI with nothing on disk. */
#ifndef OMNI_API_WEB_ASSETS_H
#define OMNI_API_WEB_ASSETS_H
#include <stddef.h>

struct web_asset {
    const char *path;           /* "/index.html" */
    const char *mime;
    const unsigned char *data;  /* NUL-terminated for convenience; size excludes it */
    size_t size;
};

/* Terminated by an entry whose path is NULL. */
extern const struct web_asset web_assets[];

#endif

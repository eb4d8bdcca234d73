/* The model catalog: known-good downloadable models (catalog/models.json in the repo),
 * each with its hub repository, file, size, checksum, purpose and languages.
 * `omni pull NAME` and the model resolver look names up here. */
#ifndef OMNI_RUNTIME_CATALOG_H
#define OMNI_RUNTIME_CATALOG_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

struct catalog_entry {
    char *name;         /* "smollm2-360m-instruct-q8_0" */
    char *repo;         /* "bartowski/SmolLM2-360M-Instruct-GGUF" */
    char *file;         /* "SmolLM2-360M-Instruct-Q8_0.gguf" */
    uint64_t size;      /* bytes; 0 = unknown */
    uint64_t approx_size; /* rounded bytes for display ("approx_size"); 0 = none */
    char *sha256;       /* lowercase hex, or "" when unknown */
    char *sha1;         /* lowercase hex, or "" (whisper.cpp publishes SHA-1) */
    char *purpose;      /* "chat", "speech-in", "voice-activity", ... */
    char *format;       /* "gguf", "whisper-ggml" */
    char *languages;    /* comma-separated, for display */
    char *license;
    char *description;
};

struct catalog {
    struct catalog_entry *e;
    int n;
    char *hub;          /* default hub base URL from the file */
    char *path;         /* where it was loaded from */
};

/* Loads path, or when path is NULL the default: $OMNI_CATALOG, else catalog/models.json
 * next to the binary's source tree (<exe>/../catalog), else ./catalog/models.json,
 * else /usr/share/omni/catalog/models.json. */
struct catalog *catalog_load(const char *path, struct err *e);
void catalog_free(struct catalog *c);
/* Exact name match (case-insensitive); NULL when absent. Borrowed from c. */
const struct catalog_entry *catalog_find(const struct catalog *c, const char *name);
/* The download URL: $OMNI_HUB_URL (or the catalog's hub) + "/" + repo + "/resolve/main/" + file.
 * Returns -1 when it does not fit in cap. */
int catalog_url(const struct catalog *c, const struct catalog_entry *x, char *buf, size_t cap);

#endif

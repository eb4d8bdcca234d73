/* Reads catalog/models.json (see catalog.h) with cJSON into plain structs, checking
 * each entry's fields so a typo in the data file gives a message naming the entry;
 * omni_catalog_* (omni.h) is the read-only public view of the result. */
#include "runtime/catalog.h"

#include <cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "omni.h"

static char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *p = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long len = ftell(f);
        if (len >= 0 && len < (64L << 20) && fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)len + 1))) {
            if (fread(p, 1, (size_t)len, f) != (size_t)len) { free(p); p = NULL; }
            else { p[len] = 0; *n = (size_t)len; }
        }
    }
    fclose(f);
    return p;
}

static int exists(const char *p) { return access(p, R_OK) == 0; }

/* Finds the default catalog file; returns 0 and fills buf, or -1. */
static int default_path(char *buf, size_t cap) {
    const char *env = getenv("OMNI_CATALOG");
    if (env && *env) return snprintf(buf, cap, "%s", env) < (int)cap ? 0 : -1;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            if (snprintf(buf, cap, "%s/../catalog/models.json", exe) < (int)cap && exists(buf)) return 0;
            if (snprintf(buf, cap, "%s/catalog/models.json", exe) < (int)cap && exists(buf)) return 0;
        }
    }
    if (snprintf(buf, cap, "catalog/models.json") < (int)cap && exists(buf)) return 0;
    if (snprintf(buf, cap, "/usr/share/omni/catalog/models.json") < (int)cap && exists(buf)) return 0;
    return -1;
}

static char *dup_str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return strdup(cJSON_IsString(v) && v->valuestring ? v->valuestring : "");
}

static char *join_langs(const cJSON *o) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "languages"), *it;
    size_t n = 1;
    cJSON_ArrayForEach(it, arr) if (cJSON_IsString(it)) n += strlen(it->valuestring) + 2;
    char *s = malloc(n);
    if (!s) return NULL;
    s[0] = 0;
    cJSON_ArrayForEach(it, arr) if (cJSON_IsString(it)) {
        if (s[0]) strcat(s, ", ");
        strcat(s, it->valuestring);
    }
    return s;
}

static int is_hex(const char *s, size_t len) {
    if (!*s) return 1;
    if (strlen(s) != len) return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) return 0;
    return 1;
}

struct catalog *catalog_load(const char *path, struct err *e) {
    char def[PATH_MAX];
    if (!path) {
        if (default_path(def, sizeof def)) {
            err_set(e, "cannot find the model catalog (catalog/models.json); set OMNI_CATALOG to its path");
            return NULL;
        }
        path = def;
    }
    size_t n = 0;
    char *text = read_all(path, &n);
    if (!text) { err_set(e, "%s: cannot read the model catalog", path); return NULL; }
    cJSON *root = cJSON_ParseWithLength(text, n);
    free(text);
    const cJSON *models = root ? cJSON_GetObjectItemCaseSensitive(root, "models") : NULL;
    if (!cJSON_IsArray(models)) {
        err_set(e, "%s: not a catalog (expected JSON with a \"models\" array)", path);
        cJSON_Delete(root);
        return NULL;
    }
    struct catalog *c = calloc(1, sizeof *c);
    int count = cJSON_GetArraySize(models);
    if (c) c->e = calloc((size_t)count + 1, sizeof *c->e);
    if (c) { c->path = strdup(path); c->hub = dup_str(root, "hub"); }
    if (!c || !c->e || !c->path || !c->hub) { err_set(e, "out of memory"); goto fail; }
    const cJSON *m;
    cJSON_ArrayForEach(m, models) {
        struct catalog_entry *x = &c->e[c->n++];
        const cJSON *sz = cJSON_GetObjectItemCaseSensitive(m, "size");
        const cJSON *az = cJSON_GetObjectItemCaseSensitive(m, "approx_size");
        x->name = dup_str(m, "name");
        x->repo = dup_str(m, "repo");
        x->file = dup_str(m, "file");
        x->sha256 = dup_str(m, "sha256");
        x->sha1 = dup_str(m, "sha1");
        x->purpose = dup_str(m, "purpose");
        x->format = dup_str(m, "format");
        x->license = dup_str(m, "license");
        x->description = dup_str(m, "description");
        x->languages = join_langs(m);
        x->size = cJSON_IsNumber(sz) && sz->valuedouble > 0 ? (uint64_t)sz->valuedouble : 0;
        x->approx_size = cJSON_IsNumber(az) && az->valuedouble > 0 ? (uint64_t)az->valuedouble : 0;
        if (!x->name || !x->repo || !x->file || !x->sha256 || !x->sha1 || !x->purpose || !x->format ||
            !x->license || !x->description || !x->languages) { err_set(e, "out of memory"); goto fail; }
        if (!x->name[0] || !x->repo[0] || !x->file[0] || strchr(x->file, '/')) {
            err_set(e, "%s: model #%d needs a name, a repo and a plain file name", path, c->n);
            goto fail;
        }
        if (!is_hex(x->sha256, 64) || !is_hex(x->sha1, 40)) {
            err_set(e, "%s: model '%s': sha256/sha1 must be lowercase hex (64/40 digits) or empty", path, x->name);
            goto fail;
        }
        if (catalog_find(c, x->name) != x) { err_set(e, "%s: model '%s' is listed twice", path, x->name); goto fail; }
    }
    cJSON_Delete(root);
    return c;
fail:
    cJSON_Delete(root);
    catalog_free(c);
    return NULL;
}

void catalog_free(struct catalog *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        struct catalog_entry *x = &c->e[i];
        free(x->name); free(x->repo); free(x->file); free(x->sha256); free(x->sha1);
        free(x->purpose); free(x->format); free(x->languages); free(x->license); free(x->description);
    }
    free(c->e);
    free(c->hub);
    free(c->path);
    free(c);
}

const struct catalog_entry *catalog_find(const struct catalog *c, const char *name) {
    for (int i = 0; c && i < c->n; i++)
        if (!strcasecmp(c->e[i].name, name)) return &c->e[i];
    return NULL;
}

int catalog_url(const struct catalog *c, const struct catalog_entry *x, char *buf, size_t cap) {
    const char *hub = getenv("OMNI_HUB_URL");
    if (!hub || !*hub) hub = c->hub && c->hub[0] ? c->hub : "https://huggingface.co";
    size_t hl = strlen(hub);
    while (hl && hub[hl - 1] == '/') hl--;
    int n = snprintf(buf, cap, "%.*s/%s/resolve/main/%s", (int)hl, hub, x->repo, x->file);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* ---- the public, read-only view (omni.h) ---- */

struct omni_catalog {
    struct catalog *c;
    omni_catalog_entry *entries;   /* views of c's strings */
};

omni_catalog *omni_catalog_load(const char *path, char *err, size_t err_size) {
    struct err e = {{0}};
    omni_catalog *o = calloc(1, sizeof *o);
    if (!o) {
        err_set(&e, "out of memory");
        err_copy(&e, err, err_size);
        return NULL;
    }
    if (!(o->c = catalog_load(path, &e)) ||
        !(o->entries = calloc((size_t)(o->c->n ? o->c->n : 1), sizeof *o->entries))) {
        if (o->c) err_set(&e, "out of memory");
        err_copy(&e, err, err_size);
        omni_catalog_free(o);
        return NULL;
    }
    for (int i = 0; i < o->c->n; i++) {
        const struct catalog_entry *x = &o->c->e[i];
        o->entries[i] = (omni_catalog_entry){x->name,    x->repo,      x->file,    x->size,        x->purpose,
                                             x->format,  x->languages, x->license, x->description, x->approx_size};
    }
    return o;
}

void omni_catalog_free(omni_catalog *o) {
    if (!o) return;
    catalog_free(o->c);
    free(o->entries);
    free(o);
}

int omni_catalog_count(const omni_catalog *o) { return o->c->n; }

const omni_catalog_entry *omni_catalog_get(const omni_catalog *o, int i) {
    return i >= 0 && i < o->c->n ? &o->entries[i] : NULL;
}

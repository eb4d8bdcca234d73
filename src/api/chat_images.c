/* image_url parts of chat messages and the prompt split around them; see chat_images.h. */
#include "api/chat_images.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


void api_chat_images_free(struct api_chat_images *ci) {
    for (int i = 0; i < ci->n; i++) omni_image_free(ci->img[i]);
    free(ci->img);
    memset(ci, 0, sizeof *ci);
}

/* Realpath of the folder local image paths may come from; empty: none may. Set once
 * by omni serve before the listener starts, read-only afterwards. */
static char g_allow_dir[PATH_MAX];

int api_chat_images_allow_dir(const char *dir, struct err *e) {
    g_allow_dir[0] = 0;
    if (!dir) return 0;
    char buf[PATH_MAX];
    struct stat st;
    if (!realpath(dir, buf)) return err_set(e, "--allow-image-dir %s: %s", dir, strerror(errno));
    if (stat(buf, &st) || !S_ISDIR(st.st_mode)) return err_set(e, "--allow-image-dir %s: not a folder", dir);
    snprintf(g_allow_dir, sizeof g_allow_dir, "%s", buf);
    return 0;
}

static int hexval(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The local path a URL names: "file:///p" or "file://localhost/p" (percent-decoded), or
 * a plain path. Returns -1 for any other scheme ("https://...": never fetched). */
static int url_to_path(const char *url, char *out, size_t size) {
    if (!strncmp(url, "file://", 7)) {
        const char *p = url + 7;
        if (!strncmp(p, "localhost/", 10)) p += 9;
        if (*p != '/') return -1;
        size_t n = 0;
        for (; *p && n + 1 < size; p++) {
            int hi, lo;
            if (*p == '%' && (hi = hexval(p[1])) >= 0 && (lo = hexval(p[2])) >= 0) {
                out[n++] = (char)(hi * 16 + lo);
                p += 2;
            } else {
                out[n++] = *p;
            }
        }
        out[n] = 0;
        return *p || memchr(out, 0, n) ? -1 : 0; /* too long, or an encoded NUL */
    }
    const char *colon = strstr(url, "://");
    if (colon) return -1;
    if (strlen(url) >= size) return -1;
    snprintf(out, size, "%s", url);
    return 0;
}

/* Decodes a local file named by url, only from inside the allowed folder. Symlinks and
 * ".." are resolved by realpath first, so neither can lead outside it. */
static int decode_local(const char *url, const char *param, omni_image **img, struct api_bad_field *bad) {
    if (!g_allow_dir[0]) {
        snprintf(bad->msg, sizeof bad->msg,
                 "'%s.image_url.url' must be a data: URI (data:image/png;base64,...); this server does not fetch "
                 "URLs and reads local files only from a folder its operator allows (omni serve --allow-image-dir)",
                 param);
        return -1;
    }
    char path[PATH_MAX], real[PATH_MAX];
    if (url_to_path(url, path, sizeof path)) {
        snprintf(bad->msg, sizeof bad->msg,
                 "'%s.image_url.url' must be a data: URI or a local file path (file:///... or /...); this server does "
                 "not fetch URLs", param);
        return -1;
    }
    size_t n = strlen(g_allow_dir);
    int root = n == 1; /* "/" allows everything */
    /* One message for missing and forbidden files: the reply must not reveal what exists outside. */
    if (!realpath(path, real) || (!root && (strncmp(real, g_allow_dir, n) || real[n] != '/'))) {
        snprintf(bad->msg, sizeof bad->msg,
                 "'%s.image_url.url': '%.200s' is not a file inside the folder this server allows images from", param,
                 path);
        return -1;
    }
    char err[400];
    if (!(*img = omni_image_load(real, err, sizeof err))) {
        snprintf(bad->msg, sizeof bad->msg, "'%s.image_url.url': %.300s", param, err);
        return -1;
    }
    return 0;
}

/* Decodes a data: URI holding an image. */
static int decode_data_uri(const char *url, const char *param, omni_image **img, struct api_bad_field *bad) {
    char mime[64], derr[300];
    uint8_t *bytes = NULL;
    size_t n = 0;
    if (omni_data_uri_decode(url, mime, sizeof mime, &bytes, &n, derr, sizeof derr)) {
        snprintf(bad->msg, sizeof bad->msg, "'%s.image_url.url': %.300s", param, derr);
        return -1;
    }
    if (strncmp(mime, "image/", 6)) {
        free(bytes);
        snprintf(bad->msg, sizeof bad->msg, "'%s.image_url.url' has media type '%s'; expected image/png, image/jpeg, "
                 "image/gif or image/bmp", param, mime);
        return -1;
    }
    char what[96];
    snprintf(what, sizeof what, "%s.image_url", param);
    char err[400];
    *img = omni_image_load_memory(bytes, n, what, err, sizeof err);
    free(bytes);
    if (!*img) snprintf(bad->msg, sizeof bad->msg, "%.390s", err);
    return *img ? 0 : -1;
}

/* The model must take images and ci must have room for one more. */
static int image_slot(const omni_model *m, const char *model_id, struct api_chat_images *ci, const char *param,
                      struct api_bad_field *bad) {
    snprintf(bad->param, sizeof bad->param, "%s", param);
    if (omni_model_n_image_pos(m) <= 0) {
        snprintf(bad->msg, sizeof bad->msg,
                 "the model '%s' cannot take images (%s is an image); use a vision model (omni serve --mmproj)",
                 model_id, param);
        return -1;
    }
    if (ci->n == ci->cap) {
        int cap = ci->cap ? ci->cap * 2 : 4;
        omni_image **p = realloc(ci->img, sizeof *p * (size_t)cap);
        if (!p) { snprintf(bad->msg, sizeof bad->msg, "out of memory"); return -1; }
        ci->img = p;
        ci->cap = cap;
    }
    return 0;
}

int api_chat_image_base64(const omni_model *m, const char *model_id, struct api_chat_images *ci,
                          const char *media_type, const char *data, const char *param, struct api_bad_field *bad) {
    if (image_slot(m, model_id, ci, param, bad)) return -1;
    snprintf(bad->param, sizeof bad->param, "%s.source", param);
    if (strncmp(media_type, "image/", 6)) {
        snprintf(bad->msg, sizeof bad->msg, "'%s.source.media_type' is '%.60s'; expected image/png, image/jpeg, "
                 "image/gif or image/bmp", param, media_type);
        return -1;
    }
    uint8_t *bytes = NULL;
    size_t n = 0;
    char derr[300], what[96], err[400];
    if (omni_base64_decode(data, strlen(data), &bytes, &n, derr, sizeof derr)) {
        snprintf(bad->msg, sizeof bad->msg, "'%s.source.data' is not base64: %.300s", param, derr);
        return -1;
    }
    snprintf(what, sizeof what, "%s.source.data", param);
    ci->img[ci->n] = omni_image_load_memory(bytes, n, what, err, sizeof err);
    free(bytes);
    if (!ci->img[ci->n]) {
        snprintf(bad->msg, sizeof bad->msg, "%.390s", err);
        return -1;
    }
    ci->n++;
    return 0;
}

int api_chat_image_part(const omni_model *m, const char *model_id, struct api_chat_images *ci, const cJSON *part,
                        const char *param, struct api_bad_field *bad) {
    if (image_slot(m, model_id, ci, param, bad)) return -1;
    const cJSON *iu = cJSON_GetObjectItemCaseSensitive(part, "image_url");
    const cJSON *url = cJSON_IsObject(iu) ? cJSON_GetObjectItemCaseSensitive(iu, "url") : iu;
    snprintf(bad->param, sizeof bad->param, "%s.image_url.url", param);
    if (!cJSON_IsString(url)) {
        snprintf(bad->msg, sizeof bad->msg, "'%s.image_url.url' must be a string (a data:image/...;base64 URI)", param);
        return -1;
    }
    /* detail (auto/low/high) only tunes tiling in OpenAI's models; one fixed-size encoder has none. */
    const char *u = url->valuestring;
    int rc = strncmp(u, "data:", 5) ? decode_local(u, param, &ci->img[ci->n], bad)
                                    : decode_data_uri(u, param, &ci->img[ci->n], bad);
    if (rc) return -1;
    ci->n++;
    return 0;
}


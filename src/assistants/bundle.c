/* Assistant bundles: a zip written and read in memory with libzip (see bundle.h for the
 * format and what a hostile bundle cannot do). */
#include "assistants/bundle.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

void bundle_free(struct bundle *b) {
    if (!b) return;
    cJSON_Delete(b->config);
    free(b->avatar);
    asst_files_free(b->files, b->n_files);
    memset(b, 0, sizeof *b);
}

static int fail(char msg[256], const char *fmt, const char *a) {
    snprintf(msg, 256, fmt, a ? a : "");
    return -1;
}

static const char *avatar_ext(const char *type) {
    return !strcmp(type, "image/png") ? "png" : !strcmp(type, "image/jpeg") ? "jpg" : "gif";
}

/* Executable content by its first bytes: ELF, PE (MZ), Mach-O (both byte orders, 32/64, fat),
 * a #! script, a Java class / fat Mach-O (CAFEBABE). */
static int executable(const unsigned char *p, size_t n) {
    if (n >= 4 && !memcmp(p, "\x7f" "ELF", 4)) return 1;
    if (n >= 2 && p[0] == 'M' && p[1] == 'Z') return 1;
    if (n >= 2 && p[0] == '#' && p[1] == '!') return 1;
    if (n >= 4) {
        uint32_t m = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (m == 0xFEEDFACEu || m == 0xFEEDFACFu || m == 0xCEFAEDFEu || m == 0xCFFAEDFEu || m == 0xCAFEBABEu) return 1;
    }
    return 0;
}

/* The name of an entry is safe and plain: no absolute path, no "..", no backslash, no
 * empty component, no control bytes. */
static int safe_name(const char *s) {
    if (!s || !*s || s[0] == '/' || strchr(s, '\\') || strstr(s, "..") || strstr(s, "//") || strchr(s, ':')) return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return 0;
    return 1;
}

struct rd {
    zip_t *z;
    size_t total;   /* inflated so far */
    char *msg;
};

/* Reads the entry `name` (listed in the manifest) whole, at most max bytes, checking the
 * ratio as it inflates. */
static int read_entry(struct rd *r, const char *name, size_t max, unsigned char **out, size_t *out_n) {
    *out = NULL;
    *out_n = 0;
    zip_int64_t idx = zip_name_locate(r->z, name, 0);
    if (idx < 0) return fail(r->msg, "the bundle has no '%.200s', which its manifest lists", name);
    zip_stat_t zs;
    zip_stat_init(&zs);
    if (zip_stat_index(r->z, (zip_uint64_t)idx, 0, &zs)) return fail(r->msg, "the bundle's entry '%.200s' is damaged", name);
    if ((zs.valid & ZIP_STAT_ENCRYPTION_METHOD) && zs.encryption_method != ZIP_EM_NONE)
        return fail(r->msg, "the bundle's entry '%.200s' is encrypted", name);
    size_t comp = (zs.valid & ZIP_STAT_COMP_SIZE) ? (size_t)zs.comp_size : 0;
    zip_file_t *f = zip_fopen_index(r->z, (zip_uint64_t)idx, 0);
    if (!f) return fail(r->msg, "the bundle's entry '%.200s' cannot be opened", name);
    size_t cap = 65536, n = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) { zip_fclose(f); return fail(r->msg, "out of memory%s", ""); }
    for (;;) {
        if (n == cap) {
            if (cap > max) break;
            unsigned char *g = realloc(buf, cap * 2);
            if (!g) { free(buf); zip_fclose(f); return fail(r->msg, "out of memory%s", ""); }
            buf = g;
            cap *= 2;
        }
        zip_int64_t k = zip_fread(f, buf + n, cap - n);
        if (k < 0) {
            free(buf);
            zip_fclose(f);
            return fail(r->msg, "the bundle's entry '%.200s' is damaged (it does not inflate)", name);
        }
        if (k == 0) break;
        n += (size_t)k;
        r->total += (size_t)k;
        if (n > max) break;
        if (r->total > BUNDLE_MAX_TOTAL) break;
        if (n > 65536 && comp && n / comp > BUNDLE_MAX_RATIO) break;
    }
    zip_fclose(f);
    if (n > max) { free(buf); return fail(r->msg, "the bundle's entry '%.200s' is larger than its limit", name); }
    if (r->total > BUNDLE_MAX_TOTAL) { free(buf); return fail(r->msg, "the bundle inflates to more than its limit (a zip bomb?)%s", ""); }
    if (n > 65536 && comp && n / comp > BUNDLE_MAX_RATIO) {
        free(buf);
        return fail(r->msg, "the bundle's entry '%.200s' inflates more than 200 times (a zip bomb?)", name);
    }
    *out = buf;
    *out_n = n;
    return 0;
}

/* Checks a part's size and hash against the manifest entry m. */
static int check_part(char *msg, const cJSON *m, const char *what, const unsigned char *d, size_t n) {
    const cJSON *sz = cJSON_GetObjectItemCaseSensitive(m, "size"), *sh = cJSON_GetObjectItemCaseSensitive(m, "sha256");
    if (!cJSON_IsNumber(sz) || !cJSON_IsString(sh)) return fail(msg, "the manifest's entry for '%.200s' needs 'size' and 'sha256'", what);
    if (sz->valuedouble != (double)n) return fail(msg, "the size of '%.200s' differs from the manifest's", what);
    char hex[65];
    asst_sha256_hex(d, n, hex);
    if (strcmp(hex, sh->valuestring)) return fail(msg, "the SHA-256 of '%.200s' differs from the manifest's (damaged or altered)", what);
    return 0;
}

static const char *str_of(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int bundle_read(const void *data, size_t n, struct bundle *out, char msg[256]) {
    memset(out, 0, sizeof *out);
    msg[0] = 0;
    if (n > BUNDLE_MAX_BYTES) return fail(msg, "the bundle is larger than 64 MiB%s", "");
    if (n < 4 || memcmp(data, "PK\x03\x04", 4)) return fail(msg, "this is not an assistant bundle (not a zip archive)%s", "");
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, n, 0, &ze);
    zip_t *z = src ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze) : NULL;
    if (!z) {
        char m[200];
        snprintf(m, sizeof m, "%s", zip_error_strerror(&ze));
        if (src) zip_source_free(src);
        zip_error_fini(&ze);
        return fail(msg, "the bundle is not a readable zip archive (%.150s)", m);
    }
    zip_error_fini(&ze);
    struct rd r = {z, 0, msg};
    unsigned char *man = NULL;
    size_t man_n = 0;
    cJSON *mj = NULL;
    int rc = -1;
    zip_int64_t ne = zip_get_num_entries(z, 0);
    if (ne <= 0 || ne > BUNDLE_MAX_ENTRIES) {
        fail(msg, ne <= 0 ? "the bundle is empty%s" : "the bundle has too many entries%s", "");
        goto done;
    }
    /* every entry: a safe, plain name; not a link, folder or executable */
    for (zip_int64_t i = 0; i < ne; i++) {
        const char *nm = zip_get_name(z, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        if (!nm) { fail(msg, "the bundle's entry list is damaged%s", ""); goto done; }
        if (!safe_name(nm)) { fail(msg, "the bundle has an entry with an unsafe path ('%.150s')", nm); goto done; }
        size_t l = strlen(nm);
        if (nm[l - 1] == '/') { fail(msg, "the bundle has a folder entry ('%.150s'); bundles hold files only", nm); goto done; }
        zip_uint8_t os;
        zip_uint32_t attr;
        if (zip_file_get_external_attributes(z, (zip_uint64_t)i, 0, &os, &attr) == 0 && os == ZIP_OPSYS_UNIX) {
            unsigned mode = attr >> 16;
            if (S_ISLNK(mode)) { fail(msg, "the bundle has a symbolic link ('%.150s')", nm); goto done; }
            if (mode && !S_ISREG(mode)) { fail(msg, "the bundle has an entry that is not a plain file ('%.150s')", nm); goto done; }
            if (mode & 0111) { fail(msg, "the bundle has an executable entry ('%.150s')", nm); goto done; }
        }
    }
    if (read_entry(&r, "manifest.json", BUNDLE_MAX_MANIFEST, &man, &man_n)) goto done;
    mj = cJSON_ParseWithLength((const char *)man, man_n);
    if (!cJSON_IsObject(mj)) { fail(msg, "the bundle's manifest.json is not a JSON object%s", ""); goto done; }
    const char *fmt = str_of(mj, "format");
    const cJSON *sv = cJSON_GetObjectItemCaseSensitive(mj, "schema_version");
    if (!fmt || strcmp(fmt, "omni-assistant")) { fail(msg, "the manifest is not an omni assistant's (format)%s", ""); goto done; }
    if (!cJSON_IsNumber(sv) || sv->valuedouble < 1 || sv->valuedouble != (int)sv->valuedouble) {
        fail(msg, "the manifest has no valid schema_version%s", "");
        goto done;
    }
    if (sv->valuedouble > BUNDLE_SCHEMA_VERSION) {
        fail(msg, "the bundle's schema version is newer than this omni reads (upgrade omni)%s", "");
        goto done;
    }
    char param[64], m2[256];
    if (asst_config_check(cJSON_GetObjectItemCaseSensitive(mj, "assistant"), &out->config, param, m2)) {
        char m3[256];
        snprintf(m3, sizeof m3, "the bundle's assistant is not valid: %.200s", m2);
        fail(msg, "%s", m3);
        goto done;
    }
    const cJSON *srcj = cJSON_GetObjectItemCaseSensitive(mj, "source");
    const char *sid = str_of(srcj, "id");
    const cJSON *sver = cJSON_GetObjectItemCaseSensitive(srcj, "version");
    if (sid && strlen(sid) < sizeof out->source_id) snprintf(out->source_id, sizeof out->source_id, "%s", sid);
    if (cJSON_IsNumber(sver)) out->source_version = (int)sver->valuedouble;
    /* the parts the manifest lists; nothing else may be in the archive */
    size_t listed = 1;
    const cJSON *av = cJSON_GetObjectItemCaseSensitive(mj, "avatar");
    if (av && !cJSON_IsNull(av)) {
        const char *path = str_of(av, "path");
        if (!cJSON_IsObject(av) || !path || strncmp(path, "avatar.", 7) || !safe_name(path) || strchr(path, '/')) {
            fail(msg, "the manifest's avatar entry is not valid%s", "");
            goto done;
        }
        if (read_entry(&r, path, ASST_AVATAR_MAX, &out->avatar, &out->avatar_n) ||
            check_part(msg, av, path, out->avatar, out->avatar_n))
            goto done;
        struct err ae = {{0}};
        const char *t = asst_avatar_check(out->avatar, out->avatar_n, &ae);
        if (!t) { fail(msg, "the bundle's avatar: %.200s", ae.msg); goto done; }
        snprintf(out->avatar_type, sizeof out->avatar_type, "%s", t);
        listed++;
    }
    const cJSON *kn = cJSON_GetObjectItemCaseSensitive(mj, "knowledge");
    if (kn && !cJSON_IsNull(kn) && !cJSON_IsArray(kn)) { fail(msg, "the manifest's 'knowledge' must be a list%s", ""); goto done; }
    int nk = cJSON_GetArraySize(kn);
    if (nk > ASST_FILES_MAX) { fail(msg, "the bundle has more knowledge files than an assistant keeps%s", ""); goto done; }
    if (nk && !(out->files = calloc((size_t)nk, sizeof *out->files))) { fail(msg, "out of memory%s", ""); goto done; }
    const cJSON *k;
    cJSON_ArrayForEach(k, kn) {
        const char *path = str_of(k, "path"), *name = str_of(k, "name"), *mime = str_of(k, "mime");
        char want[ASST_FILENAME_MAX + 16];
        if (!cJSON_IsObject(k) || !name || !path || !asst_file_name_ok(name) ||
            (snprintf(want, sizeof want, "knowledge/%s", name), strcmp(path, want))) {
            fail(msg, "a knowledge entry of the manifest is not valid (name '%.120s')", name ? name : "?");
            goto done;
        }
        for (size_t j = 0; j < out->n_files; j++)
            if (!strcmp(out->files[j].name, name)) { fail(msg, "the manifest lists '%.150s' twice", name); goto done; }
        struct asst_file *f = &out->files[out->n_files];
        size_t fn = 0;
        if (read_entry(&r, path, ASST_FILE_MAX, &f->data, &fn)) goto done;
        out->n_files++;
        f->size = (int64_t)fn;
        if (check_part(msg, k, path, f->data, fn)) goto done;
        if (executable(f->data, fn)) { fail(msg, "the bundle's '%.150s' is executable content, which bundles may not carry", path); goto done; }
        snprintf(f->name, sizeof f->name, "%s", name);
        snprintf(f->mime, sizeof f->mime, "%.63s", mime ? mime : "");
        asst_sha256_hex(f->data, fn, f->sha256);
        listed++;
    }
    if ((zip_int64_t)listed != ne) { fail(msg, "the bundle has entries its manifest does not list%s", ""); goto done; }
    rc = 0;
done:
    free(man);
    cJSON_Delete(mj);
    zip_discard(z); /* frees src too */
    if (rc) bundle_free(out);
    return rc;
}

/* ---- writing ---- */

static cJSON *part_json(const char *path, const unsigned char *d, size_t n) {
    cJSON *o = cJSON_CreateObject();
    char hex[65];
    asst_sha256_hex(d, n, hex);
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddNumberToObject(o, "size", (double)n);
    cJSON_AddStringToObject(o, "sha256", hex);
    return o;
}

static int add_buf(zip_t *z, const char *name, const void *d, size_t n) {
    zip_source_t *s = zip_source_buffer(z, d, n, 0);
    if (!s) return -1;
    zip_int64_t i = zip_file_add(z, name, s, ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE);
    if (i < 0) { zip_source_free(s); return -1; }
    /* a plain file, rw-r--r-- */
    zip_file_set_external_attributes(z, (zip_uint64_t)i, 0, ZIP_OPSYS_UNIX, (zip_uint32_t)(S_IFREG | 0644) << 16);
    return 0;
}

int bundle_write(const struct bundle *b, unsigned char **out, size_t *out_n, char msg[256]) {
    *out = NULL;
    *out_n = 0;
    msg[0] = 0;
    cJSON *m = cJSON_CreateObject();
    char *mtext = NULL;
    int rc = -1;
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *z = NULL;
    if (!m || !src) goto oom;
    zip_source_keep(src);
    if (!(z = zip_open_from_source(src, ZIP_TRUNCATE, &ze))) goto oom;
    cJSON_AddStringToObject(m, "format", "omni-assistant");
    cJSON_AddNumberToObject(m, "schema_version", BUNDLE_SCHEMA_VERSION);
    cJSON_AddNumberToObject(m, "exported", (double)store_now_ms());
    cJSON *sj = cJSON_AddObjectToObject(m, "source");
    cJSON_AddStringToObject(sj, "id", b->source_id);
    cJSON_AddNumberToObject(sj, "version", b->source_version);
    cJSON_AddItemToObject(m, "assistant", cJSON_Duplicate(b->config, 1));
    char apath[32];
    if (b->avatar_n) {
        snprintf(apath, sizeof apath, "avatar.%s", avatar_ext(b->avatar_type));
        cJSON *a = part_json(apath, b->avatar, b->avatar_n);
        cJSON_AddStringToObject(a, "type", b->avatar_type);
        cJSON_AddItemToObject(m, "avatar", a);
        if (add_buf(z, apath, b->avatar, b->avatar_n)) goto oom;
    } else cJSON_AddNullToObject(m, "avatar");
    cJSON *ks = cJSON_AddArrayToObject(m, "knowledge");
    for (size_t i = 0; i < b->n_files; i++) {
        char path[ASST_FILENAME_MAX + 16];
        snprintf(path, sizeof path, "knowledge/%s", b->files[i].name);
        cJSON *k = part_json(path, b->files[i].data, (size_t)b->files[i].size);
        cJSON_AddStringToObject(k, "name", b->files[i].name);
        cJSON_AddStringToObject(k, "mime", b->files[i].mime);
        cJSON_AddItemToArray(ks, k);
        if (add_buf(z, path, b->files[i].data, (size_t)b->files[i].size)) goto oom;
    }
    if (!(mtext = cJSON_Print(m)) || add_buf(z, "manifest.json", mtext, strlen(mtext))) goto oom;
    if (zip_close(z)) { snprintf(msg, 256, "writing the bundle: %s", zip_strerror(z)); zip_discard(z); z = NULL; goto out; }
    z = NULL;
    zip_stat_t zs;
    if (zip_source_open(src) || zip_source_stat(src, &zs) || !(zs.valid & ZIP_STAT_SIZE)) goto oom;
    unsigned char *buf = malloc(zs.size ? zs.size : 1);
    if (!buf) { zip_source_close(src); goto oom; }
    zip_int64_t k = zip_source_read(src, buf, zs.size);
    zip_source_close(src);
    if (k < 0 || (zip_uint64_t)k != zs.size) { free(buf); goto oom; }
    *out = buf;
    *out_n = (size_t)zs.size;
    rc = 0;
    goto out;
oom:
    if (!msg[0]) snprintf(msg, 256, "the bundle could not be written (out of memory)");
out:
    if (z) zip_discard(z);
    if (src) zip_source_free(src);
    zip_error_fini(&ze);
    cJSON_Delete(m);
    free(mtext);
    return rc;
}

/* ---- export, import ---- */

int asst_export(struct store *st, const char *id, unsigned char **out, size_t *out_n, struct err *e) {
    *out = NULL;
    *out_n = 0;
    struct asst a;
    struct bundle b;
    memset(&b, 0, sizeof b);
    int rc = asst_get(st, id, &a, e);
    if (rc) return rc;
    snprintf(b.source_id, sizeof b.source_id, "%s", a.id);
    b.source_version = a.version;
    if (!(b.config = cJSON_Parse(a.config))) rc = err_set(e, "the assistant's configuration is damaged");
    if (!rc) rc = asst_get_avatar(st, id, b.avatar_type, &b.avatar, &b.avatar_n, e);
    if (!rc) rc = asst_files(st, id, 1, &b.files, &b.n_files, e);
    char msg[256];
    if (!rc && bundle_write(&b, out, out_n, msg)) rc = err_set(e, "%s", msg);
    bundle_free(&b);
    asst_free(&a);
    return rc;
}

int asst_import(struct store *st, const char *user_id, const struct bundle *b, struct asst *out, struct err *e) {
    if (out) memset(out, 0, sizeof *out);
    cJSON *cfg = cJSON_Duplicate(b->config, 1);
    if (!cfg) return err_set(e, "out of memory");
    /* an imported assistant starts private: its new owner decides who sees it here */
    cJSON_ReplaceItemInObjectCaseSensitive(cfg, "visibility", cJSON_CreateString("private"));
    struct asst a;
    int rc = asst_create(st, user_id, cfg, &a, e);
    cJSON_Delete(cfg);
    if (rc) return rc;
    if (b->avatar_n) rc = asst_set_avatar(st, user_id, a.id, b->avatar, b->avatar_n, e);
    for (size_t i = 0; !rc && i < b->n_files; i++)
        rc = asst_file_put(st, user_id, a.id, b->files[i].name, b->files[i].mime, b->files[i].data,
                           (size_t)b->files[i].size, e);
    if (rc) {
        struct err ig = {{0}};
        asst_delete(st, user_id, a.id, &ig);
        asst_free(&a);
        return rc;
    }
    if (out) {
        asst_free(&a);
        return asst_get(st, a.id, out, e);
    }
    asst_free(&a);
    return 0;
}

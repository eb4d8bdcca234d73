/* The model store (omni_store_* in omni.h) and `omni pull`'s download: libcurl into
 * NAME.part (resumed with a Range request), checksum with OpenSSL EVP, then rename, so
 * a file under its final name is always complete. */
#include "runtime/store.h"

#include <dirent.h>

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "omni.h"
#include "runtime/catalog.h"

const char *omni_store_dir(char *buf, size_t cap) {
    const char *home = getenv("OMNI_HOME");
    int n;
    if (home && *home) n = snprintf(buf, cap, "%s", home);
    else {
        const char *xdg = getenv("XDG_DATA_HOME"), *h = getenv("HOME");
        if (xdg && *xdg) n = snprintf(buf, cap, "%s/omni/models", xdg);
        else n = snprintf(buf, cap, "%s/.local/share/omni/models", h && *h ? h : ".");
    }
    return n < 0 || (size_t)n >= cap ? NULL : buf;
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* mkdir -p */
static int make_dirs(const char *dir, struct err *e) {
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) return err_set(e, "%s: path too long", dir);
    for (char *s = p + 1; ; s++) {
        if (*s == '/' || !*s) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0755) && errno != EEXIST) return err_set(e, "%s: cannot create folder: %s", p, strerror(errno));
            if (!c) break;
            *s = c;
        }
    }
    return 0;
}

/* Looks for NAME, NAME.gguf, NAME.bin in the store. */
static int store_file(const char *name, char *buf, size_t cap) {
    char dir[PATH_MAX];
    if (!omni_store_dir(dir, sizeof dir) || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) return -1;
    const char *ext[] = {"", ".gguf", ".bin"};
    for (int i = 0; i < 3; i++)
        if (snprintf(buf, cap, "%s/%s%s", dir, name, ext[i]) < (int)cap && is_file(buf)) return 0;
    return -1;
}

static const char *resolve(const char *name_or_path, char *buf, size_t cap, struct err *e) {
    if (!name_or_path || !*name_or_path) { err_set(e, "no model given"); return NULL; }
    if (is_file(name_or_path)) return snprintf(buf, cap, "%s", name_or_path) < (int)cap ? buf : NULL;
    if (store_file(name_or_path, buf, cap) == 0) return buf;
    struct err ce = {{0}};
    struct catalog *c = catalog_load(NULL, &ce);
    const struct catalog_entry *x = catalog_find(c, name_or_path);
    char dir[PATH_MAX];
    if (x && omni_store_dir(dir, sizeof dir) && snprintf(buf, cap, "%s/%s", dir, x->file) < (int)cap && is_file(buf)) {
        catalog_free(c);
        return buf;
    }
    if (x) err_set(e, "model '%s' is not downloaded yet; run `omni pull %s`", name_or_path, x->name);
    else if (strchr(name_or_path, '/')) err_set(e, "%s: no such file", name_or_path);
    else err_set(e, "'%s' is not a file, a downloaded model or a catalog name (see `omni list` and `omni pull --list`)", name_or_path);
    catalog_free(c);
    return NULL;
}

const char *omni_store_resolve(const char *name_or_path, char *buf, size_t cap, char *err, size_t err_size) {
    struct err e = {{0}};
    const char *r = resolve(name_or_path, buf, cap, &e);
    if (!r) err_copy(&e, err, err_size);
    return r;
}

/* Every regular, non-hidden file of the store, sorted as `ls` would (alphasort). */
int omni_store_list(omni_store_entry **entries, char *err, size_t err_size) {
    struct err e = {{0}};
    char dir[PATH_MAX];
    *entries = NULL;
    if (!omni_store_dir(dir, sizeof dir)) {
        err_set(&e, "model store path too long");
        return err_copy(&e, err, err_size);
    }
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        err_set(&e, "%s: cannot read the model store: %s", dir, strerror(errno));
        return err_copy(&e, err, err_size);
    }
    omni_store_entry *out = calloc((size_t)(n ? n : 1), sizeof *out);
    int k = 0, oom = !out;
    for (int i = 0; i < n; i++) {
        const char *nm = names[i]->d_name;
        char path[8192];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, nm);
        if (!oom && nm[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            size_t l = strlen(nm);
            int partial = l > 5 && !strcmp(nm + l - 5, ".part");
            char name[256];
            snprintf(name, sizeof name, "%s", nm);
            char *dot = strrchr(name, '.');
            if (!partial && dot && (!strcmp(dot, ".gguf") || !strcmp(dot, ".bin"))) *dot = 0;
            out[k] = (omni_store_entry){strdup(name), strdup(path), (uint64_t)st.st_size, partial};
            if (!out[k].name || !out[k].path) oom = 1;
            k++;
        }
        free(names[i]);
    }
    free(names);
    if (oom) {
        omni_store_list_free(out, k);
        err_set(&e, "out of memory");
        return err_copy(&e, err, err_size);
    }
    if (!k) { free(out); out = NULL; }
    *entries = out;
    return k;
}

void omni_store_list_free(omni_store_entry *entries, int n) {
    for (int i = 0; entries && i < n; i++) {
        free(entries[i].name);
        free(entries[i].path);
    }
    free(entries);
}

int store_file_digest(const char *path, const char *algo, char *hex, struct err *e) {
    const EVP_MD *md = !strcmp(algo, "sha1") ? EVP_sha1() : EVP_sha256();
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(e, "%s: cannot read: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t bufsz = 1 << 20;
    unsigned char *buf = malloc(bufsz);
    int rc = 0;
    if (!ctx || !buf || !EVP_DigestInit_ex(ctx, md, NULL)) rc = err_set(e, "%s: cannot start %s", path, algo);
    size_t n;
    while (!rc && (n = fread(buf, 1, bufsz, f)) > 0) EVP_DigestUpdate(ctx, buf, n);
    if (!rc && ferror(f)) rc = err_set(e, "%s: read error", path);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    if (!rc && !EVP_DigestFinal_ex(ctx, d, &dl)) rc = err_set(e, "%s: %s failed", path, algo);
    for (unsigned i = 0; !rc && i < dl; i++) sprintf(hex + 2 * i, "%02x", d[i]);
    free(buf);
    EVP_MD_CTX_free(ctx);
    fclose(f);
    return rc;
}

omni_pull_params omni_pull_default_params(void) {
    omni_pull_params p;
    memset(&p, 0, sizeof p);
    return p;
}

/* What the hub says about the file: Hugging Face answers a resolve URL of an LFS file
 * with a redirect carrying X-Linked-Size and X-Linked-ETag (the object's SHA-256). */
struct hub_info {
    char sha256[65];  /* lower-case hex, or "" */
    uint64_t size;    /* 0: not said */
};

struct dl {
    FILE *f;
    uint64_t start, got, total;
    CURL *curl;
    const omni_pull_params *p;
    int restarted;   /* the server ignored Range: the .part was emptied */
    struct hub_info *hub;
    int need_hub_digest; /* no checksum known and not insecure: the hub must send one */
    int refused;         /* it did not: the transfer was stopped before storing a byte */
};

/* The value of header line h if it is "name: value" (name case-insensitive), else NULL;
 * *n gets the value's length without surrounding blanks, quotes and a weak-ETag W/. */
static const char *header_value(const char *h, size_t len, const char *name, size_t *n) {
    size_t k = strlen(name);
    if (len <= k || strncasecmp(h, name, k) || h[k] != ':') return NULL;
    const char *v = h + k + 1, *end = h + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t')) end--;
    if (end - v >= 2 && (v[0] == 'W' || v[0] == 'w') && v[1] == '/') v += 2;
    if (end - v >= 2 && *v == '"' && end[-1] == '"') { v++; end--; }
    *n = (size_t)(end - v);
    return v;
}

/* Sees the headers of every response, the redirects included (libcurl passes them all). */
static size_t on_header(char *h, size_t size, size_t n, void *ud) {
    struct dl *d = ud;
    size_t len = size * n, vn = 0;
    const char *v;
    if ((v = header_value(h, len, "x-linked-etag", &vn)) && vn == 64) {
        int hex = 1;
        for (size_t i = 0; i < 64; i++) hex &= (v[i] >= '0' && v[i] <= '9') || ((v[i] | 0x20) >= 'a' && (v[i] | 0x20) <= 'f');
        if (hex) {
            for (size_t i = 0; i < 64; i++) d->hub->sha256[i] = (char)(v[i] >= 'A' && v[i] <= 'F' ? v[i] | 0x20 : v[i]);
            d->hub->sha256[64] = 0;
        }
    } else if ((v = header_value(h, len, "x-linked-size", &vn)) && vn > 0 && vn < 20) {
        char num[24];
        memcpy(num, v, vn);
        num[vn] = 0;
        char *end;
        unsigned long long x = strtoull(num, &end, 10);
        if (!*end) d->hub->size = x;
    }
    return len;
}

static size_t on_data(char *ptr, size_t size, size_t n, void *ud) {
    struct dl *d = ud;
    size_t len = size * n;
    /* the headers of every response (redirects included) are in by the first byte */
    if (d->need_hub_digest && !d->hub->sha256[0]) { d->refused = 1; return 0; }
    if (d->got == 0 && d->start > 0 && !d->restarted) {
        long code = 0;
        curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &code);
        if (code == 200) { /* a full body, not the range: start the file over */
            if (ftruncate(fileno(d->f), 0) || fseek(d->f, 0, SEEK_SET)) return 0;
            d->start = 0;
            d->restarted = 1;
        }
    }
    if (fwrite(ptr, 1, len, d->f) != len) return 0;
    d->got += len;
    return len;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    struct dl *d = ud;
    (void)dlnow; (void)ultotal; (void)ulnow;
    if (dltotal > 0) d->total = d->start + (uint64_t)dltotal;
    if (d->p->progress) d->p->progress(d->start + d->got, d->total, d->p->progress_user);
    return 0;
}

static const char *host_of(const char *url, char *buf, size_t cap) {
    const char *s = strstr(url, "://");
    s = s ? s + 3 : url;
    size_t n = strcspn(s, "/:?");
    snprintf(buf, cap, "%.*s", (int)(n < cap ? n : cap - 1), s);
    return buf;
}

/* A file nothing can vouch for is not stored: a hub or mirror that sends no checksum
 * could send anything. The flag names are omni pull's (the only caller). */
static int refuse_unverified(const char *url, struct err *e) {
    return err_set(e, "%s: refusing an unverified download: no SHA-256 is known for it (none given, none in the "
                   "catalog, none sent by the hub); give the checksum with --sha256 HEX, or accept the file "
                   "unverified with --insecure", url);
}

/* One transfer of url into part (appending from its current size). */
static int fetch(const char *url, const char *part, const omni_pull_params *p, uint64_t expect_size,
                 int need_hub_digest, struct hub_info *hub, struct err *e) {
    struct stat st;
    uint64_t have = stat(part, &st) == 0 ? (uint64_t)st.st_size : 0;
    if (expect_size && have == expect_size) return 0; /* finished earlier, not yet verified */
    FILE *f = fopen(part, have ? "r+b" : "wb");
    if (!f) return err_set(e, "%s: cannot write: %s", part, strerror(errno));
    if (have && fseek(f, 0, SEEK_END)) { fclose(f); return err_set(e, "%s: cannot append", part); }
    CURL *curl = curl_easy_init();
    if (!curl) { fclose(f); return err_set(e, "cannot start libcurl"); }
    struct dl d = {f, have, 0, expect_size, curl, p, 0, hub, need_hub_digest, 0};
    char errbuf[CURL_ERROR_SIZE] = "";
    long timeout = p->timeout_s > 0 ? p->timeout_s : 30;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "omni/0.1");
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, p->connect_timeout_s > 0 ? p->connect_timeout_s : 15L);
    /* a stalled transfer (no bytes for `timeout` seconds) is an error, a slow one is not */
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, timeout);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &d);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &d);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &d);
    if (have) curl_easy_setopt(curl, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)have);
    CURLcode rc = curl_easy_perform(curl);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(curl);
    int close_failed = fclose(f) != 0;
    char host[256];
    host_of(url, host, sizeof host);
    double mb = (double)(d.start + d.got) / 1e6;
    if (d.refused) {
        if (!have) unlink(part);
        return refuse_unverified(url, e);
    }
    switch (rc) {
    case CURLE_OK:
        if (close_failed) return err_set(e, "%s: write failed (disk full?)", part);
        return 0;
    case CURLE_HTTP_RETURNED_ERROR:
        if (code == 416 && have) return 0; /* nothing left to fetch: the checksum decides */
        if (code == 404) return err_set(e, "%s: not found on the server (HTTP 404)", url);
        if (code == 401 || code == 403)
            return err_set(e, "%s: access denied (HTTP %ld); the model may need a login or licence acceptance", url, code);
        return err_set(e, "%s: the server answered HTTP %ld", url, code);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return err_set(e, "cannot resolve %s: are you offline? (%s)", host, errbuf);
    case CURLE_COULDNT_CONNECT:
        return err_set(e, "cannot connect to %s: are you offline, or is the server down? (%s)", host, errbuf);
    case CURLE_OPERATION_TIMEDOUT:
        return err_set(e, "%s: timed out (no data for %ld s) after %.1f MB; run the same command again to resume",
                       host, timeout, mb);
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
        return err_set(e, "%s: connection lost after %.1f MB; run the same command again to resume", host, mb);
    case CURLE_WRITE_ERROR:
        return err_set(e, "%s: cannot write (disk full?)", part);
    default:
        return err_set(e, "%s: download failed: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
}

static int pull(const char *what, const omni_pull_params *pp, char *path, size_t cap, int *verified,
                struct err *e) {
    omni_pull_params dp = omni_pull_default_params();
    const omni_pull_params *p = pp ? pp : &dp;
    char url[4096], dir[PATH_MAX], part[PATH_MAX + 8], base[512];
    const char *file, *sha256 = p->sha256 && *p->sha256 ? p->sha256 : NULL, *sha1 = NULL;
    uint64_t size = 0;
    struct catalog *c = NULL;
    int rc = 0;
    if (verified) *verified = 0;
    if (!omni_store_dir(dir, sizeof dir)) return err_set(e, "model store path too long");
    if (!strncmp(what, "http://", 7) || !strncmp(what, "https://", 8)) {
        if (snprintf(url, sizeof url, "%s", what) >= (int)sizeof url) return err_set(e, "URL too long");
        const char *q = url + strcspn(url, "?#");
        const char *s = q;
        while (s > url && s[-1] != '/') s--;
        snprintf(base, sizeof base, "%.*s", (int)(q - s), s);
        if (!base[0] || !strcmp(base, ".") || !strcmp(base, ".."))
            return err_set(e, "%s: the URL does not end in a file name", what);
        file = base;
    } else {
        c = catalog_load(NULL, e);
        if (!c) return -1;
        const struct catalog_entry *x = catalog_find(c, what);
        if (!x) {
            rc = err_set(e, "'%s' is not in the catalog (%s); `omni pull --list` shows the names, or give a URL",
                         what, c->path);
            goto out;
        }
        if (catalog_url(c, x, url, sizeof url)) { rc = err_set(e, "URL too long"); goto out; }
        file = x->file;
        size = x->size;
        if (!sha256 && x->sha256[0]) sha256 = x->sha256;
        if (!sha256 && x->sha1[0]) sha1 = x->sha1;
    }
    if (snprintf(path, cap, "%s/%s", dir, file) >= (int)cap) { rc = err_set(e, "path too long"); goto out; }
    snprintf(part, sizeof part, "%s.part", path);
    if (is_file(path)) goto out; /* already complete (only complete files get the final name) */
    if ((rc = make_dirs(dir, e))) goto out;
    struct hub_info hub = {"", 0};
    int need_hub_digest = !sha256 && !sha1 && !p->insecure;
    if ((rc = fetch(url, part, p, size && !sha256 && !sha1 ? 0 : size, need_hub_digest, &hub, e))) goto out;
    int from_hub = 0;
    if (!sha256 && !sha1 && hub.sha256[0]) { sha256 = hub.sha256; from_hub = 1; }
    if (need_hub_digest && !from_hub) { /* no body came (a finished .part): still nothing to check it with */
        rc = refuse_unverified(url, e);
        goto out;
    }
    if (from_hub && hub.size) {
        struct stat st;
        if (stat(part, &st) == 0 && (uint64_t)st.st_size != hub.size) {
            unlink(part);
            rc = err_set(e, "%s: size mismatch (the hub says %llu bytes, got %llu); the partial file was removed", file,
                         (unsigned long long)hub.size, (unsigned long long)st.st_size);
            goto out;
        }
    }
    if (sha256 || sha1) {
        char got[EVP_MAX_MD_SIZE * 2 + 1];
        const char *want = sha256 ? sha256 : sha1;
        if ((rc = store_file_digest(part, sha256 ? "sha256" : "sha1", got, e))) goto out;
        if (strcasecmp(got, want)) {
            unlink(part);
            rc = err_set(e, "%s: checksum mismatch (%s%s expected %s, got %s); the partial file was removed",
                         file, sha256 ? "sha256" : "sha1", from_hub ? " from the hub" : "", want, got);
            goto out;
        }
        if (verified) *verified = from_hub ? OMNI_PULL_VERIFIED_HUB : OMNI_PULL_VERIFIED;
    }
    if (rename(part, path)) rc = err_set(e, "%s: cannot rename into place: %s", path, strerror(errno));
out:
    catalog_free(c);
    return rc;
}

int omni_store_pull(const char *name_or_url, const omni_pull_params *params, char *path, size_t cap, int *verified,
                    char *err, size_t err_size) {
    struct err e = {{0}};
    return pull(name_or_url, params, path, cap, verified, &e) ? err_copy(&e, err, err_size) : 0;
}

static int rm(const char *name, char *removed, size_t cap, struct err *e) {
    char path[PATH_MAX], part[PATH_MAX + 8], dir[PATH_MAX];
    if (strchr(name, '/')) return err_set(e, "'%s': give a model name from `omni list`, not a path", name);
    int found = store_file(name, path, sizeof path) == 0;
    if (!found) {
        struct catalog *c = catalog_load(NULL, NULL);
        const struct catalog_entry *x = catalog_find(c, name);
        if (x && omni_store_dir(dir, sizeof dir) && snprintf(path, sizeof path, "%s/%s", dir, x->file) < (int)sizeof path)
            found = is_file(path) || (snprintf(part, sizeof part, "%s.part", path), is_file(part));
        catalog_free(c);
    }
    if (!found) return err_set(e, "'%s' is not in the model store (see `omni list`)", name);
    snprintf(part, sizeof part, "%s.part", path);
    int gone = 0;
    if (is_file(path)) {
        if (unlink(path)) return err_set(e, "%s: cannot remove: %s", path, strerror(errno));
        gone = 1;
    }
    if (is_file(part) && unlink(part) == 0) gone = 1;
    if (removed) snprintf(removed, cap, "%s", path);
    return gone ? 0 : err_set(e, "%s: nothing to remove", path);
}

int omni_store_rm(const char *name, char *removed, size_t cap, char *err, size_t err_size) {
    struct err e = {{0}};
    return rm(name, removed, cap, &e) ? err_copy(&e, err, err_size) : 0;
}

/* `omni pull NAME|URL`: download a catalog model (or any URL) into the model store,
 * with a progress bar, resume and checksum verification (omni_store_pull). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "omni.h"

static void usage(void) {
    printf("usage: omni pull NAME|URL [--sha256 HEX] [--insecure] [--timeout SECONDS]\n"
           "       omni pull [--list]\n\n"
           "Downloads a model into the model store ($OMNI_HOME, default ~/.local/share/omni/models).\n"
           "NAME is a catalog name (see `omni pull --list`), e.g. smollm2-360m-instruct-q8_0 or whisper-base;\n"
           "a URL downloads that file as is. An interrupted download is resumed by running the same command\n"
           "again; the file gets its final name only once it is complete and its checksum matches: the\n"
           "catalog's (or --sha256), else the SHA-256 and size the hub sends with the download\n"
           "(Hugging Face's X-Linked-ETag / X-Linked-Size headers). When none of these is known the\n"
           "download is refused before anything is stored, unless --insecure is given.\n\n"
           "  --list          show the catalog: name, purpose, size, license, languages and what\n"
           "                  each model is good at (also what `omni pull` alone shows)\n"
           "  --sha256 HEX    expected checksum for a URL download\n"
           "  --insecure      accept a download no checksum is known for (stored with a warning);\n"
           "                  a known checksum is still checked\n"
           "  --timeout S     give up when no data arrives for S seconds (default 30)\n\n"
           "Environment: OMNI_HOME (store folder), OMNI_HUB_URL (hub base URL, default https://huggingface.co),\n"
           "OMNI_CATALOG (catalog file, default catalog/models.json).\n");
}

static void fmt_size(uint64_t b, char *buf, size_t cap) {
    if (!b) snprintf(buf, cap, "?");
    else if (b >= 1000000000ull) snprintf(buf, cap, "%.2f GB", (double)b / 1e9);
    else snprintf(buf, cap, "%.1f MB", (double)b / 1e6);
}

/* Sizes in the list: exact when the catalog knows it, "~" when only roughly, "?" else. */
static void list_size(const omni_catalog_entry *x, char *buf, size_t cap) {
    uint64_t b = x->size ? x->size : x->approx_size;
    const char *about = x->size ? "" : "~";
    if (!b) snprintf(buf, cap, "?");
    else if (b >= 1000000000ull) snprintf(buf, cap, "%s%.1f GB", about, (double)b / 1e9);
    else snprintf(buf, cap, "%s%.0f MB", about, (double)b / 1e6);
}

/* Prints text wrapped at width columns, each line after indent spaces. */
static void print_wrapped(const char *text, int indent, int width) {
    const char *p = text;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        int n = (int)strlen(p), cut = n;
        if (n > width - indent) {
            cut = width - indent;
            while (cut > 0 && p[cut] != ' ') cut--;
            if (cut == 0) cut = width - indent;   /* one long word: cut it */
            /* never inside a UTF-8 character */
            while (cut < n && ((unsigned char)p[cut] & 0xC0) == 0x80) cut++;
        }
        printf("%*s%.*s\n", indent, "", cut, p);
        p += cut;
    }
}

static int list_catalog(void) {
    char err[512];
    omni_catalog *c = omni_catalog_load(NULL, err, sizeof err);
    if (!c) return cli_fail("%s", err);
    printf("Models `omni pull NAME` downloads (sizes with ~ are approximate):\n\n");
    printf("%-30s %-14s %8s  %-11s %s\n", "NAME", "PURPOSE", "SIZE", "LICENSE", "LANGUAGES");
    for (int i = 0; i < omni_catalog_count(c); i++) {
        const omni_catalog_entry *x = omni_catalog_get(c, i);
        char sz[32];
        list_size(x, sz, sizeof sz);
        printf("%-30s %-14s %8s  %-11s %s\n", x->name, x->purpose, sz, x->license && *x->license ? x->license : "?",
               x->languages);
        if (x->description && *x->description) print_wrapped(x->description, 4, 100);
    }
    printf("\nThe default of `make run`: qwen3-1.7b-q4_k_m (chat) with qwen3-embedding-0.6b-q8_0.\n");
    omni_catalog_free(c);
    return 0;
}

struct bar {
    struct progress p;
    double t0;
    uint64_t first;  /* bytes already there when this run started (resume) */
    int started;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void on_progress(uint64_t done, uint64_t total, void *ud) {
    struct bar *b = ud;
    if (!b->started) { b->started = 1; b->first = done; b->t0 = now(); }
    double dt = now() - b->t0, speed = dt > 0.2 ? (double)(done - b->first) / dt : 0;
    char extra[160], d[32], t[32];
    fmt_size(done, d, sizeof d);
    fmt_size(total, t, sizeof t);
    if (speed > 0 && total > done) {
        long eta = (long)((double)(total - done) / speed);
        snprintf(extra, sizeof extra, "%s / %s  %.1f MB/s  ETA %ld:%02ld", d, t, speed / 1e6, eta / 60, eta % 60);
    } else {
        snprintf(extra, sizeof extra, "%s / %s", d, t);
    }
    progress_update(&b->p, total ? (float)((double)done / (double)total) : 0.0f, extra);
}

int cmd_pull(int argc, char **argv) {
    const char *what = NULL;
    omni_pull_params p = omni_pull_default_params();
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(); return 0; }
        else if (!strcmp(argv[i], "--list")) return list_catalog();
        else if (!strcmp(argv[i], "--sha256") && i + 1 < argc) p.sha256 = argv[++i];
        else if (!strcmp(argv[i], "--insecure")) p.insecure = 1;
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) p.timeout_s = atol(argv[++i]);
        else if (argv[i][0] == '-') return cli_fail("pull: unknown option '%s' (see `omni pull --help`)", argv[i]);
        else if (!what) what = argv[i];
        else return cli_fail("pull: give one model name or URL");
    }
    if (!what) return list_catalog();   /* `omni pull` alone: what can be pulled */
    struct bar b;
    memset(&b, 0, sizeof b);
    progress_begin(&b.p, "pull");
    p.progress = on_progress;
    p.progress_user = &b;
    char path[4096];
    int verified = 0;
    char err[512];
    int rc = omni_store_pull(what, &p, path, sizeof path, &verified, err, sizeof err);
    if (b.started) progress_end(&b.p);
    if (rc) return cli_fail("pull: %s", err);
    if (verified == OMNI_PULL_VERIFIED_HUB) fprintf(stderr, "omni: %s verified against the hub's SHA-256\n", path);
    else if (!verified && p.insecure)
        fprintf(stderr, "omni: warning: %s is unverified (no checksum known for it; accepted by --insecure)\n", path);
    printf("%s\n", path);
    return 0;
}

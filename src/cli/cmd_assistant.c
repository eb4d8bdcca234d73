/* `omni assistant list|export|import`: custom assistants of the server's database from the
 * command line (the same --db as `omni serve`, like `omni user`), so an assistant can be
 * carried to another server as one .omni-assistant bundle without the web app. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assistants/assistants.h"
#include "assistants/bundle.h"
#include "cli/accounts_db.h"
#include "cli/cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: omni assistant list [--db URL]\n"
            "       omni assistant export ID -o FILE.omni-assistant [--db URL]\n"
            "       omni assistant import FILE.omni-assistant [--owner EMAIL|ID] [--db URL]\n\n"
            "Custom assistants of `omni serve` (the same --db; default sqlite:$OMNI_HOME/omni.db).\n"
            "export writes the assistant's current version, avatar and knowledge files as one bundle\n"
            "(a zip with manifest.json and a SHA-256 of each part); import checks a bundle (paths,\n"
            "sizes, hashes, no executable content) and adds it as a new private assistant of the\n"
            "owner (default: the first admin). It prints the new assistant's id.\n");
}

static int read_file(const char *path, unsigned char **out, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return cli_fail("assistant: %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        if (len == cap) {
            if (cap > BUNDLE_MAX_BYTES) { fclose(f); free(buf); return cli_fail("assistant: %s: larger than a bundle may be (64 MiB)", path); }
            unsigned char *g = realloc(buf, cap * 2);
            if (!g) break;
            buf = g;
            cap *= 2;
        }
        size_t k = fread(buf + len, 1, cap - len, f);
        if (!k) break;
        len += k;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) return cli_fail("assistant: out of memory");
    if (bad) { free(buf); return cli_fail("assistant: %s: cannot be read", path); }
    *out = buf;
    *n = len;
    return 0;
}

static int find_owner(struct store *st, const char *who, struct store_user *u, struct err *e) {
    if (who) return strchr(who, '@') ? store_user_get_by_email(st, who, u, e) : store_user_get(st, who, u, e);
    struct store_user *l = NULL;
    size_t n = 0;
    int rc = store_user_list(st, 0, 1000, &l, &n, e);
    if (rc) return rc;
    rc = STORE_NOTFOUND;
    for (size_t i = 0; i < n && rc; i++)
        if (!strcmp(l[i].role, "admin")) *u = l[i], rc = 0;
    free(l);
    if (rc) err_set(e, "there is no admin account to own it; give --owner");
    return rc;
}

int cmd_assistant(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2;
    }
    const char *sub = argv[1], *target = NULL, *db = NULL, *out = NULL, *owner = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') {
            if (target) return cli_fail("assistant: unexpected argument '%s' (see `omni assistant --help`)", a);
            target = a;
            continue;
        }
        if (i + 1 >= argc) return cli_fail("assistant: %s needs a value (see `omni assistant --help`)", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--db")) db = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = v;
        else if (!strcmp(a, "--owner")) owner = v;
        else return cli_fail("assistant: unknown option '%s' (see `omni assistant --help`)", a);
    }
    int list = !strcmp(sub, "list"), exp = !strcmp(sub, "export"), imp = !strcmp(sub, "import");
    if (!list && !exp && !imp) return cli_fail("assistant: unknown command '%s' (list, export or import)", sub);
    if ((exp || imp) && !target) return cli_fail("assistant: %s needs %s", sub, exp ? "an assistant id" : "a bundle file");
    if (exp && !out) return cli_fail("assistant: export needs -o FILE");
    struct store *st = NULL;
    struct err e = {{0}};
    if (cli_db_open(db, &st, &e)) return cli_fail("assistant: %s", e.msg);
    int rc = 0;
    if (list) {
        struct store_user *users = NULL;
        size_t nu = 0;
        if (store_user_list(st, 0, 100000, &users, &nu, &e)) rc = cli_fail("assistant: %s", e.msg);
        for (size_t i = 0; !rc && i < nu; i++) {
            struct asst_list l;
            if (asst_list_mine(st, users[i].id, &l, &e)) { rc = cli_fail("assistant: %s", e.msg); break; }
            for (size_t k = 0; k < l.n; k++)
                printf("%s\t%s\tv%d\t%s\t%s\n", l.items[k].id, l.items[k].visibility, l.items[k].version, users[i].email,
                       l.items[k].name);
            asst_list_free(&l);
        }
        free(users);
    } else if (exp) {
        unsigned char *z = NULL;
        size_t n = 0;
        int r = asst_export(st, target, &z, &n, &e);
        if (r == STORE_NOTFOUND) rc = cli_fail("assistant: no assistant '%s'", target);
        else if (r) rc = cli_fail("assistant: %s", e.msg);
        else {
            FILE *f = fopen(out, "wb");
            if (!f || fwrite(z, 1, n, f) != n || fclose(f)) {
                if (f) fclose(f);
                rc = cli_fail("assistant: %s: cannot be written", out);
            } else fprintf(stderr, "omni: wrote %s (%zu bytes)\n", out, n);
        }
        free(z);
    } else {
        unsigned char *data = NULL;
        size_t n = 0;
        struct bundle b;
        char msg[256];
        struct store_user u;
        struct asst a;
        if ((rc = read_file(target, &data, &n))) goto done;
        if (bundle_read(data, n, &b, msg)) { rc = cli_fail("assistant: %s: %s", target, msg); free(data); goto done; }
        free(data);
        if (find_owner(st, owner, &u, &e)) rc = cli_fail("assistant: owner: %s", e.msg[0] ? e.msg : "no such user");
        else if (asst_import(st, u.id, &b, &a, &e)) rc = cli_fail("assistant: %s", e.msg);
        else {
            printf("%s\n", a.id);
            fprintf(stderr, "omni: imported '%s' as %s (private, owner %s)\n", a.name, a.id, u.email);
            asst_free(&a);
        }
        bundle_free(&b);
    }
done:
    store_close(st);
    return rc;
}

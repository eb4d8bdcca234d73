/* `omni user add|list|set|rm`: the accounts of the server's database from the command
 * line (for the first admin of a closed server, password resets, roles and tiers). The
 * same database URL as `omni serve --db` (default sqlite:$OMNI_HOME/omni.db). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/accounts.h"
#include "cli/accounts_db.h"
#include "cli/cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: omni user add EMAIL [--password P] [--name N] [--role R] [--tier T] [--db URL]\n"
            "       omni user list [--db URL]\n"
            "       omni user set EMAIL|ID [--password P] [--name N] [--role R] [--tier T] [--status S] [--db URL]\n"
            "       omni user rm EMAIL|ID [--db URL]\n\n"
            "Manages the accounts of `omni serve` (the same --db; default sqlite:$OMNI_HOME/omni.db).\n"
            "Without --password, add reads the password from the first line of stdin.\n"
            "  role:   admin, trainer or user (add: admin for the first account, else user)\n"
            "  tier:   a tier name of the server's tiers (default free)\n"
            "  status: active, pending (waits for approval) or disabled\n"
            "rm deletes the account and everything of it (conversations, keys, usage).\n");
}

static int find_user(struct store *st, const char *who, struct store_user *u, struct err *e) {
    if (strchr(who, '@')) return store_user_get_by_email(st, who, u, e);
    return store_user_get(st, who, u, e);
}

static int read_password(char *buf, size_t cap) {
    if (!fgets(buf, (int)cap, stdin)) return -1;
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = 0;
    return 0;
}

int cmd_user(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2;
    }
    const char *sub = argv[1], *target = NULL, *db = NULL, *pw = NULL, *name = NULL, *role = NULL, *tier = NULL,
               *status = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') {
            if (target) return cli_fail("user: unexpected argument '%s' (see `omni user --help`)", a);
            target = a;
            continue;
        }
        if (i + 1 >= argc) return cli_fail("user: %s needs a value (see `omni user --help`)", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--db")) db = v;
        else if (!strcmp(a, "--password")) pw = v;
        else if (!strcmp(a, "--name")) name = v;
        else if (!strcmp(a, "--role")) role = v;
        else if (!strcmp(a, "--tier")) tier = v;
        else if (!strcmp(a, "--status")) status = v;
        else return cli_fail("user: unknown option '%s' (see `omni user --help`)", a);
    }
    if (role && strcmp(role, "admin") && strcmp(role, "trainer") && strcmp(role, "user"))
        return cli_fail("user: --role must be admin, trainer or user");
    if (status && strcmp(status, "active") && strcmp(status, "pending") && strcmp(status, "disabled"))
        return cli_fail("user: --status must be active, pending or disabled");
    int is_list = !strcmp(sub, "list");
    if (!is_list && strcmp(sub, "add") && strcmp(sub, "set") && strcmp(sub, "rm"))
        return cli_fail("user: unknown subcommand '%s'; use add, list, set or rm", sub);
    if (!is_list && !target) return cli_fail("user %s: which account? give an email (or id)", sub);
    if (is_list && target) return cli_fail("user list: unexpected argument '%s'", target);
    struct err e = {{0}};
    struct store *st = NULL;
    if (cli_db_open(db, &st, &e)) return cli_fail("user: %s", e.msg);
    if (auth_init(&e)) { store_close(st); return cli_fail("user: %s", e.msg); }
    int rc = 0;
    struct store_user u;
    char pwbuf[AUTH_PASSWORD_MAX + 2];
    if (is_list) {
        struct store_user *us = NULL;
        size_t n = 0;
        if (store_user_list(st, 0, 1000000, &us, &n, &e)) rc = cli_fail("user list: %s", e.msg);
        else {
            printf("%-32s %-32s %-8s %-10s %-9s %s\n", "ID", "EMAIL", "ROLE", "TIER", "STATUS", "NAME");
            for (size_t i = 0; i < n; i++)
                printf("%-32s %-32s %-8s %-10s %-9s %s\n", us[i].id, us[i].email, us[i].role, us[i].tier, us[i].status,
                       us[i].name);
        }
        free(us);
    } else if (!strcmp(sub, "add")) {
        if (!pw) {
            if (read_password(pwbuf, sizeof pwbuf)) { store_close(st); return cli_fail("user add: no --password and nothing on stdin"); }
            pw = pwbuf;
        }
        memset(&u, 0, sizeof u);
        snprintf(u.email, sizeof u.email, "%s", target);
        snprintf(u.name, sizeof u.name, "%s", name ? name : "");
        snprintf(u.role, sizeof u.role, "%s", role ? role : "user");
        snprintf(u.tier, sizeof u.tier, "%s", tier ? tier : "free");
        snprintf(u.status, sizeof u.status, "%s", status ? status : "active");
        struct store_user out;
        int r;
        if (!strchr(target, '@')) rc = cli_fail("user add: '%s' is not an email address", target);
        else if (auth_password_hash(pw, u.password_hash, &e)) rc = cli_fail("user add: %s", e.msg);
        else if ((r = store_user_create(st, &u, role ? 0 : STORE_FIRST_IS_ADMIN, &out, &e)) == STORE_CONFLICT)
            rc = cli_fail("user add: an account with the email %s exists already", target);
        else if (r) rc = cli_fail("user add: %s", e.msg);
        else printf("added %s (%s, %s, tier %s)\n", out.email, out.id, out.role, out.tier);
    } else if (find_user(st, target, &u, &e)) {
        rc = cli_fail("user %s: no account '%s'", sub, target);
    } else if (!strcmp(sub, "rm")) {
        if (store_user_delete(st, u.id, &e)) rc = cli_fail("user rm: %s", e.msg);
        else printf("deleted %s (%s) and everything of it\n", u.email, u.id);
    } else { /* set */
        unsigned f = 0;
        if (pw) {
            if (auth_password_hash(pw, u.password_hash, &e)) { store_close(st); return cli_fail("user set: %s", e.msg); }
            f |= STORE_USER_PASSWORD;
        }
        if (name) { snprintf(u.name, sizeof u.name, "%s", name); f |= STORE_USER_NAME; }
        if (role) { snprintf(u.role, sizeof u.role, "%s", role); f |= STORE_USER_ROLE; }
        if (tier) { snprintf(u.tier, sizeof u.tier, "%s", tier); f |= STORE_USER_TIER; }
        if (status) { snprintf(u.status, sizeof u.status, "%s", status); f |= STORE_USER_STATUS; }
        if (!f) rc = cli_fail("user set: nothing to change (give --password, --name, --role, --tier or --status)");
        else if (store_user_update(st, &u, f, &e)) rc = cli_fail("user set: %s", e.msg);
        else {
            if (pw || (status && strcmp(status, "active"))) store_session_delete_user(st, u.id, &e); /* log out everywhere */
            printf("updated %s (%s, %s, tier %s, %s)\n", u.email, u.id, u.role, u.tier, u.status);
        }
    }
    store_close(st);
    return rc;
}

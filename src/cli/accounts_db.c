/* The accounts database location; see accounts_db.h. */
#include "cli/accounts_db.h"

#include <stdio.h>
#include <stdlib.h>

const char *cli_db_dir(char *buf, size_t cap) {
    const char *home = getenv("OMNI_HOME"), *xdg = getenv("XDG_DATA_HOME"), *h = getenv("HOME");
    int n;
    if (home && *home) n = snprintf(buf, cap, "%s", home);
    else if (xdg && *xdg) n = snprintf(buf, cap, "%s/omni", xdg);
    else n = snprintf(buf, cap, "%s/.local/share/omni", h && *h ? h : ".");
    return n < 0 || (size_t)n >= cap ? NULL : buf;
}

int cli_db_open(const char *url, struct store **out, struct err *e) {
    if (url) return store_open(url, out, e);
    char dir[4096];
    if (!cli_db_dir(dir, sizeof dir)) return err_set(e, "the database folder's path is too long");
    return store_open_default(dir, out, e);
}

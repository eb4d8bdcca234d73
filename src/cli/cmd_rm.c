/* `omni rm NAME`: delete a model (and any unfinished download of it) from the store. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "omni.h"

int cmd_rm(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: omni rm NAME...\n\nDeletes models from the model store ($OMNI_HOME, default\n"
               "~/.local/share/omni/models). NAME is what `omni list` shows (or a catalog name).\n"
               "Files outside the store are never touched.\n");
        return argc < 2 ? 1 : 0;
    }
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        char removed[4096];
        char err[512];
        if (omni_store_rm(argv[i], removed, sizeof removed, err, sizeof err)) rc = cli_fail("rm: %s", err);
        else printf("removed %s\n", removed);
    }
    return rc;
}

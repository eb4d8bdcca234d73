/* --lora / --lora-scaled parsing (see lora_args.h). */
#include "cli/lora_args.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static int parse_scale(const char *s, float *out) {
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !isfinite(v)) return -1;
    *out = (float)v;
    return 0;
}

static int add(struct cli_lora *l, const char *path, size_t len, float scale) {
    if (l->n >= CLI_MAX_LORA) return cli_fail("at most %d LoRA adapters", CLI_MAX_LORA), -1;
    if (len == 0 || len >= sizeof l->path[0]) return cli_fail("--lora: bad file name '%.*s'", (int)len, path), -1;
    memcpy(l->path[l->n], path, len);
    l->path[l->n][len] = 0;
    l->a[l->n] = (omni_lora){l->path[l->n], scale};
    l->n++;
    return 1;
}

int cli_lora_arg(struct cli_lora *l, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    if (!strcmp(a, "--lora")) {
        if (*i + 1 >= argc) return cli_fail("--lora needs FILE[:SCALE]"), -1;
        const char *v = argv[++*i], *colon = strrchr(v, ':');
        float scale = 1.0f;
        /* FILE:SCALE when what follows the last ':' is a number; else the whole value is the file */
        if (colon && parse_scale(colon + 1, &scale) == 0) return add(l, v, (size_t)(colon - v), scale);
        return add(l, v, strlen(v), 1.0f);
    }
    if (!strcmp(a, "--lora-scaled")) {
        if (*i + 2 >= argc) return cli_fail("--lora-scaled needs FILE SCALE"), -1;
        const char *v = argv[++*i], *s = argv[++*i];
        float scale;
        if (parse_scale(s, &scale)) return cli_fail("--lora-scaled: '%s' is not a number", s), -1;
        return add(l, v, strlen(v), scale);
    }
    return 0;
}

/* omni — entry point: dispatches `omni <command> ...` to src/cli/cmd_<command>.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "omni.h"

#define OMNI_VERSION "0.1.0"

struct command {
    const char *name, *help;
    int (*fn)(int, char **);
};

static const struct command g_commands[] = {
#define CMD(name, help, fn) {#name, help, fn},
#include "cli/commands.def"
#undef CMD
    {0, 0, 0},
};

int cli_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("omni: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static void usage(FILE *f) {
    fprintf(f,
            "omni %s — a self-hosted assistant: text, vision, speech in and out, one binary.\n\n"
            "usage: omni <command> [options]\n\ncommands:\n", OMNI_VERSION);
    for (const struct command *c = g_commands; c->name; c++) fprintf(f, "  %-14s %s\n", c->name, c->help);
    fprintf(f, "\nRun `omni <command> --help` for the options of one command.\n");
}

/* Wherever a command asks for a model file, a store name ("smollm2-360m-instruct-q8_0")
 * or a catalog name works too: the value is turned into a path here, once, before the
 * command sees it. A value that is neither gives the store's message on what to do. */
static const char *const k_model_flags[] = {"-m", "--model", "--mmproj", "--asr-model", "--vad-model", "--vad",
                                            "--tts-model", "--tts-mmproj", NULL};

static int resolve_model_args(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i++) {
        int is_model = 0;
        for (const char *const *f = k_model_flags; *f; f++) is_model |= !strcmp(argv[i], *f);
        if (!is_model) continue;
        const char *v = argv[++i];
        struct stat st;
        if (!*v || v[0] == '-' || stat(v, &st) == 0) continue;
        char buf[4096], err[512];
        if (!omni_store_resolve(v, buf, sizeof buf, err, sizeof err)) {
            fprintf(stderr, "omni: %s\n", err);
            return -1;
        }
        argv[i] = strdup(buf); /* lives for the whole process */
        if (!argv[i]) return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 1 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("omni %s\n", OMNI_VERSION);
        return 0;
    }
    for (const struct command *c = g_commands; c->name; c++) {
        if (strcmp(c->name, argv[1])) continue;
        /* (synth's -o and --mmproj name files it writes) */
        if (strcmp(c->name, "synth") && resolve_model_args(argc - 1, argv + 1)) return 1;
        return c->fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "omni: unknown command '%s'. Run `omni --help` to see the commands.\n", argv[1]);
    return 2;
}

/* Shared declarations for the omni command-line front end. */
#ifndef OMNI_CLI_H
#define OMNI_CLI_H

#define CMD(name, help, fn) int fn(int argc, char **argv);
#include "cli/commands.def"
#undef CMD

/* Prints "omni: <msg>" to stderr and returns 1, for `return cli_fail(...)`. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

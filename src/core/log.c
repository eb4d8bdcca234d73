/* See log.h. The level is read from OMNI_LOG once, lazily. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_level = -1;

static int level_from_env(void) {
    const char *s = getenv("OMNI_LOG");
    if (!s) return LOG_WARN;
    if (!strcmp(s, "debug")) return LOG_DEBUG;
    if (!strcmp(s, "info")) return LOG_INFO;
    if (!strcmp(s, "error")) return LOG_ERROR;
    if (!strcmp(s, "none")) return LOG_NONE;
    return LOG_WARN;
}

void log_set_level(enum log_level level) { g_level = (int)level; }

enum log_level log_get_level(void) {
    if (g_level < 0) g_level = level_from_env();
    return (enum log_level)g_level;
}

void log_msg(enum log_level level, const char *fmt, ...) {
    if ((int)level < (int)log_get_level()) return;
    static const char *names[] = {"debug", "info", "warn", "error"};
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "omni %s: %s\n", names[level < 4 ? level : 3], line);
}

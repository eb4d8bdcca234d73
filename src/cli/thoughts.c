/* Thoughts on the terminal; see thoughts.h. */
#include "cli/thoughts.h"

#include <stdio.h>
#include <unistd.h>

void thoughts_init(struct thoughts *t, int choice) {
    int tty = isatty(1);
    t->show = choice < 0 ? tty : choice;
    t->dim = tty;
    thoughts_reset(t);
}

void thoughts_reset(struct thoughts *t) {
    t->inside = 0;
    t->any = 0;
}

int thoughts_text(const char *text, size_t len, void *user) {
    struct thoughts *t = user;
    if (!t->show || !len) return 0;
    if (!t->inside) {
        if (t->dim) fputs("\033[2m", stdout);
        t->inside = 1;
        t->any = 1;
    }
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

void thoughts_close(struct thoughts *t) {
    if (!t->inside) return;
    if (t->dim) fputs("\033[0m", stdout);
    fputs("\n\n", stdout);   /* the answer starts on a line of its own */
    fflush(stdout);
    t->inside = 0;
}

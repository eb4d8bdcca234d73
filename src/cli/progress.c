/* See progress.h. Redraws at most ~10 times a second to keep output cheap. */
#include "cli/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void progress_begin(struct progress *p, const char *label) {
    memset(p, 0, sizeof *p);
    p->label = label;
    p->t_start = now_s();
    p->tty = isatty(2);
}

void progress_update(struct progress *p, float frac, const char *extra) {
    if (!p->tty || p->done) return;
    double t = now_s();
    if (frac < 1.0f && t - p->t_last < 0.1) return;
    p->t_last = t;
    if (frac < 0) frac = 0;
    if (frac > 1) frac = 1;
    char bar[31];
    int fill = (int)(frac * 30.0f);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\r%s [%s] %3d%% %s\033[K", p->label, bar, (int)(frac * 100.0f + 0.5f), extra ? extra : "");
    fflush(stderr);
}

void progress_end(struct progress *p) {
    if (p->tty && !p->done) {
        progress_update(p, 1.0f, NULL);
        fprintf(stderr, " %.1fs\n", now_s() - p->t_start);
    }
    p->done = 1;
}

void progress_cb(float frac, void *ud) { progress_update(ud, frac, NULL); }

/* A one-line progress bar on stderr for long work (loading, synth, downloads,
 * transcription). Draws only when stderr is a terminal, so logs and tests stay clean. */
#ifndef OMNI_CLI_PROGRESS_H
#define OMNI_CLI_PROGRESS_H
#include <stdint.h>

struct progress {
    const char *label;
    double t_start;
    double t_last;
    int tty;
    int done;
};

void progress_begin(struct progress *p, const char *label);
/* frac in [0, 1]; extra is an optional short text (e.g. "12.3 MB/s, ETA 0:42"). */
void progress_update(struct progress *p, float frac, const char *extra);
void progress_end(struct progress *p);
/* Adapter for library callbacks of the form void (*)(float frac, void *ud). */
void progress_cb(float frac, void *ud);

#endif

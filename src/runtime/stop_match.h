/* Stop strings over a token stream: text is released only once it cannot be the
 * start of a stop string, so a client never sees part of "\nUser:" before the
 * generation stops on it. Stop strings split across tokens are found too. */
#ifndef OMNI_RUNTIME_STOP_MATCH_H
#define OMNI_RUNTIME_STOP_MATCH_H
#include <stddef.h>

struct stop_match {
    const char *const *stop;   /* borrowed */
    int n_stop;
    int hit;                   /* 1 + the index of the stop string found; 0: none yet */
    char *held;                /* text that may still begin a stop string */
    size_t n_held, cap_held;
    char *out;                 /* what the last call released */
    size_t cap_out;
};

void stop_match_init(struct stop_match *m, const char *const *stop, int n_stop);
void stop_match_free(struct stop_match *m);
/* Adds generated text. out and out_len receive the text now safe to send (valid until
 * the next call). Returns 1 when a stop string was hit: *out then ends right before
 * it and generation must end (m->hit says which one). Returns -1 on out of memory. */
int stop_match_push(struct stop_match *m, const char *text, size_t len, const char **out, size_t *out_len);
/* At the end of generation: releases what was held back. */
void stop_match_flush(struct stop_match *m, const char **out, size_t *out_len);

#endif

/* Token-level timestamps for Whisper segments, the way whisper.cpp estimates them
 * (its "token_timestamps" option): from the timestamp-token probabilities seen at each
 * decoding step, time split by spoken length where those are unsure, and edges moved to
 * where the signal's energy rises and falls. Used by whisper_transcribe. */
#ifndef OMNI_MODELS_WHISPER_TIMESTAMPS_H
#define OMNI_MODELS_WHISPER_TIMESTAMPS_H
#include <stddef.h>
#include <stdint.h>

#include "models/whisper.h"

/* Carried from one segment to the next within one transcription (start zeroed). */
struct whisper_ts_state {
    int64_t t_beg, t_last, seek;
    int tid_last;
};

/* Mean |x| over +-32 samples around each sample (malloc'ed, n floats), or NULL. */
float *whisper_signal_energy(const float *x, size_t n);

/* Fills t0/t1 (centiseconds) of every token of g, which was decoded in the window that
 * starts at `seek`. energy (may be NULL: no edge refinement) covers the n samples. */
void whisper_token_timestamps(const struct whisper_model *m, struct whisper_segment *g, int64_t seek,
                              const float *energy, size_t n, struct whisper_ts_state *ts);

/* How long text takes to say, in arbitrary units: letters 1, digits and sentence ends 3,
 * commas 2, spaces almost nothing. */
float whisper_voice_length(const char *s, int len);

#endif

/* Any common audio file (WAV, FLAC, OGG/Vorbis, Opus, MP3, ...) to 16 kHz mono float
 * samples in [-1, 1], the input every speech model here expects. libsndfile decodes,
 * libmpg123 is the MP3 fallback, libsamplerate resamples. */
#ifndef OMNI_FORMATS_AUDIO_DECODE_H
#define OMNI_FORMATS_AUDIO_DECODE_H
#include <stddef.h>

#include "core/error.h"

#define AUDIO_SAMPLE_RATE 16000

/* On success returns 0 and sets *out (malloc'ed, caller frees) and *n_out. A file
 * that is not audio fails with a message naming it. */
int audio_decode_file(const char *path, float **out, size_t *n_out, struct err *e);
/* The same for an in-memory file (an upload); `what` names it in messages. */
int audio_decode_mem(const void *buf, size_t size, const char *what, float **out, size_t *n_out,
                     struct err *e);

/* Mixes interleaved frames down to mono and resamples from `rate` to 16 kHz.
 * Returns a new buffer (caller frees) or NULL with e set, also when resampling
 * leaves no sample at all. */
float *audio_to_16k_mono(const float *in, size_t n_frames, int channels, int rate, size_t *n_out,
                         struct err *e);

#endif

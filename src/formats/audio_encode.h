/* Speech audio out: 16-bit mono PCM to WAV, raw PCM (s16le), FLAC (libsndfile),
 * Opus in Ogg (libopusenc) and MP3 (libmp3lame), encoded incrementally so the bytes
 * can leave (HTTP chunks, stdout) while later audio is still being synthesized.
 * Also the streaming resampler (libsamplerate) that turns a voice's native rate into 24 kHz. */
#ifndef OMNI_FORMATS_AUDIO_ENCODE_H
#define OMNI_FORMATS_AUDIO_ENCODE_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* OpenAI's `pcm` response format is 24 kHz s16le mono; every format here uses that rate. */
#define AUDIO_OUT_RATE 24000

enum audio_format { AUDIO_FMT_WAV, AUDIO_FMT_PCM, AUDIO_FMT_FLAC, AUDIO_FMT_OPUS, AUDIO_FMT_MP3 };
#define AUDIO_FORMATS_ALLOWED "wav, pcm, flac, opus, mp3"

/* "wav" → AUDIO_FMT_WAV, ...; an unknown name fails with a message listing the allowed ones. */
int audio_format_parse(const char *name, enum audio_format *out, struct err *e);
/* From a file name's extension (.wav .pcm .raw .flac .opus .ogg .mp3); -1 if none matches. */
int audio_format_from_path(const char *path, enum audio_format *out);
const char *audio_format_name(enum audio_format f);
/* The Content-Type for HTTP responses ("audio/wav", "audio/mpeg", ...). */
const char *audio_format_mime(enum audio_format f);

/* Receives encoded bytes as they are produced; return non-zero to stop (client gone). */
typedef int (*audio_bytes_fn)(const void *bytes, size_t n, void *ud);

struct audio_encoder;
/* A mono s16 encoder at `rate` Hz. Bytes go to on_bytes during write/finish. The
 * stream's header may be emitted at once (WAV, Opus) or with the first audio. */
struct audio_encoder *audio_encoder_new(enum audio_format f, int rate, audio_bytes_fn on_bytes, void *ud,
                                        struct err *e);
int audio_encoder_write(struct audio_encoder *enc, const int16_t *pcm, size_t n, struct err *e);
/* Flushes everything left (encoder delay, final pages); call once, then free. */
int audio_encoder_finish(struct audio_encoder *enc, struct err *e);
void audio_encoder_free(struct audio_encoder *enc);

/* A streamed WAV cannot know its length, so its header says 0xFFFFFFFF (as OpenAI's does).
 * Writers to a seekable file may overwrite the first 44 bytes with this exact header. */
#define AUDIO_WAV_HEADER_SIZE 44
void audio_wav_header(uint8_t hdr[AUDIO_WAV_HEADER_SIZE], int rate, uint32_t n_samples);

/* Streaming rate conversion of s16 mono. process() returns its output in a buffer owned
 * by the resampler, valid until the next call; pass last=1 on the final call to drain it. */
struct audio_resampler;
struct audio_resampler *audio_resampler_new(int in_rate, int out_rate, struct err *e);
int audio_resampler_process(struct audio_resampler *r, const int16_t *in, size_t n, int last,
                            const int16_t **out, size_t *n_out, struct err *e);
void audio_resampler_free(struct audio_resampler *r);

#endif

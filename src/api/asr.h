/* The server's speech recognizer: one omni_asr (a Whisper model and optional Silero
 * VAD) loaded by `omni serve --asr-model`, shared by /v1/audio/transcriptions,
 * /v1/audio/translations, input_audio chat parts and the Realtime sessions. A request's
 * transcription is driven from its HTTP thread (on a full-size stack), one at a time,
 * never from the LLM engine thread; its compute runs on the process pool. */
#ifndef OMNI_API_ASR_H
#define OMNI_API_ASR_H
#include <stddef.h>

#include <cJSON.h>

#include "api/request_options.h"
#include "core/error.h"
#include "omni.h"

struct api_asr;

/* vad_path may be NULL. n_threads <= 0: all cores. */
struct api_asr *api_asr_open(const char *model_path, const char *vad_path, int n_threads, struct err *e);
/* A recognizer loaded elsewhere (the model registry's), borrowed: api_asr_close then
 * frees only the wrapper. NULL when out of memory. */
struct api_asr *api_asr_wrap(omni_asr *asr, const char *name);
void api_asr_close(struct api_asr *a);

/* The recognizer itself, borrowed (valid until api_asr_close). */
omni_asr *api_asr_ctx(const struct api_asr *a);
/* The model's file name without folder and ".bin" (what verbose answers may show). */
const char *api_asr_name(const struct api_asr *a);

/* Decodes an audio file held in memory (whatever omni_audio_decode_memory reads; `what`
 * names it in messages) and transcribes it, on a full-size stack (api/big_stack.h) and
 * one request at a time; uses the VAD when the server has one. Sets *r (the caller frees
 * it with omni_asr_result_free) and *seconds. Returns 0, or -1 with e set and
 * *bad_audio = 1 when the bytes are not audio (the client's fault), 0 when the failure
 * is ours. */
int api_asr_transcribe_file(struct api_asr *a, const void *file, size_t size, const char *what,
                            const omni_asr_params *p, omni_asr_result **r, double *seconds, int *bad_audio,
                            struct err *e);

/* A chat content part {"type":"input_audio","input_audio":{"data":BASE64,"format":"wav"|"mp3"}}
 * to its transcript (malloc'ed into *text). a may be NULL (server without --asr-model):
 * that is a 400 too. param names the part ("messages[0].content[1]") for messages.
 * Returns 0, or -1 with *bad filled. */
int api_asr_input_audio(struct api_asr *a, const cJSON *part, const char *param, char **text,
                        struct api_bad_field *bad);

#endif

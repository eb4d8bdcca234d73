/* The server's speech recognizer: one Whisper model (and optional Silero VAD) loaded
 * by `omni serve --asr-model`, shared by /v1/audio/transcriptions, /v1/audio/translations
 * and input_audio chat parts. Whisper runs on the calling HTTP thread, one request at a
 * time behind a lock, and never on the LLM scheduler thread. */
#ifndef OMNI_API_ASR_H
#define OMNI_API_ASR_H
#include <stddef.h>

#include <cJSON.h>

#include "api/request_options.h"
#include "core/error.h"
#include "models/whisper.h"

struct api_asr;

/* vad_path may be NULL. n_threads <= 0: all cores. */
struct api_asr *api_asr_open(const char *model_path, const char *vad_path, int n_threads, struct err *e);
void api_asr_close(struct api_asr *a);

const struct whisper_model *api_asr_model(const struct api_asr *a);
/* The model's file name without folder and ".bin" (what verbose answers may show). */
const char *api_asr_name(const struct api_asr *a);

/* Decodes an audio file held in memory (whatever audio_decode reads; `what` names it in
 * messages) and transcribes it, on a full-size stack (api/big_stack.h) and one request at
 * a time; uses the VAD when the server has one. Fills *r (whisper_result_free) and
 * *seconds. Returns 0, or -1 with e set and *bad_audio = 1 when the bytes are not audio
 * (the client's fault), 0 when the failure is ours. */
int api_asr_transcribe_file(struct api_asr *a, const void *file, size_t size, const char *what,
                            const struct whisper_params *p, struct whisper_result *r, double *seconds,
                            int *bad_audio, struct err *e);

/* A chat content part {"type":"input_audio","input_audio":{"data":BASE64,"format":"wav"|"mp3"}}
 * to its transcript (malloc'ed into *text). a may be NULL (server without --asr-model):
 * that is a 400 too. param names the part ("messages[0].content[1]") for messages.
 * Returns 0, or -1 with *bad filled. */
int api_asr_input_audio(struct api_asr *a, const cJSON *part, const char *param, char **text,
                        struct api_bad_field *bad);

#endif

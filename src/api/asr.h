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

/* Transcribes 16 kHz mono samples (from audio_decode_mem). Serialized with other callers;
 * uses the VAD when the server has one. Fills *r (whisper_result_free). */
int api_asr_transcribe(struct api_asr *a, const float *x, size_t n, const struct whisper_params *p,
                       struct whisper_result *r, struct err *e);

/* A chat content part {"type":"input_audio","input_audio":{"data":BASE64,"format":"wav"|"mp3"}}
 * to its transcript (malloc'ed into *text). a may be NULL (server without --asr-model):
 * that is a 400 too. param names the part ("messages[0].content[1]") for messages.
 * Returns 0, or -1 with *bad filled. */
int api_asr_input_audio(struct api_asr *a, const cJSON *part, const char *param, char **text,
                        struct api_bad_field *bad);

#endif

/* Whisper transcription restricted to the speech that Silero VAD finds (skips silence
 * in long recordings); timestamps stay on the original file's timeline. */
#ifndef OMNI_MODELS_WHISPER_VAD_H
#define OMNI_MODELS_WHISPER_VAD_H
#include "models/silero_vad.h"
#include "models/whisper.h"

/* Like whisper_transcribe; a file without speech gives 0 segments and success. */
int whisper_transcribe_vad(struct whisper_state *st, struct vad *v, const float *x, size_t n,
                           const struct whisper_params *p, const struct vad_params *vp, struct whisper_result *r,
                           struct err *e);

#endif

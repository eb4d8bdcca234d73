/* The struct behind omni.h's omni_asr, seen from the rest of the runtime: the voice
 * loop borrows its Whisper model and keeps a decoder state of its own. */
#ifndef OMNI_RUNTIME_ASR_H
#define OMNI_RUNTIME_ASR_H

#include "omni.h"

struct whisper_model;

/* The read-only model (weights, vocabulary), shared; borrowed from the context. */
const struct whisper_model *asr_whisper_model(const omni_asr *asr);

#endif

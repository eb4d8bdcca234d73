/* Quantizes a float (F32/F16/BF16) GGUF language model into one of ggml's
 * block types, choosing each tensor's type as llama.cpp's quantizer
 * does for those file types and writing the same metadata, tensor order and
 * layout, so the result is the file llama-quantize writes (byte for byte on the
 * files the tests check, see tests/golden/README.md):
 *  - 2-D tensors whose names end in "weight" (and not "_norm.weight") take the
 *    file type's block type;
 *  - the output matrix (token_embd.weight when the model ties its output to the
 *    embeddings) takes Q6_K, except for q8_0 files, which keep it in Q8_0;
 *  - everything else (norms, 1-D tensors) is copied unchanged;
 *  - general.file_type is set to llama.cpp's number for the file type.
 * Row lengths must be a multiple of the block (32; 256 for the Q6_K output,
 * which falls back to Q8_0 and then F16 as llama.cpp does). */
#ifndef OMNI_MODELS_QUANTIZE_H
#define OMNI_MODELS_QUANTIZE_H

#include "core/error.h"

/* ftype: "q4_0", "q4_1", "q5_0", "q5_1" or "q8_0" (llama-quantize's file, byte for
 * byte), or "q2_k", "q3_k", "iq4_nl", "iq4_xs", "mxfp4": the same type rules and layout
 * with omni's own simpler quantizers (llama-quantize searches scales differently, so
 * those files differ from its; their goldens are the reference run on our files).
 * general.file_type: 10 (Q2_K), 11 (Q3_K_S), 25, 30, 38 (MXFP4_MOE), 19 (IQ2_XXS), 20 (IQ2_XS), 23 (IQ3_XXS), 26 (IQ3_S), 28 (IQ2_S). n_threads <= 0: one. */
int llm_quantize_file(const char *src, const char *dst, const char *ftype, int n_threads, struct err *e);

#endif

/* Random-weight Qwen3-TTS pairs as llama.cpp's converter writes them: the talker GGUF
 * (general.architecture "qwen3tts": a qwen3 block whose token_embd is the text vocabulary
 * followed by the 3072 codec tokens, output.weight the 3072-row codec head, the
 * tokenizer's suppress_tokens and codec_eos as EOS) and the mmproj GGUF (clip.* keys,
 * the ECAPA-TDNN speaker encoder a.*, the code predictor a.gen.code.* and the codec
 * decoder a.gen.wav.*). Matrices are F32 ("--outtype f32") or F16, except the conv kernels
 * the converter always forces to F16 (and the ConvTranspose1d kernels, F32). The text tokenizer is a small byte-level BPE one with
 * the special tokens the prompt needs, so both omni and llama-tts load the pair. */
#ifndef OMNI_MODELS_SYNTH_TTS_H
#define OMNI_MODELS_SYNTH_TTS_H
#include <stdint.h>

#include "core/error.h"

struct synth_tts_shape {
    const char *name;                                    /* "tiny-qwen3tts" */
    int n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;   /* talker */
    int cp_embd, cp_layer, cp_head, cp_head_kv, cp_head_dim, cp_ff;  /* code predictor */
    int cb_dim, q_dim, pre_dim, tfm_dim, tfm_head_dim, tfm_ff;  /* codec: codebook, quantizer out, pre_conv out, transformer */
    int dac_dim;                                          /* DAC entry width (halved per block) */
    int spk_ch;                                           /* speaker encoder channels (multiple of 8) */
    int cp_vocab;                                         /* codes per acoustic codebook (2048 real) */
};

extern const struct synth_tts_shape synth_tts_shapes[];
const struct synth_tts_shape *synth_tts_find_shape(const char *name);

/* Writes the talker to talker_path and the mmproj to mmproj_path; ftype "f32", or "f16" for
 * the matrices and embedding tables (as the converter's --outtype f16 writes them; the conv
 * kernels keep their forced types, vectors and codec codebooks stay F32). */
int synth_tts_write(const struct synth_tts_shape *s, const char *ftype, uint64_t seed, const char *talker_path,
                    const char *mmproj_path, struct err *e);

#endif

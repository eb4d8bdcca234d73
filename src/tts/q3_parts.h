/* The two mmproj halves of the Qwen3-TTS pipeline (llama.cpp's qwen3tts_gen projector):
 * the code predictor, which turns the talker's hidden state and its semantic code into
 * the frame's 15 acoustic codes, and the codec decoder, which turns frames of 16 codes
 * into 24 kHz audio (1920 samples a frame) while keeping its causal state between calls,
 * so audio can leave as frames are decoded. Tensors are borrowed from the open mmproj. */
#ifndef OMNI_TTS_Q3_PARTS_H
#define OMNI_TTS_Q3_PARTS_H
#include <stdint.h>

#include "core/error.h"
#include "core/pool.h"
#include "core/tensor.h"
#include "formats/gguf.h"

#define Q3_N_CODES 16          /* codebooks per frame: the talker's semantic one + 15 acoustic */
#define Q3_FRAME_SAMPLES 1920  /* 24 kHz / 12.5 Hz */
#define Q3_SAMPLE_RATE 24000

/* Tensor lookups (q3_tensors.c): a tensor by name, -1 with a message naming the file when it
 * is missing or its leading dims differ (a dim of 0 is not checked); a vector must be F32. */
int q3_tensor(const struct gguf *g, const char *name, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2,
              struct tensor *t, struct err *e);
int q3_vector(const struct gguf *g, const char *name, int64_t n, const float **out, struct err *e);
/* The 2-D slice k of a 3-D tensor, and row r of a 2-D one as floats. */
struct tensor q3_slice(const struct tensor *t, int64_t k);
/* Requantizes an F16 or F32 matrix t (every row of ne[0] a multiple of 32) to type (DT_Q8_0, DT_Q4_0)
 * into a new buffer, *own, that t then points at; the caller frees *own. Any other matrix,
 * or type < 0, is left as it is (*own NULL). The per-frame passes over the code predictor
 * are memory-bound, so half the bytes is close to half the time. -1 when out of memory. */
int q3_requant(struct tensor *t, int type, void **own, struct err *e);
void q3_row(const struct tensor *t, int64_t r, float *out);

/* One query head's attention over key/value rows r0..r1 (row r at K + r * stride), as
 * ggml's CPU flash attention computes it with the f16 K/V that clip.cpp casts to. Its
 * one-row kernel (tiled = 0): q, K and V rounded to f16, scores summed in f32, an online
 * softmax whose V accumulator is f16 (each step rounded). Its tiled kernel (tiled = 1, for
 * 64+ queries of a head size that fills its vectors): K and V rounded to f16, q and the
 * accumulator f32. flags: Q3_ATTN_TILED for the tiled kernel, Q3_ATTN_KV16 when K and V
 * already hold f16 values (q3_round16 once per row, not once per query: the same result).
 * tmp: hd floats of scratch. */
#define Q3_ATTN_TILED 1
#define Q3_ATTN_KV16 2
void q3_attn_f16(float *out, const float *q, const float *K, const float *V, long stride, int hd, int r0, int r1,
                 float scale, int flags, float *tmp);
void q3_round16(float *x, long n);   /* each value to the nearest f16, in place */

struct q3_predictor;
/* wtype: < 0 keeps the file's weight types; DT_Q8_0 or DT_Q4_0 requantizes the F16/F32 matrices
 * (q3_requant; the codebook tables stay as they are). */
struct q3_predictor *q3_predictor_load(const struct gguf *g, int n_embd_talker, int wtype, struct err *e);
void q3_predictor_free(struct q3_predictor *p);
/* Greedy (llama-tts --top-k 1): codes[0] = code0, codes[1..15] predicted; embd receives
 * the sum of the 16 codebook embeddings (the talker's next input before the text row). */
int q3_predict(struct q3_predictor *p, struct pool *pool, const float *hidden, int code0, int32_t *codes,
               float *embd, struct err *e);

struct q3_codec;
struct q3_codec *q3_codec_load(const struct gguf *g, struct err *e);
void q3_codec_free(struct q3_codec *c);
/* Decodes n frames (16 codes each, frame-major) into pcm (n * Q3_FRAME_SAMPLES floats in
 * -1..1), continuing from the state of the previous calls: the same codes give the same
 * samples however they are split into calls. q3_codec_reset starts a new utterance. */
int q3_codec_decode(struct q3_codec *c, struct pool *pool, const int32_t *codes, int n, float *pcm, struct err *e);
void q3_codec_reset(struct q3_codec *c);

#endif

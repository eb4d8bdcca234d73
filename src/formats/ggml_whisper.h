/* Reader for whisper.cpp's legacy ggml model files (magic "ggml"): Whisper models
 * (hparams, mel filterbank, vocabulary, tensors) and Silero VAD models (type string,
 * version, window sizes, conv/LSTM shapes, tensors). Every count, length and tensor
 * size is checked against the bytes that are really there before it is used. */
#ifndef OMNI_FORMATS_GGML_WHISPER_H
#define OMNI_FORMATS_GGML_WHISPER_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

#define GGW_MAGIC 0x67676d6cu

enum ggw_kind { GGW_WHISPER = 1, GGW_VAD = 2 };

struct ggw_whisper_hparams {
    int32_t n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer;
    int32_t n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype;
};

#define GGW_VAD_MAX_LAYERS 8
struct ggw_vad_hparams {
    char type[64];              /* "silero-16k" */
    int32_t version[3];
    int32_t n_window, n_context;
    int32_t n_encoder_layers;
    int32_t enc_in[GGW_VAD_MAX_LAYERS], enc_out[GGW_VAD_MAX_LAYERS], enc_kernel[GGW_VAD_MAX_LAYERS];
    int32_t lstm_input_size, lstm_hidden_size, final_conv_in, final_conv_out;
};

struct ggw_file {
    enum ggw_kind kind;
    struct ggw_whisper_hparams hp;   /* GGW_WHISPER only */
    struct ggw_vad_hparams vad;      /* GGW_VAD only */

    /* mel filterbank, n_mel rows of n_fft floats (GGW_WHISPER only) */
    int32_t n_mel, n_fft;
    float *filters;

    /* vocabulary: token i is vocab[i] (vocab_len[i] bytes, NUL-terminated too) */
    int32_t n_vocab_file;
    char **vocab;
    int32_t *vocab_len;

    /* tensors, each 64-byte aligned in one owned block */
    int n_tensors;
    struct tensor *tensors;
    void *data;
    size_t data_size;
};

/* Reads a whole file; on failure fills e and returns NULL. Free with ggw_free. */
struct ggw_file *ggw_load(const char *path, struct err *e);
/* Same, from a memory buffer (for tests / fuzzing); `what` names it in messages. */
struct ggw_file *ggw_load_mem(const void *buf, size_t size, const char *what, struct err *e);
void ggw_free(struct ggw_file *f);

/* NULL when absent. The pointer is borrowed from f. */
const struct tensor *ggw_tensor(const struct ggw_file *f, const char *name);

#endif

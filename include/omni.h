/* omni — public C API.
 *
 * Opaque contexts, *_default_params() structs and callbacks, in the spirit of
 * whisper.h. The CLI and the HTTP server are clients of this API; applications that
 * embed omni use the same calls.
 *
 *   omni_model *m = omni_model_load("model.gguf", NULL, err, sizeof err);
 *   omni_session *s = omni_session_new(m, NULL, err, sizeof err);
 *   omni_chat_message msgs[] = {{"user", "Hello!"}};
 *   char *prompt = omni_chat_format(m, msgs, 1, 1, err, sizeof err);
 *   omni_generate_params gp = omni_generate_default_params();
 *   gp.on_text = print_text;                         // streamed, whole UTF-8 characters
 *   omni_session_generate(s, prompt, &gp, &usage, err, sizeof err);
 *
 * Errors: functions that can fail return NULL or -1 and write a one-line message
 * into the caller's err buffer. Ownership: whoever creates frees; strings returned
 * as `char *` are malloc'ed and freed by the caller with free().
 * Threads: a model may be shared; a session is used by one thread at a time. */
#ifndef OMNI_H
#define OMNI_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

const char *omni_version(void);

/* ---- models ---- */

typedef struct omni_model omni_model;

typedef struct omni_model_params {
    int n_threads;                               /* compute threads; <= 0: all cores */
    void (*progress)(float frac, void *user);    /* loading progress 0..1, optional */
    void *progress_user;
} omni_model_params;

omni_model_params omni_model_default_params(void);
/* params may be NULL for the defaults. */
omni_model *omni_model_load(const char *path, const omni_model_params *params, char *err, size_t err_size);
void omni_model_free(omni_model *model);

const char *omni_model_arch(const omni_model *model);    /* "llama", "qwen2", … */
const char *omni_model_name(const omni_model *model);    /* general.name or the file name */
int omni_model_n_vocab(const omni_model *model);
int omni_model_n_ctx_train(const omni_model *model);
uint64_t omni_model_n_params(const omni_model *model);
uint64_t omni_model_size(const omni_model *model);       /* bytes of weights */

/* Vision: attaches an image encoder (a llama.cpp "mmproj" GGUF made for this model).
 * Afterwards messages may carry images. Returns 0, or -1 with err set. */
int omni_model_load_mmproj(omni_model *model, const char *path, char *err, size_t err_size);
/* Embedding positions one image takes in the prompt; 0 when the model has no encoder. */
int omni_model_n_image_pos(const omni_model *model);

/* ---- images (vision) ---- */

/* A decoded image (PNG, JPEG, GIF first frame, BMP) ready to go into a prompt. */
typedef struct omni_image omni_image;

/* Text that marks where an image goes in a prompt given to omni_session_generate:
 * the k-th marker is replaced by the k-th image of omni_generate_params.images. Put it
 * in a message's content; the chat template carries it through like any text. */
#define OMNI_IMAGE_MARKER "<|omni:image|>"

/* Reads and decodes an image file; NULL with err set (missing, corrupt, too large,
 * WebP) — so a bad image is refused before any generation starts. */
omni_image *omni_image_load(const char *path, char *err, size_t err_size);
/* The same from bytes in memory; `what` names the source in messages. */
omni_image *omni_image_load_memory(const void *data, size_t size, const char *what, char *err, size_t err_size);
void omni_image_free(omni_image *img);
int omni_image_width(const omni_image *img);
int omni_image_height(const omni_image *img);

/* ---- text ---- */

/* Tokenizes UTF-8 text. Returns the number of tokens; when it exceeds max_tokens,
 * only max_tokens are written and the full count is still returned. -1 on error. */
int omni_tokenize(const omni_model *model, const char *text, size_t len, int add_special, int parse_special,
                  int32_t *tokens, int max_tokens);
/* The text of one token (special tokens rendered if `special`); a view into the model. */
const char *omni_token_text(const omni_model *model, int32_t token, int special, size_t *len);

typedef struct omni_chat_message {
    const char *role;      /* "system", "user", "assistant", "tool" */
    const char *content;
} omni_chat_message;

/* Renders messages with the model's own chat template (tokenizer.chat_template), or
 * ChatML when the model has none. Returns a malloc'ed prompt, or NULL with err set
 * (e.g. a template that raises on the given roles). */
char *omni_chat_format(const omni_model *model, const omni_chat_message *msgs, size_t n_msgs,
                       int add_generation_prompt, char *err, size_t err_size);

/* ---- generation ---- */

typedef struct omni_sampling_params {
    float temperature;         /* 0 = greedy */
    int top_k;                 /* 0 = off */
    float top_p;               /* 1 = off */
    float min_p;               /* 0 = off */
    float repeat_penalty;      /* 1 = off */
    int repeat_last_n;
    float presence_penalty;
    float frequency_penalty;
    uint64_t seed;             /* same seed, same output */
} omni_sampling_params;

omni_sampling_params omni_sampling_default_params(void);

/* Called with each piece of generated text as whole UTF-8 characters. Return
 * non-zero to stop generation (finish_reason "stop"). */
typedef int (*omni_text_callback)(const char *text, size_t len, void *user);

typedef struct omni_generate_params {
    int max_tokens;                /* <= 0: until end of generation or context */
    omni_sampling_params sampling;
    const char *const *stop;       /* stop strings (not included in the output), optional */
    int n_stop;
    int parse_special;             /* prompt text like "<|im_start|>" becomes special tokens (default 1) */
    int add_special;               /* add BOS etc. as the model asks (default 1) */
    omni_text_callback on_text;
    void *user;
    /* Images for the prompt's OMNI_IMAGE_MARKERs, in order (borrowed; the model needs an
     * encoder: omni_model_load_mmproj). Markers beyond n_images stay plain text. An image
     * may not end the prompt: the reply's first logits come from a text token. */
    const omni_image *const *images;
    int n_images;
} omni_generate_params;

omni_generate_params omni_generate_default_params(void);

typedef struct omni_usage {
    int prompt_tokens;             /* image positions included */
    int cached_tokens;             /* prompt tokens reused from the session's KV cache */
    int completion_tokens;
    double prompt_ms;              /* prefill time */
    double generate_ms;            /* decode time */
    char finish_reason[16];        /* "stop" or "length" */
} omni_usage;

/* A conversation's state: KV cache and the tokens in it. A follow-up prompt that
 * starts with the same tokens reuses them (only the new part is computed). */
typedef struct omni_session omni_session;

typedef struct omni_session_params {
    int n_ctx;                     /* context length; <= 0: min(model's, 4096) */
} omni_session_params;

omni_session_params omni_session_default_params(void);
omni_session *omni_session_new(omni_model *model, const omni_session_params *params, char *err, size_t err_size);
void omni_session_free(omni_session *session);
int omni_session_n_ctx(const omni_session *session);

/* Continues the session with `prompt` (the whole conversation so far, already
 * formatted) and generates a reply. Images in the prompt (params->images) are encoded
 * only when they are not already in the cached prefix; a cached image is reused only
 * for the same pixels at the same place. Returns 0, or -1 with err set. */
int omni_session_generate(omni_session *session, const char *prompt, const omni_generate_params *params,
                          omni_usage *usage, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif

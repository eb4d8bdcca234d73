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
 * Threads: a model may be shared by any number of threads once it is set up (after
 * omni_model_load_mmproj); a session is used by one thread at a time. Each loaded model has one engine thread that runs every forward
 * pass of that model (sessions, requests and image encoding alike, batched together);
 * every other thread only submits work to it and receives results through callbacks.
 * All compute (LLM, Whisper, CLIP) shares one thread pool per process, sized by the
 * first omni_model_load (or the first user of the pool) and never run by two jobs at
 * once; speech synthesis and VAD, single-threaded library work, run on their caller's
 * thread. */
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

/* A LoRA adapter (llama.cpp's GGUF adapter format, general.type "adapter") to apply on
 * top of the model's weights: every adapted product W x becomes
 * W x + scale * (adapter.lora.alpha / rank) * B (A x). The weights are not changed. */
typedef struct omni_lora {
    const char *path;
    float scale;                                 /* 1: as trained; 0: no effect */
} omni_lora;

typedef struct omni_model_params {
    int n_threads;                               /* compute threads of the process pool; <= 0: all
                                                  * cores. Only the pool's first user sets it. */
    void (*progress)(float frac, void *user);    /* loading progress 0..1, optional */
    void *progress_user;
    /* LoRA adapters applied to every forward of this model, n_lora of them (copied at
     * load). Loading fails with a clear message for an adapter made for another
     * architecture or other shapes (a wrong base model), or that is not an adapter. */
    const omni_lora *lora;
    int n_lora;
} omni_model_params;

omni_model_params omni_model_default_params(void);
/* Loads a LoRA adapter (as omni_lora above) beside the loaded model under `name`, without
 * touching or reloading the base: requests choose it with omni_generate_params.adapter.
 * Adding a name again makes later requests use the new file (running ones keep the
 * old; both stay loaded until omni_model_free). Any thread, also while requests run.
 * -1 with err for a file that is not an adapter for this model. */
int omni_model_add_adapter(omni_model *model, const char *name, const char *path, float scale, char *err,
                           size_t err_size);
/* 1 when the model has an adapter by that name. */
int omni_model_has_adapter(omni_model *model, const char *name);
/* params may be NULL for the defaults. */
omni_model *omni_model_load(const char *path, const omni_model_params *params, char *err, size_t err_size);
/* Once nothing uses the model any more: free its sessions and voice loops first, and
 * let its requests end (on_done); it stops the engine. */
void omni_model_free(omni_model *model);

const char *omni_model_arch(const omni_model *model);    /* "llama", "qwen2", … */
const char *omni_model_name(const omni_model *model);    /* general.name or the file name */
/* The model's chat template (tokenizer.chat_template; borrowed), or NULL when it has none. */
const char *omni_model_chat_template(const omni_model *model);
int omni_model_n_vocab(const omni_model *model);
int omni_model_n_ctx_train(const omni_model *model);
uint64_t omni_model_n_params(const omni_model *model);
uint64_t omni_model_size(const omni_model *model);       /* bytes of weights */

/* Vision: attaches an image encoder (a llama.cpp "mmproj" GGUF made for this model).
 * Afterwards messages may carry images. Call it before the model's first session or
 * request (it is refused once the engine runs) and while no other thread uses the
 * model: it is part of setting the model up. Returns 0, or -1 with err set. */
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

/* Function calling: what a message carries besides its text, all optional (NULL): an
 * assistant turn's calls as a JSON array in OpenAI's form ([{"id", "type": "function",
 * "function": {"name", "arguments"}}]; the template sees an "arguments" string holding an
 * object as that object), and a tool result's call id and function name. Passed as an
 * array parallel to the messages (the *_tools calls below); the tools themselves go to the
 * template as the variable "tools" in template_kwargs. */
typedef struct omni_chat_tool_info {
    const char *tool_calls;
    const char *tool_call_id;
    const char *name;
} omni_chat_tool_info;

/* Renders messages with the model's own chat template (tokenizer.chat_template), or
 * ChatML when the model has none. Returns a malloc'ed prompt, or NULL with err set
 * (e.g. a template that raises on the given roles). */
char *omni_chat_format(const omni_model *model, const omni_chat_message *msgs, size_t n_msgs,
                       int add_generation_prompt, char *err, size_t err_size);
/* The same with more template variables: template_kwargs is a JSON object (NULL: none),
 * e.g. {"enable_thinking": false} (Qwen3's switch) or {"reasoning_effort": "low"} (gpt-oss). */
char *omni_chat_format_kw(const omni_model *model, const omni_chat_message *msgs, size_t n_msgs,
                          int add_generation_prompt, const char *template_kwargs, char *err, size_t err_size);
/* The same with each message's tool calls / tool result ids (tools: [n_msgs] or NULL). */
char *omni_chat_format_tools(const omni_model *model, const omni_chat_message *msgs, const omni_chat_tool_info *tools,
                             size_t n_msgs, int add_generation_prompt, const char *template_kwargs, char *err,
                             size_t err_size);

/* ---- generation ---- */

/* omni_sampling_params.seed for "draw a fresh seed from the OS". */
#define OMNI_SEED_RANDOM UINT64_MAX

typedef struct omni_sampling_params {
    float temperature;         /* 0 = greedy */
    int top_k;                 /* 0 = off */
    float top_p;               /* 1 = off */
    float min_p;               /* 0 = off */
    float repeat_penalty;      /* 1 = off; llama.cpp style */
    int repeat_last_n;         /* tokens the penalties look back over; < 0: the whole context */
    float presence_penalty;    /* OpenAI: subtracted once from a token already seen */
    float frequency_penalty;   /* OpenAI: subtracted per occurrence */
    int penalize_prompt;       /* 1: the penalties also see the prompt's tokens (the CLI's
                                * habit, default); 0: only the reply's (OpenAI's) */
    uint64_t seed;             /* same seed, same output; OMNI_SEED_RANDOM: a fresh one */
    /* logit_bias: added to the token's logit; <= -100 bans it (OpenAI). Borrowed until
     * the generation ends. */
    const int32_t *bias_token;
    const float *bias_value;
    int n_bias;
} omni_sampling_params;

/* temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, no penalties, random seed. */
omni_sampling_params omni_sampling_default_params(void);

/* Called with each piece of generated text as whole UTF-8 characters. Return
 * non-zero to stop generation (finish_reason "stop"). */
typedef int (*omni_text_callback)(const char *text, size_t len, void *user);

/* One generated token as it leaves the engine (omni_generate_params.on_token). */
typedef struct omni_token_info {
    const char *text;          /* its text, whole UTF-8 characters; may be empty (a token that
                                * ends inside a character, or text held back because it may
                                * begin a stop string) */
    size_t len;
    int32_t token;             /* -1: held-back text released at the end */
    float logprob;             /* log-probability under the model, before sampling tweaks
                                * (0 unless omni_generate_params.logprobs) */
    int n_top;                 /* top alternatives (omni_generate_params.top_logprobs) */
    const int32_t *top_token;
    const float *top_logprob;
    int reasoning;             /* 1: this text is the model's thoughts, not its answer
                                * (only with omni_generate_params.reasoning) */
    int n_watch;               /* omni_generate_params.n_watch, or 0 (held-back text) */
    const float *watch_logprob; /* [n_watch] log-probability of each watched token at this step
                                 * (the distribution this token was sampled from) */
} omni_token_info;

/* Constrained function calls (omni_generate_params.lazy_json): while the reply is free
 * text, once it contains `trigger` (a family's call opening, e.g. "<tool_call>") and then
 * `start` (NULL or "": at once), the JSON value that follows is sampled under json_schema,
 * so a call's arguments always parse and validate; after the value the reply is free again
 * (another trigger starts another call). A trigger that ends in a letter, digit, '_', '-'
 * or '.' (a function name) only counts when the text after it does not continue the name. */
typedef struct omni_lazy_json {
    const char *trigger;
    const char *start;
    const char *json_schema;       /* checked like omni_generate_params.json_schema */
} omni_lazy_json;

/* omni_generate_params.reasoning */
enum {
    OMNI_REASONING_NONE = 0,   /* the raw text, thoughts and tags included (default) */
    OMNI_REASONING_AUTO = 1    /* thoughts apart from the answer, in the model's own syntax
                                * (<think>…</think>, gpt-oss's analysis channel), tags removed */
};

typedef struct omni_usage omni_usage;
typedef struct omni_prompt omni_prompt;

typedef struct omni_generate_params {
    int max_tokens;                /* <= 0: until end of generation or context */
    omni_sampling_params sampling;
    const char *const *stop;       /* stop strings (not included in the output), optional */
    int n_stop;
    int parse_special;             /* prompt text like "<|im_start|>" becomes special tokens (default 1) */
    int add_special;               /* add BOS etc. as the model asks (default 1) */
    int logprobs;                  /* on_token gets each token's logprob (a softmax over the
                                    * vocabulary per token, so only when asked; default 0) */
    int top_logprobs;              /* alternatives reported per token in on_token (0..20);
                                    * implies logprobs */
    int json_object;               /* constrain the reply to one JSON object */
    const char *json_schema;       /* JSON Schema text the reply must match (compiled when the
                                    * generation is submitted); NULL: none */
    /* Blocking calls (omni_session_generate): on_text runs on the caller's thread. */
    omni_text_callback on_text;
    /* Asynchronous calls (omni_submit): both run on the model's engine thread: copy what
     * you keep and return quickly. on_token gets every token; on_done comes exactly once,
     * last, with error NULL unless finish_reason is "error". After on_done the engine
     * never touches the request or anything it borrowed. */
    void (*on_token)(const omni_token_info *t, void *user);
    void (*on_done)(const omni_usage *usage, const char *error, void *user);
    void *user;
    /* Images for the prompt's OMNI_IMAGE_MARKERs, in order (borrowed; the model needs an
     * encoder: omni_model_load_mmproj). Markers beyond n_images stay plain text. An image
     * may not end the prompt: the reply's first logits come from a text token. */
    const omni_image *const *images;
    int n_images;
    /* OMNI_REASONING_AUTO: on_token marks thoughts (omni_token_info.reasoning), on_text gets
     * only the answer and on_reasoning (optional) the thoughts. */
    int reasoning;
    omni_text_callback on_reasoning;
    /* Constrained calls inside free text (see omni_lazy_json; borrowed until on_done).
     * Not with json_object / json_schema, which constrain the whole reply. */
    const omni_lazy_json *lazy_json;
    int n_lazy_json;
    /* A named adapter of the model (omni_model_add_adapter) for this request alone, on top
     * of omni_model_params.lora; NULL or "": none. Requests with different adapters run in
     * the same batched forward; a cached prefix is reused only under the same adapter.
     * An unknown name fails omni_submit with OMNI_ERR_INVALID. Borrowed for the call. */
    const char *adapter;
    /* Tokens whose log-probability under the model on_token reports at every step
     * (omni_token_info.watch_logprob, in this order), whether or not they are among the
     * top alternatives: a classifier's label tokens. At most OMNI_MAX_WATCH; borrowed
     * until on_done. */
    const int32_t *watch_tokens;
    int n_watch;
} omni_generate_params;
#define OMNI_MAX_WATCH 16

omni_generate_params omni_generate_default_params(void);

struct omni_usage {
    int prompt_tokens;             /* image positions included */
    int cached_tokens;             /* prompt tokens reused from the KV cache */
    int completion_tokens;
    double prompt_ms;              /* prefill time */
    double generate_ms;            /* decode time */
    double ttft_ms;                /* submit -> first token; < 0 when none came */
    double total_ms;               /* submit -> done */
    int truncated_messages;        /* whole messages left out to fit the context (0: none) */
    int draft_tokens;              /* speculative decoding: tokens proposed (draft model or
                                    * prompt lookup) and checked by the model */
    int draft_accepted;            /* ... of them the model's own choice, so kept */
    char finish_reason[16];        /* "stop", "length", "cancelled" or "error" */
    int stop_string;               /* finish "stop" on a stop string: 1 + its index in
                                    * omni_generate_params.stop; 0: not on a stop string */
};

/* A conversation's state: KV cache and the tokens in it. A follow-up prompt that
 * starts with the same tokens reuses them (only the new part is computed). */
typedef struct omni_session omni_session;

typedef struct omni_session_params {
    int n_ctx;                     /* context length; <= 0: the model's trained length as far as
                                    * its KV cache fits a quarter of memory (at least 4096) */
} omni_session_params;

omni_session_params omni_session_default_params(void);
omni_session *omni_session_new(omni_model *model, const omni_session_params *params, char *err, size_t err_size);
/* A request still queued or running on the session (omni_submit) is cancelled first: its
 * on_done has come when this returns, so do not call it from inside that callback. */
void omni_session_free(omni_session *session);
int omni_session_n_ctx(const omni_session *session);

/* Continues the session with `prompt` (the whole conversation so far, already
 * formatted) and generates a reply. Images in the prompt (params->images) are encoded
 * only when they are not already in the cached prefix; a cached image is reused only
 * for the same pixels at the same place. The blocking form of omni_submit: the engine
 * thread generates while on_text runs here, on the caller's thread (so it may take its
 * time: the engine keeps going for other requests). Returns 0, or -1 with err set. */
int omni_session_generate(omni_session *session, const char *prompt, const omni_generate_params *params,
                          omni_usage *usage, char *err, size_t err_size);
/* The same for a prompt built already (omni_prompt_build, omni_chat_prompt; borrowed for
 * the call); params->images, add_special and parse_special are not used. */
int omni_session_generate_prompt(omni_session *session, const omni_prompt *prompt, const omni_generate_params *params,
                                 omni_usage *usage, char *err, size_t err_size);

/* Checks a JSON Schema as omni_generate_params.json_schema takes it (the subset the
 * constrained sampler supports). 0, or -1 with err naming what is wrong. */
int omni_json_schema_check(const char *schema, size_t len, char *err, size_t err_size);

/* ---- prompts ---- */

/* A prompt as the engine takes it: positions holding token ids, and image spans. */
struct omni_prompt {
    int32_t *tokens;               /* [n] token ids; positions under an image hold 0 */
    int n;
    int *image_pos;                /* [n_images] first position of each image, ascending */
    const omni_image **images;     /* [n_images] borrowed */
    int n_images;
};

/* The one place a prompt is built: text (a formatted conversation) → tokens, with the
 * model's BOS rule (added when the vocabulary asks for it, never doubled when the
 * template writes it) and the k-th OMNI_IMAGE_MARKER (k < n_images) turned into image
 * k's span of omni_model_n_image_pos positions. Returns 0 and fills *out (release with
 * omni_prompt_free), or -1 with err set (then *out needs no freeing). */
int omni_prompt_build(const omni_model *model, const char *text, const omni_image *const *images, int n_images,
                      int add_special, int parse_special, omni_prompt *out, char *err, size_t err_size);
/* Frees what omni_prompt_build allocated (not the images). */
void omni_prompt_free(omni_prompt *p);

/* omni_chat_prompt's result when the conversation cannot be made to fit. */
#define OMNI_ERR_TOO_LONG (-2)

/* A conversation → the engine's prompt in at most max_positions positions (a context's
 * size less room for the reply). images: those of all messages, in message order, each
 * standing at an OMNI_IMAGE_MARKER in its message's content. When everything does not
 * fit and `truncate` is set, the leading system message(s) stay and the oldest other
 * messages are dropped whole — a turn at a time, so the kept part starts with a user
 * message — with their images, until it fits; *n_dropped (optional) says how many were
 * dropped. Returns 0 and fills *out (omni_prompt_free), OMNI_ERR_TOO_LONG with err when
 * it cannot fit (truncation off, or even the last turn alone is too long), or -1 with
 * err on another failure (e.g. the template refuses the messages). */
int omni_chat_prompt(const omni_model *model, const omni_chat_message *msgs, size_t n_msgs,
                     const omni_image *const *images, int n_images, int max_positions, int truncate,
                     omni_prompt *out, int *n_dropped, char *err, size_t err_size);
/* The same with more template variables (template_kwargs as in omni_chat_format_kw). */
int omni_chat_prompt_kw(const omni_model *model, const omni_chat_message *msgs, size_t n_msgs,
                        const omni_image *const *images, int n_images, int max_positions, int truncate,
                        const char *template_kwargs, omni_prompt *out, int *n_dropped, char *err, size_t err_size);
/* The same with each message's tool calls / tool result ids (tools: [n_msgs] or NULL);
 * dropped turns take theirs along. */
int omni_chat_prompt_tools(const omni_model *model, const omni_chat_message *msgs, const omni_chat_tool_info *tools,
                           size_t n_msgs, const omni_image *const *images, int n_images, int max_positions,
                           int truncate, const char *template_kwargs, omni_prompt *out, int *n_dropped, char *err,
                           size_t err_size);

/* ---- the engine ---- */

/* The model's engine: besides sessions, it has n_slots sequences for requests that
 * carry no session (a server's parallel requests); each keeps what it cached, so a
 * follow-up prompt with the same prefix is computed only from where it differs. */
typedef struct omni_engine_params {
    int n_slots;                   /* sequences for session-less requests (4); their KV memory
                                    * is taken when a slot is first used */
    int n_ctx;                     /* context per slot; <= 0: the model's training context as far
                                    * as every slot's KV cache fits a quarter of memory (>= 4096) */
    int max_queue;                 /* requests waiting for a slot before omni_submit says BUSY (64) */
    int n_batch;                   /* most tokens in one forward (512) */
    int n_chunk;                   /* most prompt tokens in one forward (256) */
    /* Speculative decoding: guesses of the next tokens, from a small draft model with the
     * same vocabulary and/or from the text so far (prompt lookup), that the model checks
     * in one batched forward; only tokens the model would have chosen itself are kept,
     * so the output is the same as without it (greedy or sampled with a seed: token for
     * token). Off for recurrent models (Qwen3.5), whose state cannot step back. */
    omni_model *draft;             /* borrowed, must outlive the engine; NULL: none */
    int lookup;                    /* 1: prompt lookup drafts (0, off) */
    int draft_max;                 /* most tokens proposed per step (16) */
    int draft_min;                 /* fewer than this proposed: decode normally (0) */
    float draft_p_min;             /* the draft model stops guessing at a token it gives less
                                    * than this probability (0.75; 0: never) */
    int cache_type;                /* OMNI_CACHE_F16 (default), _Q8_0 or _Q4_0: the KV cache's K and V */
    int flash_attn;                /* OMNI_FLASH_AUTO (default), _ON or _OFF: the attention kernel */
} omni_engine_params;

/* KV cache types (llama.cpp's -ctk/-ctv) and attention kernels (its --flash-attn): AUTO
 * computes llama.cpp's non-flash order exactly, except past 1024 cached positions in models
 * with at least 2 query heads per KV head (the tiled kernel); a quantized cache always
 * takes the tiled kernel. */
enum { OMNI_CACHE_F16 = 0, OMNI_CACHE_Q8_0 = 1, OMNI_CACHE_Q4_0 = 2 };
enum { OMNI_FLASH_AUTO = 0, OMNI_FLASH_ON = 1, OMNI_FLASH_OFF = 2 };
/* "f16" / "q8_0" / "q4_0", and "auto" / "on" / "off"; -1 for anything else */
int omni_cache_type_parse(const char *name);
int omni_flash_attn_parse(const char *name);

omni_engine_params omni_engine_default_params(void);
/* Starts the model's engine with these settings (NULL: the defaults). Optional: the
 * first session or request starts it with the defaults. -1 with err set when it runs
 * already or cannot start. */
int omni_model_start_engine(omni_model *model, const omni_engine_params *params, char *err, size_t err_size);

typedef struct omni_engine_stats {
    int n_slots, n_ctx;            /* as started */
    int queued;                    /* requests waiting */
    int busy;                      /* requests running (slots and sessions) */
    unsigned long long draft_tokens, draft_accepted; /* speculative decoding, since start */
    int speculative;               /* 1: it runs (asked for, and the model is not recurrent) */
} omni_engine_stats;
/* All zero when the engine has not started. Any thread. */
void omni_model_engine_stats(omni_model *model, omni_engine_stats *st);
/* Ends every queued and running request (each gets on_done, "cancelled"); later
 * submits are refused with OMNI_ERR_STOPPING. For a server's shutdown. Any thread. */
void omni_model_cancel_all(omni_model *model);

/* omni_submit's status. */
enum { OMNI_OK = 0, OMNI_ERR_INVALID = -1, OMNI_ERR_BUSY = -2, OMNI_ERR_STOPPING = -3 };

typedef struct omni_request omni_request;

/* Queues a generation of `prompt` (borrowed until on_done) and returns at once; the
 * engine thread reports through params->on_token and params->on_done (params is copied;
 * what its pointers point to is borrowed until on_done). session: continue that
 * conversation, reusing its cache (NULL: a free slot of the engine); a session runs one
 * request at a time. On failure returns NULL, sets *status (OMNI_ERR_INVALID: a bad
 * request, e.g. a prompt longer than the context; OMNI_ERR_BUSY: the queue is full;
 * OMNI_ERR_STOPPING) and err, and on_done is not called. */
omni_request *omni_submit(omni_model *model, omni_session *session, const omni_prompt *prompt,
                          const omni_generate_params *params, int *status, char *err, size_t err_size);
/* Any thread, any time before omni_request_free: the generation stops at the next
 * step and on_done reports "cancelled". */
void omni_request_cancel(omni_request *r);
/* Frees the request once on_done has been called: from inside on_done or from a thread
 * it wakes is fine too, as the engine never touches a request after calling its on_done
 * (omni_session_generate frees it so). NULL is fine. */
void omni_request_free(omni_request *r);
/* The context size a request gets: the session's, or the engine's slots' (0 when
 * neither exists yet). */
int omni_request_n_ctx(omni_model *model, const omni_session *session);

/* ==== speech, voice and model files ====
 *
 * Speech in (omni_asr_*), speech out (omni_tts_*), the real-time voice loop
 * (omni_voice_*), voice activity detection (omni_vad_*), audio files, and the model
 * store. Same conventions as above: opaque contexts, *_default_params(), -1 or NULL
 * with a one-line message in the caller's err buffer (err may be NULL), and every
 * malloc'ed result freed by the call named at its declaration. Speech models take
 * 16 kHz mono float samples in [-1, 1]; speech comes out as 24 kHz mono s16. */

#define OMNI_ASR_SAMPLE_RATE 16000
#define OMNI_TTS_SAMPLE_RATE 24000

/* ---- audio files ---- */

/* Decodes any common audio file (WAV, FLAC, OGG/Vorbis, Opus, MP3; any sample rate and
 * channel count) to 16 kHz mono floats. Returns 0 with *pcm malloc'ed (free() it) and
 * *n_samples set, or -1 with err naming the file (e.g. "not a recognised audio file").
 * Any thread. */
int omni_audio_decode_file(const char *path, float **pcm, size_t *n_samples, char *err, size_t err_size);
/* The same for a file held in memory (an upload; data is borrowed for the call); `what`
 * names it in messages. */
int omni_audio_decode_memory(const void *data, size_t size, const char *what, float **pcm, size_t *n_samples,
                             char *err, size_t err_size);

/* The containers speech goes out in (OpenAI's response_format names). */
typedef enum omni_audio_format {
    OMNI_AUDIO_WAV, OMNI_AUDIO_PCM, OMNI_AUDIO_FLAC, OMNI_AUDIO_OPUS, OMNI_AUDIO_MP3
} omni_audio_format;
#define OMNI_AUDIO_FORMATS "wav, pcm, flac, opus, mp3"

/* "wav" → OMNI_AUDIO_WAV, …; an unknown name is -1 with err listing the allowed ones. */
int omni_audio_format_parse(const char *name, omni_audio_format *out, char *err, size_t err_size);
/* From a file name's extension (.wav .pcm .raw .flac .opus .ogg .mp3); -1 when none matches. */
int omni_audio_format_from_path(const char *path, omni_audio_format *out);
const char *omni_audio_format_name(omni_audio_format f);   /* "wav", …; static */
const char *omni_audio_format_mime(omni_audio_format f);   /* "audio/wav", "audio/mpeg", …; static */

/* Receives encoded bytes (borrowed for the call) as they are produced. Return non-zero
 * to stop (a client gone): the call that produced them then fails. */
typedef int (*omni_bytes_callback)(const void *bytes, size_t n, void *user);

/* An incremental encoder of mono s16 PCM, so bytes can leave (HTTP chunks, a pipe) while
 * later audio is still being made. WAV and Opus emit their header at once, the others
 * with the first audio. One thread at a time; on_bytes runs inside write and finish. */
typedef struct omni_audio_encoder omni_audio_encoder;

omni_audio_encoder *omni_audio_encode_new(omni_audio_format format, int sample_rate, omni_bytes_callback on_bytes,
                                          void *user, char *err, size_t err_size);
/* pcm is borrowed for the call. 0, or -1 with err set. */
int omni_audio_encode_write(omni_audio_encoder *enc, const int16_t *pcm, size_t n, char *err, size_t err_size);
/* Flushes what is left (encoder delay, last pages); call once, then free. */
int omni_audio_encode_finish(omni_audio_encoder *enc, char *err, size_t err_size);
void omni_audio_encode_free(omni_audio_encoder *enc);     /* NULL is fine */

/* A streamed WAV cannot know its length, so its header says 0xFFFFFFFF (as OpenAI's
 * does). A writer to a seekable file may overwrite the first OMNI_WAV_HEADER_SIZE bytes
 * with this header once the sample count is known. */
#define OMNI_WAV_HEADER_SIZE 44
void omni_audio_wav_header(uint8_t header[OMNI_WAV_HEADER_SIZE], int sample_rate, uint32_t n_samples);

/* ---- voice activity (Silero VAD) ---- */

/* A detector that scores 512-sample (32 ms) windows of 16 kHz audio with a speech
 * probability. Its state carries over from window to window (a live stream), so one
 * detector serves one stream and one thread at a time. It is small and runs on the
 * calling thread, not on the compute pool. */
typedef struct omni_vad omni_vad;

/* How probabilities become segments: whisper.cpp's rules, and its defaults. */
typedef struct omni_vad_params {
    float threshold;           /* speech from p >= threshold; it ends below threshold - 0.15 (0.5) */
    int min_speech_ms;         /* shorter segments are dropped (250) */
    int min_silence_ms;        /* silence that ends a segment (100) */
    float max_speech_s;        /* longer segments are split (FLT_MAX: never) */
    int speech_pad_ms;         /* padding added around each segment (30) */
    float samples_overlap;     /* seconds of overlap where segments are joined for ASR (0.1) */
} omni_vad_params;

omni_vad_params omni_vad_default_params(void);

/* path: a Silero VAD v6 model in whisper.cpp's ggml format. NULL gives a loudness
 * detector instead (0 below -45 dBFS RMS, 1 above -30 dBFS, linear between): fine for
 * clean recordings, not for noisy ones. NULL with err set when the file is not a VAD. */
omni_vad *omni_vad_load(const char *path, char *err, size_t err_size);
void omni_vad_free(omni_vad *vad);                        /* NULL is fine */
int omni_vad_window(const omni_vad *vad);                 /* samples per window (512) */
/* Forgets the stream so far (before a new one). */
void omni_vad_reset(omni_vad *vad);
/* The speech probability of the next window: n <= omni_vad_window samples (borrowed),
 * fewer are zero-padded. */
float omni_vad_step(omni_vad *vad, const float *pcm, int n);
/* Resets, then scores every window of pcm: *probs (malloc'ed; free() it) gets
 * ceil(n / window) values and *n_probs their count. 0, or -1 with err set. */
int omni_vad_probs(omni_vad *vad, const float *pcm, size_t n, float **probs, int *n_probs, char *err,
                   size_t err_size);

typedef struct omni_vad_segment {
    int64_t start, end;        /* samples at 16 kHz, end exclusive */
} omni_vad_segment;

/* Speech segments from window probabilities (params NULL: the defaults). *segments is
 * malloc'ed (free() it; NULL when *n_segments is 0). 0, or -1 with err set. */
int omni_vad_segments(const float *probs, int n_probs, int window, const omni_vad_params *params,
                      omni_vad_segment **segments, int *n_segments, char *err, size_t err_size);
/* Samples at 16 kHz to whole centiseconds, rounded as whisper.cpp rounds them. */
int64_t omni_vad_samples_to_cs(int64_t samples);

/* ---- speech in (Whisper) ---- */

/* A Whisper model (a whisper.cpp ggml file: any size, multilingual or .en) and, when
 * asked for, a Silero VAD that limits transcription to the speech it finds. Threads: any
 * number may share one; its omni_asr_transcribe* calls take turns (they share one
 * decoder state, sized once) and their compute runs on the process pool. A voice loop
 * (omni_voice_new) borrows the model with a decoder state of its own, so it never waits
 * for those calls; the pool runs either's jobs one at a time. */
typedef struct omni_asr omni_asr;

typedef struct omni_asr_load_params {
    int n_threads;                 /* compute threads of the process pool; <= 0: all cores.
                                    * Only the pool's first user sets it. */
    const char *vad_model;         /* Silero VAD file for transcriptions (omni_asr_params.use_vad);
                                    * NULL: none. Read during the call. */
} omni_asr_load_params;

omni_asr_load_params omni_asr_load_default_params(void);
/* params may be NULL for the defaults. NULL with err set when a file is missing or not
 * what it should be ("not a Whisper model", "not a VAD model"). */
omni_asr *omni_asr_load(const char *path, const omni_asr_load_params *params, char *err, size_t err_size);
/* Call only when no transcription or voice loop uses it any more. NULL is fine. */
void omni_asr_free(omni_asr *asr);

int omni_asr_is_multilingual(const omni_asr *asr);        /* 0 for the English-only .en models */
int omni_asr_has_vad(const omni_asr *asr);
/* Whisper's languages: the id of a code ("en" is 0, "ko", "de", …), -1 when unknown;
 * the code of an id (static), NULL when out of range. */
int omni_asr_language_id(const char *code);
const char *omni_asr_language_code(int id);

typedef struct omni_asr_params {
    const char *language;          /* spoken language: "en" (default), "ko", … or "auto" to detect
                                    * it; NULL: "en". Borrowed for the call, like every pointer here. */
    int translate;                 /* translate into English instead of transcribing */
    int no_timestamps;             /* decode without timestamp tokens (one segment per 30 s window) */
    int beam_size;                 /* > 1: beam search at temperature 0 (default 5, as whisper-cli) */
    float temperature;             /* 0 (default): greedy, or beam search */
    float temperature_inc;         /* step of the hotter retries when a window decodes badly (0.2);
                                    * <= 0: no retries */
    float logprob_thold;           /* retry below this average log-probability (-1) */
    float entropy_thold;           /* retry above this compression proxy (2.4) */
    float no_speech_thold;         /* 0.6 */
    int max_tokens;                /* tokens per 30 s window; 0: half the model's text context */
    const char *prompt;            /* initial prompt: spelling, names or style to follow; NULL: none */
    int audio_ctx;                 /* encoder positions per window; 0: the full 1500 (30 s); fewer
                                    * is faster for short clips */
    int word_timestamps;           /* estimate every token's start and end as whisper.cpp does
                                    * (timestamp-token probabilities, then the signal's energy) and
                                    * fill omni_asr_result.words */
    int use_vad;                   /* 1 (default): when the context has a VAD, transcribe only the
                                    * speech it finds (timestamps stay on the audio's timeline) */
    omni_vad_params vad;           /* how it cuts (omni_vad_default_params) */
    void (*progress)(float frac, void *user);   /* per 30 s window, on the calling thread; optional */
    void *progress_user;
} omni_asr_params;

omni_asr_params omni_asr_default_params(void);

typedef struct omni_asr_token {
    int32_t id;
    float p;                       /* its probability when it was chosen */
    int64_t t0, t1;                /* centiseconds; with word_timestamps every token's estimated
                                    * start and end, else -1 (timestamp tokens: the time they mark) */
    int special;                   /* 1: a special or timestamp token, which has no text */
} omni_asr_token;

typedef struct omni_asr_segment {
    int64_t t0, t1;                /* centiseconds from the start of the audio */
    char *text;                    /* as decoded: words start with a space (so does the segment),
                                    * and a token may have split a UTF-8 character (omni_utf8_sanitize
                                    * before putting it in JSON) */
    float no_speech_prob;
    int n_tokens;
    omni_asr_token *tokens;
} omni_asr_segment;

typedef struct omni_asr_word {
    char *text;                    /* without its leading space; may split a character like segments */
    int64_t t0, t1;                /* centiseconds */
} omni_asr_word;

/* Everything in it is owned by it and freed by omni_asr_result_free. */
typedef struct omni_asr_result {
    char language[8];              /* the language given, or the one detected */
    float language_prob;           /* 1 when given */
    double duration;               /* seconds of audio */
    char *text;                    /* the transcript: the segments' text joined, leading spaces dropped */
    int n_segments;
    omni_asr_segment *segments;
    int n_words;                   /* with word_timestamps: the words, each within one segment (a
                                    * token starting with a space starts a new word); else 0 */
    omni_asr_word *words;
} omni_asr_result;

/* Transcribes 16 kHz mono samples (pcm borrowed for the call). Blocks until done; any
 * thread. Returns the result, or NULL with err set (e.g. an unknown language, a model
 * that cannot translate). */
omni_asr_result *omni_asr_transcribe(omni_asr *asr, const float *pcm, size_t n_samples,
                                     const omni_asr_params *params, char *err, size_t err_size);
/* omni_audio_decode_file / _memory, then omni_asr_transcribe. A caller that must tell
 * "not audio" (the client's fault) from a failed transcription decodes first itself. */
omni_asr_result *omni_asr_transcribe_file(omni_asr *asr, const char *path, const omni_asr_params *params,
                                          char *err, size_t err_size);
omni_asr_result *omni_asr_transcribe_memory(omni_asr *asr, const void *data, size_t size, const char *what,
                                            const omni_asr_params *params, char *err, size_t err_size);
void omni_asr_result_free(omni_asr_result *result);       /* NULL is fine */
/* The bytes of a token (maybe part of a UTF-8 character; "" for special tokens) and
 * their count in *len; borrowed from the context. */
const char *omni_asr_token_text(const omni_asr *asr, int32_t id, int *len);
/* The spoken language of the first 30 s: its id (omni_asr_language_code names it) and,
 * when prob is not NULL, its probability; -1 with err set on failure. An English-only
 * model answers "en" with probability 1. Takes turns with omni_asr_transcribe. */
int omni_asr_detect_language(omni_asr *asr, const float *pcm, size_t n_samples, float *prob, char *err,
                             size_t err_size);

/* ---- speech out (TTS) ---- */

/* Text in, 24 kHz mono s16 speech out, sentence by sentence, with preset voices (the
 * OpenAI names) on espeak-ng. Threads: any thread may speak at any time; synthesis runs
 * on the calling thread (not on the compute pool), and concurrent calls take turns per
 * sentence inside the engine. */
#define OMNI_TTS_MAX_INPUT_CHARS 4096  /* OpenAI's limit for /v1/audio/speech, in characters */
#define OMNI_TTS_SPEED_MIN 0.25f
#define OMNI_TTS_SPEED_MAX 4.0f
#define OMNI_TTS_PRESETS "alloy, ash, ballad, coral, echo, fable, nova, onyx, sage, shimmer, verse"

typedef struct omni_tts_params {
    const char *input;             /* UTF-8 text, at most OMNI_TTS_MAX_INPUT_CHARS characters */
    const char *voice;             /* a preset (OMNI_TTS_PRESETS), an espeak-ng variant (f3, klatt,
                                    * Annie) or language voice (fr, de, ko); NULL: "alloy" */
    const char *language;          /* "en", "ko", "ja", "zh", any espeak-ng language; NULL: from
                                    * each stretch's script (Latin reads as English) */
    float speed;                   /* OMNI_TTS_SPEED_MIN..MAX; 1 (default): the voice's own pace */
    int normalize;                 /* read numbers, dates, money and units as words (default 1) */
    const char *instructions;      /* style ("warm and slow"), for a voice that takes one (see
                                    * omni_tts_instructions_apply); others ignore it. NULL: none */
} omni_tts_params;                 /* every pointer is borrowed for the call */

omni_tts_params omni_tts_default_params(void);

/* Receives samples (borrowed for the call: copy what you keep). Return non-zero to stop
 * (client gone, barge-in). */
typedef int (*omni_pcm_callback)(const int16_t *pcm, size_t n, void *user);

/* Checks a request without synthesizing, for an error before any byte is sent: empty
 * or over-long input, invalid UTF-8, unknown voice or language, speed out of range.
 * 0, or -1 with err saying which. */
int omni_tts_validate(const omni_tts_params *params, char *err, size_t err_size);
/* Speaks params->input. on_audio (on the calling thread) gets the first sentence in
 * ~100 ms pieces as the engine makes them (lowest time to first byte; the engine lock is
 * held meanwhile, so keep it quick), every later sentence in one call once it is whole,
 * and maybe a last call with the resampler's tail. Returns 0, or -1 with err set (also
 * when on_audio stopped it). */
int omni_tts_speak(const omni_tts_params *params, omni_pcm_callback on_audio, void *user, char *err,
                   size_t err_size);
/* The preset voices in OMNI_TTS_PRESETS' order: name and a one-line description (static;
 * NULL when i is out of range). */
int omni_tts_preset_count(void);
const char *omni_tts_preset_name(int i);
const char *omni_tts_preset_about(int i);
/* {"voices":[{"id","name","description","backend"}…],"languages":[{"code","name"}…]} as a
 * malloc'ed string (free() it); NULL when the engine cannot start (no espeak-ng-data). */
char *omni_tts_voices_json(void);

/* Neural voice: Qwen3-TTS from llama.cpp's pair of files (the talker GGUF and its mmproj
 * with the code predictor and codec decoder). Once loaded, omni_tts_speak (so `omni speak`,
 * POST /v1/audio/speech and the voice loop) speaks the presets with it: each OpenAI name
 * maps to one of the model's built-in speakers, whose own names (e.g. "sohee") are voices
 * too; a text in a language the model lacks, or an espeak-ng variant, stays on espeak-ng.
 * Built-in speakers only: no path takes a voice from audio. Audio streams as frames are
 * decoded; the compute runs on the process pool. talker_path NULL unloads. Call it when
 * no synthesis is running. 0, or -1 with err set. */
int omni_tts_load_neural(const char *talker_path, const char *mmproj_path, int n_threads, char *err,
                         size_t err_size);
/* As omni_tts_load_neural, with quant the type the code predictor's F16 matrices are
 * requantized to at load: NULL, "" or "none" (the default: the files' own weights, whose
 * greedy codes match llama-tts) or "q8_0" (about half the bytes its per-frame passes read,
 * so sooner first audio; the codes may differ) or "q4_0" (a quarter, coarser). Quantized files (Q8_0 pairs) need none. */
int omni_tts_load_neural_quant(const char *talker_path, const char *mmproj_path, int n_threads, const char *quant,
                               char *err, size_t err_size);
/* 1 when params->instructions shapes the speech: the neural voice would speak this request
 * and its model takes instructions (Qwen3-TTS CustomVoice and VoiceDesign, not Base and not
 * the 0.6B size, for which Qwen3-TTS itself drops them); 0 when they are ignored (espeak-ng,
 * such a model, no instructions, or a request omni_tts_validate refuses). */
int omni_tts_instructions_apply(const omni_tts_params *params);
/* "qwen3-tts" while a neural voice is loaded, else NULL. */
const char *omni_tts_neural_backend(void);

/* ---- the voice loop ---- */

/* Real-time voice conversation: PCM in → VAD turn detection → incremental Whisper →
 * LLM (one conversation kept across turns, so its prompt cache is reused) → clause by
 * clause TTS → PCM out, with barge-in. The Realtime WebSocket API and `omni bench-voice`
 * drive it; everything comes back as events.
 *
 * Speculation: at the first quiet window the loop transcribes and, by default, starts
 * the reply at once; its events (final transcript, response started, text, audio) are
 * held back until the silence confirms the end of the turn, then released in order. If
 * speech resumes first, the held reply is dropped without a trace (no events, no history,
 * no response id used) and the turn goes on.
 *
 * Threads: every call below may come from any thread, and none waits for inference but
 * omni_voice_free (a transcription in progress ends first) and omni_voice_wait_idle. Each
 * session has a listener thread (VAD) and a worker thread (ASR, LLM, TTS); on_event is
 * never called concurrently with itself, but from those two threads: copy what you keep,
 * return quickly, and do not call omni_voice_free from inside it. Whisper and the LLM's
 * forwards run on the process pool (the LLM's through its engine). */
typedef struct omni_voice omni_voice;

typedef enum omni_voice_event_type {
    OMNI_VOICE_SPEECH_STARTED,     /* audio_ms: where the speech starts on the input timeline */
    OMNI_VOICE_SPEECH_STOPPED,     /* audio_ms: where it ended (the turn ended silence_ms later) */
    OMNI_VOICE_TRANSCRIPT_PARTIAL, /* text: the whole transcript so far (replaces the previous one) */
    OMNI_VOICE_TRANSCRIPT_FINAL,   /* text: the user's turn, now in the history */
    OMNI_VOICE_RESPONSE_STARTED,   /* response_id */
    OMNI_VOICE_TEXT_DELTA,         /* text: the reply as generated (whole UTF-8 characters) */
    OMNI_VOICE_AUDIO,              /* pcm/n_pcm: 24 kHz mono s16; text: the clause being spoken */
    OMNI_VOICE_RESPONSE_DONE,      /* status, usage; text: the reply as it stays in the history */
    OMNI_VOICE_ERROR,              /* text: a one-line message; the session stays usable */
} omni_voice_event_type;

/* Everything it points to is borrowed for the duration of the callback. */
typedef struct omni_voice_event {
    omni_voice_event_type type;
    int response_id;               /* responses count from 1; 0 for input events */
    int64_t audio_ms;              /* speech events */
    const char *text;              /* NUL-terminated */
    size_t len;
    const int16_t *pcm;            /* OMNI_VOICE_AUDIO */
    size_t n_pcm;
    const char *status;            /* OMNI_VOICE_RESPONSE_DONE: "completed", "cancelled", "failed" or
                                    * "content_filter" (omni_voice_params.moderate stopped it) */
    omni_usage usage;              /* OMNI_VOICE_RESPONSE_DONE */
} omni_voice_event;

typedef void (*omni_voice_callback)(const omni_voice_event *ev, void *user);

typedef struct omni_voice_params {
    const char *instructions;      /* system prompt; NULL: none. Strings here are copied. */
    const char *voice;             /* TTS voice (omni_tts_params.voice); NULL: "alloy" */
    const char *language;          /* "en", "ko", … for ASR and TTS; NULL or "auto": detect */
    const char *vad_model;         /* Silero VAD file for turn detection; NULL: a loudness threshold.
                                    * Read by omni_voice_new only. */
    int input_rate;                /* 16000 or 24000 (default), s16 mono */
    float vad_threshold;           /* 0.5 */
    int silence_ms;                /* quiet that ends a turn (280: nine 32 ms VAD windows); with
                                    * end_of_turn, the quiet when the transcript says neither way */
    int prefix_padding_ms;         /* audio kept before the speech start for ASR (300) */
    int min_speech_ms;             /* shorter speech is ignored (100) */
    int asr_interval_ms;           /* re-decode the growing clip after this much new audio (400) */
    int transcribe_input;          /* emit the transcript events (1); the ASR runs either way */
    int auto_response;             /* answer at the end of each turn (1); else wait for omni_voice_respond */
    int interrupt_response;        /* speech while answering cancels the answer (barge-in, 1) */
    int speculate;                 /* start the reply at the first quiet window, held until the turn
                                    * is confirmed (1) */
    int max_tokens;                /* reply cap (256); <= 0: until the model stops */
    int end_of_turn;               /* OMNI_VOICE_EOT_TRANSCRIPT (default): the quiet that ends a turn
                                    * follows the transcript made at the pause: eot_complete_ms when it
                                    * ends a sentence or asks (final punctuation, -다/-요/-까/-죠),
                                    * eot_continue_ms when it trails off ("and", "um", "the", "그리고",
                                    * "음", a connective ending) and until the transcript is ready,
                                    * silence_ms otherwise. OMNI_VOICE_EOT_SILENCE: silence_ms always. */
    int eot_complete_ms;           /* 120 (four 32 ms VAD windows: 128 ms) */
    int eot_continue_ms;           /* 800 */
    float temperature;             /* 0.8 */
    uint64_t seed;                 /* sampling seed; 0: random */
    int n_ctx;                     /* LLM context; <= 0: the session default */
    omni_voice_callback on_event;
    void *user;
    /* Moderation (NULL: none), on the worker thread, with `user`: reply 0, the user's newest
     * message before a reply is made (non-zero: no reply); reply 1, each clause of the reply
     * before it is shown or spoken (non-zero: no text or audio for it nor after it). Either
     * way the reply ends with status "content_filter". Fixed at omni_voice_new like on_event;
     * with it, OMNI_VOICE_TEXT_DELTA comes clause by clause, once checked. */
    int (*moderate)(const char *text, size_t len, int reply, void *user);
} omni_voice_params;

enum { OMNI_VOICE_EOT_SILENCE = 0, OMNI_VOICE_EOT_TRANSCRIPT = 1 };   /* omni_voice_params.end_of_turn */

omni_voice_params omni_voice_default_params(void);

/* Starts a session (params NULL: the defaults) and warms it in the background, so the
 * first turn is not a cold one: the LLM prefills the instructions (their KV stays cached,
 * and the model's pages are read in), Whisper runs once on silence and the voice speaks
 * once, all unheard (omni_voice_wait_idle waits for it). llm and asr are borrowed and must
 * outlive it; several sessions may share them. NULL with err set on bad settings or a
 * VAD file that cannot be read. */
omni_voice *omni_voice_new(omni_model *llm, omni_asr *asr, const omni_voice_params *params, char *err,
                           size_t err_size);
/* Stops the threads (cancelling a reply in progress; no event comes after it returns)
 * and frees everything. NULL is fine. */
void omni_voice_free(omni_voice *v);
/* Changes settings between turns (session.update): instructions … temperature and seed
 * are taken; vad_model, input_rate, n_ctx, on_event and user stay as started. The VAD
 * threshold, silence and minimum speech apply from the next VAD window, also to a turn
 * in progress; a reply in progress keeps the settings it started with. 0, or -1 with
 * err set (then nothing changed). */
int omni_voice_update(omni_voice *v, const omni_voice_params *params, char *err, size_t err_size);
/* Queues s16 mono samples at the input rate (copied). -1 when out of memory. */
int omni_voice_push_pcm(omni_voice *v, const int16_t *pcm, size_t n);
/* Ends the current turn now, as if silence had been heard (input_audio_buffer.commit). */
void omni_voice_commit(omni_voice *v);
/* Drops the speech heard so far in this turn (input_audio_buffer.clear). */
void omni_voice_clear(omni_voice *v);
/* Appends a message to the conversation: role "user", "assistant" or "system" (text
 * copied). 0, or -1 with err set. */
int omni_voice_add_message(omni_voice *v, const char *role, const char *text, char *err, size_t err_size);
/* Answers the conversation as it stands (response.create). */
void omni_voice_respond(omni_voice *v);
/* Stops the reply in progress; nothing when idle (response.cancel). */
void omni_voice_cancel(omni_voice *v);
/* How many samples (24 kHz) of the current reply the client has played; on cancel the
 * assistant message is cut there. Without reports, playback is assumed to run in real
 * time from the first audio chunk. */
void omni_voice_set_played(omni_voice *v, int64_t samples);
/* The client stopped playing the latest reply after `samples` (24 kHz) (conversation.
 * item.truncate). While the reply is still being made it is cut there when it ends;
 * once it is over, its history message is cut now (removed when nothing of it was
 * heard). Returns the bytes of reply text kept, or -1 when there is no reply to cut. */
long omni_voice_truncate(omni_voice *v, int64_t samples);

/* Speculative replies since omni_voice_new: started, used as the real reply (the turn
 * ended where the speculation assumed) and dropped (speech came back). */
typedef struct omni_voice_stats {
    int spec_started, spec_used, spec_dropped;
    /* end_of_turn: pauses judged by their transcript as ending a sentence, saying neither
     * way, or trailing off */
    int eot_complete, eot_unsure, eot_continue;
    /* the last finished reply, where its wait went in process CPU time (all threads): the
     * transcript it answers (ASR), the LLM from the start of the reply until its first
     * clause was complete (prompt and tokens), and the TTS from that clause until its first
     * audio chunk; 0 where a stage did not run. last_language: the language that transcript
     * was made in (the setting, or the one "auto" detected), "" when unknown. */
    double last_asr_cpu_ms, last_llm_cpu_ms, last_tts_cpu_ms;
    char last_language[8];
} omni_voice_stats;
void omni_voice_get_stats(omni_voice *v, omni_voice_stats *stats);
/* Waits until the listener and worker have nothing left to do, or timeout_ms passes:
 * 0 when idle, -1 on timeout. */
int omni_voice_wait_idle(omni_voice *v, int timeout_ms);
/* Forgets the conversation (the instructions stay, and so does their prompt cache).
 * Call only while idle. */
void omni_voice_clear_history(omni_voice *v);
/* The conversation so far (after truncation): returns the count and points *msgs at the
 * messages, borrowed until the next call that changes them; call only while idle (e.g.
 * after omni_voice_wait_idle). */
int omni_voice_history(omni_voice *v, const omni_chat_message **msgs);

/* ---- embeddings and reranking ---- */

/* A sentence-embedding or reranking model: a BERT-family encoder (bge, MiniLM, bge-m3,
 * the bge-reranker cross-encoders: GGUF architecture "bert"; nomic-embed-text:
 * "nomic-bert"; jina-embeddings-v2: "jina-bert-v2") or a decoder used as one (Qwen3-Embedding: the final normed hidden state
 * of the last token). It is separate
 * from omni_model: it has no engine, sessions or chat template; each call runs its
 * forward passes on the calling thread (with the process's compute pool) and returns.
 * Threads: any number of threads may call an embedder; calls take turns (a mutex),
 * since they share the pool anyway. omni_embedder_free only when no call is running. */
typedef struct omni_embedder omni_embedder;

/* How the final hidden states become one vector per input (llama.cpp's numbering). */
enum {
    OMNI_POOLING_DEFAULT = -1,     /* the file's pooling_type (bert without one: CLS; a file
                                    * with a rerank head and none: RANK; a decoder: LAST) */
    OMNI_POOLING_MEAN = 1,         /* the average over all tokens, special ones included */
    OMNI_POOLING_CLS = 2,          /* the first token's ([CLS] / <s>) */
    OMNI_POOLING_LAST = 3,         /* the last token's */
    OMNI_POOLING_RANK = 4,         /* a cross-encoder's relevance score (omni_rerank) */
};

typedef struct omni_embedder_params {
    int n_threads;                 /* as omni_model_params.n_threads */
    int pooling;                   /* OMNI_POOLING_*; DEFAULT: the file's */
    int n_batch;                   /* most tokens in one forward (inputs are never split; a
                                    * longer input runs alone); default 2048 */
} omni_embedder_params;

omni_embedder_params omni_embedder_default_params(void);
/* params may be NULL. NULL with err set when the file is missing, not an encoder or
 * decoder we support, or broken. A vocabulary we cannot tokenize yet still loads:
 * token-id inputs work, text inputs then fail with the tokenizer's message. */
omni_embedder *omni_embedder_load(const char *path, const omni_embedder_params *params, char *err, size_t err_size);
void omni_embedder_free(omni_embedder *emb);              /* NULL is fine */

const char *omni_embedder_name(const omni_embedder *emb); /* general.name or the file name */
const char *omni_embedder_arch(const omni_embedder *emb); /* "bert", "qwen3", … */
int omni_embedder_n_embd(const omni_embedder *emb);       /* floats per vector */
int omni_embedder_n_ctx(const omni_embedder *emb);        /* most tokens in one input */
int omni_embedder_n_vocab(const omni_embedder *emb);
int omni_embedder_pooling(const omni_embedder *emb);      /* OMNI_POOLING_*, as resolved */
/* 1 when omni_rerank works: a classification head (pooling RANK). */
int omni_embedder_can_rerank(const omni_embedder *emb);

/* 1 when path is a GGUF this API is for (architecture bert, nomic-bert or jina-bert-v2,
 * or a file that declares a pooling type); 0 otherwise or when it cannot be read. Reads only the header. */
int omni_file_is_embedding_model(const char *path);

/* Tokenizes one input as llama-server does for embeddings: special tokens added as the
 * vocabulary asks ([CLS] … [SEP], <s> … </s>), special-token text parsed. Returns the
 * count with *tokens malloc'ed (free() it), or -1 with err set. */
int omni_embedder_tokenize(const omni_embedder *emb, const char *text, size_t len, int32_t **tokens, char *err,
                           size_t err_size);

/* One input: text (len bytes; tokenized as above) when tokens is NULL, else token ids
 * taken as they are (borrowed for the call). */
typedef struct omni_embed_input {
    const char *text;
    size_t len;
    const int32_t *tokens;
    int n_tokens;
} omni_embed_input;

/* Embeds n inputs, batching them into as few forward passes as n_batch allows. out gets
 * n × omni_embedder_n_embd floats in input order; normalize = 1 divides each by its L2
 * norm (llama-server's default), 0 leaves them as pooled. n_tokens (optional, n ints)
 * gets each input's token count. Errors (nothing computed): an empty input (no text or
 * no ids, even where the special tokens alone would make a sequence), one longer
 * than omni_embedder_n_ctx, an id outside the vocabulary, a rerank model (pooling RANK
 * gives scores, not vectors). Returns 0 or -1. */
int omni_embed(omni_embedder *emb, const omni_embed_input *inputs, int n, int normalize, float *out, int *n_tokens,
               char *err, size_t err_size);

/* Scores each document against the query with a cross-encoder: the pair as llama-server
 * builds it (BOS, query, EOS, SEP, document, EOS, as the vocabulary has them), scored by
 * the rerank head: the raw logit, llama-server's relevance_score (higher is more
 * relevant; no sigmoid). scores gets n_docs floats in document order; n_tokens
 * (optional) the total tokens. Returns 0 or -1 with err set (no head, a pair too long). */
int omni_rerank(omni_embedder *emb, const char *query, const char *const *docs, int n_docs, float *scores,
                int *n_tokens, char *err, size_t err_size);

/* ---- model files ---- */

typedef enum omni_file_format {
    OMNI_FILE_GGUF = 1,            /* a GGUF model, image encoder or vocabulary */
    OMNI_FILE_GGML = 2,            /* a whisper.cpp ggml file (a Whisper model or a VAD) */
} omni_file_format;

typedef struct omni_weight_type {
    const char *name;              /* "f16", "q8_0", "q4_K", … (static) */
    uint64_t bytes;
} omni_weight_type;

/* What a model file is, from its header and metadata (weights are never read). Strings
 * are NULL when absent; everything is owned by the struct (omni_file_info_free). */
typedef struct omni_file_info {
    omni_file_format format;       /* for OMNI_FILE_GGML only file_size is filled in */
    uint32_t version;              /* GGUF version */
    uint64_t file_size;            /* bytes */
    char *name;                    /* general.name */
    char *arch;                    /* general.architecture */
    char *license;                 /* general.license */
    char *chat_template;           /* tokenizer.chat_template */
    char *tokenizer;               /* tokenizer.ggml.model ("llama", "gpt2", …) */
    uint64_t n_tokens;             /* entries of tokenizer.ggml.tokens */
    int64_t n_ctx_train;           /* <arch>.context_length; 0 when absent */
    int64_t n_tensors;             /* 0: a vocabulary-only file */
    uint64_t n_params;             /* elements of all tensors */
    uint64_t weight_bytes;         /* bytes of all tensors */
    int n_types;                   /* weight types holding bytes, in ggml's type order */
    omni_weight_type *types;
} omni_file_info;

/* Fills *info (release with omni_file_info_free). 0, or -1 with err set (then *info
 * needs no freeing) when the file is neither GGUF nor whisper.cpp ggml. */
int omni_file_info_read(const char *path, omni_file_info *info, char *err, size_t err_size);
void omni_file_info_free(omni_file_info *info);

/* A tokenizer alone, from any GGUF that has a vocabulary (a whole model or a vocab-only
 * file); weights are never read. Read-only once loaded: any number of threads. */
typedef struct omni_vocab omni_vocab;

omni_vocab *omni_vocab_load(const char *path, char *err, size_t err_size);
void omni_vocab_free(omni_vocab *vocab);                  /* NULL is fine */
/* Tokenizes UTF-8 text as omni_tokenize does (add_special: BOS/EOS as the vocabulary
 * asks; parse_special: text like "<|im_start|>" becomes that token). Returns the count
 * with *tokens malloc'ed (free() it; NULL when the count is 0), or -1 with err set. */
int omni_vocab_tokenize(const omni_vocab *vocab, const char *text, size_t len, int add_special, int parse_special,
                        int32_t **tokens, char *err, size_t err_size);

/* ---- the model store ---- */

/* Downloaded models live in one folder: $OMNI_HOME, default ~/.local/share/omni/models.
 * Any thread; a pull and an rm of the same model at once are the caller's race. */

/* The store folder (not created): buf, or NULL when it does not fit in cap. */
const char *omni_store_dir(char *buf, size_t cap);
/* What a user typed after -m, as a file path: an existing file as is; else a store file
 * NAME, NAME.gguf or NAME.bin; else a catalog name whose file is in the store. Returns
 * buf, or NULL with err saying how to get the model ("run `omni pull NAME`"). */
const char *omni_store_resolve(const char *name_or_path, char *buf, size_t cap, char *err, size_t err_size);

typedef struct omni_store_entry {
    char *name;                    /* what -m takes: the file name without .gguf/.bin (a partial
                                    * download keeps its whole file name) */
    char *path;
    uint64_t size;                 /* bytes */
    int partial;                   /* an unfinished download (.part) */
} omni_store_entry;

/* The store's files (hidden ones left out), in alphasort order of their names. Returns
 * the count with *entries malloc'ed (omni_store_list_free; NULL when the count is 0), or
 * -1 with err set when the store folder cannot be read (e.g. it does not exist yet). */
int omni_store_list(omni_store_entry **entries, char *err, size_t err_size);
void omni_store_list_free(omni_store_entry *entries, int n);

typedef struct omni_pull_params {
    /* Called as bytes arrive, on the pulling thread: done/total bytes since the start of
     * the file (a resumed download starts above 0; total 0 when unknown). Optional. */
    void (*progress)(uint64_t done, uint64_t total, void *user);
    void *progress_user;
    const char *sha256;            /* expected checksum (hex) for a URL pull; NULL: none */
    long timeout_s;                /* give up when no byte arrives for this long (0: 30 s) */
    long connect_timeout_s;        /* 0: 15 s */
    int insecure;                  /* accept a download no checksum is known for (else refused) */
} omni_pull_params;

omni_pull_params omni_pull_default_params(void);

/* omni_store_pull's *verified. */
enum { OMNI_PULL_UNVERIFIED = 0, OMNI_PULL_VERIFIED = 1, OMNI_PULL_VERIFIED_HUB = 2 };

/* Downloads a catalog model or an http(s) URL into the store, resuming an earlier
 * partial download, checks its checksum (the catalog's or params->sha256; else the
 * SHA-256 and size the hub sends with it) and only then gives it its final name. With
 * none of these known the download is refused before its first byte is stored, unless
 * params->insecure. A file already present is not fetched again. Blocks. Fills path
 * (cap bytes) with the file and *verified with OMNI_PULL_VERIFIED (a known checksum),
 * OMNI_PULL_VERIFIED_HUB (the hub's) or OMNI_PULL_UNVERIFIED (none known, accepted with
 * params->insecure). params may be NULL. 0, or -1 with err set. */
int omni_store_pull(const char *name_or_url, const omni_pull_params *params, char *path, size_t cap, int *verified,
                    char *err, size_t err_size);
/* Removes a store model by name (NAME, NAME.gguf, NAME.bin or a catalog name) and its
 * partial download; never a file outside the store. Fills removed with what went. */
int omni_store_rm(const char *name, char *removed, size_t cap, char *err, size_t err_size);

/* The catalog of known-good downloadable models (catalog/models.json). */
typedef struct omni_catalog omni_catalog;

typedef struct omni_catalog_entry {
    const char *name;              /* "smollm2-360m-instruct-q8_0" */
    const char *repo;              /* the hub repository */
    const char *file;              /* the file in it */
    uint64_t size;                 /* bytes; 0: unknown */
    const char *purpose;           /* "chat", "speech-in", "voice-activity", … */
    const char *format;            /* "gguf", "whisper-ggml" */
    const char *languages;         /* comma-separated, for display */
    const char *license;
    const char *description;       /* what it is good at */
    uint64_t approx_size;          /* rounded size in bytes for display when size is unknown; 0: none */
} omni_catalog_entry;

/* path NULL: $OMNI_CATALOG, else the repository's catalog/models.json (next to the
 * binary's source tree or in the current folder), else /usr/share/omni/catalog. */
omni_catalog *omni_catalog_load(const char *path, char *err, size_t err_size);
void omni_catalog_free(omni_catalog *catalog);            /* NULL is fine */
int omni_catalog_count(const omni_catalog *catalog);
/* Entry i (0 <= i < count), in the file's order; borrowed from the catalog. */
const omni_catalog_entry *omni_catalog_get(const omni_catalog *catalog, int i);

/* ---- the model registry (many models, one server) ---- */

/* A server's models by name: the ones its caller pinned (loaded up front, never
 * unloaded) and, with use_store, every model file of the store ($OMNI_HOME), loaded on
 * first use and unloaded least-recently-used to stay within a memory budget, or after
 * an idle time (keep-alive), as ollama does. Each loaded chat model has its own engine
 * (one scheduler thread per model, all on the process's one compute pool, whose jobs run
 * one at a time), so a model is unloaded by stopping its engine; nothing is unloaded
 * while a request holds it.
 * Threads: every call may come from any thread (one mutex inside). omni_registry_acquire
 * blocks while the model loads (on a loader thread of its own, which goes on when the
 * caller stops waiting); what it returns stays valid until omni_registry_release. */
typedef struct omni_registry omni_registry;

typedef enum omni_model_kind {
    OMNI_KIND_CHAT = 1,            /* omni_model: chat and completions */
    OMNI_KIND_EMBEDDING = 2,       /* omni_embedder with vectors */
    OMNI_KIND_RERANK = 4,          /* omni_embedder with a rerank head */
    OMNI_KIND_ASR = 8,             /* omni_asr (a whisper.cpp ggml file) */
    OMNI_KIND_IMAGE_ENCODER = 16,  /* an mmproj: listed, but it serves a chat model, not requests */
} omni_model_kind;
/* "chat", "embedding", "rerank", "asr", "image-encoder" (static); NULL for others. */
const char *omni_model_kind_name(omni_model_kind kind);

/* keep_alive values: the registry's default, and never unload. 0 unloads as soon as the
 * last request using the model ends. */
#define OMNI_KEEP_ALIVE_DEFAULT INT64_MIN
#define OMNI_KEEP_ALIVE_FOREVER (-1)

typedef struct omni_registry_params {
    int use_store;                 /* serve the store's models too (default 0) */
    uint64_t memory_budget;        /* bytes the loaded models may take (file sizes + KV cache
                                    * estimate); 0: 75% of MemAvailable when the registry starts */
    int64_t keep_alive_ms;         /* idle time after which an on-demand model is unloaded
                                    * (default 5 min); 0: right after its last request; < 0: never */
    int n_threads;                 /* compute threads (omni_model_params.n_threads) */
    omni_engine_params engine;     /* for chat models loaded on demand */
    int pooling;                   /* for embedding models (OMNI_POOLING_*) */
    const char *vad_model;         /* Silero VAD for ASR models loaded on demand; NULL: none (copied) */
    /* Loading, unloading and their progress as one-line messages, on whichever thread
     * does it; optional. */
    void (*log)(const char *msg, void *user);
    void *log_user;
} omni_registry_params;

omni_registry_params omni_registry_default_params(void);
/* params may be NULL. NULL with err set when out of memory or a thread cannot start. */
omni_registry *omni_registry_new(const omni_registry_params *params, char *err, size_t err_size);
/* Unloads what it loaded (its engines stop) and frees it; call when nothing holds a
 * model any more (every acquire released). Pinned models stay the caller's. NULL is fine. */
void omni_registry_free(omni_registry *reg);

/* Pins a model the caller loaded (owned by the caller, outliving the registry) under id.
 * It is never unloaded and counts against the budget. Exactly one of model / embedder /
 * asr. -1 with err set when the id is taken. */
int omni_registry_pin(omni_registry *reg, const char *id, omni_model *model, omni_embedder *embedder, omni_asr *asr,
                      char *err, size_t err_size);
/* Requests for `alias` go to `target` (an id, or a store name found later): gpt-4o-mini,
 * text-embedding-3-small, whisper-1. A later alias of the same name replaces it. */
int omni_registry_alias(omni_registry *reg, const char *alias, const char *target, char *err, size_t err_size);

/* omni_registry_acquire's statuses besides OMNI_OK and OMNI_ERR_INVALID (the file does not
 * load: err says why) and OMNI_ERR_STOPPING. */
enum {
    OMNI_ERR_NOT_FOUND = -4,       /* no such model (err lists what there is) */
    OMNI_ERR_WRONG_KIND = -5,      /* a model of another kind (err names its kind) */
    OMNI_ERR_LOADING = -6,         /* still loading (or waiting for memory) after timeout_ms: retry */
};

/* A model held for a request (omni_registry_acquire). */
typedef struct omni_registry_ref {
    omni_model_kind kind;
    const char *id;                /* the registry's id (aliases resolved) */
    omni_model *model;             /* OMNI_KIND_CHAT */
    omni_embedder *embedder;       /* OMNI_KIND_EMBEDDING, OMNI_KIND_RERANK */
    omni_asr *asr;                 /* OMNI_KIND_ASR */
    void *entry_;                  /* the registry's own */
} omni_registry_ref;

/* Finds `name` (an id, an alias, a store file name with or without .gguf/.bin, or a
 * pinned chat model's general.name; NULL or "": the first pinned model of those kinds,
 * else the loaded one used last, else the first by id) among the models of the kinds in the `kinds` mask,
 * rescanning the store on a miss, and holds it, loading it first (and unloading idle
 * models least-recently-used when the budget needs room). Waits up to timeout_ms (< 0:
 * as long as it takes) for the load. OMNI_OK with *ref filled (release it with
 * omni_registry_release), else a status above with err set. */
int omni_registry_acquire(omni_registry *reg, const char *name, int kinds, int timeout_ms, omni_registry_ref *ref,
                          char *err, size_t err_size);
/* Ends the hold. keep_alive_ms: how long the model stays loaded once idle, counted from
 * now (OMNI_KEEP_ALIVE_DEFAULT: the registry's; ignored for pinned models). */
void omni_registry_release(omni_registry *reg, omni_registry_ref *ref, int64_t keep_alive_ms);
/* Loads a model without a request (acquire + release with keep_alive_ms). */
int omni_registry_load(omni_registry *reg, const char *name, int64_t keep_alive_ms, int timeout_ms, char *err,
                       size_t err_size);
/* Unloads a model now when it is idle (0; also when it was not loaded), else as soon as its
 * last request ends (1). OMNI_ERR_NOT_FOUND or OMNI_ERR_INVALID (pinned) with err set. */
int omni_registry_unload(omni_registry *reg, const char *name, char *err, size_t err_size);

/* One model as omni_registry_list reports it; strings owned by the array. */
typedef struct omni_registry_model {
    char *id;
    char *path;                    /* NULL for a pinned model given as an object */
    omni_model_kind kind;
    uint64_t file_size;            /* bytes on disk (0 when pinned as an object) */
    uint64_t memory;               /* bytes it takes (or would take) loaded: weights + KV estimate */
    int pinned;
    int loaded;                    /* 1: loaded; 0: on disk; 2: loading */
    int active;                    /* requests holding it */
    int64_t loaded_at;             /* Unix ms; 0 when not loaded */
    int64_t expires_at;            /* Unix ms of the idle unload; 0: never (pinned, keep-alive -1,
                                    * or in use); -1 when not loaded */
    int n_ctx;                     /* loaded: the context a request gets (chat) or takes (embedding); else 0 */
} omni_registry_model;

/* The registry's models: loaded_only = 1 lists the loaded ones (an ollama /api/ps view),
 * 0 every one (rescanning the store first, so a model pulled since appears), chat models
 * first, then by id. Returns the count with *out malloc'ed (omni_registry_list_free), or
 * -1 with err set. */
int omni_registry_list(omni_registry *reg, int loaded_only, omni_registry_model **out, char *err, size_t err_size);
void omni_registry_list_free(omni_registry_model *models, int n);
/* Ends every queued and running request of the loaded chat models (omni_model_cancel_all),
 * for a server's shutdown. */
void omni_registry_cancel_all(omni_registry *reg);
/* The memory budget in bytes, and what the loaded models take now. */
void omni_registry_memory(omni_registry *reg, uint64_t *budget, uint64_t *used);

/* ---- fine-tuning (LoRA) ---- */

/* Trains a LoRA adapter (rank r on the q, k, v, o, gate, up and down projections of every
 * layer) for a llama, qwen2 or qwen3 model whose weights stay frozen in their file's type
 * (F32, F16, BF16, Q8_0, Q4_K, ...: dequantised on the fly), and writes it in llama.cpp's
 * LoRA GGUF format (general.type "adapter"), which --lora and llama.cpp load.
 *
 * data_path: supervised examples, OpenAI's chat fine-tuning JSONL ({"messages": [...]},
 * rendered through the model's chat template, ChatML when it has none; the loss covers the
 * assistant turns only, minus those with "weight": 0) or {"prompt", "completion"} lines
 * (loss on the completion and EOS). dpo_path: preference pairs, OpenAI's DPO JSONL
 * ({"input": {"messages": [...]}, "preferred_output": [...], "non_preferred_output":
 * [...]}), DPO loss against the frozen base as the reference. Either or both (their items
 * are shuffled together). Items longer than ctx tokens are cut to ctx.
 *
 * Optimizer: AdamW, linear warm-up then cosine decay to lr / 10, gradient norm clipped to
 * 1, gradients accumulated over `batch` items per step. The same seed and data give the
 * same adapter bit for bit, whatever the thread count, and whether the run went through
 * or was stopped and resumed from its checkpoint (on one CPU level: the scalar matmul
 * sums in another order than the SIMD ones). */
typedef struct omni_finetune_progress {
    int step, n_steps;        /* steps done (1-based after the first), of all */
    int epoch, n_epochs;      /* the current epoch, 1-based */
    double loss;              /* this step's loss: mean SFT token loss + mean DPO pair loss */
    double lr;                /* the learning rate it used */
    double tokens_per_s;      /* tokens through forward+backward per second in this run */
    double eta_s;             /* seconds left at that pace */
    long long tokens;         /* tokens trained in this run */
} omni_finetune_progress;

typedef struct omni_finetune_params {
    const char *model_path;   /* the base GGUF */
    const char *data_path;    /* SFT JSONL or NULL */
    const char *dpo_path;     /* DPO pairs JSONL or NULL */
    const char *out_path;     /* the adapter GGUF to write */
    const char *checkpoint_path; /* NULL: none; else written every checkpoint_every steps
                                  * (0: only when stopped or done) */
    int checkpoint_every;
    const char *resume_path;  /* a checkpoint of the same settings and data to continue */
    int rank;                 /* 16 */
    float alpha;              /* 32: the update is scaled by alpha / rank */
    int epochs;               /* 3 */
    float lr;                 /* 1e-4 peak */
    int batch;                /* 4 items per optimizer step */
    int ctx;                  /* 512 tokens at most per item */
    int warmup;               /* steps of linear warm-up; < 0: 5% of the steps */
    float weight_decay;       /* 0 */
    float dpo_beta;           /* 0.1 */
    uint64_t seed;            /* 42: adapter init and data order */
    int n_threads;            /* <= 0: all cores */
    int max_steps;            /* > 0: stop (as if cancelled) after this many steps of this run */
    void (*progress)(const omni_finetune_progress *p, void *user);  /* after every step, optional */
    void *user;
    const volatile int *cancel; /* optional: nonzero stops at the next step, checkpoint written */
    /* 1: a background run beside a server: this thread's compute waits while any model's
     * engine has requests (chat keeps its cores), and runs at the lowest CPU priority */
    int background;
    /* optional: after each checkpoint_every save, with out_path holding the adapter of
     * that step (copy it to keep it) and that step's loss */
    void (*on_checkpoint)(int step, double loss, void *user);
} omni_finetune_params;

omni_finetune_params omni_finetune_default_params(void);
/* 0 when training finished and out_path is written; 1 when it stopped early (cancel or
 * max_steps: the checkpoint, if any, and out_path hold the adapter so far); -1 with err
 * on bad input (unreadable data with its line number, an unsupported model, a checkpoint
 * of other settings) or out of memory. */
int omni_finetune(const omni_finetune_params *p, char *err, size_t err_size);

/* ---- bytes at the edges ---- */

/* A copy of s[0, len) in which every byte that does not start a valid UTF-8 character
 * becomes U+FFFD (speech tokens can split characters; JSON must not). malloc'ed (free()
 * it); NULL when out of memory. */
char *omni_utf8_sanitize(const char *s, size_t len);
/* Standard base64 (padding optional, whitespace skipped, the URL-safe alphabet too) to
 * bytes: 0 with *out malloc'ed (free() it) and *out_len set, or -1 with err saying where
 * the text went wrong. */
int omni_base64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len, char *err, size_t err_size);
/* A "data:MEDIA/TYPE[;params];base64,PAYLOAD" URI: mime gets the media type (lower-case,
 * cut to mime_cap), *out the decoded bytes as omni_base64_decode gives them. */
int omni_data_uri_decode(const char *uri, char *mime, size_t mime_cap, uint8_t **out, size_t *out_len, char *err,
                         size_t err_size);

#ifdef __cplusplus
}
#endif
#endif

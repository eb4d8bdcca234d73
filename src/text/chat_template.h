/* Chat templates: renders a conversation into the prompt text a model was
 * trained on, by running the model's Jinja chat template (tokenizer.chat_template)
 * the way HF's apply_chat_template does. ChatML is the fallback for models
 * that ship no template. */
#ifndef OMNI_TEXT_CHAT_TEMPLATE_H
#define OMNI_TEXT_CHAT_TEMPLATE_H
#include "core/error.h"

struct chat_message {
    const char *role;         /* "system", "user", "assistant", "tool" */
    const char *content;      /* NULL renders as none (e.g. an assistant turn with only tool calls) */
    const char *name;         /* optional */
    const char *tool_call_id; /* optional, for role "tool" */
    const char *tool_calls;   /* optional JSON array in OpenAI form; a function's "arguments"
                                 string holding a JSON object is passed to the template as an
                                 object, since templates apply tojson to it */
};

struct chat_render_opts {
    int add_generation_prompt;
    const char *bos_token;   /* NULL = "" */
    const char *eos_token;   /* NULL = "" */
    const char *tools;       /* JSON array of OpenAI tool definitions, or NULL */
    const char *date_string; /* Llama 3.x "Today Date"; NULL = today as "26 Jul 2024" style */
    const char *extra_json;  /* JSON object of more variables (e.g. {"enable_thinking": false}), or NULL */
};

/* Renders msgs with template_src (NULL = ChatML). *out is malloc'ed. Errors
 * name the template line/column, or the message whose JSON is bad. A template's
 * raise_exception() (e.g. "roles must alternate") fails with its message. */
int chat_render(const char *template_src, const struct chat_message *msgs, int n_msgs,
                const struct chat_render_opts *opts, char **out, struct err *e);

/* 0 when the template leaves out a leading system message or refuses it (Gemma 2 raises
 * "System role not supported"), found by rendering a probe conversation; 1 otherwise.
 * Callers then fold the system text into the first user message, as llama.cpp does. */
int chat_template_supports_system(const char *template_src);

/* The ChatML template used when a model has none. */
const char *chat_template_chatml(void);

#endif

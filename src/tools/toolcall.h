/* Function calling for the OpenAI-style APIs: the request's `tools`, `tool_choice` and
 * `parallel_tool_calls` validated; what the model's chat template needs to show them
 * (the "tools" template variable, or an instruction for templates that know no tools);
 * how a call is forced (the family's call prefix, then JSON sampled under a schema);
 * and the parsers that turn each family's own tool-call syntax in the reply back into
 * OpenAI tool_calls, whole or while it streams.
 *
 * Families (tool_format_detect reads the chat template and the architecture):
 *   hermes       <tool_call>{"name": …, "arguments": {…}}</tool_call>   Qwen2.5/Qwen3, Hermes,
 *                EXAONE 4, SmolLM3 (several blocks = parallel calls)
 *   qwen3-coder  <tool_call><function=NAME><parameter=P>V</parameter></function></tool_call> (Qwen3.5)
 *   llama3       {"name": …, "parameters": {…}} as the whole reply, or <|python_tag|> then
 *                that JSON (several separated by ';') or NAME.call(k=v, …)
 *   mistral      [TOOL_CALLS][{"name": …, "arguments": {…}, "id": …}, …]  or
 *                [TOOL_CALLS]NAME[ARGS]{…} (newer templates), repeated
 *   phi4         <|tool_call|>[{"name": …, "arguments": {…}}, …]<|/tool_call|> (or one object),
 *                functools[…]
 *   gpt-oss      <|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{…}<|call|>
 *   generic      templates without tools (Gemma 3, Phi-3, ChatML): the instruction asks for
 *                {"tool_calls": [{"name": …, "arguments": {…}}]}; also accepted: one
 *                {"name", "arguments"} object, either in a ```json or ```tool_code fence,
 *                and Gemma's Python-style calls (```tool_code name(k=v)``` or [name(k=v), …]).
 * Anything that does not parse as a call stays content: a reply never fails for it.
 *
 * Constraining (the arguments always parse and validate):
 *   auto      the model writes freely; once it opens a call in its family's syntax the JSON
 *             after the opening is sampled under the call's schema (tool_lazy_build →
 *             omni_generate_params.lazy_json), then the text is free again, so parallel
 *             calls are the model's choice.
 *   required  the reply is made to start with the family's call opening (appended to the
 *   / named   prompt) and what follows is sampled under the schema of one call of the
 *             allowed tools (tool_forced), then the reply ends.
 *   parallel  in the families whose calls are one JSON array (the generic instruction,
 *             Phi-4, Mistral's list), required/named force an array of min_tool_calls to
 *             max_tool_calls calls (omni's extension; default 1 to unbounded with
 *             parallel_tool_calls, exactly 1 without); elsewhere a forced reply is one call
 *             and a larger min_tool_calls is refused. */
#ifndef OMNI_TOOLS_TOOLCALL_H
#define OMNI_TOOLS_TOOLCALL_H
#include <stddef.h>

#include <cJSON.h>

#include "omni.h"

enum tool_format {
    TOOL_FMT_HERMES,
    TOOL_FMT_QWEN3_CODER,
    TOOL_FMT_LLAMA3,
    TOOL_FMT_MISTRAL,
    TOOL_FMT_PHI4,
    TOOL_FMT_GPT_OSS,
    TOOL_FMT_GENERIC,
    TOOL_FMT_COUNT
};

/* From the model's chat template (NULL: none) and its architecture name. */
enum tool_format tool_format_detect(const char *chat_template, const char *arch);
const char *tool_format_name(enum tool_format f);
/* 1 when the template renders `tools` itself (else tool_instructions is used). */
int tool_template_native(const char *chat_template);

enum tool_choice { TOOL_CHOICE_AUTO, TOOL_CHOICE_NONE, TOOL_CHOICE_REQUIRED, TOOL_CHOICE_NAMED };

struct tool_request {
    cJSON *tools;            /* the request's tools (a copy), NULL when none */
    int n_tools;
    enum tool_choice choice;
    char named[72];          /* TOOL_CHOICE_NAMED: the function */
    int parallel;            /* parallel_tool_calls (default true) */
    int min_calls, max_calls;/* calls the reply must/may make (forced modes); max 0: no bound */
    enum tool_format fmt;
    int native;              /* the template shows tools itself */
    int mistral_args;        /* Mistral's newer NAME[ARGS]{…} syntax (the template has [ARGS]) */
};

/* Reads tools, tool_choice, parallel_tool_calls (and omni's min_tool_calls /
 * max_tool_calls) from a chat completions body. 0, or -1 with param/msg for a 400.
 * tr->tools stays NULL when the body has no tools (then nothing else applies). */
int tool_request_parse(const cJSON *body, const char *chat_template, const char *arch, struct tool_request *tr,
                       char *param, size_t param_cap, char *msg, size_t msg_cap);
void tool_request_free(struct tool_request *tr);
/* 1 when the reply is to be parsed for calls (tools given and tool_choice not none). */
int tool_request_active(const struct tool_request *tr);

/* template_kwargs (JSON object text or NULL) with "tools" added for a native template.
 * malloc'ed; NULL when out of memory. */
char *tool_template_kwargs(const struct tool_request *tr, const char *template_kwargs);
/* For a template without tools: the text to put at the top of the system message that
 * describes the tools and the call syntax (malloc'ed). */
char *tool_instructions(const struct tool_request *tr);
/* For a template without tools: an assistant turn's OpenAI tool_calls array written in
 * the generic syntax (malloc'ed), so the model sees its earlier calls as it made them. */
char *tool_calls_as_text(const cJSON *tool_calls);

/* When tool_choice forces a call (required / named): the text the reply is made to
 * start with (*prefix, may be "") and the JSON schema the rest must match (*schema,
 * NULL when the family's calls are not JSON). Both malloc'ed. Returns 0, 1 when nothing
 * is forced (auto/none), -1 out of memory. */
int tool_forced(const struct tool_request *tr, char **prefix, char **schema);

/* The constraint for calls the model makes on its own (tool_choice auto, or a forced
 * reply whose call is not JSON right after the prefix): each family's call opening as a
 * trigger, and the schema of what follows, for omni_generate_params.lazy_json. */
struct tool_lazy {
    omni_lazy_json *items;
    int n;
    char **owned;
    int n_owned;
};
/* prefix: the forced prefix (NULL/"" when none). 0 (l->n may be 0: the family's calls
 * cannot be constrained so), or -1 out of memory. */
int tool_lazy_build(const struct tool_request *tr, const char *prefix, struct tool_lazy *l);
void tool_lazy_free(struct tool_lazy *l);

/* ---- parsing ---- */

struct tool_call {
    char *name;
    char *arguments;         /* JSON text as the model wrote it (partial while streaming) */
    int complete;            /* the arguments ended */
};

struct tool_parse {
    char *content;           /* the text that is not a call ("" when none) */
    struct tool_call *calls;
    int n_calls;
};

/* Parses a reply. partial = 1 while it is still streaming: content leaves out a tail
 * that may begin a call, and an unfinished call is returned with complete = 0 once its
 * name is known. 0, or -1 when out of memory. */
int tool_parse(enum tool_format f, const char *text, size_t len, int partial, struct tool_parse *out);
void tool_parse_free(struct tool_parse *p);

/* A fresh call id, "call_" + 24 letters and digits. */
void tool_call_id(char *out, size_t cap);

#endif

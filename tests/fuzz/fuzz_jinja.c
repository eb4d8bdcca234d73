/* libFuzzer target for chat templates from model files: the input is a template's
 * source, parsed and rendered with a small fixed conversation (tools, a tool call,
 * thinking, an image part). It must render or fail with a message, within the
 * limits it was given: never crash, hang, or use more output, steps or memory.
 * The limits are smaller than the defaults so each input runs in milliseconds.
 * Built by tests/fuzz/build.sh; tests/fuzz/test_fuzz_jinja.c replays the corpus. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/jinja.h"

static const char CONTEXT[] =
    "{\"messages\": ["
    "{\"role\": \"system\", \"content\": \"You are a helpful assistant.\"},"
    "{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"What is in \"}, {\"type\": \"image\"}]},"
    "{\"role\": \"assistant\", \"content\": \"<think>\\nhmm\\n</think>\\n\\nLet me look.\", \"tool_calls\": ["
    "{\"id\": \"call_1\", \"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}}]},"
    "{\"role\": \"tool\", \"tool_call_id\": \"call_1\", \"content\": \"{\\\"temp\\\": 21}\"},"
    "{\"role\": \"user\", \"content\": \"안녕하세요! \\u00e9\\u0000x\"}],"
    "\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Weather\","
    "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}],"
    "\"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"date_string\": \"26 Jul 2024\","
    "\"enable_thinking\": false}";

static const struct jinja_limits FUZZ_LIMITS = {
    .max_steps = 200000,
    .max_iterations = 20000,
    .max_calls = 16,
    .max_nesting = 100,
    .max_output = 1 << 20,
    .max_memory = 16 << 20,
};

static int fuzz_setup(void) { return 0; } /* nothing to load (replay.h calls it too) */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fuzz_setup()) return 0;
    /* a fresh context each time: templates may mutate it (messages.append(...)) */
    struct err ce = {{0}};
    struct jv *ctx = jv_from_json(CONTEXT, &ce);
    if (!ctx) { fprintf(stderr, "fuzz_jinja: bad context: %s\n", ce.msg); abort(); }
    char *src = malloc(size + 1);
    if (!src) { jv_unref(ctx); return 0; }
    memcpy(src, data, size);
    src[size] = 0; /* a NUL inside ends the template early, as it would from a GGUF string */
    struct err e = {{0}};
    struct jinja_template *t = jinja_parse(src, &e);
    if (!t) {
        if (!e.msg[0]) abort(); /* every failure says why */
    } else {
        char *out = NULL;
        struct jinja_usage u = {0};
        int rc = jinja_render_limited(t, ctx, &FUZZ_LIMITS, &out, &u, &e);
        if (rc && !e.msg[0]) abort();
        if (!rc && (!out || strlen(out) > FUZZ_LIMITS.max_output)) abort();
        /* a step may overshoot by one charge, never by a lot */
        if (u.steps > FUZZ_LIMITS.max_steps + (1 << 20) || u.memory > FUZZ_LIMITS.max_memory ||
            u.iterations > FUZZ_LIMITS.max_iterations + 1 || u.max_nesting > FUZZ_LIMITS.max_nesting)
            abort();
        free(out);
        jinja_free(t);
    }
    free(src);
    jv_unref(ctx);
    return 0;
}

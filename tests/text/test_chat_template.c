/* Chat template tests with real model templates: SmolLM2 and Phi-3 read from
 * their GGUF files, Mistral, Gemma, Llama 3 and Qwen2.5 (tools) from
 * tests/text/templates. Expected prompts are written from each model's
 * documented prompt format and compared byte for byte. */
#include <time.h>

#include "test.h"
#include "formats/gguf.h"
#include "text/chat_template.h"

#define TPL_DIR "tests/text/templates/"

static char *gguf_template(const char *path) {
    struct err e;
    struct gguf *g = gguf_open(path, &e);
    if (!g) return NULL;
    char *s = gguf_get_str_dup(g, "tokenizer.chat_template");
    gguf_close(g);
    return s;
}

/* system + user + assistant + user, with Korean content */
static const struct chat_message CONV[] = {
    {.role = "system", .content = "You are a helpful assistant."},
    {.role = "user", .content = "안녕하세요!"},
    {.role = "assistant", .content = "   안녕하세요, 무엇을 도와드릴까요?   "},
    {.role = "user", .content = "What is 2+2?"},
};

static char *render(const char *tpl, const struct chat_message *m, int n, const struct chat_render_opts *o, struct err *e) {
    char *out = NULL;
    if (chat_render(tpl, m, n, o, &out, e)) return NULL;
    return out;
}

TEST(smollm2_from_gguf) {
    char *tpl = gguf_template(model_path("synth/synth-smollm2-f16.gguf"));
    REQUIRE(tpl != NULL, "no chat template in %s", model_path("synth/synth-smollm2-f16.gguf"));
    struct chat_render_opts o = {.add_generation_prompt = 1};
    struct err e = {{0}};
    char *out = render(tpl, CONV, 4, &o, &e);
    CHECK_STR(out,
              "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
              "<|im_start|>user\n안녕하세요!<|im_end|>\n"
              "<|im_start|>assistant\n   안녕하세요, 무엇을 도와드릴까요?   <|im_end|>\n"
              "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
              "<|im_start|>assistant\n");
    free(out);
    /* no system message: SmolLM2 inserts its own */
    o.add_generation_prompt = 0;
    out = render(tpl, CONV + 1, 1, &o, &e);
    CHECK_STR(out, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
                   "<|im_start|>user\n안녕하세요!<|im_end|>\n");
    free(out);
    free(tpl);
}

TEST(phi3_from_gguf) {
    char *tpl = gguf_template(model_path("vocab/ggml-vocab-phi-3.gguf"));
    REQUIRE(tpl != NULL, "no chat template in %s", model_path("vocab/ggml-vocab-phi-3.gguf"));
    struct chat_render_opts o = {.add_generation_prompt = 1, .bos_token = "<s>", .eos_token = "<|endoftext|>"};
    struct err e = {{0}};
    char *out = render(tpl, CONV, 4, &o, &e);
    /* this Phi-3 template drops system turns and always opens the assistant turn */
    CHECK_STR(out, "<s><|user|>\n안녕하세요!<|end|>\n<|assistant|>\n"
                   "   안녕하세요, 무엇을 도와드릴까요?   <|end|>\n"
                   "<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n");
    free(out);
    free(tpl);
}

TEST(mistral_v02) {
    char *tpl = read_file(TPL_DIR "mistral-7b-instruct-v0.2.jinja", NULL);
    CHECK(tpl != NULL);
    if (!tpl) return;
    struct chat_render_opts o = {.add_generation_prompt = 1, .bos_token = "<s>", .eos_token = "</s>"};
    struct err e = {{0}};
    char *out = render(tpl, CONV + 1, 3, &o, &e);
    CHECK_STR(out, "<s>[INST] 안녕하세요! [/INST]   안녕하세요, 무엇을 도와드릴까요?   </s>[INST] What is 2+2? [/INST]");
    free(out);
    /* a system turn breaks the strict alternation the template enforces */
    out = render(tpl, CONV, 4, &o, &e);
    CHECK(out == NULL);
    CHECK_MSG(strstr(e.msg, "Conversation roles must alternate user/assistant/user/assistant/...") != NULL, "got: %s", e.msg);
    CHECK_MSG(strstr(e.msg, "line 1") != NULL, "error should carry a position: %s", e.msg);
    free(out);
    free(tpl);
}

TEST(gemma) {
    char *tpl = read_file(TPL_DIR "gemma-7b-it.jinja", NULL);
    CHECK(tpl != NULL);
    if (!tpl) return;
    struct chat_render_opts o = {.add_generation_prompt = 1, .bos_token = "<bos>"};
    struct err e = {{0}};
    char *out = render(tpl, CONV + 1, 3, &o, &e);
    CHECK_STR(out, "<start_of_turn>user\n안녕하세요!<end_of_turn>\n"
                   "<start_of_turn>model\n안녕하세요, 무엇을 도와드릴까요?<end_of_turn>\n"
                   "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n"
                   "<start_of_turn>model\n");
    free(out);
    out = render(tpl, CONV, 4, &o, &e);
    CHECK(out == NULL && strstr(e.msg, "System role not supported"));
    free(out);
    free(tpl);
}

TEST(llama3) {
    char *tpl = read_file(TPL_DIR "llama3.jinja", NULL);
    CHECK(tpl != NULL);
    if (!tpl) return;
    struct chat_render_opts o = {.add_generation_prompt = 1, .bos_token = "<|begin_of_text|>", .eos_token = "<|eot_id|>"};
    struct err e = {{0}};
    char *out = render(tpl, CONV, 4, &o, &e);
    CHECK_STR(out, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
                   "<|start_header_id|>user<|end_header_id|>\n\n안녕하세요!<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\n안녕하세요, 무엇을 도와드릴까요?<|eot_id|>"
                   "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\n");
    free(out);
    free(tpl);
}

TEST(llama31_date_and_tools) {
    char *tpl = read_file(TPL_DIR "llama3.1-instruct.jinja", NULL);
    CHECK(tpl != NULL);
    if (!tpl) return;
    struct chat_render_opts o = {.add_generation_prompt = 1, .bos_token = "<|begin_of_text|>", .date_string = "26 Jul 2024"};
    struct err e = {{0}};
    char *out = render(tpl, CONV, 4, &o, &e);
    CHECK_STR(out, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                   "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
                   "You are a helpful assistant.<|eot_id|>"
                   "<|start_header_id|>user<|end_header_id|>\n\n안녕하세요!<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\n안녕하세요, 무엇을 도와드릴까요?<|eot_id|>"
                   "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\n");
    free(out);

    /* tools go into the first user turn (tools_in_user_message defaults to true) */
    const struct chat_message conv[] = {
        {.role = "user", .content = "서울 날씨 어때?"},
        {.role = "assistant", .content = NULL,
         .tool_calls = "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": \"{\\\"location\\\": \\\"Seoul\\\"}\"}}]"},
        {.role = "tool", .content = "sunny"},
    };
    o.date_string = "01 Jan 2025";
    o.tools = "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\"}}}]";
    out = render(tpl, conv, 3, &o, &e);
    CHECK_MSG(out != NULL, "%s", e.msg);
    CHECK_STR(out, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                   "Environment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 01 Jan 2025\n\n<|eot_id|>"
                   "<|start_header_id|>user<|end_header_id|>\n\n"
                   "Given the following functions, please respond with a JSON for a function call with its proper arguments "
                   "that best answers the given prompt.\n\n"
                   "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}."
                   "Do not use variables.\n\n"
                   "{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"get_weather\",\n"
                   "        \"parameters\": {\n            \"type\": \"object\"\n        }\n    }\n}\n\n"
                   "서울 날씨 어때?<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"get_weather\", \"parameters\": {\"location\": \"Seoul\"}}<|eot_id|>"
                   /* a string is "iterable" to Jinja, so the template JSON-quotes tool output */
                   "<|start_header_id|>ipython<|end_header_id|>\n\n\"sunny\"<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\n");
    free(out);
    free(tpl);
}

TEST(qwen25_plain_and_tools) {
    char *tpl = read_file(TPL_DIR "qwen2.5-instruct.jinja", NULL);
    CHECK(tpl != NULL);
    if (!tpl) return;
    struct chat_render_opts o = {.add_generation_prompt = 1, .eos_token = "<|im_end|>"};
    struct err e = {{0}};
    char *out = render(tpl, CONV, 4, &o, &e);
    CHECK_STR(out,
              "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
              "<|im_start|>user\n안녕하세요!<|im_end|>\n"
              "<|im_start|>assistant\n   안녕하세요, 무엇을 도와드릴까요?   <|im_end|>\n"
              "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
              "<|im_start|>assistant\n");
    free(out);
    out = render(tpl, CONV + 3, 1, &o, &e); /* default system prompt */
    CHECK_STR(out, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
                   "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n");
    free(out);

    /* tool calling: the tool list, an assistant call (arguments given as an
     * OpenAI JSON string) and the tool's answer */
    const struct chat_message conv[] = {
        {.role = "user", .content = "서울 날씨 어때?"},
        {.role = "assistant", .content = NULL,
         .tool_calls = "[{\"id\": \"c1\", \"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": \"{\\\"location\\\": \\\"Seoul\\\"}\"}}]"},
        {.role = "tool", .content = "{\"temp\": 21}", .tool_call_id = "c1"},
    };
    o.tools = "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"location\": {\"type\": \"string\"}}}}}]";
    out = render(tpl, conv, 3, &o, &e);
    CHECK_MSG(out != NULL, "%s", e.msg);
    if (out) {
        const char *head = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools\n\n"
                           "You may call one or more functions to assist with the user query.\n\n"
                           "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
                           "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\", "
                           "\"properties\": {\"location\": {\"type\": \"string\"}}}}}\n</tools>\n\n";
        CHECK_MSG(!strncmp(out, head, strlen(head)), "tools header:\n%s", out);
        const char *tail = "<|im_start|>user\n서울 날씨 어때?<|im_end|>\n"
                           "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Seoul\"}}\n</tool_call><|im_end|>\n"
                           "<|im_start|>user\n<tool_response>\n{\"temp\": 21}\n</tool_response><|im_end|>\n"
                           "<|im_start|>assistant\n";
        size_t n = strlen(out), k = strlen(tail);
        CHECK_MSG(n > k && !strcmp(out + n - k, tail), "tool turns:\n%s", out);
    }
    free(out);
    free(tpl);
}

/* gpt-oss's harmony template (openai/gpt-oss-120b, as the reference build ships it): its
 * fixed system message with today's date and the reasoning effort, the system prompt as
 * developer instructions, past assistant turns on the final channel. The expected text
 * is what HF's jinja2 (trim_blocks, lstrip_blocks) gives for these conversations; for the
 * first, the reference build's --jinja rendering (llama-server /apply-template) too. */
TEST(gpt_oss_harmony) {
    char *tpl = read_file(TPL_DIR "gpt-oss.jinja", NULL);
    CHECK(tpl != NULL);
    if (!tpl) return;
    char date[32], head[512];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    const char *fmt = "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
                      "Knowledge cutoff: 2024-06\nCurrent date: %s\n\nReasoning: %s\n\n"
                      "# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|>";
    static const struct chat_message sys_user[] = {
        {.role = "system", .content = "You are a helpful assistant."},
        {.role = "user", .content = "Hello!"},
    };
    struct chat_render_opts o = {.add_generation_prompt = 1, .bos_token = "<|startoftext|>", .eos_token = "<|return|>"};
    struct err e = {{0}};
    char want[2048];
    snprintf(head, sizeof head, fmt, date, "medium");
    snprintf(want, sizeof want, "%s<|start|>developer<|message|># Instructions\n\nYou are a helpful assistant.\n\n<|end|>"
             "<|start|>user<|message|>Hello!<|end|><|start|>assistant", head);
    char *out = render(tpl, sys_user, 2, &o, &e);
    CHECK_MSG(out != NULL, "%s", e.msg);
    CHECK_STR(out, want);
    free(out);
    /* the reasoning effort as a template variable */
    o.extra_json = "{\"reasoning_effort\": \"high\"}";
    snprintf(head, sizeof head, fmt, date, "high");
    snprintf(want, sizeof want, "%s<|start|>developer<|message|># Instructions\n\nYou are a helpful assistant.\n\n<|end|>"
             "<|start|>user<|message|>Hello!<|end|><|start|>assistant", head);
    out = render(tpl, sys_user, 2, &o, &e);
    CHECK_MSG(out != NULL, "%s", e.msg);
    CHECK_STR(out, want);
    free(out);
    o.extra_json = NULL;
    /* a past assistant turn goes on the final channel; no system prompt, no developer message */
    static const struct chat_message turns[] = {
        {.role = "user", .content = "Hi"},
        {.role = "assistant", .content = "Hello! How can I help?"},
        {.role = "user", .content = "What is 2+2?"},
    };
    snprintf(head, sizeof head, fmt, date, "medium");
    snprintf(want, sizeof want, "%s<|start|>user<|message|>Hi<|end|><|start|>assistant<|channel|>final<|message|>"
             "Hello! How can I help?<|end|><|start|>user<|message|>What is 2+2?<|end|><|start|>assistant", head);
    out = render(tpl, turns, 3, &o, &e);
    CHECK_MSG(out != NULL, "%s", e.msg);
    CHECK_STR(out, want);
    free(out);
    free(tpl);
}

TEST(chatml_fallback) {
    struct chat_render_opts o = {.add_generation_prompt = 1};
    struct err e = {{0}};
    char *out = render(NULL, CONV + 1, 1, &o, &e);
    CHECK_STR(out, "<|im_start|>user\n안녕하세요!<|im_end|>\n<|im_start|>assistant\n");
    free(out);
    CHECK(strstr(chat_template_chatml(), "<|im_start|>") != NULL);
}

TEST(context_variables) {
    const char *tpl = "{{ date_string }}|{{ enable_thinking }}|{{ messages[0].name }}|{{ tools is defined }}";
    struct chat_message m = {.role = "user", .content = "x", .name = "bob"};
    struct chat_render_opts o = {.date_string = "26 Jul 2024", .extra_json = "{\"enable_thinking\": false}"};
    struct err e = {{0}};
    char *out = render(tpl, &m, 1, &o, &e);
    CHECK_STR(out, "26 Jul 2024|False|bob|False");
    free(out);
}

TEST(bad_input) {
    struct err e = {{0}};
    struct chat_render_opts o = {.tools = "[{broken"};
    char *out = render(NULL, CONV, 1, &o, &e);
    CHECK(out == NULL && strstr(e.msg, "tools"));
    struct chat_message m = {.role = "assistant", .content = NULL, .tool_calls = "{\"not\": \"a list\"}"};
    out = render(NULL, &m, 1, NULL, &e);
    CHECK(out == NULL && strstr(e.msg, "tool_calls"));
    out = render("{% if %}", CONV, 1, NULL, &e);
    CHECK(out == NULL && strstr(e.msg, "chat template: template line 1"));
    struct chat_message norole = {.content = "x"};
    out = render(NULL, &norole, 1, NULL, &e);
    CHECK(out == NULL && strstr(e.msg, "no role"));
}

int main(void) {
    TEST_EXPECT(11);
    RUN(smollm2_from_gguf);
    RUN(phi3_from_gguf);
    RUN(mistral_v02);
    RUN(gemma);
    RUN(llama3);
    RUN(llama31_date_and_tools);
    RUN(qwen25_plain_and_tools);
    RUN(gpt_oss_harmony);
    RUN(chatml_fallback);
    RUN(context_variables);
    RUN(bad_input);
    return test_summary();
}

/* The chat templates of the families added for issue #14, as the model files carry
 * them, rendered through omni_chat_format (the model's BOS/EOS texts filled in) for a
 * conversation with a system prompt: EXAONE 4, Phi-3.5 and Gemma 3 from the shared synth
 * files (their real templates), Gemma 2 from omni synth's tiny-gemma2 (Google's template,
 * which has no system role: llama.cpp then joins the system text to the first user
 * message with a newline, and so do we).
 *
 * The expected texts were derived by reading each template (HF semantics: trim_blocks,
 * lstrip_blocks) and agree with the reference build's `llama-server --jinja`
 * /apply-template output, which differs only where noted: it strips the leading BOS text
 * (it adds the BOS token when tokenizing), and for EXAONE 4 it leaves the system turn out
 * altogether, which the template itself writes (its i == 0 branch, then `continue`). */
#include "test.h"
#include "omni.h"
#include "formats/gguf.h"
#include "models/synth.h"
#include "text/chat_template.h"

static const omni_chat_message CONV[] = {
    {"system", "You are a helpful assistant."},
    {"user", "안녕하세요!"},
    {"assistant", "   안녕하세요, 무엇을 도와드릴까요?   "},
    {"user", "What is 2+2?"},
};

static char g_dir[256];

static char *gguf_template(const char *path) {
    struct err e = {{0}};
    struct gguf *g = gguf_open(path, &e);
    if (!g) return NULL;
    char *s = gguf_get_str_dup(g, "tokenizer.chat_template");
    gguf_close(g);
    return s;
}

/* Renders CONV[from..4) with the model at path through the public API. */
static char *format(const char *path, int from) {
    char err[512] = "";
    omni_model *m = omni_model_load(path, NULL, err, sizeof err);
    CHECK_MSG(m != NULL, "%s: %s", path, err);
    if (!m) return NULL;
    char *out = omni_chat_format(m, CONV + from, 4 - from, 1, err, sizeof err);
    CHECK_MSG(out != NULL, "%s: %s", path, err);
    omni_model_free(m);
    return out;
}

TEST(exaone4_from_gguf) {
    const char *path = model_path("synth/synth-exaone4-f16.gguf");
    char *tpl = gguf_template(path);
    REQUIRE(tpl != NULL, "no chat template in %s", path);
    CHECK(chat_template_supports_system(tpl));
    char *out = format(path, 0);
    /* non-reasoning turns get an empty think block, as does the generation prompt */
    CHECK_STR(out, "[|system|]\nYou are a helpful assistant.[|endofturn|]\n"
                   "[|user|]\n안녕하세요![|endofturn|]\n"
                   "[|assistant|]\n<think>\n\n</think>\n\n   안녕하세요, 무엇을 도와드릴까요?   [|endofturn|]\n"
                   "[|user|]\nWhat is 2+2?[|endofturn|]\n"
                   "[|assistant|]\n<think>\n\n</think>\n\n");
    free(out);
    free(tpl);
}

TEST(phi3_from_gguf) {
    const char *path = model_path("synth/synth-phi3-f16.gguf");
    char *tpl = gguf_template(path);
    REQUIRE(tpl != NULL, "no chat template in %s", path);
    CHECK(chat_template_supports_system(tpl));
    char *out = format(path, 0);
    CHECK_STR(out, "<|system|>\nYou are a helpful assistant.<|end|>\n"
                   "<|user|>\n안녕하세요!<|end|>\n"
                   "<|assistant|>\n   안녕하세요, 무엇을 도와드릴까요?   <|end|>\n"
                   "<|user|>\nWhat is 2+2?<|end|>\n"
                   "<|assistant|>\n");
    free(out);
    free(tpl);
}

TEST(gemma3_from_gguf) {
    const char *path = model_path("synth/synth-gemma3-f16.gguf");
    char *tpl = gguf_template(path);
    REQUIRE(tpl != NULL, "no chat template in %s", path);
    CHECK(chat_template_supports_system(tpl));
    char *out = format(path, 0);
    /* the system text opens the first user turn; contents are trimmed; "model" answers */
    CHECK_STR(out, "<s><start_of_turn>user\nYou are a helpful assistant.\n\n안녕하세요!<end_of_turn>\n"
                   "<start_of_turn>model\n안녕하세요, 무엇을 도와드릴까요?<end_of_turn>\n"
                   "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n"
                   "<start_of_turn>model\n");
    free(out);
    free(tpl);
}

TEST(gemma2_from_synth) {
    char path[512];
    snprintf(path, sizeof path, "%s/tiny-gemma2-f16.gguf", g_dir);
    struct synth_params sp = {.shape = synth_find_shape("tiny-gemma2"), .ftype = "f16", .seed = 1, .n_threads = 1};
    struct err e = {{0}};
    REQUIRE(sp.shape && synth_write(&sp, path, &e) == 0, "synth tiny-gemma2: %s", e.msg);
    char *tpl = gguf_template(path);
    REQUIRE(tpl != NULL, "no chat template in %s", path);
    /* the template itself refuses a system message */
    const struct chat_message sys[2] = {{.role = "system", .content = "s"}, {.role = "user", .content = "u"}};
    struct chat_render_opts o = {.add_generation_prompt = 1, .bos_token = "<bos>"};
    char *raw = NULL;
    CHECK(chat_render(tpl, sys, 2, &o, &raw, &e) != 0);
    CHECK_MSG(strstr(e.msg, "System role not supported") != NULL, "message: %s", e.msg);
    free(raw);
    CHECK(!chat_template_supports_system(tpl));
    const char *rest = "<start_of_turn>model\n안녕하세요, 무엇을 도와드릴까요?<end_of_turn>\n"
                       "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n"
                       "<start_of_turn>model\n";
    char want[1024];
    /* through the runtime: the system text joined to the first user message */
    char *out = format(path, 0);
    snprintf(want, sizeof want, "<bos><start_of_turn>user\nYou are a helpful assistant.\n안녕하세요!<end_of_turn>\n%s", rest);
    CHECK_STR(out, want);
    free(out);
    /* without a system message: the template as is */
    out = format(path, 1);
    snprintf(want, sizeof want, "<bos><start_of_turn>user\n안녕하세요!<end_of_turn>\n%s", rest);
    CHECK_STR(out, want);
    free(out);
    free(tpl);
    unlink(path);
}

static char *read_template(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "tests/text/templates/%s", name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 16);
    size_t n = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    fclose(f);
    if (buf) buf[n] = 0;
    return buf;
}

/* Renders CONV with a template file and the BOS/EOS texts of the file the reference
 * build rendered it with (tiny-mistral3: "<|endoftext|>", "<|im_end|>"). */
static char *render_file(const char *name) {
    char *tpl = read_template(name);
    CHECK_MSG(tpl != NULL, "cannot read tests/text/templates/%s (run from the project root)", name);
    if (!tpl) return NULL;
    struct chat_message msgs[4];
    for (int i = 0; i < 4; i++) msgs[i] = (struct chat_message){.role = CONV[i].role, .content = CONV[i].content};
    struct chat_render_opts o = {.add_generation_prompt = 1, .bos_token = "<|endoftext|>", .eos_token = "<|im_end|>"};
    struct err e = {{0}};
    char *out = NULL;
    CHECK_MSG(chat_render(tpl, msgs, 4, &o, &out, &e) == 0, "%s: %s", name, e.msg);
    free(tpl);
    return out;
}

/* Ministral 3 (reasoning): [SYSTEM_PROMPT] and [INST] blocks, the assistant's text as is
 * and then EOS -- the reference build's /apply-template output, verbatim. */
TEST(ministral3_template) {
    char *out = render_file("ministral-3-reasoning.jinja");
    CHECK_STR(out, "<|endoftext|>[SYSTEM_PROMPT]You are a helpful assistant.[/SYSTEM_PROMPT]"
                   "[INST]안녕하세요![/INST]   안녕하세요, 무엇을 도와드릴까요?   <|im_end|>"
                   "[INST]What is 2+2?[/INST]");
    free(out);
}

/* SmolLM3: the system text goes under "## Custom Instructions" after a metadata block
 * that names the reasoning mode (/think by default) -- the reference build's output. */
TEST(smollm3_template) {
    char *out = render_file("smollm3.jinja");
    CHECK_STR(out, "<|im_start|>system\n## Metadata\n\nKnowledge Cutoff Date: June 2025\nReasoning Mode: /think\n\n"
                   "## Custom Instructions\n\nYou are a helpful assistant.\n\n<|im_end|>\n"
                   "<|im_start|>user\n안녕하세요!<|im_end|>\n"
                   "<|im_start|>assistant\n   안녕하세요, 무엇을 도와드릴까요?   <|im_end|>\n"
                   "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n");
    free(out);
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/omni-test-tpl-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        fprintf(stderr, "cannot create a temporary folder %s\n", g_dir);
        return 1;
    }
    TEST_EXPECT(6);
    RUN(exaone4_from_gguf);
    RUN(ministral3_template);
    RUN(smollm3_template);
    RUN(phi3_from_gguf);
    RUN(gemma3_from_gguf);
    RUN(gemma2_from_synth);
    rmdir(g_dir);
    return test_summary();
}

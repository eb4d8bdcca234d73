/* The reasoning splitter (runtime/reasoning.h): think tags and harmony channels, fed
 * whole, cut in two at every byte, and one byte at a time, must give the same
 * reasoning and answer; plus unterminated thoughts, no thoughts, thoughts opened by the
 * prompt, and the template / prompt detection. */
#include <stdlib.h>

#include "runtime/reasoning.h"
#include "test.h"

struct got {
    char reason[1024], content[1024];
    size_t nr, nc;
    int switches;      /* kind changes between consecutive runs */
    int last;          /* kind of the last run, -1 none */
    int fail_after;    /* emit fails on this call (0: never) */
    int calls;
};

static int collect(int reasoning, const char *s, size_t n, void *user) {
    struct got *g = user;
    if (g->fail_after && ++g->calls >= g->fail_after) return -1;
    if (g->last >= 0 && g->last != reasoning) g->switches++;
    g->last = reasoning;
    char *b = reasoning ? g->reason : g->content;
    size_t *k = reasoning ? &g->nr : &g->nc;
    if (*k + n < sizeof g->reason) { memcpy(b + *k, s, n); *k += n; b[*k] = 0; }
    return 0;
}

/* Feeds text in pieces cut at cuts[0..n_cuts) (ascending); fills g. */
static int run_cuts(enum reasoning_syntax syn, int opened, const char *text, const size_t *cuts, int n_cuts,
                    struct got *g) {
    memset(g, 0, sizeof *g);
    g->last = -1;
    struct reasoning_split r;
    reasoning_split_init(&r, syn, opened);
    size_t at = 0, len = strlen(text);
    int rc = 0;
    for (int i = 0; i <= n_cuts && !rc; i++) {
        size_t to = i < n_cuts ? cuts[i] : len;
        rc = reasoning_split_push(&r, text + at, to - at, collect, g);
        at = to;
    }
    if (!rc) rc = reasoning_split_flush(&r, collect, g);
    reasoning_split_free(&r);
    return rc;
}

/* Checks text gives (reason, content) whole, cut once at every byte, and byte by byte. */
static void check_all_cuts(enum reasoning_syntax syn, int opened, const char *text, const char *reason,
                           const char *content) {
    struct got g;
    size_t len = strlen(text);
    REQUIRE(run_cuts(syn, opened, text, NULL, 0, &g) == 0, "push failed");
    CHECK_STR(g.reason, reason);
    CHECK_STR(g.content, content);
    for (size_t c = 0; c <= len; c++) {
        REQUIRE(run_cuts(syn, opened, text, &c, 1, &g) == 0, "push failed");
        CHECK_MSG(!strcmp(g.reason, reason) && !strcmp(g.content, content),
                  "cut at %zu of \"%s\": reasoning \"%s\", content \"%s\"", c, text, g.reason, g.content);
    }
    size_t *every = malloc(len * sizeof *every);
    REQUIRE(every, "out of memory");
    for (size_t i = 0; i < len; i++) every[i] = i + 1;
    int rc = run_cuts(syn, opened, text, every, (int)len, &g);
    free(every);
    REQUIRE(rc == 0, "push failed");
    CHECK_MSG(!strcmp(g.reason, reason) && !strcmp(g.content, content),
              "byte by byte \"%s\": reasoning \"%s\", content \"%s\"", text, g.reason, g.content);
}

/* the same splitter with Mistral's tags: split at every cut, "<think>" is just text there */
TEST(bracket_think_at_every_cut) {
    check_all_cuts(REASONING_THINK_BRACKET, 0, "[THINK]사용자가 인사한다. 2+2=4.[/THINK]Four. <think> is text here.",
                   "사용자가 인사한다. 2+2=4.", "Four. <think> is text here.");
    check_all_cuts(REASONING_THINK_BRACKET, 1, "opened by the prompt [/THIN", "opened by the prompt [/THIN", "");
    check_all_cuts(REASONING_THINK_BRACKET, 0, "[THIN ice]", "", "[THIN ice]");
}

TEST(think_then_answer_at_every_cut) {
    check_all_cuts(REASONING_THINK, 0, "<think>\nThe user greets me.\nI greet back.\n</think>\n\nHello! 안녕하세요.",
                   "The user greets me.\nI greet back.", "Hello! 안녕하세요.");
}

TEST(think_opened_by_the_prompt) {
    /* DeepSeek-R1 distills: the template ends with "<think>\n", the model writes the rest */
    check_all_cuts(REASONING_THINK, 1, "Let me count: 1, 2.\n</think>\n\nTwo.", "Let me count: 1, 2.", "Two.");
}

TEST(unterminated_think_stays_reasoning) {
    check_all_cuts(REASONING_THINK, 0, "<think>\nStill thinking about </thi", "Still thinking about </thi", "");
    check_all_cuts(REASONING_THINK, 1, "Cut off by max_tokens\n\n", "Cut off by max_tokens", "");
}

TEST(no_think_is_all_answer) {
    /* Qwen3 with enable_thinking false: the prompt holds an empty think block */
    check_all_cuts(REASONING_THINK, 0, "Hello there.", "", "Hello there.");
    check_all_cuts(REASONING_THINK, 0, "  <thin ice", "", "  <thin ice");
    /* a tag later in the answer is the answer's text, not thoughts */
    check_all_cuts(REASONING_THINK, 0, "Use <think> tags.", "", "Use <think> tags.");
    check_all_cuts(REASONING_NONE, 0, "<think>x</think>y", "", "<think>x</think>y");
    check_all_cuts(REASONING_THINK, 0, "", "", "");
}

TEST(empty_think_block) {
    check_all_cuts(REASONING_THINK, 0, "<think>\n\n</think>\n\nAnswer", "", "Answer");
    /* whitespace inside the thoughts is kept, only the edges go */
    check_all_cuts(REASONING_THINK, 0, "<think>a \n b</think>c", "a \n b", "c");
}

TEST(harmony_channels_at_every_cut) {
    check_all_cuts(REASONING_HARMONY, 0,
                   "<|channel|>analysis<|message|>User asks 2+2. Answer 4.<|end|><|start|>assistant<|channel|>final"
                   "<|message|>2 + 2 = 4.",
                   "User asks 2+2. Answer 4.", "2 + 2 = 4.");
    /* final only, and a final that ends with <|return|> when the text carries it */
    check_all_cuts(REASONING_HARMONY, 0, "<|channel|>final<|message|>Hi!<|return|>", "", "Hi!");
    /* commentary (a preamble before tool calls) is shown as the answer for now */
    check_all_cuts(REASONING_HARMONY, 0,
                   "<|channel|>analysis<|message|>think<|end|><|start|>assistant<|channel|>commentary<|message|>"
                   "Looking it up.<|end|>",
                   "think", "Looking it up.");
    /* a tool call (a message to a recipient) keeps its header for the tool-call parser */
    check_all_cuts(REASONING_HARMONY, 0,
                   "<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary "
                   "to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Paris\"}",
                   "Need weather.",
                   "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
                   "{\"city\":\"Paris\"}");
}

TEST(harmony_unterminated_and_not_harmony) {
    check_all_cuts(REASONING_HARMONY, 0, "<|channel|>analysis<|message|>cut short <|en", "cut short <|en", "");
    /* a model that ignores the format: everything is the answer */
    check_all_cuts(REASONING_HARMONY, 0, "Just text.", "", "Just text.");
    /* a header that never gets its message, after a message, is dropped */
    check_all_cuts(REASONING_HARMONY, 0, "<|channel|>analysis<|message|>a<|end|><|start|>assistant<|chan", "a", "");
    /* text after a message that is no header is the answer */
    check_all_cuts(REASONING_HARMONY, 0, "<|channel|>analysis<|message|>a<|end|>b<|message|>c", "a", "b<|message|>c");
}

TEST(kinds_come_in_order) {
    struct got g;
    const char *t = "<think>abc</think>def";
    size_t cuts[] = {3, 9, 14, 19};
    REQUIRE(run_cuts(REASONING_THINK, 0, t, cuts, 4, &g) == 0, "push failed");
    CHECK_EQ_INT(g.switches, 1);
    CHECK_STR(g.reason, "abc");
    CHECK_STR(g.content, "def");
}

TEST(emit_failure_is_reported) {
    struct got g;
    memset(&g, 0, sizeof g);
    g.last = -1;
    g.fail_after = 1;
    struct reasoning_split r;
    reasoning_split_init(&r, REASONING_THINK, 0);
    CHECK(reasoning_split_push(&r, "<think>x y", 10, collect, &g) == -1);
    reasoning_split_free(&r);
}

TEST(syntax_and_prompt_detection) {
    CHECK(reasoning_syntax_of(NULL) == REASONING_NONE);
    CHECK(reasoning_syntax_of("{{ '<|im_start|>' }}") == REASONING_NONE);
    CHECK(reasoning_syntax_of("{%- if enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}") ==
          REASONING_THINK);
    CHECK(reasoning_syntax_of("{{ '<|start|>assistant<|channel|>final<|message|>' }}") == REASONING_HARMONY);
    const char *open = "<|im_start|>assistant\n<think>\n";
    CHECK(reasoning_prompt_opens(REASONING_THINK, open, strlen(open)));
    const char *closed = "<|im_start|>assistant\n<think>\n\n</think>\n\n";
    CHECK(!reasoning_prompt_opens(REASONING_THINK, closed, strlen(closed)));
    CHECK(!reasoning_prompt_opens(REASONING_THINK, "", 0));
    /* Ministral 3 / Magistral: [THINK] tags (the real template's default system text has them) */
    CHECK(reasoning_syntax_of("{{- '[THINK]' + block['thinking'] + '[/THINK]' }}") == REASONING_THINK_BRACKET);
    const char *bopen = "[INST]Hi[/INST][THINK]";
    CHECK(reasoning_prompt_opens(REASONING_THINK_BRACKET, bopen, strlen(bopen)));
    CHECK(!reasoning_prompt_opens(REASONING_THINK, bopen, strlen(bopen)));
    CHECK(!reasoning_prompt_opens(REASONING_HARMONY, open, strlen(open)));
}

int main(void) {
    TEST_EXPECT(11);
    RUN(think_then_answer_at_every_cut);
    RUN(bracket_think_at_every_cut);
    RUN(think_opened_by_the_prompt);
    RUN(unterminated_think_stays_reasoning);
    RUN(no_think_is_all_answer);
    RUN(empty_think_block);
    RUN(harmony_channels_at_every_cut);
    RUN(harmony_unterminated_and_not_harmony);
    RUN(kinds_come_in_order);
    RUN(emit_failure_is_reported);
    RUN(syntax_and_prompt_detection);
    return test_summary();
}

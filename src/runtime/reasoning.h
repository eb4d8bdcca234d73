/* Reasoning kept apart from the answer. Thinking models write their thoughts before
 * the answer in one of two syntaxes:
 *   think tags  "<think>\n…\n</think>\n\nAnswer" (Qwen3, Qwen3.5, EXAONE 4, SmolLM3,
 *               DeepSeek-R1 distills); a template may open "<think>" in the prompt, so
 *               the output starts inside the thoughts;
 *   harmony     "<|channel|>analysis<|message|>…<|end|><|start|>assistant<|channel|>final
 *               <|message|>Answer" (gpt-oss): the analysis channel is reasoning, the final
 *               (and for now commentary) channel the answer; headers and markers vanish.
 * The splitter sees the generated text piece by piece as the engine produces it (tags may
 * be split across pieces, like stop strings in stop_match.h) and hands each byte on once,
 * as reasoning or as answer, holding back only what may still be part of a tag. */
#ifndef OMNI_RUNTIME_REASONING_H
#define OMNI_RUNTIME_REASONING_H
#include <stddef.h>

/* THINK: <think>…</think> (Qwen3, DeepSeek-R1, EXAONE 4, SmolLM3); THINK_BRACKET: [THINK]…[/THINK]
 * (Ministral 3 / Magistral), the same rules with the other tags; HARMONY: gpt-oss's channels. */
enum reasoning_syntax { REASONING_NONE, REASONING_THINK, REASONING_HARMONY, REASONING_THINK_BRACKET };

/* Receives one run of text of one kind (reasoning 1: thoughts, 0: the answer); the text
 * is only valid for the call. Return non-zero on failure (out of memory): push fails. */
typedef int (*reasoning_emit_fn)(int reasoning, const char *text, size_t len, void *user);

struct reasoning_split {
    enum reasoning_syntax syn;
    const char *open, *close;  /* the think tags of syn */
    int state;          /* see reasoning.c */
    int any_message;    /* harmony: a <|message|> was seen */
    int reason_chan;    /* harmony: the current message is reasoning */
    char *held;         /* text that may still be part of a tag (or a header) */
    size_t n_held, cap_held;
};

/* opened: the prompt already opened the thoughts (it ends with "<think>"), so the output
 * starts inside them. REASONING_NONE passes everything through as the answer. */
void reasoning_split_init(struct reasoning_split *r, enum reasoning_syntax syn, int opened);
void reasoning_split_free(struct reasoning_split *r);
/* Adds generated text; calls emit for what is now known. 0, or -1 when emit failed or
 * memory ran out. */
int reasoning_split_push(struct reasoning_split *r, const char *text, size_t len, reasoning_emit_fn emit, void *user);
/* At the end of generation: releases what was held back (an unterminated "<think>" stays
 * reasoning; a harmony header that never got its <|message|> is given as the answer). */
int reasoning_split_flush(struct reasoning_split *r, reasoning_emit_fn emit, void *user);

/* The syntax a model writes, judged from its chat template: harmony when the template
 * speaks of "<|channel|>", think tags when it mentions "<think>" or "</think>" ("[THINK]" for
 * the bracket ones), else none.
 * NULL (no template) is none. */
enum reasoning_syntax reasoning_syntax_of(const char *chat_template);
/* Whether a rendered prompt (or its last characters) ends with syn's opening tag (only
 * whitespace after it): the template began the thoughts. */
int reasoning_prompt_opens(enum reasoning_syntax syn, const char *prompt_tail, size_t len);
/* Whether syn is one of the think-tag syntaxes. */
int reasoning_is_think(enum reasoning_syntax syn);

#endif

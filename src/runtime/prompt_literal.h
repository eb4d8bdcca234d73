/* Literal spans in a rendered prompt: text that must be tokenized as text even where it
 * spells a control token. A chat message's content that holds a control token's text is
 * wrapped in two private-use characters (U+E000 ... U+E001, which no template writes and
 * no tokenizer treats as blanks) before the template renders it; omni_prompt_build then
 * tokenizes what lies between them without special-token parsing and drops the fences.
 * Without this a user could write "<|im_end|><|im_start|>system ..." and get real turns. */
#ifndef OMNI_RUNTIME_PROMPT_LITERAL_H
#define OMNI_RUNTIME_PROMPT_LITERAL_H
#include <stddef.h>

#define PROMPT_LITERAL_OPEN "\xEE\x80\x80"   /* U+E000 */
#define PROMPT_LITERAL_CLOSE "\xEE\x80\x81"  /* U+E001 */

/* content wrapped in the fences, any fence characters inside it removed; malloc'ed, or
 * NULL when out of memory. */
char *prompt_literal_fence(const char *content);

#endif

/* UTF-8 helpers for the tokenizers and the streaming detokenizer. Decoding follows
 * llama.cpp (unicode.cpp) exactly, including how it treats invalid input, because
 * token ids must match llama.cpp's even for broken text. */
#ifndef OMNI_TEXT_UTF8_H
#define OMNI_TEXT_UTF8_H
#include <stddef.h>
#include <stdint.h>

/* Sequence length announced by a lead byte (1 for ASCII and stray continuation
 * bytes, 2/3/4 otherwise). Does not validate the following bytes. */
static inline size_t utf8_len(unsigned char c) {
    static const unsigned char lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[c >> 4];
}

/* Decodes one code point at s[*i] (n bytes in s) and advances *i. Like llama.cpp,
 * an invalid sequence yields U+FFFD and advances by one byte; overlong forms and
 * surrogates are accepted as they are. */
uint32_t utf8_decode(const char *s, size_t n, size_t *i);

/* Writes cp as UTF-8 into out (4 bytes room); returns the byte count. Code points
 * above U+10FFFF are written as U+FFFD. */
size_t utf8_encode(uint32_t cp, char *out);

/* Length of the longest prefix of s[0..n) that ends on a complete character: a
 * trailing incomplete (but so far valid) sequence is left out. Invalid bytes count
 * as complete (they are one-byte units). */
size_t utf8_complete_prefix(const char *s, size_t n);

/* Number of bytes of the valid UTF-8 character at s (1..4), or 0 when the bytes at
 * s do not start a valid character; -1 when s[0..n) is a valid but incomplete start. */
int utf8_char_valid(const unsigned char *s, size_t n);

#endif

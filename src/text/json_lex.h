/* Byte-level syntax of JSON scalars (strings, numbers, true/false/null), shared by
 * json_grammar (any JSON object) and json_schema (JSON shaped by a schema): they
 * differ in the structure around values, not in how one value is spelled. */
#ifndef OMNI_TEXT_JSON_LEX_H
#define OMNI_TEXT_JSON_LEX_H
#include <stdint.h>

/* Longest integer / fraction / exponent part a constrained number may have, so a
 * model cannot emit digits forever (llama.cpp's schema grammars cap them too). */
#define JSON_LEX_MAX_INT_DIGITS 16
#define JSON_LEX_MAX_FRAC_DIGITS 16
#define JSON_LEX_MAX_EXP_DIGITS 3

/* A plain value: copy it to try a byte without committing. */
struct json_lex {
    uint8_t mode;
    uint8_t aux;      /* \u hex digits left, or index into a literal */
    uint8_t lit;      /* 0 true, 1 false, 2 null */
    uint8_t utf8;     /* continuation bytes still expected inside a string */
    uint8_t ndig;     /* digits in the current part of a number */
    uint8_t int_only; /* integers only: no fraction, no exponent */
    uint16_t chars;   /* characters of a string so far (an escape counts as one) */
};

enum {
    JSON_LEX_ERR = -1,   /* the byte cannot appear here */
    JSON_LEX_MORE = 0,   /* consumed; the value goes on */
    JSON_LEX_END = 1,    /* consumed; it completed the value (closing quote, last letter of a literal) */
    JSON_LEX_BEFORE = 2, /* not consumed: the number ended just before it, the byte belongs to what follows */
};

/* c must start a scalar: '"', '-', a digit, 't', 'f' or 'n'. Returns MORE or ERR. */
int json_lex_begin(struct json_lex *l, unsigned char c, int int_only);
int json_lex_step(struct json_lex *l, unsigned char c);
/* 1 if the input may stop here, i.e. a complete number (nothing closes it). */
int json_lex_complete(const struct json_lex *l);
/* 1 while inside a string (content, escape or \u digits). */
int json_lex_in_string(const struct json_lex *l);

#endif

/* Personal data in text, found without a model: e-mail addresses, phone numbers
 * (international and Korean), payment card numbers (13-19 digits that pass the Luhn
 * check) and Korean resident registration numbers (주민등록번호: a valid birth date, a
 * sex/century digit 1-8). The moderation rules (rules.h) redact, block or allow what these
 * find; they are the first stage of a policy, before any guard model.
 *
 * Matches are byte spans of the UTF-8 input, in order, never overlapping: where two
 * detectors claim the same digits, the stricter one wins (card, then RRN, then phone).
 * Thread-safe: the compiled patterns are built once and only read. */
#ifndef OMNI_MODERATION_PII_H
#define OMNI_MODERATION_PII_H
#include <stddef.h>

#include "core/error.h"

enum pii_kind { PII_EMAIL, PII_PHONE, PII_CARD, PII_KR_RRN, PII_N_KINDS };
#define PII_BIT(kind) (1u << (kind))
#define PII_ALL ((1u << PII_N_KINDS) - 1)

struct pii_match {
    enum pii_kind kind;
    size_t start, len;  /* bytes of the input */
};

/* "email", "phone", "card", "kr_rrn" (the names policy files use), or NULL. */
const char *pii_kind_name(enum pii_kind k);
/* The kind for a name, or -1. */
int pii_kind_parse(const char *name);

/* Finds the kinds in mask (1 << kind bits) in text[0..len). *out is malloc'ed (NULL when
 * none), *n its count. 0, or -1 with e set (out of memory, invalid UTF-8 is not an error:
 * such bytes simply match nothing). */
int pii_find(const char *text, size_t len, unsigned mask, struct pii_match **out, int *n, struct err *e);

/* The checks on their own, for callers and tests: digits only, no separators. */
int pii_luhn_ok(const char *digits, size_t n);
/* 13 digits: YYMMDD + S + 6; the date must exist for the century S gives. */
int pii_kr_rrn_ok(const char *digits13);

#endif

/* Text normalisation for speech: numbers, decimals, ordinals, dates, times, currencies
 * ($ ₩ €), percentages and units written out as words, so a voice reads "$1,234.50" as
 * "one thousand two hundred thirty-four dollars and fifty cents" and "1,234원" as
 * "천이백삼십사 원". English and Korean rules; other languages pass through unchanged. */
#ifndef OMNI_TEXT_NORMALIZE_H
#define OMNI_TEXT_NORMALIZE_H

/* Returns a malloc'ed normalised copy of UTF-8 `text` (caller frees), NULL when out of
 * memory. `lang` picks the rules: "ko…" Korean, "en…" or NULL English, anything else copies. */
char *text_normalize(const char *text, const char *lang);

/* Number words, exposed for tests and for other speech code (e.g. the voice loop).
 * Write into buf (always NUL-terminated) and return the length written. */
int text_number_en(char *buf, int size, unsigned long long n);   /* 1234 → "one thousand two hundred thirty-four" */
int text_ordinal_en(char *buf, int size, unsigned long long n);  /* 21 → "twenty-first" */
int text_number_ko(char *buf, int size, unsigned long long n);   /* 1234 → "천이백삼십사" (Sino-Korean) */
int text_native_ko(char *buf, int size, int n, int before_counter); /* 3 → "셋", or "세" before a counter; 1..99 */

#endif

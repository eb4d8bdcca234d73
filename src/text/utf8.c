/* UTF-8 decoding/encoding with llama.cpp's rules for invalid input, and the
 * character-boundary checks the streaming detokenizer needs. */
#include "text/utf8.h"

uint32_t utf8_decode(const char *str, size_t n, size_t *i) {
    const unsigned char *s = (const unsigned char *)str + *i;
    size_t left = n - *i;
    if (!(s[0] & 0x80)) { *i += 1; return s[0]; }
    /* llama.cpp checks only the continuation-byte pattern, not overlong forms */
    if ((s[0] & 0x40) && !(s[0] & 0x20)) {
        if (left >= 2 && (s[1] & 0xc0) == 0x80) {
            *i += 2;
            return ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
        }
    } else if ((s[0] & 0x40) && !(s[0] & 0x10)) {
        if (left >= 3 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80) {
            *i += 3;
            return ((uint32_t)(s[0] & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
        }
    } else if ((s[0] & 0x40) && !(s[0] & 0x08)) {
        if (left >= 4 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80) {
            *i += 4;
            return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) |
                   ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
        }
    }
    *i += 1;
    return 0xFFFD;
}

size_t utf8_encode(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp <= 0x7f) { o[0] = (unsigned char)cp; return 1; }
    if (cp <= 0x7ff) {
        o[0] = (unsigned char)(0xc0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp <= 0xffff) {
        o[0] = (unsigned char)(0xe0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    if (cp > 0x10ffff) cp = 0xFFFD;
    if (cp <= 0xffff) return utf8_encode(cp, out);
    o[0] = (unsigned char)(0xf0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

int utf8_char_valid(const unsigned char *s, size_t n) {
    if (n == 0) return -1;
    unsigned c = s[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte (RFC 3629) */
    if (c < 0x80) return 1;
    if (c < 0xc2) return 0;
    if (c < 0xe0) len = 2;
    else if (c < 0xf0) { len = 3; if (c == 0xe0) lo = 0xa0; if (c == 0xed) hi = 0x9f; }
    else if (c < 0xf5) { len = 4; if (c == 0xf0) lo = 0x90; if (c == 0xf4) hi = 0x8f; }
    else return 0;
    for (size_t k = 1; k < len; k++) {
        if (k >= n) return -1;
        unsigned b = s[k];
        if (k == 1 ? (b < lo || b > hi) : (b & 0xc0) != 0x80) return 0;
    }
    return (int)len;
}

size_t utf8_complete_prefix(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        int v = utf8_char_valid(s + i, n - i);
        if (v < 0) return i;
        i += v > 0 ? (size_t)v : 1;
    }
    return n;
}

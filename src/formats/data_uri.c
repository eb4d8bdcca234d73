/* data: URI and base64 decoding; see data_uri.h. Input comes straight from HTTP
 * bodies, so every byte is checked and errors say where the payload went wrong. */
#include "formats/data_uri.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62; /* '-' and '_': the URL-safe alphabet, which some clients use */
    if (c == '/' || c == '_') return 63;
    return -1;
}

int data_uri_base64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len, struct err *e) {
    *out = NULL;
    *out_len = 0;
    uint8_t *buf = malloc(len / 4 * 3 + 3);
    if (!buf) return err_set(e, "out of memory for %zu bytes of base64", len);
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        if (c == '=') { pad++; continue; }
        int v = b64_value(c);
        if (v < 0 || pad) {
            free(buf);
            return err_set(e, "invalid base64: unexpected character 0x%02x at offset %zu", c, i);
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[n++] = (uint8_t)(acc >> bits);
        }
    }
    /* 6 leftover bits cannot end a valid encoding (one character short). */
    if (bits >= 6 || pad > 2) {
        free(buf);
        return err_set(e, "invalid base64: the data is truncated");
    }
    *out = buf;
    *out_len = n;
    return 0;
}

int data_uri_decode(const char *uri, char *mime, size_t mime_cap, uint8_t **out, size_t *out_len, struct err *e) {
    *out = NULL;
    *out_len = 0;
    if (mime_cap) mime[0] = 0;
    if (strncasecmp(uri, "data:", 5)) return err_set(e, "expected a data: URI (data:image/png;base64,...)");
    const char *p = uri + 5, *comma = strchr(p, ',');
    if (!comma) return err_set(e, "the data: URI has no ',' before its payload");
    size_t k = 0;
    while (p + k < comma && p[k] != ';') k++;
    for (size_t i = 0; mime_cap && i < k && i + 1 < mime_cap; i++) {
        mime[i] = (char)tolower((unsigned char)p[i]);
        mime[i + 1] = 0;
    }
    /* base64 must be the last parameter before the comma. */
    if (comma - p < 7 || strncasecmp(comma - 7, ";base64", 7))
        return err_set(e, "the data: URI is not base64-encoded (expected ';base64,')");
    return data_uri_base64_decode(comma + 1, strlen(comma + 1), out, out_len, e);
}

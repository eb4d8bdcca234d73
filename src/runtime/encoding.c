/* Text and byte encodings where outside data meets the API (omni.h): UTF-8 repair for
 * model text on its way into JSON, and base64 / data: URIs as OpenAI clients send
 * audio and images (formats/data_uri). */
#include <stdlib.h>
#include <string.h>

#include "formats/data_uri.h"
#include "omni.h"
#include "text/utf8.h"

char *omni_utf8_sanitize(const char *s, size_t len) {
    char *out = malloc(len * 3 + 1), *o = out;
    const unsigned char *p = (const unsigned char *)s;
    if (!out) return NULL;
    while (len) {
        int n = utf8_char_valid(p, len);
        if (n <= 0) {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            p++;
            len--;
            continue;
        }
        memcpy(o, p, (size_t)n);
        o += n;
        p += n;
        len -= (size_t)n;
    }
    *o = 0;
    return out;
}

int omni_base64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len, char *err, size_t err_size) {
    struct err e = {{0}};
    return data_uri_base64_decode(s, len, out, out_len, &e) ? err_copy(&e, err, err_size) : 0;
}

int omni_data_uri_decode(const char *uri, char *mime, size_t mime_cap, uint8_t **out, size_t *out_len, char *err,
                         size_t err_size) {
    struct err e = {{0}};
    return data_uri_decode(uri, mime, mime_cap, out, out_len, &e) ? err_copy(&e, err, err_size) : 0;
}

/* Text to Whisper token ids (for an initial prompt), as whisper.cpp does it: split
 * into GPT-2 style words, then take the longest vocabulary entry at each position.
 * The ggml file stores tokens as raw bytes, so matching is on bytes. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "models/whisper.h"

struct vmap {
    int *slot; /* token id + 1, 0 = empty */
    uint32_t mask;
    const struct whisper_model *m;
};

static uint32_t hash(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static int vmap_find(const struct vmap *v, const char *s, size_t n) {
    for (uint32_t i = hash(s, n) & v->mask;; i = (i + 1) & v->mask) {
        int id = v->slot[i] - 1;
        if (id < 0) return -1;
        int len;
        const char *t = whisper_token_text(v->m, id, &len);
        if ((size_t)len == n && !memcmp(t, s, n)) return id;
    }
}

int whisper_tokenize(const struct whisper_model *m, const char *text, int *out, int max_out, struct err *e) {
    int nv = whisper_special(m)->eot, n_out = 0;
    struct vmap v = {NULL, 0, m};
    uint32_t cap = 1;
    while (cap < 2u * (uint32_t)nv) cap <<= 1;
    v.mask = cap - 1;
    v.slot = calloc(cap, sizeof(int));
    if (!v.slot) return err_set(e, "out of memory");
    for (int id = 0; id < nv; id++) {
        int len;
        const char *t = whisper_token_text(m, id, &len);
        if (len <= 0 || vmap_find(&v, t, (size_t)len) >= 0) continue;
        uint32_t i = hash(t, (size_t)len) & v.mask;
        while (v.slot[i]) i = (i + 1) & v.mask;
        v.slot[i] = id + 1;
    }
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile(
        (PCRE2_SPTR) "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
        PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &ec, &eo, NULL);
    pcre2_match_data *md = re ? pcre2_match_data_create_from_pattern(re, NULL) : NULL;
    if (!re || !md) {
        free(v.slot);
        pcre2_code_free(re);
        return err_set(e, "cannot build the word-splitting pattern");
    }
    size_t len = strlen(text), pos = 0;
    while (pos < len) {
        int rc = pcre2_match(re, (PCRE2_SPTR)text, len, pos, 0, md, NULL);
        if (rc < 0) break; /* also invalid UTF-8: stop rather than guess */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t a = ov[0], b = ov[1];
        if (b <= a) { pos = a + 1; continue; }
        for (size_t i = a; i < b;) {
            size_t j = b;
            int id = -1;
            for (; j > i; j--)
                if ((id = vmap_find(&v, text + i, j - i)) >= 0) break;
            if (id < 0) { i++; continue; } /* byte not in the vocabulary: skip it */
            if (n_out < max_out) out[n_out] = id;
            n_out++;
            i = j;
        }
        pos = b;
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    free(v.slot);
    return n_out;
}

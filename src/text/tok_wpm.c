/* WordPiece (BERT) encoding as llama.cpp does it (llm_tokenizer_wpm):
 *  1. normalise each code point: with strip_accents replace it by the first code point
 *     of its canonical decomposition (one code point in, one out: "é" → "e", but a
 *     Hangul syllable → its leading consonant, as llama.cpp does) and drop marks;
 *     drop NUL, U+FFFD and control/format characters; lower-case when asked;
 *  2. split into words at whitespace; punctuation, ASCII symbols and CJK ideographs are
 *     words of their own;
 *  3. prefix each word with U+2581 (the vocabulary spells word starts "▁word" and
 *     continuations "word" instead of BERT's "##word") and take the longest vocabulary
 *     token at each byte position, left to right; a word with any position that no
 *     token covers becomes one [UNK].
 * Work is linear in the text length (times the longest token length). */
#include <stdlib.h>
#include <string.h>

#include "text/tok_impl.h"
#include "text/unicode_tab.h"
#include "text/utf8.h"

/* BERT's "Chinese character" blocks (CJK Unified Ideographs and extensions,
 * compatibility ideographs). The upper end of extension E/F follows Hugging Face's
 * code (0x2CEAF) and, like llama.cpp, the CJK symbols and full-width forms are not
 * included. */
static int is_cjk(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Greedy longest match of one word (w = "▁" + word, n bytes); appends the ids or [UNK]. */
static int encode_word(const struct tokenizer *t, const char *w, size_t n, struct tok_ids *out) {
    size_t start = out->n;
    for (size_t i = 0; i < n;) {
        size_t j = i + t->max_token_len + 1 < n ? i + t->max_token_len + 1 : n;
        int32_t id = -1;
        for (; j > i; j--)
            if ((id = strmap_get(&t->vocab, w + i, j - i)) >= 0) break;
        if (id < 0) { out->n = start; break; } /* one uncovered position discards the word */
        if (tok_ids_push(out, id)) return -1;
        i = j;
    }
    if (out->n == start && tok_ids_push(out, t->unk)) return -1;
    return 0;
}

int wpm_encode(const struct tokenizer *t, const char *text, size_t len, struct tok_ids *out, struct err *e) {
    if (t->unk < 0) return err_set(e, "the WordPiece vocabulary has no unknown token ([UNK])");
    if (len > 0x3fffffff) return err_set(e, "text too long to tokenize (%zu bytes)", len);
    /* a word never holds more than its bytes re-encoded (≤ 4 per code point) */
    char *w = malloc(len * 4 + 8);
    if (!w) return err_set(e, "out of memory tokenizing %zu bytes", len);
    memcpy(w, "\xe2\x96\x81", 3);
    size_t wl = 3;
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0;) {
        uint32_t c = utf8_decode(text, len, &i);
        if (t->strip_accents) c = uni_nfd_first(c);
        int cls = uni_class(c);
        if (uni_is_space(c)) {
            if (wl > 3) rc = encode_word(t, w, wl, out);
            wl = 3;
            continue;
        }
        if (c == 0 || c == 0xFFFD || (cls & UNI_CONTROL)) continue;
        if (t->strip_accents && (cls & UNI_MARK)) continue;
        uint32_t lc = t->lowercase ? uni_tolower(c) : c;
        if ((cls & UNI_PUNCT) || (c < 0x7F && (cls & UNI_SYMBOL)) || is_cjk(c)) {
            if (wl > 3) rc = encode_word(t, w, wl, out);
            if (rc == 0) {
                wl = 3 + utf8_encode(lc, w + 3);
                rc = encode_word(t, w, wl, out);
            }
            wl = 3;
            continue;
        }
        wl += utf8_encode(lc, w + wl);
    }
    if (rc == 0 && wl > 3) rc = encode_word(t, w, wl, out);
    free(w);
    return rc == 0 ? 0 : err_set(e, "out of memory tokenizing %zu bytes", len);
}

/* Tokenizer behaviour beyond the golden files: hand-made SPM/BPE vocabularies with
 * ids worked out by hand, load errors, special-token parsing, our own Korean and
 * mixed-script round trips, the streaming detokenizer (never half a character),
 * invalid UTF-8 input, and speed on 100 KB of text. */
#include <time.h>

#include "formats/gguf.h"
#include "test.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

static struct tokenizer *load_path(const char *path, struct err *e) {
    struct gguf *g = gguf_open(path, e);
    if (!g) return NULL;
    struct tokenizer *t = tokenizer_load(g, e);
    gguf_close(g);
    return t;
}

static struct tokenizer *load_model(const char *rel) {
    struct err e = {{0}};
    struct tokenizer *t = load_path(model_path(rel), &e);
    if (!t) fprintf(stderr, "  %s: %s\n", rel, e.msg);
    return t;
}

static size_t enc(const struct tokenizer *t, const char *s, int add, int parse, int32_t *out, size_t cap) {
    int32_t *ids = NULL;
    size_t n = 0;
    struct err e = {{0}};
    if (tokenizer_encode(t, s, strlen(s), add, parse, &ids, &n, &e) != 0) {
        fprintf(stderr, "  encode failed: %s\n", e.msg);
        return (size_t)-1;
    }
    if (n > cap) n = cap;
    memcpy(out, ids, n * sizeof *ids);
    free(ids);
    return n;
}

#define CHECK_IDS(t, text, add, parse, ...) do { \
    int32_t _w[] = {__VA_ARGS__}, _g[64]; \
    size_t _n = enc(t, text, add, parse, _g, 64), _nw = sizeof _w / sizeof _w[0]; \
    int _ok = _n == _nw && memcmp(_g, _w, _nw * sizeof _w[0]) == 0; \
    CHECK_MSG(_ok, "ids of \"%s\" differ (got %zu ids, first %d)", text, _n, _n && _n != (size_t)-1 ? _g[0] : -1); \
} while (0)

static const char *tmp_path(const char *name) {
    static char buf[4][256];
    static int i;
    char *b = buf[i++ & 3];
    snprintf(b, 256, "/tmp/omni-test-tok-%d-%s.gguf", (int)getpid(), name);
    return b;
}

/* A SentencePiece vocab: 3 specials, 256 byte tokens, then a few pieces. */
static const char *write_spm(void) {
    static const char *pieces[] = {"\xe2\x96\x81", "a", "b", "c", "ab", "\xe2\x96\x81" "ab", "bc", "abc", "<|x|>"};
    static const float pscores[] = {-1, -2, -2, -2, -1.5f, -0.5f, -0.2f, -3, 0};
    static const int32_t ptypes[] = {1, 1, 1, 1, 1, 1, 1, 1, 4};
    enum { NP = sizeof pieces / sizeof pieces[0], N = 3 + 256 + NP };
    char *texts[N];
    float scores[N];
    int32_t types[N];
    const char *sp[3] = {"<unk>", "<s>", "</s>"};
    for (int i = 0; i < 3; i++) { texts[i] = strdup(sp[i]); scores[i] = 0; types[i] = i ? 3 : 2; }
    for (int b = 0; b < 256; b++) {
        char buf[8];
        snprintf(buf, sizeof buf, "<0x%02X>", b);
        texts[3 + b] = strdup(buf); scores[3 + b] = 0; types[3 + b] = 6;
    }
    for (int i = 0; i < NP; i++) { texts[259 + i] = strdup(pieces[i]); scores[259 + i] = pscores[i]; types[259 + i] = ptypes[i]; }
    struct gguf_writer *w = gguf_writer_new();
    gguf_w_str(w, "tokenizer.ggml.model", "llama");
    gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)texts, N);
    gguf_w_arr_f32(w, "tokenizer.ggml.scores", scores, N);
    gguf_w_arr_i32(w, "tokenizer.ggml.token_type", types, N);
    gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 2);
    struct err e = {{0}};
    const char *path = tmp_path("spm");
    int rc = gguf_writer_save(w, path, &e);
    gguf_writer_free(w);
    for (int i = 0; i < N; i++) free(texts[i]);
    return rc == 0 ? path : NULL;
}

/* ids: ▁=259 a=260 b=261 c=262 ab=263 ▁ab=264 bc=265 abc=266 <|x|>=267; bytes: 3 + byte */
TEST(spm_handmade) {
    const char *path = write_spm();
    CHECK(path != NULL);
    struct err e = {{0}};
    struct tokenizer *t = path ? load_path(path, &e) : NULL;
    CHECK_MSG(t != NULL, "%s", e.msg);
    if (!t) return;
    /* "▁ab" scores best (-0.5): " ab" → ▁ab */
    CHECK_IDS(t, "ab", 0, 0, 264);
    /* "▁abc": bc (-0.2) merges first, then a+bc → abc; "▁abc" is no piece → ▁, abc */
    CHECK_IDS(t, "abc", 0, 0, 259, 266);
    /* é is not a piece: byte fallback to <0xC3><0xA9> */
    CHECK_IDS(t, "\xc3\xa9", 0, 0, 259, 3 + 0xc3, 3 + 0xa9);
    CHECK_IDS(t, "ab", 1, 0, 1, 264);
    /* user-defined tokens are split out even without parse_special; text after them gets the ▁ prefix */
    CHECK_IDS(t, "<|x|>ab", 0, 0, 267, 264);
    /* control text becomes the token only with parse_special */
    CHECK_IDS(t, "</s>", 0, 1, 2);
    CHECK_IDS(t, "</s>", 0, 0, 259, 3 + '<', 3 + '/', 3 + 's', 3 + '>');
    int32_t id[3] = {1, 264, 260};
    char *s = NULL;
    size_t n = 0;
    CHECK(tokenizer_decode(t, id, 3, 0, &s, &n, &e) == 0 && s && strcmp(s, " aba") == 0);
    free(s);
    CHECK(tokenizer_decode(t, id + 1, 2, 0, &s, &n, &e) == 0 && s && strcmp(s, "aba") == 0);
    free(s);
    size_t pl;
    CHECK(tokenizer_piece(t, 1, 0, &pl) && pl == 0);
    CHECK(strncmp(tokenizer_piece(t, 1, 1, &pl), "<s>", 3) == 0 && pl == 3);
    CHECK(tokenizer_is_eog(t, 2) && !tokenizer_is_eog(t, 1));
    CHECK(tokenizer_find(t, "bc") == 265 && tokenizer_find(t, "zz") == -1);
    tokenizer_free(t);
    unlink(path);
}

/* A byte-level BPE vocab (GPT-2 mapping: ' ' is "Ġ") with four merges. */
static const char *write_bpe(const char *pre, int with_merges) {
    const char *toks[] = {"h", "e", "l", "o", "Ġ", "he", "ll", "hell", "hello", "Ġhello", "<|end|>", "!", "1", "2", "3", "12"};
    const char *merges[] = {"h e", "l l", "he ll", "hell o", "Ġ hello", "1 2"};
    int32_t types[16];
    for (int i = 0; i < 16; i++) types[i] = i == 10 ? 3 : 1;
    struct gguf_writer *w = gguf_writer_new();
    gguf_w_str(w, "tokenizer.ggml.model", "gpt2");
    if (pre) gguf_w_str(w, "tokenizer.ggml.pre", pre);
    gguf_w_arr_str(w, "tokenizer.ggml.tokens", toks, 16);
    gguf_w_arr_i32(w, "tokenizer.ggml.token_type", types, 16);
    if (with_merges) gguf_w_arr_str(w, "tokenizer.ggml.merges", merges, 6);
    gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 10);
    gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 10);
    struct err e = {{0}};
    const char *path = tmp_path(pre ? pre : "nopre");
    int rc = gguf_writer_save(w, path, &e);
    gguf_writer_free(w);
    return rc == 0 ? path : NULL;
}

TEST(bpe_handmade) {
    const char *path = write_bpe("gpt-2", 1);
    struct err e = {{0}};
    struct tokenizer *t = path ? load_path(path, &e) : NULL;
    CHECK_MSG(t != NULL, "%s", e.msg);
    if (!t) return;
    CHECK_IDS(t, "hello hello", 0, 0, 8, 9);
    CHECK_IDS(t, "hell", 0, 0, 7);
    CHECK_IDS(t, "hello!", 0, 0, 8, 11);
    CHECK_IDS(t, "123", 0, 0, 15, 14); /* gpt-2 keeps digit runs together: "123" → 12, 3 */
    CHECK_IDS(t, "hello<|end|>", 0, 1, 8, 10);
    CHECK_IDS(t, "hello", 1, 0, 8); /* gpt-2 style vocabs add no BOS by default */
    int32_t id[2] = {8, 9};
    char *s = NULL;
    size_t n = 0;
    CHECK(tokenizer_decode(t, id, 2, 0, &s, &n, &e) == 0 && s && strcmp(s, "hello hello") == 0);
    free(s);
    tokenizer_free(t);
    unlink(path);
    /* llama3 splits digits in groups of up to three, qwen2 one by one, and llama3 adds BOS */
    path = write_bpe("qwen2", 1);
    t = path ? load_path(path, &e) : NULL;
    CHECK(t != NULL);
    if (t) { CHECK_IDS(t, "123", 0, 0, 12, 13, 14); tokenizer_free(t); }
    if (path) unlink(path);
    path = write_bpe("llama3", 1);
    t = path ? load_path(path, &e) : NULL;
    CHECK(t != NULL);
    if (t) { CHECK_IDS(t, "12", 1, 0, 10, 15); tokenizer_free(t); }
    if (path) unlink(path);
}

/* A vocab of tokenizer model `model` (bert, t5, or anything) with the given pieces; a
 * charsmap blob is stored as tokenizer.ggml.precompiled_charsmap when cm is not NULL. */
static const char *write_kind(const char *model, const char *const *toks, const float *scores, const int32_t *types,
                              int n, const unsigned char *cm, size_t cm_len, const char *name) {
    struct gguf_writer *w = gguf_writer_new();
    gguf_w_str(w, "tokenizer.ggml.model", model);
    gguf_w_arr_str(w, "tokenizer.ggml.tokens", toks, (uint64_t)n);
    if (scores) gguf_w_arr_f32(w, "tokenizer.ggml.scores", scores, (uint64_t)n);
    gguf_w_arr_i32(w, "tokenizer.ggml.token_type", types, (uint64_t)n);
    if (!strcmp(model, "bert")) {
        gguf_w_u32(w, "tokenizer.ggml.unknown_token_id", 0);
        gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 1);
        gguf_w_u32(w, "tokenizer.ggml.seperator_token_id", 2);
    } else {
        gguf_w_u32(w, "tokenizer.ggml.unknown_token_id", 0);
        gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 1);
        gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 2);
        gguf_w_bool(w, "tokenizer.ggml.add_bos_token", 1);
        gguf_w_bool(w, "tokenizer.ggml.add_space_prefix", 1);
        gguf_w_bool(w, "tokenizer.ggml.remove_extra_whitespaces", 1);
    }
    if (cm) gguf_w_arr(w, "tokenizer.ggml.precompiled_charsmap", GGUF_UINT8, cm, cm_len);
    struct err e = {{0}};
    const char *path = tmp_path(name);
    int rc = gguf_writer_save(w, path, &e);
    gguf_writer_free(w);
    return rc == 0 ? path : NULL;
}

#define SP "\xe2\x96\x81" /* U+2581, the vocabularies' word-start mark */

TEST(wpm_handmade) {
    static const char *toks[] = {"[UNK]", "[CLS]", "[SEP]", SP "hello", SP "world", SP "!", "ab", SP "x",
                                 SP "cafe", SP "\xe4\xb8\xad" /* 中 */, SP "\xe1\x84\x80" /* ᄀ */, "\xe1\x84\x82" /* ᄂ */};
    int32_t types[12];
    for (int i = 0; i < 12; i++) types[i] = i < 3 ? 3 : 1;
    const char *path = write_kind("bert", toks, NULL, types, 12, NULL, 0, "wpm");
    struct err e = {{0}};
    struct tokenizer *t = path ? load_path(path, &e) : NULL;
    CHECK_MSG(t != NULL, "%s", e.msg);
    if (path) unlink(path);
    if (!t) return;
    CHECK_IDS(t, "hello world!", 0, 0, 3, 4, 5);
    CHECK_IDS(t, "  Hello,\tWORLD", 0, 0, 3, 0, 4);       /* lower-cased; "," is a word without a token */
    CHECK_IDS(t, "CAF\xc3\x89 Cafe\xcc\x81", 0, 0, 8, 8); /* É → e, and a combining accent is dropped */
    CHECK_IDS(t, "xab xq", 0, 0, 7, 6, 0);                /* "xq": q uncovered, so the whole word is [UNK] */
    CHECK_IDS(t, "hello\xe4\xb8\xadworld", 0, 0, 3, 9, 4); /* a CJK ideograph is a word of its own */
    CHECK_IDS(t, "\xea\xb0\x80\xeb\x82\x98", 0, 0, 10, 11); /* 가나: each syllable keeps its leading consonant */
    CHECK_IDS(t, "hel\x07lo\xff", 0, 0, 3);               /* control characters and U+FFFD vanish */
    CHECK_IDS(t, "hello", 1, 0, 1, 3, 2);                 /* [CLS] … [SEP] */
    CHECK_IDS(t, "hello [SEP] x", 1, 1, 1, 3, 2, 7, 2);
    CHECK_IDS(t, "", 1, 0, 1, 2);
    CHECK(!tokenizer_is_lossless(t) && tokenizer_sep(t) == 2);
    tokenizer_free(t);
}

TEST(ugm_handmade) {
    static const char *toks[] = {"<unk>", "<s>", "</s>", SP, SP "a", "b", SP "ab", "ab", "c", "[PAD5]"};
    static const float scores[] = {0, 0, 0, -2, -1, -1.5f, -1, -3, -4, 0};
    static const int32_t types[] = {2, 3, 3, 1, 1, 1, 1, 1, 1, 5};
    const char *path = write_kind("t5", toks, scores, types, 10, NULL, 0, "ugm");
    struct err e = {{0}};
    struct tokenizer *t = path ? load_path(path, &e) : NULL;
    CHECK_MSG(t != NULL, "%s", e.msg);
    if (path) unlink(path);
    if (!t) return;
    CHECK_IDS(t, "ab", 0, 0, 6);                /* ▁ab (-1) beats ▁a b (-2.5) */
    CHECK_IDS(t, "  a   b  ", 0, 0, 4, 3, 5);   /* space runs merged: ▁a ▁ b */
    CHECK_IDS(t, "a ZZ\xf0\x9f\x98\x80" "c", 0, 0, 4, 3, 0, 8); /* one <unk> for the run ZZ😀 */
    CHECK_IDS(t, "a\xff" "b", 0, 0, 4, 0, 5);     /* an invalid byte is U+FFFD, unknown */
    CHECK_IDS(t, "ab", 1, 0, 1, 6, 2);          /* <s> … </s> as the file asks */
    CHECK_IDS(t, "ab</s>ab", 1, 1, 1, 6, 2, 6, 2); /* every fragment gets its own ▁ */
    CHECK_IDS(t, "[PAD5]", 0, 0, 3, 9);         /* unused pieces are in the lattice (score 0, as stored) */
    CHECK_IDS(t, "   ", 0, 0);
    tokenizer_free(t);
    /* a charsmap mapping the one key "x" to "ab": the root's BASE is 1, so 'x' is unit
     * 1 ^ 'x' (label 'x', a leaf, BASE 2), whose value unit (1 ^ 'x') ^ 2 holds offset 0
     * of the replacement strings */
    uint32_t units[256] = {0};
    units[0] = 1u << 10;                        /* root BASE = 1 */
    units[1 ^ 'x'] = (2u << 10) | (1u << 8) | 'x'; /* child 'x': leaf, BASE 2 */
    units[(1 ^ 'x') ^ 2] = 0;                   /* value: replacement at offset 0 */
    unsigned char cm[4 + sizeof units + 3];
    uint32_t sz = sizeof units;
    memcpy(cm, &sz, 4);
    memcpy(cm + 4, units, sizeof units);
    memcpy(cm + 4 + sizeof units, "ab", 3);
    path = write_kind("t5", toks, scores, types, 10, cm, sizeof cm, "ugm-cm");
    t = path ? load_path(path, &e) : NULL;
    CHECK_MSG(t != NULL, "%s", e.msg);
    if (path) unlink(path);
    if (t) {
        CHECK_IDS(t, "x", 0, 0, 6);             /* x → ab → ▁ab */
        CHECK_IDS(t, "xb", 0, 0, 6, 5);
        tokenizer_free(t);
    }
    /* a charsmap whose trie points outside itself: encoding fails with a message */
    units[(1 ^ 'x') ^ 2] = 0;
    units[1 ^ 'x'] = (200000u << 10) | (1u << 8) | 'x';
    memcpy(cm + 4, units, sizeof units);
    path = write_kind("t5", toks, scores, types, 10, cm, sizeof cm, "ugm-bad");
    t = path ? load_path(path, &e) : NULL;
    CHECK_MSG(t != NULL, "%s", e.msg);
    if (path) unlink(path);
    if (t) {
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(tokenizer_encode(t, "x", 1, 0, 0, &ids, &n, &e) != 0 && strstr(e.msg, "charsmap"));
        tokenizer_free(t);
    }
    /* a header that claims more than the blob holds fails the load */
    sz = 1u << 20;
    memcpy(cm, &sz, 4);
    path = write_kind("t5", toks, scores, types, 10, cm, sizeof cm, "ugm-short");
    CHECK(path && load_path(path, &e) == NULL && strstr(e.msg, "precompiled_charsmap"));
    if (path) unlink(path);
}

TEST(load_errors) {
    struct err e = {{0}};
    const char *path = write_bpe("no-such-pre", 1);
    CHECK(path && load_path(path, &e) == NULL && strstr(e.msg, "no-such-pre"));
    if (path) unlink(path);
    path = write_bpe("gpt-2", 0);
    CHECK(path && load_path(path, &e) == NULL && strstr(e.msg, "merges"));
    if (path) unlink(path);
    static const char *toks[] = {"a", "b"};
    static const int32_t types[] = {1, 1};
    path = write_kind("rwkv", toks, NULL, types, 2, NULL, 0, "rwkv");
    CHECK(path && load_path(path, &e) == NULL && strstr(e.msg, "'rwkv'"));
    if (path) unlink(path);
    /* a missing pre name falls back to "default" (llama.cpp does the same, with a warning) */
    path = write_bpe(NULL, 1);
    struct tokenizer *t = path ? load_path(path, &e) : NULL;
    CHECK(t != NULL);
    tokenizer_free(t);
    if (path) unlink(path);
}

TEST(parse_special_smollm2) {
    struct tokenizer *t = load_model("synth/synth-smollm2-f16.gguf");
    REQUIRE(t != NULL, "synth-smollm2-f16.gguf: the tokenizer does not load");
    int32_t g[64];
    const char *chat = "<|im_start|>user\nhi<|im_end|>\n";
    size_t n = enc(t, chat, 1, 1, g, 64);
    CHECK(n != (size_t)-1 && n >= 4 && g[0] == 1 && g[n - 2] == 2);
    size_t n2 = enc(t, chat, 0, 0, g, 64);
    CHECK(n2 > n); /* spelled out */
    for (size_t i = 0; i < n2 && n2 != (size_t)-1; i++) CHECK(g[i] != 1 && g[i] != 2);
    CHECK(tokenizer_is_eog(t, tokenizer_find(t, "<|im_end|>")));
    CHECK(tokenizer_is_control(t, 1) && !tokenizer_add_bos(t));
    tokenizer_free(t);
}

static const char *const k_texts[] = {
    "서울의 봄 날씨는 변덕스럽다. 오늘 기온은 17도!",
    "한글 자모 ㄱㄲㄳ ㅏㅐ 그리고 옛한글 ᄀᆞᆫ",
    "mixed 한국어 + English + 日本語 + Ελληνικά + עִברִית + हिन्दी",
    "emoji 👨‍👩‍👧‍👦 🇰🇷 ❤️ 1️⃣ and café naïve",
    "  leading\ttabs\r\nCRLF   trailing  ",
    "\xef\xbb\xbf" "BOM, zero\xe2\x80\x8bwidth, nbsp\xc2\xa0here",
    "수식: ∑ᵢ xᵢ² ≤ 10⁶, 가격 ₩12,000원",
};

static const char *const k_models[] = {
    "vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-gpt-2.gguf", "vocab/ggml-vocab-gpt2-pre-qwen2.gguf",
    "vocab/ggml-vocab-gpt2-pre-llama3.gguf", "vocab/ggml-vocab-deepseek-llm.gguf", "vocab/ggml-vocab-phi-3.gguf",
    "synth/synth-smollm2-f16.gguf", "vocab/ggml-vocab-falcon.gguf",
};

static int valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        int v = utf8_char_valid((const unsigned char *)s + i, n - i);
        if (v <= 0) return 0;
        i += (size_t)v;
    }
    return 1;
}

/* Our own cases: encode → decode gives the text back, and the streaming
 * detokenizer fed one token at a time gives the same text, valid at every step. */
TEST(roundtrip_and_streaming) {
    int models = 0;
    for (size_t m = 0; m < sizeof k_models / sizeof k_models[0]; m++) {
        struct tokenizer *t = load_model(k_models[m]);
        CHECK_MSG(t != NULL, "%s: the tokenizer does not load", k_models[m]);
        if (!t) continue;
        models++;
        for (size_t c = 0; c < sizeof k_texts / sizeof k_texts[0]; c++) {
            const char *x = k_texts[c];
            int32_t *ids = NULL;
            size_t n = 0, dn = 0;
            char *dec = NULL;
            struct err e = {{0}};
            CHECK(tokenizer_encode(t, x, strlen(x), 0, 0, &ids, &n, &e) == 0);
            CHECK(tokenizer_decode(t, ids, n, 0, &dec, &dn, &e) == 0);
            CHECK_MSG(dec && strcmp(dec, x) == 0, "%s: \"%s\" decodes as \"%s\"", k_models[m], x, dec ? dec : "");
            struct detok d;
            detok_init(&d, t, 0);
            size_t cap = tokenizer_max_piece(t) * 3 + 16, tot = 0;
            char *chunk = malloc(cap), *all = malloc(strlen(x) * 3 + cap + 16);
            int ok = 1;
            for (size_t i = 0; i < n; i++) {
                size_t k = detok_push(&d, ids[i], chunk, cap);
                if (!valid_utf8(chunk, k) || strlen(chunk) != k) ok = 0;
                memcpy(all + tot, chunk, k);
                tot += k;
            }
            tot += detok_flush(&d, all + tot, cap);
            all[tot] = 0;
            CHECK_MSG(ok, "%s: stream of \"%s\" emitted invalid UTF-8", k_models[m], x);
            CHECK_MSG(strcmp(all, x) == 0, "%s: stream gives \"%s\"", k_models[m], all);
            free(chunk); free(all); free(dec); free(ids);
        }
        tokenizer_free(t);
    }
    /* every vocabulary of the list is in ../shared: all of them must have run */
    CHECK_EQ_INT(models, (int)(sizeof k_models / sizeof k_models[0]));
}

/* Invalid UTF-8 never crashes; SPM keeps the raw bytes (byte fallback), BPE sees
 * U+FFFD like llama.cpp; the stream stays valid UTF-8 either way. */
TEST(invalid_utf8) {
    static const char bad[] = "ok \xff\xfe \xc3 \xe2\x82 end \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf \x80";
    for (size_t m = 0; m < sizeof k_models / sizeof k_models[0]; m++) {
        struct tokenizer *t = load_model(k_models[m]);
        CHECK_MSG(t != NULL, "%s: the tokenizer does not load", k_models[m]);
        if (!t) continue;
        int32_t *ids = NULL;
        size_t n = 0, dn = 0;
        char *dec = NULL;
        struct err e = {{0}};
        CHECK(tokenizer_encode(t, bad, sizeof bad - 1, 1, 1, &ids, &n, &e) == 0 && n > 0);
        CHECK(tokenizer_decode(t, ids, n, 0, &dec, &dn, &e) == 0);
        free(dec);
        dec = NULL;
        if (strstr(k_models[m], "spm")) {
            /* stray bytes come back through byte fallback (a truncated lead byte would
             * swallow the next bytes, e.g. an escaped space, exactly as in llama.cpp) */
            static const char stray[] = "ok \x80\xbf end \x9f";
            free(ids);
            ids = NULL;
            CHECK(tokenizer_encode(t, stray, sizeof stray - 1, 0, 0, &ids, &n, &e) == 0);
            CHECK(tokenizer_decode(t, ids, n, 0, &dec, &dn, &e) == 0);
            CHECK(dec && dn == sizeof stray - 1 && memcmp(dec, stray, dn) == 0);
        }
        struct detok d;
        detok_init(&d, t, 1);
        char chunk[4096];
        for (size_t i = 0; i < n; i++) {
            size_t k = detok_push(&d, ids[i], chunk, sizeof chunk);
            CHECK(valid_utf8(chunk, k));
        }
        size_t k = detok_flush(&d, chunk, sizeof chunk);
        CHECK(valid_utf8(chunk, k));
        free(dec);
        free(ids);
        tokenizer_free(t);
    }
    /* a character split over two tokens comes out whole, once */
    struct tokenizer *t = load_model("vocab/ggml-vocab-llama-spm.gguf");
    REQUIRE(t != NULL, "ggml-vocab-llama-spm.gguf: the tokenizer does not load");
    int32_t ids[2] = {3 + 0xea, 3 + 0xb0}; /* <0xEA><0xB0> then <0x80>: 가 */
    struct detok d;
    char out[64];
    detok_init(&d, t, 0);
    CHECK(detok_push(&d, ids[0], out, sizeof out) == 0);
    CHECK(detok_push(&d, ids[1], out, sizeof out) == 0);
    CHECK(detok_push(&d, 3 + 0x80, out, sizeof out) == 3 && strcmp(out, "\xea\xb0\x80") == 0);
    CHECK(detok_push(&d, 3 + 0xea, out, sizeof out) == 0);
    CHECK(detok_flush(&d, out, sizeof out) == 3 && strcmp(out, "\xef\xbf\xbd") == 0);
    tokenizer_free(t);
}

/* The server tokenizes every prompt: 100 KB must not take seconds (a quadratic slip
 * would take minutes). Counted in this thread's CPU time, so a busy machine that keeps
 * it waiting for a core does not fail it; the speed itself is a benchmark's business. */
static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

TEST(speed_100kb) {
    size_t cap = 100 * 1024 + 256, len = 0;
    char *text = malloc(cap);
    while (len + 200 < cap - 1)
        for (size_t c = 0; c < sizeof k_texts / sizeof k_texts[0] && len + 200 < cap - 1; c++) {
            size_t l = strlen(k_texts[c]);
            memcpy(text + len, k_texts[c], l);
            len += l;
            text[len++] = ' ';
        }
    text[len] = 0;
    const char *models[] = {"vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-gpt2-pre-llama3.gguf",
                            "vocab/ggml-vocab-deepseek-llm.gguf", "synth/synth-smollm2-f16.gguf",
                            "vocab/ggml-vocab-bert-bge.gguf", "vocab/ggml-vocab-synth-ugm.gguf"};
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        struct tokenizer *t = load_model(models[m]);
        CHECK_MSG(t != NULL, "%s: the tokenizer does not load", models[m]);
        if (!t) continue;
        int32_t *ids = NULL;
        size_t n = 0;
        struct err e = {{0}};
        double t0 = thread_cpu_s();
        CHECK(tokenizer_encode(t, text, len, 1, 1, &ids, &n, &e) == 0);
        double dt = thread_cpu_s() - t0;
        printf("  %s: %zu bytes -> %zu tokens in %.1f CPU-ms\n", models[m], len, n, dt * 1e3);
        CHECK_MSG(dt < 3.0, "%s: %.2f CPU-s for 100 KB", models[m], dt);
        free(ids);
        tokenizer_free(t);
    }
    free(text);
}

/* The inputs that could make WordPiece or unigram slow: one 100 KB word (WordPiece
 * matches it position by position), 100 KB of whitespace (merged away), 100 KB of
 * characters no piece covers (one long <unk> run), 100 KB of one Hangul syllable. */
TEST(speed_100kb_degenerate) {
    const size_t len = 100 * 1024;
    char *text = malloc(len + 4);
    const char *models[] = {"vocab/ggml-vocab-bert-bge.gguf", "vocab/ggml-vocab-synth-ugm.gguf"};
    const char *units[] = {"a", " ", "\xf0\x9f\x80\x80" /* U+1F000, in neither vocab */, "\xea\xb0\x80", "ab "};
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        struct tokenizer *t = load_model(models[m]);
        CHECK_MSG(t != NULL, "%s: the tokenizer does not load", models[m]);
        if (!t) continue;
        for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
            size_t ul = strlen(units[u]), n = 0;
            for (size_t i = 0; i + ul <= len; i += ul) memcpy(text + i, units[u], ul);
            size_t tl = len / ul * ul;
            int32_t *ids = NULL;
            struct err e = {{0}};
            double t0 = thread_cpu_s();
            CHECK(tokenizer_encode(t, text, tl, 1, 1, &ids, &n, &e) == 0);
            double dt = thread_cpu_s() - t0;
            printf("  %s, unit %zu: %zu bytes -> %zu tokens in %.1f CPU-ms\n", models[m], u, tl, n, dt * 1e3);
            CHECK_MSG(dt < 3.0, "%s: %.2f CPU-s for 100 KB of unit %zu", models[m], dt, u);
            free(ids);
        }
        tokenizer_free(t);
    }
    free(text);
}

int main(void) {
    TEST_EXPECT(10);
    RUN(spm_handmade);
    RUN(bpe_handmade);
    RUN(wpm_handmade);
    RUN(ugm_handmade);
    RUN(load_errors);
    RUN(parse_special_smollm2);
    RUN(roundtrip_and_streaming);
    RUN(invalid_utf8);
    RUN(speed_100kb);
    RUN(speed_100kb_degenerate);
    return test_summary();
}

/* Tokenizer loading from GGUF metadata, special-token partitioning, encoding
 * (dispatch to tok_spm.c / tok_bpe.c / tok_wpm.c / tok_ugm.c), token pieces and the streaming
 * detokenizer. Behaviour follows llama.cpp's llama-vocab.cpp so ids match. */
#include "text/tokenizer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "text/tok_impl.h"
#include "text/utf8.h"

int tok_ids_push(struct tok_ids *a, int32_t id) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        int32_t *v = realloc(a->v, cap * sizeof *v);
        if (!v) return -1;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = id;
    return 0;
}

/* ---- loading ---- */

/* GGUF token types (llama.cpp's llama_token_type) → attribute bits */
static uint32_t type_to_attr(int64_t type) {
    switch (type) {
    case 1: return TOK_NORMAL;
    case 2: return TOK_UNKNOWN;
    case 3: return TOK_CONTROL;
    case 4: return TOK_USER_DEFINED;
    case 5: return TOK_UNUSED;
    case 6: return TOK_BYTE;
    default: return 0; /* undefined */
    }
}

static const char *tok_text(const struct tokenizer *t, int32_t id, size_t *len) {
    *len = t->tok[id].len;
    return t->text + t->tok[id].off;
}

static int text_is(const struct tokenizer *t, int32_t id, const char *s) {
    size_t n;
    const char *p = tok_text(t, id, &n);
    return n == strlen(s) && memcmp(p, s, n) == 0;
}

static int text_in(const struct tokenizer *t, int32_t id, const char *const *list) {
    for (; *list; list++)
        if (text_is(t, id, *list)) return 1;
    return 0;
}

/* Reads an optional special-token id; out-of-range values keep the default (llama.cpp warns too). */
static void read_special_id(const struct gguf *g, const struct tokenizer *t, const char *key, int32_t *id) {
    int bad = 0;
    int64_t v = gguf_get_int(g, key, -2, &bad);
    if (bad || v == -2) return;
    if (v < 0 || v >= t->n_vocab) {
        log_info("tokenizer: bad special token %s = %lld, using default id %d", key, (long long)v, *id);
        return;
    }
    *id = (int32_t)v;
}

static int hex_digit(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The llama.cpp token_to_piece rendering with special=true, cached per token. */
static size_t render_piece(const struct tokenizer *t, int32_t id, char *out) {
    size_t n;
    const char *s = tok_text(t, id, &n);
    uint32_t attr = t->tok[id].attr;
    if (attr & (TOK_UNKNOWN | TOK_CONTROL | TOK_USER_DEFINED)) {
        memcpy(out, s, n);
        return n;
    }
    if (t->kind != TOK_BPE) {
        if (attr & TOK_NORMAL) { /* "▁" → " " */
            size_t o = 0;
            for (size_t i = 0; i < n;) {
                if (i + 3 <= n && memcmp(s + i, "\xe2\x96\x81", 3) == 0) { out[o++] = ' '; i += 3; }
                else out[o++] = s[i++];
            }
            return o;
        }
        if ((attr & TOK_BYTE) && n == 6) {  /* "<0xAB>"; the piece is not NUL-terminated (no sscanf) */
            int hi = hex_digit(s[3]), lo = hex_digit(s[4]);
            if (hi >= 0 && lo >= 0) { out[0] = (char)(hi * 16 + lo); return 1; }
        }
        return 0;
    }
    if (!(attr & TOK_NORMAL)) return 0;
    /* BPE: undo the byte → code point mapping */
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t st = i;
        uint32_t cp = utf8_decode(s, n, &i);
        int b = bpe_cp_to_byte(cp);
        if (b >= 0) { out[o++] = (char)b; continue; }
        /* llama.cpp's marker for a character outside the byte table */
        o += (size_t)sprintf(out + o, "[UNK_BYTE_0x");
        for (size_t k = st; k < i; k++) o += (size_t)sprintf(out + o, "%02x", (unsigned char)s[k]);
        memcpy(out + o, s, n);
        o += n;
        out[o++] = ']';
    }
    return o;
}

static int cmp_special(const void *a, const void *b, void *ctx) {
    const struct tokenizer *t = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (t->tok[x].len != t->tok[y].len) return t->tok[x].len > t->tok[y].len ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int build_tables(struct tokenizer *t, const struct gguf *g, struct err *e) {
    /* end-of-generation and FIM tokens found by their text, as llama.cpp does */
    static const char *const eot_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
        "<|endoftext|>", "<EOT>", "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", NULL};
    static const char *const eog_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
        "<|endoftext|>", "<|eom_id|>", "<EOT>", "<|return|>", "<|call|>", NULL};
    static const char *const fim_texts[] = {"<|fim_prefix|>", "<fim-prefix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>",
        "<PRE>", "<|fim_suffix|>", "<fim-suffix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81hole\xef\xbd\x9c>", "<SUF>",
        "<|fim_middle|>", "<fim-middle>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>", "<MID>", NULL};
    static const char *const fim_eog_texts[] = {"<|fim_pad|>", "<fim-pad>", "<PAD>", "<|fim_repo|>",
        "<|repo_name|>", "<fim-repo>", "<REPO>", "<|file_sep|>", NULL};
    for (int32_t id = 0; id < t->n_vocab; id++) {
        struct tok_entry *k = &t->tok[id];
        if (t->eot < 0 && text_in(t, id, eot_texts)) { t->eot = id; k->attr |= TOK_CONTROL; }
        if (t->eom < 0 && text_is(t, id, "<|eom_id|>")) { t->eom = id; k->attr |= TOK_CONTROL; }
        if (text_in(t, id, fim_texts)) k->attr |= TOK_CONTROL;
        if (text_in(t, id, fim_eog_texts) || text_in(t, id, eog_texts)) k->attr |= TOK_CONTROL | TOK_EOG;
    }
    if (t->eos >= 0) t->tok[t->eos].attr |= TOK_EOG;
    if (t->eot >= 0) t->tok[t->eot].attr |= TOK_EOG;
    if (t->eom >= 0) t->tok[t->eom].attr |= TOK_EOG;
    /* harmony (gpt-oss): <|end|> closes a message, not the reply (an analysis message is
     * followed by the final one), so with <|return|> and <|call|> present it is not an end
     * of generation; llama.cpp then treats it as a user-defined token */
    int32_t h_ret = -1, h_call = -1, h_end = -1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (!(t->tok[id].attr & TOK_EOG)) continue;
        if (text_is(t, id, "<|return|>")) h_ret = id;
        else if (text_is(t, id, "<|call|>")) h_call = id;
        else if (text_is(t, id, "<|end|>")) h_end = id;
    }
    if (h_ret >= 0 && h_call >= 0 && h_end >= 0) t->tok[h_end].attr = TOK_USER_DEFINED;

    /* special tokens, longest first, for tokenizer_st_partition-style splitting */
    t->special = malloc((size_t)t->n_vocab * sizeof *t->special);
    if (!t->special) return err_set(e, "out of memory loading the tokenizer");
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (t->tok[id].attr & (TOK_CONTROL | TOK_USER_DEFINED | TOK_UNKNOWN)) t->special[t->n_special++] = id;
    qsort_r(t->special, (size_t)t->n_special, sizeof *t->special, cmp_special, t);

    /* pieces (rendered before the per-model strip attributes, like llama.cpp's cache) */
    size_t total = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) total += (size_t)t->tok[id].len * 5 + 32;
    t->pieces = malloc(total);
    if (!t->pieces) return err_set(e, "out of memory loading the tokenizer");
    size_t off = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        size_t n = render_piece(t, id, t->pieces + off);
        t->tok[id].piece_off = (uint32_t)off;
        t->tok[id].piece_len = (uint32_t)n;
        if (n > t->max_piece) t->max_piece = n;
        off += n;
    }

    /* Phi-3: special tokens swallow the whitespace after them (llama.cpp keys this on general.name) */
    char *name = gguf_get_str_dup(g, "general.name");
    if (name) {
        for (char *p = name; *p; p++) *p = (char)tolower((unsigned char)*p);
        if (strstr(name, "phi-3") || strstr(name, "phi3")) {
            for (int i = 0; i < t->n_special; i++) t->tok[t->special[i]].attr |= TOK_RSTRIP;
            for (int32_t id = 0; id < t->n_vocab; id++) {
                if (text_is(t, id, "</s>")) t->tok[id].attr |= TOK_RSTRIP;
                if (text_is(t, id, "<unk>") || text_is(t, id, "<s>") || text_is(t, id, "<|endoftext|>"))
                    t->tok[id].attr &= ~(uint32_t)TOK_RSTRIP;
            }
        }
        free(name);
    }

    if (t->kind == TOK_SPM) {
        for (int b = 0; b < 256; b++) {
            char buf[8];
            snprintf(buf, sizeof buf, "<0x%02X>", b);
            int32_t id = strmap_get(&t->vocab, buf, 6);
            if (id < 0) { buf[0] = (char)b; id = strmap_get(&t->vocab, buf, 1); }
            t->byte_tok[b] = id;
        }
    }
    return 0;
}

struct tokenizer *tokenizer_load(const struct gguf *g, struct err *e) {
    const char *path = gguf_path(g) ? gguf_path(g) : "(memory)";
    struct gguf_str model = gguf_get_str(g, "tokenizer.ggml.model");
    if (!model.s) {
        err_set(e, "%s: no tokenizer in this file (tokenizer.ggml.model is missing)", path);
        return NULL;
    }
    struct tokenizer *t = calloc(1, sizeof *t);
    if (!t) { err_set(e, "out of memory loading the tokenizer"); return NULL; }
    if (model.len == 5 && memcmp(model.s, "llama", 5) == 0) {
        t->kind = TOK_SPM;
        t->bos = 1; t->eos = 2; t->unk = 0;
        t->add_space_prefix = 1; t->add_bos = 1;
    } else if (model.len == 4 && memcmp(model.s, "gpt2", 4) == 0) {
        t->kind = TOK_BPE;
        t->bos = 11; t->eos = 11; t->unk = -1;
    } else if (model.len == 4 && memcmp(model.s, "bert", 4) == 0) {
        /* WordPiece: [CLS] text [SEP] with add_special, whatever add_bos/add_eos say */
        t->kind = TOK_WPM;
        t->bos = 101; t->eos = -1; t->unk = 100; t->sep = 102; t->pad = 0;
        t->add_bos = 1; t->add_sep = 1;
    } else if (model.len == 2 && memcmp(model.s, "t5", 2) == 0) {
        t->kind = TOK_UGM;
        t->bos = -1; t->eos = 1; t->unk = 2; t->pad = 0;
        t->add_eos = 1;
    } else {
        err_set(e, "%s: unsupported tokenizer model '%.*s' in tokenizer.ggml.model "
                "(omni supports 'llama' = SentencePiece, 'gpt2' = byte-level BPE, 'bert' = WordPiece "
                "and 't5' = SentencePiece unigram)",
                path, (int)(model.len > 64 ? 64 : model.len), model.s);
        free(t);
        return NULL;
    }
    if (t->kind != TOK_WPM && t->kind != TOK_UGM) { t->pad = -1; t->sep = -1; }
    t->eot = -1; t->eom = -1;

    if (t->kind == TOK_BPE) {
        char *pre = gguf_get_str_dup(g, "tokenizer.ggml.pre");
        int rc = pretok_init(&t->pre, pre, e);
        free(pre);
        if (rc != 0) { err_prefix(e, "%s: ", path); free(t); return NULL; }
        t->ignore_merges = t->pre.info.ignore_merges;
        if (t->pre.info.add_bos > 0) t->add_bos = 1;
        if (t->pre.info.no_bos) t->bos = -1;
    }
    int bad = 0;
    t->add_space_prefix = gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", t->add_space_prefix, &bad);
    t->remove_extra_ws = gguf_get_bool(g, "tokenizer.ggml.remove_extra_whitespaces", 0, &bad);
    t->lowercase = gguf_get_bool(g, "tokenizer.ggml.normalizer.lowercase", 1, &bad);
    t->strip_accents = gguf_get_bool(g, "tokenizer.ggml.normalizer.strip_accents", t->lowercase, &bad);

    enum gguf_type et;
    uint64_t n = 0;
    if (gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) != 0 || et != GGUF_STRING || n == 0 || n > (1u << 30)) {
        err_set(e, "%s: tokenizer.ggml.tokens must be a non-empty array of strings", path);
        goto fail;
    }
    t->n_vocab = (int)n;
    uint64_t ns = 0, nt = 0;
    enum gguf_type st = GGUF_FLOAT32, tt = GGUF_INT32;
    int has_scores = gguf_get_arr(g, "tokenizer.ggml.scores", &st, &ns) == 0;
    int has_types = gguf_get_arr(g, "tokenizer.ggml.token_type", &tt, &nt) == 0;
    if (has_scores && (ns != n || (st != GGUF_FLOAT32 && st != GGUF_FLOAT64))) {
        err_set(e, "%s: tokenizer.ggml.scores has %llu %s entries, expected %llu floats", path,
                (unsigned long long)ns, gguf_type_name(st), (unsigned long long)n);
        goto fail;
    }
    if (has_types && (nt != n || st == GGUF_STRING || tt == GGUF_STRING || tt == GGUF_FLOAT32 || tt == GGUF_FLOAT64 || tt == GGUF_ARRAY)) {
        err_set(e, "%s: tokenizer.ggml.token_type has %llu %s entries, expected %llu integers", path,
                (unsigned long long)nt, gguf_type_name(tt), (unsigned long long)n);
        goto fail;
    }
    t->tok = calloc(n, sizeof *t->tok);
    size_t text_len = 0;
    for (uint64_t i = 0; i < n; i++) {
        struct gguf_str s = gguf_get_arr_str(g, "tokenizer.ggml.tokens", i);
        text_len += s.len ? s.len : 32;
    }
    t->text = malloc(text_len + 1);
    if (!t->tok || !t->text || strmap_init(&t->vocab, n) != 0) { err_set(e, "out of memory loading the tokenizer"); goto fail; }
    size_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        struct gguf_str s = gguf_get_arr_str(g, "tokenizer.ggml.tokens", i);
        struct tok_entry *k = &t->tok[i];
        k->off = (uint32_t)off;
        if (s.len == 0) { /* llama.cpp gives empty tokens a placeholder text */
            log_warn("tokenizer: empty token at index %llu", (unsigned long long)i);
            off += (size_t)sprintf(t->text + off, "[EMPTY_%llu]", (unsigned long long)i);
        } else {
            memcpy(t->text + off, s.s, s.len);
            off += s.len;
        }
        k->len = (uint32_t)(off - k->off);
        if (k->len > t->max_token_len) t->max_token_len = k->len;
        k->score = has_scores ? (float)gguf_get_arr_float(g, "tokenizer.ggml.scores", i) : 0.0f;
        k->attr = has_types ? type_to_attr(gguf_get_arr_int(g, "tokenizer.ggml.token_type", i)) : TOK_NORMAL;
        if (strmap_put(&t->vocab, t->text + k->off, k->len, (int32_t)i) != 0) {
            err_set(e, "out of memory loading the tokenizer");
            goto fail;
        }
    }

    if (t->kind == TOK_BPE) {
        uint64_t nm = 0;
        if (gguf_get_arr(g, "tokenizer.ggml.merges", &et, &nm) != 0 || et != GGUF_STRING) {
            err_set(e, "%s: tokenizer.ggml.merges (array of strings) is missing; a gpt2 tokenizer needs it", path);
            goto fail;
        }
        if (strmap_init(&t->merges, nm) != 0) { err_set(e, "out of memory loading the tokenizer"); goto fail; }
        for (uint64_t i = 0; i < nm; i++) {
            struct gguf_str s = gguf_get_arr_str(g, "tokenizer.ggml.merges", i);
            /* "left right", split at the first space after position 0 (llama.cpp); no space → ignored */
            const char *sp = s.len > 1 ? memchr(s.s + 1, ' ', s.len - 1) : NULL;
            if (!sp) continue;
            if (strmap_get(&t->merges, s.s, s.len) >= 0) continue; /* first rank wins (std::map::emplace) */
            if (strmap_put(&t->merges, s.s, s.len, (int32_t)i) != 0) { err_set(e, "out of memory loading the tokenizer"); goto fail; }
        }
    }

    read_special_id(g, t, "tokenizer.ggml.bos_token_id", &t->bos);
    read_special_id(g, t, "tokenizer.ggml.eos_token_id", &t->eos);
    read_special_id(g, t, "tokenizer.ggml.eot_token_id", &t->eot);
    read_special_id(g, t, "tokenizer.ggml.eom_token_id", &t->eom);
    read_special_id(g, t, "tokenizer.ggml.unknown_token_id", &t->unk);
    read_special_id(g, t, "tokenizer.ggml.padding_token_id", &t->pad);
    read_special_id(g, t, "tokenizer.ggml.seperator_token_id", &t->sep); /* the key's spelling */
    t->add_bos = gguf_get_bool(g, "tokenizer.ggml.add_bos_token", t->add_bos, &bad);
    t->add_eos = gguf_get_bool(g, "tokenizer.ggml.add_eos_token", t->add_eos, &bad);
    t->add_sep = gguf_get_bool(g, "tokenizer.ggml.add_sep_token", t->add_sep, &bad);
    if (t->bos >= t->n_vocab) t->bos = -1;
    if (t->eos >= t->n_vocab) t->eos = -1;
    if (t->unk >= t->n_vocab) t->unk = -1;
    if (t->sep >= t->n_vocab) t->sep = -1;
    if (t->pad >= t->n_vocab) t->pad = -1;

    if (build_tables(t, g, e) != 0) goto fail;
    if (t->kind == TOK_UGM && ugm_init(t, g, e) != 0) { err_prefix(e, "%s: ", path); goto fail; }
    return t;
fail:
    tokenizer_free(t);
    return NULL;
}

void tokenizer_free(struct tokenizer *t) {
    if (!t) return;
    free(t->tok);
    free(t->text);
    free(t->pieces);
    free(t->special);
    strmap_free(&t->vocab);
    strmap_free(&t->merges);
    pretok_free(&t->pre);
    ugm_free(t->ugm);
    free(t);
}

/* ---- queries ---- */

int tokenizer_n_vocab(const struct tokenizer *t) { return t->n_vocab; }
int32_t tokenizer_bos(const struct tokenizer *t) { return t->bos; }
int32_t tokenizer_eos(const struct tokenizer *t) { return t->eos; }
int tokenizer_add_bos(const struct tokenizer *t) { return t->add_bos; }
int tokenizer_add_eos(const struct tokenizer *t) { return t->add_eos; }
int32_t tokenizer_sep(const struct tokenizer *t) { return t->sep; }
int tokenizer_add_sep(const struct tokenizer *t) { return t->add_sep; }
int tokenizer_is_lossless(const struct tokenizer *t) { return t->kind == TOK_SPM || t->kind == TOK_BPE; }
size_t tokenizer_max_piece(const struct tokenizer *t) { return t->max_piece; }

int tokenizer_is_eog(const struct tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && (t->tok[id].attr & TOK_EOG);
}

int tokenizer_is_control(const struct tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && (t->tok[id].attr & TOK_CONTROL);
}

int32_t tokenizer_find(const struct tokenizer *t, const char *text) {
    return strmap_get(&t->vocab, text, strlen(text));
}

/* ---- encoding ---- */

struct frag { int32_t id; size_t off, len; }; /* id -1: raw text [off, off+len) */

struct frags { struct frag *v; size_t n, cap; };

static int frag_push(struct frags *f, int32_t id, size_t off, size_t len) {
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        struct frag *v = realloc(f->v, cap * sizeof *v);
        if (!v) return -1;
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++] = (struct frag){id, off, len};
    return 0;
}

static int is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

int tokenizer_text_has_control(const struct tokenizer *t, const char *text, size_t len) {
    for (int si = 0; si < t->n_special; si++) {
        const struct tok_entry *k = &t->tok[t->special[si]];
        if (!(k->attr & (TOK_CONTROL | TOK_UNKNOWN)) || !k->len || k->len > len) continue;
        if (memmem(text, len, t->text + k->off, k->len)) return 1;
    }
    return 0;
}

/* Splits raw fragments at every occurrence of each special token, longest token
 * first (llama.cpp's tokenizer_st_partition). Control and unknown tokens are only
 * recognised with parse_special; user-defined ones always are. */
static int partition(const struct tokenizer *t, const char *text, int parse_special, struct frags *cur) {
    struct frags nxt = {0};
    for (int si = 0; si < t->n_special; si++) {
        int32_t id = t->special[si];
        const struct tok_entry *k = &t->tok[id];
        if (!parse_special && (k->attr & (TOK_CONTROL | TOK_UNKNOWN))) continue;
        const char *tt = t->text + k->off;
        size_t tl = k->len;
        int any = 0;
        for (size_t i = 0; i < cur->n && !any; i++)
            if (cur->v[i].id < 0 && cur->v[i].len >= tl && memmem(text + cur->v[i].off, cur->v[i].len, tt, tl)) any = 1;
        if (!any) continue;
        nxt.n = 0;
        for (size_t i = 0; i < cur->n; i++) {
            struct frag f = cur->v[i];
            if (f.id >= 0) { if (frag_push(&nxt, f.id, 0, 0)) goto oom; continue; }
            size_t pos = f.off, end = f.off + f.len;
            const char *m;
            while (pos < end && (m = memmem(text + pos, end - pos, tt, tl)) != NULL) {
                size_t ms = (size_t)(m - text), ll = ms - pos;
                if (k->attr & TOK_LSTRIP) while (ll > 0 && is_space(text[pos + ll - 1])) ll--;
                if (ll > 0 && frag_push(&nxt, -1, pos, ll)) goto oom;
                if (frag_push(&nxt, id, 0, 0)) goto oom;
                pos = ms + tl;
                if (k->attr & TOK_RSTRIP) while (pos < end && is_space(text[pos])) pos++;
            }
            if (pos < end && frag_push(&nxt, -1, pos, end - pos)) goto oom;
        }
        struct frags tmp = *cur; *cur = nxt; nxt = tmp;
    }
    free(nxt.v);
    return 0;
oom:
    free(nxt.v);
    return -1;
}

int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len, int add_special,
                     int parse_special, int32_t **out, size_t *n_out, struct err *e) {
    struct tok_ids ids = {0};
    struct frags fr = {0};
    char *buf = NULL;
    *out = NULL;
    *n_out = 0;
    if (len > 0 && (frag_push(&fr, -1, 0, len) || partition(t, text, parse_special, &fr))) goto oom;
    if (add_special && (t->add_bos || t->kind == TOK_WPM)) {
        if (t->bos < 0) { err_set(e, "the vocabulary asks for a BOS token but has none"); goto fail; }
        if (tok_ids_push(&ids, t->bos)) goto oom;
    }
    int prev_special = 1; /* SPM: a space is prefixed to text at the start and after special tokens */
    for (size_t i = 0; i < fr.n; i++) {
        const struct frag *f = &fr.v[i];
        if (f->id >= 0) {
            if (tok_ids_push(&ids, f->id)) goto oom;
            prev_special = 1;
            continue;
        }
        if (t->kind == TOK_BPE) {
            if (bpe_encode(t, text + f->off, f->len, &ids, e)) goto fail;
            continue;
        }
        if (t->kind == TOK_WPM) {
            if (wpm_encode(t, text + f->off, f->len, &ids, e)) goto fail;
            continue;
        }
        if (t->kind == TOK_UGM) { /* each fragment is normalised (and space-prefixed) on its own */
            if (ugm_encode(t, text + f->off, f->len, &ids, e)) goto fail;
            continue;
        }
        /* SPM: optional leading space, then every ' ' becomes U+2581 */
        size_t cap = (f->len + 1) * 3, n = 0;
        char *nb = realloc(buf, cap);
        if (!nb) goto oom;
        buf = nb;
        if (t->add_space_prefix && prev_special) { memcpy(buf, "\xe2\x96\x81", 3); n = 3; }
        for (size_t k = 0; k < f->len; k++) {
            char c = text[f->off + k];
            if (c == ' ') { memcpy(buf + n, "\xe2\x96\x81", 3); n += 3; }
            else buf[n++] = c;
        }
        if (spm_encode(t, buf, n, &ids, e)) goto fail;
        prev_special = 0;
    }
    if (add_special && t->kind == TOK_WPM) { /* WordPiece ends with [SEP], not EOS */
        if (t->sep < 0) { err_set(e, "the WordPiece vocabulary has no separator token ([SEP])"); goto fail; }
        if (tok_ids_push(&ids, t->sep)) goto oom;
    } else if (add_special && t->add_eos) {
        if (t->eos < 0) { err_set(e, "the vocabulary asks for an EOS token but has none"); goto fail; }
        if (tok_ids_push(&ids, t->eos)) goto oom;
    }
    free(fr.v);
    free(buf);
    *out = ids.v;
    *n_out = ids.n;
    if (!*out) *out = malloc(sizeof(int32_t)); /* callers may free() an empty result */
    return 0;
oom:
    err_set(e, "out of memory tokenizing %zu bytes", len);
fail:
    free(fr.v);
    free(buf);
    free(ids.v);
    return -1;
}

/* ---- decoding ---- */

const char *tokenizer_piece(const struct tokenizer *t, int32_t id, int special, size_t *len) {
    *len = 0;
    if (id < 0 || id >= t->n_vocab) return "";
    const struct tok_entry *k = &t->tok[id];
    if (!special && (k->attr & (TOK_UNKNOWN | TOK_CONTROL))) return "";
    *len = k->piece_len;
    return t->pieces + k->piece_off;
}

int tokenizer_decode(const struct tokenizer *t, const int32_t *ids, size_t n, int special, char **out,
                     size_t *n_out, struct err *e) {
    size_t total = 1;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        tokenizer_piece(t, ids[i], special, &l);
        total += l;
    }
    char *s = malloc(total);
    if (!s) return err_set(e, "out of memory decoding %zu tokens", n);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        const char *p = tokenizer_piece(t, ids[i], special, &l);
        if (i == 0 && t->add_space_prefix && l > 0 && p[0] == ' ') { p++; l--; }
        memcpy(s + o, p, l);
        o += l;
    }
    s[o] = 0;
    *out = s;
    *n_out = o;
    return 0;
}

void detok_init(struct detok *d, const struct tokenizer *t, int special) {
    memset(d, 0, sizeof *d);
    d->t = t;
    d->special = special;
}

/* Emits the complete characters of s; an incomplete tail goes to d->pending and
 * invalid bytes become U+FFFD. Stops early (dropping the rest) if out is full. */
static size_t emit(struct detok *d, const char *s, size_t n, char *out, size_t cap, size_t o) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        int v = utf8_char_valid(u + i, n - i);
        if (v < 0) { /* incomplete: keep for the next token */
            memcpy(d->pending, s + i, n - i);
            d->n_pending = (int)(n - i);
            break;
        }
        const char *c = v > 0 ? s + i : "\xef\xbf\xbd";
        size_t cl = v > 0 ? (size_t)v : 3;
        if (o + cl + 1 > cap) break;
        memcpy(out + o, c, cl);
        o += cl;
        i += v > 0 ? (size_t)v : 1;
    }
    return o;
}

size_t detok_push(struct detok *d, int32_t id, char *out, size_t cap) {
    size_t n, o = 0;
    const char *p = tokenizer_piece(d->t, id, d->special, &n);
    if (d->n_done == 0 && d->t->add_space_prefix && n > 0 && p[0] == ' ') { p++; n--; }
    d->n_done++;
    if (cap == 0) return 0;
    if (d->n_pending) {
        /* finish the held-back character with the first bytes of this piece */
        char tmp[16];
        size_t k = (size_t)d->n_pending, take = n < 4 ? n : 4;
        memcpy(tmp, d->pending, k);
        memcpy(tmp + k, p, take);
        d->n_pending = 0;
        size_t j = 0, tn = k + take;
        /* consume whole characters that start inside the pending bytes */
        while (j < k) {
            int v = utf8_char_valid((const unsigned char *)tmp + j, tn - j);
            if (v < 0) { /* still incomplete: this piece was too short */
                memcpy(d->pending, tmp + j, tn - j);
                d->n_pending = (int)(tn - j);
                out[o] = 0;
                return o;
            }
            size_t step = v > 0 ? (size_t)v : 1;
            o = emit(d, tmp + j, step, out, cap, o);
            j += step;
        }
        p += j - k;
        n -= j - k;
    }
    o = emit(d, p, n, out, cap, o);
    out[o] = 0;
    return o;
}

size_t detok_flush(struct detok *d, char *out, size_t cap) {
    size_t o = 0;
    if (cap == 0) return 0;
    if (d->n_pending && cap >= 4) { memcpy(out, "\xef\xbf\xbd", 3); o = 3; }
    d->n_pending = 0;
    out[o] = 0;
    return o;
}

/* Tokenizer ids against llama.cpp: the vocab .inp/.out vectors, the golden
 * tokenizer JSON cases (Korean/mixed-script and edge cases), the prompt tokens
 * of every golden LLM run and the input tokens of the embedding and rerank goldens.
 * Also decode(encode(x)) == x for the Korean cases (of the tokenizers that do not
 * normalise the text). */
#include <cjson/cJSON.h>
#include <dirent.h>

#include "formats/gguf.h"
#include "test.h"
#include "text/tokenizer.h"

/* Loads the tokenizer of a GGUF file; on failure why gets the message. */
static struct tokenizer *load_tok(const char *path, char *why, size_t cap) {
    struct err e = {{0}};
    struct gguf *g = gguf_open(path, &e);
    struct tokenizer *t = g ? tokenizer_load(g, &e) : NULL;
    gguf_close(g);
    if (!t) snprintf(why, cap, "the tokenizer does not load: %s", e.msg);
    return t;
}

/* A file on tests/not_yet_supported.txt is checked quietly (a probe): when it passes, the
 * list is out of date and the case fails; otherwise it is skipped with the reason. */
static const char *g_listed;
static char g_why[1024];
static int g_saved_failed;
static void begin_file(const char *rel) {
    g_listed = t_not_yet(rel, "tokens");
    g_why[0] = 0;
    g_saved_failed = t_case_failed;
    t_case_failed = 0;
    t_quiet = g_listed != NULL;
}
/* Ends a file started with begin_file; ok: the file's own tally of cases held too. */
static void end_file(const char *rel, int ok) {
    ok = ok && !t_case_failed;
    t_quiet = 0;
    t_case_failed = g_saved_failed || (!g_listed && !ok);
    if (!g_listed) return;
    if (ok) CHECK_MSG(0, "%s now gives llama.cpp's ids: delete its 'tokens' line from tests/not_yet_supported.txt", rel);
    else SKIP_ITEM("%s -- %s: %s", g_listed, rel, g_why[0] ? g_why : "the ids differ");
}

/* Compares the encoding of text with want[0..nw); prints the first difference. */
static int same_ids(const struct tokenizer *t, const char *label, const char *text, size_t len, int add_special,
                    int parse_special, const int32_t *want, size_t nw) {
    int32_t *ids = NULL;
    size_t n = 0;
    struct err e = {{0}};
    if (tokenizer_encode(t, text, len, add_special, parse_special, &ids, &n, &e) != 0) {
        if (!t_quiet) fprintf(stderr, "  %s: encode failed: %s\n", label, e.msg);
        return 0;
    }
    int ok = n == nw && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
    if (!ok && !t_quiet) {
        fprintf(stderr, "  %s: text \"%.60s\": got %zu ids, want %zu:\n   got ", label, text, n, nw);
        for (size_t i = 0; i < n && i < 24; i++) fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n  want ");
        for (size_t i = 0; i < nw && i < 24; i++) fprintf(stderr, " %d", want[i]);
        fputc('\n', stderr);
    }
    free(ids);
    return ok;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* For every vocab/NAME.gguf with NAME.gguf.inp/.out: inputs separated by
 * "\n__ggml_vocab_test__\n" (llama.cpp's test-tokenizer-0 format), one line of ids each. */
TEST(vocab_inp_out) {
    const char *dir = model_path("vocab");
    DIR *d = opendir(dir);
    REQUIRE(d != NULL, "no %s", dir);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d)) != NULL) {
        if (!ends_with(de->d_name, ".gguf")) continue;
        char gp[1200], ip[1300], op[1300];
        snprintf(gp, sizeof gp, "%s/%s", dir, de->d_name);
        snprintf(ip, sizeof ip, "%s.inp", gp);
        snprintf(op, sizeof op, "%s.out", gp);
        char *inp = read_file(ip, NULL), *out = read_file(op, NULL);
        if (!inp || !out) { free(inp); free(out); continue; } /* a vocab without test vectors */
        char rel[600];
        snprintf(rel, sizeof rel, "models/vocab/%.500s", de->d_name);
        begin_file(rel);
        struct tokenizer *t = load_tok(gp, g_why, sizeof g_why);
        CHECK_MSG(t != NULL, "%s", g_why);
        if (!t) { end_file(rel, 0); free(inp); free(out); continue; }
        if (!g_listed) files++;
        const char *sep = "\n__ggml_vocab_test__\n";
        char *p = inp, *ol = out;
        int cases = 0, bad = 0;
        for (;;) {
            char *q = strstr(p, sep);
            if (!q) break;
            char *oe = strchr(ol, '\n');
            CHECK_MSG(oe != NULL, "%s: fewer output lines than inputs", op);
            if (!oe) break;
            *oe = 0;
            int32_t want[4096];
            size_t nw = 0;
            for (char *s = ol; *s && nw < 4096;) {
                char *end;
                long v = strtol(s, &end, 10);
                if (end == s) break;
                want[nw++] = (int32_t)v;
                s = end;
            }
            char label[1400];
            snprintf(label, sizeof label, "%s case %d", de->d_name, cases);
            if (!same_ids(t, label, p, (size_t)(q - p), 0, 0, want, nw)) bad++;
            cases++;
            p = q + strlen(sep);
            ol = oe + 1;
        }
        CHECK_MSG(bad == 0, "%s: %d of %d cases differ", de->d_name, bad, cases);
        CHECK_MSG(cases >= 40, "%s: only %d cases read", de->d_name, cases);
        if (bad) snprintf(g_why, sizeof g_why, "%d of %d cases differ", bad, cases);
        end_file(rel, !bad && cases >= 40);
        tokenizer_free(t);
        free(inp);
        free(out);
    }
    closedir(d);
    CHECK_MSG(files >= 9, "only %d vocab files with test vectors", files);
}

static const char *model_for(const char *vocab) {
    static char buf[1200];
    const char *dirs[] = {"vocab", "synth", "llm"};
    char name[512];
    snprintf(name, sizeof name, "%s", vocab);
    if (!ends_with(name, ".gguf")) strncat(name, ".gguf", sizeof name - strlen(name) - 1);
    for (int i = 0; i < 3; i++) {
        char rel[600];
        snprintf(rel, sizeof rel, "%s/%s", dirs[i], name);
        snprintf(buf, sizeof buf, "%s", model_path(rel));
        if (access(buf, R_OK) == 0) return buf;
    }
    return NULL;
}

static size_t json_ids(const cJSON *arr, int32_t *out, size_t cap) {
    size_t n = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, arr) if (n < cap) out[n++] = (int32_t)x->valuedouble;
    return n;
}

/* golden/tokenizer/NAME.json: {"vocab", "add_special", "parse_special", "cases": [{"text", "ids"}]} */
TEST(golden_tokenizer_json) {
    const char *dir = golden_path("tokenizer");
    DIR *d = opendir(dir);
    REQUIRE(d != NULL, "no %s", dir);
    struct dirent *de;
    int files = 0, total = 0;
    static int32_t want[1 << 16];
    while ((de = readdir(d)) != NULL) {
        if (!ends_with(de->d_name, ".json")) continue;
        char path[1300];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        char *js = read_file(path, NULL);
        cJSON *root = js ? cJSON_Parse(js) : NULL;
        CHECK_MSG(root != NULL, "%s: not JSON", path);
        if (!root) { free(js); continue; }
        const char *vocab = cJSON_GetStringValue(cJSON_GetObjectItem(root, "vocab"));
        const char *mp = vocab ? model_for(vocab) : NULL;
        CHECK_MSG(mp != NULL, "%s: model for vocab %s not found", path, vocab ? vocab : "?");
        char rel[600];
        snprintf(rel, sizeof rel, "golden/tokenizer/%.500s", de->d_name);
        begin_file(rel);
        struct tokenizer *t = mp ? load_tok(mp, g_why, sizeof g_why) : NULL;
        CHECK_MSG(!mp || t != NULL, "%s: %s", de->d_name, g_why);
        if (!t) end_file(rel, 0);
        if (t) {
            if (!g_listed) files++;
            int add = cJSON_IsTrue(cJSON_GetObjectItem(root, "add_special"));
            int parse = cJSON_IsTrue(cJSON_GetObjectItem(root, "parse_special"));
            /* WordPiece and unigram normalise the text (case, accents, NFKC, spaces):
             * decoding cannot give it back, so only the ids are compared for them */
            int korean = strstr(de->d_name, ".korean.") != NULL && tokenizer_is_lossless(t);
            const cJSON *c;
            int i = 0, bad = 0, bad_rt = 0;
            cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases")) {
                const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(c, "text"));
                if (!text) continue;
                size_t nw = json_ids(cJSON_GetObjectItem(c, "ids"), want, sizeof want / sizeof want[0]);
                char label[400];
                snprintf(label, sizeof label, "%s case %d", de->d_name, i++);
                if (!same_ids(t, label, text, strlen(text), add, parse, want, nw)) bad++;
                total++;
                if (korean) { /* the text comes back from the golden ids */
                    char *s = NULL;
                    size_t n = 0;
                    struct err e = {{0}};
                    if (tokenizer_decode(t, want, nw, 0, &s, &n, &e) != 0 || n != strlen(text) || memcmp(s, text, n)) {
                        if (!t_quiet) fprintf(stderr, "  %s: decode gives \"%s\"\n", label, s ? s : "(null)");
                        bad_rt++;
                    }
                    free(s);
                }
            }
            CHECK_MSG(bad == 0, "%s: %d cases differ", de->d_name, bad);
            CHECK_MSG(bad_rt == 0, "%s: %d cases do not decode back", de->d_name, bad_rt);
            if (bad) snprintf(g_why, sizeof g_why, "%d of %d cases differ", bad, i);
            end_file(rel, !bad && !bad_rt && i > 0);
            tokenizer_free(t);
        }
        cJSON_Delete(root);
        free(js);
    }
    closedir(d);
    CHECK_MSG(files >= 14, "only %d golden tokenizer files", files);
    CHECK(total > 300);
}

/* Splits a cases file at lines "__case__"; the final newline of each case is stripped. */
static int read_cases(const char *path, char ***out) {
    char *s = read_file(path, NULL);
    if (!s) return -1;
    int n = 0;
    char **v = NULL;
    char *p = s;
    for (;;) {
        char *q = strstr(p, "\n__case__\n");
        char *end = q ? q : p + strlen(p);
        if (!q && end > p && end[-1] == '\n') end--;
        v = realloc(v, (size_t)(n + 1) * sizeof *v);
        v[n] = strndup(p, (size_t)(end - p));
        n++;
        if (!q) break;
        p = q + strlen("\n__case__\n");
    }
    free(s);
    *out = v;
    return n;
}

/* golden/llm/NAME.jsonl: "tokens" = the prompt with add_special=1, parse_special=0. */
TEST(golden_llm_prompt_tokens) {
    const char *dir = golden_path("llm");
    DIR *d = opendir(dir);
    REQUIRE(d != NULL, "no %s", dir);
    char **chat = NULL, **story = NULL;
    int nchat = read_cases(golden_path("llm/cases_chat.txt"), &chat);
    int nstory = read_cases(golden_path("llm/cases_story.txt"), &story);
    CHECK(nchat > 0 && nstory > 0);
    struct dirent *de;
    int files = 0;
    static int32_t want[1 << 16];
    while ((de = readdir(d)) != NULL) {
        if (!ends_with(de->d_name, ".jsonl")) continue;
        char name[512], path[1300];
        snprintf(name, sizeof name, "%.*s", (int)(strlen(de->d_name) - 6), de->d_name);
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        /* BASE+ADAPTER (synth-smollm2-f16+lora): an adapter does not change the tokenizer */
        char base[512];
        snprintf(base, sizeof base, "%s", name);
        if (strchr(base, '+')) *strchr(base, '+') = 0;
        const char *mp = model_for(base);
        CHECK_MSG(mp != NULL, "no model for %s", de->d_name);
        char rel[600];
        snprintf(rel, sizeof rel, "golden/llm/%.500s", de->d_name);
        begin_file(rel);
        struct tokenizer *t = mp ? load_tok(mp, g_why, sizeof g_why) : NULL;
        char *js = read_file(path, NULL);
        CHECK_MSG(!mp || t != NULL, "%s: %s", de->d_name, g_why);
        CHECK_MSG(js != NULL, "cannot read %s", path);
        if (!t || !js) { end_file(rel, 0); free(js); tokenizer_free(t); continue; }
        if (!g_listed) files++;
        int is_story = strstr(name, "tories") != NULL;
        char **cases = is_story ? story : chat;
        int ncases = is_story ? nstory : nchat, i = 0, bad = 0;
        for (char *line = strtok(js, "\n"); line; line = strtok(NULL, "\n"), i++) {
            cJSON *o = cJSON_Parse(line);
            if (!o) continue;
            size_t nw = json_ids(cJSON_GetObjectItem(o, "tokens"), want, sizeof want / sizeof want[0]);
            const char *prompt = cJSON_GetStringValue(cJSON_GetObjectItem(o, "prompt"));
            CHECK_MSG(i < ncases && prompt && strcmp(prompt, cases[i]) == 0, "%s line %d: prompt differs from the cases file", name, i);
            if (i < ncases) {
                char label[600];
                snprintf(label, sizeof label, "%s prompt %d", name, i);
                if (!same_ids(t, label, cases[i], strlen(cases[i]), 1, 0, want, nw)) bad++;
            }
            cJSON_Delete(o);
        }
        CHECK_MSG(bad == 0, "%s: %d prompts differ", name, bad);
        CHECK_MSG(i == ncases, "%s: %d lines for %d cases", name, i, ncases);
        if (bad) snprintf(g_why, sizeof g_why, "%d of %d prompts differ", bad, i);
        end_file(rel, !bad && i == ncases);
        tokenizer_free(t);
        free(js);
    }
    closedir(d);
    for (int i = 0; i < nchat; i++) free(chat[i]);
    for (int i = 0; i < nstory; i++) free(story[i]);
    free(chat);
    free(story);
    CHECK_MSG(files >= 12, "only %d golden llm files", files);
}

/* Appends the encoding of text (no special tokens, special text not parsed) to ids. */
static int append_plain(const struct tokenizer *t, const char *text, int32_t *ids, size_t *n, size_t cap) {
    int32_t *v = NULL;
    size_t nv = 0;
    struct err e = {{0}};
    if (tokenizer_encode(t, text, strlen(text), 0, 0, &v, &nv, &e) != 0 || *n + nv > cap) { free(v); return -1; }
    memcpy(ids + *n, v, nv * sizeof *v);
    *n += nv;
    free(v);
    return 0;
}

static int append_id(int32_t id, int32_t *ids, size_t *n, size_t cap) {
    if (id < 0 || *n >= cap) return -1;
    ids[(*n)++] = id;
    return 0;
}

/* golden/embed/NAME[.mean].jsonl: "tokens" = the case with add_special=1 and parse_special=1
 * (llama-server's /v1/embeddings); NAME.rerank.jsonl: per document, BOS query EOS SEP document
 * EOS, each special token only where the vocabulary asks for it (llama-server's /v1/rerank). */
TEST(golden_embed_tokens) {
    const char *dir = golden_path("embed");
    DIR *d = opendir(dir);
    REQUIRE(d != NULL, "no %s", dir);
    char **cases = NULL;
    int ncases = read_cases(golden_path("embed/cases_embed.txt"), &cases);
    CHECK(ncases > 0);
    struct dirent *de;
    int files = 0, checked = 0;
    static int32_t want[1 << 14], got[1 << 14];
    while ((de = readdir(d)) != NULL) {
        if (!ends_with(de->d_name, ".jsonl")) continue;
        char name[512], path[1300], rel[600];
        snprintf(name, sizeof name, "%.*s", (int)(strlen(de->d_name) - 6), de->d_name);
        int rerank = ends_with(name, ".rerank");
        if (strchr(name, '.')) *strchr(name, '.') = 0; /* NAME.mean, NAME.rerank → NAME */
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        snprintf(rel, sizeof rel, "golden/embed/%.500s", de->d_name);
        const char *mp = model_for(name);
        CHECK_MSG(mp != NULL, "no model for %s", de->d_name);
        begin_file(rel);
        struct tokenizer *t = mp ? load_tok(mp, g_why, sizeof g_why) : NULL;
        char *js = read_file(path, NULL);
        CHECK_MSG(!mp || t != NULL, "%s: %s", de->d_name, g_why);
        CHECK_MSG(js != NULL, "cannot read %s", path);
        if (!t || !js) { end_file(rel, 0); free(js); tokenizer_free(t); continue; }
        if (!g_listed) files++;
        int i = 0, bad = 0, n_items = 0;
        for (char *line = strtok(js, "\n"); line; line = strtok(NULL, "\n"), i++) {
            cJSON *o = cJSON_Parse(line);
            CHECK_MSG(o != NULL, "%s line %d: not JSON", de->d_name, i);
            if (!o) continue;
            char label[700];
            if (!rerank) {
                size_t nw = json_ids(cJSON_GetObjectItem(o, "tokens"), want, sizeof want / sizeof want[0]);
                const char *prompt = cJSON_GetStringValue(cJSON_GetObjectItem(o, "prompt"));
                CHECK_MSG(i < ncases && prompt && strcmp(prompt, cases[i]) == 0, "%s line %d: prompt differs from the cases file", de->d_name, i);
                snprintf(label, sizeof label, "%s case %d", de->d_name, i);
                if (i < ncases && !same_ids(t, label, cases[i], strlen(cases[i]), 1, 1, want, nw)) bad++;
                n_items++;
            } else {
                const char *query = cJSON_GetStringValue(cJSON_GetObjectItem(o, "query"));
                const cJSON *r;
                CHECK_MSG(query != NULL, "%s line %d: no query", de->d_name, i);
                cJSON_ArrayForEach(r, cJSON_GetObjectItem(o, "results")) {
                    const char *doc = cJSON_GetStringValue(cJSON_GetObjectItem(r, "document"));
                    size_t nw = json_ids(cJSON_GetObjectItem(r, "tokens"), want, sizeof want / sizeof want[0]), n = 0;
                    size_t cap = sizeof got / sizeof got[0];
                    int ok = query && doc;
                    if (ok && tokenizer_add_bos(t)) ok = !append_id(tokenizer_bos(t), got, &n, cap);
                    if (ok) ok = !append_plain(t, query, got, &n, cap);
                    if (ok && tokenizer_add_eos(t)) ok = !append_id(tokenizer_eos(t), got, &n, cap);
                    if (ok && tokenizer_add_sep(t)) ok = !append_id(tokenizer_sep(t), got, &n, cap);
                    if (ok) ok = !append_plain(t, doc, got, &n, cap);
                    if (ok && tokenizer_add_eos(t)) ok = !append_id(tokenizer_eos(t), got, &n, cap);
                    ok = ok && n == nw && memcmp(got, want, n * sizeof *got) == 0;
                    if (!ok && !t_quiet) {
                        fprintf(stderr, "  %s query %d document %d: got %zu ids, want %zu:\n   got ", de->d_name, i, n_items, n, nw);
                        for (size_t k = 0; k < n && k < 32; k++) fprintf(stderr, " %d", got[k]);
                        fprintf(stderr, "\n  want ");
                        for (size_t k = 0; k < nw && k < 32; k++) fprintf(stderr, " %d", want[k]);
                        fputc('\n', stderr);
                    }
                    bad += !ok;
                    n_items++;
                }
            }
            cJSON_Delete(o);
        }
        CHECK_MSG(bad == 0, "%s: %d of %d token sequences differ", de->d_name, bad, n_items);
        CHECK_MSG(n_items >= 8, "%s: only %d token sequences read", de->d_name, n_items);
        if (!rerank) CHECK_MSG(i == ncases, "%s: %d lines for %d cases", de->d_name, i, ncases);
        if (bad) snprintf(g_why, sizeof g_why, "%d of %d token sequences differ", bad, n_items);
        checked += n_items;
        end_file(rel, !bad && n_items >= 8);
        tokenizer_free(t);
        free(js);
    }
    closedir(d);
    for (int i = 0; i < ncases; i++) free(cases[i]);
    free(cases);
    CHECK_MSG(files >= 4, "only %d golden embed files", files);
    CHECK(checked >= 35); /* 3 × 9 cases and 2 × 4 documents */
}

int main(void) {
    TEST_EXPECT(4);
    RUN(vocab_inp_out);
    RUN(golden_tokenizer_json);
    RUN(golden_llm_prompt_tokens);
    RUN(golden_embed_tokens);
    return test_summary();
}

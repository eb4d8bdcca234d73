/* Pre-tokenizer names without a vocab file of their own (gpt-4o for Phi-4-mini and gpt-oss,
 * llama4, minimax-m2, seed-coder, ... and llama.cpp's aliases of older sets) against llama.cpp's
 * ids: tests/golden/tokenizer/NAME.json gives, for a shared byte-level BPE vocab, the
 * tokenizer.ggml.pre names that share one set of ids for the cases of pretok_cases.json.
 * For each name the test writes a copy of the vocab with that pre name (our GGUF writer, at
 * test time), loads its tokenizer and compares every case. Also: a name llama.cpp does not
 * know stays an error that names it. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <sys/stat.h>

#include "formats/gguf.h"
#include "test.h"
#include "text/tokenizer.h"

#define REPO_GOLDEN "tests/golden/tokenizer"

static char g_dir[512];

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Writes DIR/PRE.gguf: every key of src with tokenizer.ggml.pre = pre. */
static int write_copy(const struct gguf *src, const char *pre, char *out, size_t cap, struct err *e) {
    snprintf(out, cap, "%s/%s.gguf", g_dir, pre);
    struct gguf_writer *w = gguf_writer_new();
    if (!w) return err_set(e, "out of memory");
    gguf_w_copy_kv(w, src);
    gguf_w_str(w, "tokenizer.ggml.pre", pre);
    int rc = gguf_writer_save(w, out, e);
    gguf_writer_free(w);
    return rc;
}

static struct tokenizer *load_tok(const char *path, struct err *e) {
    struct gguf *g = gguf_open(path, e);
    struct tokenizer *t = g ? tokenizer_load(g, e) : NULL;
    gguf_close(g);
    return t;
}

/* Compares the encoding of text with the golden ids; prints the first difference. */
static int same_ids(const struct tokenizer *t, const char *label, const char *text, int add,
                    const cJSON *want) {
    int32_t *ids = NULL;
    size_t n = 0;
    struct err e = {{0}};
    if (tokenizer_encode(t, text, strlen(text), add, 0, &ids, &n, &e) != 0) {
        fprintf(stderr, "  %s: encode failed: %s\n", label, e.msg);
        return 0;
    }
    size_t nw = (size_t)cJSON_GetArraySize(want), k = 0;
    int ok = n == nw;
    for (; ok && k < n; k++) ok = ids[k] == (int32_t)cJSON_GetArrayItem(want, (int)k)->valuedouble;
    if (!ok) {
        fprintf(stderr, "  %s: text \"%.60s\": got %zu ids, want %zu:\n   got ", label, text, n, nw);
        for (size_t i = 0; i < n && i < 24; i++) fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n  want ");
        for (size_t i = 0; i < nw && i < 24; i++)
            fprintf(stderr, " %d", (int)cJSON_GetArrayItem(want, (int)i)->valuedouble);
        fputc('\n', stderr);
    }
    free(ids);
    return ok;
}

static cJSON *read_json(const char *path) {
    char *s = read_file(path, NULL);
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    free(s);
    return j;
}

TEST(pretok_names_golden) {
    cJSON *cases = read_json(REPO_GOLDEN "/pretok_cases.json");
    REQUIRE(cJSON_IsArray(cases), "cannot read %s/pretok_cases.json", REPO_GOLDEN);
    int ncases = cJSON_GetArraySize(cases);
    CHECK(ncases >= 80);
    DIR *d = opendir(REPO_GOLDEN);
    REQUIRE(d != NULL, "no %s", REPO_GOLDEN);
    struct dirent *de;
    int files = 0, names = 0, checked = 0;
    while ((de = readdir(d)) != NULL) {
        if (!ends_with(de->d_name, ".json") || !strcmp(de->d_name, "pretok_cases.json")) continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", REPO_GOLDEN, de->d_name);
        cJSON *root = read_json(path);
        CHECK_MSG(root != NULL, "%s: not JSON", path);
        if (!root) continue;
        const char *vocab = cJSON_GetStringValue(cJSON_GetObjectItem(root, "vocab"));
        const cJSON *pres = cJSON_GetObjectItem(root, "pre"), *ids = cJSON_GetObjectItem(root, "ids");
        int add = cJSON_IsTrue(cJSON_GetObjectItem(root, "add_special"));
        CHECK_MSG(vocab && cJSON_IsArray(pres) && cJSON_IsArray(ids), "%s: needs vocab, pre and ids", path);
        CHECK_MSG(!cJSON_IsTrue(cJSON_GetObjectItem(root, "parse_special")), "%s: parse_special is not used", path);
        CHECK_MSG(cJSON_GetArraySize(ids) == ncases, "%s: %d id lists for %d cases", path,
                  cJSON_GetArraySize(ids), ncases);
        char vp[700];
        snprintf(vp, sizeof vp, "vocab/%s", vocab ? vocab : "?");
        struct err e = {{0}};
        struct gguf *src = vocab ? gguf_open(model_path(vp), &e) : NULL;
        CHECK_MSG(src != NULL, "%s: %s", path, e.msg);
        if (src && cJSON_IsArray(pres) && cJSON_GetArraySize(ids) == ncases) {
            files++;
            const cJSON *p;
            cJSON_ArrayForEach(p, pres) {
                const char *pre = cJSON_GetStringValue(p);
                char gp[1200];
                struct tokenizer *t = NULL;
                if (pre && write_copy(src, pre, gp, sizeof gp, &e) == 0) t = load_tok(gp, &e);
                CHECK_MSG(t != NULL, "%s: pre '%s': %s", de->d_name, pre ? pre : "?", e.msg);
                if (!t) continue;
                names++;
                int bad = 0;
                for (int i = 0; i < ncases; i++) {
                    char label[300];
                    snprintf(label, sizeof label, "%s pre %s case %d", de->d_name, pre, i);
                    const char *text = cJSON_GetStringValue(cJSON_GetArrayItem(cases, i));
                    if (!text || !same_ids(t, label, text, add, cJSON_GetArrayItem(ids, i))) bad++;
                    checked++;
                }
                CHECK_MSG(bad == 0, "%s: pre '%s': %d of %d cases differ", de->d_name, pre, bad, ncases);
                tokenizer_free(t);
                unlink(gp);
            }
        }
        gguf_close(src);
        cJSON_Delete(root);
    }
    closedir(d);
    cJSON_Delete(cases);
    CHECK_MSG(files >= 17, "only %d golden files in %s", files, REPO_GOLDEN);
    CHECK_MSG(names >= 44, "only %d pre-tokenizer names checked", names);
    CHECK(checked >= 44 * 80);
}

/* A name llama.cpp does not know is an error naming it, not a silent fallback. */
TEST(pretok_unknown_name) {
    struct err e = {{0}};
    struct gguf *src = gguf_open(model_path("vocab/ggml-vocab-gpt2-pre-qwen2.gguf"), &e);
    REQUIRE(src != NULL, "%s", e.msg);
    char gp[1200];
    int rc = write_copy(src, "gpt-5o", gp, sizeof gp, &e);
    gguf_close(src);
    REQUIRE(rc == 0, "%s", e.msg);
    struct tokenizer *t = load_tok(gp, &e);
    CHECK(t == NULL);
    CHECK_MSG(strstr(e.msg, "gpt-5o") != NULL, "message: %s", e.msg);
    tokenizer_free(t);
    unlink(gp);
}

int main(void) {
    TEST_EXPECT(2);
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/omni-test-pretok-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        fprintf(stderr, "cannot make a temporary directory %s\n", g_dir);
        return 1;
    }
    RUN(pretok_names_golden);
    RUN(pretok_unknown_name);
    rmdir(g_dir);
    return test_summary();
}

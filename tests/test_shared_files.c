/* Every file in ../shared/models and ../shared/golden is either read by a test or listed in
 * tests/not_yet_supported.txt with its reason, and every line of that list still names a
 * file. A file that ../shared gains (a new golden, a new model) therefore fails the suite
 * until a test uses it or the list says why not: new reference data cannot sit unchecked. */
#include <dirent.h>
#include <sys/stat.h>

#include "test.h"

/* What the tests read, by path under ../shared. Wildcards only where a test enumerates
 * the folder itself and fails on a file it cannot check. */
static const struct { const char *pattern, *used_by; } k_used[] = {
    {"models/MANIFEST.md", "documentation"},
    {"models/SHA256SUMS", "documentation"},
    {"models/licenses/*", "documentation"},
    {"golden/README.md", "documentation (the tolerances the tests hold)"},
    {"golden/*/README.md", "documentation (the tolerances the tests hold)"},
    {"golden/llm/*.jsonl", "tests/models/test_llm_golden.c, tests/e2e/test_eval_cli.sh, tests/text/test_tokenizer_golden.c: every file"},
    {"golden/llm/cases_chat.txt", "tests/text/test_tokenizer_golden.c, tests/e2e/test_eval_cli.sh"},
    {"golden/llm/cases_story.txt", "tests/text/test_tokenizer_golden.c, tests/e2e/test_eval_cli.sh"},
    {"golden/tokenizer/*.json", "tests/text/test_tokenizer_golden.c: every file"},
    {"golden/asr/synth-whisper-micro-f16.jfk.json", "tests/models/test_whisper.c, test_vad.c, tests/e2e/test_asr_cli.sh"},
    {"golden/asr/synth-whisper-micro-f16.jfk.cli.json", "tests/models/test_whisper.c, tests/e2e/test_asr_cli.sh"},
    {"golden/vision/synth-llava-mmproj-f16.jsonl", "tests/models/test_clip.c, tests/runtime/test_session_vision.c, tests/e2e/test_eval_vision.sh"},
    {"golden/embed/*.jsonl", "tests/models/test_bert_golden.c, tests/e2e/test_server_embeddings.mjs"},
    {"golden/embed/cases_embed.txt", "tests/e2e/test_server_embeddings.mjs (text input, once tokenizers land)"},
    {"golden/embed/cases_rerank.txt", "tests/e2e/test_server_embeddings.mjs"},
    {"models/synth/synth-bert-*.gguf", "tests/models/test_bert_golden.c, tests/e2e/test_server_embeddings.mjs"},
    {"models/synth/synth-smollm2-lora-f16.gguf", "tests/models/test_llm_golden.c, tests/e2e/test_eval_cli.sh (LoRA)"},
    {"models/synth/synth-llava-mmproj-f16.gguf", "tests/models/test_clip.c and the vision tests"},
    {"models/synth/synth-whisper-micro-f16.bin", "tests/models/test_whisper.c and the speech tests"},
    {"models/asr/for-tests-ggml-tiny.bin", "tests/formats/test_ggml_whisper.c, tests/models/test_mel.c"},
    {"models/asr/for-tests-ggml-tiny.en.bin", "tests/formats/test_ggml_whisper.c"},
    {"models/vad/for-tests-silero-v6.2.0-ggml.bin", "tests/models/test_vad.c and the voice tests"},
    {"models/audio/jfk.wav", "tests/formats/test_audio_decode.c and the speech tests"},
    {"models/images/logo112.png", "tests/models/test_clip.c, tests/formats/test_image_decode.c"},
    {"models/images/logo112.jpg", "tests/models/test_clip.c, tests/formats/test_image_decode.c"},
    {"models/images/plasma112.png", "tests/models/test_clip.c, tests/formats/test_image_decode.c"},
    {"models/images/text320x200.png", "tests/models/test_clip.c, tests/formats/test_image_decode.c"},
    {"models/vocab/*.gguf", "tests/formats/test_gguf.c opens every file; tokenizer tests"},
    {"models/vocab/*.gguf.inp", "tests/text/test_tokenizer_golden.c: every pair whose .gguf is present"},
    {"models/vocab/*.gguf.out", "tests/text/test_tokenizer_golden.c: every pair whose .gguf is present"},
};

struct list_entry { char pattern[512], what[64]; int hits; };
static struct list_entry g_list[256];
static int g_n_list;

static void read_list(void) {
    FILE *f = fopen("tests/not_yet_supported.txt", "r");
    if (!f) return;
    char line[1024];
    while (g_n_list < 256 && fgets(line, sizeof line, f)) {
        struct list_entry *x = &g_list[g_n_list];
        char issue[64];
        if (line[0] == '#' || sscanf(line, "%511s %63s %63s", x->pattern, x->what, issue) < 3) continue;
        x->hits = 0;
        g_n_list++;
    }
    fclose(f);
}

static int g_files, g_unknown, g_listed;

/* A model file (models/llm or models/synth, .gguf) is read when its golden exists: the
 * golden tests load it. */
static int model_has_golden(const char *rel) {
    const char *base = strrchr(rel, '/') + 1;
    size_t n = strlen(base);
    if (n < 6 || strcmp(base + n - 5, ".gguf")) return 0;
    char g[600];
    snprintf(g, sizeof g, "llm/%.*s.jsonl", (int)(n - 5), base);
    return access(golden_path(g), R_OK) == 0;
}

static void check_file(const char *rel) {
    g_files++;
    int used = 0, listed = 0;
    for (size_t i = 0; i < sizeof k_used / sizeof k_used[0]; i++)
        if (!fnmatch(k_used[i].pattern, rel, FNM_PATHNAME)) used = 1;
    if ((!strncmp(rel, "models/llm/", 11) || !strncmp(rel, "models/synth/", 13)) && model_has_golden(rel)) used = 1;
    for (int i = 0; i < g_n_list; i++)
        if (!fnmatch(g_list[i].pattern, rel, 0)) { g_list[i].hits++; listed = 1; }
    g_listed += listed;
    if (!used && !listed) {
        g_unknown++;
        CHECK_MSG(0, "%s: no test reads this file of ../shared: test it, or list it in tests/not_yet_supported.txt "
                     "with the issue that will (and add it to tests/test_shared_files.c once a test reads it)", rel);
    }
}

/* Walks dir (a path on disk) whose files are named prefix/... relative to ../shared. */
static void walk(const char *dir, const char *prefix, int depth) {
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "cannot open %s", dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[2048], rel[2048];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        snprintf(rel, sizeof rel, "%s/%s", prefix, de->d_name);
        struct stat st;
        if (stat(path, &st)) continue;
        if (S_ISDIR(st.st_mode)) { if (depth < 8) walk(path, rel, depth + 1); }
        else check_file(rel);
    }
    closedir(d);
}

TEST(every_shared_file_is_tested_or_listed) {
    read_list();
    REQUIRE(g_n_list > 0, "tests/not_yet_supported.txt is missing or empty (tests run from the project root)");
    walk(t_dir("OMNI_MODELS", "../shared/models"), "models", 0);
    walk(t_dir("OMNI_GOLDEN", "../shared/golden"), "golden", 0);
    fprintf(stderr, "  %d files in ../shared, %d of them on tests/not_yet_supported.txt (%d lines), %d unknown\n",
            g_files, g_listed, g_n_list, g_unknown);
    CHECK_MSG(g_files >= 140, "only %d files found under $OMNI_MODELS and $OMNI_GOLDEN", g_files);
}

TEST(every_listed_file_exists) {
    for (int i = 0; i < g_n_list; i++)
        CHECK_MSG(g_list[i].hits > 0, "tests/not_yet_supported.txt lists '%s' (%s), which is not in ../shared: delete the line",
                  g_list[i].pattern, g_list[i].what);
    CHECK(g_n_list > 0);
}

TEST(every_check_named_in_the_list_is_known) {
    /* a typo in the check column would make a test ignore the line, and the file fail */
    for (int i = 0; i < g_n_list; i++)
        CHECK_MSG(!strcmp(g_list[i].what, "logits") || !strcmp(g_list[i].what, "tokens") ||
                      !strcmp(g_list[i].what, "model") || !strcmp(g_list[i].what, "unused"),
                  "tests/not_yet_supported.txt: '%s' has unknown check '%s'", g_list[i].pattern, g_list[i].what);
}

int main(void) {
    TEST_EXPECT(3);
    RUN(every_shared_file_is_tested_or_listed);
    RUN(every_listed_file_exists);
    RUN(every_check_named_in_the_list_is_known);
    return test_summary();
}

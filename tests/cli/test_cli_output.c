/* What `omni run` and `omni chat` print, against references the commands do not produce
 * themselves: run's greedy text equals llama.cpp's greedy tokens (golden/llm) for the
 * story prompts; chat's replies (text, and with /image) and run --image's text equal what
 * the library (omni.h) generates for the same conversation, computed here with a fresh
 * session per turn. The library itself is held to llama.cpp in test_session.c and
 * test_session_vision.c, so a CLI that drops an option, mangles the prompt or the output,
 * or loses the history, fails here. test_chat_cli.sh and test_vision_cli.sh check the
 * rest of those commands (slash commands, errors, determinism). */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <sys/wait.h>

#include "test.h"
#include "omni.h"

static const char *bin(void) { return t_dir("OMNI_BIN", "build/omni"); }

/* Runs argv (argv[0] is replaced by the omni binary) with stdin from `input` (may be
 * NULL: empty), and returns its stdout (malloc'ed; NULL when it could not run or exited
 * non-zero). stderr goes to /tmp for the message. */
static char *run_omni(const char **argv, const char *input) {
    char in_path[128], err_path[128];
    snprintf(in_path, sizeof in_path, "/tmp/omni-test-cli-%d.in", (int)getpid());
    snprintf(err_path, sizeof err_path, "/tmp/omni-test-cli-%d.err", (int)getpid());
    FILE *f = fopen(in_path, "w");
    if (!f) return NULL;
    if (input) fputs(input, f);
    fclose(f);
    int fd[2];
    if (pipe(fd)) return NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int in = open(in_path, O_RDONLY), er = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(in, 0);
        dup2(fd[1], 1);
        dup2(er, 2);
        close(fd[0]);
        argv[0] = bin();
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fd[1]);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    ssize_t k;
    while (out && (k = read(fd[0], out + n, cap - n - 1)) > 0) {
        n += (size_t)k;
        if (n + 1 == cap) out = realloc(out, cap *= 2);
    }
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    unlink(in_path);
    if (!out) return NULL;
    out[n] = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char *msg = read_file(err_path, NULL);
        fprintf(stderr, "  %s %s: exit status %d: %s\n", argv[0], argv[1], status, msg ? msg : "");
        free(msg);
        free(out);
        out = NULL;
    }
    unlink(err_path);
    return out;
}

struct text { char *buf; size_t len, cap; };
static int collect(const char *s, size_t len, void *user) {
    struct text *t = user;
    if (t->len + len + 1 > t->cap) {
        t->cap = (t->len + len + 1) * 2;
        t->buf = realloc(t->buf, t->cap);
    }
    memcpy(t->buf + t->len, s, len);
    t->len += len;
    t->buf[t->len] = 0;
    return 0;
}
static void append(struct text *t, const char *s) { collect(s, strlen(s), t); }

static omni_model *load(const char *rel, const char *mmproj) {
    char err[512];
    omni_model_params mp = omni_model_default_params();
    mp.n_threads = 2;
    omni_model *m = omni_model_load(model_path(rel), &mp, err, sizeof err);
    if (!m) fprintf(stderr, "  %s: %s\n", rel, err);
    if (m && mmproj && omni_model_load_mmproj(m, model_path(mmproj), err, sizeof err)) {
        fprintf(stderr, "  %s: %s\n", mmproj, err);
        omni_model_free(m);
        m = NULL;
    }
    return m;
}

/* Greedy generation of up to n tokens after prompt in a fresh session; appends to out. */
static int generate(omni_model *m, const char *prompt, int parse_special, const omni_image *img, int n,
                    struct text *out) {
    char err[512];
    omni_session *s = omni_session_new(m, NULL, err, sizeof err);
    if (!s) { fprintf(stderr, "  session: %s\n", err); return -1; }
    omni_generate_params gp = omni_generate_default_params();
    gp.sampling.temperature = 0;
    gp.max_tokens = n;
    gp.parse_special = parse_special;
    gp.on_text = collect;
    gp.user = out;
    const omni_image *imgs[1] = {img};
    gp.images = img ? imgs : NULL;
    gp.n_images = img ? 1 : 0;
    int rc = omni_session_generate(s, prompt, &gp, NULL, err, sizeof err);
    if (rc) fprintf(stderr, "  generate: %s\n", err);
    omni_session_free(s);
    return rc;
}

/* Splits a cases file at lines "__case__"; the final newline of each case is stripped. */
static int read_case(const char *rel, int k, char *out, size_t cap) {
    char *s = read_file(golden_path(rel), NULL);
    if (!s) return -1;
    char *p = s;
    for (int i = 0; i < k && p; i++) {
        p = strstr(p, "\n__case__\n");
        if (p) p += strlen("\n__case__\n");
    }
    int rc = -1;
    if (p) {
        char *q = strstr(p, "\n__case__\n");
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (!q && n && p[n - 1] == '\n') n--;
        if (n < cap) { memcpy(out, p, n); out[n] = 0; rc = 0; }
    }
    free(s);
    return rc;
}

/* `omni run` on the story model prints the prompt, then llama.cpp's greedy tokens (all
 * 3 x 32 are decided: their margins are wide, see test_llm_golden.c). */
TEST(run_prints_llama_cpp_greedy_text) {
    omni_model *m = load("llm/stories260K.gguf", NULL);
    REQUIRE(m != NULL, "stories260K.gguf does not load");
    char *jl = read_file(golden_path("llm/stories260K.jsonl"), NULL);
    if (!jl) omni_model_free(m);
    REQUIRE(jl != NULL, "cannot read %s", golden_path("llm/stories260K.jsonl"));
    int k = 0;
    for (char *line = strtok(jl, "\n"); line; line = strtok(NULL, "\n"), k++) {
        cJSON *j = cJSON_Parse(line);
        char prompt[1024];
        CHECK(j != NULL && read_case("llm/cases_story.txt", k, prompt, sizeof prompt) == 0);
        if (!j) continue;
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "prompt")), prompt);
        cJSON *g = cJSON_GetObjectItem(j, "greedy");
        struct text want = {0};
        append(&want, prompt);
        for (int i = 0; i < cJSON_GetArraySize(g); i++) {
            size_t len;
            const char *p = omni_token_text(m, cJSON_GetArrayItem(g, i)->valueint, 0, &len);
            collect(p, len, &want);
        }
        append(&want, "\n");
        char n[16];
        snprintf(n, sizeof n, "%d", cJSON_GetArraySize(g));
        const char *argv[] = {"omni", "run", "-m", model_path("llm/stories260K.gguf"), "-p", prompt, "-n", n,
                              "--temp", "0", "-t", "2", NULL};
        char *got = run_omni(argv, NULL);
        CHECK_MSG(got && !strcmp(got, want.buf), "case %d: omni run printed\n'%s'\nllama.cpp's greedy text is\n'%s'", k,
                  got ? got : "(failed)", want.buf);
        free(got);
        free(want.buf);
        cJSON_Delete(j);
    }
    CHECK_EQ_INT(k, 3);
    free(jl);
    omni_model_free(m);
}

/* The replies of a two-turn `omni chat` equal the library's for the same messages. */
static void chat_matches_library(const char *mmproj, const char *image, const char *turn1, const char *turn2,
                                 const char *n_tokens) {
    omni_model *m = load("synth/synth-smollm2-f16.gguf", mmproj);
    REQUIRE(m != NULL, "the chat model (and encoder) do not load");
    char err[512];
    omni_image *img = NULL;
    if (image) {
        img = omni_image_load(model_path(image), err, sizeof err);
        if (!img) omni_model_free(m);
        REQUIRE(img != NULL, "%s", err);
    }
    int n = atoi(n_tokens);
    /* what cmd_chat sends: the image's marker on its own line before the first message */
    char first[512];
    snprintf(first, sizeof first, "%s%s", image ? OMNI_IMAGE_MARKER "\n" : "", turn1);
    struct text r1 = {0}, r2 = {0}, want = {0};
    omni_chat_message msgs[3] = {{"user", first}, {"assistant", ""}, {"user", turn2}};
    char *p1 = omni_chat_format(m, msgs, 1, 1, err, sizeof err);
    CHECK_MSG(p1 != NULL, "%s", err);
    CHECK(p1 && generate(m, p1, 1, img, n, &r1) == 0);
    msgs[1].content = r1.buf ? r1.buf : "";
    char *p2 = omni_chat_format(m, msgs, 3, 1, err, sizeof err);
    CHECK_MSG(p2 != NULL, "%s", err);
    CHECK(p2 && generate(m, p2, 1, img, n, &r2) == 0);
    append(&want, r1.buf ? r1.buf : "");
    append(&want, "\n");
    append(&want, r2.buf ? r2.buf : "");
    append(&want, "\n");

    char input[1024];
    snprintf(input, sizeof input, "%s%s%s%s\n%s\n", image ? "/image " : "", image ? model_path(image) : "",
             image ? "\n" : "", turn1, turn2);
    const char *argv[] = {"omni", "chat", "-m", model_path("synth/synth-smollm2-f16.gguf"), "--temp", "0", "-n", n_tokens,
                          "-t", "2", mmproj ? "--mmproj" : NULL, mmproj ? model_path(mmproj) : NULL, NULL};
    char *got = run_omni(argv, input);
    CHECK_MSG(got && !strcmp(got, want.buf), "omni chat printed\n'%s'\nthe library generates\n'%s'", got ? got : "(failed)",
              want.buf);
    fprintf(stderr, "  first reply: '%s'\n", r1.buf ? r1.buf : "");
    CHECK(r1.len > 0 && r2.len > 0);
    free(got);
    free(p1); free(p2);
    free(r1.buf); free(r2.buf); free(want.buf);
    omni_image_free(img);
    omni_model_free(m);
}

TEST(chat_replies_equal_the_library_s) { chat_matches_library(NULL, NULL, "Hello there", "안녕하세요, 반가워요", "6"); }

TEST(chat_with_an_image_equals_the_library_s) {
    chat_matches_library("synth/synth-llava-mmproj-f16.gguf", "images/logo112.png", "What is this?", "And now?", "12");
}

/* `omni run --image` shows the picture before the prompt text (its embeddings, then the
 * text, special-token text not parsed) and prints the prompt and the greedy reply. */
TEST(run_with_an_image_equals_the_library_s) {
    omni_model *m = load("synth/synth-smollm2-f16.gguf", "synth/synth-llava-mmproj-f16.gguf");
    REQUIRE(m != NULL, "the chat model and encoder do not load");
    char err[512];
    omni_image *img = omni_image_load(model_path("images/logo112.png"), err, sizeof err);
    if (!img) omni_model_free(m);
    REQUIRE(img != NULL, "%s", err);
    const char *prompt = "Describe the image.";
    struct text want = {0}, plain = {0};
    append(&want, prompt);
    CHECK(generate(m, OMNI_IMAGE_MARKER "Describe the image.", 0, img, 12, &want) == 0);
    append(&want, "\n");
    CHECK(generate(m, prompt, 0, NULL, 12, &plain) == 0);
    const char *argv[] = {"omni", "run", "-m", model_path("synth/synth-smollm2-f16.gguf"), "--mmproj",
                          model_path("synth/synth-llava-mmproj-f16.gguf"), "--image", model_path("images/logo112.png"),
                          "-p", prompt, "-n", "12", "--temp", "0", "-t", "2", NULL};
    char *got = run_omni(argv, NULL);
    CHECK_MSG(got && !strcmp(got, want.buf), "omni run --image printed\n'%s'\nthe library generates\n'%s'",
              got ? got : "(failed)", want.buf);
    /* the reference itself depends on the image, so this comparison can tell */
    CHECK(plain.buf && strcmp(want.buf + strlen(prompt), plain.buf) != 0);
    free(got);
    free(want.buf); free(plain.buf);
    omni_image_free(img);
    omni_model_free(m);
}

int main(void) {
    TEST_EXPECT(4);
    RUN(run_prints_llama_cpp_greedy_text);
    RUN(chat_replies_equal_the_library_s);
    RUN(chat_with_an_image_equals_the_library_s);
    RUN(run_with_an_image_equals_the_library_s);
    return test_summary();
}

/* A tiny test harness: each tests/<area>/test_<name>.c is one program made of TEST cases.
 * A case passes when none of its CHECKs failed. The program's last line is
 * "N passed, N failed[, N skipped]", which tests/run.sh adds up.
 *
 *   TEST(parses_header) { CHECK(x == 1); CHECK_NEAR(a, b, 1e-3); }
 *   int main(void) { TEST_EXPECT(1); RUN(parses_header); return test_summary(); }
 *
 * Every program states with TEST_EXPECT how many cases must run (pass or fail) at least,
 * so that a case list that shrinks, or cases that turn into skips, cannot pass unnoticed:
 * tests/run.sh fails a program below its minimum and one that states none.
 * A skip is only for something outside the project that is missing (a CPU feature, a
 * tool or file that neither scripts/setup.sh nor ../shared provides); what ../shared
 * ships and setup.sh installs must be there, so its absence, like a failing load or
 * decode, is a failure (REQUIRE). Every skip prints its reason; run.sh lists them.
 */
#ifndef OMNI_TEST_H
#define OMNI_TEST_H
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int t_passed, t_failed, t_skipped, t_case_failed, t_case_skipped, t_checks_failed_total, t_expected = -1;
static int t_quiet; /* a probe that is expected to fail (see t_not_yet): record, do not print */
static const char *t_case_name;

static inline void t_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    if (t_quiet) return;
    if (++t_checks_failed_total > 200) return; /* keep a broken test readable */
    fprintf(stderr, "  %s:%d: [%s] ", file, line, t_case_name ? t_case_name : "?");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

#define CHECK(c) do { if (!(c)) { t_case_failed = 1; t_fail(__FILE__, __LINE__, "CHECK(%s)", #c); } } while (0)
#define CHECK_MSG(c, ...) do { if (!(c)) { t_case_failed = 1; t_fail(__FILE__, __LINE__, __VA_ARGS__); } } while (0)
#define CHECK_EQ_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); \
    if (_a != _b) { t_case_failed = 1; t_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, _a, _b); } } while (0)
#define CHECK_STR(a, b) do { const char *_a = (a), *_b = (b); \
    if (!_a || !_b || strcmp(_a, _b)) { t_case_failed = 1; t_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b, _a ? _a : "(null)", _b ? _b : "(null)"); } } while (0)
#define CHECK_NEAR(a, b, tol) do { double _a = (a), _b = (b); \
    if (!(fabs(_a - _b) <= (tol))) { t_case_failed = 1; t_fail(__FILE__, __LINE__, "%s ~ %s: %g vs %g (tol %g)", #a, #b, _a, _b, (double)(tol)); } } while (0)
/* Fails the current case and leaves it: for what the rest of the case needs (a shared file
 * that must load, a tool setup.sh installs). The message says what was missing. */
#define REQUIRE(c, ...) do { if (!(c)) { t_case_failed = 1; t_fail(__FILE__, __LINE__, __VA_ARGS__); return; } } while (0)
/* Skip the current case (e.g. the CPU lacks AVX-512); counted separately, never as a pass.
 * The reason is printed as "  skip [case]: reason", which tests/run.sh collects. */
#define SKIP(...) do { t_case_skipped = 1; fprintf(stderr, "  skip [%s]: ", t_case_name); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); return; } while (0)
/* Counts one skipped item inside a case that goes on (a file on tests/not_yet_supported.txt).
 * A reason of the form "REASON -- DETAIL" is grouped by REASON in run.sh's list. */
#define SKIP_ITEM(...) do { t_skipped++; fprintf(stderr, "  skip [%s]: ", t_case_name); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } while (0)
/* The least number of cases that must run (pass or fail); call first thing in main. */
#define TEST_EXPECT(n) (t_expected = (n))

#define TEST(name) static void name(void)
#define RUN(name) do { t_case_name = #name; t_case_failed = 0; t_case_skipped = 0; name(); \
    if (t_case_failed) { t_failed++; fprintf(stderr, "FAIL %s\n", #name); } \
    else if (t_case_skipped) t_skipped++; else t_passed++; } while (0)

static inline int test_summary(void) {
    int ran = t_passed + t_failed, short_run = t_expected < 0 || ran < t_expected;
    if (t_expected < 0) fprintf(stderr, "FAIL: the program states no minimum (TEST_EXPECT)\n");
    else {
        printf("expect: at least %d tests run\n", t_expected);
        if (ran < t_expected) fprintf(stderr, "FAIL: %d tests ran, at least %d expected\n", ran, t_expected);
    }
    if (t_skipped) printf("%d passed, %d failed, %d skipped\n", t_passed, t_failed, t_skipped);
    else printf("%d passed, %d failed\n", t_passed, t_failed);
    return t_failed || short_run ? 1 : 0;
}

/* Test data lives outside the repo: $OMNI_MODELS (default ../shared/models) and
 * $OMNI_GOLDEN (default ../shared/golden), relative to the project root where tests run. */
static inline const char *t_dir(const char *env, const char *def) {
    const char *d = getenv(env);
    return d && *d ? d : def;
}
/* Returns a path inside the models folder. Rotating static buffers: valid for a few calls. */
static inline const char *model_path(const char *rel) {
    static char buf[8][1024]; static int i;
    char *b = buf[i++ & 7];
    snprintf(b, 1024, "%s/%s", t_dir("OMNI_MODELS", "../shared/models"), rel);
    return b;
}
static inline const char *golden_path(const char *rel) {
    static char buf[8][1024]; static int i;
    char *b = buf[i++ & 7];
    snprintf(b, 1024, "%s/%s", t_dir("OMNI_GOLDEN", "../shared/golden"), rel);
    return b;
}
/* Reads a whole file into a NUL-terminated heap buffer (caller frees); NULL if missing. */
static inline char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END); long n = ftell(f); fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) { free(p); p = NULL; }
    fclose(f);
    if (p) { p[n] = 0; if (len) *len = (size_t)n; }
    return p;
}

/* tests/not_yet_supported.txt: files in ../shared that omni does not support yet. Returns
 * "reason (issue)" when the file `rel` (relative to ../shared: "golden/llm/x.jsonl",
 * "models/synth/x.gguf") is listed for the check `what` ("logits", "tokens", "model"),
 * else NULL. A test that meets a listed file skips it with that reason, after probing
 * that it still fails: a listed file that starts to work fails the test, so the list
 * cannot outlive the work it waits for. Tests run from the project root. */
static inline const char *t_not_yet(const char *rel, const char *what) {
    static char reason[512];
    FILE *f = fopen("tests/not_yet_supported.txt", "r");
    if (!f) { fprintf(stderr, "  cannot read tests/not_yet_supported.txt (run from the project root)\n"); return NULL; }
    char line[1024], pat[512], w[64], issue[64];
    const char *found = NULL;
    while (!found && fgets(line, sizeof line, f)) {
        int off = 0;
        if (line[0] == '#' || sscanf(line, "%511s %63s %63s %n", pat, w, issue, &off) < 3 || !off) continue;
        if (strcmp(w, what) || fnmatch(pat, rel, 0)) continue;
        line[strcspn(line, "\n")] = 0;
        snprintf(reason, sizeof reason, "not yet supported (tests/not_yet_supported.txt): %s (%s)", line + off, issue);
        found = reason;
    }
    fclose(f);
    return found;
}
#endif

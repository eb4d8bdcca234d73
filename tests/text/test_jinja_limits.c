/* Hostile chat templates: a template comes with a model file, so every limit of
 * struct jinja_limits must end a render with an error naming it (never a hang, a
 * crash or exhausted memory), out of memory anywhere must be an error return, and
 * the defaults must leave real templates far from every limit. */
#include <pthread.h>

#include "test.h"
#include "text/chat_template.h"
#include "text/jinja.h"
#include "text/jinja_internal.h"

static char last_err[512];

/* Parses and renders src under lim (NULL = defaults); NULL on error (message in last_err). */
static char *render_lim(const char *src, const char *ctx_json, const struct jinja_limits *lim, struct jinja_usage *u) {
    struct err e = {{0}};
    last_err[0] = 0;
    struct jv *ctx = jv_from_json(ctx_json ? ctx_json : "{}", &e);
    if (!ctx) { snprintf(last_err, sizeof last_err, "%s", e.msg); return NULL; }
    struct jinja_template *t = jinja_parse(src, &e);
    char *out = NULL;
    if (t && jinja_render_limited(t, ctx, lim, &out, u, &e)) out = NULL;
    if (!out) snprintf(last_err, sizeof last_err, "%s", e.msg);
    jinja_free(t);
    jv_unref(ctx);
    return out;
}
static char *render(const char *src) { return render_lim(src, NULL, NULL, NULL); }

#define CHECK_FAILS_LIM(src, lim, needle) do { char *_o = render_lim(src, NULL, lim, NULL); \
    CHECK_MSG(!_o && strstr(last_err, needle), "%s: should fail with \"%s\", got \"%.60s\" / \"%s\"", #src, needle, _o ? _o : "(null)", last_err); free(_o); } while (0)
#define CHECK_FAILS(src, needle) CHECK_FAILS_LIM(src, NULL, needle)
#define CHECK_RENDER(src, want) do { char *_o = render(src); \
    CHECK_MSG(_o && !strcmp(_o, want), "%s = \"%s\" (err: %s), want \"%s\"", #src, _o ? _o : "(null)", last_err, want); free(_o); } while (0)

/* A template of n copies of open, then mid, then n copies of close. */
static char *repeat3(const char *open, int n, const char *mid, const char *close) {
    size_t lo = strlen(open), lm = strlen(mid), lc = strlen(close);
    char *s = malloc((lo + lc) * (size_t)n + lm + 1), *p = s;
    for (int i = 0; i < n; i++, p += lo) memcpy(p, open, lo);
    memcpy(p, mid, lm);
    p += lm;
    for (int i = 0; i < n; i++, p += lc) memcpy(p, close, lc);
    *p = 0;
    return s;
}

TEST(huge_range_fails_at_once) {
    CHECK_FAILS("{% for i in range(999999999) %}x{% endfor %}", "range() of 999999999 items is longer than the loop limit");
    CHECK_FAILS("{{ range(-9223372036854775807 - 1, 9223372036854775807, 1) | length }}", "longer than the loop limit");
    CHECK_RENDER("{{ range(9223372036854775800, 9223372036854775807, 3) | list }}",
                 "[9223372036854775800, 9223372036854775803, 9223372036854775806]");
    CHECK_RENDER("{{ range(5, -9223372036854775807 - 1, -9223372036854775807 - 1) | list }}", "[5, -9223372036854775803]");
}

TEST(loop_iterations_are_bounded) {
    CHECK_FAILS("{% for i in range(400000) %}{% for j in range(400000) %}{% endfor %}{% endfor %}",
                "more than 500000 loop iterations");
    struct jinja_limits lim = jinja_default_limits;
    lim.max_iterations = 1000;
    CHECK_FAILS_LIM("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}", &lim, "more than 1000 loop iterations");
    /* a loop over a list it grows or shrinks runs over a snapshot: it ends, and reads nothing freed */
    CHECK_RENDER("{% set l = [1, 2, 3] %}{% for x in l %}{{ l.append(x) }}{% endfor %}{{ l | length }}", "NoneNoneNone6");
    CHECK_RENDER("{% set l = [1, 2, 3] %}{% for x in l %}{{ x }}{{ l.pop() }}{% endfor %}|{{ l }}", "132231|[]");
}

TEST(evaluation_steps_are_bounded) {
    struct jinja_limits lim = jinja_default_limits;
    lim.max_steps = 200000;
    CHECK_FAILS_LIM("{% set l = range(20000) | list %}{% for i in range(10000) %}{{ 19999 in l }}{% endfor %}", &lim,
                    "exceeded 200000 evaluation steps");
    CHECK_FAILS_LIM("{{ range(100000) | reverse | sort | unique | length }}", &lim, "exceeded 200000 evaluation steps");
    /* a big string copied often costs steps by its size, not one step a copy */
    CHECK_FAILS_LIM("{% set s = 'x' * 1000000 %}{% for i in range(1000) %}{% set t = s ~ i %}{% endfor %}", &lim,
                    "exceeded 200000 evaluation steps");
    /* sorting is O(n log n): a list of 100k sorts within the defaults */
    CHECK_RENDER("{{ (range(100000) | reverse | sort)[:3] }}", "[0, 1, 2]");
}

TEST(macro_recursion_is_bounded) {
    CHECK_FAILS("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "nested deeper");
    CHECK_FAILS("{% macro a(n) %}{{ b(n) }}{% endmacro %}{% macro b(n) %}{{ a(n + 1) }}{% endmacro %}{{ a(0) }}", "nested deeper");
    CHECK_FAILS("{% macro f() %}{% for x in [1] %}{% call f() %}{% endcall %}{% endfor %}{% endmacro %}{{ f() }}", "nested deeper");
    /* recursion that stops in time is fine */
    CHECK_RENDER("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(10) }}", "10987654321");
    /* map() that maps map() recurses inside the built-ins: bounded too */
    char *args = repeat3("'map', ", 3000, "'map'", "");
    size_t n = strlen(args) + 64;
    char *t = malloc(n);
    snprintf(t, n, "{{ 'a' | map(%s) | list }}", args);
    CHECK_FAILS(t, "nested deeper");
    free(t);
    free(args);
}

TEST(string_growth_is_bounded) {
    CHECK_FAILS("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
                "string longer than 16777216 bytes");
    CHECK_FAILS("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", "string longer than");
    CHECK_FAILS("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s | replace(ns.s, ns.s ~ ns.s) %}{% endfor %}",
                "string longer than");
    CHECK_FAILS("{{ 'xy' * 9223372036854775807 }}", "string repetition longer than 16777216 bytes");
    CHECK_RENDER("[{{ '' * 9223372036854775807 }}{{ 'x' * -5 }}]", "[]");
    CHECK_FAILS("{{ 'a\\nb' | indent(9223372036854775807) }}", "string longer than");
    CHECK_FAILS("{% set s %}{% for i in range(100) %}{{ 'x' * 1000000 }}{% endfor %}{% endset %}", "output larger than 16777216 bytes");
}

TEST(memory_is_bounded) {
    /* 30 strings of 10 MB held at once */
    CHECK_FAILS("{% set ns = namespace(l=[]) %}{% for i in range(30) %}{% set _ = ns.l.append('x' * 10000000 ~ i) %}{% endfor %}",
                "used more than 128 MiB of memory");
    /* list doubling (with the defaults the step limit comes first) */
    struct jinja_limits lim = jinja_default_limits;
    lim.max_steps = 1L << 40;
    CHECK_FAILS_LIM("{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}", &lim,
                    "used more than 128 MiB");
    lim = jinja_default_limits;
    lim.max_memory = 1 << 20;
    CHECK_FAILS_LIM("{{ range(100000) | list | length }}", &lim, "used more than 1 MiB of memory");
    /* memory freed along the way does not count: a long loop of short-lived values is fine */
    lim.max_memory = 512 << 10;
    CHECK_FAILS_LIM("{{ 'x' * 600000 }}", &lim, "used more than 512 KiB of memory");
    char *o = render_lim("{% for i in range(5000) %}{% set s = 'abc' * 1000 ~ i %}{% endfor %}ok", NULL, &lim, NULL);
    CHECK_MSG(o && !strcmp(o, "ok"), "got %s (%s)", o ? o : "(null)", last_err);
    free(o);
}

TEST(deep_nesting_is_refused_by_the_parser) {
    char *t = repeat3("(", 1500, "1", ")");
    char *src = malloc(strlen(t) + 8);
    sprintf(src, "{{ %s }}", t);
    CHECK_FAILS(src, "nested deeper than");
    free(src);
    free(t);
    t = repeat3("[", 5000, "1", "]");
    src = malloc(strlen(t) + 8);
    sprintf(src, "{{ %s }}", t);
    CHECK_FAILS(src, "nested deeper than");
    free(src);
    free(t);
    /* a flat-looking chain is a deep tree: refused too, so freeing it cannot overflow the stack */
    char *chain = repeat3(" + 1", 100000, "", "");
    src = malloc(strlen(chain) + 16);
    sprintf(src, "{{ 1%s }}", chain);
    CHECK_FAILS(src, "nested deeper than 64 levels");
    free(src);
    free(chain);
    chain = repeat3("{% elif false %}", 100000, "", "");
    src = malloc(strlen(chain) + 64);
    sprintf(src, "{%% if false %%}%s{%% endif %%}", chain);
    CHECK_FAILS(src, "nested deeper than 64 levels");
    free(src);
    free(chain);
    t = repeat3("{% for x in [1] %}", 100, "x", "{% endfor %}");
    CHECK_FAILS(t, "nested deeper than 64 levels");
    free(t);
    chain = repeat3("|string", 100000, "", "");
    src = malloc(strlen(chain) + 16);
    sprintf(src, "{{ x%s }}", chain);
    CHECK_FAILS(src, "nested deeper than 64 levels");
    free(src);
    free(chain);
    /* well inside the limit parses and renders (sanitizer builds use more stack a level) */
    t = repeat3("(", 30, "7", ")");
    src = malloc(strlen(t) + 8);
    sprintf(src, "{{ %s }}", t);
    CHECK_RENDER(src, "7");
    free(src);
    free(t);
}

TEST(values_cannot_nest_without_bound) {
    CHECK_FAILS("{% set l = [] %}{{ l.append(l) }}", "would contain itself");
    CHECK_FAILS("{% set a = [] %}{% set b = [a] %}{{ a.append(b) }}", "would contain itself");
    CHECK_FAILS("{% set ns = namespace() %}{% set ns.me = ns %}", "would contain itself");
    CHECK_FAILS("{% set ns = namespace(l=[]) %}{% for i in range(1000) %}{% set ns.l = [ns.l] %}{% endfor %}",
                "would contain itself or nest deeper than 128 levels");
    /* Linking lists that are already inside others (a[i].append(a[i+1])) builds a chain no
     * single append can see whole: printing, comparing or dumping it fails, and freeing
     * it (200k levels) does not recurse. */
#define CHAIN(n) "{% set a = [] %}{% for i in range(" #n ") %}{{ a.append([]) }}{% endfor %}"                  "{% for i in range(" #n " - 1) %}{{ a[i].append(a[i + 1]) }}{% endfor %}"
    CHECK_FAILS(CHAIN(1000) "{{ a[0] }}", "values nested deeper than 128 levels");
    CHECK_FAILS(CHAIN(1000) "{{ a[0] | tojson }}", "values nested deeper than 128 levels");
    CHECK_FAILS(CHAIN(1000) "{{ a[0] == a[0] }}", "values nested deeper than 128 levels");
    CHECK_FAILS(CHAIN(1000) "{{ a[0] < a[0] }}", "values nested deeper than 128 levels");
    struct jinja_limits lim = jinja_default_limits;
    lim.max_steps = 1L << 40;
    char *o = render_lim(CHAIN(200000) "freed", NULL, &lim, NULL);
    CHECK_MSG(o && o[strlen(o) - 5] == 'f', "got %.20s (%s)", o ? o : "(null)", last_err);
    free(o);
#undef CHAIN
    /* JSON context deeper than that is refused when it is read */
    char *deep = repeat3("[", 200, "1", "]");
    struct err e = {{0}};
    struct jv *v = jv_from_json(deep, &e);
    CHECK(!v && strstr(e.msg, "nested deeper than 128"));
    jv_unref(v);
    free(deep);
}

TEST(integer_overflow_is_an_error) {
    CHECK_FAILS("{{ 9223372036854775807 + 1 }}", "integer overflow in +");
    CHECK_FAILS("{{ -9223372036854775807 - 2 }}", "integer overflow in -");
    CHECK_FAILS("{{ 4294967296 * 4294967296 }}", "integer overflow in *");
    CHECK_FAILS("{{ 2 ** 64 }}", "integer overflow in **");
    CHECK_FAILS("{{ (-9223372036854775807 - 1) // -1 }}", "integer overflow in //");
    CHECK_FAILS("{{ -(-9223372036854775807 - 1) }}", "integer overflow");
    CHECK_FAILS("{{ (-9223372036854775807 - 1) | abs }}", "integer overflow");
    CHECK_FAILS("{{ (10.0 ** 300) | int }}", "does not fit an integer");
    CHECK_RENDER("{{ (-9223372036854775807 - 1) % -1 }}|{{ 2 ** 62 }}|{{ 1 ** 9223372036854775807 }}|{{ -7 % 3 }}|{{ 7 // -2 }}",
                 "0|4611686018427387904|1|2|-4");
    CHECK_RENDER("{{ 'abcdef'[::9223372036854775807] }}|{{ 'abcdef'[::-9223372036854775807 - 1] }}|{{ [1, 2, 3][-9223372036854775807 - 1:] }}",
                 "a|f|[1, 2, 3]");
}

/* The server renders on civetweb worker threads with 100 KiB stacks. */
struct stack_job { const char *src; int failed_cleanly; char msg[600]; };
static void *stack_job_run(void *p) {
    struct stack_job *j = p;
    static const struct chat_message m[] = {{.role = "user", .content = "hi"}};
    char *out = NULL;
    struct err e = {{0}};
    j->failed_cleanly = chat_render(j->src, m, 1, NULL, &out, &e) != 0;
    snprintf(j->msg, sizeof j->msg, "%s", e.msg);
    free(out);
    return NULL;
}

TEST(hostile_templates_fit_a_small_thread_stack) {
    char *parens = repeat3("(", 63, "1", ")"), *lists = repeat3("[", 63, "1", "]");
    char *p1 = malloc(strlen(parens) + 8), *p2 = malloc(strlen(lists) + 8);
    sprintf(p1, "{{ %s }}", parens);
    sprintf(p2, "{{ %s }}", lists);
    char *fors = repeat3("{% for x in [[[[[1]]]]] %}", 60, "{{ x }}", "{% endfor %}");
    const char *srcs[] = {
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
        "{% macro f(n) %}{% for x in [1] %}{% if n %}{{ [[[[[[[[[[f(n)]]]]]]]]]] }}{% endif %}{% endfor %}{% endmacro %}{{ f(1) }}",
        p1, p2, fors,
    };
    for (size_t i = 0; i < sizeof srcs / sizeof *srcs; i++) {
        struct stack_job j = {srcs[i], 0, ""};
        pthread_attr_t a;
        pthread_t t;
        pthread_attr_init(&a);
        pthread_attr_setstacksize(&a, 100u << 10);
        CHECK(pthread_create(&t, &a, stack_job_run, &j) == 0);
        pthread_join(t, NULL);
        pthread_attr_destroy(&a);
        /* what matters is that the thread came back; those inside the limits may also render */
        if (i < 2) CHECK_MSG(j.failed_cleanly && strstr(j.msg, "nested deeper"), "template %zu: %s", i, j.msg);
    }
    free(parens); free(lists); free(p1); free(p2); free(fors);
}

/* Real templates (tests/text/templates and the synth models' own) with a conversation
 * that uses tools, tool calls and thinking. */
static const char *const REAL[] = {"tests/text/templates/gemma-7b-it.jinja", "tests/text/templates/llama3.1-instruct.jinja",
                                   "tests/text/templates/llama3.jinja", "tests/text/templates/mistral-7b-instruct-v0.2.jinja",
                                   "tests/text/templates/qwen2.5-instruct.jinja"};
static const char *const REAL_GGUF[] = {"synth/synth-smollm2-f16.gguf", "synth/synth-qwen3-f16.gguf", "synth/synth-qwen35-f16.gguf",
                                        "synth/synth-exaone4-f16.gguf", "synth/synth-gemma3-f16.gguf", "synth/synth-phi3-f16.gguf"};
static const struct chat_message CONV[] = {
    {.role = "system", .content = "You are a helpful assistant."},
    {.role = "user", .content = "What's the weather in Paris?"},
    {.role = "assistant", .content = "<think>\ncall the tool\n</think>\n\nLet me check."},
    {.role = "user", .content = "안녕하세요!"},
};
static const char TOOLS[] = "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather\","
                            "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}]";

#include "formats/gguf.h"
static char *load_template(int i) {
    int nf = (int)(sizeof REAL / sizeof *REAL);
    if (i < nf) return read_file(REAL[i], NULL);
    struct err e;
    struct gguf *g = gguf_open(model_path(REAL_GGUF[i - nf]), &e);
    if (!g) return NULL;
    char *s = gguf_get_str_dup(g, "tokenizer.chat_template");
    gguf_close(g);
    return s;
}
#define N_REAL ((int)(sizeof REAL / sizeof *REAL + sizeof REAL_GGUF / sizeof *REAL_GGUF))

/* The context chat_render builds, as JSON, for jinja_render_limited. */
static const char CTX[] = "{\"messages\": [{\"role\": \"system\", \"content\": \"You are a helpful assistant.\"},"
    "{\"role\": \"user\", \"content\": \"What's the weather in Paris?\"},"
    "{\"role\": \"assistant\", \"content\": \"<think>\\ncall the tool\\n</think>\\n\\nLet me check.\"},"
    "{\"role\": \"user\", \"content\": \"안녕하세요!\"}], \"add_generation_prompt\": true, \"bos_token\": \"<s>\","
    "\"eos_token\": \"</s>\", \"date_string\": \"26 Jul 2024\", \"tools\": [{\"type\":\"function\",\"function\":{"
    "\"name\":\"get_weather\",\"description\":\"Weather\",\"parameters\":{\"type\":\"object\",\"properties\":"
    "{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}]}";

TEST(real_templates_are_far_from_every_limit) {
    int seen = 0;
    for (int i = 0; i < N_REAL; i++) {
        char *tpl = load_template(i);
        if (!tpl) continue;
        seen++;
        struct jinja_usage u = {0};
        char *out = render_lim(tpl, CTX, NULL, &u);
        /* gemma and mistral refuse a system turn (raise_exception): still measured up to there */
        if (!out) CHECK_MSG(strstr(last_err, "raised an exception"), "template %d: %s", i, last_err);
        const struct jinja_limits *d = &jinja_default_limits;
        CHECK_MSG(u.steps < d->max_steps / 100 && u.iterations < d->max_iterations / 100 && u.max_calls <= d->max_calls / 16 &&
                      u.max_nesting < d->max_nesting / 4 && u.memory < d->max_memory / 100,
                  "template %d: %ld steps, %ld iterations, %d calls, nesting %d, %zu bytes", i, u.steps, u.iterations,
                  u.max_calls, u.max_nesting, u.memory);
        free(out);
        free(tpl);
    }
    CHECK_MSG(seen >= 5, "only %d templates found", seen);
}

/* Every allocation in turn fails: each render either succeeds with the right output
 * or fails saying "out of memory"; no crash, no leak (ASan builds check that). */
TEST(out_of_memory_is_an_error_everywhere) {
    char *tpl = read_file("tests/text/templates/qwen2.5-instruct.jinja", NULL);
    CHECK(tpl != NULL);
    if (!tpl) return;
    struct chat_render_opts o = {.add_generation_prompt = 1, .tools = TOOLS};
    char *want = NULL;
    struct err e = {{0}};
    CHECK(chat_render(tpl, CONV, 4, &o, &want, &e) == 0);
    if (!want) { free(tpl); return; }
    int failures = 0, successes = 0;
    for (long k = 0; k < 100000 && successes < 3; k++) {
        jx_fail_allocation_after(k);
        char *out = NULL;
        struct err ek = {{0}};
        int rc = chat_render(tpl, CONV, 4, &o, &out, &ek);
        jx_fail_allocation_after(-1);
        if (rc) {
            failures++;
            CHECK_MSG(strstr(ek.msg, "out of memory"), "allocation %ld: %s", k, ek.msg);
        } else {
            successes++; /* k is past the last allocation */
            CHECK_MSG(out && !strcmp(out, want), "allocation %ld: wrong output", k);
        }
        free(out);
    }
    CHECK_MSG(failures > 500 && successes == 3, "%d failing renders, %d successes", failures, successes);
    free(want);
    free(tpl);
}

int main(void) {
    TEST_EXPECT(12);
    RUN(huge_range_fails_at_once);
    RUN(loop_iterations_are_bounded);
    RUN(evaluation_steps_are_bounded);
    RUN(macro_recursion_is_bounded);
    RUN(string_growth_is_bounded);
    RUN(memory_is_bounded);
    RUN(deep_nesting_is_refused_by_the_parser);
    RUN(values_cannot_nest_without_bound);
    RUN(integer_overflow_is_an_error);
    RUN(hostile_templates_fit_a_small_thread_stack);
    RUN(real_templates_are_far_from_every_limit);
    RUN(out_of_memory_is_an_error_everywhere);
    return test_summary();
}

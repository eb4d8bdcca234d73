/* The lazy JSON constraint (runtime/lazy_json.c) on a toy vocabulary: free text is left
 * alone, the trigger switches the schema's masks on, a finished value switches them off
 * again (and a second trigger on again), a start marker delays them, and of two function
 * triggers where one name begins the other the whole name wins. */
#include "test.h"

#include <math.h>

#include <cJSON.h>

#include "runtime/lazy_json.h"
#include "text/json_schema.h"

static const char *const P[] = {"Hello", " <tool_call>", "{", "\"a\"", ":", "1", "}", "x", " ", "\"b\"",
                                "to=functions.get", "_weather", " <|message|>", "<|message|>"};
enum { N = sizeof P / sizeof *P };
static size_t L[N];

static struct json_schema *compile(const char *txt) {
    cJSON *j = cJSON_Parse(txt);
    struct err e = {{0}};
    struct json_schema *s = j ? json_schema_compile(j, &e) : NULL;
    cJSON_Delete(j);
    return s;
}

/* Which tokens the mask leaves finite. */
static void allowed(struct lazy_json *lj, int *ok) {
    float lg[N];
    for (int i = 0; i < N; i++) lg[i] = 0;
    lazy_json_mask(lj, lg, N);
    for (int i = 0; i < N; i++) ok[i] = isfinite(lg[i]);
}

static int take(struct lazy_json *lj, int t) { return lazy_json_accept(lj, t, P[t], L[t]); }

TEST(trigger_value_free_again) {
    for (int i = 0; i < N; i++) L[i] = strlen(P[i]);
    struct json_schema *sc = compile("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},"
                                     "\"required\":[\"a\"],\"additionalProperties\":false}");
    REQUIRE(sc, "schema");
    struct lazy_json_spec spec = {"<tool_call>", "", sc};
    struct err e = {{0}};
    struct lazy_json *lj = lazy_json_new(&spec, 1, P, L, N, &e);
    REQUIRE(lj, "%s", e.msg);
    int ok[N];
    allowed(lj, ok);
    for (int i = 0; i < N; i++) CHECK(ok[i]);   /* free text: nothing masked */
    CHECK(take(lj, 0) == 0 && !lazy_json_active(lj));
    CHECK(take(lj, 1) == 0 && lazy_json_active(lj));
    allowed(lj, ok);
    CHECK(ok[2] && ok[8] && !ok[7] && !ok[0] && !ok[3]);   /* '{' or space; not text, not a key yet */
    CHECK(take(lj, 2) == 0);
    allowed(lj, ok);
    CHECK(ok[3] && !ok[9] && !ok[6]);   /* the required key, no other, not closed yet */
    CHECK(take(lj, 3) == 0 && take(lj, 4) == 0 && take(lj, 5) == 0);
    CHECK(take(lj, 6) == 0);
    CHECK(!lazy_json_active(lj));
    allowed(lj, ok);
    for (int i = 0; i < N; i++) CHECK(ok[i]);   /* free again */
    CHECK(take(lj, 7) == 0 && !lazy_json_active(lj));
    CHECK(take(lj, 1) == 0 && lazy_json_active(lj));   /* a second call */
    lazy_json_free(lj);
    json_schema_free(sc);
}

TEST(start_marker_and_longest_name) {
    for (int i = 0; i < N; i++) L[i] = strlen(P[i]);
    struct json_schema *a = compile("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},"
                                    "\"additionalProperties\":false}");
    struct json_schema *b = compile("{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"integer\"}},"
                                    "\"additionalProperties\":false}");
    REQUIRE(a && b, "schemas");
    struct lazy_json_spec specs[2] = {{"to=functions.get", "<|message|>", a}, {"to=functions.get_weather", "<|message|>", b}};
    struct err e = {{0}};
    struct lazy_json *lj = lazy_json_new(specs, 2, P, L, N, &e);
    REQUIRE(lj, "%s", e.msg);
    int ok[N];
    CHECK(take(lj, 10) == 0 && !lazy_json_active(lj));   /* "get" may still go on */
    CHECK(take(lj, 11) == 0 && !lazy_json_active(lj));   /* get_weather: waits for <|message|> */
    CHECK(take(lj, 12) == 0 && lazy_json_active(lj));
    CHECK(take(lj, 2) == 0);
    allowed(lj, ok);
    CHECK(ok[9] && !ok[3]);   /* get_weather's schema (key "b"), not get's */
    lazy_json_free(lj);
    /* the short name alone */
    lj = lazy_json_new(specs, 2, P, L, N, &e);
    REQUIRE(lj, "%s", e.msg);
    CHECK(take(lj, 10) == 0 && take(lj, 12) == 0 && lazy_json_active(lj));
    CHECK(take(lj, 2) == 0);
    allowed(lj, ok);
    CHECK(ok[3] && !ok[9]);
    lazy_json_free(lj);
    json_schema_free(a);
    json_schema_free(b);
}

int main(void) {
    TEST_EXPECT(2);
    RUN(trigger_value_free_again);
    RUN(start_marker_and_longest_name);
    return test_summary();
}

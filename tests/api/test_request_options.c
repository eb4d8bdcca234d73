/* Validation of the OpenAI request fields: defaults, ranges, types, and that every
 * rejection names the offending field (param) — plus API key checking. */
#include "api/auth.h"
#include "api/request_options.h"
#include "test.h"

static int parse(const char *json, int chat, struct api_options *o, struct api_bad_field *bad) {
    cJSON *j = cJSON_Parse(json);
    if (!j) return 99;
    int r = api_options_parse(j, chat, 1000, o, bad);
    cJSON_Delete(j);
    return r;
}

/* Expects a rejection naming param. */
static int rejects(const char *json, int chat, const char *param) {
    struct api_options o;
    struct api_bad_field bad = {{0}, {0}};
    int r = parse(json, chat, &o, &bad);
    api_options_free(&o);
    if (r != -1) { fprintf(stderr, "  accepted: %s\n", json); return 0; }
    if (strcmp(bad.param, param)) { fprintf(stderr, "  %s: param '%s' != '%s'\n", json, bad.param, param); return 0; }
    return bad.msg[0] != 0;
}

TEST(defaults) {
    struct api_options o;
    struct api_bad_field bad;
    CHECK(parse("{}", 1, &o, &bad) == 0);
    CHECK_NEAR(o.sampling.temperature, 1.0, 0);
    CHECK_NEAR(o.sampling.top_p, 1.0, 0);
    CHECK(o.max_tokens == 0 && o.n_stop == 0 && !o.stream && o.sampling.seed == OMNI_SEED_RANDOM && !o.json_mode);
    api_options_free(&o);
}

TEST(reads_every_field) {
    struct api_options o;
    struct api_bad_field bad;
    CHECK(parse("{\"max_tokens\":5,\"max_completion_tokens\":7,\"temperature\":0,\"top_p\":0.5,\"seed\":42,"
                "\"stop\":[\"a\",\"bb\"],\"presence_penalty\":1,\"frequency_penalty\":-1,\"logit_bias\":{\"12\":-100,\"7\":3},"
                "\"logprobs\":true,\"top_logprobs\":4,\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                "\"n\":1,\"user\":\"u\",\"response_format\":{\"type\":\"json_object\"}}", 1, &o, &bad) == 0);
    CHECK(o.max_tokens == 7);
    CHECK_NEAR(o.sampling.temperature, 0, 0);
    CHECK_NEAR(o.sampling.top_p, 0.5, 1e-6);
    CHECK(o.sampling.seed == 42);
    CHECK(o.n_stop == 2 && !strcmp(o.stop[1], "bb"));
    CHECK(o.sampling.n_bias == 2 && o.sampling.bias_token[0] == 12 && o.sampling.bias_value[0] == -100);
    CHECK(o.logprobs == 1 && o.top_logprobs == 4 && o.stream && o.include_usage && o.json_mode);
    api_options_free(&o);
    CHECK(parse("{\"stop\":\"END\",\"logprobs\":3}", 0, &o, &bad) == 0);   /* completions: logprobs is a count */
    CHECK(o.n_stop == 1 && o.logprobs == 1 && o.top_logprobs == 3);
    api_options_free(&o);
}

TEST(rejects_and_names_the_field) {
    CHECK(rejects("{\"temperature\":\"hot\"}", 1, "temperature"));
    CHECK(rejects("{\"temperature\":2.5}", 1, "temperature"));
    CHECK(rejects("{\"top_p\":-0.1}", 1, "top_p"));
    CHECK(rejects("{\"max_tokens\":0}", 1, "max_tokens"));
    CHECK(rejects("{\"max_tokens\":1.5}", 1, "max_tokens"));
    CHECK(rejects("{\"max_completion_tokens\":\"9\"}", 1, "max_completion_tokens"));
    CHECK(rejects("{\"n\":3}", 1, "n"));
    CHECK(rejects("{\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 1, "stop"));
    CHECK(rejects("{\"stop\":[1]}", 1, "stop"));
    CHECK(rejects("{\"logit_bias\":{\"5000\":1}}", 1, "logit_bias"));
    CHECK(rejects("{\"logit_bias\":{\"5\":101}}", 1, "logit_bias"));
    CHECK(rejects("{\"logit_bias\":[1]}", 1, "logit_bias"));
    CHECK(rejects("{\"presence_penalty\":3}", 1, "presence_penalty"));
    CHECK(rejects("{\"stream\":1}", 1, "stream"));
    CHECK(rejects("{\"stream_options\":{\"include_usage\":true}}", 1, "stream_options"));
    CHECK(rejects("{\"top_logprobs\":2}", 1, "top_logprobs"));
    CHECK(rejects("{\"logprobs\":true,\"top_logprobs\":21}", 1, "top_logprobs"));
    CHECK(rejects("{\"logprobs\":6}", 0, "logprobs"));
    CHECK(rejects("{\"response_format\":{\"type\":\"yaml\"}}", 1, "response_format.type"));
    CHECK(rejects("{\"user\":5}", 1, "user"));
    CHECK(rejects("{\"seed\":\"x\"}", 1, "seed"));
}

TEST(null_means_absent) {
    struct api_options o;
    struct api_bad_field bad;
    CHECK(parse("{\"temperature\":null,\"stop\":null,\"max_tokens\":null}", 1, &o, &bad) == 0);
    CHECK_NEAR(o.sampling.temperature, 1.0, 0);
    api_options_free(&o);
}

TEST(api_keys) {
    struct api_keys k = {0};
    struct err e;
    CHECK(api_keys_check(&k, NULL));                 /* no keys configured: open */
    CHECK(api_keys_add(&k, "  secret-1 ", &e) == 0);
    CHECK(api_keys_add(&k, "   ", &e) == -1);
    CHECK(api_keys_check(&k, "Bearer secret-1"));
    CHECK(api_keys_check(&k, "bearer   secret-1  "));
    CHECK(!api_keys_check(&k, NULL));
    CHECK(!api_keys_check(&k, "Bearer secret-"));
    CHECK(!api_keys_check(&k, "Bearer secret-12"));
    CHECK(!api_keys_check(&k, "secret-1"));
    CHECK(api_keys_load_file(&k, "/nonexistent/keys", &e) == -1 && strstr(e.msg, "/nonexistent/keys"));
    char path[] = "/tmp/omni_keys_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# team keys\n\nalpha\n  beta  \n", f);
    fclose(f);
    CHECK(api_keys_load_file(&k, path, &e) == 0);
    CHECK(k.n == 3 && api_keys_check(&k, "Bearer beta") && api_keys_check(&k, "Bearer alpha"));
    unlink(path);
    api_keys_free(&k);
}

int main(void) {
    TEST_EXPECT(5);
    RUN(defaults);
    RUN(reads_every_field);
    RUN(rejects_and_names_the_field);
    RUN(null_means_absent);
    RUN(api_keys);
    return test_summary();
}

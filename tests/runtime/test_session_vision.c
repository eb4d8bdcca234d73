/* Images in omni_session through the public API (omni.h): the ChatML prompt of
 * golden/vision with the image at its marker reproduces llama.cpp's greedy tokens, a
 * repeated turn reuses the image's KV entries, another image is not mistaken for the
 * cached one, and bad inputs end in clear errors. */
#include "test.h"
#include <cjson/cJSON.h>

#include "omni.h"

#define PROMPT "<|im_start|>user\n" OMNI_IMAGE_MARKER "\nDescribe the image.<|im_end|>\n<|im_start|>assistant\n"

struct text {
    char buf[4096];
    size_t len;
};

static int collect(const char *s, size_t n, void *user) {
    struct text *t = user;
    if (t->len + n < sizeof t->buf) {
        memcpy(t->buf + t->len, s, n);
        t->len += n;
        t->buf[t->len] = 0;
    }
    return 0;
}

static omni_model *model;

/* The golden greedy tokens of one image, as text; *margin: the reference's top-1 lead. */
static int golden_text(const char *image, struct text *out, int *n_greedy, double *margin) {
    char *jl = read_file(golden_path("vision/synth-llava-mmproj-f16.jsonl"), NULL);
    if (!jl) return -1;
    int found = -1;
    for (char *line = strtok(jl, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        if (!j) continue;
        if (!strcmp(cJSON_GetObjectItem(j, "image")->valuestring, image)) {
            cJSON *g = cJSON_GetObjectItem(j, "greedy"), *top = cJSON_GetObjectItem(j, "top5");
            *margin = cJSON_GetArrayItem(cJSON_GetArrayItem(top, 0), 1)->valuedouble -
                      cJSON_GetArrayItem(cJSON_GetArrayItem(top, 1), 1)->valuedouble;
            *n_greedy = cJSON_GetArraySize(g);
            out->len = 0;
            out->buf[0] = 0;
            for (int i = 0; i < *n_greedy; i++) {
                size_t len;
                const char *p = omni_token_text(model, cJSON_GetArrayItem(g, i)->valueint, 0, &len);
                collect(p, len, out);
            }
            found = 0;
        }
        cJSON_Delete(j);
    }
    free(jl);
    return found;
}

static int generate(omni_session *s, const char *prompt, omni_image *img, int n, struct text *t, omni_usage *u,
                    char *err) {
    omni_generate_params gp = omni_generate_default_params();
    gp.sampling.temperature = 0;
    gp.max_tokens = n;
    gp.on_text = collect;
    gp.user = t;
    const omni_image *imgs[1] = {img};
    gp.images = imgs;
    gp.n_images = img ? 1 : 0;
    t->len = 0;
    t->buf[0] = 0;
    return omni_session_generate(s, prompt, &gp, u, err, 512);
}

TEST(golden_greedy_and_cache) {
    char err[512];
    omni_image *logo = omni_image_load(model_path("images/logo112.png"), err, sizeof err);
    omni_image *plasma = omni_image_load(model_path("images/plasma112.png"), err, sizeof err);
    CHECK(logo && plasma);
    omni_session *s = omni_session_new(model, NULL, err, sizeof err);
    CHECK(s);
    if (!logo || !plasma || !s) return;
    struct text want, got, again, other;
    int n_greedy = 0;
    double margin = 0;
    CHECK(golden_text("logo112.png", &want, &n_greedy, &margin) == 0);
    omni_usage u;
    CHECK(generate(s, PROMPT, logo, n_greedy, &got, &u, err) == 0);
    /* prefix 3 + 64 image positions + suffix 11, as in the golden file */
    CHECK_EQ_INT(u.prompt_tokens, 3 + omni_model_n_image_pos(model) + 11);
    CHECK_EQ_INT(u.cached_tokens, 0);
    if (margin > 0.05) CHECK_STR(got.buf, want.buf);

    /* The same turn again: everything but the last token comes from the cache. */
    CHECK(generate(s, PROMPT, logo, n_greedy, &again, &u, err) == 0);
    CHECK_EQ_INT(u.cached_tokens, u.prompt_tokens - 1);
    CHECK_STR(again.buf, got.buf);

    /* Another image at the same place: only the text before it is reused. */
    CHECK(golden_text("plasma112.png", &want, &n_greedy, &margin) == 0);
    CHECK(generate(s, PROMPT, plasma, n_greedy, &other, &u, err) == 0);
    CHECK_EQ_INT(u.cached_tokens, 3);
    if (margin > 0.05) CHECK_STR(other.buf, want.buf);
    CHECK(strcmp(other.buf, got.buf) != 0);

    /* A fresh session agrees with the cached path for the plasma image. */
    omni_session *s2 = omni_session_new(model, NULL, err, sizeof err);
    struct text fresh;
    CHECK(s2 && generate(s2, PROMPT, plasma, n_greedy, &fresh, &u, err) == 0);
    CHECK_STR(fresh.buf, other.buf);
    omni_session_free(s2);
    omni_session_free(s);
    omni_image_free(logo);
    omni_image_free(plasma);
}

TEST(errors) {
    char err[512] = "";
    CHECK(omni_image_load("no/such/image.png", err, sizeof err) == NULL);
    CHECK(strstr(err, "no/such/image.png") != NULL);
    static const char junk[] = "\x89PNG\r\n\x1a\n not really";
    CHECK(omni_image_load_memory(junk, sizeof junk, "junk.png", err, sizeof err) == NULL);
    CHECK(err[0] != 0);

    omni_image *logo = omni_image_load(model_path("images/logo112.png"), err, sizeof err);
    CHECK(logo);
    CHECK_EQ_INT(omni_image_width(logo), 112);
    omni_session *s = omni_session_new(model, NULL, err, sizeof err);
    struct text t;
    omni_usage u;
    /* More images than markers. */
    CHECK(generate(s, "<|im_start|>user\nhello", logo, 4, &t, &u, err) != 0);
    CHECK(strstr(err, "marker") != NULL);
    /* An image may not end the prompt. */
    CHECK(generate(s, "hello " OMNI_IMAGE_MARKER, logo, 4, &t, &u, err) != 0);
    CHECK(strstr(err, "ends the prompt") != NULL);
    omni_session_free(s);

    /* A model without an encoder refuses images but keeps the marker text as text. */
    omni_model *plain = omni_model_load(model_path("synth/synth-smollm2-f16.gguf"), NULL, err, sizeof err);
    CHECK(plain);
    if (plain) {
        CHECK_EQ_INT(omni_model_n_image_pos(plain), 0);
        omni_session *p = omni_session_new(plain, NULL, err, sizeof err);
        CHECK(generate(p, PROMPT, logo, 4, &t, &u, err) != 0);
        CHECK(strstr(err, "image encoder") != NULL);
        CHECK(generate(p, PROMPT, NULL, 4, &t, &u, err) == 0);
        omni_session_free(p);
        omni_model_free(plain);
    }
    omni_image_free(logo);
}

int main(void) {
    TEST_EXPECT(2);
    char err[512];
    model = omni_model_load(model_path("synth/synth-smollm2-f16.gguf"), NULL, err, sizeof err);
    if (!model || omni_model_load_mmproj(model, model_path("synth/synth-llava-mmproj-f16.gguf"), err, sizeof err)) {
        fprintf(stderr, "cannot load the vision test models: %s\n", err);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(golden_greedy_and_cache);
    RUN(errors);
    omni_model_free(model);
    return test_summary();
}

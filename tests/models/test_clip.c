/* The mmproj image encoder against llama.cpp: projected embeddings of the four test
 * images (../shared/golden/vision) within 2e-2, the README's bound for all four (the JPEG
 * too: measured 1.1e-3, the same stb_image decoder as llama.cpp's), plus the loader's
 * refusals and the pre-processing's padding. The encoder, the golden and the images are
 * shipped in ../shared: a load or decode that fails is a failure, not a skip. */
#include <cjson/cJSON.h>

#include "test.h"
#include "core/pool.h"
#include "models/clip.h"
#include "models/image_preprocess.h"

static cJSON *golden_line(const char *image) {
    char *txt = read_file(golden_path("vision/synth-llava-mmproj-f16.jsonl"), NULL);
    if (!txt) return NULL;
    cJSON *found = NULL;
    for (char *line = strtok(txt, "\n"); line && !found; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        cJSON *img = cJSON_GetObjectItem(j, "image");
        if (cJSON_IsString(img) && !strcmp(img->valuestring, image)) found = j;
        else cJSON_Delete(j);
    }
    free(txt);
    return found;
}

static void check_image(const char *name, double tol) {
    struct err e = {{0}};
    struct clip *c = clip_load(model_path("synth/synth-llava-mmproj-f16.gguf"), &e);
    REQUIRE(c != NULL, "clip_load: %s", e.msg);
    cJSON *g = golden_line(name);
    if (!g) clip_free(c);
    REQUIRE(g != NULL, "no line for %s in %s", name, golden_path("vision/synth-llava-mmproj-f16.jsonl"));
    const struct clip_hparams *hp = clip_hparams(c);
    CHECK_EQ_INT(hp->n_image_pos, cJSON_GetObjectItem(g, "n_image_pos")->valueint);
    CHECK_EQ_INT(hp->n_out, cJSON_GetObjectItem(g, "n_embd")->valueint);
    char rel[128];
    snprintf(rel, sizeof rel, "images/%s", name);
    struct image img;
    int drc = image_decode_file(model_path(rel), 0, &img, &e);
    if (drc) { cJSON_Delete(g); clip_free(c); }
    REQUIRE(drc == 0, "image_decode_file: %s", e.msg);
    int n = hp->n_image_pos, d = hp->n_out;
    float *out = malloc((size_t)n * d * sizeof *out);
    struct pool *p = pool_create(2);
    int rc = clip_encode_image(c, p, &img, out, &e);
    CHECK_MSG(rc == 0, "%s", e.msg);
    if (rc == 0) {
        double s = 0, s2 = 0;
        for (long i = 0; i < (long)n * d; i++) s += out[i], s2 += (double)out[i] * out[i];
        CHECK_NEAR(s / ((double)n * d), cJSON_GetObjectItem(g, "mean")->valuedouble, tol);
        CHECK_NEAR(sqrt(s2 / ((double)n * d)), cJSON_GetObjectItem(g, "rms")->valuedouble, tol);
        cJSON *fr = cJSON_GetObjectItem(g, "first_row"), *lr = cJSON_GetObjectItem(g, "last_row");
        double worst = 0;
        for (int i = 0; i < 8; i++) {
            worst = fmax(worst, fabs(out[i] - cJSON_GetArrayItem(fr, i)->valuedouble));
            worst = fmax(worst, fabs(out[(size_t)(n - 1) * d + i] - cJSON_GetArrayItem(lr, i)->valuedouble));
        }
        fprintf(stderr, "  %s: largest row difference from llama.cpp %.2e\n", name, worst);
        for (int i = 0; i < 8; i++) {
            CHECK_NEAR(out[i], cJSON_GetArrayItem(fr, i)->valuedouble, tol);
            CHECK_NEAR(out[(size_t)(n - 1) * d + i], cJSON_GetArrayItem(lr, i)->valuedouble, tol);
        }
    }
    pool_free(p);
    free(out);
    image_free(&img);
    cJSON_Delete(g);
    clip_free(c);
}

TEST(logo_png_matches_llama_cpp) { check_image("logo112.png", 2e-2); }
TEST(logo_jpg_matches_llama_cpp) { check_image("logo112.jpg", 2e-2); }
TEST(plasma_png_matches_llama_cpp) { check_image("plasma112.png", 2e-2); }
TEST(non_square_text_png_matches_llama_cpp) { check_image("text320x200.png", 2e-2); }

TEST(loader_names_the_problem) {
    struct err e = {{0}};
    struct clip *c = clip_load(model_path("synth/synth-smollm2-f16.gguf"), &e);
    CHECK(c == NULL);
    CHECK_MSG(strstr(e.msg, "clip") != NULL, "message: %s", e.msg);
    c = clip_load("no/such/file.gguf", &e);
    CHECK(c == NULL);
    CHECK(e.msg[0] != 0);
}

TEST(hparams_follow_the_llava_layout) {
    struct err e = {{0}};
    struct clip *c = clip_load(model_path("synth/synth-llava-mmproj-f16.gguf"), &e);
    REQUIRE(c != NULL, "clip_load: %s", e.msg);
    const struct clip_hparams *hp = clip_hparams(c);
    CHECK_EQ_INT(hp->image_size, 112);
    CHECK_EQ_INT(hp->patch_size, 14);
    CHECK_EQ_INT(hp->n_layer, 3);
    CHECK_EQ_INT(hp->n_layer_run, 2);   /* penultimate layer */
    CHECK_EQ_INT(hp->use_gelu, 0);
    CHECK_EQ_INT(hp->has_class, 1);
    CHECK_STR(hp->projector, "mlp");
    clip_free(c);
}

TEST(padding_uses_the_mean_colour_top_left) {
    /* 4x2 white image -> padded to 4x4: rows 2..3 are the mean colour, which
     * normalises to (trunc(mean*255)/255 - mean)/std, close to 0. */
    uint8_t px[4 * 2 * 3];
    memset(px, 255, sizeof px);
    struct image img = {4, 2, px};
    float mean[3] = {0.5f, 0.25f, 0.75f}, std[3] = {0.5f, 0.5f, 0.5f};
    float out[3 * 16];
    struct err e;
    CHECK(image_preprocess_llava(&img, 4, mean, std, out, &e) == 0);
    CHECK_NEAR(out[0], (1.0 - 0.5) / 0.5, 1e-6);                       /* top-left: white */
    CHECK_NEAR(out[15], ((int)(0.5f * 255) / 255.0 - 0.5) / 0.5, 1e-6); /* bottom-right: pad, red */
    CHECK_NEAR(out[16 + 15], ((int)(0.25f * 255) / 255.0 - 0.25) / 0.5, 1e-6);
    /* an extreme aspect ratio is padded without allocating the square (found by fuzzing) */
    static uint8_t strip[40000 * 3];
    struct image wide = {40000, 1, strip};
    CHECK(image_preprocess_llava(&wide, 4, mean, std, out, &e) == 0);
    CHECK_NEAR(out[15], ((int)(0.5f * 255) / 255.0 - 0.5) / 0.5, 1e-6);
}

TEST(bicubic_keeps_a_flat_image_flat_and_identity_size) {
    uint8_t px[5 * 3 * 3], dst[7 * 4 * 3], same[5 * 3 * 3];
    for (int i = 0; i < 15; i++) px[3 * i] = 10, px[3 * i + 1] = 200, px[3 * i + 2] = 77;
    struct image img = {5, 3, px};
    image_resize_bicubic(&img, dst, 7, 4);
    int bad = 0;
    for (int i = 0; i < 28; i++) bad += dst[3 * i] != 10 || dst[3 * i + 1] != 200 || dst[3 * i + 2] != 77;
    CHECK_EQ_INT(bad, 0);
    for (int i = 0; i < 45; i++) px[i] = (uint8_t)(i * 37);
    image_resize_bicubic(&img, same, 5, 3);
    CHECK(memcmp(same, px, sizeof px) == 0);
}

int main(void) {
    TEST_EXPECT(8);
    RUN(logo_png_matches_llama_cpp);
    RUN(logo_jpg_matches_llama_cpp);
    RUN(plasma_png_matches_llama_cpp);
    RUN(non_square_text_png_matches_llama_cpp);
    RUN(loader_names_the_problem);
    RUN(hparams_follow_the_llava_layout);
    RUN(padding_uses_the_mean_colour_top_left);
    RUN(bicubic_keeps_a_flat_image_flat_and_identity_size);
    return test_summary();
}

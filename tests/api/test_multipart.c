/* The audio upload's field collection (api/multipart.c), driven the way civetweb's
 * form parser drives it: a field starts, its data arrives in pieces. */
#include "test.h"
#include "api/multipart.h"

/* Sends one field's value in pieces of `chunk` bytes; returns what the last call did. */
static int send_field(struct api_form *fm, const char *key, const char *value, size_t chunk) {
    if (!api_form_field_begin(fm, key)) return 1; /* skipped */
    size_t n = strlen(value);
    for (size_t i = 0; i < n; i += chunk)
        if (api_form_field_data(fm, value + i, n - i < chunk ? n - i : chunk)) return -1;
    return 0;
}

TEST(collects_the_fields_the_route_uses) {
    struct api_form fm;
    api_form_init(&fm, 1 << 20);
    CHECK(send_field(&fm, "file", "RIFF....WAVEfmt ", 3) == 0);
    CHECK(send_field(&fm, "model", "whisper-1", 100) == 0);
    CHECK(send_field(&fm, "stream", "true", 100) == 1);      /* not ours: skipped */
    CHECK(send_field(&fm, "language", "en", 1) == 0);
    CHECK(send_field(&fm, "language", "ko", 1) == 0);        /* repeated: the last wins */
    CHECK(send_field(&fm, "prompt", "", 1) == 0);            /* sent empty: as if absent */
    CHECK(send_field(&fm, "temperature", "0.2", 2) == 0);
    api_form_end(&fm);
    CHECK_EQ_INT(fm.f[API_FORM_FILE].n, 16);
    CHECK(fm.f[API_FORM_FILE].seen && !memcmp(fm.f[API_FORM_FILE].p, "RIFF....WAVEfmt ", 16));
    CHECK_STR(api_form_text(&fm, API_FORM_MODEL), "whisper-1");
    CHECK_STR(api_form_text(&fm, API_FORM_LANGUAGE), "ko");
    CHECK(api_form_text(&fm, API_FORM_PROMPT) == NULL);
    CHECK(api_form_text(&fm, API_FORM_FORMAT) == NULL);
    CHECK_STR(api_form_text(&fm, API_FORM_TEMPERATURE), "0.2");
    CHECK(!fm.too_big && !fm.oom && !fm.text_too_long);
    api_form_free(&fm);
}

TEST(timestamp_granularities_may_repeat) {
    struct api_form fm;
    api_form_init(&fm, 1 << 20);
    CHECK(send_field(&fm, "timestamp_granularities[]", "word", 2) == 0);
    CHECK(send_field(&fm, "timestamp_granularities", "segment", 3) == 0);
    CHECK(send_field(&fm, "timestamp_granularities[]", "sentence", 8) == 0);
    CHECK(send_field(&fm, "timestamp_granularities[]", "char", 8) == 0);
    api_form_end(&fm);
    CHECK(fm.gran_word && fm.gran_segment);
    CHECK_STR(fm.gran_bad, "sentence"); /* the first unknown one */
    api_form_free(&fm);
}

TEST(limits_stop_the_upload) {
    struct api_form fm;
    api_form_init(&fm, 10);
    CHECK(send_field(&fm, "file", "0123456789A", 4) == -1);
    CHECK(fm.too_big);
    api_form_free(&fm);
    api_form_init(&fm, 1 << 30);
    char *big = malloc(API_FORM_MAX_TEXT + 2);
    memset(big, 'p', API_FORM_MAX_TEXT + 1);
    big[API_FORM_MAX_TEXT + 1] = 0;
    CHECK(send_field(&fm, "prompt", big, 4096) == -1);
    CHECK_EQ_INT(fm.text_too_long, API_FORM_PROMPT + 1);
    CHECK_STR(api_form_field_names[fm.text_too_long - 1], "prompt");
    big[API_FORM_MAX_TEXT] = 0; /* exactly the limit is fine, and the file has none */
    api_form_free(&fm);
    api_form_init(&fm, 1 << 30);
    CHECK(send_field(&fm, "prompt", big, 4096) == 0);
    CHECK(send_field(&fm, "file", big, 1000) == 0 && send_field(&fm, "file", big, 1000) == 0);
    CHECK(!fm.text_too_long && !fm.too_big);
    api_form_free(&fm);
    free(big);
}

int main(void) {
    TEST_EXPECT(3);
    RUN(collects_the_fields_the_route_uses);
    RUN(timestamp_granularities_may_repeat);
    RUN(limits_stop_the_upload);
    return test_summary();
}

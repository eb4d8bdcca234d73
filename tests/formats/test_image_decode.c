/* Image decoding: the test images, BMP and GIF, refusals (WebP, garbage, empty,
 * over the pixel limit), truncation and byte mutations that must end in an error
 * or a valid image, never a crash (run it under ASan). The images are in ../shared:
 * one that does not decode is a failure. */
#include "test.h"
#include "formats/image_decode.h"

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb/stb_image_write.h>

TEST(decodes_png_and_jpeg_test_images) {
    struct image a = {0}, b = {0}, c = {0};
    struct err e = {{0}};
    REQUIRE(image_decode_file(model_path("images/logo112.png"), 0, &a, &e) == 0, "%s", e.msg);
    CHECK_EQ_INT(a.w, 112);
    CHECK_EQ_INT(a.h, 112);
    CHECK(image_decode_file(model_path("images/logo112.jpg"), 0, &b, &e) == 0);
    CHECK_EQ_INT(b.w, 112);
    CHECK_EQ_INT(b.h, 112);
    if (b.rgb) {  /* same picture: JPEG is lossy but close */
        double d = 0;
        for (int i = 0; i < 112 * 112 * 3; i++) d += abs(a.rgb[i] - b.rgb[i]);
        CHECK(d / (112 * 112 * 3) < 8);
        CHECK(memcmp(a.rgb, b.rgb, 112 * 112 * 3) != 0);
    }
    CHECK(image_decode_file(model_path("images/text320x200.png"), 0, &c, &e) == 0);
    CHECK_EQ_INT(c.w, 320);
    CHECK_EQ_INT(c.h, 200);
    image_free(&a), image_free(&b), image_free(&c);
}

struct membuf { unsigned char *p; size_t n, cap; };
static void put(void *ctx, void *data, int size) {
    struct membuf *m = ctx;
    if (m->n + (size_t)size > m->cap) {
        m->cap = (m->n + (size_t)size) * 2;
        m->p = realloc(m->p, m->cap);
    }
    memcpy(m->p + m->n, data, (size_t)size);
    m->n += (size_t)size;
}

TEST(bmp_round_trip_is_exact) {
    struct image a, b;
    struct err e = {{0}};
    REQUIRE(image_decode_file(model_path("images/plasma112.png"), 0, &a, &e) == 0, "%s", e.msg);
    struct membuf m = {0};
    CHECK(stbi_write_bmp_to_func(put, &m, a.w, a.h, 3, a.rgb));
    CHECK_STR(image_format_name(m.p, m.n), "bmp");
    CHECK(image_decode_memory(m.p, m.n, 0, "bmp", &b, &e) == 0);
    CHECK(b.w == a.w && b.h == a.h && b.rgb && !memcmp(a.rgb, b.rgb, (size_t)a.w * a.h * 3));
    image_free(&a), image_free(&b);
    free(m.p);
}

TEST(gif_first_frame) {
    /* 1x1 GIF, two-colour palette (red, black), pixel = index 0 */
    static const unsigned char gif[] = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0xff, 0, 0, 0, 0, 0,
                                        0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3b};
    struct image img;
    struct err e = {{0}};
    CHECK_MSG(image_decode_memory(gif, sizeof gif, 0, "gif", &img, &e) == 0, "%s", e.msg);
    CHECK(img.w == 1 && img.h == 1);
    if (img.rgb) CHECK(img.rgb[0] == 255 && img.rgb[1] == 0 && img.rgb[2] == 0);
    image_free(&img);
}

TEST(refusals_are_clear) {
    struct image img;
    struct err e = {{0}};
    static const unsigned char webp[] = "RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0";
    CHECK(image_decode_memory(webp, sizeof webp - 1, 0, "x.webp", &img, &e) != 0);
    CHECK_MSG(strstr(e.msg, "webp") && strstr(e.msg, "x.webp"), "%s", e.msg);
    CHECK(img.rgb == NULL);
    static const char junk[] = "this is not an image at all";
    CHECK(image_decode_memory(junk, sizeof junk, 0, "junk", &img, &e) != 0);
    CHECK_MSG(strstr(e.msg, "junk") != NULL, "%s", e.msg);
    CHECK(image_decode_memory(junk, 0, 0, "empty", &img, &e) != 0);
    CHECK(image_decode_file("no/such/image.png", 0, &img, &e) != 0);
    CHECK_MSG(strstr(e.msg, "no/such/image.png") != NULL, "%s", e.msg);
    CHECK(image_decode_file(".", 0, &img, &e) != 0);
}

TEST(pixel_limit_is_checked_before_decoding) {
    struct image img;
    struct err e = {{0}};
    char *probe = read_file(model_path("images/logo112.png"), NULL);
    REQUIRE(probe != NULL, "cannot read %s", model_path("images/logo112.png"));
    free(probe);
    CHECK(image_decode_file(model_path("images/logo112.png"), 112 * 112 - 1, &img, &e) != 0);
    CHECK_MSG(strstr(e.msg, "limit") != NULL, "%s", e.msg);
    CHECK(image_decode_file(model_path("images/logo112.png"), 112 * 112, &img, &e) == 0);
    image_free(&img);
    /* a PNG header claiming 60000 x 60000 pixels, no data */
    unsigned char big[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                           0, 0, 0xea, 0x60, 0, 0, 0xea, 0x60, 8, 2, 0, 0, 0, 0, 0, 0, 0};
    CHECK(image_decode_memory(big, sizeof big, 0, "big.png", &img, &e) != 0);
    CHECK(img.rgb == NULL);
}

TEST(jpeg_with_oversized_huffman_table_is_refused) {
    /* stb_image 2.27 would write past its tables; image_decode must refuse first */
    size_t n = 0;
    unsigned char *data = (unsigned char *)read_file(model_path("images/logo112.jpg"), &n);
    REQUIRE(data != NULL, "cannot read %s", model_path("images/logo112.jpg"));
    size_t i = 2;
    while (i + 1 < n && !(data[i] == 0xff && data[i + 1] == 0xc4)) i++;
    CHECK(i + 21 < n);
    if (i + 21 < n) {
        for (int k = 0; k < 16; k++) data[i + 5 + k] = 255;
        struct image img;
        struct err e = {{0}};
        CHECK(image_decode_memory(data, n, 0, "evil.jpg", &img, &e) != 0);
        CHECK_MSG(strstr(e.msg, "Huffman") != NULL, "%s", e.msg);
        /* the same table cut short: stb reads the missing counts as 0 (found by fuzzing) */
        for (int k = 8; k < 16; k++) data[i + 5 + k] = 0;
        CHECK(image_decode_memory(data, i + 13, 0, "evil.jpg", &img, &e) != 0);
        CHECK_MSG(strstr(e.msg, "Huffman") != NULL, "%s", e.msg);
        /* a segment too short for its table: stb still reads the counts after it */
        for (int k = 0; k < 16; k++) data[i + 5 + k] = 255;
        data[i + 2] = 0, data[i + 3] = 3;
        CHECK(image_decode_memory(data, n, 0, "evil.jpg", &img, &e) != 0);
        CHECK_MSG(strstr(e.msg, "Huffman") != NULL, "%s", e.msg);
    }
    free(data);
}

static void hammer(const char *rel, int expect_truncation_fails) {
    size_t n = 0;
    unsigned char *data = (unsigned char *)read_file(model_path(rel), &n);
    REQUIRE(data != NULL, "cannot read %s", model_path(rel));
    struct image img;
    struct err e;
    int failed_cuts = 0, cuts = 0;
    for (size_t cut = 0; cut < n; cut += 1 + n / 97) {
        cuts++;
        if (image_decode_memory(data, cut, 0, rel, &img, &e)) failed_cuts++;
        else CHECK(img.w > 0 && img.h > 0 && img.rgb);
        image_free(&img);
    }
    if (expect_truncation_fails) CHECK_EQ_INT(failed_cuts, cuts);
    unsigned char *m = malloc(n);
    unsigned s = 12345;
    for (int round = 0; round < 300; round++) {
        memcpy(m, data, n);
        for (int k = 0; k < 1 + round % 8; k++) {
            s = s * 1103515245u + 12345u;
            m[(s >> 8) % n] = (unsigned char)(s >> 20);
        }
        if (image_decode_memory(m, n, 0, rel, &img, &e) == 0) CHECK(img.w > 0 && img.h > 0 && img.rgb);
        image_free(&img);
    }
    free(m);
    free(data);
}

TEST(truncated_and_mutated_png_never_crash) { hammer("images/logo112.png", 1); }
TEST(truncated_and_mutated_jpeg_never_crash) { hammer("images/logo112.jpg", 0); }

int main(void) {
    TEST_EXPECT(8);
    RUN(decodes_png_and_jpeg_test_images);
    RUN(bmp_round_trip_is_exact);
    RUN(gif_first_frame);
    RUN(refusals_are_clear);
    RUN(pixel_limit_is_checked_before_decoding);
    RUN(jpeg_with_oversized_huffman_table_is_refused);
    RUN(truncated_and_mutated_png_never_crash);
    RUN(truncated_and_mutated_jpeg_never_crash);
    return test_summary();
}

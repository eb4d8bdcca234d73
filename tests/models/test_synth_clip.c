/* The synth tool's image encoders: small shapes written by synth_clip_write load in
 * clip.c with the layout llama.cpp's clip.cpp reads (tensor names, shapes, keys),
 * encode an image, and the same seed gives the same file and the same embeddings. */
#include <sys/stat.h>

#include "test.h"
#include "core/pool.h"
#include "formats/gguf.h"
#include "models/clip.h"
#include "models/synth_clip.h"

/* CLIP-like: class token, pre-LN, quick GELU. 32 px / 8 px patches = 16 patches. */
static const struct synth_clip_shape tiny_clip = {
    "tiny-clip", 32, 8, 32, 64, 4, 3, 24, 1, 0, 0, 1e-5f, {0.48f, 0.46f, 0.41f}, {0.27f, 0.26f, 0.28f}};
/* SigLIP-like: no class token, post-LN, GELU, and an image size that is not a multiple
 * of the patch (as so400m's 384 / 14): 30 px / 7 px = 4x4 patches, 2 pixels unused. */
static const struct synth_clip_shape tiny_siglip = {
    "tiny-siglip", 30, 7, 48, 96, 3, 3, 40, 0, 1, 0, 1e-6f, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}};

static const char *tmp_path(const char *tag) {
    static char buf[4][256];
    static int i;
    char *b = buf[i++ & 3];
    snprintf(b, 256, "/tmp/omni-test-synth-clip-%d-%s.gguf", (int)getpid(), tag);
    return b;
}

/* Encodes logo112.png; returns a malloc'ed n_image_pos x n_out array or NULL. */
static float *encode_logo(const char *path, int *n, struct err *e) {
    struct clip *c = clip_load(path, e);
    if (!c) return NULL;
    struct image img;
    float *out = NULL;
    if (image_decode_file(model_path("images/logo112.png"), 0, &img, e) == 0) {
        *n = clip_hparams(c)->n_image_pos * clip_hparams(c)->n_out;
        out = malloc((size_t)*n * sizeof *out);
        struct pool *p = pool_create(2);
        if (clip_encode_image(c, p, &img, out, e)) free(out), out = NULL;
        pool_free(p);
        image_free(&img);
    }
    clip_free(c);
    return out;
}

static int files_equal(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = read_file(a, &na), *y = read_file(b, &nb);
    int eq = x && y && na == nb && !memcmp(x, y, na);
    free(x), free(y);
    return eq;
}

TEST(registered_shapes_are_real_sizes) {
    const struct synth_clip_shape *c = synth_clip_find_shape("clip-vit-l-14-336");
    const struct synth_clip_shape *s = synth_clip_find_shape("siglip-so400m-14-384");
    CHECK(c && s && !synth_clip_find_shape("nope"));
    if (!c || !s) return;
    /* LLaVA-1.5's 576 image positions; SigLIP-so400m's 729. */
    CHECK_EQ_INT((c->image_size / c->patch_size) * (c->image_size / c->patch_size), 576);
    CHECK_EQ_INT((s->image_size / s->patch_size) * (s->image_size / s->patch_size), 729);
    CHECK(c->has_class && !c->use_gelu && s->use_gelu && !s->has_class);
}

/* Keys and tensors llama.cpp's clip.cpp requires, with its shapes (ffn_down is the
 * expanding matrix in LLaVA's converter layout). */
TEST(layout_matches_llama_cpp) {
    struct err e = {{0}};
    const char *path = tmp_path("layout");
    CHECK_MSG(synth_clip_write(&tiny_clip, "f16", 7, 0, path, &e) == 0, "%s", e.msg);
    struct gguf *g = gguf_open(path, &e);
    CHECK_MSG(g != NULL, "%s", e.msg);
    if (!g) return;
    static const char *const keys[] = {"general.description", "general.file_type", "clip.has_text_encoder",
                                       "clip.has_vision_encoder", "clip.has_llava_projector", "clip.use_gelu",
                                       "clip.projector_type", "clip.vision.image_size", "clip.vision.patch_size",
                                       "clip.vision.embedding_length", "clip.vision.feed_forward_length",
                                       "clip.vision.block_count", "clip.vision.attention.head_count",
                                       "clip.vision.attention.layer_norm_epsilon", "clip.vision.projection_dim",
                                       "clip.vision.image_mean", "clip.vision.image_std"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) CHECK_MSG(gguf_find_key(g, keys[i]) >= 0, "missing %s", keys[i]);
    struct gguf_str pt = gguf_get_str(g, "clip.projector_type");
    CHECK(pt.s && pt.len == 3 && !memcmp(pt.s, "mlp", 3));
    struct {
        const char *name;
        int64_t ne0, ne1;
    } want[] = {{"v.patch_embd.weight", 8, 8}, {"v.position_embd.weight", 32, 17}, {"v.class_embd", 32, 1},
                {"v.pre_ln.weight", 32, 1},    {"v.blk.2.attn_q.weight", 32, 32},  {"v.blk.2.attn_out.bias", 32, 1},
                {"v.blk.2.ffn_down.weight", 32, 64}, {"v.blk.2.ffn_up.weight", 64, 32}, {"v.blk.2.ln2.bias", 32, 1},
                {"mm.0.weight", 32, 24},       {"mm.2.weight", 24, 24},            {"mm.2.bias", 24, 1}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        int64_t ti = gguf_find_tensor(g, want[i].name);
        CHECK_MSG(ti >= 0, "missing tensor %s", want[i].name);
        if (ti < 0) continue;
        struct tensor t;
        gguf_tensor(g, ti, &t);
        CHECK_MSG(t.ne[0] == want[i].ne0 && t.ne[1] == want[i].ne1, "%s: [%lld, %lld]", want[i].name,
                  (long long)t.ne[0], (long long)t.ne[1]);
    }
    CHECK(gguf_find_tensor(g, "v.post_ln.weight") < 0);
    gguf_close(g);
    remove(path);
}

TEST(loads_and_encodes_deterministically) {
    const struct synth_clip_shape *shapes[2] = {&tiny_clip, &tiny_siglip};
    for (int k = 0; k < 2; k++) {
        struct err e = {{0}};
        const char *a = tmp_path("a"), *b = tmp_path("b"), *c = tmp_path("c");
        CHECK_MSG(synth_clip_write(shapes[k], "f16", 3, 0, a, &e) == 0, "%s", e.msg);
        CHECK_MSG(synth_clip_write(shapes[k], "f16", 3, 0, b, &e) == 0, "%s", e.msg);
        CHECK_MSG(synth_clip_write(shapes[k], "f16", 4, 0, c, &e) == 0, "%s", e.msg);
        CHECK(files_equal(a, b));
        CHECK(!files_equal(a, c));
        struct clip *cl = clip_load(a, &e);
        CHECK_MSG(cl != NULL, "%s: %s", shapes[k]->name, e.msg);
        if (cl) {
            const struct clip_hparams *hp = clip_hparams(cl);
            int side = shapes[k]->image_size / shapes[k]->patch_size;
            CHECK_EQ_INT(hp->n_image_pos, side * side);
            CHECK_EQ_INT(hp->n_out, shapes[k]->n_out);
            CHECK_EQ_INT(hp->has_class, shapes[k]->has_class);
            CHECK_EQ_INT(hp->use_gelu, shapes[k]->use_gelu);
            CHECK_EQ_INT(hp->n_layer_run, shapes[k]->n_layer - 1);
            CHECK_NEAR(hp->eps, shapes[k]->eps, 1e-9);
            clip_free(cl);
        }
        int na = 0, nb = 0, nc = 0;
        float *ea = encode_logo(a, &na, &e), *eb = encode_logo(b, &nb, &e), *ec = encode_logo(c, &nc, &e);
        CHECK_MSG(ea && eb && ec, "%s: %s", shapes[k]->name, e.msg);
        if (ea && eb && ec) {
            CHECK(na == nb && !memcmp(ea, eb, (size_t)na * sizeof *ea));
            double s2 = 0, diff = 0;
            int finite = 1;
            for (int i = 0; i < na; i++) {
                finite &= isfinite(ea[i]) != 0;
                s2 += (double)ea[i] * ea[i];
                diff += fabs((double)ea[i] - ec[i]);
            }
            CHECK(finite);
            /* Weights at +-1/sqrt(fan_in) keep activations near unit scale, not 0 or huge. */
            double rms = sqrt(s2 / na);
            CHECK_MSG(rms > 1e-3 && rms < 10, "%s: rms %g", shapes[k]->name, rms);
            CHECK(diff > 0);
        }
        free(ea), free(eb), free(ec);
        remove(a), remove(b), remove(c);
    }
}

/* The strided patch conv ignores the pixels past the last whole patch. */
TEST(pixels_past_last_patch_are_ignored) {
    struct err e = {{0}};
    const char *path = tmp_path("edge");
    CHECK_MSG(synth_clip_write(&tiny_siglip, "f16", 5, 0, path, &e) == 0, "%s", e.msg);
    struct clip *c = clip_load(path, &e);
    CHECK_MSG(c != NULL, "%s", e.msg);
    if (!c) return;
    const int S = tiny_siglip.image_size, used = (S / tiny_siglip.patch_size) * tiny_siglip.patch_size;
    const int n = clip_hparams(c)->n_image_pos * clip_hparams(c)->n_out;
    float *px = malloc(sizeof(float) * 3 * S * S), *o1 = malloc(sizeof(float) * n), *o2 = malloc(sizeof(float) * n);
    for (int i = 0; i < 3 * S * S; i++) px[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    CHECK(clip_encode(c, NULL, px, o1, &e) == 0);
    for (int ch = 0; ch < 3; ch++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                if (x >= used || y >= used) px[(ch * S + y) * S + x] = 9.0f;
    CHECK(clip_encode(c, NULL, px, o2, &e) == 0);
    CHECK(!memcmp(o1, o2, sizeof(float) * n));
    px[0] += 1.0f; /* a covered pixel does change the result */
    CHECK(clip_encode(c, NULL, px, o2, &e) == 0);
    CHECK(memcmp(o1, o2, sizeof(float) * n) != 0);
    free(px), free(o1), free(o2);
    clip_free(c);
    remove(path);
}

TEST(projector_width_and_refusals) {
    struct err e = {{0}};
    const char *path = tmp_path("w");
    CHECK(synth_clip_write(&tiny_clip, "f16", 1, 16, path, &e) == 0);
    struct clip *c = clip_load(path, &e);
    CHECK_MSG(c && clip_hparams(c)->n_out == 16, "%s", e.msg);
    clip_free(c);
    remove(path);
    e.msg[0] = 0;
    CHECK(synth_clip_write(&tiny_clip, "q8_0", 1, 0, path, &e) != 0);
    CHECK(strstr(e.msg, "f16") != NULL);
    CHECK(synth_clip_write(&tiny_clip, "f16", 1, -5, path, &e) != 0);
    struct stat st;
    CHECK(stat(path, &st) != 0); /* nothing written on refusal */
}

int main(void) {
    TEST_EXPECT(5);
    RUN(registered_shapes_are_real_sizes);
    RUN(layout_matches_llama_cpp);
    RUN(loads_and_encodes_deterministically);
    RUN(pixels_past_last_patch_are_ignored);
    RUN(projector_width_and_refusals);
    return test_summary();
}

/* omni synth's Whisper shapes: Whisper's real mel filterbank, the whisper.cpp file layout
 * (read back by our loader with the real tiny/base hyper-parameters), f16 and q8_0. */
#include "test.h"
#include "formats/ggml_whisper.h"
#include "models/synth_whisper.h"
#include "models/whisper.h"
#include "core/dtype.h"

TEST(mel_filters_match_whisper) {
    struct err e = {{0}};
    struct ggw_file *f = ggw_load(model_path("asr/for-tests-ggml-tiny.bin"), &e);
    REQUIRE(f != NULL, "%s", e.msg);
    CHECK_EQ_INT(f->n_mel, 80);
    CHECK_EQ_INT(f->n_fft, 201);
    float *mine = malloc(80 * 201 * sizeof *mine);
    synth_whisper_mel_filters(16000, 400, 80, mine);
    double worst = 0, peak = 0;
    int nonzero_mismatch = 0;
    for (int i = 0; i < 80 * 201; i++) {
        double d = fabs((double)mine[i] - f->filters[i]);
        if (d > worst) worst = d;
        if (f->filters[i] > peak) peak = f->filters[i];
        if ((mine[i] != 0) != (f->filters[i] != 0)) nonzero_mismatch++;
    }
    CHECK_MSG(worst < 1e-7, "worst filter difference %g (peak %g)", worst, peak);
    CHECK_EQ_INT(nonzero_mismatch, 0);
    free(mine);
    ggw_free(f);
}

static void check_shape(const char *shape, const char *ftype, int expect_q8) {
    char path[256];
    snprintf(path, sizeof path, "/tmp/omni-test-synth-%s-%s-%d.bin", shape, ftype, (int)getpid());
    struct err e = {{0}};
    const struct synth_whisper_shape *s = synth_whisper_find_shape(shape);
    CHECK(s != NULL);
    if (!s) return;
    CHECK_MSG(synth_whisper_write(s, ftype, 1, path, &e) == 0, "%s", e.msg);
    struct ggw_file *f = ggw_load(path, &e);
    CHECK_MSG(f != NULL, "%s", e.msg);
    if (f) {
        CHECK_EQ_INT(f->n_vocab_file, 50257);
        CHECK_EQ_INT(f->vocab_len[50256], 0);
        const struct tensor *te = ggw_tensor(f, "decoder.token_embedding.weight");
        CHECK(te && te->type == (expect_q8 ? DT_Q8_0 : DT_F16));
        const struct tensor *c1 = ggw_tensor(f, "encoder.conv1.weight");
        CHECK(c1 && c1->type == DT_F16 && c1->ne[0] == 3 && c1->ne[1] == 80);
        ggw_free(f);
    }
    struct whisper_model *m = whisper_load(path, &e);
    CHECK_MSG(m != NULL, "%s", e.msg);
    if (m) {
        const struct ggw_whisper_hparams *hp = whisper_hparams(m);
        CHECK_EQ_INT(hp->n_vocab, 51865);
        CHECK_EQ_INT(hp->n_audio_ctx, 1500);
        CHECK_EQ_INT(hp->n_text_ctx, 448);
        CHECK_EQ_INT(hp->n_audio_state, s->n_state);
        CHECK_EQ_INT(hp->n_audio_head, s->n_head);
        CHECK_EQ_INT(hp->n_text_layer, s->n_layer);
        CHECK(whisper_is_multilingual(m));
        CHECK_EQ_INT(whisper_special(m)->sot, 50258);
        int len = 0;
        const char *t = whisper_token_text(m, 300, &len);
        CHECK(t && len >= 2);
        /* the network runs: a short reduced-context encode and one decoder step */
        struct whisper_state *st = whisper_state_new(m, NULL, &e);
        CHECK(st != NULL);
        float *x = calloc(16000, sizeof *x);
        for (int i = 0; i < 16000; i++) x[i] = 0.1f * sinf(i * 0.05f);
        struct mel mel;
        int mrc = st && x ? whisper_mel(m, x, 16000, &mel, &e) : -1;
        CHECK_MSG(mrc == 0, "whisper_mel: %s", e.msg);
        if (mrc == 0) {
            CHECK_MSG(whisper_encode(st, &mel, 0, 64, &e) == 0, "%s", e.msg);
            float *logits = malloc(51865 * sizeof *logits);
            int tok = whisper_special(m)->sot;
            CHECK_MSG(whisper_decode(st, &tok, 1, 0, logits, &e) == 0, "%s", e.msg);
            CHECK(isfinite(logits[0]) && isfinite(logits[51864]));
            free(logits);
            mel_free(&mel);
        }
        free(x);
        whisper_state_free(st);
        whisper_free(m);
    }
    remove(path);
}

TEST(tiny_f16_loads) { check_shape("whisper-tiny", "f16", 0); }
TEST(tiny_q8_0_loads) { check_shape("whisper-tiny", "q8_0", 1); }
TEST(micro_loads) { check_shape("whisper-micro", "f16", 0); }

TEST(unknown_type_is_refused) {
    struct err e = {{0}};
    CHECK(synth_whisper_write(synth_whisper_find_shape("whisper-micro"), "q4_k_m", 1, "/tmp/never.bin", &e) == -1);
    CHECK(strstr(e.msg, "f16 or q8_0") != NULL);
    CHECK(synth_whisper_find_shape("whisper-huge") == NULL);
}

int main(void) {
    TEST_EXPECT(5);
    RUN(mel_filters_match_whisper);
    RUN(tiny_f16_loads);
    RUN(tiny_q8_0_loads);
    RUN(micro_loads);
    RUN(unknown_type_is_refused);
    return test_summary();
}

/* Tests for the whisper.cpp ggml reader: the real tiny hparams/filters/vocab files,
 * the synthetic micro model, the real Silero VAD file, and damaged copies of them. */
#include "test.h"

#include "core/dtype.h"
#include "formats/ggml_whisper.h"

TEST(tiny_header_filters_vocab) {
    struct err e = {{0}};
    struct ggw_file *f = ggw_load(model_path("asr/for-tests-ggml-tiny.bin"), &e);
    CHECK_MSG(f != NULL, "%s", e.msg);
    if (!f) return;
    CHECK_EQ_INT(f->kind, GGW_WHISPER);
    CHECK_EQ_INT(f->hp.n_vocab, 51865);
    CHECK_EQ_INT(f->hp.n_audio_ctx, 1500);
    CHECK_EQ_INT(f->hp.n_audio_state, 384);
    CHECK_EQ_INT(f->hp.n_audio_head, 6);
    CHECK_EQ_INT(f->hp.n_text_layer, 4);
    CHECK_EQ_INT(f->hp.n_mels, 80);
    CHECK_EQ_INT(f->n_mel, 80);
    CHECK_EQ_INT(f->n_fft, 201);
    CHECK_EQ_INT(f->n_tensors, 0);
    CHECK_EQ_INT(f->n_vocab_file, 50257);
    /* every mel filter is a non-negative triangle with some weight */
    for (int m = 0; m < f->n_mel; m++) {
        double s = 0;
        int neg = 0;
        for (int k = 0; k < f->n_fft; k++) { s += f->filters[m * f->n_fft + k]; neg |= f->filters[m * f->n_fft + k] < 0; }
        CHECK(!neg && s > 0);
    }
    CHECK_STR(f->vocab[0], "!");
    CHECK_STR(f->vocab[13], ".");
    ggw_free(f);
}

TEST(tiny_en_header) {
    struct err e = {{0}};
    struct ggw_file *f = ggw_load(model_path("asr/for-tests-ggml-tiny.en.bin"), &e);
    CHECK_MSG(f != NULL, "%s", e.msg);
    if (!f) return;
    CHECK_EQ_INT(f->hp.n_vocab, 51864);
    ggw_free(f);
}

TEST(micro_model_tensors) {
    struct err e = {{0}};
    struct ggw_file *f = ggw_load(model_path("synth/synth-whisper-micro-f16.bin"), &e);
    CHECK_MSG(f != NULL, "%s", e.msg);
    if (!f) return;
    CHECK_EQ_INT(f->hp.n_audio_state, 64);
    CHECK_EQ_INT(f->hp.n_text_layer, 2);
    const struct tensor *t = ggw_tensor(f, "decoder.token_embedding.weight");
    CHECK(t != NULL);
    if (t) { CHECK_EQ_INT(t->ne[0], 64); CHECK_EQ_INT(t->ne[1], 51865); CHECK_EQ_INT(t->type, DT_F16); }
    t = ggw_tensor(f, "encoder.conv1.weight");
    CHECK(t != NULL);
    if (t) { CHECK_EQ_INT(t->ne[0], 3); CHECK_EQ_INT(t->ne[1], 80); CHECK_EQ_INT(t->ne[2], 64); }
    CHECK(ggw_tensor(f, "decoder.blocks.1.cross_attn.value.weight") != NULL);
    CHECK(ggw_tensor(f, "no.such.tensor") == NULL);
    for (int i = 0; i < f->n_tensors; i++) CHECK(((uintptr_t)f->tensors[i].data & 63) == 0);
    ggw_free(f);
}

TEST(vad_model) {
    struct err e = {{0}};
    struct ggw_file *f = ggw_load(model_path("vad/for-tests-silero-v6.2.0-ggml.bin"), &e);
    CHECK_MSG(f != NULL, "%s", e.msg);
    if (!f) return;
    CHECK_EQ_INT(f->kind, GGW_VAD);
    CHECK_STR(f->vad.type, "silero-16k");
    CHECK_EQ_INT(f->vad.version[0], 6);
    CHECK_EQ_INT(f->vad.version[1], 2);
    CHECK_EQ_INT(f->vad.n_window, 512);
    CHECK_EQ_INT(f->vad.n_context, 64);
    CHECK_EQ_INT(f->vad.n_encoder_layers, 4);
    CHECK_EQ_INT(f->vad.lstm_hidden_size, 128);
    CHECK_EQ_INT(f->n_tensors, 15);
    const struct tensor *t = ggw_tensor(f, "_model.stft.forward_basis_buffer");
    CHECK(t != NULL);
    if (t) { CHECK_EQ_INT(t->ne[0], 256); CHECK_EQ_INT(t->ne[2], 258); }
    ggw_free(f);
}

/* Every truncation of a real file must fail cleanly (and name the problem). */
TEST(truncated_and_corrupt) {
    size_t n;
    char *buf = read_file(model_path("vad/for-tests-silero-v6.2.0-ggml.bin"), &n);
    CHECK(buf != NULL);
    if (!buf) return;
    struct err e = {{0}};
    int ok = 0, bad = 0;
    for (size_t cut = 0; cut < n; cut += cut < 400 ? 1 : 997) {
        e.msg[0] = 0;
        struct ggw_file *f = ggw_load_mem(buf, cut, "cut", &e);
        if (f) { ok++; ggw_free(f); } /* a cut exactly at a tensor boundary is a valid shorter file */
        else { bad++; CHECK(e.msg[0] != 0); }
    }
    CHECK(bad > 400);
    (void)ok;
    /* flip header fields to hostile values */
    for (size_t off = 4; off < 200; off += 4) {
        char *copy = malloc(n);
        memcpy(copy, buf, n);
        int32_t v = (off & 8) ? -1 : 0x7fffffff;
        memcpy(copy + off, &v, 4);
        struct ggw_file *f = ggw_load_mem(copy, n, "flip", &e);
        ggw_free(f);
        free(copy);
    }
    free(buf);
    buf = read_file(model_path("asr/for-tests-ggml-tiny.bin"), &n);
    CHECK(buf != NULL);
    if (!buf) return;
    for (size_t cut = 0; cut < n; cut += 4099) {
        struct ggw_file *f = ggw_load_mem(buf, cut, "cut", &e);
        CHECK(f == NULL);
        ggw_free(f);
    }
    buf[0] = 'x';
    CHECK(ggw_load_mem(buf, n, "bad-magic", &e) == NULL);
    CHECK(strstr(e.msg, "magic") != NULL);
    free(buf);
    CHECK(ggw_load("/nonexistent/x.bin", &e) == NULL);
}

int main(void) {
    TEST_EXPECT(5);
    RUN(tiny_header_filters_vocab);
    RUN(tiny_en_header);
    RUN(micro_model_tensors);
    RUN(vad_model);
    RUN(truncated_and_corrupt);
    return test_summary();
}

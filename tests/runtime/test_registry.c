/* The model registry over a temporary store: what each file is, loading on first use,
 * least-recently-used unloading within a memory budget, a held model never unloaded (an
 * unload asked meanwhile waits for the release), keep-alive expiry, aliases, and threads
 * that acquire, generate on and release two models that do not fit together while
 * another lists and unloads (the case ThreadSanitizer watches: make check-tsan). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "omni.h"

static char home[256];
#define A "stories260K"
#define B "tinystories-656k-q8_0"
#define EMB "synth-bert-bge-f16"

static int copy(const char *from, const char *dir) {
    FILE *in = fopen(from, "rb");
    if (!in) return -1;
    const char *base = strrchr(from, '/');
    char to[512];
    snprintf(to, sizeof to, "%s/%s", dir, base ? base + 1 : from);
    FILE *out = fopen(to, "wb");
    char buf[65536];
    size_t n;
    int rc = out ? 0 : -1;
    while (out && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) rc = -1;
    fclose(in);
    if (out && fclose(out)) rc = -1;
    return rc;
}

static int setup(void) {
    const char *models = getenv("OMNI_MODELS") ? getenv("OMNI_MODELS") : "../shared/models";
    snprintf(home, sizeof home, "/tmp/omni-registry-XXXXXX");
    if (!mkdtemp(home)) return -1;
    const char *files[] = {"llm/stories260K.gguf", "llm/tinystories-656k-q8_0.gguf", "synth/synth-bert-bge-f16.gguf",
                           "synth/synth-whisper-micro-f16.bin", "synth/synth-llava-mmproj-f16.gguf",
                           "vad/for-tests-silero-v6.2.0-ggml.bin", "vocab/ggml-vocab-gpt-2.gguf",
                           "asr/for-tests-ggml-tiny.en.bin"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", models, files[i]);
        if (copy(p, home)) { fprintf(stderr, "cannot copy %s\n", p); return -1; }
    }
    setenv("OMNI_HOME", home, 1);
    return 0;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* 1 loaded, 0 not, -1 unknown */
static int is_loaded(omni_registry *r, const char *id) {
    omni_registry_model *m = NULL;
    char err[256];
    int n = omni_registry_list(r, 1, &m, err, sizeof err), found = 0;
    for (int i = 0; i < n; i++) found |= !strcmp(m[i].id, id) && m[i].loaded == 1;
    omni_registry_list_free(m, n);
    return found;
}

static uint64_t memory_of(omni_registry *r, const char *id) {
    omni_registry_model *m = NULL;
    char err[256];
    int n = omni_registry_list(r, 0, &m, err, sizeof err);
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(m[i].id, id)) v = m[i].memory;
    omni_registry_list_free(m, n);
    return v;
}

static omni_registry *open_reg(uint64_t budget, int64_t keep_alive) {
    omni_registry_params p = omni_registry_default_params();
    p.use_store = 1;
    p.memory_budget = budget;
    p.keep_alive_ms = keep_alive;
    p.n_threads = 2;
    p.engine.n_slots = 1;
    p.engine.n_ctx = 128;
    char err[256];
    omni_registry *r = omni_registry_new(&p, err, sizeof err);
    if (!r) fprintf(stderr, "registry: %s\n", err);
    return r;
}

TEST(lists_what_each_file_is) {
    omni_registry *r = open_reg(0, -1);
    REQUIRE(r, "no registry");
    omni_registry_model *m = NULL;
    char err[512];
    int n = omni_registry_list(r, 0, &m, err, sizeof err);
    CHECK(n == 6);   /* the VAD and the vocabulary-only file are not models to serve */
    const char *want[][2] = {{A, "chat"}, {B, "chat"}, {EMB, "embedding"}, {"synth-whisper-micro-f16", "asr"},
                             {"synth-llava-mmproj-f16", "image-encoder"}};
    for (size_t w = 0; w < 5; w++) {
        int ok = 0;
        for (int i = 0; i < n; i++) ok |= !strcmp(m[i].id, want[w][0]) && !strcmp(omni_model_kind_name(m[i].kind), want[w][1]);
        CHECK_MSG(ok, "%s should be listed as %s", want[w][0], want[w][1]);
    }
    for (int i = 0; i < n; i++) CHECK(m[i].loaded == 0 && m[i].expires_at == -1 && m[i].memory >= m[i].file_size);
    CHECK(n > 1 && m[0].kind == OMNI_KIND_CHAT);   /* chat models first */
    omni_registry_list_free(m, n);
    /* a Whisper file without weights is listed but does not load: a clear error, twice */
    omni_registry_ref ref;
    for (int k = 0; k < 2; k++) {
        CHECK(omni_registry_acquire(r, "for-tests-ggml-tiny.en", OMNI_KIND_ASR, -1, &ref, err, sizeof err) ==
              OMNI_ERR_INVALID);
        CHECK_MSG(strstr(err, "for-tests-ggml-tiny.en") && strstr(err, "no weights"), "%s", err);
    }
    CHECK(is_loaded(r, "for-tests-ggml-tiny.en") == 0);
    omni_registry_free(r);
}

TEST(loads_on_demand_and_unloads_lru_within_the_budget) {
    omni_registry *probe = open_reg(0, -1);
    REQUIRE(probe, "no registry");
    uint64_t ma = memory_of(probe, A), mb = memory_of(probe, B);
    omni_registry_free(probe);
    REQUIRE(ma && mb, "no sizes");
    omni_registry *r = open_reg((ma > mb ? ma : mb) + (ma < mb ? ma : mb) / 2, -1);
    REQUIRE(r, "no registry");
    char err[512];
    omni_registry_ref ref;
    CHECK(omni_registry_acquire(r, "nope", OMNI_KIND_CHAT, -1, &ref, err, sizeof err) == OMNI_ERR_NOT_FOUND);
    CHECK(strstr(err, A) && strstr(err, B));
    CHECK(omni_registry_acquire(r, EMB, OMNI_KIND_CHAT, -1, &ref, err, sizeof err) == OMNI_ERR_WRONG_KIND);
    CHECK(omni_registry_acquire(r, "synth-llava-mmproj-f16", OMNI_KIND_CHAT | OMNI_KIND_IMAGE_ENCODER, -1, &ref, err,
                                sizeof err) == OMNI_ERR_WRONG_KIND);
    REQUIRE(omni_registry_acquire(r, A, OMNI_KIND_CHAT, -1, &ref, err, sizeof err) == OMNI_OK, "%s", err);
    CHECK(ref.model && ref.kind == OMNI_KIND_CHAT && !strcmp(ref.id, A) && !ref.embedder);
    omni_registry_release(r, &ref, OMNI_KEEP_ALIVE_DEFAULT);
    CHECK(is_loaded(r, A) == 1);
    REQUIRE(omni_registry_acquire(r, B ".gguf", OMNI_KIND_CHAT, -1, &ref, err, sizeof err) == OMNI_OK, "%s", err);
    CHECK(!strcmp(ref.id, B));
    omni_registry_release(r, &ref, OMNI_KEEP_ALIVE_DEFAULT);
    CHECK(is_loaded(r, A) == 0 && is_loaded(r, B) == 1);   /* A went to make room */
    uint64_t budget, used;
    omni_registry_memory(r, &budget, &used);
    CHECK(used <= budget && used == memory_of(r, B));
    /* an alias, and the default: the model used last */
    CHECK(omni_registry_alias(r, "gpt-4o-mini", A, err, sizeof err) == 0);
    REQUIRE(omni_registry_acquire(r, "gpt-4o-mini", OMNI_KIND_CHAT, -1, &ref, err, sizeof err) == OMNI_OK, "%s", err);
    CHECK(!strcmp(ref.id, A));
    omni_registry_release(r, &ref, OMNI_KEEP_ALIVE_DEFAULT);
    REQUIRE(omni_registry_acquire(r, NULL, OMNI_KIND_CHAT, -1, &ref, err, sizeof err) == OMNI_OK, "%s", err);
    CHECK(!strcmp(ref.id, A));
    omni_registry_release(r, &ref, OMNI_KEEP_ALIVE_DEFAULT);
    /* other kinds load beside them */
    REQUIRE(omni_registry_acquire(r, EMB, OMNI_KIND_EMBEDDING | OMNI_KIND_RERANK, -1, &ref, err, sizeof err) == OMNI_OK,
            "%s", err);
    CHECK(ref.embedder && omni_embedder_n_embd(ref.embedder) > 0);
    omni_registry_release(r, &ref, OMNI_KEEP_ALIVE_DEFAULT);
    omni_registry_free(r);
}

TEST(a_held_model_is_never_unloaded) {
    omni_registry *probe = open_reg(0, -1);
    REQUIRE(probe, "no registry");
    uint64_t ma = memory_of(probe, A), mb = memory_of(probe, B);
    omni_registry_free(probe);
    omni_registry *r = open_reg((ma > mb ? ma : mb) + (ma < mb ? ma : mb) / 2, -1);
    REQUIRE(r, "no registry");
    char err[512];
    omni_registry_ref ra, rb;
    REQUIRE(omni_registry_acquire(r, A, OMNI_KIND_CHAT, -1, &ra, err, sizeof err) == OMNI_OK, "%s", err);
    /* B does not fit while A is held: waiting gives up, A stays */
    CHECK(omni_registry_acquire(r, B, OMNI_KIND_CHAT, 0, &rb, err, sizeof err) == OMNI_ERR_LOADING);
    CHECK(omni_registry_unload(r, A, err, sizeof err) == 1);  /* asked while held: after the release */
    CHECK(is_loaded(r, A) == 1);
    omni_session *s = omni_session_new(ra.model, NULL, err, sizeof err);
    CHECK(s);
    omni_generate_params gp = omni_generate_default_params();
    gp.max_tokens = 3;
    gp.sampling.temperature = 0;
    omni_usage u;
    CHECK(s && omni_session_generate(s, "Once upon a time", &gp, &u, err, sizeof err) == 0);
    omni_session_free(s);
    omni_registry_release(r, &ra, OMNI_KEEP_ALIVE_DEFAULT);
    int i = 0;
    while (is_loaded(r, A) && i++ < 3000) sleep_ms(10);
    CHECK(!is_loaded(r, A));
    CHECK(omni_registry_unload(r, "nope", err, sizeof err) == OMNI_ERR_NOT_FOUND);
    omni_registry_free(r);
}

TEST(keep_alive_expiry_unloads) {
    omni_registry *r = open_reg(0, 5 * 60 * 1000);
    REQUIRE(r, "no registry");
    char err[512];
    omni_registry_ref ref;
    REQUIRE(omni_registry_acquire(r, A, OMNI_KIND_CHAT, -1, &ref, err, sizeof err) == OMNI_OK, "%s", err);
    omni_registry_release(r, &ref, 0);   /* a request's keep_alive 0 */
    int i = 0;
    while (is_loaded(r, A) && i++ < 3000) sleep_ms(10);
    CHECK(!is_loaded(r, A));
    CHECK(omni_registry_load(r, B, OMNI_KEEP_ALIVE_FOREVER, -1, err, sizeof err) == 0);
    omni_registry_model *m = NULL;
    int n = omni_registry_list(r, 1, &m, err, sizeof err);
    CHECK(n == 1 && m && !strcmp(m[0].id, B) && m[0].expires_at == 0 && m[0].loaded_at > 0);
    omni_registry_list_free(m, n);
    omni_registry_free(r);
}

struct worker { omni_registry *r; int id, ok, bad; };

static void *work(void *arg) {
    struct worker *w = arg;
    for (int k = 0; k < 6; k++) {
        const char *name = (k + w->id) % 2 ? A : B;
        omni_registry_ref ref;
        char err[512];
        if (omni_registry_acquire(w->r, name, OMNI_KIND_CHAT, -1, &ref, err, sizeof err) != OMNI_OK) { w->bad++; continue; }
        omni_session *s = omni_session_new(ref.model, NULL, err, sizeof err);
        omni_generate_params gp = omni_generate_default_params();
        gp.max_tokens = 2;
        gp.sampling.temperature = 0;
        omni_usage u;
        if (s && omni_session_generate(s, "Once", &gp, &u, err, sizeof err) == 0 && u.completion_tokens > 0) w->ok++;
        else w->bad++;
        omni_session_free(s);
        omni_registry_release(w->r, &ref, k % 3 == 0 ? 0 : OMNI_KEEP_ALIVE_DEFAULT);
    }
    return NULL;
}

static void *meddle(void *arg) {
    omni_registry *r = arg;
    for (int k = 0; k < 20; k++) {
        char err[256];
        omni_registry_unload(r, k % 2 ? A : B, err, sizeof err);
        omni_registry_model *m = NULL;
        int n = omni_registry_list(r, k % 2, &m, err, sizeof err);
        omni_registry_list_free(m, n);
        sleep_ms(5);
    }
    return NULL;
}

TEST(threads_share_two_models_that_do_not_fit_together) {
    omni_registry *probe = open_reg(0, -1);
    REQUIRE(probe, "no registry");
    uint64_t ma = memory_of(probe, A), mb = memory_of(probe, B);
    omni_registry_free(probe);
    omni_registry *r = open_reg((ma > mb ? ma : mb) + (ma < mb ? ma : mb) / 2, 50);
    REQUIRE(r, "no registry");
    struct worker w[3];
    pthread_t t[4];
    for (int i = 0; i < 3; i++) {
        w[i] = (struct worker){r, i, 0, 0};
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    pthread_create(&t[3], NULL, meddle, r);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 3; i++) CHECK_MSG(w[i].ok == 6 && w[i].bad == 0, "worker %d: %d ok, %d failed", i, w[i].ok, w[i].bad);
    uint64_t budget, used;
    omni_registry_memory(r, &budget, &used);
    CHECK(used <= budget);
    omni_registry_free(r);
}

int main(void) {
    TEST_EXPECT(5);
    if (setup()) {
        fprintf(stderr, "FAIL setup: the shared test models are missing\n");
        return 1;
    }
    RUN(lists_what_each_file_is);
    RUN(loads_on_demand_and_unloads_lru_within_the_budget);
    RUN(a_held_model_is_never_unloaded);
    RUN(keep_alive_expiry_unloads);
    RUN(threads_share_two_models_that_do_not_fit_together);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", home);
    return test_summary();
}

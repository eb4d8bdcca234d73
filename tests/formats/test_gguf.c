/* GGUF reader/writer: the shared model files open with the facts we know about them,
 * the writer round-trips every metadata type, and truncated, mutated and hand-made
 * hostile files end in a one-line error, never a crash. A shared file that does not
 * open is a failure: ../shared ships them. */
#include <dirent.h>
#include <stdint.h>

#include "test.h"
#include "core/dtype.h"
#include "formats/gguf.h"
#include "test_maps.h"

/* ---- a byte builder for hand-made files ---- */
struct buf { uint8_t p[1 << 16]; size_t n; };
static struct buf B;
static void put(const void *v, size_t n) { if (B.n + n <= sizeof B.p) { memcpy(B.p + B.n, v, n); B.n += n; } }
static void u32(uint32_t v) { put(&v, 4); }
static void u64(uint64_t v) { put(&v, 8); }
static void str(const char *s) { u64(strlen(s)); put(s, strlen(s)); }
static void hdr(uint32_t version, uint64_t nt, uint64_t nkv) { B.n = 0; u32(0x46554747u); u32(version); u64(nt); u64(nkv); }
static void kv_u32(const char *k, uint32_t v) { str(k); u32(GGUF_UINT32); u32(v); }
static void tinfo(const char *name, uint32_t nd, const uint64_t *ne, uint32_t type, uint64_t off) {
    str(name); u32(nd);
    for (uint32_t i = 0; i < nd; i++) u64(ne[i]);
    u32(type); u64(off);
}
static void pad_to(size_t a) { while (B.n % a) { uint8_t z = 0; put(&z, 1); } }
static void zeros(size_t n) { while (n--) { uint8_t z = 0; put(&z, 1); } }

/* Opens B from memory; expects failure with a message containing `want`. */
static int fails_with(const char *want) {
    struct err e = {{0}};
    struct gguf *g = gguf_open_memory(B.p, B.n, &e);
    if (g) { gguf_close(g); fprintf(stderr, "    opened, expected error containing '%s'\n", want); return 0; }
    if (!strstr(e.msg, want)) { fprintf(stderr, "    error '%s' lacks '%s'\n", e.msg, want); return 0; }
    return 1;
}

/* ---- the shared model files ---- */

TEST(opens_every_shared_gguf) {
    const char *dirs[] = {"llm", "synth", "vocab"};
    int n = 0;
    for (int d = 0; d < 3; d++) {
        DIR *dir = opendir(model_path(dirs[d]));
        REQUIRE(dir != NULL, "no %s", model_path(dirs[d]));
        struct dirent *de;
        while ((de = readdir(dir))) {
            size_t l = strlen(de->d_name);
            if (l < 5 || strcmp(de->d_name + l - 5, ".gguf")) continue;
            char rel[512];
            snprintf(rel, sizeof rel, "%s/%s", dirs[d], de->d_name);
            struct err e = {{0}};
            struct gguf *g = gguf_open(model_path(rel), &e);
            CHECK_MSG(g, "%s: %s", rel, e.msg);
            if (!g) continue;
            n++;
            CHECK(gguf_find_key(g, "general.architecture") >= 0 || !strcmp(dirs[d], "vocab"));
            for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
                struct tensor t;
                CHECK(gguf_tensor(g, i, &t) == 0);
                CHECK(gguf_find_tensor(g, t.name) == i);
                CHECK((uintptr_t)t.data % gguf_alignment(g) == 0); /* the mapping is page aligned */
            }
            gguf_close(g);
        }
        closedir(dir);
    }
    CHECK_MSG(n >= 20, "only %d gguf files opened", n);
}

TEST(stories260k_facts) {
    struct err e = {{0}};
    struct gguf *g = gguf_open(model_path("llm/stories260K.gguf"), &e);
    REQUIRE(g != NULL, "%s", e.msg);
    CHECK_EQ_INT(gguf_version(g), 3);
    CHECK_EQ_INT(gguf_alignment(g), 32);
    char *arch = gguf_get_str_dup(g, "general.architecture");
    CHECK_STR(arch, "llama");
    free(arch);
    int bad = 0;
    CHECK_EQ_INT(gguf_get_int(g, "llama.embedding_length", -1, &bad), 64);
    CHECK_EQ_INT(gguf_get_int(g, "llama.block_count", -1, &bad), 5);
    CHECK(!bad);
    CHECK_EQ_INT(gguf_get_int(g, "no.such.key", 42, &bad), 42);
    CHECK(gguf_get_float(g, "llama.attention.layer_norm_rms_epsilon", 0, &bad) > 0);
    gguf_get_int(g, "general.architecture", 0, &bad);
    CHECK(bad); /* a string asked for as an int is reported */
    enum gguf_type et;
    uint64_t n;
    CHECK(gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) == 0);
    CHECK_EQ_INT(et, GGUF_STRING);
    CHECK_EQ_INT(n, 512);
    struct gguf_str s = gguf_get_arr_str(g, "tokenizer.ggml.tokens", 0);
    CHECK(s.s && s.len == 5 && !memcmp(s.s, "<unk>", 5));
    CHECK(gguf_get_arr_str(g, "tokenizer.ggml.tokens", 512).s == NULL);
    CHECK(gguf_get_arr(g, "llama.block_count", &et, &n) == -1 && n == 0);
    struct tensor t;
    int64_t ne[2] = {64, 512};
    CHECK(gguf_get_tensor(g, "token_embd.weight", 2, ne, &t, &e) == 0);
    CHECK_EQ_INT(t.type, DT_F32);
    CHECK_EQ_INT(t.nbytes, 64 * 512 * 4);
    int64_t wrong[2] = {64, 513};
    CHECK(gguf_get_tensor(g, "token_embd.weight", 2, wrong, &t, &e) == -1);
    CHECK(strstr(e.msg, "[64, 512]") && strstr(e.msg, "[64, 513]"));
    CHECK(gguf_get_tensor(g, "nope.weight", 1, ne, &t, &e) == -1 && strstr(e.msg, "missing"));
    int blocks = 0;
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        gguf_tensor(g, i, &t);
        if (strstr(t.name, ".attn_norm.weight")) blocks++;
    }
    CHECK_EQ_INT(blocks, 5);
    gguf_close(g);
}

static int has_type(struct gguf *g, int type) {
    struct tensor t;
    for (int64_t i = 0; i < gguf_n_tensors(g); i++)
        if (!gguf_tensor(g, i, &t) && t.type == type) return 1;
    return 0;
}

TEST(synth_file_types) {
    struct { const char *f; int a, b; } c[] = {
        {"synth/synth-llama-q4_k_m.gguf", DT_Q4_K, DT_Q6_K}, {"synth/synth-llama-q5_k_m.gguf", DT_Q5_K, DT_Q6_K},
        {"synth/synth-llama-q8_0.gguf", DT_Q8_0, DT_F32},    {"synth/synth-llama-q4_0.gguf", DT_Q4_0, DT_F32},
        {"synth/synth-llama-bf16.gguf", DT_BF16, DT_F32},    {"synth/synth-llama-f16.gguf", DT_F16, DT_F32},
        {"synth/synth-llama-q6_k.gguf", DT_Q6_K, DT_F32},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        struct err e = {{0}};
        struct gguf *g = gguf_open(model_path(c[i].f), &e);
        CHECK_MSG(g != NULL, "%s", e.msg);
        if (!g) continue;
        CHECK_MSG(has_type(g, c[i].a) && has_type(g, c[i].b), "%s lacks %s or %s", c[i].f, dtype_name(c[i].a), dtype_name(c[i].b));
        gguf_close(g);
    }
}

TEST(vocab_only_file_and_large_string_array) {
    struct err e = {{0}};
    struct gguf *g = gguf_open(model_path("vocab/ggml-vocab-deepseek-llm.gguf"), &e);
    REQUIRE(g != NULL, "%s", e.msg);
    CHECK_EQ_INT(gguf_n_tensors(g), 0);
    uint64_t n = 0;
    enum gguf_type et;
    CHECK(gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) == 0 && n > 100000);
    /* element i by index equals walking the array by hand */
    const uint8_t *p = gguf_get_arr_data(g, "tokenizer.ggml.tokens");
    CHECK(p == NULL); /* not a numeric array */
    struct gguf_str last = gguf_get_arr_str(g, "tokenizer.ggml.tokens", n - 1);
    CHECK(last.s != NULL);
    CHECK((const char *)last.s + last.len <= (const char *)gguf_get_arr_str(g, "tokenizer.ggml.tokens", 0).s + gguf_file_size(g));
    gguf_close(g);
}

/* ---- writer round trip ---- */

static const char *tmp_path(const char *name) {
    static char b[4][256]; static int i;
    char *p = b[i++ & 3];
    snprintf(p, 256, "/tmp/omni-test-gguf-%d-%s", (int)getpid(), name);
    return p;
}

/* A small file with every metadata type and several tensor types; returns the writer. */
static struct gguf_writer *sample_writer(float *f32, uint16_t *f16, uint8_t *q8, uint8_t *q4k) {
    struct gguf_writer *w = gguf_writer_new();
    uint8_t u8 = 200; int8_t i8 = -100; uint16_t u16 = 60000; int16_t i16 = -30000;
    int64_t i64 = -(1LL << 40); double f64 = 3.25;
    gguf_w_scalar(w, "t.u8", GGUF_UINT8, &u8);
    gguf_w_scalar(w, "t.i8", GGUF_INT8, &i8);
    gguf_w_scalar(w, "t.u16", GGUF_UINT16, &u16);
    gguf_w_scalar(w, "t.i16", GGUF_INT16, &i16);
    gguf_w_u32(w, "t.u32", 4000000000u);
    gguf_w_i32(w, "t.i32", -2000000000);
    gguf_w_f32(w, "t.f32", 0.5f);
    gguf_w_bool(w, "t.bool", 1);
    gguf_w_str(w, "t.str", "héllo");
    gguf_w_u64(w, "t.u64", 1ull << 50);
    gguf_w_scalar(w, "t.i64", GGUF_INT64, &i64);
    gguf_w_scalar(w, "t.f64", GGUF_FLOAT64, &f64);
    const char *strs[] = {"a", "", "ccc", "dddd"};
    gguf_w_arr_str(w, "t.arr_str", strs, 4);
    int32_t ints[] = {1, -2, 3};
    gguf_w_arr_i32(w, "t.arr_i32", ints, 3);
    float fl[] = {1.5f, -2.5f};
    gguf_w_arr_f32(w, "t.arr_f32", fl, 2);
    uint16_t u16s[] = {1, 65535};
    gguf_w_arr(w, "t.arr_u16", GGUF_UINT16, u16s, 2);
    gguf_w_arr(w, "t.arr_empty", GGUF_INT64, NULL, 0);
    gguf_w_u32(w, "t.replaced", 1);
    gguf_w_u32(w, "t.replaced", 2);
    for (int i = 0; i < 48; i++) f32[i] = (float)i * 0.25f;
    for (int i = 0; i < 64; i++) f16[i] = (uint16_t)(0x3c00 + i);
    for (int i = 0; i < 68; i++) q8[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 144; i++) q4k[i] = (uint8_t)(i * 13);
    struct err e;
    int64_t ne3[3] = {4, 3, 4}, ne_f16[4] = {8, 2, 2, 2}, ne_q8[2] = {32, 2}, ne_q4k[1] = {256};
    CHECK(gguf_w_tensor(w, "a.f32", DT_F32, 3, ne3, f32, &e) == 0);
    CHECK(gguf_w_tensor(w, "b.f16", DT_F16, 4, ne_f16, f16, &e) == 0);
    CHECK(gguf_w_tensor_ref(w, "c.q8_0", DT_Q8_0, 2, ne_q8, q8, &e) == 0);
    CHECK(gguf_w_tensor(w, "d.q4_K", DT_Q4_K, 1, ne_q4k, q4k, &e) == 0);
    CHECK(gguf_w_tensor(w, "a.f32", DT_F32, 3, ne3, f32, &e) == -1 && strstr(e.msg, "twice"));
    int64_t odd[1] = {33};
    CHECK(gguf_w_tensor(w, "bad", DT_Q8_0, 1, odd, q8, &e) == -1);
    return w;
}

TEST(writer_round_trip) {
    float f32[48]; uint16_t f16[64]; uint8_t q8[68], q4k[144];
    struct gguf_writer *w = sample_writer(f32, f16, q8, q4k);
    struct err e = {{0}};
    const char *path = tmp_path("rt.gguf");
    CHECK(gguf_writer_save(w, path, &e) == 0);
    gguf_writer_free(w);
    struct gguf *g = gguf_open(path, &e);
    CHECK_MSG(g, "%s", e.msg);
    if (!g) return;
    int bad = 0;
    CHECK_EQ_INT(gguf_version(g), 3);
    CHECK_EQ_INT(gguf_n_kv(g), 18);
    CHECK_EQ_INT(gguf_get_int(g, "t.u8", 0, &bad), 200);
    CHECK_EQ_INT(gguf_get_int(g, "t.i8", 0, &bad), -100);
    CHECK_EQ_INT(gguf_get_int(g, "t.u16", 0, &bad), 60000);
    CHECK_EQ_INT(gguf_get_int(g, "t.i16", 0, &bad), -30000);
    CHECK_EQ_INT(gguf_get_int(g, "t.u32", 0, &bad), 4000000000LL);
    CHECK_EQ_INT(gguf_get_int(g, "t.i32", 0, &bad), -2000000000LL);
    CHECK_EQ_INT(gguf_get_int(g, "t.u64", 0, &bad), 1LL << 50);
    CHECK_EQ_INT(gguf_get_int(g, "t.i64", 0, &bad), -(1LL << 40));
    CHECK_EQ_INT(gguf_get_int(g, "t.replaced", 0, &bad), 2);
    CHECK(!bad);
    CHECK_NEAR(gguf_get_float(g, "t.f32", 0, &bad), 0.5, 0);
    CHECK_NEAR(gguf_get_float(g, "t.f64", 0, &bad), 3.25, 0);
    CHECK_EQ_INT(gguf_get_bool(g, "t.bool", 0, &bad), 1);
    CHECK(!bad);
    gguf_get_bool(g, "t.u8", 0, &bad);
    CHECK(bad);
    char *s = gguf_get_str_dup(g, "t.str");
    CHECK_STR(s, "héllo");
    free(s);
    CHECK(gguf_get_str(g, "t.u8").s == NULL);
    enum gguf_type et; uint64_t n;
    CHECK(gguf_get_arr(g, "t.arr_str", &et, &n) == 0 && et == GGUF_STRING && n == 4);
    struct gguf_str a1 = gguf_get_arr_str(g, "t.arr_str", 1), a3 = gguf_get_arr_str(g, "t.arr_str", 3);
    CHECK(a1.s && a1.len == 0);
    CHECK(a3.len == 4 && !memcmp(a3.s, "dddd", 4));
    CHECK_EQ_INT(gguf_get_arr_int(g, "t.arr_i32", 1), -2);
    CHECK_EQ_INT(gguf_get_arr_int(g, "t.arr_u16", 1), 65535);
    CHECK_NEAR(gguf_get_arr_float(g, "t.arr_f32", 1), -2.5, 0);
    CHECK(gguf_get_arr(g, "t.arr_empty", &et, &n) == 0 && et == GGUF_INT64 && n == 0);
    CHECK(gguf_kv_type(g, gguf_find_key(g, "t.i16")) == GGUF_INT16);
    CHECK_EQ_INT(gguf_n_tensors(g), 4);
    struct tensor t;
    int64_t ne3[3] = {4, 3, 4}, ne_f16[4] = {8, 2, 2, 2}, ne_q8[2] = {32, 2}, ne_q4k[1] = {256};
    CHECK(gguf_get_tensor(g, "a.f32", 3, ne3, &t, &e) == 0 && t.type == DT_F32 && !memcmp(t.data, f32, sizeof f32));
    CHECK(gguf_get_tensor(g, "b.f16", 4, ne_f16, &t, &e) == 0 && t.type == DT_F16 && !memcmp(t.data, f16, sizeof f16));
    CHECK(gguf_get_tensor(g, "c.q8_0", 2, ne_q8, &t, &e) == 0 && t.nbytes == 68 && !memcmp(t.data, q8, 68));
    CHECK(gguf_get_tensor(g, "d.q4_K", 1, ne_q4k, &t, &e) == 0 && t.nbytes == 144 && !memcmp(t.data, q4k, 144));
    CHECK((uintptr_t)t.data % 32 == 0);

    /* derive a file: copy metadata, override one key */
    struct gguf_writer *w2 = gguf_writer_new();
    gguf_w_copy_kv(w2, g);
    gguf_w_str(w2, "t.str", "other");
    const char *path2 = tmp_path("copy.gguf");
    CHECK(gguf_writer_save(w2, path2, &e) == 0);
    gguf_writer_free(w2);
    struct gguf *g2 = gguf_open(path2, &e);
    CHECK(g2 != NULL);
    if (g2) {
        CHECK_EQ_INT(gguf_n_kv(g2), 18);
        CHECK_EQ_INT(gguf_n_tensors(g2), 0);
        CHECK_EQ_INT(gguf_get_int(g2, "t.i64", 0, NULL), -(1LL << 40));
        CHECK_EQ_INT(gguf_get_arr_str(g2, "t.arr_str", 3).len, 4);
        s = gguf_get_str_dup(g2, "t.str");
        CHECK_STR(s, "other");
        free(s);
        gguf_close(g2);
    }
    gguf_close(g);
    unlink(path);
    unlink(path2);
    /* a failed save leaves nothing behind */
    w2 = gguf_writer_new();
    CHECK(gguf_writer_save(w2, "/nonexistent-dir/x.gguf", &e) == -1 && strstr(e.msg, "nonexistent"));
    gguf_writer_free(w2);
}

/* Reads every value of an opened (possibly mutated) file, so ASan sees any bad view. */
static unsigned touch_all(struct gguf *g) {
    unsigned h = 0;
    for (int64_t i = 0; i < gguf_n_kv(g); i++) {
        struct gguf_str k = gguf_key_name(g, i);
        char key[256];
        if (k.len >= sizeof key) continue;
        memcpy(key, k.s, k.len); key[k.len] = 0;
        h += (unsigned)gguf_get_int(g, key, 0, NULL) + (gguf_get_float(g, key, 0, NULL) > 0);
        struct gguf_str s = gguf_get_str(g, key);
        for (uint64_t j = 0; j < s.len; j++) h += (uint8_t)s.s[j];
        enum gguf_type et; uint64_t n;
        if (gguf_get_arr(g, key, &et, &n) == 0)
            for (uint64_t j = 0; j < n; j++) {
                struct gguf_str a = gguf_get_arr_str(g, key, j);
                for (uint64_t c = 0; c < a.len; c++) h += (uint8_t)a.s[c];
                h += (unsigned)gguf_get_arr_int(g, key, j) + (gguf_get_arr_float(g, key, j) > 0);
            }
    }
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        struct tensor t;
        gguf_tensor(g, i, &t);
        for (size_t j = 0; j < t.nbytes; j++) h += ((const uint8_t *)t.data)[j];
    }
    return h;
}

static uint8_t *sample_bytes(size_t *n) {
    float f32[48]; uint16_t f16[64]; uint8_t q8[68], q4k[144];
    struct gguf_writer *w = sample_writer(f32, f16, q8, q4k);
    struct err e;
    const char *path = tmp_path("fuzz.gguf");
    uint8_t *p = NULL;
    if (gguf_writer_save(w, path, &e) == 0) p = (uint8_t *)read_file(path, n);
    gguf_writer_free(w);
    unlink(path);
    return p;
}

TEST(every_truncation_fails_cleanly) {
    size_t n = 0;
    uint8_t *full = sample_bytes(&n);
    CHECK(full != NULL);
    if (!full) return;
    struct err e = {{0}};
    struct gguf *g = gguf_open_memory(full, n, &e);
    CHECK(g != NULL);
    struct tensor t;
    size_t end = 0;
    for (int64_t i = 0; g && i < gguf_n_tensors(g); i++) {
        gguf_tensor(g, i, &t);
        size_t te = (size_t)((const uint8_t *)t.data - full) + t.nbytes;
        if (te > end) end = te;
    }
    gguf_close(g);
    int bad = 0;
    for (size_t len = 0; len < n; len++) {
        uint8_t *cut = malloc(len ? len : 1); /* exact-size copy so ASan catches overreads */
        memcpy(cut, full, len);
        e.msg[0] = 0;
        g = gguf_open_memory(cut, len, &e);
        if (g) { touch_all(g); gguf_close(g); if (len < end) bad++; }
        else if (!e.msg[0] || strchr(e.msg, '\n')) bad++;
        free(cut);
    }
    CHECK_EQ_INT(bad, 0);
    free(full);
}

TEST(mutations_never_crash) {
    size_t n = 0;
    uint8_t *full = sample_bytes(&n);
    if (!full) { CHECK(0); return; }
    uint8_t *m = malloc(n);
    uint64_t r = 0x9e3779b97f4a7c15ull;
    int opened = 0, failed = 0, no_msg = 0;
    for (int it = 0; it < 4000; it++) {
        memcpy(m, full, n);
        int flips = 1 + (int)(r % 4);
        for (int k = 0; k < flips; k++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(r >> 33) % n;
            /* bias towards the header, where the counts and lengths live */
            if (k == 0 && (it & 1)) at %= n < 700 ? n : 700;
            m[at] = (uint8_t)(r >> 17);
        }
        struct err e = {{0}};
        struct gguf *g = gguf_open_memory(m, n, &e);
        if (g) { opened++; touch_all(g); gguf_close(g); }
        else { failed++; if (!e.msg[0]) no_msg++; }
    }
    CHECK(opened > 0 && failed > 0);
    CHECK_EQ_INT(no_msg, 0);
    free(m);
    free(full);
}

TEST(hostile_headers) {
    uint64_t ne2[2] = {32, 2}, ne1[1] = {32};
    hdr(3, 0, 1); u64(1ull << 60); put("k", 1); zeros(32);
    CHECK(fails_with("has length"));
    hdr(3, 1ull << 40, 0);
    CHECK(fails_with("tensors"));
    hdr(3, 0, 1ull << 40);
    CHECK(fails_with("metadata keys"));
    hdr(3, 0, ~0ull);
    CHECK(fails_with("impossible"));
    hdr(1, 0, 0);
    CHECK(fails_with("version 1"));
    hdr(7, 0, 0);
    CHECK(fails_with("version 7"));
    hdr(3, 0, 0); B.p[0] = 'X';
    CHECK(fails_with("not a GGUF"));
    hdr(3, 0, 2); kv_u32("a", 1); kv_u32("a", 2);
    CHECK(fails_with("'a' appears twice"));
    hdr(3, 0, 1); kv_u32("general.alignment", 48);
    CHECK(fails_with("power of two"));
    hdr(3, 0, 1); kv_u32("general.alignment", 0);
    CHECK(fails_with("power of two"));
    hdr(3, 0, 1); str("x"); u32(13); u32(0);
    CHECK(fails_with("unknown value type"));
    hdr(3, 0, 1); str("x"); u32(GGUF_ARRAY); u32(GGUF_UINT32); u64(1ull << 59);
    CHECK(fails_with("claims"));
    /* n_dims 5 */
    hdr(3, 1, 0); tinfo("t", 5, (uint64_t[]){1, 1, 1, 1, 1}, 0, 0);
    CHECK(fails_with("5 dimensions"));
    /* unknown type id (4 was removed from ggml) */
    hdr(3, 1, 0); tinfo("t", 1, ne1, 4, 0); pad_to(32); zeros(128);
    CHECK(fails_with("unknown type id 4"));
    /* element count overflow */
    hdr(3, 1, 0); tinfo("t", 2, (uint64_t[]){1ull << 40, 1ull << 40}, 0, 0);
    CHECK(fails_with("invalid size"));
    hdr(3, 1, 0); tinfo("t", 1, (uint64_t[]){0}, 0, 0);
    CHECK(fails_with("invalid size"));
    /* row not a whole number of blocks */
    hdr(3, 1, 0); tinfo("t", 1, (uint64_t[]){33}, DT_Q8_0, 0); pad_to(32); zeros(64);
    CHECK(fails_with("block size"));
    /* misaligned offset */
    hdr(3, 1, 0); tinfo("t", 1, ne1, 0, 8); pad_to(32); zeros(256);
    CHECK(fails_with("not a multiple of the alignment"));
    /* overlapping tensors: 2x32 f32 = 256 bytes at 0, another at 128 */
    hdr(3, 2, 0); tinfo("a", 2, ne2, 0, 0); tinfo("b", 1, ne1, 0, 128); pad_to(32); zeros(512);
    CHECK(fails_with("overlap"));
    /* duplicate tensor */
    hdr(3, 2, 0); tinfo("a", 1, ne1, 0, 0); tinfo("a", 1, ne1, 0, 128); pad_to(32); zeros(512);
    CHECK(fails_with("'a' appears twice"));
    /* data past the end */
    hdr(3, 1, 0); tinfo("blk.0.attn_q.weight", 2, ne2, 0, 0); pad_to(32); zeros(100);
    CHECK(fails_with("'blk.0.attn_q.weight' data ["));
    CHECK(fails_with("lies outside the file"));
    /* nesting deeper than the limit */
    hdr(3, 0, 1); str("n"); u32(GGUF_ARRAY);
    for (int i = 0; i < 6; i++) { u32(GGUF_ARRAY); u64(1); }
    u32(GGUF_UINT8); u64(0);
    CHECK(fails_with("deeper"));
}

TEST(valid_edge_cases) {
    struct err e = {{0}};
    /* arrays of arrays parse; the getter exposes type and count only */
    hdr(2, 0, 2); str("n"); u32(GGUF_ARRAY); u32(GGUF_ARRAY); u64(2);
    u32(GGUF_STRING); u64(2); str("ab"); str("c");
    u32(GGUF_UINT16); u64(3); zeros(6);
    kv_u32("after", 7);
    struct gguf *g = gguf_open_memory(B.p, B.n, &e);
    CHECK_MSG(g, "%s", e.msg);
    if (g) {
        enum gguf_type et; uint64_t n;
        CHECK(gguf_get_arr(g, "n", &et, &n) == 0 && et == GGUF_ARRAY && n == 2);
        CHECK(gguf_get_arr_str(g, "n", 0).s == NULL);
        CHECK(gguf_get_arr_int(g, "n", 0) == 0);
        CHECK_EQ_INT(gguf_get_int(g, "after", 0, NULL), 7);
        CHECK_EQ_INT(gguf_version(g), 2);
        gguf_close(g);
    }
    /* vocab-only file ending right after its metadata (before the aligned offset) */
    hdr(3, 0, 1); kv_u32("x", 1);
    CHECK(B.n % 32 != 0);
    g = gguf_open_memory(B.p, B.n, &e);
    CHECK_MSG(g, "%s", e.msg);
    gguf_close(g);
    /* alignment 64 honoured; tensors need not be packed */
    uint64_t ne1[1] = {32};
    hdr(3, 2, 1); kv_u32("general.alignment", 64);
    tinfo("a", 1, ne1, 0, 128); tinfo("b", 1, ne1, 0, 0);
    pad_to(64); size_t data = B.n; zeros(256);
    g = gguf_open_memory(B.p, B.n, &e);
    CHECK_MSG(g, "%s", e.msg);
    if (g) {
        struct tensor t;
        CHECK_EQ_INT(gguf_alignment(g), 64);
        CHECK_EQ_INT(gguf_data_offset(g), data);
        gguf_tensor(g, gguf_find_tensor(g, "a"), &t);
        CHECK(t.data == B.p + data + 128);
        gguf_close(g);
    }
    CHECK(gguf_open_memory(NULL, 0, &e) == NULL && strstr(e.msg, "not a GGUF"));
    CHECK(gguf_open("/nonexistent/x.gguf", &e) == NULL && strstr(e.msg, "/nonexistent/x.gguf"));
}

/* ---- weights read into huge pages (gguf_open_weights) ---- */

TEST(weights_read_into_huge_pages) {
    /* a 40 MiB F32 tensor of known values: large enough to be read, not mapped */
    enum { N = 10 << 20 };
    float *v = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) v[i] = (float)(i % 1000) - 500.0f;
    struct gguf_writer *w = gguf_writer_new();
    gguf_w_str(w, "general.architecture", "test");
    struct err e = {{0}};
    int64_t ne[1] = {N};
    CHECK(gguf_w_tensor_ref(w, "big", DT_F32, 1, ne, v, &e) == 0);
    const char *path = tmp_path("big.gguf");
    CHECK(gguf_writer_save(w, path, &e) == 0);
    gguf_writer_free(w);
    char line[600], flags[600];
    for (int pass = 0; pass < 3; pass++) { /* read; OMNI_MMAP=1: mapped; metadata open: mapped */
        if (pass == 1) setenv("OMNI_MMAP", "1", 1);
        struct gguf *g = pass == 2 ? gguf_open(path, &e) : gguf_open_weights(path, &e);
        unsetenv("OMNI_MMAP");
        CHECK_MSG(g, "%s", e.msg);
        if (!g) continue;
        struct tensor t;
        CHECK(gguf_tensor(g, gguf_find_tensor(g, "big"), &t) == 0);
        CHECK(t.data && !memcmp(t.data, v, sizeof(float) * N));
        test_mapping_of(t.data, line, sizeof line, flags, sizeof flags);
        int file_backed = strstr(line, "big.gguf") != NULL;
#if defined(__SANITIZE_ADDRESS__)
        (void)file_backed;
#else
        /* read when twice the file fits in what this process may still use (a small memory
         * cgroup maps it instead), mapped otherwise */
        int want_read = pass == 0 && gguf_memory_headroom() / 2 >= (uint64_t)sizeof(float) * N + 4096;
        CHECK_EQ_INT(gguf_is_read(g), want_read);
        if (want_read) {
            FILE *thp = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
            CHECK_MSG(!file_backed, "read weights still map the file: %s", line);
            if (thp) {
                CHECK_MSG(strstr(flags, " hg") != NULL, "no huge-page advice: %s", flags);
                fclose(thp);
            }
        } else {
            CHECK_MSG(file_backed, "pass %d: expected the file's mapping, got %s", pass, line);
        }
        if (pass == 0) printf("  weights %s (headroom %llu MiB)\n", want_read ? "read into memory" : "mapped",
                              (unsigned long long)(gguf_memory_headroom() >> 20));
#endif
        gguf_close(g);
    }
    /* a file cut short fails the same clear way whichever path opens it */
    CHECK(truncate(path, 4096 + (off_t)sizeof(float) * N / 2) == 0);
    CHECK(gguf_open_weights(path, &e) == NULL);
    CHECK(strstr(e.msg, "big.gguf") != NULL);
    unlink(path);
    free(v);
}

int main(void) {
    TEST_EXPECT(10);
    RUN(opens_every_shared_gguf);
    RUN(stories260k_facts);
    RUN(synth_file_types);
    RUN(vocab_only_file_and_large_string_array);
    RUN(writer_round_trip);
    RUN(every_truncation_fails_cleanly);
    RUN(mutations_never_crash);
    RUN(hostile_headers);
    RUN(valid_edge_cases);
    RUN(weights_read_into_huge_pages);
    return test_summary();
}

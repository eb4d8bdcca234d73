/* Custom assistants (src/assistants): the configuration check, versions, visibility, the
 * store's search (Korean), uses and ratings, avatars, bundled files, and bundles — the
 * storage cases run on SQLite and on a throw-away PostgreSQL (tests/pg_temp.sh, as
 * tests/storage does; PostgreSQL failing to start is a failure), the bundle reader's
 * refusals of hostile archives once. */
#include <libpq-fe.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>

#include <cJSON.h>

#include "assistants/assistants.h"
#include "assistants/bundle.h"
#include "knowledge/make_docs.h"
#include "test.h"

#define TWO_BACKENDS_NAME "asst"
#include "../storage/two_backends.h"

static int mk_user(struct store *st, const char *email, struct store_user *out) {
    struct store_user u;
    memset(&u, 0, sizeof u);
    snprintf(u.email, sizeof u.email, "%s", email);
    snprintf(u.name, sizeof u.name, "%s", email);
    struct err e = {{0}};
    return store_user_create(st, &u, STORE_FIRST_IS_ADMIN, out, &e);
}

static cJSON *cfg(const char *json) { return cJSON_Parse(json); }

static int create(struct store *st, const char *uid, const char *json, struct asst *out) {
    cJSON *c = cfg(json);
    struct err e = {{0}};
    int rc = asst_create(st, uid, c, out, &e);
    if (rc) fprintf(stderr, "  asst_create: %s\n", e.msg);
    cJSON_Delete(c);
    return rc;
}

static const char *cfg_str(const char *config, const char *key, char *buf, size_t cap) {
    cJSON *j = cJSON_Parse(config);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    snprintf(buf, cap, "%s", cJSON_IsString(v) ? v->valuestring : "(none)");
    cJSON_Delete(j);
    return buf;
}

/* ---- backend-independent ---- */

TEST(config_check) {
    char param[64], msg[256];
    cJSON *out = NULL;
    struct { const char *json, *param; } badc[] = {
        {"{}", "name"},
        {"{\"name\":\"\"}", "name"},
        {"{\"name\":3}", "name"},
        {"{\"name\":\"a\",\"colour\":1}", "colour"},
        {"{\"name\":\"a\",\"visibility\":\"friends\"}", "visibility"},
        {"{\"name\":\"a\",\"category\":\"cooking\"}", "category"},
        {"{\"name\":\"a\",\"starters\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]}", "starters"},
        {"{\"name\":\"a\",\"starters\":[1]}", "starters"},
        {"{\"name\":\"a\",\"sampling\":{\"temperature\":3}}", "sampling.temperature"},
        {"{\"name\":\"a\",\"sampling\":{\"top_k\":1.5}}", "sampling.top_k"},
        {"{\"name\":\"a\",\"sampling\":{\"heat\":1}}", "sampling.heat"},
        {"{\"name\":\"a\",\"capabilities\":{\"voice\":\"yes\"}}", "capabilities.voice"},
        {"{\"name\":\"a\",\"knowledge\":{\"max_chunks\":0}}", "knowledge.max_chunks"},
        {"{\"name\":\"a\",\"model\":\"x\",\"models\":[\"y\"]}", "model"},
        {"{\"name\":\"\xff\xfe\"}", "name"},
        {"[1]", ""},
    };
    for (size_t i = 0; i < sizeof badc / sizeof *badc; i++) {
        cJSON *in = cJSON_Parse(badc[i].json);
        CHECK_MSG(asst_config_check(in, &out, param, msg) == -1 && !out, "accepted %s", badc[i].json);
        CHECK_MSG(!strcmp(param, badc[i].param), "%s: param '%s', want '%s'", badc[i].json, param, badc[i].param);
        CHECK(msg[0]);
        cJSON_Delete(in);
    }
    cJSON *in = cJSON_Parse("{\"name\":\"고객 지원\",\"starters\":[\"환불은 어떻게 하나요?\"],\"sampling\":{\"temperature\":0.2}}");
    REQUIRE(asst_config_check(in, &out, param, msg) == 0, "good config refused: %s", msg);
    CHECK_STR(cJSON_GetObjectItem(out, "visibility")->valuestring, "private");
    CHECK_STR(cJSON_GetObjectItem(out, "category")->valuestring, "other");
    CHECK_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "knowledge"), "max_chunks")->valueint, 5);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "capabilities"), "voice")));
    CHECK_NEAR(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "sampling"), "temperature")->valuedouble, 0.2, 1e-9);
    cJSON_Delete(in);
    cJSON_Delete(out);
}

/* a zip of entries (name, bytes, unix mode) */
struct ent { const char *name; const void *d; size_t n; unsigned mode; };

static unsigned char *mk_zip(const struct ent *es, int ne, size_t *out_n) {
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_source_keep(src);
    zip_t *z = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    for (int i = 0; i < ne; i++) {
        zip_source_t *s = zip_source_buffer(z, es[i].d, es[i].n, 0);
        zip_int64_t k = zip_file_add(z, es[i].name, s, ZIP_FL_ENC_UTF_8);
        if (es[i].mode) zip_file_set_external_attributes(z, (zip_uint64_t)k, 0, ZIP_OPSYS_UNIX, (zip_uint32_t)es[i].mode << 16);
    }
    zip_close(z);
    zip_stat_t zs;
    zip_source_open(src);
    zip_source_stat(src, &zs);
    unsigned char *buf = malloc(zs.size);
    zip_source_read(src, buf, zs.size);
    zip_source_close(src);
    zip_source_free(src);
    *out_n = zs.size;
    return buf;
}

/* A manifest listing knowledge file `name` with bytes d (hash of h, when h differs). */
static char *manifest(const char *name, const void *h, size_t hn, int schema) {
    char hex[65], buf[4096];
    asst_sha256_hex(h, hn, hex);
    snprintf(buf, sizeof buf,
             "{\"format\":\"omni-assistant\",\"schema_version\":%d,\"assistant\":{\"name\":\"t\"},\"avatar\":null,"
             "\"knowledge\":[{\"path\":\"knowledge/%s\",\"name\":\"%s\",\"mime\":\"text/plain\",\"size\":%zu,\"sha256\":\"%s\"}]}",
             schema, name, name, hn, hex);
    return strdup(buf);
}

static void expect_refused(const char *what, const unsigned char *z, size_t n, const char *needle) {
    struct bundle b;
    char msg[256];
    int rc = bundle_read(z, n, &b, msg);
    CHECK_MSG(rc == -1, "%s: bundle accepted", what);
    CHECK_MSG(rc != -1 || strstr(msg, needle), "%s: message '%s' lacks '%s'", what, msg, needle);
    if (rc == 0) bundle_free(&b);
}

TEST(bundle_hostile) {
    const char txt[] = "설명서 본문입니다.";
    size_t n;
    /* a good one first, so the refusals below are for their one defect */
    char *m = manifest("manual.txt", txt, strlen(txt), 1);
    struct ent good[] = {{"manifest.json", m, strlen(m), 0100644}, {"knowledge/manual.txt", txt, strlen(txt), 0100644}};
    unsigned char *z = mk_zip(good, 2, &n);
    struct bundle b;
    char msg[256];
    CHECK_MSG(bundle_read(z, n, &b, msg) == 0, "good bundle refused: %s", msg);
    CHECK_EQ_INT(b.n_files, 1);
    if (b.n_files) CHECK(b.files[0].size == (int64_t)strlen(txt) && !memcmp(b.files[0].data, txt, strlen(txt)));
    bundle_free(&b);
    free(z);

    struct ent slip[] = {{"manifest.json", m, strlen(m), 0}, {"knowledge/manual.txt", txt, strlen(txt), 0},
                         {"../../etc/evil", txt, 3, 0}};
    z = mk_zip(slip, 3, &n);
    expect_refused("zip-slip", z, n, "unsafe path");
    free(z);
    struct ent abs[] = {{"manifest.json", m, strlen(m), 0}, {"/tmp/evil", txt, 3, 0}};
    z = mk_zip(abs, 2, &n);
    expect_refused("absolute path", z, n, "unsafe path");
    free(z);
    struct ent bs[] = {{"manifest.json", m, strlen(m), 0}, {"knowledge\\..\\x", txt, 3, 0}};
    z = mk_zip(bs, 2, &n);
    expect_refused("backslash", z, n, "unsafe path");
    free(z);
    struct ent lnk[] = {{"manifest.json", m, strlen(m), 0}, {"knowledge/manual.txt", "/etc/passwd", 11, 0120777}};
    z = mk_zip(lnk, 2, &n);
    expect_refused("symlink", z, n, "symbolic link");
    free(z);
    struct ent exe[] = {{"manifest.json", m, strlen(m), 0}, {"knowledge/manual.txt", txt, strlen(txt), 0100755}};
    z = mk_zip(exe, 2, &n);
    expect_refused("exec bit", z, n, "executable");
    free(z);
    struct ent extra[] = {{"manifest.json", m, strlen(m), 0}, {"knowledge/manual.txt", txt, strlen(txt), 0},
                          {"knowledge/other.txt", txt, 3, 0}};
    z = mk_zip(extra, 3, &n);
    expect_refused("unlisted entry", z, n, "does not list");
    free(z);
    /* a hash that does not match */
    char *m2 = manifest("manual.txt", "other", 5, 1);
    struct ent hash[] = {{"manifest.json", m2, strlen(m2), 0}, {"knowledge/manual.txt", txt, strlen(txt), 0}};
    z = mk_zip(hash, 2, &n);
    expect_refused("bad size/hash", z, n, "differs from the manifest");
    free(z);
    free(m2);
    /* same size, other bytes: the hash catches it */
    char alt[sizeof txt];
    memcpy(alt, txt, sizeof txt);
    alt[0] ^= 1;
    m2 = manifest("manual.txt", alt, strlen(alt), 1);
    struct ent hash2[] = {{"manifest.json", m2, strlen(m2), 0}, {"knowledge/manual.txt", txt, strlen(txt), 0}};
    z = mk_zip(hash2, 2, &n);
    expect_refused("bad hash", z, n, "SHA-256");
    free(z);
    free(m2);
    /* executable content (an ELF header), hash right */
    const char elf[] = "\x7f" "ELF\x02\x01\x01 rest of a binary";
    m2 = manifest("tool.txt", elf, sizeof elf - 1, 1);
    struct ent el[] = {{"manifest.json", m2, strlen(m2), 0}, {"knowledge/tool.txt", elf, sizeof elf - 1, 0}};
    z = mk_zip(el, 2, &n);
    expect_refused("ELF content", z, n, "executable content");
    free(z);
    free(m2);
    /* a bomb: 40 MiB of zeros deflates to ~40 KiB */
    size_t bn = 40u << 20;
    unsigned char *zeros = calloc(1, bn);
    m2 = manifest("big.txt", zeros, bn, 1);
    struct ent bomb[] = {{"manifest.json", m2, strlen(m2), 0}, {"knowledge/big.txt", zeros, bn, 0}};
    z = mk_zip(bomb, 2, &n);
    CHECK(n < (2u << 20));
    expect_refused("zip bomb", z, n, "zip bomb");
    free(z);
    free(m2);
    /* an entry over its size limit that does not compress (so not the ratio): 17 MiB of noise */
    size_t on = 17u << 20;
    unsigned char *noise = malloc(on);
    uint32_t r = 12345;
    for (size_t i = 0; i < on; i++) r = r * 1664525u + 1013904223u, noise[i] = (unsigned char)(r >> 24);
    m2 = manifest("noise.bin", noise, on, 1);
    struct ent over[] = {{"manifest.json", m2, strlen(m2), 0}, {"knowledge/noise.bin", noise, on, 0}};
    z = mk_zip(over, 2, &n);
    expect_refused("oversize entry", z, n, "larger than its limit");
    free(z);
    free(m2);
    free(noise);
    /* the ratio limit alone: 4 MiB of zeros (under the size limit) */
    m2 = manifest("zeros.txt", zeros, 4u << 20, 1);
    struct ent bomb2[] = {{"manifest.json", m2, strlen(m2), 0}, {"knowledge/zeros.txt", zeros, 4u << 20, 0}};
    z = mk_zip(bomb2, 2, &n);
    expect_refused("ratio", z, n, "200 times");
    free(z);
    free(m2);
    free(zeros);
    /* a newer schema, a manifest that is not JSON, not a zip, a truncated zip */
    m2 = manifest("manual.txt", txt, strlen(txt), 99);
    struct ent newer[] = {{"manifest.json", m2, strlen(m2), 0}, {"knowledge/manual.txt", txt, strlen(txt), 0}};
    z = mk_zip(newer, 2, &n);
    expect_refused("newer schema", z, n, "newer");
    free(z);
    free(m2);
    struct ent nj[] = {{"manifest.json", "{not json", 9, 0}};
    z = mk_zip(nj, 1, &n);
    expect_refused("manifest not JSON", z, n, "not a JSON object");
    expect_refused("truncated", z, n / 2, "zip");
    free(z);
    expect_refused("not a zip", (const unsigned char *)"hello world", 11, "not a zip");
    free(m);
}

/* ---- per backend ---- */

TEST(crud_versions_visibility) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct store_user a, b;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0 && mk_user(st, "b@x.org", &b) == 0, "users");
    struct asst x, y;
    struct err e = {{0}};
    REQUIRE(create(st, a.id, "{\"name\":\"Support\",\"instructions\":\"v1\"}", &x) == 0, "create");
    CHECK_EQ_INT(x.version, 1);
    CHECK_STR(x.visibility, "private");
    CHECK(!strncmp(x.id, "asst_", 5) && !strncmp(x.link_token, "lnk_", 4));
    CHECK_STR(x.author, "a@x.org");
    cJSON *c2 = cfg("{\"name\":\"Support 2\",\"instructions\":\"v2\",\"visibility\":\"link\"}");
    CHECK(asst_update(st, b.id, x.id, c2, NULL, &e) == STORE_NOTFOUND); /* not b's */
    CHECK(asst_update(st, a.id, x.id, c2, &y, &e) == 0);
    cJSON_Delete(c2);
    CHECK_EQ_INT(y.version, 2);
    CHECK_STR(y.name, "Support 2");
    CHECK_STR(y.visibility, "link");
    struct asst_list v;
    REQUIRE(asst_versions(st, x.id, &v, &e) == 0, "versions: %s", e.msg);
    CHECK_EQ_INT(v.n, 2);
    char buf[64];
    if (v.n == 2) {
        CHECK_EQ_INT(v.items[0].version, 2);
        CHECK_STR(cfg_str(v.items[1].config, "instructions", buf, sizeof buf), "v1");
    }
    asst_list_free(&v);
    char *old = NULL;
    CHECK(asst_version_config(st, x.id, 1, &old, &e) == 0 && old);
    if (old) CHECK_STR(cfg_str(old, "name", buf, sizeof buf), "Support");
    free(old);
    CHECK(asst_version_config(st, x.id, 7, &old, &e) == STORE_NOTFOUND);
    /* visibility: link is seen by its link only; private by its author and admins (a is admin) */
    CHECK(!asst_visible(&y, b.id, "user", 0));
    CHECK(asst_visible(&y, b.id, "user", 1));
    struct asst z;
    CHECK(asst_get_by_link(st, y.link_token, &z, &e) == 0 && !strcmp(z.id, x.id));
    asst_free(&z);
    CHECK(asst_get_by_link(st, "lnk_nope", &z, &e) == STORE_NOTFOUND);
    strcpy(y.visibility, "private");
    CHECK(!asst_visible(&y, b.id, "user", 1));
    CHECK(asst_visible(&y, a.id, "user", 0));
    CHECK(asst_visible(&y, b.id, "admin", 0));
    CHECK(asst_is_editor(&y, a.id, "user") && !asst_is_editor(&y, b.id, "user"));
    /* mine */
    struct asst_list mine;
    CHECK(asst_list_mine(st, a.id, &mine, &e) == 0 && mine.n == 1);
    asst_list_free(&mine);
    CHECK(asst_list_mine(st, b.id, &mine, &e) == 0 && mine.n == 0);
    asst_list_free(&mine);
    /* delete: not b's; a's goes with its versions; a user's deletion takes theirs */
    CHECK(asst_delete(st, b.id, x.id, &e) == STORE_NOTFOUND);
    CHECK(asst_delete(st, a.id, x.id, &e) == 0);
    CHECK(asst_get(st, x.id, &z, &e) == STORE_NOTFOUND);
    CHECK(create(st, b.id, "{\"name\":\"B's\"}", &z) == 0);
    CHECK(store_user_delete(st, b.id, &e) == 0);
    struct asst w;
    CHECK(asst_get(st, z.id, &w, &e) == STORE_NOTFOUND);
    asst_free(&z);
    asst_free(&x);
    asst_free(&y);
    store_close(st);
}

TEST(store_search_uses_ratings) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct store_user a, b, c;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0 && mk_user(st, "b@x.org", &b) == 0 && mk_user(st, "c@x.org", &c) == 0, "users");
    struct asst k, w, p, h;
    REQUIRE(create(st, a.id, "{\"name\":\"고객 지원 도우미\",\"description\":\"제품 설명서로 답합니다\",\"category\":\"customer_support\","
                              "\"visibility\":\"public\",\"starters\":[\"환불 정책은?\"]}", &k) == 0, "k");
    REQUIRE(create(st, a.id, "{\"name\":\"Writing Coach\",\"description\":\"Edits your prose\",\"category\":\"writing\","
                              "\"visibility\":\"public\"}", &w) == 0, "w");
    REQUIRE(create(st, a.id, "{\"name\":\"Private 지원\",\"visibility\":\"private\"}", &p) == 0, "p");
    REQUIRE(create(st, a.id, "{\"name\":\"Hidden 지원\",\"visibility\":\"public\"}", &h) == 0, "h");
    struct err e = {{0}};
    CHECK(asst_admin_set(st, h.id, -1, 1, &e) == 0);
    struct asst_list l;
    struct asst_query q = {.q = "지원"};
    REQUIRE(asst_store_list(st, &q, &l, &e) == 0, "list: %s", e.msg);
    CHECK_EQ_INT(l.n, 1); /* not the private, not the hidden */
    if (l.n) CHECK_STR(l.items[0].id, k.id);
    asst_list_free(&l);
    q.include_hidden = 1;
    CHECK(asst_store_list(st, &q, &l, &e) == 0 && l.n == 2);
    asst_list_free(&l);
    struct asst_query q2 = {.q = "환불"};   /* a starter */
    CHECK(asst_store_list(st, &q2, &l, &e) == 0 && l.n == 1);
    asst_list_free(&l);
    struct asst_query q3 = {.q = "PROSE edit"}; /* ASCII case-insensitive, every term */
    CHECK(asst_store_list(st, &q3, &l, &e) == 0 && l.n == 1 && !strcmp(l.items[0].id, w.id));
    asst_list_free(&l);
    struct asst_query q4 = {.q = "50%_"};
    CHECK(asst_store_list(st, &q4, &l, &e) == 0 && l.n == 0);
    asst_list_free(&l);
    struct asst_query q5 = {.category = "writing"};
    CHECK(asst_store_list(st, &q5, &l, &e) == 0 && l.n == 1 && !strcmp(l.items[0].id, w.id));
    asst_list_free(&l);
    struct asst_query q6 = {.sort = "loudest"};
    CHECK(asst_store_list(st, &q6, &l, &e) == STORE_INVALID);

    /* rating needs a use; uses make "popular" */
    CHECK(asst_rate(st, w.id, b.id, 5, "great", &e) == ASST_NOT_USED);
    struct store_conv cv = {0};
    strcpy(cv.user_id, b.id);
    REQUIRE(store_conv_create(st, &cv, &cv, &e) == 0, "conv");
    CHECK(asst_record_use(st, w.id, 1, b.id, cv.id, &e) == 0);
    CHECK(asst_record_use(st, w.id, 1, b.id, NULL, &e) == 0);
    CHECK(asst_record_use(st, w.id, 1, c.id, NULL, &e) == 0);
    CHECK(asst_record_use(st, "asst_gone", 1, c.id, NULL, &e) == STORE_NOTFOUND);
    /* a conversation of another user is not linked */
    struct store_conv cc = {0};
    strcpy(cc.user_id, c.id);
    REQUIRE(store_conv_create(st, &cc, &cc, &e) == 0, "conv c");
    CHECK(asst_record_use(st, k.id, 1, b.id, cc.id, &e) == 0);
    char aid[STORE_ID_MAX];
    int ver = -1;
    CHECK(asst_conv_get(st, cc.id, aid, &ver, &e) == 0 && !aid[0] && ver == 0);
    CHECK(asst_conv_get(st, cv.id, aid, &ver, &e) == 0);
    CHECK_STR(aid, w.id);
    CHECK_EQ_INT(ver, 1);
    struct store_conv got;
    CHECK(store_conv_get(st, b.id, cv.id, &got, &e) == 0);
    CHECK_STR(got.assistant_id, w.id);
    CHECK(asst_rate(st, w.id, b.id, 5, "정말 좋아요", &e) == 0);
    CHECK(asst_rate(st, w.id, c.id, 2, "", &e) == 0);
    CHECK(asst_rate(st, w.id, c.id, 3, "better on a second look", &e) == 0); /* replaces */
    CHECK(asst_rate(st, w.id, c.id, 6, "", &e) == STORE_INVALID);
    struct asst g;
    REQUIRE(asst_get(st, w.id, &g, &e) == 0, "get");
    CHECK_EQ_INT(g.uses, 3);
    CHECK_EQ_INT(g.users, 2);
    CHECK_EQ_INT(g.conversations, 1);
    CHECK_EQ_INT(g.rating_n, 2);
    CHECK_NEAR(g.rating, 4.0, 1e-9);
    asst_free(&g);
    struct asst_review *rv;
    size_t nr;
    CHECK(asst_reviews(st, w.id, &rv, &nr, &e) == 0 && nr == 2);
    int found = 0;
    for (size_t i = 0; i < nr; i++) found += !strcmp(rv[i].review, "정말 좋아요") && rv[i].stars == 5;
    CHECK_EQ_INT(found, 1);
    asst_reviews_free(rv, nr);
    struct asst_query pop = {.sort = "popular"};
    CHECK(asst_store_list(st, &pop, &l, &e) == 0 && l.n == 2 && !strcmp(l.items[0].id, w.id));
    asst_list_free(&l);
    /* featured first */
    CHECK(asst_admin_set(st, k.id, 1, -1, &e) == 0);
    struct asst_query fe = {.sort = "featured"};
    CHECK(asst_store_list(st, &fe, &l, &e) == 0 && l.n == 2 && !strcmp(l.items[0].id, k.id) && l.items[0].featured);
    asst_list_free(&l);
    struct asst_query ra = {.sort = "rating"};
    CHECK(asst_store_list(st, &ra, &l, &e) == 0 && l.n == 2 && !strcmp(l.items[0].id, w.id));
    asst_list_free(&l);
    /* the conversation's deletion drops its link */
    CHECK(store_conv_delete(st, b.id, cv.id, &e) == 0);
    CHECK(asst_get(st, w.id, &g, &e) == 0 && g.conversations == 0);
    asst_free(&g);
    asst_free(&k);
    asst_free(&w);
    asst_free(&p);
    asst_free(&h);
    store_close(st);
}

/* a real 2x2 RGB PNG (the avatar must decode) */
static const unsigned char png1[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfd, 0xd4, 0x9a, 0x73, 0x00, 0x00, 0x00, 0x13, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xc0, 0x00, 0xc2, 0x0c, 0xff, 0x05, 0x14, 0x0c, 0x00, 0x1a,
    0x94, 0x03, 0x5e, 0xdc, 0x92, 0xdb, 0xe9, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

TEST(avatar_files_bundle) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct store_user a, b;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0 && mk_user(st, "b@x.org", &b) == 0, "users");
    struct asst x;
    REQUIRE(create(st, a.id, "{\"name\":\"Manual bot\",\"instructions\":\"설명서로만 답하세요\",\"visibility\":\"public\","
                              "\"starters\":[\"보증 기간은?\"],\"sampling\":{\"temperature\":0.3,\"seed\":7},"
                              "\"knowledge\":{\"file_ids\":[\"file_abc\"],\"only_knowledge\":true}}", &x) == 0, "create");
    struct err e = {{0}};
    CHECK(asst_set_avatar(st, a.id, x.id, "GIF", 3, &e) == STORE_INVALID);
    CHECK(asst_set_avatar(st, a.id, x.id, "<svg onload=alert(1)>", 21, &e) == STORE_INVALID);
    /* the PNG signature and header, then garbage: does not decode */
    unsigned char half[sizeof png1];
    memcpy(half, png1, sizeof png1);
    memset(half + 33, 0x41, sizeof png1 - 33);
    CHECK(asst_set_avatar(st, a.id, x.id, half, sizeof half, &e) == STORE_INVALID);
    CHECK(strstr(e.msg, "not a readable image") != NULL);
    CHECK(asst_set_avatar(st, a.id, x.id, png1, 40, &e) == STORE_INVALID); /* truncated */
    unsigned char *big = calloc(1, ASST_AVATAR_MAX + 1);
    memcpy(big, png1, sizeof png1);
    CHECK(asst_set_avatar(st, a.id, x.id, big, ASST_AVATAR_MAX + 1, &e) == STORE_INVALID);
    free(big);
    CHECK(asst_set_avatar(st, b.id, x.id, png1, sizeof png1, &e) == STORE_NOTFOUND);
    CHECK(asst_set_avatar(st, a.id, x.id, png1, sizeof png1, &e) == 0);
    char mime[32];
    unsigned char *d;
    size_t n;
    CHECK(asst_get_avatar(st, x.id, mime, &d, &n, &e) == 0 && n == sizeof png1 && !memcmp(d, png1, n));
    CHECK_STR(mime, "image/png");
    free(d);
    const char manual[] = "# 제품 설명서\n\n보증 기간은 2년입니다.\n";
    CHECK(asst_file_put(st, a.id, x.id, "../x.txt", "text/plain", "a", 1, &e) == STORE_INVALID);
    CHECK(asst_file_put(st, a.id, x.id, "a/b.txt", "text/plain", "a", 1, &e) == STORE_INVALID);
    CHECK(asst_file_put(st, b.id, x.id, "m.md", "text/markdown", "a", 1, &e) == STORE_NOTFOUND);
    CHECK(asst_file_put(st, a.id, x.id, "설명서.md", "text/markdown", manual, strlen(manual), &e) == 0);
    CHECK(asst_file_put(st, a.id, x.id, "empty.txt", "text/plain", "", 0, &e) == 0);
    struct asst_file *f;
    size_t nf;
    CHECK(asst_files(st, x.id, 0, &f, &nf, &e) == 0 && nf == 2);
    asst_files_free(f, nf);
    /* export → read → import as b: the same assistant, private, with its avatar and files */
    unsigned char *z;
    size_t zn;
    REQUIRE(asst_export(st, x.id, &z, &zn, &e) == 0, "export: %s", e.msg);
    struct bundle bb;
    char msg[256];
    REQUIRE(bundle_read(z, zn, &bb, msg) == 0, "read back: %s", msg);
    CHECK_STR(bb.source_id, x.id);
    CHECK_EQ_INT(bb.source_version, 1);
    struct asst y;
    REQUIRE(asst_import(st, b.id, &bb, &y, &e) == 0, "import: %s", e.msg);
    CHECK(strcmp(y.id, x.id));
    CHECK_STR(y.user_id, b.id);
    CHECK_STR(y.visibility, "private");
    CHECK_STR(y.avatar_type, "image/png");
    cJSON *cx = cJSON_Parse(x.config), *cy = cJSON_Parse(y.config);
    cJSON_ReplaceItemInObject(cx, "visibility", cJSON_CreateString("private"));
    CHECK(cJSON_Compare(cx, cy, 1));
    cJSON_Delete(cx);
    cJSON_Delete(cy);
    CHECK(asst_files(st, y.id, 1, &f, &nf, &e) == 0 && nf == 2);
    int same = 0;
    for (size_t i = 0; i < nf; i++)
        same += !strcmp(f[i].name, "설명서.md") && f[i].size == (int64_t)strlen(manual) && !memcmp(f[i].data, manual, strlen(manual));
    CHECK_EQ_INT(same, 1);
    asst_files_free(f, nf);
    bundle_free(&bb);
    /* one flipped byte in the archive: one clear error, nothing stored */
    int64_t before = 0;
    struct asst_list l;
    CHECK(asst_list_mine(st, b.id, &l, &e) == 0);
    before = (int64_t)l.n;
    asst_list_free(&l);
    for (size_t at = 40; at < zn; at += zn / 7) {
        z[at] ^= 0x5a;
        if (bundle_read(z, zn, &bb, msg) == 0) {
            /* a flip in a part the hashes do not cover (zip metadata) may still read the same */
            bundle_free(&bb);
        } else CHECK(msg[0]);
        z[at] ^= 0x5a;
    }
    CHECK(asst_list_mine(st, b.id, &l, &e) == 0 && (int64_t)l.n == before);
    asst_list_free(&l);
    free(z);
    CHECK(asst_file_delete(st, a.id, x.id, "empty.txt", &e) == 0);
    CHECK(asst_file_delete(st, a.id, x.id, "empty.txt", &e) == STORE_NOTFOUND);
    asst_free(&x);
    asst_free(&y);
    store_close(st);
}

/* Keyword-only knowledge search (no embedding model, no reranker). */
static int ks(struct store *st, const char *id, const char *q, int k, double thr, struct asst_passage **p, int *n,
              struct err *e) {
    struct asst_retrieval r = {k, thr, NULL, NULL, ASST_RANK_HYBRID};
    char method[24];
    int rc = asst_knowledge_search(st, id, q, &r, p, n, method, e);
    if (!rc && strcmp(method, "keyword")) return -99;
    return rc;
}

/* Retrieval over bundled files: the passage that answers comes first, with its file,
 * heading (and page for a PDF would be kept the same way); no match gives nothing. */
TEST(knowledge_search) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct store_user a;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0, "user");
    struct asst x;
    REQUIRE(create(st, a.id, "{\"name\":\"kb\",\"capabilities\":{\"knowledge\":true}}", &x) == 0, "create");
    const char *manual = "# 세탁기 설명서\n\n## 설치\n\n평평한 바닥에 두세요.\n\n## 보증\n\n보증기간은 2년입니다.\n";
    const char *faq = "Delivery takes three days. Colours: white and grey.\n";
    struct err e = {{0}};
    REQUIRE(asst_file_put(st, a.id, x.id, "manual.md", "text/markdown", manual, strlen(manual), &e) == 0, "put");
    REQUIRE(asst_file_put(st, a.id, x.id, "faq.txt", "text/plain", faq, strlen(faq), &e) == 0, "put");
    REQUIRE(asst_file_put(st, a.id, x.id, "blob.bin", "", "\x01\x02\x03", 3, &e) == 0, "put");
    struct asst_passage *p;
    int n;
    REQUIRE(ks(st, x.id, "보증 기간이 어떻게 되나요", 3, 0, &p, &n, &e) == 0, "search: %s", e.msg);
    CHECK(n >= 1);
    if (n >= 1) {
        CHECK_STR(p[0].file, "manual.md");
        CHECK_STR(p[0].heading ? p[0].heading : "", "세탁기 설명서 > 보증");
        CHECK(strstr(p[0].text, "2년") != NULL);
        CHECK(p[0].score > 0.25); /* 보증, 기간 of 7 bigrams */
        for (int i = 1; i < n; i++) CHECK(p[i].score <= p[i - 1].score);
        char *ctx = asst_knowledge_context(p, n, 1);
        CHECK(ctx && strstr(ctx, "[1] manual.md, 세탁기 설명서 > 보증\n") && strstr(ctx, "do not know"));
        free(ctx);
    }
    asst_passages_free(p, n);
    REQUIRE(ks(st, x.id, "DELIVERY days", 3, 0, &p, &n, &e) == 0, "search");
    CHECK(n >= 1 && !strcmp(p[0].file, "faq.txt"));
    asst_passages_free(p, n);
    /* a threshold keeps weak matches out; nothing shared gives nothing */
    REQUIRE(ks(st, x.id, "보증 xyzzy plugh", 3, 0.9, &p, &n, &e) == 0, "search");
    CHECK_EQ_INT(n, 0);
    asst_passages_free(p, n);
    REQUIRE(ks(st, x.id, "!!!", 3, 0, &p, &n, &e) == 0, "search");
    CHECK_EQ_INT(n, 0);
    asst_passages_free(p, n);
    /* the files change: the next search reads the new text, not a kept index */
    const char *v2 = "# 세탁기 설명서\n\n## 보증\n\n보증기간은 3년으로 늘었습니다.\n";
    REQUIRE(asst_file_put(st, a.id, x.id, "manual.md", "text/markdown", v2, strlen(v2), &e) == 0, "put v2");
    REQUIRE(ks(st, x.id, "보증 기간이 어떻게 되나요", 3, 0, &p, &n, &e) == 0, "search");
    CHECK(n >= 1 && strstr(p[0].text, "3년") && !strstr(p[0].text, "2년"));
    asst_passages_free(p, n);
    CHECK(asst_file_delete(st, a.id, x.id, "manual.md", &e) == 0);
    REQUIRE(ks(st, x.id, "보증 기간이 어떻게 되나요", 3, 0, &p, &n, &e) == 0, "search");
    for (int i = 0; i < n; i++) CHECK(strcmp(p[i].file, "manual.md"));
    asst_passages_free(p, n);
    asst_free(&x);
    store_close(st);
}

/* A Korean product manual as a PDF (drawn at test time: headings in larger type, two pages)
 * and as an HWPX: the answer's passage comes first from each, the PDF's with its page. */
TEST(knowledge_pdf_hwpx) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct store_user a;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0, "user");
    struct asst x;
    REQUIRE(create(st, a.id, "{\"name\":\"kb\",\"capabilities\":{\"knowledge\":true}}", &x) == 0, "create");
    char pdf[400], hwpx[400];
    snprintf(pdf, sizeof pdf, "%s/manual%d.pdf", g_tmp, g_case_no);
    snprintf(hwpx, sizeof hwpx, "%s/guide%d.hwpx", g_tmp, g_case_no);
    const struct pdf_line lines[] = {
        {20, "청소기 설명서"}, {14, "1장 설치"}, {11, "충전대를 벽에 붙여 두고 전원을 연결하세요."}, {0, NULL},
        {14, "2장 배터리"}, {11, "배터리는 완전히 충전하면 90분 동안 사용할 수 있습니다."}, {0, NULL}, {0, NULL}};
    /* drawn in a child: fontconfig's and cairo's process-wide caches are not ours to free,
     * and the child leaves without the leak check at exit */
    pid_t kid = fork();
    if (kid == 0) _exit(make_pdf(pdf, lines) == 0 ? 0 : 1);
    int ws = 0;
    REQUIRE(kid > 0 && waitpid(kid, &ws, 0) == kid && WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "cannot draw %s", pdf);
    const char *header = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><hh:head xmlns:hh=\"http://www.hancom.co.kr/hwpml/2011/head\">"
                         "<hh:refList><hh:styles><hh:style id=\"0\" type=\"PARA\" name=\"바탕글\" engName=\"Normal\"/>"
                         "<hh:style id=\"2\" type=\"PARA\" name=\"개요 1\" engName=\"Outline 1\"/></hh:styles></hh:refList></hh:head>";
    const char *sec = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><hs:sec xmlns:hs=\"http://www.hancom.co.kr/hwpml/2011/section\" "
                      "xmlns:hp=\"http://www.hancom.co.kr/hwpml/2011/paragraph\">"
                      "<hp:p styleIDRef=\"2\"><hp:run><hp:t>교환과 환불</hp:t></hp:run></hp:p>"
                      "<hp:p styleIDRef=\"0\"><hp:run><hp:t>제품을 받은 날부터 14일 안에 환불을 요청할 수 있습니다.</hp:t></hp:run></hp:p></hs:sec>";
    const struct zip_part parts[] = {{"mimetype", "application/hwp+zip", 0}, {"Contents/header.xml", header, 0},
                                     {"Contents/section0.xml", sec, 0}};
    REQUIRE(make_zip(hwpx, parts, 3) == 0, "cannot write %s", hwpx);
    size_t pn = 0, hn = 0;
    char *pb = slurp(pdf, &pn), *hb = slurp(hwpx, &hn);
    REQUIRE(pb && hb, "read back");
    struct err e = {{0}};
    CHECK(asst_file_put(st, a.id, x.id, "설명서.pdf", "application/pdf", pb, pn, &e) == 0);
    CHECK(asst_file_put(st, a.id, x.id, "안내.hwpx", "application/hwp+zip", hb, hn, &e) == 0);
    free(pb);
    free(hb);
    struct asst_passage *p;
    int n;
    REQUIRE(ks(st, x.id, "배터리는 몇 분 사용할 수 있나요?", 3, 0, &p, &n, &e) == 0, "search: %s", e.msg);
    CHECK(n >= 1 && !strcmp(p[0].file, "설명서.pdf") && p[0].page == 2 && strstr(p[0].text, "90분"));
    if (n >= 1) CHECK_MSG(p[0].heading && strstr(p[0].heading, "2장 배터리"), "heading %s", p[0].heading ? p[0].heading : "(none)");
    asst_passages_free(p, n);
    REQUIRE(ks(st, x.id, "환불은 며칠 안에 요청하나요", 3, 0, &p, &n, &e) == 0, "search: %s", e.msg);
    CHECK(n >= 1 && !strcmp(p[0].file, "안내.hwpx") && p[0].page == 0 && strstr(p[0].text, "14일"));
    if (n >= 1) CHECK(p[0].heading && !strcmp(p[0].heading, "교환과 환불"));
    asst_passages_free(p, n);
    unlink(pdf);
    unlink(hwpx);
    asst_free(&x);
    store_close(st);
}

/* Hybrid search with models (the random-weight bge-m3-shaped embedder and cross-encoder
 * of the shared folder: their rankings mean nothing, their arithmetic is checked): the
 * dense ranks are the cosine order of the chunk vectors computed here, the passages that
 * reach the model are the reranker's order of the fused candidates with its own scores
 * (compared with omni_rerank on the same pairs), relevance is the logit's sigmoid, and the
 * threshold applies to it. The keyword-best passage is among the reranked candidates. */
TEST(knowledge_hybrid_rerank) {
    char err[256];
    omni_embedder *emb = omni_embedder_load(model_path("synth/synth-bert-xlmr-f16.gguf"), NULL, err, sizeof err);
    omni_embedder *rr = omni_embedder_load(model_path("synth/synth-bert-xlmr-rerank-f16.gguf"), NULL, err, sizeof err);
    if (!emb || !rr) {
        omni_embedder_free(emb);
        omni_embedder_free(rr);
        SKIP("the synth embedding models are not in $OMNI_MODELS: %s", err);
    }
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct store_user a;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0, "user");
    struct asst x;
    REQUIRE(create(st, a.id, "{\"name\":\"kb\",\"capabilities\":{\"knowledge\":true}}", &x) == 0, "create");
    const char *manual = "# 세탁기 설명서\n\n## 설치\n\n평평한 바닥에 두세요.\n\n## 필터 청소\n\n필터는 한 달에 한 번 청소하세요.\n\n"
                         "## 보증\n\n보증기간은 2년입니다.\n\n## 소음\n\n소음이 크면 수평을 맞추세요.\n";
    struct err e = {{0}};
    REQUIRE(asst_file_put(st, a.id, x.id, "manual.md", "text/markdown", manual, strlen(manual), &e) == 0, "put");
    const char *q = "보증 기간이 어떻게 되나요";
    struct asst_passage *kp = NULL, *p = NULL;
    int kn = 0, n = 0;
    char method[24];
    struct asst_retrieval kr = {10, 0, NULL, NULL, ASST_RANK_HYBRID};
    REQUIRE(asst_knowledge_search(st, x.id, q, &kr, &kp, &kn, method, &e) == 0, "keyword search: %s", e.msg);
    CHECK_STR(method, "keyword");
    REQUIRE(kn >= 1 && strstr(kp[0].text, "2년"), "keywords find the warranty");
    /* dense only (no reranker): every chunk ranked by cosine, fused with the keywords */
    struct asst_retrieval dr = {10, 0, emb, NULL, ASST_RANK_HYBRID};
    REQUIRE(asst_knowledge_search(st, x.id, q, &dr, &p, &n, method, &e) == 0, "hybrid: %s", e.msg);
    CHECK_STR(method, "hybrid");
    int dense_seen = 0;
    for (int i = 0; i < n; i++) {
        CHECK(p[i].dense_rank > 0); /* every chunk has a vector: all are in the dense list */
        CHECK(!p[i].reranked);
        dense_seen += p[i].dense_rank == 1;
        if (p[i].keyword_rank == 1) CHECK(strstr(p[i].text, "2년") != NULL);
    }
    CHECK_EQ_INT(dense_seen, 1);
    /* the dense ranks are the cosine order computed here */
    {
        int dim = omni_embedder_n_embd(emb);
        float *qv = malloc(sizeof(float) * (size_t)dim), *cv = malloc(sizeof(float) * (size_t)dim);
        REQUIRE(qv && cv, "oom");
        omni_embed_input in = {q, strlen(q), NULL, 0};
        REQUIRE(omni_embed(emb, &in, 1, 1, qv, NULL, err, sizeof err) == 0, "embed: %s", err);
        double prev = 2;
        for (int r = 1; r <= n; r++)
            for (int i = 0; i < n; i++) {
                if (p[i].dense_rank != r) continue;
                size_t dl = strlen(p[i].text) + (p[i].heading ? strlen(p[i].heading) : 0) + 2;
                char *d = malloc(dl);
                snprintf(d, dl, "%s\n%s", p[i].heading ? p[i].heading : "", p[i].text);
                omni_embed_input ci = {d, strlen(d), NULL, 0};
                REQUIRE(omni_embed(emb, &ci, 1, 1, cv, NULL, err, sizeof err) == 0, "embed: %s", err);
                double c = 0;
                for (int k = 0; k < dim; k++) c += (double)qv[k] * cv[k];
                CHECK_MSG(c <= prev + 1e-4, "dense rank %d: cosine %f after %f", r, c, prev);
                prev = c;
                free(d);
            }
        free(qv);
        free(cv);
    }
    asst_passages_free(p, n);
    /* with the reranker: its order and its scores */
    struct asst_retrieval hr = {10, 0, emb, rr, ASST_RANK_HYBRID};
    REQUIRE(asst_knowledge_search(st, x.id, q, &hr, &p, &n, method, &e) == 0, "hybrid+rerank: %s", e.msg);
    CHECK_STR(method, "hybrid+rerank");
    REQUIRE(n >= 2, "passages: %d", n);
    int warranty = 0;
    for (int i = 0; i < n; i++) {
        CHECK(p[i].reranked);
        if (i) CHECK(p[i].rerank_score <= p[i - 1].rerank_score);
        CHECK(fabs(p[i].score - 1.0 / (1.0 + exp(-p[i].rerank_score))) < 1e-9);
        size_t dl = strlen(p[i].text) + (p[i].heading ? strlen(p[i].heading) : 0) + 2;
        char *d = malloc(dl);
        snprintf(d, dl, "%s\n%s", p[i].heading ? p[i].heading : "", p[i].text);
        const char *docs[1] = {d};
        float sc = 0;
        REQUIRE(omni_rerank(rr, q, docs, 1, &sc, NULL, err, sizeof err) == 0, "rerank: %s", err);
        CHECK_MSG(fabs(sc - p[i].rerank_score) < 1e-3, "passage %d: %f vs %f", i, sc, p[i].rerank_score);
        free(d);
        warranty += strstr(p[i].text, "2년") != NULL;
    }
    CHECK_EQ_INT(warranty, 1);
    /* a threshold between two relevances keeps exactly those above it */
    double cut = (p[0].score + p[n - 1].score) / 2;
    int above = 0;
    for (int i = 0; i < n; i++) above += p[i].score >= cut;
    asst_passages_free(p, n);
    struct asst_retrieval tr = {10, cut, emb, rr, ASST_RANK_HYBRID};
    REQUIRE(asst_knowledge_search(st, x.id, q, &tr, &p, &n, method, &e) == 0, "thresholded: %s", e.msg);
    CHECK_EQ_INT(n, above);
    asst_passages_free(p, n);
    /* max_chunks */
    struct asst_retrieval one = {1, 0, emb, rr, ASST_RANK_HYBRID};
    REQUIRE(asst_knowledge_search(st, x.id, q, &one, &p, &n, method, &e) == 0, "k 1");
    CHECK_EQ_INT(n, 1);
    asst_passages_free(p, n);
    asst_passages_free(kp, kn);
    asst_free(&x);
    store_close(st);
    omni_embedder_free(emb);
    omni_embedder_free(rr);
}

static void run_suite(void) {
    RUN(knowledge_hybrid_rerank);
    RUN(knowledge_pdf_hwpx);
    RUN(knowledge_search);
    RUN(crud_versions_visibility);
    RUN(store_search_uses_ratings);
    RUN(avatar_files_bundle);
}

int main(void) {
    TEST_EXPECT(2 + 2 * 5 + 1);
    RUN(config_check);
    RUN(bundle_hostile);
    return two_backends_run(run_suite);
}

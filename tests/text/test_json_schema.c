/* JSON Schema constraint tests: schema compile errors name the place, the matcher
 * accepts exactly the documents a schema allows (byte by byte), the sorted-prefix
 * mask equals trying every token on its own, and constrained random sampling on a
 * byte-level vocabulary always ends in a document that an independent validator
 * (below, written from the JSON Schema text) accepts. */
#include <cjson/cJSON.h>
#include <math.h>

#include "test.h"
#include "text/json_schema.h"
#include "text/sampler.h"

/* ---- a vocabulary: every byte, some multi-byte pieces, a control token and EOS ---- */
static const char *const WORDS[] = {
    "{\"", "\":", "\": ", "\",", "\", \"", "\"}", "\"]", "[\"", "},", "}]", "true", "false", "null", "name", "age",
    "tags", "kind", "12", "3.5", "-7", "e+5", ", ", "  ", "\n", "\u00e9", "\xea\xb0\x80", "cat", "dog", "red",
    "green", "\\n", "\\u00", "{}", "[]", "\"\"", "0", "00", "1e", ".",
};
#define N_WORDS ((int)(sizeof WORDS / sizeof *WORDS))
enum { T_BYTE0 = 0, T_WORD0 = 256, T_CTRL = 256 + N_WORDS, T_EOS, NV };
static char byte_piece[256][1];
static const char *P[NV];
static size_t L[NV];

static void vocab_init(void) {
    for (int i = 0; i < 256; i++) { byte_piece[i][0] = (char)i; P[i] = byte_piece[i]; L[i] = 1; }
    for (int i = 0; i < N_WORDS; i++) { P[T_WORD0 + i] = WORDS[i]; L[T_WORD0 + i] = strlen(WORDS[i]); }
    P[T_CTRL] = NULL; L[T_CTRL] = 0;
    P[T_EOS] = NULL; L[T_EOS] = 0;
}

static struct json_schema *compile_text(const char *text, char *msg, size_t cap) {
    cJSON *j = cJSON_Parse(text);
    if (!j) { snprintf(msg, cap, "test schema does not parse"); return NULL; }
    struct err e = {{0}};
    struct json_schema *s = json_schema_compile(j, &e);
    cJSON_Delete(j);
    if (msg) snprintf(msg, cap, "%s", e.msg);
    return s;
}

static struct json_schema_matcher *matcher(struct json_schema *s) {
    struct err e = {{0}};
    return json_schema_matcher_new(s, P, L, NV, T_EOS, &e);
}

/* 1 if the whole text is accepted and complete. */
static int accepts(const char *schema, const char *doc) {
    struct json_schema *s = compile_text(schema, NULL, 0);
    if (!s) return -1;
    struct json_schema_matcher *m = matcher(s);
    int ok = json_schema_matcher_feed(m, doc, strlen(doc)) == 0 && json_schema_matcher_done(m);
    json_schema_matcher_free(m);
    json_schema_free(s);
    return ok;
}

TEST(compile_errors_name_the_place) {
    struct { const char *schema, *want; } cases[] = {
        {"{\"type\":\"strin\"}", "unknown type 'strin'"},
        {"{\"type\":\"object\",\"properties\":{\"a\":{}},\"required\":[\"b\"]}", "required property 'b'"},
        {"{\"$ref\":\"#/$defs/missing\"}", "$ref"},
        {"{\"type\":\"object\",\"properties\":{\"x\":{\"not\":{}}}}", "schema.properties.x: 'not' is not supported"},
        {"{\"type\":\"array\",\"minItems\":3,\"maxItems\":2}", "minItems 3 is above maxItems 2"},
        {"{\"type\":\"string\",\"maxLength\":-1}", "'maxLength' must be a non-negative integer"},
        {"{\"enum\":[]}", "'enum' must be a non-empty array"},
        {"{\"anyOf\":{}}", "'anyOf' must be a non-empty array"},
        {"[1]", "expected a schema object"},
        {"{\"type\":\"array\",\"items\":{\"type\":7}}", "schema.items: 'type' must be a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char msg[512];
        struct json_schema *s = compile_text(cases[i].schema, msg, sizeof msg);
        CHECK_MSG(s == NULL, "should not compile: %s", cases[i].schema);
        CHECK_MSG(strstr(msg, cases[i].want) != NULL, "message '%s' lacks '%s'", msg, cases[i].want);
        json_schema_free(s);
    }
}

static const char *PERSON =
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":5},"
    "\"age\":{\"type\":\"integer\"},\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"red\",\"green\"]},"
    "\"maxItems\":2}},\"required\":[\"name\",\"age\"],\"additionalProperties\":false}";

TEST(objects) {
    CHECK_EQ_INT(accepts(PERSON, "{\"name\":\"Bo\",\"age\":7}"), 1);
    CHECK_EQ_INT(accepts(PERSON, "{ \"age\": -12, \"name\": \"\\u00e9\", \"tags\": [\"red\",\"green\"] }"), 1);
    CHECK_EQ_INT(accepts(PERSON, "{\"name\":\"Bo\"}"), 0);                   /* age is required */
    CHECK_EQ_INT(accepts(PERSON, "{\"name\":\"Bo\",\"age\":7,\"x\":1}"), 0);  /* no other keys */
    CHECK_EQ_INT(accepts(PERSON, "{\"name\":\"Bo\",\"name\":\"Al\",\"age\":1}"), 0); /* duplicate */
    CHECK_EQ_INT(accepts(PERSON, "{\"name\":\"Bobby!\",\"age\":7}"), 0);     /* maxLength 5 */
    CHECK_EQ_INT(accepts(PERSON, "{\"name\":\"Bo\",\"age\":7.5}"), 0);       /* integer */
    CHECK_EQ_INT(accepts(PERSON, "{\"name\":\"Bo\",\"age\":7,\"tags\":[\"blue\"]}"), 0);
    CHECK_EQ_INT(accepts(PERSON, "{\"name\":\"Bo\",\"age\":7,\"tags\":[\"red\",\"red\",\"red\"]}"), 0);
    CHECK_EQ_INT(accepts(PERSON, "{\"name\":null,\"age\":7}"), 0);
    CHECK_EQ_INT(accepts(PERSON, "[]"), 0);
    /* additional properties: absent means allowed, a schema constrains their values */
    CHECK_EQ_INT(accepts("{\"type\":\"object\"}", "{\"a\":[1,{\"b\":null}],\"c\":\"d\"}"), 1);
    CHECK_EQ_INT(accepts("{\"properties\":{\"a\":{\"type\":\"null\"}},\"additionalProperties\":{\"type\":\"boolean\"}}",
                         "{\"a\":null,\"ab\":true,\"b\":false}"), 1);
    CHECK_EQ_INT(accepts("{\"properties\":{\"a\":{\"type\":\"null\"}},\"additionalProperties\":{\"type\":\"boolean\"}}",
                         "{\"a\":true}"), 0);
    CHECK_EQ_INT(accepts("{\"properties\":{\"a\":{\"type\":\"null\"}},\"additionalProperties\":{\"type\":\"boolean\"}}",
                         "{\"b\":null}"), 0);
}

static int feed(struct json_schema_matcher *m, const char *text) {
    return json_schema_matcher_feed(m, text, strlen(text));
}

TEST(prefixes_and_dead_ends) {
    struct json_schema *s = compile_text(PERSON, NULL, 0);
    struct json_schema_matcher *m = matcher(s);
    CHECK(!json_schema_matcher_done(m));
    CHECK_EQ_INT(feed(m, "{\"na"), 0);
    CHECK_EQ_INT(feed(m, "x"), -1);   /* no key starts with "nax" */
    CHECK_EQ_INT(feed(m, "me\":\"abcde"), 0);
    CHECK_EQ_INT(feed(m, "f"), -1);   /* a sixth character */
    CHECK_EQ_INT(feed(m, "\",\"age\":1"), 0);
    CHECK(!json_schema_matcher_done(m));
    CHECK_EQ_INT(json_schema_matcher_accept(m, T_EOS), -1);
    CHECK_EQ_INT(feed(m, ",\"tags\":[\"red\",\"red\"]"), 0);
    CHECK_EQ_INT(feed(m, ","), -1);   /* every key is used: only '}' */
    CHECK_EQ_INT(feed(m, "}"), 0);
    CHECK(json_schema_matcher_done(m));
    CHECK_EQ_INT(feed(m, " "), -1);
    CHECK_EQ_INT(json_schema_matcher_accept(m, T_EOS), 0);
    json_schema_matcher_reset(m);
    CHECK(!json_schema_matcher_done(m));
    CHECK_EQ_INT(feed(m, "{}"), -1); /* required keys missing */
    json_schema_matcher_free(m);
    json_schema_free(s);
}

TEST(scalars_enums_anyof_refs) {
    CHECK_EQ_INT(accepts("{\"type\":\"integer\"}", "-120"), 1);
    CHECK_EQ_INT(accepts("{\"type\":\"integer\"}", "012"), 0);
    CHECK_EQ_INT(accepts("{\"type\":\"number\"}", "-1.5e+3"), 1);
    CHECK_EQ_INT(accepts("{\"type\":\"number\"}", "12345678901234567"), 0); /* 17 digits: capped */
    CHECK_EQ_INT(accepts("{\"type\":\"boolean\"}", "false"), 1);
    CHECK_EQ_INT(accepts("{\"type\":\"boolean\"}", "null"), 0);
    CHECK_EQ_INT(accepts("{\"type\":[\"string\",\"null\"]}", "null"), 1);
    CHECK_EQ_INT(accepts("{\"type\":[\"string\",\"null\"]}", "\"x\""), 1);
    CHECK_EQ_INT(accepts("{\"type\":[\"string\",\"null\"]}", "1"), 0);
    CHECK_EQ_INT(accepts("{\"type\":\"string\",\"minLength\":2}", "\"\xea\xb0\x80\""), 0);
    CHECK_EQ_INT(accepts("{\"type\":\"string\",\"minLength\":2}", "\"\xea\xb0\x80\\n\""), 1);
    CHECK_EQ_INT(accepts("{\"enum\":[1,12,\"a\",null,{\"k\":[true]}]}", "12"), 1);
    CHECK_EQ_INT(accepts("{\"enum\":[1,12,\"a\",null,{\"k\":[true]}]}", "1"), 1);
    CHECK_EQ_INT(accepts("{\"enum\":[1,12,\"a\",null,{\"k\":[true]}]}", "{\"k\":[true]}"), 1);
    CHECK_EQ_INT(accepts("{\"enum\":[1,12,\"a\",null,{\"k\":[true]}]}", "123"), 0);
    CHECK_EQ_INT(accepts("{\"enum\":[1,12,\"a\",null,{\"k\":[true]}]}", "\"b\""), 0);
    CHECK_EQ_INT(accepts("{\"type\":\"array\",\"items\":{\"const\":\"x\"},\"minItems\":2}", "[\"x\", \"x\"]"), 1);
    CHECK_EQ_INT(accepts("{\"type\":\"array\",\"items\":{\"const\":\"x\"},\"minItems\":2}", "[\"x\"]"), 0);
    /* anyOf of two objects that share a key: both stay alive until they differ */
    const char *two = "{\"anyOf\":[{\"properties\":{\"k\":{\"const\":1},\"a\":{\"type\":\"string\"}},"
                      "\"required\":[\"k\",\"a\"],\"additionalProperties\":false},"
                      "{\"properties\":{\"k\":{\"const\":2},\"b\":{\"type\":\"null\"}},"
                      "\"required\":[\"k\"],\"additionalProperties\":false}]}";
    CHECK_EQ_INT(accepts(two, "{\"k\":1,\"a\":\"z\"}"), 1);
    CHECK_EQ_INT(accepts(two, "{\"k\":2}"), 1);
    CHECK_EQ_INT(accepts(two, "{\"k\":2,\"b\":null}"), 1);
    CHECK_EQ_INT(accepts(two, "{\"k\":1}"), 0);
    CHECK_EQ_INT(accepts(two, "{\"k\":2,\"a\":\"z\"}"), 0);
    /* recursion through $defs */
    const char *tree = "{\"$ref\":\"#/$defs/node\",\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":"
                       "{\"v\":{\"type\":\"integer\"},\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"}}},"
                       "\"required\":[\"v\"],\"additionalProperties\":false}}}";
    CHECK_EQ_INT(accepts(tree, "{\"v\":1,\"kids\":[{\"v\":2},{\"v\":3,\"kids\":[{\"v\":4,\"kids\":[]}]}]}"), 1);
    CHECK_EQ_INT(accepts(tree, "{\"v\":1,\"kids\":[{\"w\":2}]}"), 0);
    CHECK_EQ_INT(accepts("true", "[1,{\"a\":\"b\"}]"), 1);
    CHECK_EQ_INT(accepts("{\"description\":\"anything\"}", "\"s\""), 1);
}

/* The sorted-prefix walk must allow exactly the tokens that survive on their own. */
TEST(mask_matches_brute_force) {
    struct json_schema *s = compile_text(PERSON, NULL, 0);
    struct json_schema_matcher *m = matcher(s);
    const char *prefixes[] = {"", "{", "{\"", "{\"na", "{\"name\"", "{\"name\":\"ab", "{\"name\":\"abcde",
                              "{\"name\":\"a\",\"age\":1", "{\"name\":\"a\",\"age\":0", "{\"age\":1,\"name\":\"\",\"tags\":[",
                              "{\"age\":1,\"name\":\"\",\"tags\":[\"red\"", "{\"age\":1,\"name\":\"\"}"};
    for (size_t k = 0; k < sizeof prefixes / sizeof *prefixes; k++) {
        json_schema_matcher_reset(m);
        CHECK_EQ_INT(json_schema_matcher_feed(m, prefixes[k], strlen(prefixes[k])), 0);
        float l[NV];
        for (int i = 0; i < NV; i++) l[i] = 0;
        json_schema_matcher_mask(m, l, NV);
        int n_ok = 0;
        for (int t = 0; t < NV; t++) {
            struct json_schema_matcher *b = matcher(s);
            int ok = json_schema_matcher_feed(b, prefixes[k], strlen(prefixes[k])) == 0 &&
                     json_schema_matcher_accept(b, t) == 0;
            json_schema_matcher_free(b);
            CHECK_MSG((l[t] == 0) == ok, "prefix '%s' token %d: mask %d, alone %d", prefixes[k], t, l[t] == 0, ok);
            n_ok += ok;
        }
        CHECK_MSG(n_ok > 0, "prefix '%s' is a dead end", prefixes[k]);
    }
    json_schema_matcher_free(m);
    json_schema_free(s);
}

/* ---- an independent validator for the subset, for the sampling test ---- */
static const cJSON *ROOT;

static int utf8_len(const char *s) {
    int n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static int valid(const cJSON *sch, const cJSON *v) {
    if (cJSON_IsTrue(sch)) return 1;
    const cJSON *k;
    if ((k = cJSON_GetObjectItem(sch, "$ref"))) {
        const char *name = strrchr(k->valuestring, '/') + 1;
        return valid(cJSON_GetObjectItem(cJSON_GetObjectItem(ROOT, "$defs"), name), v);
    }
    if ((k = cJSON_GetObjectItem(sch, "const"))) return cJSON_Compare(k, v, 1);
    if ((k = cJSON_GetObjectItem(sch, "enum"))) {
        const cJSON *e;
        cJSON_ArrayForEach(e, k) if (cJSON_Compare(e, v, 1)) return 1;
        return 0;
    }
    if ((k = cJSON_GetObjectItem(sch, "anyOf"))) {
        const cJSON *e;
        cJSON_ArrayForEach(e, k) if (valid(e, v)) return 1;
        return 0;
    }
    const cJSON *type = cJSON_GetObjectItem(sch, "type");
    if (cJSON_IsArray(type)) {
        const cJSON *t;
        cJSON_ArrayForEach(t, type) {
            cJSON *one = cJSON_Duplicate(sch, 1);
            cJSON_ReplaceItemInObject(one, "type", cJSON_CreateString(t->valuestring));
            int ok = valid(one, v);
            cJSON_Delete(one);
            if (ok) return 1;
        }
        return 0;
    }
    const char *t = type ? type->valuestring : "";
    if (!strcmp(t, "null")) return cJSON_IsNull(v);
    if (!strcmp(t, "boolean")) return cJSON_IsBool(v);
    if (!strcmp(t, "number")) return cJSON_IsNumber(v);
    if (!strcmp(t, "integer")) return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble);
    if (!strcmp(t, "string")) {
        if (!cJSON_IsString(v)) return 0;
        const cJSON *mx = cJSON_GetObjectItem(sch, "maxLength"), *mn = cJSON_GetObjectItem(sch, "minLength");
        int n = utf8_len(v->valuestring);
        return (!mx || n <= mx->valueint) && (!mn || n >= mn->valueint);
    }
    if (!strcmp(t, "array")) {
        if (!cJSON_IsArray(v)) return 0;
        const cJSON *mx = cJSON_GetObjectItem(sch, "maxItems"), *mn = cJSON_GetObjectItem(sch, "minItems");
        int n = cJSON_GetArraySize(v);
        if ((mx && n > mx->valueint) || (mn && n < mn->valueint)) return 0;
        const cJSON *items = cJSON_GetObjectItem(sch, "items"), *e;
        cJSON_ArrayForEach(e, v) if (items && !valid(items, e)) return 0;
        return 1;
    }
    if (!strcmp(t, "object")) {
        if (!cJSON_IsObject(v)) return 0;
        const cJSON *props = cJSON_GetObjectItem(sch, "properties"), *req = cJSON_GetObjectItem(sch, "required");
        const cJSON *add = cJSON_GetObjectItem(sch, "additionalProperties"), *e;
        cJSON_ArrayForEach(e, req) if (!cJSON_GetObjectItem(v, e->valuestring)) return 0;
        cJSON_ArrayForEach(e, v) {
            for (const cJSON *f = e->next; f; f = f->next)
                if (!strcmp(e->string, f->string)) return 0; /* duplicate keys */
            const cJSON *ps = props ? cJSON_GetObjectItem(props, e->string) : NULL;
            if (ps) { if (!valid(ps, e)) return 0; }
            else if (cJSON_IsFalse(add)) return 0;
            else if (cJSON_IsObject(add) && !valid(add, e)) return 0;
        }
        return 1;
    }
    return 1;
}

static const char *SAMPLED[] = {
    NULL, /* PERSON */
    "{\"type\":\"array\",\"items\":{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\",\"maxLength\":3},"
    "{\"type\":\"null\"}]},\"minItems\":1,\"maxItems\":4}",
    "{\"$ref\":\"#/$defs/n\",\"$defs\":{\"n\":{\"type\":\"object\",\"properties\":{\"kind\":{\"enum\":[\"cat\",\"dog\"]},"
    "\"kids\":{\"type\":\"array\",\"maxItems\":2,\"items\":{\"$ref\":\"#/$defs/n\"}}},\"required\":[\"kind\"],"
    "\"additionalProperties\":false}}}",
    "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":[\"boolean\",\"null\"]},\"b\":{\"type\":\"number\"}},"
    "\"required\":[\"a\",\"b\"],\"additionalProperties\":false}",
};

TEST(constrained_sampling_is_always_valid) {
    SAMPLED[0] = PERSON;
    struct sampler_params p = sampler_default_params();
    p.temperature = 1.0f; p.top_k = 0; p.top_p = 1; p.min_p = 0; p.seed = 4321;
    struct sampler *smp = sampler_new(&p, NV);
    uint32_t r = 7;
    for (size_t si = 0; si < sizeof SAMPLED / sizeof *SAMPLED; si++) {
        cJSON *schema_json = cJSON_Parse(SAMPLED[si]);
        ROOT = schema_json;
        struct err e = {{0}};
        struct json_schema *s = json_schema_compile(schema_json, &e);
        CHECK_MSG(s != NULL, "schema %zu: %s", si, e.msg);
        if (!s) { cJSON_Delete(schema_json); continue; }
        struct json_schema_matcher *m = matcher(s);
        sampler_set_constraint(smp, json_schema_matcher_mask, m);
        int finished = 0;
        for (int run = 0; run < 60; run++) {
            json_schema_matcher_reset(m);
            char out[8192];
            size_t n = 0;
            for (int step = 0; step < 400; step++) {
                float l[NV];
                for (int i = 0; i < NV; i++) { r = r * 1664525u + 1013904223u; l[i] = (float)(r >> 8) / (1 << 24) * 4.0f; }
                l['"'] += 2.5f; l['}'] += 3.0f; l[']'] += 3.0f; l[','] += 1.0f; l[T_EOS] += 5.0f;
                int32_t t = sampler_sample(smp, l);
                if (t < 0) { out[n] = 0; CHECK_MSG(0, "schema %zu: dead end after: %s", si, out); break; }
                CHECK_EQ_INT(json_schema_matcher_accept(m, t), 0);
                if (t == T_EOS) break;
                memcpy(out + n, P[t], L[t]);
                n += L[t];
                if (n > 8000) break;
            }
            out[n] = 0;
            if (!json_schema_matcher_done(m)) continue;
            finished++;
            cJSON *doc = cJSON_Parse(out);
            CHECK_MSG(doc != NULL, "schema %zu: does not parse: %s", si, out);
            CHECK_MSG(doc && valid(schema_json, doc), "schema %zu: not valid: %s", si, out);
            cJSON_Delete(doc);
        }
        CHECK_MSG(finished >= 30, "schema %zu: only %d of 60 finished", si, finished);
        json_schema_matcher_free(m);
        json_schema_free(s);
        cJSON_Delete(schema_json);
    }
    sampler_free(smp);
}

int main(void) {
    TEST_EXPECT(6);
    vocab_init();
    RUN(compile_errors_name_the_place);
    RUN(objects);
    RUN(prefixes_and_dead_ends);
    RUN(scalars_enums_anyof_refs);
    RUN(mask_matches_brute_force);
    RUN(constrained_sampling_is_always_valid);
    return test_summary();
}

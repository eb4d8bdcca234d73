/* The sentence filter for streamed output (src/moderation/stream_filter.c): sentences are
 * released only once checked, whatever the token cuts; a flagged sentence and everything
 * after it never comes out; a redacting check rewrites its sentence; numbers like 3.14
 * are not sentence ends; a long unpunctuated run is checked at max_hold; Korean, CJK
 * marks and newlines end sentences. The check here flags any sentence containing "BAD"
 * and redacts "010-…" phone numbers through the real rules. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "moderation/rules.h"
#include "moderation/stream_filter.h"

struct out {
    char buf[4096];
    size_t n;
    int sentences;        /* checks seen */
    char seen[32][256];   /* what each check was given */
};

static struct mod_rules *g_rules;

static int check(const char *s, size_t n, char **rep, void *user) {
    struct out *o = user;
    if (o->sentences < 32) {
        size_t k = n < 255 ? n : 255;
        memcpy(o->seen[o->sentences], s, k);
        o->seen[o->sentences][k] = 0;
    }
    o->sentences++;
    struct mod_verdict v;
    struct err e = {{0}};
    if (mod_rules_check(g_rules, s, n, &v, &e)) return -1;
    int flag = v.action == MOD_BLOCK;
    if (!flag && v.text) *rep = strdup(v.text);
    mod_verdict_free(&v);
    return flag;
}

static int release(const char *s, size_t n, void *user) {
    struct out *o = user;
    if (o->n + n >= sizeof o->buf) return -1;
    memcpy(o->buf + o->n, s, n);
    o->n += n;
    o->buf[o->n] = 0;
    return 0;
}

/* Feeds text in pieces of `piece` bytes; returns the final status and fills o. */
static int feed(const char *text, size_t piece, struct out *o, size_t max_hold) {
    memset(o, 0, sizeof *o);
    struct mod_stream s;
    mod_stream_init(&s, check, o);
    if (max_hold) s.max_hold = max_hold;
    size_t n = strlen(text);
    int rc = 0;
    for (size_t at = 0; at < n && rc == 0; at += piece) {
        size_t k = n - at < piece ? n - at : piece;
        rc = mod_stream_push(&s, text + at, k, release, o);
        /* the invariant: nothing unchecked is ever out */
        CHECK_MSG(o->n <= at + k + 64, "released more than came in");
    }
    if (rc == 0) rc = mod_stream_flush(&s, release, o);
    mod_stream_free(&s);
    return rc;
}

static void every_cut(const char *text, int want_rc, const char *want_out) {
    size_t n = strlen(text);
    for (size_t piece = 1; piece <= n; piece++) {
        struct out o;
        int rc = feed(text, piece, &o, 0);
        CHECK_MSG(rc == want_rc, "pieces of %zu: rc %d, want %d (\"%s\")", piece, rc, want_rc, text);
        CHECK_MSG(!strcmp(o.buf, want_out), "pieces of %zu: out \"%s\", want \"%s\"", piece, o.buf, want_out);
    }
}

TEST(clean_text_passes_whole) {
    every_cut("안녕하세요. 오늘 날씨가 좋네요! 무엇을 도와드릴까요?", 0, "안녕하세요. 오늘 날씨가 좋네요! 무엇을 도와드릴까요?");
    every_cut("Pi is 3.14, e is 2.71... Done", 0, "Pi is 3.14, e is 2.71... Done");
    every_cut("line one\n\nline two", 0, "line one\n\nline two");
}

TEST(flagged_sentence_never_shown) {
    every_cut("첫 문장입니다. 이건 BAD 문장이에요. 마지막 문장.", 1, "첫 문장입니다. ");
    every_cut("BAD from the start. Rest.", 1, "");
    every_cut("Fine. Also fine. Ends BAD", 1, "Fine. Also fine. ");
}

TEST(redaction_rewrites_the_sentence) {
    every_cut("전화번호는 010-1234-5678 입니다. 감사합니다.", 0, "전화번호는 [PHONE] 입니다. 감사합니다.");
}

TEST(sentence_boundaries) {
    struct out o;
    CHECK_EQ_INT(feed("中文句子。日本語の文！한국어 문장？끝", 1, &o, 0), 0);
    CHECK_EQ_INT(o.sentences, 4);
    CHECK_STR(o.seen[0], "中文句子。");
    CHECK_STR(o.seen[2], "한국어 문장？");
    CHECK_EQ_INT(feed("Version 1.2.3 is out. Yes!", 3, &o, 0), 0);
    CHECK_EQ_INT(o.sentences, 2);
    CHECK_STR(o.seen[0], "Version 1.2.3 is out. ");
}

TEST(long_runs_do_not_stall) {
    char text[2048];
    size_t n = 0;
    for (int i = 0; i < 150; i++) n += (size_t)snprintf(text + n, sizeof text - n, "단어%d ", i);
    struct out o;
    memset(&o, 0, sizeof o);
    struct mod_stream s;
    mod_stream_init(&s, check, &o);
    s.max_hold = 100;
    size_t max_held = 0;
    for (size_t at = 0; at < n; at += 7) {
        size_t k = n - at < 7 ? n - at : 7;
        CHECK(mod_stream_push(&s, text + at, k, release, &o) == 0);
        if (s.n_held > max_held) max_held = s.n_held;
    }
    CHECK(mod_stream_flush(&s, release, &o) == 0);
    CHECK_MSG(max_held <= 100 + 7, "held %zu bytes", max_held);
    CHECK_EQ_INT(o.n, n);
    CHECK(!memcmp(o.buf, text, n));
    CHECK(o.sentences > 5);
    /* forced cuts land on character boundaries: every check saw valid UTF-8 starts */
    for (int i = 0; i < o.sentences && i < 32; i++) CHECK(((unsigned char)o.seen[i][0] & 0xC0) != 0x80);
    mod_stream_free(&s);
}

int main(void) {
    const char *p = "{\"rules\":[{\"name\":\"bad\",\"type\":\"words\",\"words\":[\"BAD\"],\"action\":\"block\"},"
                    "{\"name\":\"pii\",\"type\":\"pii\",\"kinds\":[\"phone\"],\"action\":\"redact\"}]}";
    struct err e = {{0}};
    g_rules = mod_rules_parse(p, strlen(p), &e);
    if (!g_rules) { fprintf(stderr, "policy: %s\n", e.msg); return 1; }
    TEST_EXPECT(5);
    RUN(clean_text_passes_whole);
    RUN(flagged_sentence_never_shown);
    RUN(redaction_rewrites_the_sentence);
    RUN(sentence_boundaries);
    RUN(long_runs_do_not_stall);
    mod_rules_free(g_rules);
    return test_summary();
}

/* Stop strings over a token stream: held-back text, stops split across pieces,
 * the earliest of several stops, and pass-through when there are none. */
#include "runtime/stop_match.h"
#include "test.h"

/* Feeds pieces one by one; returns the released text and whether a stop hit. */
static int feed(const char *const *stop, int n_stop, const char *const *pieces, int n, char *out, size_t cap) {
    struct stop_match m;
    stop_match_init(&m, stop, n_stop);
    size_t used = 0;
    int hit = 0;
    for (int i = 0; i < n && !hit; i++) {
        const char *o;
        size_t on;
        hit = stop_match_push(&m, pieces[i], strlen(pieces[i]), &o, &on);
        if (used + on < cap) { memcpy(out + used, o, on); used += on; }
    }
    if (!hit) {
        const char *o;
        size_t on;
        stop_match_flush(&m, &o, &on);
        if (used + on < cap) { memcpy(out + used, o, on); used += on; }
    }
    out[used] = 0;
    stop_match_free(&m);
    return hit;
}

TEST(no_stop_passes_through) {
    const char *p[] = {"Once", " upon", " a time"};
    char out[64];
    CHECK(feed(NULL, 0, p, 3, out, sizeof out) == 0);
    CHECK_STR(out, "Once upon a time");
}

TEST(stop_split_across_pieces) {
    const char *stop[] = {"\nUser:"};
    const char *p[] = {"Hi there.", "\nUs", "er:", " more"};
    char out[64];
    CHECK(feed(stop, 1, p, 4, out, sizeof out) == 1);
    CHECK_STR(out, "Hi there.");
}

TEST(held_text_released_when_not_a_stop) {
    const char *stop[] = {"END"};
    struct stop_match m;
    stop_match_init(&m, stop, 1);
    const char *o;
    size_t on;
    CHECK(stop_match_push(&m, "abcE", 4, &o, &on) == 0);
    CHECK(on == 3 && !memcmp(o, "abc", 3));          /* "E" may start "END" */
    CHECK(stop_match_push(&m, "N", 1, &o, &on) == 0);
    CHECK(on == 0);                                     /* "EN" still may */
    CHECK(stop_match_push(&m, "x", 1, &o, &on) == 0);
    CHECK(on == 3 && !memcmp(o, "ENx", 3));
    stop_match_free(&m);
}

TEST(earliest_of_several_stops) {
    const char *stop[] = {"world", "lo w"};
    const char *p[] = {"hello world"};
    char out[64];
    CHECK(feed(stop, 2, p, 1, out, sizeof out) == 1);
    CHECK_STR(out, "hel");
}

TEST(flush_releases_partial_prefix) {
    const char *stop[] = {"###"};
    const char *p[] = {"answer #", "#"};
    char out[64];
    CHECK(feed(stop, 1, p, 2, out, sizeof out) == 0);
    CHECK_STR(out, "answer ##");
}

/* hit names the stop string found (1-based): the earliest in the text, not in the list. */
TEST(hit_names_the_stop_string) {
    const char *stop[] = {"world", "lo w"};
    struct stop_match m;
    stop_match_init(&m, stop, 2);
    const char *o;
    size_t on;
    CHECK(m.hit == 0);
    CHECK(stop_match_push(&m, "hel", 3, &o, &on) == 0 && m.hit == 0);
    CHECK(stop_match_push(&m, "lo world", 8, &o, &on) == 1);
    CHECK(m.hit == 2);
    stop_match_free(&m);
    stop_match_init(&m, stop, 2);
    CHECK(stop_match_push(&m, "a world", 7, &o, &on) == 1 && m.hit == 1);
    stop_match_free(&m);
}

int main(void) {
    TEST_EXPECT(6);
    RUN(no_stop_passes_through);
    RUN(stop_split_across_pieces);
    RUN(held_text_released_when_not_a_stop);
    RUN(earliest_of_several_stops);
    RUN(hit_names_the_stop_string);
    RUN(flush_releases_partial_prefix);
    return test_summary();
}

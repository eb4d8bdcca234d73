/* libFuzzer target for the moderation parsers (src/moderation/): a policy file, the
 * rules and PII detectors over text, and the guard answer parsers. The input is a policy
 * (JSON), a NUL byte, then the text to check; without a NUL it is text only, checked by
 * a fixed policy. Invariants: every hit and PII span lies inside the text, PII spans are
 * ascending and disjoint, a redacted text never grows by more than its replacements,
 * and a guard answer parses to a known safety value. Built by tests/fuzz/build.sh;
 * tests/fuzz/test_fuzz_moderation.c replays the corpus. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "moderation/guard.h"
#include "moderation/pii.h"
#include "moderation/rules.h"

static struct mod_rules *g_fixed;

static int fuzz_setup(void) {
    if (g_fixed) return 0;
    static const char *p = "{\"rules\":[{\"name\":\"w\",\"type\":\"words\",\"words\":[\"바보\",\"idiot\",\"a.b\"],"
                           "\"action\":\"block\"},{\"name\":\"r\",\"type\":\"regex\",\"pattern\":\"(x+)+y\",\"action\":\"warn\"},"
                           "{\"name\":\"p\",\"type\":\"pii\",\"action\":\"redact\"},"
                           "{\"name\":\"ok\",\"type\":\"regex\",\"pattern\":\"ok@ok\\\\.com\",\"action\":\"allow\"}]}";
    struct err e = {{0}};
    g_fixed = mod_rules_parse(p, strlen(p), &e);
    return g_fixed ? 0 : -1;
}

static void check_text(const struct mod_rules *r, const char *t, size_t n) {
    struct mod_verdict v;
    struct err e = {{0}};
    if (mod_rules_check(r, t, n, &v, &e)) return;  /* out of memory */
    for (int i = 0; i < v.n_hits; i++)
        if (v.hits[i].start > n || v.hits[i].len > n - v.hits[i].start || !v.hits[i].len) abort();
    if (v.text && strlen(v.text) > n + (size_t)v.n_hits * 64) abort();
    mod_verdict_free(&v);
    struct pii_match *m;
    int k;
    if (pii_find(t, n, PII_ALL, &m, &k, &e)) return;
    for (int i = 0; i < k; i++) {
        if (m[i].start > n || m[i].len > n - m[i].start || !m[i].len) abort();
        if (i && m[i].start < m[i - 1].start + m[i - 1].len) abort();
    }
    free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fuzz_setup()) return 0;
    const uint8_t *nul = memchr(data, 0, size);
    char *text;
    size_t n;
    struct mod_rules *r = g_fixed, *mine = NULL;
    if (nul) {
        struct err e = {{0}};
        mine = mod_rules_parse((const char *)data, (size_t)(nul - data), &e);
        if (mine) r = mine;
        n = size - (size_t)(nul - data) - 1;
        text = malloc(n + 1);
        if (!text) abort();
        memcpy(text, nul + 1, n);
    } else {
        n = size;
        text = malloc(n + 1);
        if (!text) abort();
        memcpy(text, data, n);
    }
    text[n] = 0;
    check_text(r, text, n);
    /* the guard parsers read the same bytes as a model's answer (up to a NUL) */
    for (int f = 0; f < 3; f++) {
        struct guard_verdict v;
        guard_parse((enum guard_family)f, (int)(n % SG_N_POLICIES), text, &v);
        if (v.safety < GUARD_SAFE || v.safety > GUARD_UNPARSED || v.n_raw < 0 || v.n_raw > 8) abort();
    }
    mod_rules_free(mine);
    free(text);
    return 0;
}

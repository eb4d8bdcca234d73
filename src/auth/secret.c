/* Password hashing, tokens, cookies and the Origin check; see secret.h. */
#include "auth/secret.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "core/log.h"

_Static_assert(AUTH_PWHASH_BYTES == crypto_pwhash_STRBYTES, "crypto_pwhash_STRBYTES changed");

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
/* The Argon2id cost of new hashes: libsodium's interactive level (2 passes over 64 MiB).
 * Test only: OMNI_TEST_FAST_PWHASH=1 makes it the minimum (1 pass, 1 MiB) so that the
 * account tests' dozens of sign-ups and logins take milliseconds on a busy machine; a
 * hash carries its own cost, so verification is the same either way. */
static unsigned long long hash_ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
static size_t hash_mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
static int init_rc = -1;
static char burn_hash[AUTH_PWHASH_BYTES];

/* At most this many Argon2id computations at once (64 MiB each). */
#define HASH_SLOTS 4
static pthread_mutex_t slot_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slot_cv = PTHREAD_COND_INITIALIZER;
static int slots_busy;

static void slot_take(void) {
    pthread_mutex_lock(&slot_mu);
    while (slots_busy >= HASH_SLOTS) pthread_cond_wait(&slot_cv, &slot_mu);
    slots_busy++;
    pthread_mutex_unlock(&slot_mu);
}

static void slot_give(void) {
    pthread_mutex_lock(&slot_mu);
    slots_busy--;
    pthread_cond_signal(&slot_cv);
    pthread_mutex_unlock(&slot_mu);
}

static void do_init(void) {
    if (sodium_init() < 0) return;
    const char *fast = getenv("OMNI_TEST_FAST_PWHASH");
    if (fast && !strcmp(fast, "1")) {
        hash_ops = crypto_pwhash_OPSLIMIT_MIN;
        hash_mem = 1u << 20;
        log_warn("OMNI_TEST_FAST_PWHASH=1: password hashes use the minimum cost (for tests only)");
    }
    char pw[AUTH_TOKEN_CHARS + 1];
    auth_token_new(pw);
    if (crypto_pwhash_str(burn_hash, pw, strlen(pw), hash_ops, hash_mem))
        return;
    init_rc = 0;
}

int auth_init(struct err *e) {
    pthread_once(&init_once, do_init);
    if (init_rc) return err_set(e, "cannot initialise libsodium (out of memory?)");
    return 0;
}

int auth_password_acceptable(const char *pw, struct err *e) {
    size_t n = pw ? strlen(pw) : 0;
    if (n < AUTH_PASSWORD_MIN) return err_set(e, "the password must have at least %d characters", AUTH_PASSWORD_MIN);
    if (n > AUTH_PASSWORD_MAX) return err_set(e, "the password must have at most %d bytes", AUTH_PASSWORD_MAX);
    return 0;
}

int auth_password_hash(const char *pw, char out[AUTH_PWHASH_BYTES], struct err *e) {
    if (auth_password_acceptable(pw, e)) return -1;
    if (auth_init(e)) return -1;
    slot_take();
    int rc = crypto_pwhash_str(out, pw, strlen(pw), hash_ops, hash_mem);
    slot_give();
    if (rc) return err_set(e, "out of memory while hashing the password");
    return 0;
}

int auth_password_verify(const char *stored, const char *pw) {
    if (!stored || !pw || strlen(pw) > AUTH_PASSWORD_MAX || auth_init(NULL)) return 0;
    if (strncmp(stored, crypto_pwhash_STRPREFIX, strlen(crypto_pwhash_STRPREFIX))) return 0;
    slot_take();
    int rc = crypto_pwhash_str_verify(stored, pw, strlen(pw));
    slot_give();
    return rc == 0;
}

void auth_password_burn(const char *pw) {
    if (auth_init(NULL)) return;
    (void)auth_password_verify(burn_hash, pw ? pw : "");
}

void auth_token_new(char out[AUTH_TOKEN_CHARS + 1]) {
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, AUTH_TOKEN_CHARS + 1, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}

void auth_token_hash(const char *token, char out_hex[65]) {
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
    sodium_bin2hex(out_hex, 65, h, sizeof h);
}

void auth_key_new(char out[AUTH_KEY_CHARS + 1]) {
    memcpy(out, AUTH_KEY_PREFIX, 8);
    auth_token_new(out + 8);
}

int auth_key_looks_like(const char *s) {
    if (!s || strncmp(s, AUTH_KEY_PREFIX, 8) || strlen(s) != AUTH_KEY_CHARS) return 0;
    for (const char *p = s + 8; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') return 0;
    return 1;
}

int auth_cookie_header(char *out, size_t cap, const char *token, long max_age_s, int secure) {
    int n = snprintf(out, cap, "Set-Cookie: %s=%s; HttpOnly; SameSite=Lax; Path=/; Max-Age=%ld%s\r\n", AUTH_COOKIE,
                     token ? token : "", token ? max_age_s : 0L, secure ? "; Secure" : "");
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

int auth_cookie_get(const char *h, const char *name, char *out, size_t cap) {
    size_t nl = strlen(name);
    while (h && *h) {
        while (*h == ' ' || *h == '\t' || *h == ';') h++;
        const char *eq = strchr(h, '='), *semi = strchr(h, ';');
        if (!eq || (semi && semi < eq)) { h = semi; continue; }
        const char *v = eq + 1, *ve = semi ? semi : v + strlen(v);
        size_t kn = (size_t)(eq - h);
        while (kn && (h[kn - 1] == ' ' || h[kn - 1] == '\t')) kn--;
        if (kn == nl && !memcmp(h, name, nl)) {
            while (v < ve && *v == ' ') v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            if (ve - v >= 2 && *v == '"' && ve[-1] == '"') { v++; ve--; }
            size_t n = (size_t)(ve - v);
            if (n == 0 || n >= cap) return 0;
            memcpy(out, v, n);
            out[n] = 0;
            return 1;
        }
        h = semi;
    }
    return 0;
}

int auth_bearer_get(const char *h, char *out, size_t cap) {
    if (!h) return 0;
    while (isspace((unsigned char)*h)) h++;
    if (strncasecmp(h, "Bearer ", 7)) return 0;
    h += 7;
    while (*h == ' ') h++;
    size_t n = strlen(h);
    while (n && isspace((unsigned char)h[n - 1])) n--;
    if (!n || n >= cap) return 0;
    memcpy(out, h, n);
    out[n] = 0;
    return 1;
}

/* The host[:port] of an absolute URL ("https://a.b:8080/x" -> "a.b:8080"), or NULL. */
static const char *url_authority(const char *url, size_t *len) {
    const char *p = strstr(url, "://");
    if (!p) return NULL;
    p += 3;
    const char *at = p;
    while (*at && *at != '/' && *at != '?' && *at != '#') at++;
    const char *user = memchr(p, '@', (size_t)(at - p)); /* drop user:pass@ */
    if (user) p = user + 1;
    *len = (size_t)(at - p);
    return *len ? p : NULL;
}

int auth_origin_matches(const char *origin, const char *referer, const char *host) {
    if (!host || !*host) return 0;
    const char *src = origin && *origin ? origin : referer;
    if (!src || !*src || !strcmp(src, "null")) return 0;
    size_t n;
    const char *a = url_authority(src, &n);
    if (!a) return 0;
    size_t hn = strlen(host);
    while (hn && host[hn - 1] == ' ') hn--;
    if (n == hn && !strncasecmp(a, host, n)) return 1;
    /* a default port may be left out on one side only */
    int https = !strncasecmp(src, "https:", 6);
    const char *dflt = https ? ":443" : ":80";
    size_t dl = strlen(dflt);
    if (n == hn + dl && !strncasecmp(a, host, hn) && !strncasecmp(a + hn, dflt, dl)) return 1;
    if (hn == n + dl && !strncasecmp(a, host, n) && !strncasecmp(host + n, dflt, dl)) return 1;
    return 0;
}

/* The secrets of accounts: Argon2id password hashes (libsodium's crypto_pwhash_str, so
 * the salt and the cost parameters travel inside the stored string), random 256-bit
 * session tokens and API keys that the database only ever sees as SHA-256 hashes (a
 * leaked table then logs nobody in), and the session cookie that carries a token. */
#ifndef OMNI_AUTH_SECRET_H
#define OMNI_AUTH_SECRET_H
#include <stddef.h>

#include "core/error.h"

/* Once per process before any other call here (libsodium's sodium_init); thread-safe
 * and idempotent. Returns 0, or -1 with e set. */
int auth_init(struct err *e);

/* Room for an encoded hash: libsodium's crypto_pwhash_STRBYTES (128). */
#define AUTH_PWHASH_BYTES 128
#define AUTH_PASSWORD_MIN 8
#define AUTH_PASSWORD_MAX 1024

/* Checks the length rules (AUTH_PASSWORD_MIN..MAX bytes); 0 or -1 with a message for
 * the user in e. */
int auth_password_acceptable(const char *password, struct err *e);
/* Argon2id, libsodium's interactive cost (2 passes over 64 MiB). At most a few hashes
 * run at once (the rest wait), so a burst of logins cannot take the memory of a
 * hundred. Returns 0, or -1 (out of memory, password unacceptable). */
int auth_password_hash(const char *password, char out[AUTH_PWHASH_BYTES], struct err *e);
/* 1 when password matches the stored hash, 0 when not (or the hash is not one of ours). */
int auth_password_verify(const char *stored_hash, const char *password);
/* Runs a verification against a fixed hash, so that a login for an unknown account
 * takes as long as one with a wrong password (no account enumeration by timing). */
void auth_password_burn(const char *password);

/* A random 256-bit token as 43 base64url characters (no padding). */
#define AUTH_TOKEN_CHARS 43
void auth_token_new(char out[AUTH_TOKEN_CHARS + 1]);
/* The hash that is stored for a token or key: SHA-256 of its text, as 64 hex digits. */
void auth_token_hash(const char *token, char out_hex[65]);

/* API keys: "sk-omni-" + a token; the first AUTH_KEY_PREFIX_CHARS characters are kept
 * in the clear so a list can show which key is which ("sk-omni-AbCd…"). */
#define AUTH_KEY_PREFIX "sk-omni-"
#define AUTH_KEY_CHARS (8 + AUTH_TOKEN_CHARS)
#define AUTH_KEY_PREFIX_CHARS 12
void auth_key_new(char out[AUTH_KEY_CHARS + 1]);
/* 1 when s has the shape of one of our keys (so other bearer strings go to the static list). */
int auth_key_looks_like(const char *s);

/* The session cookie's name. */
#define AUTH_COOKIE "omni_session"
/* Writes a complete "Set-Cookie: ...\r\n" header line: the token (NULL: clears the
 * cookie), HttpOnly, SameSite=Lax, Path=/, Max-Age, and Secure when served over TLS.
 * Returns the length, or -1 when cap is too small. */
int auth_cookie_header(char *out, size_t cap, const char *token, long max_age_s, int secure);
/* Finds cookie `name` in a Cookie request header and copies its value (at most cap-1
 * bytes; longer values are refused). Returns 1 when found, else 0. */
int auth_cookie_get(const char *cookie_header, const char *name, char *out, size_t cap);
/* The token of "Authorization: Bearer TOKEN" (whitespace trimmed) into out; 1 when found. */
int auth_bearer_get(const char *authorization, char *out, size_t cap);

/* CSRF: a state-changing request authenticated by cookie must come from our own pages.
 * Browsers send Origin on every cross-site POST/PATCH/DELETE (and most same-site ones);
 * when Origin is absent, Referer stands in. Returns 1 when the one present names the
 * same host[:port] as the Host header (case-insensitive), 0 when it is foreign, "null",
 * or both are missing. */
int auth_origin_matches(const char *origin, const char *referer, const char *host);

#endif

/* API keys: when any are configured, every /v1 route needs "Authorization: Bearer KEY".
 * Keys come from --api-key flags or a file with one key per line. */
#ifndef OMNI_API_AUTH_H
#define OMNI_API_AUTH_H
#include "core/error.h"

struct api_keys {
    char **key;
    int n;
};

/* Adds a copy of key (surrounding whitespace trimmed; empty keys rejected). */
int api_keys_add(struct api_keys *k, const char *key, struct err *e);
/* Reads one key per line; blank lines and lines starting with '#' are skipped. */
int api_keys_load_file(struct api_keys *k, const char *path, struct err *e);
void api_keys_free(struct api_keys *k);
/* 1 when no keys are configured or the header carries one of them ("Bearer KEY"). */
int api_keys_check(const struct api_keys *k, const char *authorization_header);
/* The same for a bare key, as Anthropic's clients send it ("x-api-key: KEY"). */
int api_keys_check_key(const struct api_keys *k, const char *key);

#endif

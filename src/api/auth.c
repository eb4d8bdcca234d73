/* API key storage and checking; see auth.h. */
#include "api/auth.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int api_keys_add(struct api_keys *k, const char *key, struct err *e) {
    while (isspace((unsigned char)*key)) key++;
    size_t n = strlen(key);
    while (n && isspace((unsigned char)key[n - 1])) n--;
    if (!n) return err_set(e, "an API key must not be empty");
    char **grown = realloc(k->key, (size_t)(k->n + 1) * sizeof *grown);
    if (!grown) return err_set(e, "out of memory");
    k->key = grown;
    if (!(k->key[k->n] = strndup(key, n))) return err_set(e, "out of memory");
    k->n++;
    return 0;
}

int api_keys_load_file(struct api_keys *k, const char *path, struct err *e) {
    FILE *f = fopen(path, "r");
    if (!f) return err_set(e, "%s: cannot open the API keys file", path);
    char line[1024];
    int lineno = 0, before = k->n;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line;
        while (isspace((unsigned char)*p)) p++;
        if (!*p || *p == '#') continue;
        if (api_keys_add(k, p, e)) { fclose(f); return err_prefix(e, "%s:%d: ", path, lineno); }
    }
    fclose(f);
    if (k->n == before) return err_set(e, "%s: no API keys in the file (expected one key per line)", path);
    return 0;
}

void api_keys_free(struct api_keys *k) {
    for (int i = 0; i < k->n; i++) free(k->key[i]);
    free(k->key);
    k->key = NULL;
    k->n = 0;
}

/* Compares in time independent of where the strings differ, so response timing
 * does not reveal how much of a guessed key was right. */
static int same_secret(const char *a, size_t na, const char *b, size_t nb) {
    unsigned diff = (unsigned)(na ^ nb);
    for (size_t i = 0; i < na; i++) diff |= (unsigned char)a[i] ^ (unsigned char)(nb ? b[i % nb] : 0);
    return diff == 0;
}

int api_keys_check(const struct api_keys *k, const char *h) {
    if (!k || k->n == 0) return 1;
    if (!h) return 0;
    while (isspace((unsigned char)*h)) h++;
    if (strncasecmp(h, "Bearer ", 7)) return 0;
    return api_keys_check_key(k, h + 7);
}

int api_keys_check_key(const struct api_keys *k, const char *h) {
    if (!k || k->n == 0) return 1;
    if (!h) return 0;
    while (*h == ' ') h++;
    size_t n = strlen(h);
    while (n && isspace((unsigned char)h[n - 1])) n--;
    int ok = 0;
    for (int i = 0; i < k->n; i++) ok |= same_secret(h, n, k->key[i], strlen(k->key[i]));
    return ok;
}

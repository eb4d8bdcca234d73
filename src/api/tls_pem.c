/* Joins --tls-key and --tls-cert into the single PEM file civetweb's ssl_certificate
 * option wants (see tls_pem.h). The files are checked for PEM markers so a mix-up
 * is reported by name instead of as an OpenSSL error at start-up. */
#include "api/tls_pem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *slurp(const char *path, size_t *n, struct err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) { err_set(e, "%s: cannot open the file", path); return NULL; }
    size_t cap = 4096, len = 0;
    char *b = malloc(cap + 1);
    while (b) {
        size_t k = fread(b + len, 1, cap - len, f);
        len += k;
        if (len < cap) break;
        if (cap >= (1u << 20)) { free(b); b = NULL; err_set(e, "%s: larger than 1 MiB, not a PEM file", path); break; }
        char *g = realloc(b, cap * 2 + 1);
        if (!g) { free(b); b = NULL; err_set(e, "out of memory"); break; }
        b = g;
        cap *= 2;
    }
    fclose(f);
    if (!b) return NULL;
    b[len] = 0;
    *n = len;
    return b;
}

int api_tls_pem_join(const char *cert, const char *key, char *out, size_t cap, struct err *e) {
    size_t nc = 0, nk = 0;
    (void)api_tls_compat_linked();
    if (!api_tls_available())
        return err_set(e, "TLS is not available in sanitizer builds off x86-64 (Debian's civetweb needs a dlsym "
                          "shim for OpenSSL 3 that only runs beside a sanitizer there); use a normal build for "
                          "--tls-cert");
    char *c = slurp(cert, &nc, e), *k = NULL;
    if (!c) return -1;
    if (!strstr(c, "-----BEGIN CERTIFICATE-----")) {
        free(c);
        return err_set(e, "%s: no PEM certificate (-----BEGIN CERTIFICATE-----) in --tls-cert", cert);
    }
    if (key && strcmp(key, cert)) {
        if (!(k = slurp(key, &nk, e))) { free(c); return -1; }
    }
    if (!strstr(k ? k : c, "PRIVATE KEY-----")) {
        free(c);
        free(k);
        return err_set(e, "%s: no PEM private key (-----BEGIN PRIVATE KEY-----) in --tls-key", key ? key : cert);
    }
    const char *dir = getenv("TMPDIR");
    snprintf(out, cap, "%s/omni-tls-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(out); /* mode 0600: the key stays private */
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        if (fd >= 0) { close(fd); unlink(out); }
        free(c);
        free(k);
        return err_set(e, "cannot create a temporary file for the TLS key in %s", dir && *dir ? dir : "/tmp");
    }
    int ok = (!k || (fwrite(k, 1, nk, f) == nk && fputc('\n', f) != EOF)) && fwrite(c, 1, nc, f) == nc;
    ok = (fclose(f) == 0) && ok;
    free(c);
    free(k);
    if (!ok) { unlink(out); return err_set(e, "cannot write the temporary TLS file %s", out); }
    return 0;
}

/* TLS for `omni serve --tls-cert F --tls-key F`: civetweb reads the certificate and the
 * private key from one PEM file, so the two given files are joined into a private
 * temporary one for the duration of start-up. */
#ifndef OMNI_API_TLS_PEM_H
#define OMNI_API_TLS_PEM_H
#include <stddef.h>

#include "core/error.h"

/* Writes key then certificate into a new 0600 file under $TMPDIR (or /tmp) and puts
 * its path in out. key may be NULL or equal to cert (one file holding both). The
 * caller unlinks it once civetweb has loaded it. */
int api_tls_pem_join(const char *cert, const char *key, char *out, size_t cap, struct err *e);

/* Referenced by the server so the dlsym shim in tls_compat.c (OpenSSL 3 vs Debian's
 * civetweb) is linked into every binary that can serve TLS. */
int api_tls_compat_linked(void);
/* 1 where the shim works: x86-64 always, elsewhere not in sanitizer builds (tls_compat.c). */
int api_tls_available(void);

#endif

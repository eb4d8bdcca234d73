/* Debian's civetweb 1.15 loads libssl with dlopen/dlsym and asks for
 * SSL_get_peer_certificate, which OpenSSL 3 only has as a macro for
 * SSL_get1_peer_certificate: the lookup yields NULL and every HTTPS connection then
 * crashes. civetweb resolves dlsym through the executable, so this definition answers
 * for it, renames that one symbol and forwards everything else to libc's dlsym. */
#include <dlfcn.h>
#include <stddef.h>
#include <string.h>

#include "api/tls_pem.h"

/* GCC says __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__; clang before 15 only __has_feature. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define OMNI_SANITIZER_BUILD 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(OMNI_SANITIZER_BUILD)
/* AddressSanitizer (ThreadSanitizer likewise) finds the functions it wraps with dlsym(RTLD_NEXT, …) before main.
 * RTLD_NEXT means "after the caller's object", and through an interposed dlsym the
 * caller would be this file, not the sanitizer runtime: it crashes at start-up. So
 * sanitizer builds go without the shim, and `omni serve` refuses TLS in them with a
 * message instead of crashing on the first HTTPS connection. */
int api_tls_available(void) { return 0; }
#else
/* Note: a library that calls dlsym(RTLD_NEXT, …) itself would have "next" counted from
 * the executable here, not from that library. None of ours does. */
typedef void *(*dlsym_fn)(void *, const char *);

int api_tls_available(void) { return 1; }

void *dlsym(void *handle, const char *name) {
    static dlsym_fn real;
    if (!real) real = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
    if (!real) real = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
    if (!real) return NULL;
    if (!strcmp(name, "SSL_get_peer_certificate")) {
        void *f = real(handle, name);
        return f ? f : real(handle, "SSL_get1_peer_certificate");
    }
    return real(handle, name);
}
#endif

int api_tls_compat_linked(void) { return 1; }

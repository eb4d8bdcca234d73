/* Debian's civetweb 1.15 loads libssl with dlopen/dlsym and asks for
 * SSL_get_peer_certificate, which OpenSSL 3 only has as a macro for
 * SSL_get1_peer_certificate: the lookup yields NULL and every HTTPS connection then
 * crashes. civetweb resolves dlsym through the executable, so this definition answers
 * for it, renames that one symbol and forwards everything else to libc's dlsym.
 *
 * The catch is RTLD_NEXT (and RTLD_DEFAULT): glibc's dlsym decides "next after whom"
 * from its return address. A C wrapper that calls the real dlsym makes every caller
 * look like the executable; the sanitizer runtimes, which find what they intercept
 * with dlsym(RTLD_NEXT, "malloc") before main, would then get their own interceptors
 * back and crash at start-up (ASan and TSan both did). So on x86-64 dlsym is a
 * few instructions of assembly: for RTLD_NEXT and RTLD_DEFAULT it jumps (not calls)
 * into libc's dlsym with the caller's return address still on the stack, which keeps
 * glibc's answer exactly what it would have been without us; only lookups in a
 * specific library's handle (civetweb's dlsym(libssl, …)) go through the C part.
 * That works in sanitizer builds too, so their `omni serve` speaks TLS like any other. */
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
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define OMNI_SANITIZER_BUILD 1
#endif

typedef void *(*dlsym_fn)(void *, const char *);

#if defined(__x86_64__) && defined(__ELF__)
/* The sanitizer runtimes call dlsym before they have set themselves up (ASan before its
 * shadow memory exists), so nothing here may be instrumented. */
#define OMNI_DLSYM_RAW __attribute__((no_sanitize("address", "thread", "undefined")))
#define OMNI_DLSYM_ASM __attribute__((used, visibility("hidden"))) /* named in the assembly */

/* libc's dlsym once found; read by the assembly below (uninstrumented), written (same
 * value) by whichever thread resolves it first. */
OMNI_DLSYM_ASM dlsym_fn omni_real_dlsym;

OMNI_DLSYM_RAW OMNI_DLSYM_ASM void *omni_resolve_dlsym(void) {
    /* RTLD_NEXT from the executable: the first dlsym after ours, i.e. libc's */
    dlsym_fn f = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
    if (!f) f = (dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
    __atomic_store_n(&omni_real_dlsym, f, __ATOMIC_RELEASE);
    return (void *)f;
}

/* not strcmp: a sanitizer may intercept it, and this runs before they are ready */
static OMNI_DLSYM_RAW int same_name(const char *a, const char *b) {
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

/* dlsym(handle, name) for a real handle, where the caller does not matter */
OMNI_DLSYM_RAW OMNI_DLSYM_ASM void *omni_dlsym_handle(void *handle, const char *name) {
    dlsym_fn real = __atomic_load_n(&omni_real_dlsym, __ATOMIC_ACQUIRE);
    if (!real) real = (dlsym_fn)omni_resolve_dlsym();
    if (!real) return NULL;
    void *f = real(handle, name);
    if (!f && same_name(name, "SSL_get_peer_certificate")) f = real(handle, "SSL_get1_peer_certificate");
    return f;
}

/* void *dlsym(void *handle, const char *name): rdi = handle, rsi = name.
 * RTLD_NEXT is (void *)-1, RTLD_DEFAULT is 0; both tail-jump into libc's dlsym. */
__asm__(".text\n"
        ".globl dlsym\n"
        ".type dlsym, @function\n"
        "dlsym:\n"
        "  endbr64\n"
        "  cmpq $-1, %rdi\n"
        "  je 1f\n"
        "  testq %rdi, %rdi\n"
        "  je 1f\n"
        "  jmp omni_dlsym_handle\n"
        "1:\n"
        "  movq omni_real_dlsym(%rip), %rax\n"
        "  testq %rax, %rax\n"
        "  jz 2f\n"
        "  jmp *%rax\n"
        "2:\n" /* first call: resolve, keeping the arguments and 16-byte stack alignment */
        "  pushq %rdi\n"
        "  pushq %rsi\n"
        "  subq $8, %rsp\n"
        "  call omni_resolve_dlsym\n"
        "  addq $8, %rsp\n"
        "  popq %rsi\n"
        "  popq %rdi\n"
        "  testq %rax, %rax\n"
        "  jz 3f\n"
        "  jmp *%rax\n"
        "3:\n"
        "  xorl %eax, %eax\n"
        "  ret\n"
        ".size dlsym, .-dlsym\n");

int api_tls_available(void) { return 1; }

#elif defined(OMNI_SANITIZER_BUILD)
/* Elsewhere the wrapper is C and would break the sanitizer runtimes' RTLD_NEXT lookups
 * (see the top of the file): sanitizer builds go without it, and `omni serve` refuses
 * TLS in them with a message instead of crashing on the first HTTPS connection. */
int api_tls_available(void) { return 0; }

#else
/* A C wrapper: a library that calls dlsym(RTLD_NEXT, …) itself would have "next" counted
 * from the executable here, not from that library. None of ours does. */
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

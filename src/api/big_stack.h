/* Running heavy library code from an HTTP handler: civetweb's worker threads have a
 * 100 KiB stack (Debian's build), too small for libopus, espeak-ng or the audio
 * decoders (and far too small under AddressSanitizer), so such work runs on a
 * thread with an ordinary stack while the handler waits for it. */
#ifndef OMNI_API_BIG_STACK_H
#define OMNI_API_BIG_STACK_H

#define API_BIG_STACK_BYTES (8u << 20)

/* Calls fn(arg) on a new thread with API_BIG_STACK_BYTES of stack and waits for it.
 * The caller's thread is blocked meanwhile, so fn may use what the caller owns (the
 * mg_connection included). Returns 0, or -1 when no thread could be started (fn not run). */
int api_run_big_stack(void (*fn)(void *arg), void *arg);

#endif

/* A string → int32 hash map (open addressing) for token texts and BPE merges.
 * Keys are copied into one pool, so the map owns all its memory. */
#ifndef OMNI_TEXT_STRMAP_H
#define OMNI_TEXT_STRMAP_H
#include <stddef.h>
#include <stdint.h>

struct strmap {
    char *pool;             /* key bytes, back to back */
    size_t pool_len, pool_cap;
    struct strmap_slot { uint64_t off; uint32_t len; int32_t val; } *slots; /* val -1: empty */
    size_t cap, count;      /* cap is a power of two */
};

/* Sizes the table for about n keys. Returns 0 or -1 (out of memory). */
int strmap_init(struct strmap *m, size_t n);
void strmap_free(struct strmap *m);
/* Inserts or overwrites (a later value wins, like std::map's operator[]).
 * val must be >= 0. Returns 0 or -1 (out of memory). */
int strmap_put(struct strmap *m, const char *key, size_t len, int32_t val);
/* Value for key, or -1. */
int32_t strmap_get(const struct strmap *m, const char *key, size_t len);

#endif

/* Open-addressing hash map from byte strings to non-negative int32 values, used
 * for vocabularies of up to a few hundred thousand entries. */
#include "text/strmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

int strmap_init(struct strmap *m, size_t n) {
    memset(m, 0, sizeof *m);
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    m->slots = malloc(cap * sizeof *m->slots);
    if (!m->slots) return -1;
    for (size_t i = 0; i < cap; i++) m->slots[i].val = -1;
    m->cap = cap;
    return 0;
}

void strmap_free(struct strmap *m) {
    free(m->pool);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static size_t find_slot(const struct strmap *m, const char *key, size_t len) {
    size_t mask = m->cap - 1, i = (size_t)hash_bytes(key, len) & mask;
    while (m->slots[i].val >= 0) {
        const struct strmap_slot *s = &m->slots[i];
        if (s->len == len && memcmp(m->pool + s->off, key, len) == 0) return i;
        i = (i + 1) & mask;
    }
    return i;
}

static int grow(struct strmap *m) {
    struct strmap old = *m;
    size_t cap = m->cap * 2;
    struct strmap_slot *slots = malloc(cap * sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < cap; i++) slots[i].val = -1;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i].val < 0) continue;
        size_t j = find_slot(m, m->pool + old.slots[i].off, old.slots[i].len);
        m->slots[j] = old.slots[i];
    }
    free(old.slots);
    return 0;
}

int strmap_put(struct strmap *m, const char *key, size_t len, int32_t val) {
    if ((m->count + 1) * 2 > m->cap && grow(m) != 0) return -1;
    size_t i = find_slot(m, key, len);
    if (m->slots[i].val >= 0) { m->slots[i].val = val; return 0; }
    if (m->pool_len + len > m->pool_cap) {
        size_t cap = m->pool_cap ? m->pool_cap * 2 : 4096;
        while (cap < m->pool_len + len) cap *= 2;
        char *p = realloc(m->pool, cap);
        if (!p) return -1;
        m->pool = p;
        m->pool_cap = cap;
    }
    if (len) memcpy(m->pool + m->pool_len, key, len);
    m->slots[i].off = m->pool_len;
    m->slots[i].len = (uint32_t)len;
    m->slots[i].val = val;
    m->pool_len += len;
    m->count++;
    return 0;
}

int32_t strmap_get(const struct strmap *m, const char *key, size_t len) {
    if (!m->cap) return -1;
    return m->slots[find_slot(m, key, len)].val;
}

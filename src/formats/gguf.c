/* GGUF reader (mmap'ed, validated up front) and writer (atomic, streams tensor data).
 * Layout: magic "GGUF", u32 version, u64 n_tensors, u64 n_kv, KV pairs, tensor infos,
 * padding to general.alignment, tensor data. All integers little-endian. */
#include "formats/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/bigbuf.h"
#include "core/dtype.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c reads and writes little-endian values with memcpy; port it for big-endian hosts"
#endif

#define GGUF_MAGIC 0x46554747u /* "GGUF" read as a little-endian u32 */
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DEPTH 4       /* arrays of arrays of ...: deeper nesting is refused */

struct gguf_kv {
    struct gguf_str key;
    uint32_t type;
    uint32_t arr_type;       /* element type, for arrays */
    uint64_t count;          /* element count, for arrays */
    const uint8_t *val;      /* scalar value, string length field, or first array element */
    const uint8_t *raw;      /* from the type field to the end of the value (for copying) */
    size_t raw_len;
    uint64_t *str_off;       /* string arrays: offset of element i's length field from val */
};

struct gguf_tinfo {
    const char *name;        /* NUL-terminated copy (names in the file are not terminated) */
    uint64_t name_len;
    int type, n_dims;
    int64_t ne[4];
    uint64_t offset;         /* relative to the data section */
    size_t nbytes;
};

/* Open-addressing table from (name, len) to an index; sized at 2x entries, power of two. */
struct name_index {
    int64_t *slot;
    size_t mask;
};

struct gguf {
    const uint8_t *base;
    size_t size;
    int mapped;              /* IMAGE_MAPPED: base is our mmap; IMAGE_READ: our bigbuf copy */
    char *path;
    uint32_t version;
    size_t alignment;
    size_t data_off;
    int64_t n_kv, n_tensors;
    struct gguf_kv *kv;
    struct gguf_tinfo *t;
    char *names;             /* backing store of the tensor names */
    struct name_index kv_index, t_index;
};

/* ---- small helpers ---- */

static uint64_t name_hash(const char *s, uint64_t n) {
    uint64_t h = 1469598103934665603ull;
    for (uint64_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static int index_init(struct name_index *ix, int64_t n) {
    size_t cap = 16;
    while (cap < (size_t)n * 2) cap *= 2;
    ix->slot = malloc(cap * sizeof *ix->slot);
    if (!ix->slot) return -1;
    for (size_t i = 0; i < cap; i++) ix->slot[i] = -1;
    ix->mask = cap - 1;
    return 0;
}

/* Name of entry i is given by a callback-free pair of arrays: we pass a getter. */
typedef struct gguf_str (*name_of_fn)(const struct gguf *g, int64_t i);

static int64_t index_find(const struct gguf *g, const struct name_index *ix, name_of_fn name_of,
                          const char *s, uint64_t n) {
    if (!ix->slot) return -1;
    for (size_t h = (size_t)name_hash(s, n) & ix->mask;; h = (h + 1) & ix->mask) {
        int64_t i = ix->slot[h];
        if (i < 0) return -1;
        struct gguf_str k = name_of(g, i);
        if (k.len == n && !memcmp(k.s, s, n)) return i;
    }
}

/* Inserts entry i; returns the index of an earlier entry with the same name, or -1. */
static int64_t index_insert(const struct gguf *g, struct name_index *ix, name_of_fn name_of, int64_t i) {
    struct gguf_str k = name_of(g, i);
    for (size_t h = (size_t)name_hash(k.s, k.len) & ix->mask;; h = (h + 1) & ix->mask) {
        int64_t j = ix->slot[h];
        if (j < 0) { ix->slot[h] = i; return -1; }
        struct gguf_str o = name_of(g, j);
        if (o.len == k.len && !memcmp(o.s, k.s, k.len)) return j;
    }
}

static struct gguf_str kv_name_of(const struct gguf *g, int64_t i) { return g->kv[i].key; }
static struct gguf_str t_name_of(const struct gguf *g, int64_t i) {
    struct gguf_str s = {g->t[i].name, g->t[i].name_len};
    return s;
}

static size_t scalar_size(uint32_t type) {
    switch (type) {
    case GGUF_UINT8: case GGUF_INT8: case GGUF_BOOL: return 1;
    case GGUF_UINT16: case GGUF_INT16: return 2;
    case GGUF_UINT32: case GGUF_INT32: case GGUF_FLOAT32: return 4;
    case GGUF_UINT64: case GGUF_INT64: case GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

const char *gguf_type_name(enum gguf_type t) {
    static const char *names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                  "string", "array", "u64", "i64", "f64"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

/* Prints at most 64 bytes of a file string into a message, replacing control bytes. */
static const char *show(struct gguf_str s, char *buf, size_t cap) {
    size_t n = s.len < 64 ? (size_t)s.len : 64, o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) buf[o++] = (s.s[i] >= 32 && s.s[i] != 127) || (s.s[i] & 0x80) ? s.s[i] : '?';
    if (s.len > 64 && o + 4 < cap) { memcpy(buf + o, "...", 3); o += 3; }
    buf[o] = 0;
    return buf;
}

/* ---- the parser: a cursor that refuses to read past the end ---- */

struct cur {
    const uint8_t *p;
    size_t pos, size;
    const char *name;
    struct err *e;
};

static size_t left(const struct cur *c) { return c->size - c->pos; }

static int need(struct cur *c, uint64_t n, const char *what) {
    if (n > left(c))
        return err_set(c->e, "%s: truncated: %s needs %llu bytes at offset %zu but the file has %zu",
                       c->name, what, (unsigned long long)n, c->pos, c->size);
    return 0;
}

static int rd_u32(struct cur *c, uint32_t *v, const char *what) {
    if (need(c, 4, what)) return -1;
    memcpy(v, c->p + c->pos, 4);
    c->pos += 4;
    return 0;
}

static int rd_u64(struct cur *c, uint64_t *v, const char *what) {
    if (need(c, 8, what)) return -1;
    memcpy(v, c->p + c->pos, 8);
    c->pos += 8;
    return 0;
}

static int rd_str(struct cur *c, struct gguf_str *s, const char *what) {
    uint64_t n;
    size_t at = c->pos;
    if (rd_u64(c, &n, what)) return -1;
    if (n > left(c))
        return err_set(c->e, "%s: %s at offset %zu has length %llu but only %zu bytes remain",
                       c->name, what, at, (unsigned long long)n, left(c));
    s->s = (const char *)c->p + c->pos;
    s->len = n;
    c->pos += (size_t)n;
    return 0;
}

/* Skips (and checks) one value of the given type; depth limits array nesting.
 * For the top-level kv, records array facts and the string offset index. */
static int parse_value(struct cur *c, uint32_t type, int depth, struct gguf_kv *kv, const char *key) {
    if (type == GGUF_STRING) {
        struct gguf_str s;
        return rd_str(c, &s, "string value");
    }
    if (type != GGUF_ARRAY) {
        size_t n = scalar_size(type);
        if (!n) return err_set(c->e, "%s: key '%s' has unknown value type %u", c->name, key, type);
        return need(c, n, "value") ? -1 : (c->pos += n, 0);
    }
    if (depth >= GGUF_MAX_DEPTH)
        return err_set(c->e, "%s: key '%s' nests arrays deeper than %d levels", c->name, key, GGUF_MAX_DEPTH);
    uint32_t et;
    uint64_t count;
    if (rd_u32(c, &et, "array type") || rd_u64(c, &count, "array count")) return -1;
    size_t min = et == GGUF_STRING ? 8 : et == GGUF_ARRAY ? 12 : scalar_size(et);
    if (!min) return err_set(c->e, "%s: array '%s' has unknown element type %u", c->name, key, et);
    if (count > left(c) / min)
        return err_set(c->e, "%s: array '%s' claims %llu elements but only %zu bytes remain at offset %zu",
                       c->name, key, (unsigned long long)count, left(c), c->pos);
    const size_t start = c->pos;
    if (kv) {
        kv->arr_type = et;
        kv->count = count;
        kv->val = c->p + start;
    }
    if (et != GGUF_STRING && et != GGUF_ARRAY) {
        c->pos += (size_t)count * min;
        return 0;
    }
    if (kv && et == GGUF_STRING && count) {
        kv->str_off = malloc((size_t)count * sizeof *kv->str_off);
        if (!kv->str_off) return err_set(c->e, "%s: out of memory for array '%s'", c->name, key);
    }
    for (uint64_t i = 0; i < count; i++) {
        if (kv && kv->str_off) kv->str_off[i] = c->pos - start;
        if (parse_value(c, et, depth + 1, NULL, key)) return -1;
    }
    return 0;
}

static int parse_kvs(struct gguf *g, struct cur *c) {
    char kb[80];
    /* smallest KV: empty key (8) + type (4) + a u8 value (1) */
    if (g->n_kv > 0 && (uint64_t)g->n_kv > left(c) / 13)
        return err_set(c->e, "%s: header claims %lld metadata keys but the file has room for at most %zu",
                       c->name, (long long)g->n_kv, left(c) / 13);
    g->kv = calloc((size_t)g->n_kv + 1, sizeof *g->kv);
    if (!g->kv || index_init(&g->kv_index, g->n_kv)) return err_set(c->e, "%s: out of memory", c->name);
    for (int64_t i = 0; i < g->n_kv; i++) {
        struct gguf_kv *kv = &g->kv[i];
        uint32_t type;
        if (rd_str(c, &kv->key, "metadata key")) return err_prefix(c->e, "(key #%lld) ", (long long)i);
        show(kv->key, kb, sizeof kb);
        size_t raw_at = c->pos;
        if (rd_u32(c, &type, "value type")) return err_prefix(c->e, "(key '%s') ", kb);
        kv->type = type;
        kv->val = c->p + c->pos;
        if (parse_value(c, type, 0, kv, kb)) return -1;
        kv->raw = c->p + raw_at;
        kv->raw_len = c->pos - raw_at;
        if (index_insert(g, &g->kv_index, kv_name_of, i) >= 0)
            return err_set(c->e, "%s: metadata key '%s' appears twice", c->name, kb);
    }
    return 0;
}

static int cmp_by_offset(const void *a, const void *b, void *ctx) {
    const struct gguf_tinfo *t = ctx;
    uint64_t x = t[*(const int64_t *)a].offset, y = t[*(const int64_t *)b].offset;
    return x < y ? -1 : x > y;
}

static int parse_tensors(struct gguf *g, struct cur *c) {
    /* smallest info: name length (8) + n_dims (4) + one ne (8) + type (4) + offset (8) */
    if (g->n_tensors > 0 && (uint64_t)g->n_tensors > left(c) / 32)
        return err_set(c->e, "%s: header claims %lld tensors but the file has room for at most %zu",
                       c->name, (long long)g->n_tensors, left(c) / 32);
    g->t = calloc((size_t)g->n_tensors + 1, sizeof *g->t);
    if (!g->t || index_init(&g->t_index, g->n_tensors)) return err_set(c->e, "%s: out of memory", c->name);
    struct gguf_str *raw_names = malloc(((size_t)g->n_tensors + 1) * sizeof *raw_names);
    if (!raw_names) return err_set(c->e, "%s: out of memory", c->name);
    size_t names_bytes = 0;
    int rc = 0;
    char nb[80];
    for (int64_t i = 0; i < g->n_tensors && !rc; i++) {
        struct gguf_tinfo *t = &g->t[i];
        uint32_t nd, type;
        if (rd_str(c, &raw_names[i], "tensor name")) { rc = err_prefix(c->e, "(tensor #%lld) ", (long long)i); break; }
        show(raw_names[i], nb, sizeof nb);
        names_bytes += (size_t)raw_names[i].len + 1;
        if (rd_u32(c, &nd, "tensor n_dims")) { rc = err_prefix(c->e, "(tensor '%s') ", nb); break; }
        if (nd < 1 || nd > 4) { rc = err_set(c->e, "%s: tensor '%s' has %u dimensions (expected 1 to 4)", c->name, nb, nd); break; }
        t->n_dims = (int)nd;
        int64_t nel = 1;
        for (int d = 0; d < 4; d++) {
            uint64_t ne = 1;
            if (d < (int)nd && rd_u64(c, &ne, "tensor shape")) { rc = err_prefix(c->e, "(tensor '%s') ", nb); break; }
            if (ne == 0 || ne > (uint64_t)INT64_MAX || (uint64_t)nel > (uint64_t)INT64_MAX / ne) {
                rc = err_set(c->e, "%s: tensor '%s' has invalid size %llu in dimension %d", c->name, nb,
                             (unsigned long long)ne, d);
                break;
            }
            t->ne[d] = (int64_t)ne;
            nel *= (int64_t)ne;
        }
        if (rc) break;
        if (rd_u32(c, &type, "tensor type") || rd_u64(c, &t->offset, "tensor offset")) { rc = err_prefix(c->e, "(tensor '%s') ", nb); break; }
        const struct dtype_info *di = dtype_info((int)type);
        if (!di) { rc = err_set(c->e, "%s: tensor '%s' has unknown type id %u", c->name, nb, type); break; }
        t->type = (int)type;
        size_t rb = dtype_row_bytes(t->type, t->ne[0]);
        if (!rb) {
            rc = err_set(c->e, "%s: tensor '%s' of type %s: row length %lld is not a multiple of its block size %d",
                         c->name, nb, di->name, (long long)t->ne[0], di->block);
            break;
        }
        uint64_t rows = (uint64_t)(nel / t->ne[0]);
        if (rows > SIZE_MAX / rb) { rc = err_set(c->e, "%s: tensor '%s' is too large", c->name, nb); break; }
        t->nbytes = rb * (size_t)rows;
    }
    if (!rc) {
        g->names = malloc(names_bytes + 1);
        if (!g->names) rc = err_set(c->e, "%s: out of memory", c->name);
    }
    if (!rc) {
        char *p = g->names;
        for (int64_t i = 0; i < g->n_tensors; i++) {
            memcpy(p, raw_names[i].s, (size_t)raw_names[i].len);
            p[raw_names[i].len] = 0;
            g->t[i].name = p;
            g->t[i].name_len = raw_names[i].len;
            p += raw_names[i].len + 1;
            if (index_insert(g, &g->t_index, t_name_of, i) >= 0) {
                rc = err_set(c->e, "%s: tensor '%s' appears twice", c->name, show(raw_names[i], nb, sizeof nb));
                break;
            }
        }
    }
    free(raw_names);
    return rc;
}

/* Tensor data must lie inside the file, be aligned, and not overlap another tensor. */
static int check_data(struct gguf *g, struct err *e, const char *name) {
    if (g->n_tensors == 0) return 0; /* vocab-only files may end before the data offset */
    if (g->data_off > g->size)
        return err_set(e, "%s: data section starts at %zu, beyond the end of the file (size %zu)", name,
                       g->data_off, g->size);
    const size_t room = g->size - g->data_off;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const struct gguf_tinfo *t = &g->t[i];
        if (t->offset % g->alignment)
            return err_set(e, "%s: tensor '%s' data offset %llu is not a multiple of the alignment %zu", name,
                           t->name, (unsigned long long)t->offset, g->alignment);
        if (t->offset > room || t->nbytes > room - t->offset)
            return err_set(e, "%s: tensor '%s' data [%llu..%llu) lies outside the file (size %zu)", name, t->name,
                           (unsigned long long)(g->data_off + t->offset),
                           (unsigned long long)(g->data_off + t->offset + t->nbytes), g->size);
    }
    int64_t *order = malloc((size_t)g->n_tensors * sizeof *order);
    if (!order) return err_set(e, "%s: out of memory", name);
    for (int64_t i = 0; i < g->n_tensors; i++) order[i] = i;
    qsort_r(order, (size_t)g->n_tensors, sizeof *order, cmp_by_offset, g->t);
    int rc = 0;
    for (int64_t k = 1; k < g->n_tensors && !rc; k++) {
        const struct gguf_tinfo *a = &g->t[order[k - 1]], *b = &g->t[order[k]];
        if (a->offset + a->nbytes > b->offset)
            rc = err_set(e, "%s: tensors '%s' and '%s' overlap in the data section", name, a->name, b->name);
    }
    free(order);
    return rc;
}

static int parse(struct gguf *g, const char *name, struct err *e) {
    struct cur c = {g->base, 0, g->size, name, e};
    uint32_t magic;
    uint64_t nt, nkv;
    if (g->size < 4) return err_set(e, "%s: not a GGUF file (only %zu bytes)", name, g->size);
    memcpy(&magic, g->base, 4);
    if (magic != GGUF_MAGIC) return err_set(e, "%s: not a GGUF file (no \"GGUF\" magic at the start)", name);
    c.pos = 4;
    if (rd_u32(&c, &g->version, "version")) return -1;
    if (g->version == 1) return err_set(e, "%s: unsupported GGUF version 1 (re-convert it with a current llama.cpp)", name);
    if (g->version > 0xffff && (g->version & 0xffff) == 0)
        return err_set(e, "%s: big-endian GGUF files are not supported", name);
    if (g->version != 2 && g->version != 3)
        return err_set(e, "%s: unsupported GGUF version %u (expected 2 or 3)", name, g->version);
    if (rd_u64(&c, &nt, "tensor count") || rd_u64(&c, &nkv, "metadata count")) return -1;
    if (nt > (uint64_t)INT64_MAX || nkv > (uint64_t)INT64_MAX)
        return err_set(e, "%s: header counts are impossible (%llu tensors, %llu keys)", name,
                       (unsigned long long)nt, (unsigned long long)nkv);
    g->n_tensors = (int64_t)nt;
    g->n_kv = (int64_t)nkv;
    if (parse_kvs(g, &c)) return -1;

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = gguf_find_key(g, "general.alignment");
    if (ai >= 0) {
        int bad = 0;
        int64_t a = gguf_get_int(g, "general.alignment", 0, &bad);
        if (bad || a <= 0 || (a & (a - 1)) || a > (1 << 30))
            return err_set(e, "%s: general.alignment must be a power of two (got %lld)", name, bad ? -1LL : (long long)a);
        g->alignment = (size_t)a;
    }
    if (parse_tensors(g, &c)) return -1;
    size_t pad = (g->alignment - c.pos % g->alignment) % g->alignment;
    g->data_off = c.pos + pad;
    return check_data(g, e, name);
}

enum { IMAGE_BORROWED, IMAGE_MAPPED, IMAGE_READ };

static void release_image(const void *data, size_t size, int mapped) {
    if (mapped == IMAGE_MAPPED) munmap((void *)data, size);
    else if (mapped == IMAGE_READ) bigbuf_free((void *)data, size);
}

static struct gguf *open_image(const void *data, size_t size, int mapped, const char *name, struct err *e) {
    struct gguf *g = calloc(1, sizeof *g);
    if (!g) {
        release_image(data, size, mapped);
        err_set(e, "%s: out of memory", name);
        return NULL;
    }
    g->base = data;
    g->size = size;
    g->mapped = mapped;
    g->path = strdup(name);
    if (!g->path) { err_set(e, "%s: out of memory", name); gguf_close(g); return NULL; }
    if (parse(g, name, e)) { gguf_close(g); return NULL; }
    return g;
}

/* The kernel's MemAvailable in bytes (0 when unknown) */
static uint64_t mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[128];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

/* a number from a one-line file (cgroup limits and usage); 0 when missing, UINT64_MAX for "max" */
static uint64_t read_u64_file(const char *path, int *found) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char b[64] = {0};
    uint64_t v = 0;
    if (fgets(b, sizeof b, f)) {
        *found = 1;
        v = !strncmp(b, "max", 3) ? UINT64_MAX : strtoull(b, NULL, 10);
    }
    fclose(f);
    return v;
}

/* what the memory cgroup this process is in still allows (its limit less its usage; v2's
 * memory.max / memory.current or v1's limit_in_bytes / usage_in_bytes, at the namespace's
 * root or under the path /proc/self/cgroup gives); UINT64_MAX when nothing limits it */
static uint64_t cgroup_headroom(void) {
    static const char *const files[2][2] = {{"memory.max", "memory.current"},
                                            {"memory.limit_in_bytes", "memory.usage_in_bytes"}};
    char dirs[4][600];
    int nd = 0;
    snprintf(dirs[nd++], sizeof dirs[0], "/sys/fs/cgroup");
    snprintf(dirs[nd++], sizeof dirs[0], "/sys/fs/cgroup/memory");
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f) && nd < 4) {
            line[strcspn(line, "\n")] = 0;
            char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (!c2 || c2[1] != '/' || !c2[2]) continue; /* the root is already in the list */
            *c2 = 0;
            if (!strcmp(c1 + 1, "")) snprintf(dirs[nd++], sizeof dirs[0], "/sys/fs/cgroup%.500s", c2 + 1);
            else if (strstr(c1 + 1, "memory")) snprintf(dirs[nd++], sizeof dirs[0], "/sys/fs/cgroup/memory%.500s", c2 + 1);
        }
        fclose(f);
    }
    uint64_t best = UINT64_MAX;
    for (int d = 0; d < nd; d++)
        for (int v = 0; v < 2; v++) {
            char lp[700], up[700];
            snprintf(lp, sizeof lp, "%.600s/%s", dirs[d], files[v][0]);
            snprintf(up, sizeof up, "%.600s/%s", dirs[d], files[v][1]);
            int found = 0, ufound = 0;
            uint64_t lim = read_u64_file(lp, &found);
            if (!found || lim >= ((uint64_t)1 << 60)) continue; /* none, "max", or v1's "unlimited" */
            uint64_t use = read_u64_file(up, &ufound);
            uint64_t room = lim > use ? lim - use : 0;
            if (room < best) best = room;
        }
    return best;
}

uint64_t gguf_memory_headroom(void) {
    uint64_t a = mem_available(), c = cgroup_headroom();
    return a < c ? a : c;
}

/* the whole file into a huge-page buffer; NULL (nothing kept) on any failure */
static void *read_whole(int fd, size_t size) {
    char *p = bigbuf_alloc(size);
    if (!p) return NULL;
    size_t got = 0;
    while (got < size) {
        ssize_t r = pread(fd, p + got, size - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            bigbuf_free(p, size);
            return NULL;
        }
        got += (size_t)r;
    }
    return p;
}

static struct gguf *open_path(const char *path, int weights, struct err *e) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { err_set(e, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        err_set(e, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if (st.st_size == 0) { err_set(e, "%s: file is empty", path); close(fd); return NULL; }
    if ((uint64_t)st.st_size > SIZE_MAX) { err_set(e, "%s: file too large", path); close(fd); return NULL; }
    size_t size = (size_t)st.st_size;
    const char *keep_map = getenv("OMNI_MMAP");
    if (weights && size >= ((size_t)32 << 20) && !(keep_map && *keep_map && strcmp(keep_map, "0")) &&
        (uint64_t)size <= gguf_memory_headroom() / 2) {
        void *p = read_whole(fd, size);
        if (p) {
            close(fd);
            return open_image(p, size, IMAGE_READ, path, e);
        }
    }
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd); /* the mapping keeps the file alive */
    if (p == MAP_FAILED) { err_set(e, "%s: cannot map: %s", path, strerror(errno)); return NULL; }
    return open_image(p, size, IMAGE_MAPPED, path, e);
}

struct gguf *gguf_open(const char *path, struct err *e) { return open_path(path, 0, e); }
struct gguf *gguf_open_weights(const char *path, struct err *e) { return open_path(path, 1, e); }

struct gguf *gguf_open_memory(const void *data, size_t size, struct err *e) {
    if (!data && size) { err_set(e, "<memory>: no data"); return NULL; }
    return open_image(data ? data : "", size, IMAGE_BORROWED, "<memory>", e);
}

void gguf_close(struct gguf *g) {
    if (!g) return;
    if (g->kv)
        for (int64_t i = 0; i < g->n_kv; i++) free(g->kv[i].str_off);
    free(g->kv);
    free(g->t);
    free(g->names);
    free(g->kv_index.slot);
    free(g->t_index.slot);
    release_image(g->base, g->size, g->mapped);
    free(g->path);
    free(g);
}

uint32_t gguf_version(const struct gguf *g) { return g->version; }
int gguf_is_read(const struct gguf *g) { return g->mapped == IMAGE_READ; }
size_t gguf_alignment(const struct gguf *g) { return g->alignment; }
const char *gguf_path(const struct gguf *g) { return g->path; }
uint64_t gguf_file_size(const struct gguf *g) { return g->size; }
size_t gguf_data_offset(const struct gguf *g) { return g->data_off; }

/* ---- metadata getters ---- */

int64_t gguf_n_kv(const struct gguf *g) { return g->n_kv; }

int64_t gguf_find_key(const struct gguf *g, const char *key) {
    return index_find(g, &g->kv_index, kv_name_of, key, strlen(key));
}

struct gguf_str gguf_key_name(const struct gguf *g, int64_t i) {
    struct gguf_str none = {NULL, 0};
    return i >= 0 && i < g->n_kv ? g->kv[i].key : none;
}

enum gguf_type gguf_kv_type(const struct gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? (enum gguf_type)g->kv[i].type : (enum gguf_type)-1;
}

enum gguf_type gguf_kv_arr_type(const struct gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv && g->kv[i].type == GGUF_ARRAY ? (enum gguf_type)g->kv[i].arr_type
                                                                  : (enum gguf_type)-1;
}

/* Reads one integer/float element of type t at p into either *iv or *fv. Returns 0
 * for an integer (with *is_u64_big set when a u64 does not fit int64), 1 for a float,
 * -1 for anything else. */
static int read_num(uint32_t t, const uint8_t *p, int64_t *iv, double *fv, int *u64_big) {
    *u64_big = 0;
    switch (t) {
    case GGUF_UINT8: *iv = p[0]; return 0;
    case GGUF_INT8: *iv = (int8_t)p[0]; return 0;
    case GGUF_UINT16: { uint16_t v; memcpy(&v, p, 2); *iv = v; return 0; }
    case GGUF_INT16: { int16_t v; memcpy(&v, p, 2); *iv = v; return 0; }
    case GGUF_UINT32: { uint32_t v; memcpy(&v, p, 4); *iv = v; return 0; }
    case GGUF_INT32: { int32_t v; memcpy(&v, p, 4); *iv = v; return 0; }
    case GGUF_UINT64: { uint64_t v; memcpy(&v, p, 8); *u64_big = v > (uint64_t)INT64_MAX; *iv = (int64_t)(v & (uint64_t)INT64_MAX); return 0; }
    case GGUF_INT64: { int64_t v; memcpy(&v, p, 8); *iv = v; return 0; }
    case GGUF_FLOAT32: { float v; memcpy(&v, p, 4); *fv = v; return 1; }
    case GGUF_FLOAT64: { double v; memcpy(&v, p, 8); *fv = v; return 1; }
    default: return -1;
    }
}

static const struct gguf_kv *kv_get(const struct gguf *g, const char *key) {
    int64_t i = gguf_find_key(g, key);
    return i < 0 ? NULL : &g->kv[i];
}

int64_t gguf_get_int(const struct gguf *g, const char *key, int64_t def, int *bad) {
    const struct gguf_kv *kv = kv_get(g, key);
    if (!kv) return def;
    int64_t iv;
    double fv;
    int big;
    if (read_num(kv->type, kv->val, &iv, &fv, &big) != 0 || big) {
        if (bad) *bad = 1;
        return def;
    }
    return iv;
}

double gguf_get_float(const struct gguf *g, const char *key, double def, int *bad) {
    const struct gguf_kv *kv = kv_get(g, key);
    if (!kv) return def;
    int64_t iv;
    double fv;
    int big, r = read_num(kv->type, kv->val, &iv, &fv, &big);
    if (r < 0) {
        if (bad) *bad = 1;
        return def;
    }
    return r == 1 ? fv : (double)iv; /* an integer where a float is expected is harmless */
}

int gguf_get_bool(const struct gguf *g, const char *key, int def, int *bad) {
    const struct gguf_kv *kv = kv_get(g, key);
    if (!kv) return def;
    if (kv->type != GGUF_BOOL) {
        if (bad) *bad = 1;
        return def;
    }
    return kv->val[0] != 0;
}

struct gguf_str gguf_get_str(const struct gguf *g, const char *key) {
    struct gguf_str s = {NULL, 0};
    const struct gguf_kv *kv = kv_get(g, key);
    if (!kv || kv->type != GGUF_STRING) return s;
    memcpy(&s.len, kv->val, 8);
    s.s = (const char *)kv->val + 8;
    return s;
}

char *gguf_get_str_dup(const struct gguf *g, const char *key) {
    struct gguf_str s = gguf_get_str(g, key);
    if (!s.s) return NULL;
    char *p = malloc((size_t)s.len + 1);
    if (!p) return NULL;
    memcpy(p, s.s, (size_t)s.len);
    p[s.len] = 0;
    return p;
}

int gguf_get_arr(const struct gguf *g, const char *key, enum gguf_type *elem_type, uint64_t *count) {
    const struct gguf_kv *kv = kv_get(g, key);
    int ok = kv && kv->type == GGUF_ARRAY;
    if (elem_type) *elem_type = ok ? (enum gguf_type)kv->arr_type : GGUF_UINT8;
    if (count) *count = ok ? kv->count : 0;
    return ok ? 0 : -1;
}

static const struct gguf_kv *arr_get(const struct gguf *g, const char *key) {
    const struct gguf_kv *kv = kv_get(g, key);
    return kv && kv->type == GGUF_ARRAY ? kv : NULL;
}

const void *gguf_get_arr_data(const struct gguf *g, const char *key) {
    const struct gguf_kv *kv = arr_get(g, key);
    return kv && scalar_size(kv->arr_type) ? kv->val : NULL;
}

int64_t gguf_get_arr_int(const struct gguf *g, const char *key, uint64_t i) {
    const struct gguf_kv *kv = arr_get(g, key);
    size_t sz = kv ? scalar_size(kv->arr_type) : 0;
    if (!sz || i >= kv->count) return 0;
    int64_t iv = 0;
    double fv;
    int big;
    return read_num(kv->arr_type, kv->val + i * sz, &iv, &fv, &big) == 0 ? iv : 0;
}

double gguf_get_arr_float(const struct gguf *g, const char *key, uint64_t i) {
    const struct gguf_kv *kv = arr_get(g, key);
    size_t sz = kv ? scalar_size(kv->arr_type) : 0;
    if (!sz || i >= kv->count) return 0;
    int64_t iv = 0;
    double fv = 0;
    int big, r = read_num(kv->arr_type, kv->val + i * sz, &iv, &fv, &big);
    return r == 1 ? fv : r == 0 ? (double)iv : 0;
}

struct gguf_str gguf_get_arr_str(const struct gguf *g, const char *key, uint64_t i) {
    struct gguf_str s = {NULL, 0};
    const struct gguf_kv *kv = arr_get(g, key);
    if (!kv || kv->arr_type != GGUF_STRING || i >= kv->count) return s;
    const uint8_t *p = kv->val + kv->str_off[i];
    memcpy(&s.len, p, 8);
    s.s = (const char *)p + 8;
    return s;
}

/* ---- tensors ---- */

int64_t gguf_n_tensors(const struct gguf *g) { return g->n_tensors; }

int64_t gguf_find_tensor(const struct gguf *g, const char *name) {
    return index_find(g, &g->t_index, t_name_of, name, strlen(name));
}

int gguf_tensor(const struct gguf *g, int64_t i, struct tensor *t) {
    if (i < 0 || i >= g->n_tensors) return -1;
    const struct gguf_tinfo *ti = &g->t[i];
    t->name = ti->name;
    t->type = ti->type;
    t->n_dims = ti->n_dims;
    memcpy(t->ne, ti->ne, sizeof t->ne);
    t->data = g->base + g->data_off + ti->offset;
    t->nbytes = ti->nbytes;
    return 0;
}

static void fmt_shape(char *buf, size_t cap, int n, const int64_t *ne) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n && o < cap; i++) o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)ne[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

int gguf_get_tensor(const struct gguf *g, const char *name, int n_dims, const int64_t *ne, struct tensor *t,
                    struct err *e) {
    int64_t i = gguf_find_tensor(g, name);
    if (i < 0) return err_set(e, "%s: tensor '%s' is missing", g->path, name);
    gguf_tensor(g, i, t);
    if (n_dims < 0 || n_dims > 4) return err_set(e, "gguf_get_tensor: bad n_dims %d for '%s'", n_dims, name);
    int same = 1;
    for (int d = 0; d < 4; d++) same &= t->ne[d] == (d < n_dims ? ne[d] : 1);
    if (!same) {
        char want[96], have[96];
        fmt_shape(want, sizeof want, n_dims, ne);
        fmt_shape(have, sizeof have, t->n_dims, t->ne);
        return err_set(e, "%s: tensor '%s' has shape %s, expected %s", g->path, name, have, want);
    }
    return 0;
}

/* ---- writer ---- */

struct wkv {
    char *key;
    uint8_t *raw;    /* type field + value, exactly as in the file */
    size_t raw_len;
};

struct wtensor {
    char *name;
    int type, n_dims;
    int64_t ne[4];
    const void *data;
    void *owned;     /* == data when the writer copied it */
    size_t nbytes;
};

struct gguf_writer {
    struct wkv *kv;
    size_t n_kv, cap_kv;
    struct wtensor *t;
    size_t n_t, cap_t;
    int oom;         /* a void setter ran out of memory; reported by save */
};

struct gguf_writer *gguf_writer_new(void) { return calloc(1, sizeof(struct gguf_writer)); }

void gguf_writer_free(struct gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) { free(w->kv[i].key); free(w->kv[i].raw); }
    for (size_t i = 0; i < w->n_t; i++) { free(w->t[i].name); free(w->t[i].owned); }
    free(w->kv);
    free(w->t);
    free(w);
}

/* Takes ownership of raw; a key set twice keeps the last value (so a copied file's
 * metadata can be overridden). */
static void w_put(struct gguf_writer *w, const char *key, uint8_t *raw, size_t raw_len) {
    if (!raw) { w->oom = 1; return; }
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, key)) {
            free(w->kv[i].raw);
            w->kv[i].raw = raw;
            w->kv[i].raw_len = raw_len;
            return;
        }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 32;
        struct wkv *p = realloc(w->kv, cap * sizeof *p);
        if (!p) { free(raw); w->oom = 1; return; }
        w->kv = p;
        w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k) { free(raw); w->oom = 1; return; }
    w->kv[w->n_kv++] = (struct wkv){k, raw, raw_len};
}

void gguf_w_scalar(struct gguf_writer *w, const char *key, enum gguf_type type, const void *v) {
    size_t n = scalar_size(type);
    if (!n) { w->oom = 1; return; }
    uint8_t *raw = malloc(4 + n);
    if (raw) { uint32_t t = type; memcpy(raw, &t, 4); memcpy(raw + 4, v, n); }
    w_put(w, key, raw, 4 + n);
}

void gguf_w_u32(struct gguf_writer *w, const char *key, uint32_t v) { gguf_w_scalar(w, key, GGUF_UINT32, &v); }
void gguf_w_i32(struct gguf_writer *w, const char *key, int32_t v) { gguf_w_scalar(w, key, GGUF_INT32, &v); }
void gguf_w_u64(struct gguf_writer *w, const char *key, uint64_t v) { gguf_w_scalar(w, key, GGUF_UINT64, &v); }
void gguf_w_f32(struct gguf_writer *w, const char *key, float v) { gguf_w_scalar(w, key, GGUF_FLOAT32, &v); }
void gguf_w_bool(struct gguf_writer *w, const char *key, int v) {
    uint8_t b = v != 0;
    gguf_w_scalar(w, key, GGUF_BOOL, &b);
}

void gguf_w_str(struct gguf_writer *w, const char *key, const char *v) {
    uint64_t n = strlen(v);
    uint8_t *raw = malloc(12 + n);
    if (raw) { uint32_t t = GGUF_STRING; memcpy(raw, &t, 4); memcpy(raw + 4, &n, 8); memcpy(raw + 12, v, n); }
    w_put(w, key, raw, 12 + n);
}

void gguf_w_arr(struct gguf_writer *w, const char *key, enum gguf_type elem_type, const void *v, uint64_t n) {
    size_t sz = scalar_size(elem_type);
    if (!sz || n > (SIZE_MAX - 16) / sz) { w->oom = 1; return; }
    uint8_t *raw = malloc(16 + n * sz);
    if (raw) {
        uint32_t t = GGUF_ARRAY, et = elem_type;
        memcpy(raw, &t, 4); memcpy(raw + 4, &et, 4); memcpy(raw + 8, &n, 8);
        if (n) memcpy(raw + 16, v, n * sz);
    }
    w_put(w, key, raw, 16 + n * sz);
}

void gguf_w_arr_i32(struct gguf_writer *w, const char *key, const int32_t *v, uint64_t n) { gguf_w_arr(w, key, GGUF_INT32, v, n); }
void gguf_w_arr_f32(struct gguf_writer *w, const char *key, const float *v, uint64_t n) { gguf_w_arr(w, key, GGUF_FLOAT32, v, n); }

void gguf_w_arr_str(struct gguf_writer *w, const char *key, const char *const *v, uint64_t n) {
    size_t total = 16;
    for (uint64_t i = 0; i < n; i++) total += 8 + strlen(v[i]);
    uint8_t *raw = malloc(total);
    if (raw) {
        uint32_t t = GGUF_ARRAY, et = GGUF_STRING;
        memcpy(raw, &t, 4); memcpy(raw + 4, &et, 4); memcpy(raw + 8, &n, 8);
        size_t o = 16;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t len = strlen(v[i]);
            memcpy(raw + o, &len, 8);
            memcpy(raw + o + 8, v[i], len);
            o += 8 + len;
        }
    }
    w_put(w, key, raw, total);
}

void gguf_w_copy_kv(struct gguf_writer *w, const struct gguf *src) {
    for (int64_t i = 0; i < src->n_kv; i++) {
        const struct gguf_kv *kv = &src->kv[i];
        char *key = malloc((size_t)kv->key.len + 1);
        uint8_t *raw = malloc(kv->raw_len);
        if (key) { memcpy(key, kv->key.s, (size_t)kv->key.len); key[kv->key.len] = 0; }
        if (raw) memcpy(raw, kv->raw, kv->raw_len);
        /* the writer lays data out at its own alignment, so the old value would lie */
        if (key && !strcmp(key, "general.alignment")) free(raw);
        else if (key) w_put(w, key, raw, kv->raw_len);
        else { free(raw); w->oom = 1; }
        free(key);
    }
}

static int w_add_tensor(struct gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                        const void *data, int copy, struct err *e) {
    if (n_dims < 1 || n_dims > 4) return err_set(e, "gguf writer: tensor '%s' has %d dimensions (1 to 4 allowed)", name, n_dims);
    int64_t dims[4] = {1, 1, 1, 1}, rows = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] <= 0) return err_set(e, "gguf writer: tensor '%s' has size %lld in dimension %d", name, (long long)ne[d], d);
        dims[d] = ne[d];
        if (d) rows *= ne[d];
    }
    size_t rb = dtype_row_bytes(type, dims[0]);
    if (!rb) return err_set(e, "gguf writer: tensor '%s': type %s cannot hold rows of %lld elements", name,
                            dtype_name(type), (long long)dims[0]);
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) return err_set(e, "gguf writer: tensor '%s' added twice", name);
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 64;
        struct wtensor *p = realloc(w->t, cap * sizeof *p);
        if (!p) return err_set(e, "gguf writer: out of memory");
        w->t = p;
        w->cap_t = cap;
    }
    struct wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->nbytes = rb * (size_t)rows;
    t->name = strdup(name);
    if (!t->name) return err_set(e, "gguf writer: out of memory");
    if (copy) {
        t->owned = malloc(t->nbytes ? t->nbytes : 1);
        if (!t->owned) { free(t->name); return err_set(e, "gguf writer: out of memory for tensor '%s'", name); }
        memcpy(t->owned, data, t->nbytes);
        t->data = t->owned;
    } else {
        t->data = data;
    }
    t->type = type;
    t->n_dims = n_dims;
    memcpy(t->ne, dims, sizeof dims);
    w->n_t++;
    return 0;
}

int gguf_w_tensor(struct gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                  const void *data, struct err *e) {
    return w_add_tensor(w, name, type, n_dims, ne, data, 1, e);
}

int gguf_w_tensor_ref(struct gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                      const void *data, struct err *e) {
    return w_add_tensor(w, name, type, n_dims, ne, data, 0, e);
}

static int w_write(FILE *f, const void *p, size_t n) { return n && fwrite(p, 1, n, f) != n ? -1 : 0; }
static int w_u32(FILE *f, uint32_t v) { return w_write(f, &v, 4); }
static int w_u64(FILE *f, uint64_t v) { return w_write(f, &v, 8); }
static int w_pad(FILE *f, uint64_t pos, size_t align) {
    static const uint8_t zero[256];
    size_t n = (size_t)((align - pos % align) % align);
    while (n) {
        size_t k = n < sizeof zero ? n : sizeof zero;
        if (w_write(f, zero, k)) return -1;
        n -= k;
    }
    return 0;
}

int gguf_writer_save(struct gguf_writer *w, const char *path, struct err *e) {
    if (w->oom) return err_set(e, "%s: gguf writer ran out of memory (or got a bad value) while collecting metadata", path);
    size_t align = GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) { /* a general.alignment the caller set is honoured */
        uint32_t t, v;
        if (strcmp(w->kv[i].key, "general.alignment") || w->kv[i].raw_len != 8) continue;
        memcpy(&t, w->kv[i].raw, 4);
        memcpy(&v, w->kv[i].raw + 4, 4);
        if (t != GGUF_UINT32 || !v || (v & (v - 1)) || v > (1u << 30))
            return err_set(e, "%s: general.alignment must be a u32 power of two", path);
        align = v;
    }
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return err_set(e, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return err_set(e, "%s: cannot create: %s", tmp, strerror(errno));
    char *buf = malloc(1 << 16); /* header bytes go out in large writes; big tensor writes bypass it */
    if (buf) setvbuf(f, buf, _IOFBF, 1 << 16);
    int bad = w_u32(f, GGUF_MAGIC) || w_u32(f, 3) || w_u64(f, w->n_t) || w_u64(f, w->n_kv);
    uint64_t pos = 24;
    for (size_t i = 0; i < w->n_kv && !bad; i++) {
        uint64_t n = strlen(w->kv[i].key);
        bad = w_u64(f, n) || w_write(f, w->kv[i].key, n) || w_write(f, w->kv[i].raw, w->kv[i].raw_len);
        pos += 8 + n + w->kv[i].raw_len;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t && !bad; i++) {
        const struct wtensor *t = &w->t[i];
        uint64_t n = strlen(t->name);
        bad = w_u64(f, n) || w_write(f, t->name, n) || w_u32(f, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims && !bad; d++) bad = w_u64(f, (uint64_t)t->ne[d]);
        bad = bad || w_u32(f, (uint32_t)t->type) || w_u64(f, off);
        pos += 8 + n + 4 + 8 * (uint64_t)t->n_dims + 4 + 8;
        off += t->nbytes + (align - t->nbytes % align) % align;
    }
    bad = bad || w_pad(f, pos, align);
    for (size_t i = 0; i < w->n_t && !bad; i++)
        bad = w_write(f, w->t[i].data, w->t[i].nbytes) || w_pad(f, w->t[i].nbytes, align);
    bad = bad || fflush(f) || fsync(fileno(f));
    int saved = errno;
    if (fclose(f)) bad = 1, saved = errno;
    free(buf);
    if (bad) {
        unlink(tmp);
        return err_set(e, "%s: write failed: %s", tmp, strerror(saved));
    }
    if (rename(tmp, path)) {
        saved = errno;
        unlink(tmp);
        return err_set(e, "%s: cannot rename the finished file into place: %s", path, strerror(saved));
    }
    return 0;
}

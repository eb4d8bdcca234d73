/* GGUF (llama.cpp's model format, v2 and v3): reader over an mmap'ed file, and a
 * writer (used by `omni synth` and the tests).
 *
 * The reader trusts nothing: every count, length, type and offset is checked
 * against the file size before it is used, so a truncated or hostile file gives
 * a one-line error in struct err, never a crash or an oversized allocation.
 * Vocab-only files (0 tensors) may end before the aligned data offset. */
#ifndef OMNI_FORMATS_GGUF_H
#define OMNI_FORMATS_GGUF_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

enum gguf_type {
    GGUF_UINT8 = 0, GGUF_INT8 = 1, GGUF_UINT16 = 2, GGUF_INT16 = 3, GGUF_UINT32 = 4,
    GGUF_INT32 = 5, GGUF_FLOAT32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9,
    GGUF_UINT64 = 10, GGUF_INT64 = 11, GGUF_FLOAT64 = 12
};

/* Strings in the file are not NUL-terminated; the reader gives (ptr, len) views
 * into the mapping. */
struct gguf_str {
    const char *s;
    uint64_t len;
};

struct gguf;  /* an open file */

/* Maps the file (read-only, lazily): for reading metadata, or weights used once. */
struct gguf *gguf_open(const char *path, struct err *e);
/* Opens a model's weights for computing with them: as gguf_open, but a file of 32 MiB or more
 * that fits comfortably (at most half of the memory the kernel reports available, and of what
 * the process's memory cgroup still allows) is read
 * into memory backed by transparent huge pages instead of mapped. Every decode step streams
 * all the weights, and over 4 KiB file pages each page costs a TLB miss and stops the
 * hardware prefetcher: a Qwen3-1.7B Q4_K_M decode ran 1.5-1.9x faster from 2 MiB pages.
 * The price is the read at load (the whole file at once, not on first use). OMNI_MMAP=1 in
 * the environment keeps the mapping; so does any failure to read or allocate. */
struct gguf *gguf_open_weights(const char *path, struct err *e);
/* what gguf_open_weights measures a file against (twice the file must fit): MemAvailable,
 * capped by the memory cgroup's limit less its usage */
uint64_t gguf_memory_headroom(void);
/* 1 when the file was read into memory (gguf_open_weights), 0 when it is mapped or borrowed */
int gguf_is_read(const struct gguf *g);
/* Parses an in-memory image (not copied; must outlive the handle). For fuzzing. */
struct gguf *gguf_open_memory(const void *data, size_t size, struct err *e);
void gguf_close(struct gguf *g);

uint32_t gguf_version(const struct gguf *g);
size_t gguf_alignment(const struct gguf *g);
const char *gguf_path(const struct gguf *g);
uint64_t gguf_file_size(const struct gguf *g);
/* Byte offset of the tensor data section (aligned end of the tensor infos). */
size_t gguf_data_offset(const struct gguf *g);
/* "u32", "string", "array", ... for messages ("unknown" for a bad id). */
const char *gguf_type_name(enum gguf_type t);

/* ---- metadata ---- */
int64_t gguf_n_kv(const struct gguf *g);
/* Key index, or -1 when absent. */
int64_t gguf_find_key(const struct gguf *g, const char *key);
struct gguf_str gguf_key_name(const struct gguf *g, int64_t i);
enum gguf_type gguf_kv_type(const struct gguf *g, int64_t i);
/* Element type of the array at key index i, or (enum gguf_type)-1 if not an array. */
enum gguf_type gguf_kv_arr_type(const struct gguf *g, int64_t i);

/* Typed getters that return `def` when the key is missing. Any integer type is
 * accepted by get_int/get_uint (range-checked), any float type by get_float.
 * If the key exists with an incompatible type, they also return def and set
 * *bad (when bad != NULL) so loaders can report "key X has type Y". */
int64_t gguf_get_int(const struct gguf *g, const char *key, int64_t def, int *bad);
double gguf_get_float(const struct gguf *g, const char *key, double def, int *bad);
int gguf_get_bool(const struct gguf *g, const char *key, int def, int *bad);
/* Returns the string (a view into the file) or {NULL, 0} when missing/not a string. */
struct gguf_str gguf_get_str(const struct gguf *g, const char *key);
/* Returns a malloc'ed NUL-terminated copy, or NULL. Caller frees. */
char *gguf_get_str_dup(const struct gguf *g, const char *key);

/* Arrays: element type and count (0/GGUF_UINT8 with count 0 when missing).
 * Returns 0 when key is an array, -1 when it is missing or not an array.
 * Arrays of arrays are parsed and checked but only their type/count are exposed. */
int gguf_get_arr(const struct gguf *g, const char *key, enum gguf_type *elem_type, uint64_t *count);
/* For numeric arrays: a pointer to the raw little-endian elements in the file
 * (may be unaligned: memcpy out, or use the element getters below). */
const void *gguf_get_arr_data(const struct gguf *g, const char *key);
int64_t gguf_get_arr_int(const struct gguf *g, const char *key, uint64_t i);  /* int types */
double gguf_get_arr_float(const struct gguf *g, const char *key, uint64_t i); /* float types */
/* For string arrays: element i (views into the file; O(1) after open). */
struct gguf_str gguf_get_arr_str(const struct gguf *g, const char *key, uint64_t i);

/* ---- tensors ---- */
int64_t gguf_n_tensors(const struct gguf *g);
int64_t gguf_find_tensor(const struct gguf *g, const char *name);  /* -1 if absent */
/* Fills t (name, type, dims, data pointer into the mapping, nbytes). t->name
 * stays valid while the file is open. Returns -1 for a bad index. */
int gguf_tensor(const struct gguf *g, int64_t i, struct tensor *t);
/* Convenience: by name, checking the shape (ne[] entries; pass n_dims expected,
 * unused trailing ne ignored). Returns -1 with a message naming the tensor and
 * both shapes when it is missing or differs. */
int gguf_get_tensor(const struct gguf *g, const char *name, int n_dims, const int64_t *ne,
                    struct tensor *t, struct err *e);

/* ---- writer ----
 * Collects metadata and tensors in memory, then writes the file in one go:
 * header, KV pairs, tensor infos, aligned data. Always GGUF v3. The void setters
 * remember an out-of-memory and gguf_writer_save reports it. */
struct gguf_writer;
struct gguf_writer *gguf_writer_new(void);
void gguf_writer_free(struct gguf_writer *w);
void gguf_w_u32(struct gguf_writer *w, const char *key, uint32_t v);
void gguf_w_i32(struct gguf_writer *w, const char *key, int32_t v);
void gguf_w_u64(struct gguf_writer *w, const char *key, uint64_t v);
void gguf_w_f32(struct gguf_writer *w, const char *key, float v);
void gguf_w_bool(struct gguf_writer *w, const char *key, int v);
void gguf_w_str(struct gguf_writer *w, const char *key, const char *v);
/* Arrays: elements are copied. */
void gguf_w_arr_str(struct gguf_writer *w, const char *key, const char *const *v, uint64_t n);
void gguf_w_arr_i32(struct gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
void gguf_w_arr_f32(struct gguf_writer *w, const char *key, const float *v, uint64_t n);
/* Any scalar type (v points at one value of that type), and numeric arrays of any scalar type. */
void gguf_w_scalar(struct gguf_writer *w, const char *key, enum gguf_type type, const void *v);
void gguf_w_arr(struct gguf_writer *w, const char *key, enum gguf_type elem_type, const void *v, uint64_t n);
/* Copies all metadata from an open file (to derive a new file from an old one).
 * A key set twice keeps its last value, so copied keys can be overridden.
 * general.alignment is not copied; set it with gguf_w_u32 to lay data out at other
 * than 32 bytes. */
void gguf_w_copy_kv(struct gguf_writer *w, const struct gguf *src);
/* Adds a tensor whose data (nbytes = dtype_row_bytes(type, ne[0]) * rows) is copied. */
int gguf_w_tensor(struct gguf_writer *w, const char *name, int type, int n_dims,
                  const int64_t *ne, const void *data, struct err *e);
/* Same, but borrows data (no copy): it must stay valid until gguf_writer_save
 * returns. For multi-GB files, so the weights exist once in memory. */
int gguf_w_tensor_ref(struct gguf_writer *w, const char *name, int type, int n_dims,
                      const int64_t *ne, const void *data, struct err *e);
/* Writes path.tmp.<pid>, fsyncs, and renames it over path, so a crash never leaves a
 * half-written file under the final name. Tensor data is written straight from
 * the tensors' buffers, each padded to the alignment. */
int gguf_writer_save(struct gguf_writer *w, const char *path, struct err *e);

#endif

/* A tensor as the models see it: a typed, contiguous block of memory (usually
 * borrowed from an mmap'ed model file) with up to 4 dimensions, ggml-style:
 * ne[0] is the contiguous (innermost) dimension, so a weight matrix with ne[0] = k
 * and ne[1] = n has n rows of k elements each. */
#ifndef OMNI_CORE_TENSOR_H
#define OMNI_CORE_TENSOR_H
#include <stddef.h>
#include <stdint.h>

struct tensor {
    const char *name;  /* borrowed; for messages */
    int type;          /* enum dtype */
    int n_dims;
    int64_t ne[4];     /* unused dims are 1 */
    const void *data;  /* borrowed; row r starts at data + r * dtype_row_bytes(type, ne[0]) */
    size_t nbytes;
};

static inline int64_t tensor_nelements(const struct tensor *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}
#endif

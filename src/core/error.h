/* Errors: a function that can fail returns a status (0 ok, -1 failed) and writes a
 * message the user can act on into a caller-owned struct err. No exit(), no assert
 * on input data: a bad file or request must end in a message, never a crash. */
#ifndef OMNI_CORE_ERROR_H
#define OMNI_CORE_ERROR_H
#include <stddef.h>

struct err {
    char msg[512];
};

/* Formats the message (when e is not NULL) and returns -1, so callers can write
 * `return err_set(e, "%s: tensor '%s' is truncated", path, name);` */
int err_set(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends context to an existing message ("loading x.gguf: " + old) and returns -1. */
int err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copies the message into a caller's buffer, as the public API (omni.h) hands errors
 * out (char *err, size_t err_size; err may be NULL), and returns -1. */
int err_copy(const struct err *e, char *dst, size_t cap);
/* The same for a plain message. */
int err_copy_str(const char *msg, char *dst, size_t cap);

#endif

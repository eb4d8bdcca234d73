/* Rows kept per message (an answer's reasoning, its citations, ...) put on the message
 * objects of a JSON tree: one loop for the export, the conversation read and the post reply. */
#ifndef OMNI_STORAGE_MSG_ATTACH_H
#define OMNI_STORAGE_MSG_ATTACH_H
#include <cJSON.h>
#include <stddef.h>

/* The value for one row (NULL: the message gets nothing from it); ctx as given. */
typedef cJSON *(*store_attach_make)(const void *row, void *ctx);

/* For each message object in messages (an array of them, or one object) whose "id" is the
 * msg_id (a char array at id_off) of one of the n rows (stride bytes apart), adds make(row)
 * as field. 0, or -1 when a value could not be added (out of memory). */
int store_attach_per_msg(cJSON *messages, const char *field, const void *rows, size_t n, size_t stride,
                         size_t id_off, store_attach_make make, void *ctx);

#endif

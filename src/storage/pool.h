/* For storage files other than storage.c (responses.c …): a connection borrowed from the
 * store's pool for one call (db.h's statements on it), given back after. */
#ifndef OMNI_STORAGE_POOL_H
#define OMNI_STORAGE_POOL_H
#include "storage/db.h"
#include "storage/storage.h"

int store_pool_get(struct store *st, struct db **out, struct err *e);
/* Rolls back a transaction left open and keeps the connection unless it broke. */
void store_pool_put(struct store *st, struct db *d);

#endif

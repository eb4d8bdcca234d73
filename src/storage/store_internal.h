/* For store files besides storage.c (files.c): a connection of the store's pool, and
 * the database-wide lock, as storage.c's own functions use them. */
#ifndef OMNI_STORAGE_STORE_INTERNAL_H
#define OMNI_STORAGE_STORE_INTERNAL_H
#include "storage/db.h"
#include "storage/storage.h"

int store_db_acquire(struct store *st, struct db **out, struct err *e);
void store_db_release(struct store *st, struct db *d);
int store_db_lock(struct db *d, const char *key, struct err *e);

#endif

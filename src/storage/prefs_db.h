/* Internal to src/storage: what prefs.c borrows from storage.c (a pooled connection) and
 * what storage.c's export calls in prefs.c. */
#ifndef OMNI_STORAGE_PREFS_DB_H
#define OMNI_STORAGE_PREFS_DB_H
#include <cJSON.h>

#include "storage/db.h"
#include "storage/storage.h"

int store_db_acquire(struct store *st, struct db **out, struct err *e);
void store_db_release(struct store *st, struct db *d);
/* Adds "settings" (object or null) and "memories" (array) of the user to root. */
int store_prefs_export(struct store *st, const char *user_id, cJSON *root, struct err *e);

#endif

/* The model store: downloaded model files in one folder ($OMNI_HOME, default
 * ~/.local/share/omni/models), fetched with omni_store_pull (resumable, checksummed,
 * atomic) and found again by omni_store_resolve from a path, a store name or a catalog
 * name (all in omni.h). */
#ifndef OMNI_RUNTIME_STORE_H
#define OMNI_RUNTIME_STORE_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* omni_store_dir, _resolve, _list, _pull and _rm are public (omni.h); what is left here
 * is for the runtime and its tests. */

/* Hex digest of a whole file ("sha256" or "sha1"); hex needs 65 bytes. */
int store_file_digest(const char *path, const char *algo, char *hex, struct err *e);

#endif

/* The model store: downloaded model files in one folder ($OMNI_HOME, default
 * ~/.local/share/omni/models), fetched with store_pull (resumable, checksummed,
 * atomic) and found again by store_resolve from a path, a store name or a catalog name. */
#ifndef OMNI_RUNTIME_STORE_H
#define OMNI_RUNTIME_STORE_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* The store folder (not created). Returns buf, or NULL if it does not fit. */
const char *store_dir(char *buf, size_t cap);

/* Turns what a user typed after -m into a file path: an existing file path as is;
 * else a file in the store named NAME, NAME.gguf or NAME.bin; else a catalog name
 * whose file is in the store. Returns buf, or NULL with a message that says how to
 * get the model (e.g. "run `omni pull NAME`"). */
const char *store_resolve(const char *name_or_path, char *buf, size_t cap, struct err *e);

struct store_pull_params {
    /* Called as bytes arrive: done/total in bytes (total 0 when unknown), since the start
     * of the file (a resumed download starts above 0). May be NULL. */
    void (*progress)(uint64_t done, uint64_t total, void *ud);
    void *progress_ud;
    const char *sha256;     /* expected checksum for a URL pull (hex), or NULL */
    long timeout_s;         /* abort when no byte arrives for this long; 0 = 30 s */
    long connect_timeout_s; /* 0 = 15 s */
    int insecure;           /* accept a download no checksum is known for (else refused) */
};
struct store_pull_params store_pull_default_params(void);

enum { STORE_UNVERIFIED = 0, STORE_VERIFIED = 1, STORE_VERIFIED_HUB = 2 };

/* Downloads a catalog model or an http(s) URL into the store as <dir>/<file>.part,
 * resuming an existing .part with an HTTP Range request, verifies the SHA-256 (or the
 * catalog's SHA-1), and renames it into place. With no checksum given or in the catalog,
 * the hub's own SHA-256 and size (X-Linked-ETag / X-Linked-Size on Hugging Face's
 * redirect) are checked instead. With none of these known the download is refused
 * before its first byte is stored, unless p->insecure. An already present file is not
 * fetched again. Fills path with the final file. *verified: STORE_VERIFIED (the
 * catalog's or the caller's checksum), STORE_VERIFIED_HUB (the hub's), STORE_UNVERIFIED
 * (none known, accepted with p->insecure). */
int store_pull(const char *name_or_url, const struct store_pull_params *p, char *path, size_t cap,
               int *verified, struct err *e);

/* Removes a store file by name (NAME, NAME.gguf, NAME.bin or a catalog name) and its
 * .part. Refuses paths outside the store. */
int store_rm(const char *name, char *removed, size_t cap, struct err *e);

/* Hex digest of a whole file ("sha256" or "sha1"); hex needs 65 bytes. */
int store_file_digest(const char *path, const char *algo, char *hex, struct err *e);

#endif

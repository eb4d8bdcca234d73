/* Portable assistant bundles (.omni-assistant): one zip that carries an assistant to
 * another omni server.
 *
 *   manifest.json       {"format":"omni-assistant","schema_version":1,"exported":ms,
 *                        "source":{"id","version"}, "assistant":{…config, as assistants.h…},
 *                        "avatar":{"path","type","size","sha256"} | null,
 *                        "knowledge":[{"path":"knowledge/NAME","name","mime","size","sha256"}]}
 *   avatar.png|jpg|gif
 *   knowledge/NAME      the bundled knowledge files
 *
 * The reader takes bundles from anyone, so it trusts nothing: the archive is read from
 * memory (nothing is ever extracted to disk, so no path can escape a folder), and still a
 * bundle is refused, with one message naming the first problem, when an entry's name is
 * absolute, has "..", a backslash, or is not one the manifest lists; an entry is a symlink,
 * a directory, encrypted, or marked executable; it holds executable content (ELF, PE,
 * Mach-O, a #! script); an entry or the whole exceeds its size limit or inflates more than
 * BUNDLE_MAX_RATIO times (a zip bomb; sizes are counted as bytes come out, not taken from
 * the headers); a hash or size differs from the manifest's; the avatar is not an image we
 * take; or the manifest is not valid (schema version, configuration). */
#ifndef OMNI_ASSISTANTS_BUNDLE_H
#define OMNI_ASSISTANTS_BUNDLE_H
#include <stddef.h>

#include <cJSON.h>

#include "assistants/assistants.h"

#define BUNDLE_SCHEMA_VERSION 1
#define BUNDLE_MAX_BYTES   (64u << 20)   /* the zip itself */
#define BUNDLE_MAX_TOTAL   (96u << 20)   /* all entries inflated */
#define BUNDLE_MAX_ENTRIES (ASST_FILES_MAX + 2)
#define BUNDLE_MAX_MANIFEST (1u << 20)
#define BUNDLE_MAX_RATIO   200           /* inflated / compressed, for entries over 64 KiB */

struct bundle {
    cJSON *config;                /* the assistant's normalised configuration */
    char avatar_type[32];         /* "" = none */
    unsigned char *avatar;
    size_t avatar_n;
    struct asst_file *files;      /* with data */
    size_t n_files;
    char source_id[STORE_ID_MAX];
    int source_version;
};
void bundle_free(struct bundle *b);

/* Reads a bundle from memory. 0, or -1 with msg (one sentence) and nothing allocated. */
int bundle_read(const void *data, size_t n, struct bundle *out, char msg[256]);
/* Writes a bundle into *out (malloc'd, free()). config: a normalised configuration. */
int bundle_write(const struct bundle *b, unsigned char **out, size_t *out_n, char msg[256]);

/* The assistant (current version), its avatar and files as a bundle (*out malloc'd). */
int asst_export(struct store *st, const char *id, unsigned char **out, size_t *out_n, struct err *e);
/* A new private assistant of user_id from a bundle read by bundle_read (in out, may be NULL);
 * if any part cannot be stored, nothing is left behind. */
int asst_import(struct store *st, const char *user_id, const struct bundle *b, struct asst *out, struct err *e);

#endif

/* libFuzzer target for assistant bundles (src/assistants/bundle.c): the bytes are a
 * .omni-assistant file from anyone. bundle_read must end in a bundle or one error with a
 * message, never a crash, hang or leak; a bundle it accepts has a valid configuration,
 * plain file names, parts within their limits whose SHA-256 is what it says, an avatar of
 * a type we take, and no executable content; and writing it again and reading that back
 * gives the same configuration and parts. Built by tests/fuzz/build.sh;
 * tests/fuzz/test_fuzz_bundle.c replays the corpus. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "assistants/bundle.h"

static int fuzz_setup(void) { return 0; }

static void check(const struct bundle *b) {
    char param[64], msg[256], hex[65];
    cJSON *norm = NULL;
    if (!b->config || asst_config_check(b->config, &norm, param, msg)) abort();
    if (!cJSON_Compare(norm, b->config, 1)) abort();   /* stored normalised */
    cJSON_Delete(norm);
    struct err e = {{0}};
    if (b->avatar_n && !asst_avatar_check(b->avatar, b->avatar_n, &e)) abort();
    if (b->n_files > ASST_FILES_MAX) abort();
    for (size_t i = 0; i < b->n_files; i++) {
        const struct asst_file *f = &b->files[i];
        if (!asst_file_name_ok(f->name) || f->size < 0 || f->size > ASST_FILE_MAX) abort();
        asst_sha256_hex(f->data, (size_t)f->size, hex);
        if (strcmp(hex, f->sha256)) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct bundle b;
    char msg[256];
    if (bundle_read(data, size, &b, msg)) {
        if (!msg[0]) abort();   /* a refusal always says why */
        return 0;
    }
    check(&b);
    unsigned char *z = NULL;
    size_t zn = 0;
    if (bundle_write(&b, &z, &zn, msg)) abort();
    struct bundle c;
    if (bundle_read(z, zn, &c, msg)) abort();   /* what we write we read */
    if (!cJSON_Compare(b.config, c.config, 1) || c.n_files != b.n_files || c.avatar_n != b.avatar_n ||
        (b.avatar_n && memcmp(b.avatar, c.avatar, b.avatar_n)))
        abort();
    for (size_t i = 0; i < b.n_files; i++)
        if (strcmp(b.files[i].sha256, c.files[i].sha256)) abort();
    bundle_free(&c);
    free(z);
    bundle_free(&b);
    return 0;
}

/* libFuzzer target for the GGUF reader: any byte string must either open (and then
 * every metadata value and tensor byte must be readable inside the buffer) or fail
 * with a message. Built and run by tests/fuzz/build.sh (`make fuzz`);
 * tests/fuzz/test_fuzz_gguf.c replays the corpus. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"

static unsigned touch(struct gguf *g) {
    unsigned h = 0;
    for (int64_t i = 0; i < gguf_n_kv(g); i++) {
        struct gguf_str k = gguf_key_name(g, i);
        char key[128];
        if (k.len >= sizeof key) continue;
        memcpy(key, k.s, k.len);
        key[k.len] = 0;
        h += (unsigned)gguf_get_int(g, key, 0, NULL) + (gguf_get_float(g, key, 0, NULL) > 0);
        h += (unsigned)gguf_get_bool(g, key, 0, NULL);
        char *s = gguf_get_str_dup(g, key);
        if (s) h += (unsigned)strlen(s);
        free(s);
        enum gguf_type et;
        uint64_t n;
        if (gguf_get_arr(g, key, &et, &n) == 0)
            for (uint64_t j = 0; j < n && j < 4096; j++) {
                struct gguf_str a = gguf_get_arr_str(g, key, j);
                if (a.len) h += (uint8_t)a.s[a.len - 1];
                h += (unsigned)gguf_get_arr_int(g, key, j) + (gguf_get_arr_float(g, key, j) > 0);
            }
    }
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        struct tensor t;
        gguf_tensor(g, i, &t);
        h += (unsigned)gguf_find_tensor(g, t.name);
        if (t.nbytes) h += ((const uint8_t *)t.data)[0] + ((const uint8_t *)t.data)[t.nbytes - 1];
    }
    return h;
}

static int fuzz_setup(void) { return 0; } /* nothing to load (replay.h calls it too) */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fuzz_setup()) return 0;
    struct err e;
    struct gguf *g = gguf_open_memory(data, size, &e);
    if (g) {
        volatile unsigned h = touch(g);
        (void)h;
        gguf_close(g);
    }
    return 0;
}

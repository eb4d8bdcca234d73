/* libFuzzer target for the tool-call parsers (tools/toolcall_parse.c), which read what a
 * model generates: byte 0 picks the family syntax, the rest is the reply. It is parsed
 * whole and at every prefix as a stream sees it: nothing may crash or leak, every call
 * has a name and arguments, a complete call's arguments are a JSON object, and the
 * content and arguments of a prefix are prefixes of the final ones (what a stream has
 * sent is never taken back), except that an unfinished call may still turn out
 * malformed and become content; a finished call is final. Built by tests/fuzz/build.sh; tests/fuzz/test_fuzz_toolcall.c
 * replays the corpus. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "tools/toolcall.h"

static int fuzz_setup(void) { return 0; } /* nothing to load (replay.h calls it too) */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fuzz_setup() || size < 1 || size > 4096) return 0;
    enum tool_format f = (enum tool_format)(data[0] % TOOL_FMT_COUNT);
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    struct tool_parse whole;
    if (tool_parse(f, text, len, 0, &whole)) return 0;   /* out of memory */
    if (!whole.content || strlen(whole.content) > len) abort();
    for (int i = 0; i < whole.n_calls; i++) {
        const struct tool_call *c = &whole.calls[i];
        if (!c->name || !c->arguments || !c->complete) abort();
        cJSON *a = cJSON_Parse(c->arguments);
        if (!cJSON_IsObject(a)) abort();
        cJSON_Delete(a);
    }
    /* the stream's view: a few cut points (every one for short inputs) */
    size_t step = len < 256 ? 1 : len / 97 + 1;
    for (size_t k = 0; k <= len; k += step) {
        struct tool_parse p;
        if (tool_parse(f, text, k, 1, &p)) continue;
        /* An unfinished call that turns out malformed becomes content at the end (and the
         * calls after it move up): a stream may have announced it, but a finished call
         * never goes away or changes. */
        int unfinished = 0;
        for (int i = 0; i < p.n_calls; i++) {
            if (!p.calls[i].complete) { unfinished = 1; continue; }
            int found = 0;
            for (int j = 0; j <= i && j < whole.n_calls && !found; j++)
                found = !strcmp(p.calls[i].name, whole.calls[j].name) && !strcmp(p.calls[i].arguments, whole.calls[j].arguments);
            if (!found) abort();
        }
        if (!unfinished && strncmp(whole.content, p.content, strlen(p.content))) abort();
        for (int i = 0; !unfinished && i < p.n_calls; i++) {
            if (i >= whole.n_calls || strcmp(p.calls[i].name, whole.calls[i].name)) abort();
            if (strncmp(whole.calls[i].arguments, p.calls[i].arguments, strlen(p.calls[i].arguments))) abort();
        }
        tool_parse_free(&p);
    }
    tool_parse_free(&whole);
    return 0;
}

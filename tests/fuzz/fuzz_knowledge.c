/* libFuzzer target for knowledge extraction and chunking (src/knowledge/): byte 0 picks
 * the format (txt, md, pdf, docx, hwpx, html, csv), the rest is the file. Extraction
 * must end in blocks or one error, never a crash or a hang; blocks are non-empty and
 * trimmed, pages within the document; every chunk is non-empty and within its budget
 * by the estimate. Built by tests/fuzz/build.sh; tests/fuzz/test_fuzz_knowledge.c replays
 * the corpus. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "knowledge/chunk.h"
#include "knowledge/doc.h"

static int fuzz_setup(void) { return 0; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    enum kb_format f = (enum kb_format)(data[0] % KB_N_FORMATS);
    struct kb_limits lim = kb_default_limits();
    lim.max_unzipped = 16u << 20;  /* keep the fuzzer's memory small */
    struct kb_doc d;
    struct err e = {{0}};
    if (kb_extract(data + 1, size - 1, f, &lim, &d, &e)) {
        if (!e.msg[0]) abort();  /* an error always says what */
        return 0;
    }
    for (int i = 0; i < d.n; i++) {
        const char *t = d.b[i].text;
        size_t n = strlen(t);
        if (!n || (unsigned char)t[0] <= ' ' || (unsigned char)t[n - 1] <= ' ') abort();
        if (d.b[i].page < 0 || (d.n_pages && d.b[i].page > d.n_pages)) abort();
        if (d.b[i].kind == KB_HEADING && (d.b[i].level < 1 || d.b[i].level > 6)) abort();
    }
    struct kb_chunk_params p = kb_chunk_default_params();
    p.max_tokens = 64, p.overlap_tokens = 16;
    struct kb_chunk *c;
    int n;
    if (kb_chunk_doc(&d, &p, &c, &n, &e) == 0) {
        for (int i = 0; i < n; i++)
            if (!c[i].text[0] || kb_estimate_tokens(c[i].text, strlen(c[i].text)) > 64 + 8) abort();
        kb_chunks_free(c, n);
    }
    kb_doc_free(&d);
    return 0;
}

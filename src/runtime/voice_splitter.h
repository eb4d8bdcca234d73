/* Cuts a stream of LLM text into pieces TTS can speak at once: whole sentences (the
 * rules of tts_split_sentences), and for the first piece of a reply also a clause after
 * a comma or, without punctuation, a run of words, so the first audio comes early. */
#ifndef OMNI_RUNTIME_VOICE_SPLITTER_H
#define OMNI_RUNTIME_VOICE_SPLITTER_H
#include <stddef.h>

#define VSPLIT_FIRST_CLAUSE 12 /* bytes before a comma may end the first piece */
#define VSPLIT_FIRST_WORDS 48  /* bytes after which the first piece ends at a space anyway */

struct vsplit {
    char *buf;
    size_t len, cap;
    int n_out;     /* pieces emitted so far */
    int failed;    /* out of memory: text was dropped */
};

/* each() gets a trimmed, non-empty piece (not NUL-terminated); a non-zero return stops
 * the scan (the rest stays buffered). */
typedef int (*vsplit_fn)(const char *s, size_t n, void *ud);

void vsplit_init(struct vsplit *s);
void vsplit_free(struct vsplit *s);
/* Appends text and emits every piece that is now complete. Returns each()'s non-zero or 0. */
int vsplit_push(struct vsplit *s, const char *text, size_t n, vsplit_fn each, void *ud);
/* Emits what is left (end of the reply). */
int vsplit_flush(struct vsplit *s, vsplit_fn each, void *ud);

#endif

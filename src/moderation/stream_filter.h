/* Output moderation on a stream, sentence by sentence with a small hold-back: generated
 * text is held until a sentence ends (., !, ?, 。, ！, ？, … or a newline, then a blank or
 * the end), the sentence is checked, and only then released -- rewritten if the check
 * redacts, never if it flags. After a flag nothing more is released: the caller ends the
 * stream with finish_reason "content_filter" as OpenAI does. A sentence that runs past
 * max_hold bytes without ending is checked at its last blank (or cut at a character
 * boundary) so the stream never stalls by more than that. The voice loop uses the same
 * filter before a sentence is spoken.
 *
 * Not thread-safe: one filter per stream, driven by one thread. */
#ifndef OMNI_MODERATION_STREAM_FILTER_H
#define OMNI_MODERATION_STREAM_FILTER_H
#include <stddef.h>

/* Checks one sentence. Returns 1 to flag it (stop), 0 to release it; it may set
 * *replacement to a malloc'ed text released instead (redaction; the filter frees it).
 * -1: the check failed (treated as a flag: fail closed). */
typedef int (*mod_sentence_check)(const char *s, size_t n, char **replacement, void *user);
/* Receives released text; non-zero return stops the filter (push/flush return -1). */
typedef int (*mod_release_fn)(const char *s, size_t n, void *user);

struct mod_stream {
    mod_sentence_check check;
    void *check_user;
    size_t max_hold;        /* bytes held at most before a forced check (default 400) */
    char *held;
    size_t n_held, cap;
    int flagged;            /* a sentence was flagged: nothing more comes out */
    int n_checked;          /* sentences checked so far */
};

void mod_stream_init(struct mod_stream *s, mod_sentence_check check, void *check_user);
void mod_stream_free(struct mod_stream *s);
/* Adds generated text. 0; 1 once a sentence is flagged (this or an earlier call); -1 when
 * release failed or memory ran out. */
int mod_stream_push(struct mod_stream *s, const char *text, size_t n, mod_release_fn release, void *user);
/* At the end of generation: checks and releases what is held. Same returns as push. */
int mod_stream_flush(struct mod_stream *s, mod_release_fn release, void *user);

#endif

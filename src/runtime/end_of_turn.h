/* Has the user finished? A rule over the transcript heard so far, so the voice loop can
 * end a turn after a short silence when the words end a sentence (final punctuation, a
 * Korean sentence ending such as -다/-요/-까/-죠, a question) and wait longer when they
 * trail off (a conjunction, a filler, an article or preposition, a Korean connective
 * ending or particle: "and", "um", "the", "그리고", "음", "먹고", "저는"). Pure text, no
 * model: it runs in microseconds on the speculative transcript made at the first quiet
 * window. */
#ifndef OMNI_RUNTIME_END_OF_TURN_H
#define OMNI_RUNTIME_END_OF_TURN_H
#include <stddef.h>

enum eot_class {
    EOT_UNSURE = 0,    /* nothing says either way (no final punctuation, no trailing cue, empty) */
    EOT_COMPLETE,      /* ends a sentence or a question */
    EOT_CONTINUE,      /* the sentence is still going */
};

/* Classifies UTF-8 text (len bytes; need not be NUL-terminated). */
enum eot_class eot_classify(const char *text, size_t len);

/* Silences (ms) for each class: the loop ends a turn after this much quiet. */
struct eot_silences {
    int complete_ms, unsure_ms, continue_ms;
};
int eot_silence_ms(enum eot_class c, const struct eot_silences *s);
const char *eot_class_name(enum eot_class c);

#endif

/* Prompt lookup: draft tokens for speculative decoding taken from the text so far.
 * Summaries, edits and code changes repeat long runs of their prompt; when the last
 * few tokens generated also occur earlier in the sequence, what followed them there
 * is a good guess for what comes next. The engine (runtime/scheduler.c) has the model
 * verify the guess in one batched forward, so a wrong guess costs only compute. */
#ifndef OMNI_RUNTIME_LOOKUP_H
#define OMNI_RUNTIME_LOOKUP_H
#include <stdint.h>

/* hist[0..n) is the sequence so far (prompt and generated tokens, the newest last).
 * For n-gram sizes from ngram_max down to ngram_min, finds the most recent earlier
 * occurrence of hist's last `size` tokens that has something after it, and writes
 * max_out tokens to out: those that followed it, and where hist ends first, the guess
 * read on as if it were history (a cycle of period p continues with period p). Returns
 * max_out, or 0 when no n-gram of those sizes repeats. */
int lookup_draft(const int32_t *hist, int n, int ngram_min, int ngram_max, int32_t *out, int max_out);

#endif

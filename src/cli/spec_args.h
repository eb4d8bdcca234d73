/* The speculative decoding options `omni serve`, `omni run` and `omni chat` share, as
 * llama-server spells them: --draft-model FILE, --draft-max N, --draft-min N, and
 * --lookup (prompt lookup: guesses from the text so far). They fill the engine's
 * parameters (and --draft-p-min, the draft's confidence cut); the draft model is loaded
 * by cli_spec_load. */
#ifndef OMNI_CLI_SPEC_ARGS_H
#define OMNI_CLI_SPEC_ARGS_H
#include "omni.h"

struct cli_spec {
    const char *draft_path;
    int draft_max, draft_min, lookup;
    float draft_p_min;      /* < 0: the engine's default */
    omni_model *draft;      /* loaded by cli_spec_load, freed by cli_spec_free (after the model) */
};

#define CLI_SPEC_HELP                                                                               \
    "  --draft-model FILE        speculative decoding: a small model with the same vocabulary\n"  \
    "                            guesses the next tokens, the model checks them in one batched\n" \
    "                            forward (the output is the same as without it)\n"                \
    "  --draft-max N             most tokens guessed per step (default 16)\n"                     \
    "  --draft-min N             fewer guesses than this: decode normally (default 0)\n"          \
    "  --draft-p-min P           the draft stops guessing at a token it gives less than P\n"     \
    "                            probability (default 0.75)\n"                                   \
    "  --lookup                  speculative decoding from the text so far: when the last tokens\n" \
    "                            occurred before, guess what followed them (prompt lookup; for\n" \
    "                            summaries, edits, quoting). Off by default\n"

void cli_spec_init(struct cli_spec *s);
/* When argv[*i] is one of the options, consumes it and its value (advancing *i) and
 * returns 1; 0 when it is not one; -1 after printing an error. */
int cli_spec_arg(struct cli_spec *s, int argc, char **argv, int *i);
/* Loads the draft model if one was given (same threads as mp) and sets the engine
 * parameters. Returns 0, or -1 after printing an error. */
int cli_spec_load(struct cli_spec *s, const omni_model_params *mp, omni_engine_params *ep);
void cli_spec_free(struct cli_spec *s);

#endif

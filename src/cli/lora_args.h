/* The LoRA adapter options every model-running command shares: `--lora FILE[:SCALE]`
 * and llama.cpp's `--lora-scaled FILE SCALE`, repeatable, collected into the list
 * omni_model_params.lora takes. */
#ifndef OMNI_CLI_LORA_ARGS_H
#define OMNI_CLI_LORA_ARGS_H
#include "omni.h"

#define CLI_MAX_LORA 16

struct cli_lora {
    omni_lora a[CLI_MAX_LORA];
    char path[CLI_MAX_LORA][4096];
    int n;
};

/* The help lines, indented as the commands' option lists. */
#define CLI_LORA_HELP                                                                              \
    "  --lora FILE[:SCALE]       apply a LoRA adapter (GGUF, made for this model) at SCALE\n"    \
    "                            (default 1); repeat for several\n"                               \
    "  --lora-scaled FILE SCALE  the same, llama.cpp's spelling\n"

/* When argv[*i] is one of the options, consumes it and its values (advancing *i) and
 * returns 1; 0 when it is not one; -1 after printing an error (bad scale, too many). */
int cli_lora_arg(struct cli_lora *l, int argc, char **argv, int *i);

#endif

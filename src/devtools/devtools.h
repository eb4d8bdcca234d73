/* The developer tools behind `omni eval`, `omni eval-vision`, `omni eval-asr`, `omni
 * bench` and `omni synth`: comparison and measurement commands that by nature reach
 * into model internals (raw logits in the golden files' format, a bare forward pass,
 * random weights of a real model's shape), so they live in their own area beside the
 * CLI instead of behind include/omni.h. They are linked into the omni binary, not into
 * libomni.a. Each takes its subcommand's arguments (argv[0] is the subcommand) and
 * returns the process exit status, reporting errors with cli_fail (cli/cli.h). */
#ifndef OMNI_DEVTOOLS_H
#define OMNI_DEVTOOLS_H

int tool_eval(int argc, char **argv);         /* devtools/eval.c */
int tool_eval_vision(int argc, char **argv);  /* devtools/eval_vision.c */
int tool_eval_asr(int argc, char **argv);     /* devtools/eval_asr.c */
int tool_eval_tts(int argc, char **argv);     /* devtools/eval_tts.c */
int tool_bench(int argc, char **argv);        /* devtools/bench.c */
int tool_synth(int argc, char **argv);        /* devtools/synth.c */

/* The k largest of x[0..n) into ids, best first; ties keep the lower index (as the
 * golden files list them). Shared by eval and eval-vision. devtools/eval.c */
void tool_top_k(const float *x, int n, int k, int *ids);

#endif

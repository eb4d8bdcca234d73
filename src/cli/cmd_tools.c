/* `omni eval`, `omni eval-vision`, `omni eval-asr`, `omni bench` and `omni synth`: the
 * developer tools, which reach into model internals by nature, are implemented in
 * src/devtools/ (devtools/devtools.h); these are their entry points in the CLI. They share one
 * file so the tools' sources keep their history as plain renames. */
#include "cli/cli.h"
#include "devtools/devtools.h"

int cmd_eval(int argc, char **argv) { return tool_eval(argc, argv); }
int cmd_eval_vision(int argc, char **argv) { return tool_eval_vision(argc, argv); }
int cmd_eval_asr(int argc, char **argv) { return tool_eval_asr(argc, argv); }
int cmd_eval_tts(int argc, char **argv) { return tool_eval_tts(argc, argv); }
int cmd_bench(int argc, char **argv) { return tool_bench(argc, argv); }
int cmd_synth(int argc, char **argv) { return tool_synth(argc, argv); }

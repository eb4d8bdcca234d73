/* How `omni chat` and `omni run` show a thinking model's thoughts (the text the engine
 * marks as reasoning: <think>…</think>, gpt-oss's analysis channel). On a terminal they
 * are shown dimmed before the answer, so a long think is visibly work, not a hang; when
 * stdout is a pipe or a file only the answer is written, so scripts get the answer alone.
 * --show-reasoning and --hide-reasoning override either way. */
#ifndef OMNI_CLI_THOUGHTS_H
#define OMNI_CLI_THOUGHTS_H
#include <stddef.h>

struct thoughts {
    int show;      /* write the thoughts at all */
    int dim;       /* with ANSI faint (stdout is a terminal) */
    int inside;    /* the last thing written was thoughts */
    int any;       /* some thoughts were written for this reply */
};

/* choice: 1 show, 0 hide, -1 decide by whether stdout is a terminal. */
void thoughts_init(struct thoughts *t, int choice);
/* A new reply begins. */
void thoughts_reset(struct thoughts *t);
/* omni_generate_params.on_reasoning (user = struct thoughts *). */
int thoughts_text(const char *text, size_t len, void *user);
/* Before each piece of the answer (and at the end of a reply): closes the thoughts. */
void thoughts_close(struct thoughts *t);

#endif

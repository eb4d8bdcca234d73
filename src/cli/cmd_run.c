/* `omni run`: completes a prompt with a model and streams the text to stdout as it is
 * generated (raw completion, no chat template: see `omni chat` for conversations). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "models/llm.h"
#include "text/sampler.h"
#include "text/tokenizer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: omni run -m MODEL -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P]\n"
            "                [--min-p P] [--seed S] [-t THREADS] [-c CTX]\n\n"
            "Continues PROMPT with the model, printing the prompt and then each new piece of\n"
            "text as soon as it is generated. Generation stops after N tokens, at the model's\n"
            "end-of-generation token, or when the context is full. No chat template is applied.\n\n"
            "  -m, --model PATH   a GGUF model (llama or qwen2 architecture)\n"
            "  -p, --prompt TEXT  the text to continue\n"
            "  -n N               tokens to generate (default 128)\n"
            "  --temp T           temperature; 0 = greedy, always the most likely token (default 0.8)\n"
            "  --top-k K          sample among the K most likely tokens only (default 40; 0 = all)\n"
            "  --top-p P          ... and only the smallest set with probability >= P (default 0.95)\n"
            "  --min-p P          drop tokens below P x the best token's probability (default 0.05)\n"
            "  --seed S           random seed; the same seed gives the same text (default: random)\n"
            "  -t, --threads N    compute threads (default: all cores)\n"
            "  -c, --ctx N        context size in tokens (default: prompt + N, at most the\n"
            "                     model's training context)\n");
}

int cmd_run(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL;
    int n_gen = 128, threads = 0, n_ctx = 0;
    struct sampler_params sp = sampler_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has) model = argv[++i];
        else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && has) prompt = argv[++i];
        else if (!strcmp(a, "-n") && has) n_gen = atoi(argv[++i]);
        else if (!strcmp(a, "--temp") && has) sp.temperature = strtof(argv[++i], NULL);
        else if (!strcmp(a, "--top-k") && has) sp.top_k = atoi(argv[++i]);
        else if (!strcmp(a, "--top-p") && has) sp.top_p = strtof(argv[++i], NULL);
        else if (!strcmp(a, "--min-p") && has) sp.min_p = strtof(argv[++i], NULL);
        else if (!strcmp(a, "--seed") && has) sp.seed = strtoull(argv[++i], NULL, 10);
        else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has) threads = atoi(argv[++i]);
        else if ((!strcmp(a, "-c") || !strcmp(a, "--ctx")) && has) n_ctx = atoi(argv[++i]);
        else return cli_fail("run: unknown or incomplete option '%s' (see omni run --help)", a);
    }
    if (!model) return cli_fail("run: no model given; use -m MODEL (see omni run --help)");
    if (!prompt) return cli_fail("run: no prompt given; use -p PROMPT (see omni run --help)");
    if (n_gen < 0) return cli_fail("run: -n must not be negative");
    if (n_ctx < 0) return cli_fail("run: --ctx must not be negative");
    if (threads < 0) return cli_fail("run: --threads must not be negative");
    if (!(sp.top_p > 0)) return cli_fail("run: --top-p must be > 0");

    struct err e = {{0}};
    struct progress pr;
    progress_begin(&pr, "loading");
    struct llm_load_params lp = llm_default_load_params();
    lp.n_threads = threads;
    lp.progress = progress_cb;
    lp.progress_ud = &pr;
    struct llm *m = llm_load(model, &lp, &e);
    progress_end(&pr);
    if (!m) return cli_fail("%s", e.msg);
    const struct llm_hparams *hp = llm_hparams(m);
    struct tokenizer *tok = tokenizer_load(llm_gguf(m), &e);
    struct sampler *smp = NULL;
    struct llm_kv *kv = NULL;
    int32_t *ids = NULL, *pos = NULL;
    float *lg = NULL;
    char *buf = NULL;
    size_t n = 0;
    int rc = 1;
    if (!tok) { cli_fail("%s", e.msg); goto out; }
    if (tokenizer_encode(tok, prompt, strlen(prompt), 1, 0, &ids, &n, &e)) { cli_fail("%s", e.msg); goto out; }
    if (n == 0) { cli_fail("run: the prompt gives no tokens"); goto out; }
    if (!n_ctx) {
        n_ctx = (int)n + n_gen;
        if (n_ctx > hp->n_ctx_train) n_ctx = hp->n_ctx_train > (int)n ? hp->n_ctx_train : (int)n + 1;
    }
    if ((int)n >= n_ctx) { cli_fail("run: the prompt has %zu tokens, more than the context of %d (-c)", n, n_ctx); goto out; }
    smp = sampler_new(&sp, hp->n_vocab);
    kv = llm_kv_new(m, 1, n_ctx, &e);
    pos = malloc(sizeof(int32_t) * n);
    lg = malloc(sizeof(float) * (size_t)hp->n_vocab);
    size_t cap = 3 * tokenizer_max_piece(tok) + 16;
    buf = malloc(cap);
    if (!smp || !kv || !pos || !lg || !buf) { cli_fail("run: %s", kv ? "out of memory" : e.msg); goto out; }
    for (size_t i = 0; i < n; i++) {
        pos[i] = (int32_t)i;
        sampler_accept(smp, ids[i]);
    }
    fputs(prompt, stdout);
    fflush(stdout);
    struct llm_batch b = {(int)n, ids, pos, NULL, NULL};
    if (llm_forward(m, kv, &b, lg, &e)) { cli_fail("%s", e.msg); goto out; }
    struct detok d;
    detok_init(&d, tok, 0);
    d.n_done = 1;  /* a continuation: keep the first piece's leading space */
    for (int s = 0, p = (int)n; s < n_gen && p < n_ctx; s++, p++) {
        int32_t t = sampler_sample(smp, lg);
        if (t < 0 || tokenizer_is_eog(tok, t)) break;
        sampler_accept(smp, t);
        if (detok_push(&d, t, buf, cap)) { fputs(buf, stdout); fflush(stdout); }
        if (s + 1 == n_gen || p + 1 >= n_ctx) break;
        struct llm_batch b1 = {1, &t, &p, NULL, NULL};
        if (llm_forward(m, kv, &b1, lg, &e)) { cli_fail("%s", e.msg); goto out; }
    }
    if (detok_flush(&d, buf, cap)) fputs(buf, stdout);
    putchar('\n');
    rc = 0;
out:
    free(buf); free(lg); free(pos); free(ids);
    llm_kv_free(kv);
    sampler_free(smp);
    tokenizer_free(tok);
    llm_free(m);
    return rc;
}

/* `omni run`: completes a prompt with a model and streams the text to stdout as it is
 * generated (raw completion, no chat template: see `omni chat` for conversations).
 * With --mmproj and --image, the pictures' embeddings go before the prompt text, as
 * llava-cli does. Built only on the public API (omni.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/lora_args.h"
#include "cli/progress.h"
#include "cli/thoughts.h"
#include "omni.h"

enum { RUN_MAX_IMAGES = 16 };

static void usage(FILE *f) {
    fprintf(f,
            "usage: omni run -m MODEL -p PROMPT [--mmproj MMPROJ --image PATH]... [-n N] [--temp T]\n"
            "                [--top-k K] [--top-p P] [--min-p P] [--seed S] [-t THREADS] [-c CTX]\n"
            "                [--lora FILE[:SCALE]]... [--cache-type f16|q8_0|q4_0] [--flash-attn auto|on|off]\n\n"
            "Continues PROMPT with the model, printing the prompt and then each new piece of\n"
            "text as soon as it is generated. Generation stops after N tokens, at the model's\n"
            "end-of-generation token, or when the context is full. No chat template is applied.\n\n"
            "  -m, --model PATH   a GGUF language model (architectures: see README)\n"
            "  -p, --prompt TEXT  the text to continue\n"
            "  --mmproj PATH      an image encoder made for MODEL (llama.cpp \"mmproj\" GGUF)\n"
            "  --image PATH       a picture (PNG, JPEG, GIF, BMP) shown to the model before the\n"
            "                     prompt text; repeat for several (needs --mmproj)\n"
            "  -n N               tokens to generate (default 128)\n"
            "  --temp T           temperature; 0 = greedy, always the most likely token (default 0.8)\n"
            "  --top-k K          sample among the K most likely tokens only (default 40; 0 = all)\n"
            "  --top-p P          ... and only the smallest set with probability >= P (default 0.95)\n"
            "  --min-p P          drop tokens below P x the best token's probability (default 0.05)\n"
            "  --seed S           random seed; the same seed gives the same text (default: random)\n"
            "  -t, --threads N    compute threads (default: all cores)\n"
            "  -c, --ctx N        context size in tokens (default: prompt + N, at most the\n"
            "                     model's training context)\n"
            "  --cache-type T     KV cache type for K and V: f16 (default), q8_0 or q4_0\n"
            "  --flash-attn M     attention kernel: auto (default), on (tiled) or off (exact)\n"
            "  --show-reasoning   a thinking model's thoughts (<think>…</think> after a prompt\n"
            "                     that opens them, gpt-oss's analysis channel) are written,\n"
            "                     dimmed on a terminal, before the answer: the default on a terminal\n"
            "  --hide-reasoning   write only the answer: the default when stdout is not a terminal\n"
            "  --raw              write the text exactly as generated, tags included\n"
            CLI_LORA_HELP "\n"
            "example: omni run -m llava-v1.5-7b.gguf --mmproj mmproj.gguf --image cat.jpg \\\n"
            "             -p \"USER: What is in the picture?\\nASSISTANT:\" --temp 0\n");
}

static int print_text(const char *text, size_t len, void *user) {
    if (user) thoughts_close(user);
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

int cmd_run(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *mmproj = NULL;
    const char *image_paths[RUN_MAX_IMAGES];
    omni_engine_params ep = omni_engine_default_params();
    int n_images = 0, n_gen = 128, threads = 0, n_ctx = 0;
    omni_generate_params gp = omni_generate_default_params();
    omni_sampling_params *sp = &gp.sampling;
    int show_reasoning = -1, raw = 0;
    static struct cli_lora la;
    la.n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc, lr = cli_lora_arg(&la, argc, argv, &i);
        if (lr < 0) return 1;
        if (lr) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has) model = argv[++i];
        else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && has) prompt = argv[++i];
        else if (!strcmp(a, "--mmproj") && has) mmproj = argv[++i];
        else if (!strcmp(a, "--image") && has) {
            if (n_images == RUN_MAX_IMAGES) return cli_fail("run: at most %d --image options", RUN_MAX_IMAGES);
            image_paths[n_images++] = argv[++i];
        }
        else if (!strcmp(a, "-n") && has) n_gen = atoi(argv[++i]);
        else if (!strcmp(a, "--temp") && has) sp->temperature = strtof(argv[++i], NULL);
        else if (!strcmp(a, "--top-k") && has) sp->top_k = atoi(argv[++i]);
        else if (!strcmp(a, "--top-p") && has) sp->top_p = strtof(argv[++i], NULL);
        else if (!strcmp(a, "--min-p") && has) sp->min_p = strtof(argv[++i], NULL);
        else if (!strcmp(a, "--seed") && has) sp->seed = strtoull(argv[++i], NULL, 10);
        else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has) threads = atoi(argv[++i]);
        else if ((!strcmp(a, "-c") || !strcmp(a, "--ctx")) && has) n_ctx = atoi(argv[++i]);
        else if (!strcmp(a, "--cache-type") && has) {
            if ((ep.cache_type = omni_cache_type_parse(argv[++i])) < 0)
                return cli_fail("run: --cache-type is f16, q8_0 or q4_0, not '%s'", argv[i]);
        } else if (!strcmp(a, "--flash-attn") && has) {
            if ((ep.flash_attn = omni_flash_attn_parse(argv[++i])) < 0)
                return cli_fail("run: --flash-attn is auto, on or off, not '%s'", argv[i]);
        }
        else if (!strcmp(a, "--show-reasoning")) show_reasoning = 1;
        else if (!strcmp(a, "--hide-reasoning")) show_reasoning = 0;
        else if (!strcmp(a, "--raw")) raw = 1;
        else return cli_fail("run: unknown or incomplete option '%s' (see omni run --help)", a);
    }
    if (!model) return cli_fail("run: no model given; use -m MODEL (see omni run --help)");
    if (!prompt) return cli_fail("run: no prompt given; use -p PROMPT (see omni run --help)");
    if (n_gen < 0) return cli_fail("run: -n must not be negative");
    if (n_ctx < 0) return cli_fail("run: --ctx must not be negative");
    if (threads < 0) return cli_fail("run: --threads must not be negative");
    if (!(sp->top_p > 0)) return cli_fail("run: --top-p must be > 0");
    if (n_images && !mmproj) return cli_fail("run: --image needs an image encoder; add --mmproj MMPROJ");
    if (n_images && !*prompt) return cli_fail("run: --image needs some prompt text after the image (-p)");

    char err[512];
    omni_image *images[RUN_MAX_IMAGES] = {0};
    omni_model *m = NULL;
    omni_session *s = NULL;
    char *text = NULL;
    int rc = 1;
    /* Images first: a wrong path should not wait for a large model to load. */
    for (int k = 0; k < n_images; k++)
        if (!(images[k] = omni_image_load(image_paths[k], err, sizeof err))) { cli_fail("%s", err); goto out; }
    omni_model_params mp = omni_model_default_params();
    mp.n_threads = threads;
    mp.lora = la.a, mp.n_lora = la.n;
    struct progress pr;
    progress_begin(&pr, "loading");
    mp.progress = progress_cb;
    mp.progress_user = &pr;
    m = omni_model_load(model, &mp, err, sizeof err);
    progress_end(&pr);
    if (!m) { cli_fail("%s", err); goto out; }
    if (mmproj && omni_model_load_mmproj(m, mmproj, err, sizeof err)) { cli_fail("%s", err); goto out; }

    /* The prompt as the session reads it: one marker per image, then the text. */
    size_t mark = strlen(OMNI_IMAGE_MARKER), plen = strlen(prompt);
    text = malloc((size_t)n_images * mark + plen + 1);
    if (!text) { cli_fail("run: out of memory"); goto out; }
    for (int k = 0; k < n_images; k++) memcpy(text + (size_t)k * mark, OMNI_IMAGE_MARKER, mark);
    memcpy(text + (size_t)n_images * mark, prompt, plen + 1);

    int n = omni_tokenize(m, prompt, plen, 1, 0, NULL, 0);
    if (n < 0) { cli_fail("run: the prompt cannot be tokenized"); goto out; }
    n += n_images * omni_model_n_image_pos(m);
    if (n == 0) { cli_fail("run: the prompt gives no tokens"); goto out; }
    if (!n_ctx) {
        int train = omni_model_n_ctx_train(m);
        n_ctx = n + n_gen;
        if (n_ctx > train) n_ctx = train > n ? train : n + 1;
    }
    if (n >= n_ctx) { cli_fail("run: the prompt has %d positions, more than the context of %d (-c)", n, n_ctx); goto out; }
    ep.n_slots = 0;  /* the session's cache only */
    if (omni_model_start_engine(m, &ep, err, sizeof err)) { cli_fail("%s", err); goto out; }
    omni_session_params ssp = omni_session_default_params();
    ssp.n_ctx = n_ctx;
    s = omni_session_new(m, &ssp, err, sizeof err);
    if (!s) { cli_fail("%s", err); goto out; }

    fputs(prompt, stdout);
    fflush(stdout);
    gp.max_tokens = n_gen;
    gp.parse_special = 0;
    gp.on_text = print_text;
    struct thoughts th;
    thoughts_init(&th, show_reasoning);
    if (!raw) {
        gp.reasoning = OMNI_REASONING_AUTO;
        gp.on_reasoning = thoughts_text;
        gp.user = &th;
    }
    gp.images = (const omni_image *const *)images;
    gp.n_images = n_images;
    if (n_gen > 0 && omni_session_generate(s, text, &gp, NULL, err, sizeof err)) {
        putchar('\n');
        cli_fail("%s", err);
        goto out;
    }
    thoughts_close(&th);
    putchar('\n');
    rc = 0;
out:
    free(text);
    omni_session_free(s);
    omni_model_free(m);
    for (int k = 0; k < n_images; k++) omni_image_free(images[k]);
    return rc;
}

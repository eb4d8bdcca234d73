/* `omni chat`: an interactive conversation in the terminal using the model's own
 * chat template. Built only on the public API (omni.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/lora_args.h"
#include "cli/progress.h"
#include "cli/thoughts.h"
#include "omni.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: omni chat -m MODEL [--mmproj MMPROJ] [--system TEXT] [options]\n\n"
            "Talk with a model in the terminal. Each line you type is a message; the reply\n"
            "streams back as it is generated. The model's own chat template formats the\n"
            "conversation, and earlier turns stay in the KV cache, so follow-ups are fast.\n\n"
            "  -m MODEL        a GGUF model file\n"
            "  --mmproj FILE   an image encoder made for MODEL (llama.cpp \"mmproj\" GGUF, e.g.\n"
            "                  LLaVA's); lets you show the model pictures with /image\n"
            "  --system TEXT   a system prompt (the assistant's instructions)\n"
            "  -n N            at most N tokens per reply (default 1024)\n"
            "  -c CTX          context length in tokens (default: the model's, as far as its KV cache\n"
            "                  fits a quarter of memory; at least 4096)\n"
            "  --cache-type T  KV cache type for K and V: f16 (default), q8_0 or q4_0\n"
            "  --flash-attn M  attention kernel: auto (default), on (tiled) or off (exact)\n"
            "  -t THREADS      compute threads (default: all cores)\n"
            "  --temp T        sampling temperature (default 0.8; 0 = always the likeliest token)\n"
            "  --top-k K, --top-p P, --min-p P, --repeat-penalty R, --seed S\n"
            "  --show-reasoning  show a thinking model's thoughts (Qwen3's <think>, gpt-oss's\n"
            "                  analysis) before its answer: the default on a terminal, dimmed\n"
            "  --hide-reasoning  show only the answer: the default when stdout is not a terminal\n"
            "  --no-think      ask the model not to think first (Qwen3 and others: enable_thinking\n"
            "                  false; gpt-oss cannot skip it: low effort)\n"
            "  --reasoning-effort E  low, medium or high, for models that read it (gpt-oss)\n"
            CLI_LORA_HELP "\n"
            "In the chat: /image PATH attaches a picture (PNG, JPEG, GIF, BMP) to your next\n"
            "message (needs --mmproj; several /image lines attach several), /reset starts over,\n"
            "/system TEXT changes the instructions, /exit quits (or press Ctrl-D).\n");
}

static int print_text(const char *text, size_t len, void *user) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

/* The conversation; images[] are in the order their markers appear in the messages,
 * and img_end[i] is how many of them messages 0..i hold. */
struct history {
    omni_chat_message *msgs;
    char **owned;
    int *img_end;
    size_t n, cap;
    omni_image **images;
    int n_images, cap_images;
};

static int history_add(struct history *h, const char *role, const char *content) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        omni_chat_message *m = realloc(h->msgs, cap * sizeof *m);
        if (!m) return -1;
        h->msgs = m;
        char **o = realloc(h->owned, cap * sizeof *o);
        if (!o) return -1;
        h->owned = o;
        int *ie = realloc(h->img_end, cap * sizeof *ie);
        if (!ie) return -1;
        h->img_end = ie;
        h->cap = cap;
    }
    char *c = strdup(content);
    if (!c) return -1;
    h->owned[h->n] = c;
    h->msgs[h->n].role = role;
    h->msgs[h->n].content = c;
    h->img_end[h->n] = h->n_images;
    h->n++;
    return 0;
}

static int history_add_image(struct history *h, omni_image *img) {
    if (h->n_images == h->cap_images) {
        int cap = h->cap_images ? h->cap_images * 2 : 8;
        omni_image **p = realloc(h->images, (size_t)cap * sizeof *p);
        if (!p) return -1;
        h->images = p;
        h->cap_images = cap;
    }
    h->images[h->n_images++] = img;
    return 0;
}

/* Drops images beyond the first `keep` (attached but not yet sent, or of removed messages). */
static void history_drop_images(struct history *h, int keep) {
    while (h->n_images > keep) omni_image_free(h->images[--h->n_images]);
}

static void history_clear(struct history *h, size_t keep) {
    while (h->n > keep) free(h->owned[--h->n]);
    history_drop_images(h, h->n ? h->img_end[h->n - 1] : 0);
}

/* The user's line with one image marker (and a newline) per attached image in front,
 * as LLaVA-style models were trained: picture first, then the question. */
static char *with_markers(const char *line, int n) {
    size_t mark = strlen(OMNI_IMAGE_MARKER), len = strlen(line);
    char *c = malloc((size_t)n * (mark + 1) + len + 1);
    if (!c) return NULL;
    char *p = c;
    for (int i = 0; i < n; i++) {
        memcpy(p, OMNI_IMAGE_MARKER "\n", mark + 1);
        p += mark + 1;
    }
    memcpy(p, line, len + 1);
    return c;
}

struct reply {
    char *buf;
    size_t len, cap;
    struct thoughts *th;
};

static int reply_thoughts(const char *text, size_t len, void *user) {
    struct reply *r = user;
    return thoughts_text(text, len, r->th);
}

static int collect(const char *text, size_t len, void *user) {
    struct reply *r = user;
    if (r->len + len + 1 > r->cap) {
        size_t cap = (r->cap ? r->cap : 256);
        while (cap < r->len + len + 1) cap *= 2;
        char *b = realloc(r->buf, cap);
        if (!b) return 1;
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, text, len);
    r->len += len;
    r->buf[r->len] = 0;
    thoughts_close(r->th);
    return print_text(text, len, NULL);
}

int cmd_chat(int argc, char **argv) {
    const char *model_path = NULL, *mmproj = NULL, *system = NULL;
    omni_model_params mp = omni_model_default_params();
    omni_session_params sp = omni_session_default_params();
    omni_engine_params ep = omni_engine_default_params();
    omni_generate_params gp = omni_generate_default_params();
    gp.max_tokens = 1024;
    int show_reasoning = -1, no_think = 0;
    const char *effort = NULL;
    static struct cli_lora la;
    la.n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc, lr = cli_lora_arg(&la, argc, argv, &i);
        if (lr < 0) return 1;
        if (lr) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") && has) model_path = argv[++i];
        else if (!strcmp(a, "--mmproj") && has) mmproj = argv[++i];
        else if (!strcmp(a, "--system") && has) system = argv[++i];
        else if (!strcmp(a, "-n") && has) gp.max_tokens = atoi(argv[++i]);
        else if (!strcmp(a, "-c") && has) sp.n_ctx = atoi(argv[++i]);
        else if (!strcmp(a, "--cache-type") && has) {
            if ((ep.cache_type = omni_cache_type_parse(argv[++i])) < 0)
                return cli_fail("chat: --cache-type is f16, q8_0 or q4_0, not '%s'", argv[i]);
        } else if (!strcmp(a, "--flash-attn") && has) {
            if ((ep.flash_attn = omni_flash_attn_parse(argv[++i])) < 0)
                return cli_fail("chat: --flash-attn is auto, on or off, not '%s'", argv[i]);
        }
        else if (!strcmp(a, "-t") && has) mp.n_threads = atoi(argv[++i]);
        else if (!strcmp(a, "--temp") && has) gp.sampling.temperature = (float)atof(argv[++i]);
        else if (!strcmp(a, "--top-k") && has) gp.sampling.top_k = atoi(argv[++i]);
        else if (!strcmp(a, "--top-p") && has) gp.sampling.top_p = (float)atof(argv[++i]);
        else if (!strcmp(a, "--min-p") && has) gp.sampling.min_p = (float)atof(argv[++i]);
        else if (!strcmp(a, "--repeat-penalty") && has) gp.sampling.repeat_penalty = (float)atof(argv[++i]);
        else if (!strcmp(a, "--seed") && has) gp.sampling.seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--show-reasoning")) show_reasoning = 1;
        else if (!strcmp(a, "--hide-reasoning")) show_reasoning = 0;
        else if (!strcmp(a, "--no-think")) no_think = 1;
        else if (!strcmp(a, "--reasoning-effort") && has) effort = argv[++i];
        else { usage(stderr); return cli_fail("chat: unexpected argument '%s'", a); }
    }
    if (!model_path) { usage(stderr); return cli_fail("chat: -m MODEL is required"); }
    if (effort && strcmp(effort, "low") && strcmp(effort, "medium") && strcmp(effort, "high"))
        return cli_fail("chat: --reasoning-effort is low, medium or high, not '%s'", effort);
    /* template variables: Qwen3-style enable_thinking, gpt-oss's reasoning_effort */
    char kwargs[128] = "";
    if (no_think || effort)
        snprintf(kwargs, sizeof kwargs, "{%s%s%s%s%s}", no_think ? "\"enable_thinking\": false" : "",
                 no_think ? ", " : "", "\"reasoning_effort\": \"", effort ? effort : "low", "\"");
    struct thoughts th;
    thoughts_init(&th, show_reasoning);
    gp.reasoning = OMNI_REASONING_AUTO;
    gp.on_reasoning = reply_thoughts;

    char err[512];
    struct progress bar;
    progress_begin(&bar, "loading");
    mp.progress = progress_cb;
    mp.progress_user = &bar;
    mp.lora = la.a, mp.n_lora = la.n;
    omni_model *m = omni_model_load(model_path, &mp, err, sizeof err);
    if (!m) return cli_fail("%s", err);
    progress_end(&bar);
    if (mmproj && omni_model_load_mmproj(m, mmproj, err, sizeof err)) {
        omni_model_free(m);
        return cli_fail("%s", err);
    }
    ep.n_slots = 0;  /* the session's cache only */
    if (omni_model_start_engine(m, &ep, err, sizeof err)) {
        omni_model_free(m);
        return cli_fail("%s", err);
    }
    omni_session *s = omni_session_new(m, &sp, err, sizeof err);
    if (!s) { omni_model_free(m); return cli_fail("%s", err); }

    int tty = isatty(0);
    if (tty) fprintf(stderr, "%s (%s) — type a message, /exit to quit.\n", omni_model_name(m), omni_model_arch(m));
    struct history h = {0};
    int rc = 0;
    if (system && history_add(&h, "system", system)) rc = cli_fail("out of memory");
    char *line = NULL;
    size_t cap = 0;
    while (!rc) {
        if (tty) { fputs("\n> ", stdout); fflush(stdout); }
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) break;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (!n) continue;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) break;
        if (!strcmp(line, "/reset")) { history_clear(&h, system ? 1 : 0); continue; }
        if (!strncmp(line, "/system ", 8)) {
            history_clear(&h, 0);
            system = NULL;
            if (history_add(&h, "system", line + 8)) { rc = cli_fail("out of memory"); break; }
            system = h.msgs[0].content;
            continue;
        }
        if (!strncmp(line, "/image", 6) && (line[6] == ' ' || !line[6])) {
            const char *path = line + 6;
            while (*path == ' ') path++;
            omni_image *img = NULL;
            if (!*path) fprintf(stderr, "omni: /image needs a file name: /image PATH\n");
            else if (!mmproj)
                fprintf(stderr, "omni: /image needs an image encoder; start omni chat with --mmproj MMPROJ\n");
            else if (!(img = omni_image_load(path, err, sizeof err))) fprintf(stderr, "omni: %s\n", err);
            else if (history_add_image(&h, img)) { omni_image_free(img); rc = cli_fail("out of memory"); }
            else if (tty) fprintf(stderr, "(image %dx%d attached to your next message)\n", omni_image_width(img),
                                  omni_image_height(img));
            continue;
        }
        int sent = h.n ? h.img_end[h.n - 1] : 0;
        char *content = with_markers(line, h.n_images - sent);
        if (!content || history_add(&h, "user", content)) { free(content); rc = cli_fail("out of memory"); break; }
        free(content);
        char *prompt = omni_chat_format_kw(m, h.msgs, h.n, 1, kwargs[0] ? kwargs : NULL, err, sizeof err);
        if (!prompt) { rc = cli_fail("%s", err); break; }
        struct reply r = {0};
        r.th = &th;
        thoughts_reset(&th);
        gp.on_text = collect;
        gp.user = &r;
        gp.images = (const omni_image *const *)h.images;
        gp.n_images = h.n_images;
        omni_usage u;
        if (omni_session_generate(s, prompt, &gp, &u, err, sizeof err)) {
            free(prompt);
            free(r.buf);
            /* A too-long conversation is recoverable: say so and keep going. */
            fprintf(stderr, "\nomni: %s\n", err);
            history_clear(&h, h.n - 1);
            continue;
        }
        free(prompt);
        thoughts_close(&th);   /* a reply that was all thoughts (cut short) */
        fputc('\n', stdout);
        fflush(stdout);
        if (history_add(&h, "assistant", r.buf ? r.buf : "")) rc = cli_fail("out of memory");
        free(r.buf);
    }
    free(line);
    history_clear(&h, 0);
    free(h.msgs);
    free(h.owned);
    free(h.img_end);
    free(h.images);
    omni_session_free(s);
    omni_model_free(m);
    return rc;
}

/* `omni chat`: an interactive conversation in the terminal using the model's own
 * chat template. Built only on the public API (omni.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "omni.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: omni chat -m MODEL [--system TEXT] [options]\n\n"
            "Talk with a model in the terminal. Each line you type is a message; the reply\n"
            "streams back as it is generated. The model's own chat template formats the\n"
            "conversation, and earlier turns stay in the KV cache, so follow-ups are fast.\n\n"
            "  -m MODEL        a GGUF model file\n"
            "  --system TEXT   a system prompt (the assistant's instructions)\n"
            "  -n N            at most N tokens per reply (default 1024)\n"
            "  -c CTX          context length in tokens (default: the model's, at most 4096)\n"
            "  -t THREADS      compute threads (default: all cores)\n"
            "  --temp T        sampling temperature (default 0.8; 0 = always the likeliest token)\n"
            "  --top-k K, --top-p P, --min-p P, --repeat-penalty R, --seed S\n\n"
            "In the chat: /reset starts over, /system TEXT changes the instructions, /exit quits\n"
            "(or press Ctrl-D).\n");
}

static int print_text(const char *text, size_t len, void *user) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

struct history {
    omni_chat_message *msgs;
    char **owned;
    size_t n, cap;
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
        h->cap = cap;
    }
    char *c = strdup(content);
    if (!c) return -1;
    h->owned[h->n] = c;
    h->msgs[h->n].role = role;
    h->msgs[h->n].content = c;
    h->n++;
    return 0;
}

static void history_clear(struct history *h, size_t keep) {
    while (h->n > keep) free(h->owned[--h->n]);
}

struct reply {
    char *buf;
    size_t len, cap;
};

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
    return print_text(text, len, NULL);
}

int cmd_chat(int argc, char **argv) {
    const char *model_path = NULL, *system = NULL;
    omni_model_params mp = omni_model_default_params();
    omni_session_params sp = omni_session_default_params();
    omni_generate_params gp = omni_generate_default_params();
    gp.max_tokens = 1024;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "-m") && has) model_path = argv[++i];
        else if (!strcmp(a, "--system") && has) system = argv[++i];
        else if (!strcmp(a, "-n") && has) gp.max_tokens = atoi(argv[++i]);
        else if (!strcmp(a, "-c") && has) sp.n_ctx = atoi(argv[++i]);
        else if (!strcmp(a, "-t") && has) mp.n_threads = atoi(argv[++i]);
        else if (!strcmp(a, "--temp") && has) gp.sampling.temperature = (float)atof(argv[++i]);
        else if (!strcmp(a, "--top-k") && has) gp.sampling.top_k = atoi(argv[++i]);
        else if (!strcmp(a, "--top-p") && has) gp.sampling.top_p = (float)atof(argv[++i]);
        else if (!strcmp(a, "--min-p") && has) gp.sampling.min_p = (float)atof(argv[++i]);
        else if (!strcmp(a, "--repeat-penalty") && has) gp.sampling.repeat_penalty = (float)atof(argv[++i]);
        else if (!strcmp(a, "--seed") && has) gp.sampling.seed = strtoull(argv[++i], NULL, 10);
        else { usage(stderr); return cli_fail("chat: unexpected argument '%s'", a); }
    }
    if (!model_path) { usage(stderr); return cli_fail("chat: -m MODEL is required"); }

    char err[512];
    struct progress bar;
    progress_begin(&bar, "loading");
    mp.progress = progress_cb;
    mp.progress_user = &bar;
    omni_model *m = omni_model_load(model_path, &mp, err, sizeof err);
    if (!m) return cli_fail("%s", err);
    progress_end(&bar);
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
        if (history_add(&h, "user", line)) { rc = cli_fail("out of memory"); break; }
        char *prompt = omni_chat_format(m, h.msgs, h.n, 1, err, sizeof err);
        if (!prompt) { rc = cli_fail("%s", err); break; }
        struct reply r = {0};
        gp.on_text = collect;
        gp.user = &r;
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
        fputc('\n', stdout);
        fflush(stdout);
        if (history_add(&h, "assistant", r.buf ? r.buf : "")) rc = cli_fail("out of memory");
        free(r.buf);
    }
    free(line);
    history_clear(&h, 0);
    free(h.msgs);
    free(h.owned);
    omni_session_free(s);
    omni_model_free(m);
    return rc;
}

/* `omni eval`: prints raw next-token logits and a greedy continuation for each prompt
 * of a case file, as JSON lines in the format of ../shared/golden/llm, so our numbers
 * can be compared with llama.cpp's (tests/e2e/test_eval_cli.sh, automated checks). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/lora_args.h"
#include "models/llm.h"
#include "models/lora.h"
#include "text/tokenizer.h"
#include "devtools/devtools.h"

/* The forward scratch of this one-model command (the engine has its own). */
static struct llm_state *st;

static void usage(FILE *f) {
    fprintf(f,
            "usage: omni eval -m MODEL -f CASEFILE [--top K] [--greedy N] [-t THREADS]\n"
            "                 [--lora FILE[:SCALE]]...\n\n"
            "Runs each prompt of CASEFILE through the model and prints one JSON line per prompt:\n"
            "  {\"prompt\":…,\"tokens\":[…],\"topk\":[[[id,logit],…],…],\"greedy\":[…],\"greedy_margin\":[…]}\n"
            "  tokens  the prompt's token ids (special tokens such as BOS added as the model asks;\n"
            "          special-token text in the prompt is not parsed)\n"
            "  topk    for every prompt position, the K highest next-token logits, best first,\n"
            "          from one batched evaluation of the whole prompt\n"
            "  greedy  up to N tokens generated greedily one at a time after the prompt, stopping\n"
            "          before an end-of-generation token\n"
            "  greedy_margin  for each greedy token, its logit lead over the runner-up: where it is\n"
            "          small, another implementation's rounding may legitimately pick the other token\n\n"
            "CASEFILE holds prompts separated by lines that are exactly `__case__`; the newline\n"
            "that ends each prompt is not part of it.\n\n"
            "  -m, --model PATH   a GGUF language model (architectures: see README)\n"
            "  -f, --file PATH    the case file\n"
            "  --top K            logits per position (default 5)\n"
            "  --greedy N         tokens to generate per prompt (default 0)\n"
            "  -t, --threads N    compute threads (default: all cores)\n"
            CLI_LORA_HELP);
}

/* Splits the file's text into cases (pointers into text, which is modified). */
static int split_cases(char *text, char ***cases) {
    int n = 0;
    char **c = malloc(sizeof(char *) * (strlen(text) / 9 + 2));  /* separators are >= 9 bytes */
    if (!c) return -1;
    char *start = text, *p = text;
    while (*p) {
        char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len == 8 && !memcmp(p, "__case__", 8)) {
            if (p > start) p[-1] = 0;   /* the prompt's final newline */
            else *p = 0;               /* empty prompt */
            c[n++] = start;
            start = nl ? nl + 1 : p + len;
        }
        p = nl ? nl + 1 : p + len;
    }
    size_t tail = strlen(start);
    if (tail && start[tail - 1] == '\n') start[--tail] = 0;
    if (tail || n == 0) c[n++] = start;
    *cases = c;
    return n;
}

static void print_json_string(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p == '\n') fputs("\\n", stdout);
        else if (*p == '\r') fputs("\\r", stdout);
        else if (*p == '\t') fputs("\\t", stdout);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

/* The k best (id, logit) pairs, best first; ties keep the lower id first. */
void tool_top_k(const float *x, int n, int k, int *ids) {
    for (int j = 0; j < k; j++) ids[j] = -1;
    for (int i = 0; i < n; i++) {
        int j = k;
        while (j > 0 && (ids[j - 1] < 0 || x[i] > x[ids[j - 1]])) j--;
        if (j >= k) continue;
        memmove(ids + j + 1, ids + j, sizeof(int) * (size_t)(k - j - 1));
        ids[j] = i;
    }
}

static int eval_case(struct llm *m, const struct tokenizer *tok, const char *prompt, int top, int n_greedy,
                     struct err *e) {
    int V = llm_hparams(m)->n_vocab;
    int32_t *ids = NULL, *pos = NULL, *gen = NULL;
    int8_t *want = NULL;
    float *lg = NULL;
    int *best = NULL, n_gen = 0, rc = -1;
    float *margin = NULL;
    size_t n = 0;
    struct llm_kv *kv = NULL;
    if (tokenizer_encode(tok, prompt, strlen(prompt), 1, 0, &ids, &n, e)) return -1;
    if (n == 0) { err_set(e, "eval: prompt \"%.40s\" gives no tokens", prompt); goto out; }
    pos = malloc(sizeof(int32_t) * n);
    want = malloc(n);
    lg = malloc(sizeof(float) * n * (size_t)V);
    best = malloc(sizeof(int) * (size_t)top);
    gen = malloc(sizeof(int32_t) * (size_t)(n_greedy + 1));
    margin = malloc(sizeof(float) * (size_t)(n_greedy + 1));
    if (!pos || !want || !lg || !best || !gen || !margin) { err_set(e, "eval: out of memory"); goto out; }
    for (size_t i = 0; i < n; i++) { pos[i] = (int32_t)i; want[i] = 1; }
    kv = llm_kv_new(m, (int)n + n_greedy + 1, e);
    if (!kv) goto out;
    struct llm_batch b = {(int)n, ids, pos, NULL, want};
    if (llm_forward(m, st, &kv, 1, &b, lg, e)) goto out;

    printf("{\"prompt\":");
    print_json_string(prompt);
    printf(",\"tokens\":[");
    for (size_t i = 0; i < n; i++) printf("%s%d", i ? "," : "", ids[i]);
    printf("],\"topk\":[");
    for (size_t i = 0; i < n; i++) {
        const float *l = lg + i * (size_t)V;
        tool_top_k(l, V, top, best);
        printf("%s[", i ? "," : "");
        for (int j = 0; j < top && best[j] >= 0; j++) printf("%s[%d,%.5f]", j ? "," : "", best[j], l[best[j]]);
        printf("]");
    }
    /* greedy: the first token comes from the prompt's last logits */
    const float *l = lg + (n - 1) * (size_t)V;
    for (int s = 0; s < n_greedy; s++) {
        tool_top_k(l, V, 1, best);
        int32_t t = best[0], p = (int32_t)n + s;
        if (tokenizer_is_eog(tok, t)) break;
        float second = -INFINITY;
        for (int v = 0; v < V; v++) if (v != t && l[v] > second) second = l[v];
        margin[n_gen] = l[t] - second;
        gen[n_gen++] = t;
        if (s + 1 == n_greedy) break;
        struct llm_batch b1 = {1, &t, &p, NULL, NULL};
        if (llm_forward(m, st, &kv, 1, &b1, lg, e)) { printf("]}\n"); goto out; }
        l = lg;
    }
    printf("],\"greedy\":[");
    for (int i = 0; i < n_gen; i++) printf("%s%d", i ? "," : "", gen[i]);
    printf("],\"greedy_margin\":[");
    for (int i = 0; i < n_gen; i++) printf("%s%.5f", i ? "," : "", margin[i]);
    printf("]}\n");
    fflush(stdout);
    rc = 0;
out:
    llm_kv_free(kv);
    free(ids); free(pos); free(want); free(lg); free(best); free(gen); free(margin);
    return rc;
}

int tool_eval(int argc, char **argv) {
    const char *model = NULL, *file = NULL;
    int top = 5, n_greedy = 0, threads = 0;
    static struct cli_lora la;
    la.n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc, lr = cli_lora_arg(&la, argc, argv, &i);
        if (lr < 0) return 1;
        if (lr) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has) model = argv[++i];
        else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && has) file = argv[++i];
        else if (!strcmp(a, "--top") && has) top = atoi(argv[++i]);
        else if (!strcmp(a, "--greedy") && has) n_greedy = atoi(argv[++i]);
        else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has) threads = atoi(argv[++i]);
        else return cli_fail("eval: unknown or incomplete option '%s' (see omni eval --help)", a);
    }
    if (!model) return cli_fail("eval: no model given; use -m MODEL (see omni eval --help)");
    if (!file) return cli_fail("eval: no case file given; use -f CASEFILE (see omni eval --help)");
    if (top < 1 || top > 1000) return cli_fail("eval: --top must be between 1 and 1000");
    if (n_greedy < 0 || n_greedy > 100000) return cli_fail("eval: --greedy must be between 0 and 100000");

    FILE *f = fopen(file, "rb");
    if (!f) return cli_fail("eval: cannot open case file '%s'", file);
    size_t cap = 1 << 16, len = 0, got;
    char *text = malloc(cap);
    while (text && (got = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 == cap) {
            char *g = realloc(text, cap *= 2);
            if (!g) { free(text); text = NULL; }
            text = g;
        }
    }
    fclose(f);
    if (!text) return cli_fail("eval: out of memory reading '%s'", file);
    text[len] = 0;
    if (strlen(text) != len) { free(text); return cli_fail("eval: case file '%s' contains NUL bytes", file); }

    struct err e = {{0}};
    struct llm_load_params lp = llm_default_load_params();
    lp.n_threads = threads;
    struct llm *m = llm_load(model, &lp, &e);
    if (m && !(st = llm_state_new(m))) { llm_free(m); return cli_fail("out of memory"); }
    if (!m) { free(text); return cli_fail("%s", e.msg); }
    struct lora_use use[CLI_MAX_LORA];
    int n_use = 0;
    for (; n_use < la.n; n_use++) {
        struct lora *ad = lora_load(la.a[n_use].path, m, &e);
        if (!ad) break;
        use[n_use] = (struct lora_use){ad, la.a[n_use].scale};
    }
    if (n_use < la.n) {
        while (n_use > 0) lora_free((struct lora *)use[--n_use].a);
        llm_state_free(st);
        st = NULL;
        llm_free(m);
        free(text);
        return cli_fail("eval: --lora: %s", e.msg);
    }
    llm_state_set_lora(st, use, n_use);
    struct tokenizer *tok = tokenizer_load(llm_gguf(m), &e);
    if (!tok) {
        while (n_use > 0) lora_free((struct lora *)use[--n_use].a);
        llm_state_free(st);
        st = NULL;
        llm_free(m);
        free(text);
        return cli_fail("%s", e.msg);
    }
    char **cases = NULL;
    int n = split_cases(text, &cases), rc = 0;
    if (n < 0) rc = cli_fail("eval: out of memory");
    for (int i = 0; i < n && !rc; i++)
        if (eval_case(m, tok, cases[i], top, n_greedy, &e)) rc = cli_fail("%s", e.msg);
    free(cases);
    tokenizer_free(tok);
    llm_state_free(st);
    st = NULL;
    while (n_use > 0) lora_free((struct lora *)use[--n_use].a);
    llm_free(m);
    free(text);
    return rc;
}

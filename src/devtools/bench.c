/* `omni bench`: prompt-processing and generation speed of a model, llama-bench style:
 * one batched prefill of P tokens, then N single-token decode steps. It also reports the
 * peak resident memory against the bound the README promises (file + KV cache + 64 MiB),
 * so that a change which copies weights or leaks scratch shows up next to the speed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "core/dtype.h"
#include "models/llm.h"
#include "devtools/devtools.h"

/* The forward scratch of this one-model command (the engine has its own). */
static struct llm_state *st;

static void usage(FILE *f) {
    fprintf(f,
            "usage: omni bench -m MODEL [-p N] [-n N] [-d DEPTH] [-t THREADS] [-r REPS] [-fa on|off|auto] [-ct f16|q8_0|q4_0] [--json]\n\n"
            "Measures how fast a model runs on this machine, like llama-bench: first a prefill\n"
            "of -p tokens in one batch (prompt processing), then -n tokens decoded one at a time\n"
            "(text generation). Token ids are fixed pseudo-random values, so no tokenizer or\n"
            "prompt is needed and runs are comparable. One untimed warm-up pass comes first (it\n"
            "loads the weights from disk); then each phase is repeated -r times and the best run\n"
            "is reported.\n\n"
            "  -m, --model PATH   a GGUF language model (architectures: see README)\n"
            "  -p N               prompt tokens (default 128; 0 skips prefill)\n"
            "  -n N               generated tokens (default 64; 0 skips decode)\n"
            "  -d DEPTH           both phases start after DEPTH tokens of context (filled untimed,\n"
            "                     as llama-bench's -d): prefill at DEPTH..DEPTH+N, decode at DEPTH..;\n"
            "                     without it decode continues after the prompt\n"
            "  -fa, --flash-attn on|off|auto\n"
            "                     attention kernel: the tiled one, the exact one, or exact but past\n"
            "                     1024 positions in models with >= 2 query heads a KV head (auto)\n"
            "  -ct, --cache-type f16|q8_0|q4_0\n"
            "                     the KV cache's type for K and V (default f16)\n"
            "  -t, --threads N    compute threads (default: all cores)\n"
            "  -r, --reps N       repetitions (default 1)\n"
            "  --json             print one line {\"pp_tokens_per_s\",\"tg_tokens_per_s\",\"threads\",\n"
            "                     \"model_bytes\",\"file_bytes\",\"kv_bytes\",\"peak_rss_bytes\",\"rss_bound_bytes\"}\n"
            "                     instead of the table\n\n"
            "peak RSS is this process's high-water mark (getrusage); the bound is the model file's\n"
            "size + the KV cache (K and V of the positions used, in the cache type) + 64 MiB.\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Back to the first d0 positions, untimed: a sliding-window model's ring may have let them
 * go (llm_kv_truncate keeps less), and then the missing ones are computed again. */
static int back_to(const struct llm *m, struct llm_state *st, struct llm_kv *kv, int d0, const int32_t *tok,
                   const int32_t *pos, struct err *e) {
    int got = llm_kv_truncate(kv, d0);
    if (got >= d0) return 0;
    struct llm_batch b = {d0 - got, tok + got, pos + got, NULL, NULL};
    return llm_forward(m, st, &kv, 1, &b, NULL, e);
}

int tool_bench(int argc, char **argv) {
    const char *model = NULL;
    int n_p = 128, n_g = 64, threads = 0, reps = 1, json = 0, depth = -1;
    enum llm_flash fa = LLM_FLASH_AUTO;
    int ctype = DT_F16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has) model = argv[++i];
        else if (!strcmp(a, "-p") && has) n_p = atoi(argv[++i]);
        else if (!strcmp(a, "-n") && has) n_g = atoi(argv[++i]);
        else if (!strcmp(a, "-d") && has) depth = atoi(argv[++i]);
        else if ((!strcmp(a, "-fa") || !strcmp(a, "--flash-attn")) && has) {
            const char *v = argv[++i];
            if (!strcmp(v, "on") || !strcmp(v, "1")) fa = LLM_FLASH_ON;
            else if (!strcmp(v, "off") || !strcmp(v, "0")) fa = LLM_FLASH_OFF;
            else if (!strcmp(v, "auto")) fa = LLM_FLASH_AUTO;
            else return cli_fail("bench: --flash-attn takes on, off or auto, not '%s'", v);
        } else if ((!strcmp(a, "-ct") || !strcmp(a, "--cache-type")) && has) {
            const char *v = argv[++i];
            if (!strcmp(v, "f16")) ctype = DT_F16;
            else if (!strcmp(v, "q8_0")) ctype = DT_Q8_0;
            else if (!strcmp(v, "q4_0")) ctype = DT_Q4_0;
            else return cli_fail("bench: --cache-type takes f16, q8_0 or q4_0, not '%s'", v);
        }
        else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has) threads = atoi(argv[++i]);
        else if ((!strcmp(a, "-r") || !strcmp(a, "--reps")) && has) reps = atoi(argv[++i]);
        else if (!strcmp(a, "--json")) json = 1;
        else return cli_fail("bench: unknown or incomplete option '%s' (see omni bench --help)", a);
    }
    if (!model) return cli_fail("bench: no model given; use -m MODEL (see omni bench --help)");
    if (n_p < 0 || n_g < 0 || n_p + n_g < 1 || n_p + n_g > 1000000)
        return cli_fail("bench: -p and -n must be >= 0 and not both 0");
    if (reps < 1 || reps > 1000) return cli_fail("bench: --reps must be between 1 and 1000");
    if (threads < 0) return cli_fail("bench: --threads must not be negative");
    if (depth > 1000000) return cli_fail("bench: -d must be at most 1000000");
    if (depth < -1) return cli_fail("bench: -d must not be negative");

    struct err e = {{0}};
    struct llm_load_params lp = llm_default_load_params();
    lp.n_threads = threads;
    struct llm *m = llm_load(model, &lp, &e);
    if (m && !(st = llm_state_new(m))) { llm_free(m); return cli_fail("out of memory"); }
    if (!m) return cli_fail("%s", e.msg);
    const struct llm_hparams *hp = llm_hparams(m);
    int d0 = depth > 0 ? depth : 0;
    int n_ctx = depth >= 0 ? d0 + (n_p > n_g ? n_p : n_g) + 1 : n_p + n_g + 1, rc = 1;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)n_ctx), *pos = malloc(sizeof(int32_t) * (size_t)n_ctx);
    float *lg = malloc(sizeof(float) * (size_t)hp->n_vocab);
    struct llm_kv *kv = llm_kv_new_type(m, n_ctx, ctype, &e);
    if (!tok || !pos || !lg || !kv) { cli_fail("bench: %s", kv ? "out of memory" : e.msg); goto out; }
    llm_kv_set_flash(kv, fa);
    uint32_t r = 12345;
    for (int i = 0; i < n_ctx; i++) {
        r = r * 1664525u + 1013904223u;
        tok[i] = (int32_t)((r >> 8) % (uint32_t)hp->n_vocab);
        pos[i] = i;
    }
    /* One untimed pass first, as llama-bench does: it faults the mmap'ed weights in and
     * sizes the scratch buffers, which would otherwise be charged to the first prefill. */
    {
        struct llm_batch b = {n_p ? n_p : 1, tok, pos, NULL, NULL};
        if (llm_forward(m, st, &kv, 1, &b, lg, &e)) { cli_fail("%s", e.msg); goto out; }
    }
    if (depth >= 0) {  /* the context both phases start from, computed once */
        llm_kv_truncate(kv, 0);
        struct llm_batch b = {d0, tok, pos, NULL, NULL};
        if (d0 && llm_forward(m, st, &kv, 1, &b, lg, &e)) { cli_fail("%s", e.msg); goto out; }
    }
    double best_pp = 0, best_tg = 0;
    for (int rep = 0; rep < reps; rep++) {
        if (back_to(m, st, kv, d0, tok, pos, &e)) { cli_fail("%s", e.msg); goto out; }
        if (n_p) {
            struct llm_batch b = {n_p, tok + d0, pos + d0, NULL, NULL};
            double t0 = now_s();
            if (llm_forward(m, st, &kv, 1, &b, lg, &e)) { cli_fail("%s", e.msg); goto out; }
            double v = n_p / (now_s() - t0);
            if (v > best_pp) best_pp = v;
        }
        /* decode continues after the prompt, as in real use (attention over the prompt),
         * or after the depth alone (-d) */
        int g0 = depth >= 0 ? d0 : n_p;
        if (depth >= 0 && back_to(m, st, kv, d0, tok, pos, &e)) { cli_fail("%s", e.msg); goto out; }
        double t0 = now_s();
        for (int i = 0; i < n_g; i++) {
            struct llm_batch b = {1, tok + g0 + i, pos + g0 + i, NULL, NULL};
            if (llm_forward(m, st, &kv, 1, &b, lg, &e)) { cli_fail("%s", e.msg); goto out; }
        }
        if (n_g) {
            double v = n_g / (now_s() - t0);
            if (v > best_tg) best_tg = v;
        }
    }
    int nth = pool_size(llm_pool(m));
    struct stat fst;
    struct rusage ru;
    unsigned long long file_bytes = stat(model, &fst) == 0 ? (unsigned long long)fst.st_size : 0;
    unsigned long long kv_bytes = llm_kv_bytes(kv);  /* K/V, and a recurrent model's states */
    unsigned long long rss = getrusage(RUSAGE_SELF, &ru) == 0 ? (unsigned long long)ru.ru_maxrss * 1024 : 0;
    unsigned long long bound = file_bytes + kv_bytes + (64ull << 20);
    if (json) {
        printf("{\"pp_tokens_per_s\":%.2f,\"tg_tokens_per_s\":%.2f,\"threads\":%d,\"model_bytes\":%llu,"
               "\"file_bytes\":%llu,\"kv_bytes\":%llu,\"peak_rss_bytes\":%llu,\"rss_bound_bytes\":%llu,\"depth\":%d}\n",
               best_pp, best_tg, nth, (unsigned long long)llm_weight_bytes(m), file_bytes, kv_bytes, rss, bound, d0);
    } else {
        printf("| model | arch | params | bytes | threads | test | tokens/s |\n");
        printf("|---|---|---|---|---|---|---|\n");
        const char *base = strrchr(model, '/') ? strrchr(model, '/') + 1 : model;
        char at[32] = "";
        if (d0) snprintf(at, sizeof at, " @ d%d", d0);
        if (n_p)
            printf("| %s | %s | %.2f M | %.1f MiB | %d | pp%d%s | %.2f |\n", base, hp->arch, llm_n_params(m) / 1e6,
                   llm_weight_bytes(m) / 1048576.0, nth, n_p, at, best_pp);
        if (n_g)
            printf("| %s | %s | %.2f M | %.1f MiB | %d | tg%d%s | %.2f |\n", base, hp->arch, llm_n_params(m) / 1e6,
                   llm_weight_bytes(m) / 1048576.0, nth, n_g, at, best_tg);
        printf("\npeak RSS %.1f MiB; bound %.1f MiB = file %.1f + KV cache %.1f + 64 (%s)\n", rss / 1048576.0,
               bound / 1048576.0, file_bytes / 1048576.0, kv_bytes / 1048576.0, rss <= bound ? "within" : "EXCEEDED");
    }
    rc = 0;
out:
    llm_kv_free(kv);
    free(tok); free(pos); free(lg);
    llm_state_free(st);
    st = NULL;
    llm_free(m);
    return rc;
}

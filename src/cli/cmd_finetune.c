/* `omni finetune`: trains a LoRA adapter on SFT and/or DPO JSONL with the C trainer
 * (omni_finetune in omni.h, src/training/) and writes it in llama.cpp's adapter format, so
 * `--lora` here and llama.cpp's `--lora` both load it. Prints one progress line per step
 * (loss, tokens/s, ETA); Ctrl-C stops at the next step with the checkpoint written, and
 * --resume continues from it. Built only on the public API. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "omni.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: omni finetune -m BASE.gguf --data sft.jsonl [--dpo pairs.jsonl] -o adapter.gguf\n"
            "                     [--rank 16] [--alpha 32] [--epochs 3] [--lr 1e-4] [--batch 4] [--ctx 512]\n"
            "                     [--warmup N] [--weight-decay W] [--beta 0.1] [--seed 42] [-t THREADS]\n"
            "                     [--checkpoint FILE [--checkpoint-every N]] [--resume FILE] [--max-steps N]\n\n"
            "Trains a LoRA adapter on the attention and MLP projections of a llama, qwen2 or qwen3\n"
            "model; the base stays frozen in its file's type. The adapter is llama.cpp's LoRA GGUF.\n\n"
            "  -m, --model PATH     the base model (GGUF)\n"
            "  --data PATH          supervised examples: OpenAI chat fine-tuning JSONL ({\"messages\":\n"
            "                       [...]}, loss on the assistant turns, rendered through the model's\n"
            "                       chat template) or {\"prompt\", \"completion\"} lines\n"
            "  --dpo PATH           preference pairs: OpenAI DPO JSONL ({\"input\": {\"messages\"},\n"
            "                       \"preferred_output\", \"non_preferred_output\"}), the frozen base as reference\n"
            "  -o, --output PATH    the adapter to write\n"
            "  --rank R, --alpha A  LoRA rank and alpha (update scaled by A / R; default 16, 32)\n"
            "  --epochs N           passes over the data (default 3)\n"
            "  --lr LR              peak learning rate (default 1e-4; warm-up, then cosine to LR/10)\n"
            "  --batch N            examples per optimizer step, gradients accumulated (default 4)\n"
            "  --ctx N              tokens per example at most (default 512)\n"
            "  --warmup N           warm-up steps (default 5%% of the steps)\n"
            "  --weight-decay W     AdamW's decoupled weight decay (default 0)\n"
            "  --beta B             DPO's beta (default 0.1)\n"
            "  --seed S             adapter init and data order (default 42): same seed, same adapter\n"
            "  -t, --threads N      compute threads (default: all cores)\n"
            "  --checkpoint FILE    keep the training state there (when stopped, at the end, and\n"
            "                       every --checkpoint-every N steps)\n"
            "  --resume FILE        continue from such a checkpoint (same settings and data)\n"
            "  --max-steps N        stop after N steps of this run (as Ctrl-C does)\n"
            "  --quiet              no progress line\n");
}

static volatile int stop_flag;
static void on_sigint(int sig) {
    (void)sig;
    stop_flag = 1;
}

static void fmt_time(double s, char *buf, size_t n) {
    long t = s > 0 && s < 1e9 ? (long)(s + 0.5) : 0;
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

static void on_progress(const omni_finetune_progress *p, void *user) {
    char eta[32];
    fmt_time(p->eta_s, eta, sizeof eta);
    int tty = isatty(2);
    fprintf(stderr, "%sstep %d/%d  epoch %d/%d  loss %.4f  lr %.2e  %.0f tok/s  ETA %s%s", tty ? "\r\033[K" : "",
            p->step, p->n_steps, p->epoch, p->n_epochs, p->loss, p->lr, p->tokens_per_s, eta, tty ? "" : "\n");
    if (tty && p->step == p->n_steps) fputc('\n', stderr);
    (void)user;
}

static int num(const char *s, double lo, double hi, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

int cmd_finetune(int argc, char **argv) {
    omni_finetune_params p = omni_finetune_default_params();
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (!strcmp(a, "--quiet")) { quiet = 1; continue; }
        if (i + 1 >= argc) { usage(stderr); return cli_fail("finetune: %s needs a value (or is unknown)", a); }
        const char *v = argv[++i];
        double x;
#define NUM(lo, hi) if (num(v, lo, hi, &x)) return cli_fail("finetune: %s: bad value '%s'", a, v)
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) p.model_path = v;
        else if (!strcmp(a, "--data")) p.data_path = v;
        else if (!strcmp(a, "--dpo")) p.dpo_path = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) p.out_path = v;
        else if (!strcmp(a, "--checkpoint")) p.checkpoint_path = v;
        else if (!strcmp(a, "--resume")) p.resume_path = v;
        else if (!strcmp(a, "--rank")) { NUM(1, 1024); p.rank = (int)x; }
        else if (!strcmp(a, "--alpha")) { NUM(1e-6, 1e6); p.alpha = (float)x; }
        else if (!strcmp(a, "--epochs")) { NUM(1, 1e6); p.epochs = (int)x; }
        else if (!strcmp(a, "--lr")) { NUM(1e-12, 10); p.lr = (float)x; }
        else if (!strcmp(a, "--batch")) { NUM(1, 1e6); p.batch = (int)x; }
        else if (!strcmp(a, "--ctx")) { NUM(8, 1 << 20); p.ctx = (int)x; }
        else if (!strcmp(a, "--warmup")) { NUM(0, 1e9); p.warmup = (int)x; }
        else if (!strcmp(a, "--weight-decay")) { NUM(0, 10); p.weight_decay = (float)x; }
        else if (!strcmp(a, "--beta")) { NUM(1e-6, 1e3); p.dpo_beta = (float)x; }
        else if (!strcmp(a, "--seed")) { NUM(0, 1.8e19); p.seed = (uint64_t)x; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { NUM(1, 4096); p.n_threads = (int)x; }
        else if (!strcmp(a, "--checkpoint-every")) { NUM(0, 1e9); p.checkpoint_every = (int)x; }
        else if (!strcmp(a, "--max-steps")) { NUM(1, 1e9); p.max_steps = (int)x; }
        else { usage(stderr); return cli_fail("finetune: unknown option %s", a); }
#undef NUM
    }
    if (!p.model_path || !p.out_path || (!p.data_path && !p.dpo_path)) {
        usage(stderr);
        return cli_fail("finetune: -m, -o and --data or --dpo are required");
    }
    if (!quiet) p.progress = on_progress;
    p.cancel = &stop_flag;
    signal(SIGINT, on_sigint);
    char err[1024];
    int rc = omni_finetune(&p, err, sizeof err);
    signal(SIGINT, SIG_DFL);
    if (rc < 0) return cli_fail("finetune: %s", err);
    if (rc == 1) {
        fprintf(stderr, "stopped early: adapter so far in %s%s%s\n", p.out_path,
                p.checkpoint_path ? ", resume with --resume " : "", p.checkpoint_path ? p.checkpoint_path : "");
        return 0;
    }
    fprintf(stderr, "adapter written to %s\n", p.out_path);
    return 0;
}

/* `omni eval-vision`: encodes each image with an mmproj encoder, places it in a fixed
 * ChatML prompt of a language model, and prints one JSON line per image in the format
 * of ../shared/golden/vision (embedding statistics, top-5 logits, greedy tokens), so
 * our numbers can be compared with llama.cpp's. Read by automated checks: keep it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "formats/image_decode.h"
#include "models/clip.h"
#include "models/llm.h"
#include "text/tokenizer.h"
#include "devtools/devtools.h"

/* The forward scratch of this one-model command (the engine has its own). */
static struct llm_state *st;

#define EV_PREFIX "<|im_start|>user\n"
#define EV_SUFFIX "\nDescribe the image.<|im_end|>\n<|im_start|>assistant\n"
#define EV_TOP 5

static void usage(FILE *f) {
    fprintf(f,
            "usage: omni eval-vision --mmproj MMPROJ -m LLM [-t THREADS] [--greedy N] IMAGE...\n\n"
            "Checks a vision setup against reference numbers. For each IMAGE (PNG, JPEG, GIF, BMP)\n"
            "it runs the image encoder MMPROJ (a llama.cpp mmproj GGUF, e.g. LLaVA-1.5's), puts the\n"
            "image embeddings into this prompt of the language model LLM:\n"
            "    <|im_start|>user\\n  [image]  \\nDescribe the image.<|im_end|>\\n<|im_start|>assistant\\n\n"
            "and prints one JSON line:\n"
            "  image            the file name (without directories)\n"
            "  n_image_pos      image embeddings placed in the prompt; n_embd: their width\n"
            "  mean, rms        of all projected embeddings; first_row, last_row: their first 8 values\n"
            "  prefix_tokens    token ids before the image (special tokens parsed); suffix_tokens: after\n"
            "  top5             the 5 highest next-token logits after the whole prompt, [id, logit]\n"
            "  greedy           N tokens generated greedily (default 16), stopping before an\n"
            "                   end-of-generation token\n\n"
            "  --mmproj PATH      the image encoder (GGUF, general.architecture = clip)\n"
            "  -m, --model PATH   the language model (GGUF) the encoder was trained with\n"
            "  --greedy N         tokens to generate per image (default 16)\n"
            "  -t, --threads N    compute threads (default: all cores)\n\n"
            "example: omni eval-vision --mmproj mmproj-f16.gguf -m llava-v1.5-7b.gguf cat.jpg\n");
}

static void print_ids(const char *key, const int32_t *ids, size_t n) {
    printf(",\"%s\":[", key);
    for (size_t i = 0; i < n; i++) printf("%s%d", i ? "," : "", ids[i]);
    printf("]");
}

static void print_json_name(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)base; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

/* Runs n positions starting at *pos (tokens, or embedding rows when embd != NULL). */
static int feed(struct llm *m, struct llm_kv *kv, const int32_t *ids, const float *embd, int n, int *pos,
                float *logits, struct err *e) {
    if (n <= 0) return 0;
    int32_t *p = malloc(sizeof(int32_t) * (size_t)n);
    if (!p) return err_set(e, "eval-vision: out of memory");
    for (int i = 0; i < n; i++) p[i] = *pos + i;
    struct llm_batch b = {n, ids, p, NULL, NULL};
    int rc = embd ? llm_forward_embd(m, st, &kv, 1, &b, embd, logits, e) : llm_forward(m, st, &kv, 1, &b, logits, e);
    free(p);
    *pos += n;
    return rc;
}

static int eval_image(struct clip *c, struct llm *m, const struct tokenizer *tok, const char *path, int n_greedy,
                      struct err *e) {
    const struct clip_hparams *ch = clip_hparams(c);
    const int V = llm_hparams(m)->n_vocab, n_img = ch->n_image_pos, d = ch->n_out;
    struct image img = {0};
    int32_t *pre = NULL, *suf = NULL, *gen = NULL;
    size_t n_pre = 0, n_suf = 0;
    float *emb = NULL, *lg = NULL;
    struct llm_kv *kv = NULL;
    int rc = -1, n_gen = 0, pos = 0, best[EV_TOP];

    if (image_decode_file(path, 0, &img, e)) return -1;
    emb = malloc(sizeof(float) * (size_t)n_img * d);
    lg = malloc(sizeof(float) * (size_t)V);
    gen = malloc(sizeof(int32_t) * (size_t)(n_greedy + 1));
    if (!emb || !lg || !gen) { err_set(e, "eval-vision: out of memory"); goto out; }
    if (clip_encode_image(c, llm_pool(m), &img, emb, e)) { err_prefix(e, "%s: ", path); goto out; }
    if (tokenizer_encode(tok, EV_PREFIX, strlen(EV_PREFIX), 1, 1, &pre, &n_pre, e) ||
        tokenizer_encode(tok, EV_SUFFIX, strlen(EV_SUFFIX), 0, 1, &suf, &n_suf, e))
        goto out;
    kv = llm_kv_new(m, (int)(n_pre + n_suf) + n_img + n_greedy + 1, e);
    if (!kv) goto out;
    if (feed(m, kv, pre, NULL, (int)n_pre, &pos, NULL, e) || feed(m, kv, NULL, emb, n_img, &pos, NULL, e) ||
        feed(m, kv, suf, NULL, (int)n_suf, &pos, lg, e))
        goto out;
    if (n_suf == 0) { err_set(e, "eval-vision: the prompt suffix gave no tokens"); goto out; }

    double s = 0, s2 = 0;
    for (size_t i = 0; i < (size_t)n_img * d; i++) s += emb[i], s2 += (double)emb[i] * emb[i];
    printf("{\"image\":");
    print_json_name(path);
    printf(",\"n_image_pos\":%d,\"n_embd\":%d,\"mean\":%.6f,\"rms\":%.6f", n_img, d, s / ((double)n_img * d),
           sqrt(s2 / ((double)n_img * d)));
    const int nr = d < 8 ? d : 8;
    printf(",\"first_row\":[");
    for (int i = 0; i < nr; i++) printf("%s%.5f", i ? "," : "", emb[i]);
    printf("],\"last_row\":[");
    for (int i = 0; i < nr; i++) printf("%s%.5f", i ? "," : "", emb[(size_t)(n_img - 1) * d + i]);
    printf("]");
    print_ids("prefix_tokens", pre, n_pre);
    print_ids("suffix_tokens", suf, n_suf);
    tool_top_k(lg, V, EV_TOP, best);
    printf(",\"top5\":[");
    for (int j = 0; j < EV_TOP && best[j] >= 0; j++) printf("%s[%d,%.5f]", j ? "," : "", best[j], lg[best[j]]);
    printf("]");
    for (int step = 0; step < n_greedy; step++) {
        tool_top_k(lg, V, 1, best);
        int32_t t = best[0];
        if (tokenizer_is_eog(tok, t)) break;
        gen[n_gen++] = t;
        if (step + 1 == n_greedy) break;
        if (feed(m, kv, &t, NULL, 1, &pos, lg, e)) { printf("]}\n"); goto out; }
    }
    print_ids("greedy", gen, (size_t)n_gen);
    printf("}\n");
    fflush(stdout);
    rc = 0;
out:
    llm_kv_free(kv);
    image_free(&img);
    free(pre), free(suf), free(gen), free(emb), free(lg);
    return rc;
}

int tool_eval_vision(int argc, char **argv) {
    const char *mmproj = NULL, *model = NULL;
    int n_greedy = 16, threads = 0, n_img = 0;
    const char **images = calloc((size_t)argc, sizeof *images);
    if (!images) return cli_fail("out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); free(images); return 0; }
        else if (!strcmp(a, "--mmproj") && has) mmproj = argv[++i];
        else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has) model = argv[++i];
        else if (!strcmp(a, "--greedy") && has) n_greedy = atoi(argv[++i]);
        else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has) threads = atoi(argv[++i]);
        else if (a[0] == '-' && a[1]) { free(images); return cli_fail("eval-vision: unknown or incomplete option '%s' (see --help)", a); }
        else images[n_img++] = a;
    }
    if (!mmproj || !model || n_img == 0) {
        free(images);
        return cli_fail("eval-vision: needs --mmproj MMPROJ, -m LLM and at least one image (see --help)");
    }
    if (n_greedy < 0 || n_greedy > 4096) { free(images); return cli_fail("eval-vision: --greedy must be 0..4096"); }

    struct err e = {{0}};
    struct clip *c = clip_load(mmproj, &e);
    struct llm *m = NULL;
    struct tokenizer *tok = NULL;
    int rc = 1;
    if (!c) goto out;
    struct llm_load_params lp = llm_default_load_params();
    lp.n_threads = threads;
    m = llm_load(model, &lp, &e);
    if (m && !(st = llm_state_new(m))) { llm_free(m); return cli_fail("out of memory"); }
    if (!m) goto out;
    if (clip_hparams(c)->n_out != llm_hparams(m)->n_embd) {
        err_set(&e, "%s produces embeddings of width %d but %s expects %d: they do not belong together", mmproj,
                clip_hparams(c)->n_out, model, llm_hparams(m)->n_embd);
        goto out;
    }
    tok = tokenizer_load(llm_gguf(m), &e);
    if (!tok) goto out;
    rc = 0;
    for (int i = 0; i < n_img; i++)
        if (eval_image(c, m, tok, images[i], n_greedy, &e)) { rc = 1; break; }
out:
    if (rc) cli_fail("eval-vision: %s", e.msg);
    tokenizer_free(tok);
    llm_state_free(st);
    st = NULL;
    llm_free(m);
    clip_free(c);
    free(images);
    return rc;
}

/* Vision speed: image encode time for full-size random-weight encoders with the shapes
 * of CLIP ViT-L/14-336 (LLaVA-1.5) and SigLIP-so400m-14-384 (made once by the synth tool),
 * and time to first token for a chat turn with one image (CLIP ViT-L/14-336 + a
 * SmolLM2-135M-shaped LLM). With LLAMA_LLAVA_CLI naming llama.cpp's llava-cli, it runs
 * on the same files in the same run and the ratios omni/llama.cpp are printed. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bench_clock.h"
#include "core/pool.h"
#include "formats/image_decode.h"
#include "models/clip.h"
#include "models/synth.h"
#include "models/synth_clip.h"
#include "omni.h"

#define LLM_SHAPE "smollm2-135m"
#define LLM_TYPE "q8_0"


static const char *env(const char *k, const char *def) {
    const char *v = getenv(k);
    return v && *v ? v : def;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* One llava-cli run: its own timers for the image encode and the prompt eval (the
 * image embeddings and the text around them), and the prompt's positions. */
struct ref_run {
    double encode_ms, prompt_ms;
    int prompt_tokens;
};

static double after(const char *line, const char *key) {
    const char *p = strstr(line, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

static int llava_cli(const char *cli, const char *llm, const char *mmproj, const char *image, int threads,
                     struct ref_run *r) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "'%s' -m '%s' --mmproj '%s' --image '%s' -p 'Describe the image.' -n 1 -t %d --temp 0 2>&1", cli, llm,
             mmproj, image, threads);
    r->encode_ms = r->prompt_ms = -1;
    r->prompt_tokens = 0;
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        /* llava-cli prints "image encoded in"; newer llama.cpp (llama-mtmd-cli) prints
         * "image slice encoded in" once per slice. */
        double v = after(line, "image encoded in");
        if (v > 0) r->encode_ms = v;
        v = after(line, "image slice encoded in");
        if (v > 0) r->encode_ms = (r->encode_ms > 0 ? r->encode_ms : 0) + v;
        v = after(line, "prompt eval time =");
        if (v > 0) {
            r->prompt_ms = v;
            const char *slash = strchr(strstr(line, "prompt eval time ="), '/');
            if (slash) r->prompt_tokens = atoi(slash + 1);
        }
    }
    int rc = pclose(f);
    return rc == 0 && r->encode_ms > 0 ? 0 : -1;
}

/* Best of `runs` encodes; the first also pages the mmap'ed weights in. */
static double encode_ms(const char *path, struct pool *pool, const struct image *img, int runs, int *n_pos,
                        struct err *e) {
    struct clip *c = clip_load(path, e);
    if (!c) return -1;
    const struct clip_hparams *hp = clip_hparams(c);
    *n_pos = hp->n_image_pos;
    float *out = malloc(sizeof(float) * (size_t)hp->n_image_pos * (size_t)hp->n_out);
    double best = out ? 1e30 : -1;
    for (int r = 0; r < runs && out; r++) {
        double t0 = (bench_wall_s() * 1e3);
        if (clip_encode_image(c, pool, img, out, e)) { best = -1; break; }
        double t = (bench_wall_s() * 1e3) - t0;
        if (t < best) best = t;
    }
    free(out);
    clip_free(c);
    return best;
}

/* TTFT: a fresh session each run (nothing cached), the chat template's prompt with the
 * image, one token generated; the median of `runs`. */
static double ttft_ms(const char *llm, const char *mmproj, const char *image, int threads, int runs, int *n_prompt) {
    char err[512];
    omni_model_params mp = omni_model_default_params();
    mp.n_threads = threads;
    omni_model *m = omni_model_load(llm, &mp, err, sizeof err);
    if (!m || omni_model_load_mmproj(m, mmproj, err, sizeof err)) {
        fprintf(stderr, "bench_vision: %s\n", err);
        omni_model_free(m);
        return -1;
    }
    omni_image *oi = omni_image_load(image, err, sizeof err);
    omni_chat_message msg = {"user", OMNI_IMAGE_MARKER "\nDescribe the image."};
    char *prompt = oi ? omni_chat_format(m, &msg, 1, 1, err, sizeof err) : NULL;
    double t[9];
    int ok = prompt != NULL;
    if (runs > 9) runs = 9;
    for (int r = 0; r < runs && ok; r++) {
        omni_session *s = omni_session_new(m, NULL, err, sizeof err);
        omni_generate_params gp = omni_generate_default_params();
        gp.max_tokens = 1;
        gp.sampling.temperature = 0;
        const omni_image *imgs[1] = {oi};
        gp.images = imgs;
        gp.n_images = 1;
        omni_usage u = {0};
        double t0 = (bench_wall_s() * 1e3);
        ok = s && omni_session_generate(s, prompt, &gp, &u, err, sizeof err) == 0;
        t[r] = (bench_wall_s() * 1e3) - t0;
        *n_prompt = u.prompt_tokens;
        omni_session_free(s);
    }
    if (!ok) fprintf(stderr, "bench_vision: %s\n", err);
    for (int i = 1; i < runs; i++)
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) { double x = t[j]; t[j] = t[j - 1]; t[j - 1] = x; }
    free(prompt);
    omni_image_free(oi);
    omni_model_free(m);
    return ok ? t[runs / 2] : -1;
}

int main(int argc, char **argv) {
    /* Model files go where bench/run.sh keeps them: $BUILD/bench-models next to $BUILD/bench. */
    char defdir[1024];
    snprintf(defdir, sizeof defdir, "%s", argc > 0 ? argv[0] : "build/bench/bench_vision");
    snprintf(defdir, sizeof defdir, "%s/bench-models", dirname(dirname(defdir)));
    const char *dir = env("BENCH_MODELS", defdir);
    const char *models = env("OMNI_MODELS", "../shared/models");
    const char *cli = getenv("LLAMA_LLAVA_CLI");
    if (cli && !*cli) cli = NULL;
    const int threads = atoi(env("BENCH_VISION_THREADS", "2"));
    const int runs = atoi(env("BENCH_VISION_RUNS", "3"));
    char image[1024], llm[1200];
    snprintf(image, sizeof image, "%s/images/logo112.png", models);
    snprintf(llm, sizeof llm, "%s/%s-%s.gguf", dir, LLM_SHAPE, LLM_TYPE);
    mkdir(dir, 0755);

    struct err e = {{0}};
    const struct synth_shape *ls = synth_find_shape(LLM_SHAPE);
    if (!exists(llm)) {
        struct synth_params sp = {ls, LLM_TYPE, 1, threads, NULL, NULL};
        if (!ls || synth_write(&sp, llm, &e)) { fprintf(stderr, "bench_vision: %s: %s\n", llm, e.msg); return 1; }
    }
    struct image img;
    if (image_decode_file(image, 0, &img, &e)) { fprintf(stderr, "bench_vision: %s\n", e.msg); return 1; }
    struct pool *pool = pool_create(threads);

    /* llava-cli insists that the projector's width equals the LLM's, so every encoder
     * projects to SmolLM2-135M's 576 (the real LLaVA-1.5 projector maps to 4096: about
     * 7% more encode work than measured here). */
    const int width = ls->n_embd;
    char clip_for_ttft[1200] = "";
    struct ref_run ref_clip = {-1, -1, 0};
    printf("## Vision: image encode, %s, %d threads (projector to %d)\n\n", image, threads, width);
    printf("| encoder | size MiB | patches | encode ms (best of %d) |%s\n", runs,
           cli ? " llava-cli encode ms | ratio omni/llama.cpp (<1: omni faster) |" : "");
    printf("|---|---|---|---|%s\n", cli ? "---|---|" : "");
    for (const struct synth_clip_shape *s = synth_clip_shapes; s->name; s++) {
        if (!strncmp(s->name, "tiny-", 5)) continue; /* test shapes, not real encoders */
        char path[1200];
        snprintf(path, sizeof path, "%s/%s-p%d-f16.gguf", dir, s->name, width);
        if (!exists(path) && synth_clip_write(s, "f16", 1, width, path, &e)) {
            printf("| %s | synth failed: %s |\n", s->name, e.msg);
            continue;
        }
        if (s->has_class && !clip_for_ttft[0]) snprintf(clip_for_ttft, sizeof clip_for_ttft, "%s", path);
        struct stat st;
        stat(path, &st);
        int n_pos = 0;
        double ms = encode_ms(path, pool, &img, runs, &n_pos, &e);
        if (ms < 0) { printf("| %s | %s |\n", s->name, e.msg); continue; }
        printf("| %s | %lld | %d | %.0f |", s->name, (long long)(st.st_size >> 20), n_pos, ms);
        if (cli) {
            struct ref_run r;
            /* This llava-cli indexes patch rows from 1 (after a class token) and aborts
             * on encoders without one (SigLIP): reported as n/a. */
            if (llava_cli(cli, llm, path, image, threads, &r) == 0)
                printf(" %.0f | %.2f |", r.encode_ms, ms / r.encode_ms);
            else
                printf(" n/a (llava-cli failed) | n/a |");
            if (!strcmp(path, clip_for_ttft)) ref_clip = r;
        }
        printf("\n");
        fflush(stdout);
    }
    pool_free(pool);
    image_free(&img);
    if (!clip_for_ttft[0]) return 1;

    int n_prompt = 0;
    double t = ttft_ms(llm, clip_for_ttft, image, threads, runs, &n_prompt);
    printf("\n## Vision: time to first token, one image in a chat turn, %d threads\n\n", threads);
    printf("| LLM + encoder | prompt positions | TTFT ms (median of %d) |%s\n", runs,
           cli ? " llava-cli positions | llava-cli encode + prompt eval ms | ratio omni/llama.cpp (<1: omni faster) |" : "");
    printf("|---|---|---|%s\n", cli ? "---|---|---|" : "");
    printf("| %s-%s + clip-vit-l-14-336 | %d | %.0f |", LLM_SHAPE, LLM_TYPE, n_prompt, t);
    if (cli) {
        double r = ref_clip.encode_ms > 0 && ref_clip.prompt_ms > 0 ? ref_clip.encode_ms + ref_clip.prompt_ms : -1;
        if (r > 0) printf(" %d | %.0f | %.2f |", ref_clip.prompt_tokens, r, t / r);
        else printf(" n/a | n/a | n/a |");
    }
    printf("\n");
    return t > 0 ? 0 : 1;
}

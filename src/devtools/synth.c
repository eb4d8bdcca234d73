/* `omni synth`: write a random-weight GGUF with a real model's shape, for benchmarks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "models/synth.h"
#include "models/synth_clip.h"
#include "models/synth_tts.h"
#include "models/synth_whisper.h"
#include "devtools/devtools.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: omni synth --shape SHAPE --type TYPE -o FILE [--mmproj FILE] [--seed N] [-t THREADS] [--proj-width N]\n\n"
            "Writes a GGUF model with the exact shape of a real model but random weights.\n"
            "It runs at the real model's speed, so it is what the benchmarks measure when the\n"
            "real weights are not at hand. It is not a useful chat model.\n\n"
            "  --shape SHAPE   one of:");
    for (const struct synth_shape *s = synth_shapes; s->name; s++) fprintf(f, " %s", s->name);
    for (const struct synth_whisper_shape *s = synth_whisper_shapes; s->name; s++) fprintf(f, " %s", s->name);
    for (const struct synth_clip_shape *s = synth_clip_shapes; s->name; s++) fprintf(f, " %s", s->name);
    for (const struct synth_tts_shape *s = synth_tts_shapes; s->name; s++) fprintf(f, " %s", s->name);
    fprintf(f,
            "\n  --type TYPE     f32, f16, bf16, q8_0, q4_0, q4_k_m (llama.cpp's mix of q4_K/q6_K), iq4_xs\n"
            "                  or mxfp4_moe (expert shapes: experts MXFP4, other matrices Q8_0)\n"
            "                  whisper-* shapes: f16 or q8_0, written as a whisper.cpp ggml .bin\n"
            "                  clip-*/siglip-* shapes: f16, an image encoder (llama.cpp mmproj GGUF)\n"
            "                  *qwen3tts* shapes: f32, f16 or q8_0, a Qwen3-TTS talker (-o) and its mmproj\n"
            "                  (--mmproj); qwen3tts-0.6b and qwen3tts-1.7b are the real models' shapes\n"
            "  --mmproj FILE   qwen3tts shapes: where to write the mmproj (code predictor, codec decoder,\n"
            "                  speaker encoder)\n"
            "  --proj-width N  image encoders: the projector's output width, which must equal the\n"
            "                  paired LLM's embedding width (default: the real model's, e.g. 4096)\n"
            "  -o FILE         where to write the .gguf\n"
            "  --seed N        random seed (default 1); same seed, same file\n"
            "  -t THREADS      threads for quantization (default: all cores)\n\n"
            "example: omni synth --shape smollm2-135m --type q8_0 -o smollm2-135m-q8_0.gguf\n");
}

int tool_synth(int argc, char **argv) {
    struct synth_params p = {0};
    const char *shape = NULL, *out = NULL, *mmproj = NULL;
    int proj_width = 0;
    p.ftype = NULL;
    p.seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--shape") && has) shape = argv[++i];
        else if (!strcmp(a, "--type") && has) p.ftype = argv[++i];
        else if (!strcmp(a, "-o") && has) out = argv[++i];
        else if (!strcmp(a, "--seed") && has) p.seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "-t") && has) p.n_threads = atoi(argv[++i]);
        else if (!strcmp(a, "--mmproj") && has) mmproj = argv[++i];
        else if (!strcmp(a, "--proj-width") && has) proj_width = atoi(argv[++i]);
        else { usage(stderr); return cli_fail("synth: unexpected argument '%s'", a); }
    }
    if (!shape || !p.ftype || !out) { usage(stderr); return cli_fail("synth: --shape, --type and -o are required"); }
    const struct synth_whisper_shape *ws = synth_whisper_find_shape(shape);
    if (ws) {
        struct err we = {{0}};
        if (synth_whisper_write(ws, p.ftype, p.seed, out, &we)) return cli_fail("%s", we.msg);
        fprintf(stderr, "wrote %s (%s, %s)\n", out, shape, p.ftype);
        return 0;
    }
    const struct synth_tts_shape *ts = synth_tts_find_shape(shape);
    if (ts) {
        struct err te = {{0}};
        if (synth_tts_write(ts, p.ftype, p.seed, out, mmproj, &te)) return cli_fail("%s", te.msg);
        fprintf(stderr, "wrote %s and %s (%s, %s)\n", out, mmproj, shape, p.ftype);
        return 0;
    }
    const struct synth_clip_shape *cs = synth_clip_find_shape(shape);
    if (cs) {
        struct err ce = {{0}};
        if (synth_clip_write(cs, p.ftype, p.seed, proj_width, out, &ce)) return cli_fail("%s", ce.msg);
        fprintf(stderr, "wrote %s (%s image encoder, %s)\n", out, shape, p.ftype);
        return 0;
    }
    p.shape = synth_find_shape(shape);
    if (!p.shape) return cli_fail("synth: unknown shape '%s' (see `omni synth --help`)", shape);
    struct progress bar;
    progress_begin(&bar, "synth");
    p.progress = progress_cb;
    p.progress_ud = &bar;
    struct err e = {{0}};
    if (synth_write(&p, out, &e)) return cli_fail("%s", e.msg);
    progress_end(&bar);
    fprintf(stderr, "wrote %s (%s, %s)\n", out, shape, p.ftype);
    return 0;
}

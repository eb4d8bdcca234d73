/* `omni bench-voice`: plays speech files into the voice loop in real time (the same
 * omni_voice_* path the Realtime WebSocket uses) and reports how long after the end
 * of speech the first reply audio comes out, split by stage. */
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "omni.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: omni bench-voice -m LLM --asr-model WHISPER [--vad-model VAD]\n"
            "                        [--tts-model TALKER.gguf --tts-mmproj MMPROJ.gguf] FILE.wav... [options]\n\n"
            "Measures voice-reply latency: each file is played into the voice loop at real-time speed\n"
            "(20 ms frames, as a microphone would send them), and the time from the end of speech to\n"
            "the first sample of reply audio is reported per file and as median/p90, split into stages:\n"
            "  vad_ms              end of speech -> end of turn detected (includes the silence wait)\n"
            "  asr_ms              end of turn -> final transcript event\n"
            "  llm_first_token_ms  final transcript -> first reply token event\n"
            "  tts_first_chunk_ms  first reply token -> first reply audio event (with the neural\n"
            "                      voice: its first streamed chunk of decoded frames)\n"
            "Each stage is the part of the wait the user sees, measured on the events as a client\n"
            "gets them, so the stages add up to the total. The loop speculates by default: at the\n"
            "first quiet window it transcribes and starts the reply (LLM and TTS), holding its\n"
            "events until the silence confirms the turn. A turn answered that way has asr, llm and\n"
            "tts stages near 0 (their work was hidden in the silence wait) and the text report\n"
            "marks it 'speculative'; --no-speculate measures the plain pipeline.\n\n"
            "The end of a turn follows the transcript made at the first quiet window: a short\n"
            "silence when it ends a sentence or asks, a long one when it trails off (\"and\", \"um\",\n"
            "\"그리고\", a connective ending), --silence-ms when it says neither; --fixed-silence\n"
            "ends every turn after --silence-ms. A false cut-off is a reply that started before\n"
            "the file's speech ended (a turn ended at a pause inside it): files with a pause in\n"
            "mid-sentence test for them, and the count is reported (JSON: false_cutoffs).\n\n"
            "End of speech is the end of the last speech segment that Silero VAD finds in the whole\n"
            "file offline (no padding); without --vad-model, the end of the last 32 ms window louder\n"
            "than -37.5 dBFS. Without --vad-model the live loop also uses that loudness detector\n"
            "instead of Silero (a note says so): fine for clean recordings, not for noisy ones.\n"
            "The session opens and warms (the instructions' KV, Whisper, the voice) before the\n"
            "first file plays, as a client's does before its user speaks.\n"
            "The text report also gives, per file and as medians, where the reply's work went in\n"
            "process CPU time (all threads): the transcript it answers, the LLM until the first\n"
            "clause was complete, the TTS until that clause's first audio chunk; and median/p90\n"
            "per language (the language setting, or the one \"auto\" detected).\n"
            "A reply is cut (as a barge-in would cut it) once its first audio is out.\n"
            "Files play one after another as turns of one conversation (prompt cache reused),\n"
            "or with --fresh each as the first turn of a new one.\n\n"
            "  -m FILE            chat model (GGUF)\n"
            "  --asr-model FILE   Whisper model (whisper.cpp ggml .bin)\n"
            "  --vad-model FILE   Silero VAD (whisper.cpp ggml .bin), recommended\n"
            "  --tts-model FILE   speak with a neural voice: a Qwen3-TTS talker GGUF (llama.cpp's\n"
            "                     conversion), with --tts-mmproj FILE, its code predictor and codec\n"
            "                     (default: espeak-ng)\n"
            "  --tts-quant TYPE   none (default), q8_0 or q4_0: its code predictor requantized at load\n"
            "  --max-tokens N     reply cap (default 8: random-weight models would babble on)\n"
            "  --silence-ms N     silence that ends a turn when the transcript says neither way\n"
            "                     (default 280)\n"
            "  --fixed-silence    end every turn after --silence-ms of quiet, whatever was said\n"
            "  --no-speculate     start the reply only after the turn is confirmed\n"
            "  --fresh            each file starts a new conversation (the system prompt stays\n"
            "                     cached): with random weights a reply is a few long junk tokens\n"
            "                     that would swell every later prompt, which real replies do not\n"
            "  --language CODE    en, ko, ... or auto (default en)\n"
            "  --json             one JSON object on stdout:\n"
            "                     {\"files\":[{\"file\",\"total_ms\",\"stages\":{...}}],\"median_ms\",\"p90_ms\",\"stages\":{medians},\n"
            "                      \"false_cutoffs\"}\n\n"
            "example: omni synth --shape whisper-tiny --type q8_0 -o tiny.bin\n"
            "         omni bench-voice -m smollm2-135m-q8_0.gguf --asr-model tiny.bin --vad-model silero.bin q1.wav q2.wav\n");
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Process CPU time: what the turn cost all threads together (listener, worker, pool). */
static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Wall-clock (and process CPU) times of the first event of each kind in one turn. */
struct turn {
    pthread_mutex_t mu;
    double t_stop, t_final, t_token, t_audio, cpu_audio;
    int done, errors;
    int eos;               /* the file's speech has been played to its end */
    int stop_early;        /* the last turn ended before that (at a pause inside the speech) */
    int cutoff;            /* a reply to such a turn started: the user was cut off */
    int rid;               /* the reply being measured (the last one started) */
    char status[16];
    omni_usage usage;
    char transcript[48];   /* the start of the final transcript, for the text report */
    size_t transcript_len;
    size_t reply_len;      /* bytes of the assistant message kept in the history */
};

static void on_event(const omni_voice_event *ev, void *ud) {
    struct turn *t = ud;
    double now = now_ms();
    pthread_mutex_lock(&t->mu);
    switch (ev->type) {
    case OMNI_VOICE_SPEECH_STARTED:
        /* a new turn (after a cut-off, the rest of the sentence): measure that one */
        t->t_stop = t->t_final = t->t_token = t->t_audio = t->cpu_audio = 0;
        t->rid = -1;   /* what the reply in progress still sends is not this turn's */
        t->transcript[0] = 0;
        t->transcript_len = 0;
        break;
    case OMNI_VOICE_SPEECH_STOPPED:
        if (!t->t_stop) t->t_stop = now;
        t->stop_early = !t->eos;
        break;
    case OMNI_VOICE_RESPONSE_STARTED:
        if (t->stop_early || !t->eos) t->cutoff = 1;
        t->rid = ev->response_id;
        break;
    case OMNI_VOICE_TRANSCRIPT_FINAL:
        if (!t->t_final) {
            t->t_final = now;
            t->transcript_len = ev->len;
            snprintf(t->transcript, sizeof t->transcript, "%.*s", (int)ev->len, ev->text ? ev->text : "");
        }
        break;
    case OMNI_VOICE_TEXT_DELTA: if (!t->t_token && ev->response_id == t->rid) t->t_token = now; break;
    case OMNI_VOICE_AUDIO:
        if (!t->t_audio && ev->response_id == t->rid) { t->t_audio = now; t->cpu_audio = cpu_ms(); }
        break;
    case OMNI_VOICE_RESPONSE_DONE:
        t->done++;
        t->usage = ev->usage;
        t->reply_len = ev->len;
        snprintf(t->status, sizeof t->status, "%s", ev->status);
        break;
    case OMNI_VOICE_ERROR: t->errors++; fprintf(stderr, "bench-voice: %s\n", ev->text); break;
    default: break;
    }
    pthread_mutex_unlock(&t->mu);
}

/* Sample just past the end of speech, found offline over the whole file. */
static size_t speech_end(const float *x, size_t n, const char *vad_path, char *err, size_t err_size) {
    omni_vad *v = omni_vad_load(vad_path, err, err_size); /* NULL path: the loudness detector */
    if (!v) return 0;
    size_t end = 0;
    if (vad_path) {
        float *probs = NULL;
        int np = 0, ns = 0;
        omni_vad_segment *segs = NULL;
        omni_vad_params p = omni_vad_default_params();
        p.speech_pad_ms = 0;
        if (!omni_vad_probs(v, x, n, &probs, &np, err, err_size) &&
            !omni_vad_segments(probs, np, omni_vad_window(v), &p, &segs, &ns, err, err_size) && ns)
            end = (size_t)segs[ns - 1].end;
        free(probs);
        free(segs);
    } else {
        const size_t w = (size_t)omni_vad_window(v);
        for (size_t i = 0; i + w <= n; i += w)
            if (omni_vad_step(v, x + i, (int)w) >= 0.5f) end = i + w;
    }
    omni_vad_free(v);
    return end;
}

struct result {
    const char *file;
    double total, vad, asr, llm, tts, cpu, cpu_turn;
    int cutoff;
    double cpu_asr, cpu_llm, cpu_tts;   /* omni_voice_stats' last_*_cpu_ms */
    char lang[8];
};

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile. */
static double percentile(double *v, int n, double q) {
    if (n == 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int k = (int)ceil(q * n) - 1;
    if (k < 0) k = 0;
    if (k >= n) k = n - 1;
    return q == 0.5 && n % 2 == 0 ? (v[n / 2 - 1] + v[n / 2]) / 2 : v[k];
}

static double stage_median(const struct result *r, int n, size_t off) {
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v) return 0;
    for (int i = 0; i < n; i++) v[i] = *(const double *)((const char *)&r[i] + off);
    double m = percentile(v, n, 0.5);
    free(v);
    return m;
}

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

/* Plays one file (16 kHz) plus a second of silence into the loop in real time and
 * waits for the reply. Returns 0 with r filled, -1 when no reply audio came. */
static int play_file(omni_voice *v, struct turn *t, const char *path, const float *x, size_t n, size_t eos,
                     struct result *r) {
    const size_t frame = 320, tail = 16000;
    int16_t buf[320];
    double t0 = now_ms(), t_eos = 0, cpu_eos = 0, cpu0 = cpu_ms();
    for (size_t i = 0, k = 0; i < n + tail; i += frame, k++) {
        for (size_t j = 0; j < frame; j++) {
            float s = i + j < n ? x[i + j] : 0.0f;
            if (s > 1) s = 1;
            if (s < -1) s = -1;
            buf[j] = (int16_t)lrintf(s * 32767);
        }
        omni_voice_push_pcm(v, buf, frame);
        if (!t_eos && i + frame >= eos) {
            t_eos = now_ms();
            cpu_eos = cpu_ms();
            pthread_mutex_lock(&t->mu);
            t->eos = 1;
            pthread_mutex_unlock(&t->mu);
        }
        double next = t0 + (double)(k + 1) * 20.0, wait = next - now_ms();
        if (wait > 0) usleep((useconds_t)(wait * 1000));
    }
    /* What is measured ends at the first reply audio. The rest of the reply is cut there
     * (as a barge-in would): a random-weight neural voice rarely stops by itself, and a
     * reply still speaking would run into the next file's turn. */
    for (int waited = 0; waited < 60000; waited += 20) {
        pthread_mutex_lock(&t->mu);
        int got = t->t_audio > 0 || t->done > 0;
        pthread_mutex_unlock(&t->mu);
        if (got || omni_voice_wait_idle(v, 0) == 0) break;
        usleep(20000);
    }
    omni_voice_cancel(v);
    omni_voice_wait_idle(v, 60000);
    double cpu_turn = cpu_ms() - cpu0;
    pthread_mutex_lock(&t->mu);
    int ok = t->t_audio > 0 && t->t_stop > 0 && t->t_final > 0 && t->t_token > 0;
    if (ok) {
        *r = (struct result){path, t->t_audio - t_eos, t->t_stop - t_eos, t->t_final - t->t_stop,
                             t->t_token - t->t_final, t->t_audio - t->t_token, t->cpu_audio - cpu_eos, cpu_turn,
                             t->cutoff, 0, 0, 0, ""};
    }
    pthread_mutex_unlock(&t->mu);
    return ok ? 0 : -1;
}

/* One line per language: median and p90 of the totals, and its false cut-offs. */
static void report_languages(const struct result *r, int n) {
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    int *seen = calloc((size_t)(n ? n : 1), sizeof *seen);
    if (!v || !seen) { free(v); free(seen); return; }
    for (int i = 0; i < n; i++) {
        if (seen[i]) continue;
        int k = 0, cut = 0;
        for (int j = i; j < n; j++)
            if (!seen[j] && !strcmp(r[j].lang, r[i].lang)) { seen[j] = 1; v[k++] = r[j].total; cut += r[j].cutoff; }
        double med = percentile(v, k, 0.5), p90 = percentile(v, k, 0.9);
        printf("language %s: median %.1f ms, p90 %.1f ms over %d file(s); false cut-offs %d\n",
               r[i].lang[0] ? r[i].lang : "?", med, p90, k, cut);
    }
    free(v);
    free(seen);
}

int cmd_bench_voice(int argc, char **argv) {
    const char *llm_path = NULL, *asr_path = NULL, *vad_path = NULL, *lang = "en", *tts_model = NULL,
               *tts_mmproj = NULL, *tts_quant = NULL;
    int json = 0, max_tokens = 8, silence = omni_voice_default_params().silence_ms, speculate = 1, fresh = 0,
        fixed = 0;
    const char **files = calloc((size_t)argc, sizeof *files);
    int n_files = 0;
    if (!files) return cli_fail("bench-voice: out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); free(files); return 0; }
        else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has) llm_path = argv[++i];
        else if (!strcmp(a, "--asr-model") && has) asr_path = argv[++i];
        else if ((!strcmp(a, "--vad-model") || !strcmp(a, "--vad")) && has) vad_path = argv[++i];
        else if (!strcmp(a, "--tts-model") && has) tts_model = argv[++i];
        else if (!strcmp(a, "--tts-mmproj") && has) tts_mmproj = argv[++i];
        else if (!strcmp(a, "--tts-quant") && has) tts_quant = argv[++i];
        else if (!strcmp(a, "--max-tokens") && has) max_tokens = atoi(argv[++i]);
        else if (!strcmp(a, "--silence-ms") && has) silence = atoi(argv[++i]);
        else if (!strcmp(a, "--language") && has) lang = argv[++i];
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--no-speculate")) speculate = 0;
        else if (!strcmp(a, "--fresh")) fresh = 1;
        else if (!strcmp(a, "--fixed-silence")) fixed = 1;
        else if (a[0] == '-' && a[1]) { usage(stderr); free(files); return cli_fail("bench-voice: unexpected argument '%s'", a); }
        else files[n_files++] = a;
    }
    if (!llm_path || !asr_path || !n_files) {
        usage(stderr);
        free(files);
        return cli_fail("bench-voice: -m, --asr-model and at least one audio file are required");
    }
    if (max_tokens < 1 || silence < 0 || silence > 10000) {
        free(files);
        return cli_fail("bench-voice: --max-tokens must be >= 1 and --silence-ms 0..10000");
    }
    if (!tts_model != !tts_mmproj) {
        free(files);
        return cli_fail("bench-voice: --tts-model and --tts-mmproj go together (a Qwen3-TTS talker and its mmproj)");
    }
    if (!vad_path)
        fprintf(stderr, "bench-voice: note: no --vad-model; using a loudness threshold instead of Silero VAD\n");

    int rc = 1;
    char errbuf[512] = "";
    struct result *res = calloc((size_t)n_files, sizeof *res);
    float **audio = calloc((size_t)n_files, sizeof *audio);
    size_t *lens = calloc((size_t)n_files, sizeof *lens), *ends = calloc((size_t)n_files, sizeof *ends);
    omni_model *llm = NULL;
    omni_asr *asr = NULL;
    omni_voice *v = NULL;
    struct turn t;
    memset(&t, 0, sizeof t);
    pthread_mutex_init(&t.mu, NULL);
    int n_ok = 0, n_spec = 0, n_cut = 0;
    if (!res || !audio || !lens || !ends) { cli_fail("bench-voice: out of memory"); goto out; }
    /* everything is read and checked before the clock matters */
    for (int i = 0; i < n_files; i++) {
        if (omni_audio_decode_file(files[i], &audio[i], &lens[i], errbuf, sizeof errbuf)) { cli_fail("%s", errbuf); goto out; }
        ends[i] = speech_end(audio[i], lens[i], vad_path, errbuf, sizeof errbuf);
        if (errbuf[0]) { cli_fail("%s", errbuf); goto out; }
        if (!ends[i]) { cli_fail("bench-voice: %s: no speech found", files[i]); goto out; }
    }
    if (!(llm = omni_model_load(llm_path, NULL, errbuf, sizeof errbuf))) { cli_fail("%s", errbuf); goto out; }
    if (!(asr = omni_asr_load(asr_path, NULL, errbuf, sizeof errbuf))) { cli_fail("%s", errbuf); goto out; }
    if (tts_model && omni_tts_load_neural_quant(tts_model, tts_mmproj, 0, tts_quant, errbuf, sizeof errbuf)) {
        cli_fail("bench-voice: --tts-model: %s", errbuf);
        goto out;
    }
    omni_voice_params p = omni_voice_default_params();
    p.instructions = "You are a helpful voice assistant. Answer in one short sentence.";
    p.language = lang;
    p.input_rate = 16000;
    p.silence_ms = silence;
    p.max_tokens = max_tokens;
    p.speculate = speculate;
    if (fixed) p.end_of_turn = OMNI_VOICE_EOT_SILENCE;
    p.seed = 1;
    p.vad_model = vad_path;
    p.on_event = on_event;
    p.user = &t;
    if (!(v = omni_voice_new(llm, asr, &p, errbuf, sizeof errbuf))) { cli_fail("%s", errbuf); goto out; }
    /* the session warms up as it opens (as a client's does before the user speaks) */
    omni_voice_wait_idle(v, 120000);

    for (int i = 0; i < n_files; i++) {
        pthread_mutex_lock(&t.mu);
        t.t_stop = t.t_final = t.t_token = t.t_audio = t.cpu_audio = 0;
        t.transcript[0] = 0;
        t.transcript_len = 0;
        t.done = 0;
        t.eos = t.cutoff = t.stop_early = 0;
        pthread_mutex_unlock(&t.mu);
        if (fresh) omni_voice_clear_history(v);
        omni_voice_stats s0, s1;
        omni_voice_get_stats(v, &s0);
        if (play_file(v, &t, files[i], audio[i], lens[i], ends[i], &res[n_ok])) {
            fprintf(stderr, "bench-voice: %s: no reply audio (turn not detected or empty transcript)\n", files[i]);
            continue;
        }
        omni_voice_get_stats(v, &s1);
        res[n_ok].cpu_asr = s1.last_asr_cpu_ms;
        res[n_ok].cpu_llm = s1.last_llm_cpu_ms;
        res[n_ok].cpu_tts = s1.last_tts_cpu_ms;
        memcpy(res[n_ok].lang, s1.last_language, sizeof res[n_ok].lang);
        int spec = s1.spec_used > s0.spec_used;
        n_spec += spec;
        n_cut += res[n_ok].cutoff;
        if (!json)
            printf("%-32s total %7.1f ms  (vad %6.1f  asr %6.1f  llm %6.1f  tts %6.1f)  %s%s  cpu %7.1f ms "
                   "(turn %.1f ms)  prompt %d tokens (%d cached) in %.1f ms; speculative replies dropped so far %d; "
                   "transcript %zu bytes \"%s\", reply %zu bytes; language %s, CPU: asr %.1f, llm first clause %.1f, "
                   "tts first chunk %.1f ms\n", files[i],
                   res[n_ok].total, res[n_ok].vad, res[n_ok].asr, res[n_ok].llm, res[n_ok].tts,
                   spec ? "speculative" : "plain      ", res[n_ok].cutoff ? "  FALSE CUT-OFF" : "", res[n_ok].cpu,
                   res[n_ok].cpu_turn, t.usage.prompt_tokens,
                   t.usage.cached_tokens, t.usage.prompt_ms, s1.spec_dropped, t.transcript_len, t.transcript,
                   t.reply_len, res[n_ok].lang[0] ? res[n_ok].lang : "?", res[n_ok].cpu_asr, res[n_ok].cpu_llm,
                   res[n_ok].cpu_tts);
        n_ok++;
    }
    if (!n_ok) { cli_fail("bench-voice: no file produced a reply"); goto out; }

    double *tot = malloc((size_t)n_ok * sizeof *tot);
    if (!tot) { cli_fail("bench-voice: out of memory"); goto out; }
    for (int i = 0; i < n_ok; i++) tot[i] = res[i].total;
    double med = percentile(tot, n_ok, 0.5), p90 = percentile(tot, n_ok, 0.9);
    free(tot);
    double mv = stage_median(res, n_ok, offsetof(struct result, vad)),
           ma = stage_median(res, n_ok, offsetof(struct result, asr)),
           ml = stage_median(res, n_ok, offsetof(struct result, llm)),
           mt = stage_median(res, n_ok, offsetof(struct result, tts)),
           mc = stage_median(res, n_ok, offsetof(struct result, cpu)),
           mct = stage_median(res, n_ok, offsetof(struct result, cpu_turn));
    if (json) {
        printf("{\"files\":[");
        for (int i = 0; i < n_ok; i++) {
            printf("%s{\"file\":", i ? "," : "");
            json_str(res[i].file);
            printf(",\"total_ms\":%.1f,\"stages\":{\"vad_ms\":%.1f,\"asr_ms\":%.1f,\"llm_first_token_ms\":%.1f,"
                   "\"tts_first_chunk_ms\":%.1f}}",
                   res[i].total, res[i].vad, res[i].asr, res[i].llm, res[i].tts);
        }
        printf("],\"median_ms\":%.1f,\"p90_ms\":%.1f,\"stages\":{\"vad_ms\":%.1f,\"asr_ms\":%.1f,"
               "\"llm_first_token_ms\":%.1f,\"tts_first_chunk_ms\":%.1f},\"false_cutoffs\":%d}\n",
               med, p90, mv, ma, ml, mt, n_cut);
    } else {
        printf("median %.1f ms, p90 %.1f ms over %d file(s) (%d answered speculatively); median stages: vad %.1f, "
               "asr %.1f, llm first token %.1f, tts first chunk %.1f; process CPU from end of speech to first audio: "
               "median %.1f ms (whole turn %.1f ms); false cut-offs %d\n",
               med, p90, n_ok, n_spec, mv, ma, ml, mt, mc, mct, n_cut);
        omni_voice_stats st;
        omni_voice_get_stats(v, &st);
        printf("pauses judged by their transcript: %d ended a sentence, %d said neither way, %d trailed off\n",
               st.eot_complete, st.eot_unsure, st.eot_continue);
        printf("voice: %s; median process CPU per stage: asr %.1f ms, llm first clause %.1f ms, tts first chunk %.1f ms\n",
               omni_tts_neural_backend() ? omni_tts_neural_backend() : "espeak-ng",
               stage_median(res, n_ok, offsetof(struct result, cpu_asr)),
               stage_median(res, n_ok, offsetof(struct result, cpu_llm)),
               stage_median(res, n_ok, offsetof(struct result, cpu_tts)));
        report_languages(res, n_ok);
    }
    rc = n_ok == n_files ? 0 : 1;
out:
    omni_voice_free(v);
    if (tts_model) omni_tts_load_neural(NULL, NULL, 0, errbuf, sizeof errbuf);
    omni_asr_free(asr);
    omni_model_free(llm);
    for (int i = 0; audio && i < n_files; i++) free(audio[i]);
    free(audio);
    free(lens);
    free(ends);
    free(res);
    free(files);
    return rc;
}

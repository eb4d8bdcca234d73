/* The neural voice engine: Qwen3-TTS (src/tts) behind struct tts_backend. One model per
 * process, loaded by omni_tts_load_neural; synthesis takes turns on a lock (the model
 * keeps one decoder state) and computes on the process pool like every other model. The
 * OpenAI voice names map to the model's built-in speakers; no voice comes from audio. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime/tts.h"
#include "tts/qwen3tts.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct q3tts *g_model;

/* OpenAI preset -> built-in speaker of the CustomVoice models, by timbre (female presets to
 * female speakers, deep ones to the lower male voices); a model without that speaker (a
 * Base model has none) speaks in its default voice. */
static const struct { const char *preset, *speaker; } k_map[] = {
    {"alloy", "serena"}, {"ash", "ryan"},   {"ballad", "uncle_fu"}, {"coral", "vivian"},
    {"echo", "aiden"},   {"fable", "dylan"}, {"nova", "ono_anna"},  {"onyx", "eric"},
    {"sage", "sohee"},   {"shimmer", "vivian"}, {"verse", "ryan"},
};

int omni_tts_load_neural(const char *talker_path, const char *mmproj_path, int n_threads, char *err, size_t err_size) {
    return omni_tts_load_neural_quant(talker_path, mmproj_path, n_threads, NULL, err, err_size);
}

int omni_tts_load_neural_quant(const char *talker_path, const char *mmproj_path, int n_threads, const char *quant,
                               char *err, size_t err_size) {
    struct err e = {{0}};
    struct q3tts *m = NULL;
    if (talker_path) {
        if (!mmproj_path) {
            err_set(&e, "a Qwen3-TTS talker needs its mmproj (code predictor and codec decoder)");
            return err_copy(&e, err, err_size);
        }
        m = q3tts_load_quant(talker_path, mmproj_path, n_threads, quant, &e);
        if (!m) return err_copy(&e, err, err_size);
    }
    pthread_mutex_lock(&g_lock);
    struct q3tts *old = g_model;
    g_model = m;
    pthread_mutex_unlock(&g_lock);
    q3tts_free(old);
    return 0;
}

const char *omni_tts_neural_backend(void) { return g_model ? tts_neural_backend.name : NULL; }

int tts_neural_loaded(void) { return g_model != NULL; }

int tts_neural_has_lang(const char *lang) { return g_model && q3tts_has_lang(g_model, lang); }

int tts_neural_takes_instructions(void) { return g_model && q3tts_takes_instructions(g_model); }

int tts_neural_n_speakers(void) { return g_model ? q3tts_n_voices(g_model) : 0; }
const char *tts_neural_speaker(int i) { return g_model ? q3tts_voice_name(g_model, i) : NULL; }

int tts_neural_is_speaker(const char *name) {
    for (int i = 0; i < tts_neural_n_speakers(); i++)
        if (!strcasecmp(name, tts_neural_speaker(i))) return 1;
    return 0;
}

const char *tts_neural_speaker_for(const char *voice) {
    if (!voice || !*voice) voice = "alloy";
    if (tts_neural_is_speaker(voice)) return voice;
    for (size_t i = 0; i < sizeof k_map / sizeof *k_map; i++)
        if (!strcasecmp(voice, k_map[i].preset)) return tts_neural_is_speaker(k_map[i].speaker) ? k_map[i].speaker : NULL;
    return NULL;
}

static int neural_rate(void) { return Q3TTS_SAMPLE_RATE; }

struct relay { tts_audio_fn on_pcm; void *ud; int16_t *buf; size_t cap; };

static int relay(void *ud, const int32_t *codes, int n_frames, const float *pcm, size_t n) {
    struct relay *r = ud;
    if (n > r->cap) {
        int16_t *b = realloc(r->buf, n * sizeof *b);
        if (!b) return 1;
        r->buf = b, r->cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        float v = pcm[i] * 32767.0f;
        r->buf[i] = (int16_t)(v > 32767.0f ? 32767 : v < -32767.0f ? -32767 : (int)(v < 0 ? v - 0.5f : v + 0.5f));
    }
    return r->on_pcm(r->buf, n, r->ud);
}

/* One run: streamed as the codec decodes it, the first piece one frame (80 ms of audio,
 * so the first sound waits for one talker step and one code-predictor pass, not three),
 * then two, then pieces of 3 frames (240 ms): each piece is ready before the audio out
 * ahead of it has played whenever synthesis runs faster than real time. */
static int neural_synth(const struct tts_voice *v, const char *lang, float speed, int last, const char *text,
                        tts_audio_fn on_pcm, void *ud, struct err *e) {
    (void)speed, (void)last;
    struct relay r = {on_pcm, ud, NULL, 0};
    struct q3tts_opts o = {lang, tts_voice_speaker(v), 0, 3, 1, tts_voice_instructions(v)};
    /* about 12.5 frames a second: room for a slow reader, bounded for a runaway model */
    size_t len = strlen(text);
    o.max_frames = (int)(len * 4 + 50);
    pthread_mutex_lock(&g_lock);
    int rc = g_model ? q3tts_synthesize(g_model, text, len, &o, relay, &r, e) : err_set(e, "no neural voice is loaded");
    pthread_mutex_unlock(&g_lock);
    free(r.buf);
    return rc;
}

const struct tts_backend tts_neural_backend = {"qwen3-tts", neural_rate, neural_synth};

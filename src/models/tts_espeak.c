/* espeak-ng backend (see tts_espeak.h). espeak-ng is a library with one global
 * synthesizer, so initialisation happens once and every use is serialised by g_lock;
 * the synthesis callback finds its caller through the event's user_data. */
#include "models/tts_espeak.h"

#include <espeak-ng/speak_lib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_rate = -1; /* espeak's sample rate once initialised, -1 if it failed */
static char g_data[1024];

static void init_once(void) {
    const char *dir = getenv("OMNI_ESPEAK_DATA");
    /* DONT_EXIT: without it espeak calls exit() when its data is missing. */
    g_rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 40, dir && *dir ? dir : NULL,
                               espeakINITIALIZE_DONT_EXIT);
    const char *path = NULL;
    espeak_Info(&path);
    if (path) snprintf(g_data, sizeof g_data, "%s", path);
    if (g_rate > 0 && access(g_data, R_OK) != 0) g_rate = -1;
}

int tts_espeak_init(struct err *e) {
    pthread_once(&g_once, init_once);
    if (g_rate <= 0)
        return err_set(e, "espeak-ng: cannot load its data from %s (install espeak-ng-data, or set "
                          "OMNI_ESPEAK_DATA to the folder holding espeak-ng-data)",
                       g_data[0] ? g_data : "the default location");
    return 0;
}

int tts_espeak_sample_rate(void) { return tts_espeak_init(NULL) ? 0 : g_rate; }

struct synth_ctx {
    int (*on_pcm)(const int16_t *, size_t, void *);
    void *ud;
    int stopped;
};

static int synth_cb(short *wav, int n, espeak_EVENT *ev) {
    struct synth_ctx *c = ev ? ev->user_data : NULL;
    if (!c) return 0;
    if (c->stopped) return 1;
    if (wav && n > 0 && c->on_pcm(wav, (size_t)n, c->ud)) c->stopped = 1;
    return c->stopped;
}

int tts_espeak_synth(const struct tts_espeak_params *p, const char *text,
                     int (*on_pcm)(const int16_t *pcm, size_t n, void *ud), void *ud, struct err *e) {
    if (tts_espeak_init(e)) return -1;
    struct synth_ctx c = {on_pcm, ud, 0};
    int rc = 0;
    pthread_mutex_lock(&g_lock);
    espeak_SetSynthCallback(synth_cb);
    if (espeak_SetVoiceByName(p->voice) != EE_OK) {
        rc = err_set(e, "espeak-ng: no voice '%s'", p->voice);
        goto out;
    }
    /* Parameters are global and persist: set every one on every call. */
    espeak_SetParameter(espeakRATE, p->rate, 0);
    espeak_SetParameter(espeakPITCH, p->pitch, 0);
    espeak_SetParameter(espeakRANGE, p->range, 0);
    espeak_SetParameter(espeakWORDGAP, p->wordgap, 0);
    espeak_SetParameter(espeakVOLUME, 100, 0);
    espeak_SetParameter(espeakPUNCTUATION, espeakPUNCT_NONE, 0);
    espeak_SetParameter(espeakCAPITALS, 0, 0);
    /* espeak draws noise (fricatives, breath) from rand(); a fixed seed makes the same
     * request give the same samples, which callers and tests rely on. */
    srand(1);
    espeak_ERROR er = espeak_Synth(text, strlen(text) + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8 | espeakENDPAUSE,
                                   NULL, &c);
    if (c.stopped) rc = err_set(e, "speech output stopped by the consumer");
    else if (er != EE_OK) rc = err_set(e, "espeak-ng: synthesis failed (error %d)", (int)er);
out:
    pthread_mutex_unlock(&g_lock);
    return rc;
}

/* espeak's language list is a sequence of (priority byte, NUL-terminated name), ending in an empty name. */
static int voice_matches(const espeak_VOICE *v, const char *name) {
    if (v->name && !strcasecmp(v->name, name)) return 1;
    if (v->identifier) {
        const char *b = strrchr(v->identifier, '/');
        if (!strcasecmp(b ? b + 1 : v->identifier, name)) return 1;
    }
    for (const char *l = v->languages; l && *l; l += strlen(l + 1) + 2)
        if (!strcasecmp(l + 1, name)) return 1;
    return 0;
}

int tts_espeak_has_voice(const char *name) {
    if (!name || !*name || tts_espeak_init(NULL)) return 0;
    int found = 0;
    pthread_mutex_lock(&g_lock);
    const espeak_VOICE **vs = espeak_ListVoices(NULL);
    for (int i = 0; vs && vs[i] && !found; i++) found = voice_matches(vs[i], name);
    pthread_mutex_unlock(&g_lock);
    return found;
}

int tts_espeak_has_variant(const char *name) {
    if (!name || !*name || strchr(name, '/') || name[0] == '.' || tts_espeak_init(NULL)) return 0;
    char path[1400];
    snprintf(path, sizeof path, "%s/voices/!v/%s", g_data, name);
    return access(path, R_OK) == 0;
}

int tts_espeak_languages(void (*each)(const char *lang, const char *name, void *ud), void *ud) {
    if (tts_espeak_init(NULL)) return -1;
    int n = 0;
    pthread_mutex_lock(&g_lock);
    const espeak_VOICE **vs = espeak_ListVoices(NULL);
    for (int i = 0; vs && vs[i]; i++) {
        const char *l = vs[i]->languages;
        if (!l || !*l) continue;
        each(l + 1, vs[i]->name ? vs[i]->name : l + 1, ud);
        n++;
    }
    pthread_mutex_unlock(&g_lock);
    return n;
}

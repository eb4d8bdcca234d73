/* The server's shared Whisper model behind a lock; see asr.h. One whisper_state is
 * reused by every request (its caches are sized once), so requests take turns. */
#include "api/asr.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/pool.h"
#include "formats/audio_decode.h"
#include "models/whisper_vad.h"

struct api_asr {
    pthread_mutex_t mu;
    struct whisper_model *model;
    struct whisper_state *state;
    struct vad *vad;
    struct pool *pool;
    char name[128];
};

struct api_asr *api_asr_open(const char *model_path, const char *vad_path, int n_threads, struct err *e) {
    struct api_asr *a = calloc(1, sizeof *a);
    if (!a) { err_set(e, "out of memory"); return NULL; }
    pthread_mutex_init(&a->mu, NULL);
    const char *b = strrchr(model_path, '/');
    snprintf(a->name, sizeof a->name, "%s", b ? b + 1 : model_path);
    size_t k = strlen(a->name);
    if (k > 4 && !strcmp(a->name + k - 4, ".bin")) a->name[k - 4] = 0;
    if (!(a->model = whisper_load(model_path, e))) goto fail;
    if (vad_path && !(a->vad = vad_load(vad_path, e))) goto fail;
    a->pool = pool_create(n_threads);
    if (!(a->state = whisper_state_new(a->model, a->pool, e))) goto fail;
    return a;
fail:
    api_asr_close(a);
    return NULL;
}

void api_asr_close(struct api_asr *a) {
    if (!a) return;
    whisper_state_free(a->state);
    whisper_free(a->model);
    vad_free(a->vad);
    pool_free(a->pool);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

const struct whisper_model *api_asr_model(const struct api_asr *a) { return a->model; }
const char *api_asr_name(const struct api_asr *a) { return a->name; }

int api_asr_transcribe(struct api_asr *a, const float *x, size_t n, const struct whisper_params *p,
                       struct whisper_result *r, struct err *e) {
    pthread_mutex_lock(&a->mu);
    int rc;
    if (a->vad) {
        struct vad_params vp = vad_default_params();
        rc = whisper_transcribe_vad(a->state, a->vad, x, n, p, &vp, r, e);
    } else {
        rc = whisper_transcribe(a->state, x, n, p, r, e);
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

/* Standard base64 (newlines and a data: URL prefix tolerated) into a malloc'ed buffer. */
static unsigned char *base64_decode(const char *s, size_t *n_out) {
    const char *comma = strncmp(s, "data:", 5) ? NULL : strchr(s, ',');
    if (comma) s = comma + 1;
    size_t len = strlen(s);
    if (len > (size_t)1 << 30) return NULL;
    unsigned char *out = malloc(len / 4 * 3 + 80);
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    int n1 = 0, n2 = 0, ok = out && ctx;
    if (ok) {
        EVP_DecodeInit(ctx);
        /* EVP_DecodeUpdate takes an int length: feed large inputs in pieces. */
        size_t done = 0, total = 0;
        while (ok && done < len) {
            int piece = len - done > (1u << 20) ? 1 << 20 : (int)(len - done);
            ok = EVP_DecodeUpdate(ctx, out + total, &n1, (const unsigned char *)s + done, piece) >= 0;
            total += (size_t)n1;
            done += (size_t)piece;
        }
        ok = ok && EVP_DecodeFinal(ctx, out + total, &n2) == 1;
        *n_out = total + (size_t)(n2 > 0 ? n2 : 0);
    }
    EVP_ENCODE_CTX_free(ctx);
    if (!ok || *n_out == 0) { free(out); return NULL; }
    return out;
}

/* The segments' text joined, leading spaces dropped (Whisper starts words with one). */
static char *joined_text(const struct whisper_result *r) {
    size_t len = 1;
    for (int i = 0; i < r->n_segments; i++) len += strlen(r->segments[i].text);
    char *all = malloc(len), *p = all;
    if (!all) return NULL;
    for (int i = 0; i < r->n_segments; i++) {
        size_t k = strlen(r->segments[i].text);
        memcpy(p, r->segments[i].text, k);
        p += k;
    }
    *p = 0;
    size_t lead = strspn(all, " ");
    memmove(all, all + lead, strlen(all + lead) + 1);
    return all;
}

int api_asr_input_audio(struct api_asr *a, const cJSON *part, const char *param, char **text,
                        struct api_bad_field *bad) {
    *text = NULL;
    snprintf(bad->param, sizeof bad->param, "%s", param);
    if (!a) {
        snprintf(bad->msg, sizeof bad->msg,
                 "this server has no speech model, so it cannot take audio (%s is input_audio); start it with "
                 "`omni serve --asr-model WHISPER.bin` or send the text instead", param);
        return -1;
    }
    const cJSON *ia = cJSON_GetObjectItemCaseSensitive(part, "input_audio");
    const cJSON *data = cJSON_IsObject(ia) ? cJSON_GetObjectItemCaseSensitive(ia, "data") : NULL;
    const cJSON *format = cJSON_IsObject(ia) ? cJSON_GetObjectItemCaseSensitive(ia, "format") : NULL;
    if (!cJSON_IsString(data)) {
        snprintf(bad->param, sizeof bad->param, "%s.input_audio.data", param);
        snprintf(bad->msg, sizeof bad->msg, "'%s.input_audio.data' must be a base64 string of the audio file", param);
        return -1;
    }
    if (format && !cJSON_IsNull(format) &&
        !(cJSON_IsString(format) && (!strcmp(format->valuestring, "wav") || !strcmp(format->valuestring, "mp3")))) {
        snprintf(bad->param, sizeof bad->param, "%s.input_audio.format", param);
        snprintf(bad->msg, sizeof bad->msg, "'%s.input_audio.format' must be 'wav' or 'mp3'", param);
        return -1;
    }
    size_t n_bytes = 0;
    unsigned char *file = base64_decode(data->valuestring, &n_bytes);
    if (!file) {
        snprintf(bad->param, sizeof bad->param, "%s.input_audio.data", param);
        snprintf(bad->msg, sizeof bad->msg, "'%s.input_audio.data' is not valid (non-empty) base64", param);
        return -1;
    }
    struct err e = {{0}};
    float *x = NULL;
    size_t n = 0;
    char what[96];
    snprintf(what, sizeof what, "%s.input_audio", param);
    int rc = audio_decode_mem(file, n_bytes, what, &x, &n, &e);
    free(file);
    if (rc) {
        snprintf(bad->param, sizeof bad->param, "%s.input_audio.data", param);
        snprintf(bad->msg, sizeof bad->msg, "%.390s", e.msg);
        return -1;
    }
    struct whisper_params wp = whisper_default_params();
    wp.language = whisper_is_multilingual(a->model) ? "auto" : "en";
    struct whisper_result r = {0};
    rc = api_asr_transcribe(a, x, n, &wp, &r, &e);
    free(x);
    if (rc) {
        snprintf(bad->msg, sizeof bad->msg, "transcribing %s failed: %.300s", param, e.msg);
        whisper_result_free(&r);
        return -1;
    }
    *text = joined_text(&r);
    whisper_result_free(&r);
    if (!*text) { snprintf(bad->msg, sizeof bad->msg, "out of memory"); return -1; }
    return 0;
}

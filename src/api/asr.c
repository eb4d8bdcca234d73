/* The server's shared recognizer; see asr.h. omni_asr keeps one decoder state for
 * every request (its caches are sized once), so requests take turns there. */
#include "api/asr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "api/big_stack.h"

struct api_asr {
    omni_asr *asr;
    int borrowed;
    char name[128];
};

struct api_asr *api_asr_wrap(omni_asr *asr, const char *name) {
    struct api_asr *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->asr = asr;
    a->borrowed = 1;
    snprintf(a->name, sizeof a->name, "%s", name);
    return a;
}

struct api_asr *api_asr_open(const char *model_path, const char *vad_path, int n_threads, struct err *e) {
    struct api_asr *a = calloc(1, sizeof *a);
    if (!a) { err_set(e, "out of memory"); return NULL; }
    const char *b = strrchr(model_path, '/');
    snprintf(a->name, sizeof a->name, "%s", b ? b + 1 : model_path);
    size_t k = strlen(a->name);
    if (k > 4 && !strcmp(a->name + k - 4, ".bin")) a->name[k - 4] = 0;
    omni_asr_load_params lp = omni_asr_load_default_params();
    lp.n_threads = n_threads;
    lp.vad_model = vad_path;
    if (!(a->asr = omni_asr_load(model_path, &lp, e->msg, sizeof e->msg))) {
        free(a);
        return NULL;
    }
    return a;
}

void api_asr_close(struct api_asr *a) {
    if (!a) return;
    if (!a->borrowed) omni_asr_free(a->asr);
    free(a);
}

omni_asr *api_asr_ctx(const struct api_asr *a) { return a->asr; }
const char *api_asr_name(const struct api_asr *a) { return a->name; }

struct job {
    struct api_asr *a;
    const void *file;
    size_t size;
    const char *what;
    const omni_asr_params *p;
    omni_asr_result *r;
    double seconds;
    int bad_audio;
    struct err *e;
};

static void run_job(void *arg) {
    struct job *j = arg;
    float *x = NULL;
    size_t n = 0;
    if (omni_audio_decode_memory(j->file, j->size, j->what, &x, &n, j->e->msg, sizeof j->e->msg)) {
        j->bad_audio = 1;
        return;
    }
    j->seconds = (double)n / OMNI_ASR_SAMPLE_RATE;
    j->r = omni_asr_transcribe(j->a->asr, x, n, j->p, j->e->msg, sizeof j->e->msg);
    free(x);
}

int api_asr_transcribe_file(struct api_asr *a, const void *file, size_t size, const char *what,
                            const omni_asr_params *p, omni_asr_result **r, double *seconds, int *bad_audio,
                            struct err *e) {
    struct job j = {a, file, size, what, p, NULL, 0, 0, e};
    *r = NULL;
    *bad_audio = 0;
    *seconds = 0;
    if (api_run_big_stack(run_job, &j)) return err_set(e, "cannot start a transcription thread");
    *bad_audio = j.bad_audio;
    *seconds = j.seconds;
    *r = j.r;
    return j.r ? 0 : -1;
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
    char what[96];
    snprintf(what, sizeof what, "%s.input_audio", param);
    omni_asr_params wp = omni_asr_default_params();
    wp.language = omni_asr_is_multilingual(a->asr) ? "auto" : "en";
    omni_asr_result *r = NULL;
    double seconds;
    int bad_audio;
    int rc = api_asr_transcribe_file(a, file, n_bytes, what, &wp, &r, &seconds, &bad_audio, &e);
    free(file);
    if (rc) {
        if (bad_audio) snprintf(bad->param, sizeof bad->param, "%s.input_audio.data", param);
        snprintf(bad->msg, sizeof bad->msg, "%s%.350s", bad_audio ? "" : "transcription failed: ", e.msg);
        return -1;
    }
    *text = strdup(r->text);
    omni_asr_result_free(r);
    if (!*text) { snprintf(bad->msg, sizeof bad->msg, "out of memory"); return -1; }
    return 0;
}

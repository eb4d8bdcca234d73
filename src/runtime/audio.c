/* omni_audio_*: the public face (include/omni.h) of formats/audio_decode and
 * formats/audio_encode — audio files in as 16 kHz mono floats for the speech models,
 * speech out as WAV, PCM, FLAC, Opus or MP3 bytes, encoded as it is made. */
#include <stdlib.h>

#include "formats/audio_decode.h"
#include "formats/audio_encode.h"
#include "omni.h"

_Static_assert(OMNI_ASR_SAMPLE_RATE == AUDIO_SAMPLE_RATE, "speech models take 16 kHz");
_Static_assert(OMNI_TTS_SAMPLE_RATE == AUDIO_OUT_RATE, "speech comes out at 24 kHz");
_Static_assert(OMNI_WAV_HEADER_SIZE == AUDIO_WAV_HEADER_SIZE, "one WAV header");
_Static_assert((int)OMNI_AUDIO_WAV == (int)AUDIO_FMT_WAV && (int)OMNI_AUDIO_PCM == (int)AUDIO_FMT_PCM &&
                   (int)OMNI_AUDIO_FLAC == (int)AUDIO_FMT_FLAC && (int)OMNI_AUDIO_OPUS == (int)AUDIO_FMT_OPUS &&
                   (int)OMNI_AUDIO_MP3 == (int)AUDIO_FMT_MP3,
               "the public formats are the encoder's");

int omni_audio_decode_file(const char *path, float **pcm, size_t *n_samples, char *err, size_t err_size) {
    struct err e = {{0}};
    if (audio_decode_file(path, pcm, n_samples, &e)) return err_copy(&e, err, err_size);
    return 0;
}

int omni_audio_decode_memory(const void *data, size_t size, const char *what, float **pcm, size_t *n_samples,
                             char *err, size_t err_size) {
    struct err e = {{0}};
    if (audio_decode_mem(data, size, what ? what : "audio", pcm, n_samples, &e)) return err_copy(&e, err, err_size);
    return 0;
}

int omni_audio_format_parse(const char *name, omni_audio_format *out, char *err, size_t err_size) {
    struct err e = {{0}};
    enum audio_format f;
    if (audio_format_parse(name, &f, &e)) return err_copy(&e, err, err_size);
    *out = (omni_audio_format)f;
    return 0;
}

int omni_audio_format_from_path(const char *path, omni_audio_format *out) {
    enum audio_format f;
    if (audio_format_from_path(path, &f)) return -1;
    *out = (omni_audio_format)f;
    return 0;
}

const char *omni_audio_format_name(omni_audio_format f) { return audio_format_name((enum audio_format)f); }
const char *omni_audio_format_mime(omni_audio_format f) { return audio_format_mime((enum audio_format)f); }

struct omni_audio_encoder {
    struct audio_encoder *enc;
};

omni_audio_encoder *omni_audio_encode_new(omni_audio_format format, int sample_rate, omni_bytes_callback on_bytes,
                                          void *user, char *err, size_t err_size) {
    struct err e = {{0}};
    omni_audio_encoder *o = malloc(sizeof *o);
    if (!o) {
        err_set(&e, "out of memory");
        err_copy(&e, err, err_size);
        return NULL;
    }
    if (!(o->enc = audio_encoder_new((enum audio_format)format, sample_rate, on_bytes, user, &e))) {
        free(o);
        err_copy(&e, err, err_size);
        return NULL;
    }
    return o;
}

int omni_audio_encode_write(omni_audio_encoder *enc, const int16_t *pcm, size_t n, char *err, size_t err_size) {
    struct err e = {{0}};
    if (audio_encoder_write(enc->enc, pcm, n, &e)) return err_copy(&e, err, err_size);
    return 0;
}

int omni_audio_encode_finish(omni_audio_encoder *enc, char *err, size_t err_size) {
    struct err e = {{0}};
    if (audio_encoder_finish(enc->enc, &e)) return err_copy(&e, err, err_size);
    return 0;
}

void omni_audio_encode_free(omni_audio_encoder *enc) {
    if (!enc) return;
    audio_encoder_free(enc->enc);
    free(enc);
}

void omni_audio_wav_header(uint8_t header[OMNI_WAV_HEADER_SIZE], int sample_rate, uint32_t n_samples) {
    audio_wav_header(header, sample_rate, n_samples);
}

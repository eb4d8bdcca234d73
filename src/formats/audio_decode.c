/* Audio file decoding to 16 kHz mono float; see audio_decode.h. Everything goes
 * through memory (sf_open_virtual) so files and HTTP uploads share one path. */
#include "formats/audio_decode.h"

#include <mpg123.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct membuf {
    const unsigned char *p;
    sf_count_t size, pos;
};

static sf_count_t vio_len(void *ud) { return ((struct membuf *)ud)->size; }
static sf_count_t vio_tell(void *ud) { return ((struct membuf *)ud)->pos; }
static sf_count_t vio_seek(sf_count_t off, int whence, void *ud) {
    struct membuf *m = ud;
    sf_count_t np = whence == SEEK_SET ? off : whence == SEEK_CUR ? m->pos + off : m->size + off;
    if (np < 0 || np > m->size) return -1;
    m->pos = np;
    return np;
}
static sf_count_t vio_read(void *dst, sf_count_t n, void *ud) {
    struct membuf *m = ud;
    if (n > m->size - m->pos) n = m->size - m->pos;
    if (n <= 0) return 0;
    memcpy(dst, m->p + m->pos, (size_t)n);
    m->pos += n;
    return n;
}
static sf_count_t vio_write(const void *src, sf_count_t n, void *ud) { return 0; }

float *audio_to_16k_mono(const float *in, size_t n_frames, int channels, int rate, size_t *n_out,
                         struct err *e) {
    if (channels < 1 || rate < 1000 || rate > 768000) {
        err_set(e, "unsupported audio layout: %d channels at %d Hz", channels, rate);
        return NULL;
    }
    float *mono = malloc((n_frames ? n_frames : 1) * sizeof(float));
    if (!mono) { err_set(e, "out of memory for %zu audio frames", n_frames); return NULL; }
    for (size_t i = 0; i < n_frames; i++) {
        float s = 0;
        for (int c = 0; c < channels; c++) s += in[i * (size_t)channels + (size_t)c];
        mono[i] = s / (float)channels;
    }
    if (rate == AUDIO_SAMPLE_RATE) { *n_out = n_frames; return mono; }

    double ratio = (double)AUDIO_SAMPLE_RATE / rate;
    size_t cap = (size_t)((double)n_frames * ratio) + 16;
    float *res = malloc(cap * sizeof(float));
    if (!res) { free(mono); err_set(e, "out of memory resampling"); return NULL; }
    SRC_DATA d = {0};
    d.data_in = mono;
    d.input_frames = (long)n_frames;
    d.data_out = res;
    d.output_frames = (long)cap;
    d.src_ratio = ratio;
    d.end_of_input = 1;
    int rc = src_simple(&d, SRC_SINC_MEDIUM_QUALITY, 1);
    free(mono);
    if (rc) { free(res); err_set(e, "resampling %d Hz to 16 kHz failed: %s", rate, src_strerror(rc)); return NULL; }
    if (d.output_frames_gen <= 0) { /* a few frames at a high rate: nothing left at 16 kHz */
        free(res);
        err_set(e, "%zu frames at %d Hz are too short to resample to 16 kHz", n_frames, rate);
        return NULL;
    }
    *n_out = (size_t)d.output_frames_gen;
    return res;
}

static int decode_sndfile(const void *buf, size_t size, const char *what, float **out, size_t *n_out,
                          struct err *e) {
    struct membuf m = {buf, (sf_count_t)size, 0};
    SF_VIRTUAL_IO vio = {vio_len, vio_seek, vio_read, vio_write, vio_tell};
    SF_INFO info = {0};
    SNDFILE *sf = sf_open_virtual(&vio, SFM_READ, &info, &m);
    if (!sf) return err_set(e, "%s: not a recognised audio file (%s)", what, sf_strerror(NULL));
    if (info.channels < 1 || info.channels > 64 || info.samplerate < 1000) {
        sf_close(sf);
        return err_set(e, "%s: unsupported audio: %d channels at %d Hz", what, info.channels, info.samplerate);
    }
    /* frames may be unknown or wrong for streamed formats (MP3, Opus): read in chunks */
    size_t cap = 1 << 16, n = 0, ch = (size_t)info.channels;
    float *pcm = malloc(cap * ch * sizeof(float));
    for (;;) {
        if (!pcm) { sf_close(sf); return err_set(e, "%s: out of memory decoding", what); }
        if (n == cap) {
            float *np = realloc(pcm, cap * 2 * ch * sizeof(float));
            if (!np) { free(pcm); pcm = NULL; continue; }
            pcm = np;
            cap *= 2;
        }
        sf_count_t got = sf_readf_float(sf, pcm + n * ch, (sf_count_t)(cap - n));
        if (got <= 0) break;
        n += (size_t)got;
    }
    int sf_err = sf_error(sf);
    sf_close(sf);
    if (sf_err && n == 0) { free(pcm); return err_set(e, "%s: audio decoding failed", what); }
    if (n == 0) { free(pcm); return err_set(e, "%s: the audio file has no samples", what); }
    *out = audio_to_16k_mono(pcm, n, info.channels, info.samplerate, n_out, e);
    free(pcm);
    return *out ? 0 : err_prefix(e, "%s: ", what);
}

/* MP3 through libmpg123, for streams libsndfile refuses. */
static int decode_mpg123(const void *buf, size_t size, const char *what, float **out, size_t *n_out,
                         struct err *e) {
    mpg123_handle *h = mpg123_new(NULL, NULL);
    if (!h) return err_set(e, "%s: mpg123 unavailable", what);
    mpg123_param(h, MPG123_ADD_FLAGS, MPG123_FORCE_FLOAT | MPG123_QUIET, 0.0);
    if (mpg123_open_feed(h) != MPG123_OK || mpg123_feed(h, buf, size) != MPG123_OK) {
        mpg123_delete(h);
        return err_set(e, "%s: mpg123 could not open the stream", what);
    }
    long rate = 0;
    int channels = 0, enc = 0;
    size_t cap = 1 << 18, n = 0; /* in floats */
    float *pcm = malloc(cap * sizeof(float));
    unsigned char tmp[16384];
    for (int guard = 0; pcm && guard < (1 << 24); guard++) {
        size_t done = 0;
        int rc = mpg123_read(h, tmp, sizeof tmp, &done);
        if (rc == MPG123_NEW_FORMAT) {
            mpg123_getformat(h, &rate, &channels, &enc);
            if (enc != MPG123_ENC_FLOAT_32) break;
        }
        if (done) {
            size_t k = done / sizeof(float);
            if (n + k > cap) {
                float *np = realloc(pcm, (cap = (n + k) * 2) * sizeof(float));
                if (!np) { free(pcm); pcm = NULL; break; }
                pcm = np;
            }
            memcpy(pcm + n, tmp, k * sizeof(float));
            n += k;
        }
        if (rc != MPG123_OK && rc != MPG123_NEW_FORMAT) break;
    }
    mpg123_delete(h);
    if (!pcm) return err_set(e, "%s: out of memory decoding", what);
    if (!n || channels < 1 || rate <= 0 || enc != MPG123_ENC_FLOAT_32) {
        free(pcm);
        return err_set(e, "%s: no MPEG audio frames found", what);
    }
    *out = audio_to_16k_mono(pcm, n / (size_t)channels, channels, (int)rate, n_out, e);
    free(pcm);
    return *out ? 0 : err_prefix(e, "%s: ", what);
}

static int looks_like_mp3(const unsigned char *p, size_t n) {
    if (n >= 3 && !memcmp(p, "ID3", 3)) return 1;
    return n >= 2 && p[0] == 0xff && (p[1] & 0xe0) == 0xe0;
}

int audio_decode_mem(const void *buf, size_t size, const char *what, float **out, size_t *n_out,
                     struct err *e) {
    *out = NULL;
    *n_out = 0;
    if (!size) return err_set(e, "%s: empty file, expected audio", what);
    if (decode_sndfile(buf, size, what, out, n_out, e) == 0) return 0;
    if (looks_like_mp3(buf, size) && decode_mpg123(buf, size, what, out, n_out, e) == 0) return 0;
    return -1;
}

int audio_decode_file(const char *path, float **out, size_t *n_out, struct err *e) {
    *out = NULL;
    *n_out = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(e, "%s: cannot open (%m)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    if (n < 0) { fclose(f); return err_set(e, "%s: cannot read", path); }
    void *buf = malloc((size_t)n + 1);
    if (!buf) { fclose(f); return err_set(e, "%s: out of memory", path); }
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    if (got != (size_t)n) { free(buf); return err_set(e, "%s: read error", path); }
    int rc = audio_decode_mem(buf, (size_t)n, path, out, n_out, e);
    free(buf);
    return rc;
}

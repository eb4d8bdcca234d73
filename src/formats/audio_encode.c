/* Incremental audio encoders for speech output (see audio_encode.h): each format keeps
 * its library state and hands bytes to the caller's callback as soon as the library
 * lets go of them, so the first sentence can be heard before the last is synthesized. */
#include "formats/audio_encode.h"

#include <lame/lame.h>
#include <math.h>
#include <opus/opusenc.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name, *mime;
} g_formats[] = {
    [AUDIO_FMT_WAV] = {"wav", "audio/wav"},   [AUDIO_FMT_PCM] = {"pcm", "audio/pcm"},
    [AUDIO_FMT_FLAC] = {"flac", "audio/flac"}, [AUDIO_FMT_OPUS] = {"opus", "audio/ogg"},
    [AUDIO_FMT_MP3] = {"mp3", "audio/mpeg"},
};
#define N_FORMATS (int)(sizeof g_formats / sizeof g_formats[0])

int audio_format_parse(const char *name, enum audio_format *out, struct err *e) {
    for (int i = 0; name && i < N_FORMATS; i++)
        if (!strcasecmp(name, g_formats[i].name)) { *out = (enum audio_format)i; return 0; }
    return err_set(e, "unknown audio format '%s' (allowed: %s)", name ? name : "", AUDIO_FORMATS_ALLOWED);
}

int audio_format_from_path(const char *path, enum audio_format *out) {
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (!dot || strchr(dot, '/')) return -1;
    dot++;
    if (!strcasecmp(dot, "raw") || !strcasecmp(dot, "s16")) { *out = AUDIO_FMT_PCM; return 0; }
    if (!strcasecmp(dot, "ogg") || !strcasecmp(dot, "oga")) { *out = AUDIO_FMT_OPUS; return 0; }
    return audio_format_parse(dot, out, NULL);
}

const char *audio_format_name(enum audio_format f) { return (int)f < N_FORMATS ? g_formats[f].name : "?"; }
const char *audio_format_mime(enum audio_format f) {
    return (int)f < N_FORMATS ? g_formats[f].mime : "application/octet-stream";
}

static void put_le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static void put_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }

void audio_wav_header(uint8_t h[AUDIO_WAV_HEADER_SIZE], int rate, uint32_t n_samples) {
    /* n_samples == UINT32_MAX means "unknown length": both sizes then read 0xFFFFFFFF. */
    uint32_t data = n_samples == UINT32_MAX || n_samples > (UINT32_MAX - 36) / 2 ? UINT32_MAX : n_samples * 2;
    memcpy(h, "RIFF", 4);
    put_le32(h + 4, data == UINT32_MAX ? UINT32_MAX : data + 36);
    memcpy(h + 8, "WAVEfmt ", 8);
    put_le32(h + 16, 16);
    put_le16(h + 20, 1); /* PCM */
    put_le16(h + 22, 1); /* mono */
    put_le32(h + 24, (uint32_t)rate);
    put_le32(h + 28, (uint32_t)rate * 2);
    put_le16(h + 32, 2);
    put_le16(h + 34, 16);
    memcpy(h + 36, "data", 4);
    put_le32(h + 40, data);
}

struct audio_encoder {
    enum audio_format fmt;
    int rate;
    audio_bytes_fn on_bytes;
    void *ud;
    int stopped; /* the consumer refused bytes: every later call fails fast */
    /* FLAC: libsndfile writes into `mem` through virtual I/O and may seek back to patch
     * its header at close; bytes before `sent` are already out, so such patches are
     * dropped (the early header says "length unknown", which FLAC allows). */
    SNDFILE *sf;
    uint8_t *mem;
    sf_count_t mem_len, mem_cap, mem_pos, sent;
    OggOpusEnc *ope;
    OggOpusComments *opc;
    lame_global_flags *lame;
    uint8_t *mp3buf;
    size_t mp3cap;
};

static int emit(struct audio_encoder *enc, const void *p, size_t n) {
    if (!n || enc->stopped) return enc->stopped ? -1 : 0;
    if (enc->on_bytes(p, n, enc->ud)) enc->stopped = 1;
    return enc->stopped ? -1 : 0;
}

/* --- FLAC: libsndfile virtual I/O over a growing memory buffer --- */
static sf_count_t vio_len(void *ud) { return ((struct audio_encoder *)ud)->mem_len; }
static sf_count_t vio_tell(void *ud) { return ((struct audio_encoder *)ud)->mem_pos; }
static sf_count_t vio_seek(sf_count_t off, int whence, void *ud) {
    struct audio_encoder *enc = ud;
    sf_count_t base = whence == SEEK_CUR ? enc->mem_pos : whence == SEEK_END ? enc->mem_len : 0;
    if (base + off < 0) return -1;
    return enc->mem_pos = base + off;
}
static sf_count_t vio_read(void *ptr, sf_count_t n, void *ud) {
    struct audio_encoder *enc = ud;
    sf_count_t k = enc->mem_len - enc->mem_pos;
    if (k > n) k = n;
    if (k <= 0) return 0;
    memcpy(ptr, enc->mem + enc->mem_pos, (size_t)k);
    enc->mem_pos += k;
    return k;
}
static sf_count_t vio_write(const void *ptr, sf_count_t n, void *ud) {
    struct audio_encoder *enc = ud;
    sf_count_t end = enc->mem_pos + n;
    if (end > enc->mem_cap) {
        sf_count_t cap = enc->mem_cap ? enc->mem_cap : 65536;
        while (cap < end) cap *= 2;
        uint8_t *m = realloc(enc->mem, (size_t)cap);
        if (!m) return 0;
        enc->mem = m;
        enc->mem_cap = cap;
    }
    if (enc->mem_pos > enc->mem_len) memset(enc->mem + enc->mem_len, 0, (size_t)(enc->mem_pos - enc->mem_len));
    memcpy(enc->mem + enc->mem_pos, ptr, (size_t)n);
    enc->mem_pos = end;
    if (end > enc->mem_len) enc->mem_len = end;
    return n;
}
static int flac_emit_new(struct audio_encoder *enc) {
    sf_count_t from = enc->sent;
    enc->sent = enc->mem_len;
    return emit(enc, enc->mem + from, (size_t)(enc->mem_len - from));
}

/* --- Opus: libopusenc pushes finished Ogg pages here --- */
static int ope_write_cb(void *ud, const unsigned char *p, opus_int32 n) { return emit(ud, p, (size_t)n) ? 1 : 0; }
static int ope_close_cb(void *ud) { return 0; }

struct audio_encoder *audio_encoder_new(enum audio_format f, int rate, audio_bytes_fn on_bytes, void *ud,
                                        struct err *e) {
    if ((int)f < 0 || (int)f >= N_FORMATS) { err_set(e, "audio encoder: unknown format %d", (int)f); return NULL; }
    if (rate < 8000 || rate > 48000) { err_set(e, "audio encoder: sample rate %d Hz is outside 8000..48000", rate); return NULL; }
    struct audio_encoder *enc = calloc(1, sizeof *enc);
    if (!enc) { err_set(e, "audio encoder: out of memory"); return NULL; }
    enc->fmt = f;
    enc->rate = rate;
    enc->on_bytes = on_bytes;
    enc->ud = ud;
    switch (f) {
    case AUDIO_FMT_WAV: {
        uint8_t h[AUDIO_WAV_HEADER_SIZE];
        audio_wav_header(h, rate, UINT32_MAX);
        if (emit(enc, h, sizeof h)) { err_set(e, "audio encoder: output closed"); goto fail; }
        break;
    }
    case AUDIO_FMT_PCM: break;
    case AUDIO_FMT_FLAC: {
        static SF_VIRTUAL_IO vio = {vio_len, vio_seek, vio_read, vio_write, vio_tell};
        SF_INFO info = {.samplerate = rate, .channels = 1, .format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16};
        enc->sf = sf_open_virtual(&vio, SFM_WRITE, &info, enc);
        if (!enc->sf) { err_set(e, "FLAC encoder: %s", sf_strerror(NULL)); goto fail; }
        break;
    }
    case AUDIO_FMT_OPUS: {
        int oerr = 0;
        OpusEncCallbacks cb = {ope_write_cb, ope_close_cb};
        enc->opc = ope_comments_create();
        if (!enc->opc) { err_set(e, "Opus encoder: out of memory"); goto fail; }
        ope_comments_add(enc->opc, "ENCODER", "omni");
        enc->ope = ope_encoder_create_callbacks(&cb, enc, enc->opc, rate, 1, 0, &oerr);
        if (!enc->ope) { err_set(e, "Opus encoder: %s", ope_strerror(oerr)); goto fail; }
        /* Speech at 32 kb/s; a page every 40 ms so a listener starts quickly (the page
         * overhead, ~30 bytes, is small); complexity 5 is plenty for a formant voice. */
        ope_encoder_ctl(enc->ope, OPUS_SET_BITRATE(32000));
        ope_encoder_ctl(enc->ope, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
        ope_encoder_ctl(enc->ope, OPUS_SET_COMPLEXITY(5));
        ope_encoder_ctl(enc->ope, OPE_SET_MUXING_DELAY(1920));
        if (ope_encoder_flush_header(enc->ope) != OPE_OK || enc->stopped) {
            err_set(e, "Opus encoder: could not write the stream header");
            goto fail;
        }
        break;
    }
    case AUDIO_FMT_MP3:
        enc->lame = lame_init();
        if (!enc->lame) { err_set(e, "MP3 encoder: lame_init failed"); goto fail; }
        lame_set_in_samplerate(enc->lame, rate);
        lame_set_out_samplerate(enc->lame, rate);
        lame_set_num_channels(enc->lame, 1);
        lame_set_mode(enc->lame, MONO);
        lame_set_brate(enc->lame, 64);
        lame_set_quality(enc->lame, 5);
        lame_set_bWriteVbrTag(enc->lame, 0); /* a streamed file cannot go back to fill a Xing tag */
        if (lame_init_params(enc->lame) < 0) { err_set(e, "MP3 encoder: unsupported parameters (rate %d)", rate); goto fail; }
        break;
    }
    return enc;
fail:
    audio_encoder_free(enc);
    return NULL;
}

int audio_encoder_write(struct audio_encoder *enc, const int16_t *pcm, size_t n, struct err *e) {
    if (enc->stopped) return err_set(e, "audio encoder: output closed");
    if (!n) return 0;
    switch (enc->fmt) {
    case AUDIO_FMT_WAV:
    case AUDIO_FMT_PCM: {
        /* s16le on the wire; convert only on a big-endian host. */
        const uint16_t one = 1;
        if (*(const uint8_t *)&one) { emit(enc, pcm, n * 2); break; }
        uint8_t tmp[4096];
        for (size_t i = 0; i < n && !enc->stopped;) {
            size_t k = 0;
            for (; i < n && k < sizeof tmp; i++, k += 2) put_le16(tmp + k, (uint16_t)pcm[i]);
            emit(enc, tmp, k);
        }
        break;
    }
    case AUDIO_FMT_FLAC:
        if (sf_write_short(enc->sf, pcm, (sf_count_t)n) != (sf_count_t)n)
            return err_set(e, "FLAC encoder: %s", sf_strerror(enc->sf));
        flac_emit_new(enc);
        break;
    case AUDIO_FMT_OPUS:
        for (size_t off = 0; off < n && !enc->stopped;) {
            int k = n - off > 1 << 20 ? 1 << 20 : (int)(n - off);
            int rc = ope_encoder_write(enc->ope, pcm + off, k);
            if (rc != OPE_OK && !enc->stopped) return err_set(e, "Opus encoder: %s", ope_strerror(rc));
            off += (size_t)k;
        }
        break;
    case AUDIO_FMT_MP3:
        for (size_t off = 0; off < n && !enc->stopped;) {
            int k = n - off > 65536 ? 65536 : (int)(n - off);
            size_t need = (size_t)k * 5 / 4 + 7200; /* lame's documented worst case */
            if (need > enc->mp3cap) {
                uint8_t *b = realloc(enc->mp3buf, need);
                if (!b) return err_set(e, "MP3 encoder: out of memory");
                enc->mp3buf = b;
                enc->mp3cap = need;
            }
            int got = lame_encode_buffer(enc->lame, pcm + off, pcm + off, k, enc->mp3buf, (int)enc->mp3cap);
            if (got < 0) return err_set(e, "MP3 encoder: lame_encode_buffer failed (%d)", got);
            emit(enc, enc->mp3buf, (size_t)got);
            off += (size_t)k;
        }
        break;
    }
    return enc->stopped ? err_set(e, "audio encoder: output closed") : 0;
}

int audio_encoder_finish(struct audio_encoder *enc, struct err *e) {
    if (enc->stopped) return err_set(e, "audio encoder: output closed");
    switch (enc->fmt) {
    case AUDIO_FMT_WAV:
    case AUDIO_FMT_PCM: break;
    case AUDIO_FMT_FLAC: {
        int rc = sf_close(enc->sf);
        enc->sf = NULL;
        if (rc) return err_set(e, "FLAC encoder: %s", sf_error_number(rc));
        flac_emit_new(enc);
        break;
    }
    case AUDIO_FMT_OPUS: {
        int rc = ope_encoder_drain(enc->ope);
        if (rc != OPE_OK && !enc->stopped) return err_set(e, "Opus encoder: %s", ope_strerror(rc));
        break;
    }
    case AUDIO_FMT_MP3: {
        uint8_t tail[7200];
        int got = lame_encode_flush(enc->lame, tail, (int)sizeof tail);
        if (got < 0) return err_set(e, "MP3 encoder: lame_encode_flush failed (%d)", got);
        emit(enc, tail, (size_t)got);
        break;
    }
    }
    return enc->stopped ? err_set(e, "audio encoder: output closed") : 0;
}

void audio_encoder_free(struct audio_encoder *enc) {
    if (!enc) return;
    if (enc->sf) sf_close(enc->sf);
    free(enc->mem);
    if (enc->ope) ope_encoder_destroy(enc->ope);
    if (enc->opc) ope_comments_destroy(enc->opc);
    if (enc->lame) lame_close(enc->lame);
    free(enc->mp3buf);
    free(enc);
}

/* --- resampling --- */
struct audio_resampler {
    SRC_STATE *src;
    double ratio;
    float *fin, *fout;
    int16_t *out;
    size_t cap_in, cap_out;
};

struct audio_resampler *audio_resampler_new(int in_rate, int out_rate, struct err *e) {
    if (in_rate <= 0 || out_rate <= 0) { err_set(e, "resampler: bad rates %d -> %d", in_rate, out_rate); return NULL; }
    struct audio_resampler *r = calloc(1, sizeof *r);
    if (!r) { err_set(e, "resampler: out of memory"); return NULL; }
    int serr = 0;
    /* The fastest sinc converter is already transparent for speech, at a fraction of the cost. */
    r->src = src_new(SRC_SINC_FASTEST, 1, &serr);
    if (!r->src) { err_set(e, "resampler: %s", src_strerror(serr)); free(r); return NULL; }
    r->ratio = (double)out_rate / in_rate;
    return r;
}

int audio_resampler_process(struct audio_resampler *r, const int16_t *in, size_t n, int last,
                            const int16_t **out, size_t *n_out, struct err *e) {
    size_t want = (size_t)(n * r->ratio) + 256;
    if (n > r->cap_in) {
        float *f = realloc(r->fin, n * sizeof *f);
        if (!f) return err_set(e, "resampler: out of memory");
        r->fin = f;
        r->cap_in = n;
    }
    for (size_t i = 0; i < n; i++) r->fin[i] = in[i] * (1.0f / 32768.0f);
    size_t used = 0, made = 0;
    for (;;) {
        if (made + 256 > r->cap_out || want > r->cap_out) {
            size_t cap = r->cap_out ? r->cap_out * 2 : want + 256;
            while (cap < want + 256 || cap < made + 256) cap *= 2;
            float *f = realloc(r->fout, cap * sizeof *f);
            int16_t *s = realloc(r->out, cap * sizeof *s);
            if (f) r->fout = f;
            if (s) r->out = s;
            if (!f || !s) return err_set(e, "resampler: out of memory");
            r->cap_out = cap;
        }
        SRC_DATA d = {.data_in = r->fin ? r->fin + used : NULL, .input_frames = (long)(n - used),
                      .data_out = r->fout + made, /* fout is allocated above */ .output_frames = (long)(r->cap_out - made),
                      .end_of_input = last, .src_ratio = r->ratio};
        int rc = src_process(r->src, &d);
        if (rc) return err_set(e, "resampler: %s", src_strerror(rc));
        used += (size_t)d.input_frames_used;
        made += (size_t)d.output_frames_gen;
        if (used >= n && (!last || d.output_frames_gen == 0)) break;
        if (!d.input_frames_used && !d.output_frames_gen) break;
    }
    for (size_t i = 0; i < made; i++) {
        float v = r->fout[i] * 32768.0f;
        r->out[i] = (int16_t)(v > 32767.0f ? 32767 : v < -32768.0f ? -32768 : (int)lrintf(v));
    }
    *out = r->out;
    *n_out = made;
    return 0;
}

void audio_resampler_free(struct audio_resampler *r) {
    if (!r) return;
    if (r->src) src_delete(r->src);
    free(r->fin);
    free(r->fout);
    free(r->out);
    free(r);
}

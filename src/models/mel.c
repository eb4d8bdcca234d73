/* Whisper log-mel spectrogram; see mel.h. The FFT is FFTW's real-to-complex transform;
 * each mel filter is a narrow triangle, so only its non-zero span is summed. */
#include "models/mel.h"

#include <fftw3.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* FFTW's planner is not thread-safe; plans are made once and then only executed. */
static pthread_mutex_t g_plan_lock = PTHREAD_MUTEX_INITIALIZER;

int mel_compute(const float *x, size_t n, const float *filters, int n_mel, int n_fft, struct mel *out,
                struct err *e) {
    memset(out, 0, sizeof *out);
    if (n_fft != MEL_N_FFT / 2 + 1) return err_set(e, "mel filterbank has %d bins, expected %d", n_fft, MEL_N_FFT / 2 + 1);
    if (n_mel < 1 || n > (size_t)1 << 31) return err_set(e, "bad mel input (%d bins, %zu samples)", n_mel, n);
    const size_t pad_half = MEL_N_FFT / 2, pad_end = 30 * 16000;
    size_t total = n + pad_end + 2 * pad_half;
    /* only the part that holds audio needs FFTs; the rest is the log of the floor */
    size_t n_real = n + pad_half;
    int n_len = (int)((total - MEL_N_FFT) / MEL_HOP);
    int n_fft_frames = (int)(n_real / MEL_HOP) + 1;
    if (n_fft_frames > n_len) n_fft_frames = n_len;

    float *padded = calloc(n_real + MEL_N_FFT, sizeof(float));
    float *data = malloc((size_t)n_mel * (size_t)n_len * sizeof(float));
    float *in = fftwf_malloc(sizeof(float) * MEL_N_FFT);
    fftwf_complex *spec = fftwf_malloc(sizeof(fftwf_complex) * (MEL_N_FFT / 2 + 1));
    int *lo = malloc((size_t)n_mel * sizeof(int)), *hi = malloc((size_t)n_mel * sizeof(int));
    double *power = malloc((size_t)n_fft * sizeof(double));
    int rc = -1;
    if (!padded || !data || !in || !spec || !lo || !hi || !power) { err_set(e, "out of memory for the mel spectrogram"); goto done; }

    memcpy(padded + pad_half, x, n * sizeof(float));
    /* reflect the first samples into the leading pad, as whisper.cpp does */
    size_t n_reflect = n > 1 ? (n - 1 < pad_half ? n - 1 : pad_half) : 0;
    for (size_t i = 0; i < n_reflect; i++) padded[pad_half - 1 - i] = x[i + 1];

    for (int m = 0; m < n_mel; m++) {
        const float *f = filters + (size_t)m * n_fft;
        lo[m] = 0;
        hi[m] = n_fft;
        while (lo[m] < n_fft && f[lo[m]] == 0.0f) lo[m]++;
        while (hi[m] > lo[m] && f[hi[m] - 1] == 0.0f) hi[m]--;
    }
    float hann[MEL_N_FFT];
    for (int i = 0; i < MEL_N_FFT; i++) hann[i] = 0.5f * (1.0f - cosf(2.0f * (float)M_PI * i / MEL_N_FFT));

    pthread_mutex_lock(&g_plan_lock);
    fftwf_plan plan = fftwf_plan_dft_r2c_1d(MEL_N_FFT, in, spec, FFTW_ESTIMATE);
    pthread_mutex_unlock(&g_plan_lock);
    if (!plan) { err_set(e, "FFTW could not plan a %d-point transform", MEL_N_FFT); goto done; }

    double vmax = -1e20;
    for (int t = 0; t < n_fft_frames; t++) {
        size_t off = (size_t)t * MEL_HOP;
        for (int j = 0; j < MEL_N_FFT; j++) {
            /* samples past the audio are zero (whisper.cpp zero-fills from n + pad_half) */
            float s = off + (size_t)j < n_real ? padded[off + (size_t)j] : 0.0f;
            in[j] = hann[j] * s;
        }
        fftwf_execute(plan);
        for (int k = 0; k < n_fft; k++) {
            float re = spec[k][0], im = spec[k][1];
            power[k] = (double)(re * re + im * im);
        }
        for (int m = 0; m < n_mel; m++) {
            const float *f = filters + (size_t)m * n_fft;
            double s = 0;
            for (int k = lo[m]; k < hi[m]; k++) s += power[k] * f[k];
            double v = log10(s > 1e-10 ? s : 1e-10);
            data[(size_t)m * n_len + t] = (float)v;
            if (v > vmax) vmax = v;
        }
    }
    if (n_fft_frames < n_len && -10.0 > vmax) vmax = -10.0;
    pthread_mutex_lock(&g_plan_lock);
    fftwf_destroy_plan(plan);
    pthread_mutex_unlock(&g_plan_lock);

    double floor_v = vmax - 8.0;
    for (int m = 0; m < n_mel; m++) {
        float *row = data + (size_t)m * n_len;
        for (int t = 0; t < n_len; t++) {
            double v = t < n_fft_frames ? row[t] : -10.0;
            if (v < floor_v) v = floor_v;
            row[t] = (float)((v + 4.0) / 4.0);
        }
    }
    out->n_mel = n_mel;
    out->n_len = n_len;
    out->n_len_org = 1 + (int)((n + pad_half - MEL_N_FFT) / MEL_HOP);
    if (n + pad_half < MEL_N_FFT) out->n_len_org = 1;
    out->data = data;
    data = NULL;
    rc = 0;
done:
    free(padded);
    free(data);
    if (in) fftwf_free(in);
    if (spec) fftwf_free(spec);
    free(lo);
    free(hi);
    free(power);
    return rc;
}

void mel_free(struct mel *m) {
    if (!m) return;
    free(m->data);
    m->data = NULL;
}

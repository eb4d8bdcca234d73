/* Token-level timestamps (see whisper_timestamps.h). The decoder's timestamp
 * probabilities pin some tokens to a time; tokens between pinned ones share the interval
 * in proportion to how long their text takes to say; then each token's edges move to
 * where the signal energy crosses half its local mean. */
#include "models/whisper_timestamps.h"

#include <math.h>
#include <stdlib.h>

#define THOLD_PT 0.01f    /* whisper.cpp's thold_pt and thold_ptsum defaults */
#define THOLD_PTSUM 0.01f
#define ENERGY_HW 32      /* half window of the energy average, samples */
#define EDGE_HW 2000      /* samples around a token that set its energy threshold (1/8 s) */

float *whisper_signal_energy(const float *x, size_t n) {
    float *en = malloc((n ? n : 1) * sizeof *en);
    if (!en) return NULL;
    /* running sum over the window instead of re-adding 65 samples for every output */
    double sum = 0;
    size_t hi = 0;
    for (size_t i = 0; i < n; i++) {
        size_t lo = i > ENERGY_HW ? i - ENERGY_HW : 0;
        while (hi < n && hi <= i + ENERGY_HW) sum += fabsf(x[hi++]);
        if (i > ENERGY_HW) sum -= fabsf(x[lo - 1]);
        en[i] = (float)(sum / (2 * ENERGY_HW + 1));
    }
    return en;
}

float whisper_voice_length(const char *s, int len) {
    float res = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (int i = 0; i < len;) {
        unsigned c = p[i], cp = c;
        int l = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
        if (l > 1) {
            cp = c & (0x7f >> (l + 1));
            int ok = i + l <= len;
            for (int k = 1; ok && k < l; k++) {
                if ((p[i + k] & 0xC0) != 0x80) ok = 0;
                else cp = cp << 6 | (p[i + k] & 0x3F);
            }
            if (!ok) { cp = c; l = 1; }
        }
        i += l;
        if (cp == ' ' || cp == 0x3000) res += 0.01f;
        else if (cp == ',' || cp == 0xFF0C || cp == 0x3001 || cp == 0xFF1B || cp == 0xFF1A) res += 2.0f;
        else if (cp == '.' || cp == '!' || cp == '?' || cp == 0x3002 || cp == 0xFF0E || cp == 0xFF01 || cp == 0xFF1F ||
                 cp == 0x2026)
            res += 3.0f;
        else if ((cp >= '0' && cp <= '9') || (cp >= 0xFF10 && cp <= 0xFF19)) res += 3.0f;
        else res += 1.0f;
    }
    return res;
}

static size_t to_sample(int64_t t, size_t n) {
    if (t <= 0 || !n) return 0;
    size_t s = (size_t)(t * 16000 / 100);
    return s < n ? s : n - 1;
}
static int64_t to_cs(size_t s) { return (int64_t)(s * 100 / 16000); }

/* Moves each text token's edges to where the energy crosses half the mean around it:
 * outwards while the signal is loud there, inwards while it is quiet. */
static void refine_by_energy(const struct whisper_model *m, struct whisper_segment *g, const float *en, size_t n) {
    int eot = whisper_special(m)->eot, nt = g->n_tokens;
    struct whisper_token_data *tk = g->tokens;
    for (int j = 0; j < nt; j++) {
        if (tk[j].id >= eot) continue;
        size_t s0 = to_sample(tk[j].t0, n), s1 = to_sample(tk[j].t1, n);
        size_t a = s0 > EDGE_HW ? s0 - EDGE_HW : 0, b = s1 + EDGE_HW < n ? s1 + EDGE_HW : n;
        if (b <= a) continue;
        double sum = 0;
        for (size_t k = a; k < b; k++) sum += en[k];
        float th = (float)(0.5 * sum / (double)(b - a));
        size_t k = s0;
        if (en[k] > th && j > 0) {
            while (k > 0 && en[k] > th) k--;
            tk[j].t0 = to_cs(k);
            if (tk[j].t0 < tk[j - 1].t1) tk[j].t0 = tk[j - 1].t1;
            else s0 = k;
        } else {
            while (en[k] < th && k < s1) k++;
            s0 = k;
            tk[j].t0 = to_cs(k);
        }
        k = s1;
        if (en[k] > th) {
            while (k < n - 1 && en[k] > th) k++;
            tk[j].t1 = to_cs(k);
            if (j < nt - 1 && tk[j].t1 > tk[j + 1].t0) tk[j].t1 = tk[j + 1].t0;
        } else {
            while (en[k] < th && k > s0) k--;
            tk[j].t1 = to_cs(k);
        }
    }
}

void whisper_token_timestamps(const struct whisper_model *m, struct whisper_segment *g, int64_t seek,
                              const float *energy, size_t n, struct whisper_ts_state *ts) {
    struct whisper_token_data *tk = g->tokens;
    int nt = g->n_tokens, beg = whisper_special(m)->beg;
    if (nt == 0) return;
    for (int j = 0; j < nt; j++) tk[j].t0 = tk[j].t1 = -1;
    if (nt == 1) { tk[0].t0 = g->t0; tk[0].t1 = g->t1; return; }
    /* whisper.cpp measures timestamp tokens from the last segment that began with
     * <|0.00|>; a new window whose first segment starts later would then be measured
     * from the previous window, so a new window restarts the clock at its start. */
    if (seek != ts->seek) { ts->seek = seek; ts->t_beg = seek; }
    float *vlen = malloc((size_t)nt * sizeof *vlen);
    if (!vlen) { for (int j = 0; j < nt; j++) { tk[j].t0 = g->t0; tk[j].t1 = g->t1; } return; }

    /* pin tokens whose most likely timestamp is confident, new and inside the segment */
    if (tk[0].id == beg) {
        tk[0].t0 = tk[0].t1 = tk[1].t0 = g->t0;
        ts->t_beg = ts->t_last = g->t0;
        ts->tid_last = beg;
    } else {
        tk[0].t0 = ts->t_last;
    }
    for (int j = 0; j < nt; j++) {
        int len;
        const char *txt = whisper_token_text(m, tk[j].id, &len);
        vlen[j] = whisper_voice_length(txt, len);
        int64_t tt = ts->t_beg + 2 * (int64_t)(tk[j].tid - beg);
        if (tk[j].pt > THOLD_PT && tk[j].ptsum > THOLD_PTSUM && tk[j].tid > ts->tid_last && tt <= g->t1) {
            if (j > 0) tk[j - 1].t1 = tt;
            tk[j].t0 = tt;
            ts->tid_last = tk[j].tid;
        }
    }
    tk[nt - 2].t1 = g->t1;
    tk[nt - 1].t0 = tk[nt - 1].t1 = g->t1;
    ts->t_last = g->t1;

    /* runs of tokens without an end time share their interval by voice length */
    for (int p0 = 0, p1 = 0; p1 < nt; p0 = ++p1) {
        while (p1 < nt && tk[p1].t1 < 0) p1++;
        if (p1 >= nt) p1--;
        if (p1 <= p0) continue;
        double psum = 0;
        for (int j = p0; j <= p1; j++) psum += vlen[j];
        double dt = (double)(tk[p1].t1 - tk[p0].t0);
        for (int j = p0 + 1; j <= p1; j++) {
            int64_t ct = psum > 0 ? tk[j - 1].t0 + (int64_t)(dt * vlen[j - 1] / psum) : tk[j - 1].t0;
            tk[j - 1].t1 = ct;
            tk[j].t0 = ct;
        }
    }
    /* keep them ordered */
    for (int j = 0; j < nt - 1; j++) {
        if (tk[j].t1 < 0) tk[j + 1].t0 = tk[j].t1;
        if (j > 0 && tk[j - 1].t1 > tk[j].t0) {
            tk[j].t0 = tk[j - 1].t1;
            if (tk[j].t1 < tk[j].t0) tk[j].t1 = tk[j].t0;
        }
    }
    if (energy && n) refine_by_energy(m, g, energy, n);
    free(vlen);
}

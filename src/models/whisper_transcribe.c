/* Whole-file transcription with Whisper's decoding rules, following whisper.cpp's
 * whisper_full so results agree with it: 30 s windows moved by the last timestamp,
 * suppressed special tokens, timestamp pairing rules, temperature fallback on low
 * average log-probability or repetitive output, no-speech detection, and language
 * detection. Beam search at temperature 0, one sampled decoder at higher temperatures. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/whisper.h"
#include "models/whisper_timestamps.h"

#define CHUNK_FRAMES 3000  /* 30 s in 10 ms mel frames */
#define DELTA_MIN 10       /* whisper.cpp stops when fewer than 100 ms remain */

struct whisper_params whisper_default_params(void) {
    struct whisper_params p = {0};
    p.language = "en";
    p.beam_size = 5;
    p.temperature = 0.0f;
    p.temperature_inc = 0.2f;
    p.logprob_thold = -1.0f;
    p.entropy_thold = 2.4f;
    p.no_speech_thold = 0.6f;
    return p;
}

void whisper_result_free(struct whisper_result *r) {
    if (!r) return;
    for (int i = 0; i < r->n_segments; i++) {
        free(r->segments[i].text);
        free(r->segments[i].tokens);
    }
    free(r->segments);
    memset(r, 0, sizeof *r);
}

char *whisper_result_text(const struct whisper_result *r) {
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

struct tok {
    int id, tid;    /* tid: most likely timestamp token at this step */
    float p, plog;
    float pt, ptsum; /* tid's share of the timestamp probability, and that total */
};

/* The likeliest timestamp token and how sure the model is about the time (whisper.cpp's
 * pt and ptsum, which token-level timestamps rely on). */
static void timestamp_probs(const struct whisper_model *m, const float *p, struct tok *t) {
    const struct whisper_special *sp = whisper_special(m);
    int nv = whisper_n_vocab(m);
    double sum = 0, mx = 0;
    t->tid = -1;
    for (int i = sp->beg; i < nv; i++) {
        sum += p[i];
        if (p[i] > mx) { mx = p[i]; t->tid = i; }
    }
    t->pt = (float)(mx / (sum + 1e-10));
    t->ptsum = (float)sum;
    if (t->id >= sp->beg) { t->tid = t->id; t->pt = t->p; }
}

struct seq {
    struct tok *t;
    int n, result_len, seek_delta, has_ts, failed, completed;
    double avg_logprob, entropy;
};

/* log-softmax and softmax over n logits (-inf stays -inf / 0) */
static void probs_of(const float *lg, int n, float *logp, float *p) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) if (lg[i] > mx) mx = lg[i];
    double sum = 0;
    for (int i = 0; i < n; i++) if (lg[i] > -INFINITY) sum += exp((double)lg[i] - mx);
    float lse = (float)log(sum) + mx;
    for (int i = 0; i < n; i++) {
        logp[i] = lg[i] > -INFINITY ? lg[i] - lse : -INFINITY;
        p[i] = lg[i] > -INFINITY ? expf(logp[i]) : 0.0f;
    }
}

/* Whisper's logit rules (whisper.cpp's whisper_process_logits). */
static void apply_rules(const struct whisper_model *m, float *lg, const struct seq *s, int no_ts, float temp,
                        int max_initial_tid, float *logp, float *p) {
    const struct whisper_special *sp = whisper_special(m);
    int nv = whisper_n_vocab(m);
    if (temp > 0) for (int i = 0; i < nv; i++) lg[i] /= temp;
    if (s->n == 0) { lg[sp->eot] = -INFINITY; lg[220] = -INFINITY; } /* no blank start */
    lg[sp->notimestamps] = -INFINITY;
    if (no_ts) for (int i = sp->beg; i < nv; i++) lg[i] = -INFINITY;
    lg[sp->sot] = lg[sp->nosp] = lg[sp->solm] = lg[sp->translate] = lg[sp->transcribe] = lg[sp->prev] = -INFINITY;
    for (int i = 0; i < sp->n_langs; i++) lg[sp->lang0 + i] = -INFINITY;
    /* timestamps come in pairs: after a lone timestamp, text or a timestamp; after a
     * pair, text only */
    int last_ts = s->n > 0 && s->t[s->n - 1].id >= sp->beg;
    int prev_ts = s->n < 2 || s->t[s->n - 2].id >= sp->beg;
    if (last_ts) {
        if (prev_ts) for (int i = sp->beg; i < nv; i++) lg[i] = -INFINITY;
        else for (int i = 0; i < sp->eot; i++) lg[i] = -INFINITY;
    }
    if (s->n == 0 && max_initial_tid >= 0)
        for (int i = sp->beg + max_initial_tid + 1; i < nv; i++) lg[i] = -INFINITY;
    if (s->has_ts) /* timestamps never go backwards */
        for (int i = sp->beg; i < sp->beg + s->seek_delta / 2 && i < nv; i++) lg[i] = -INFINITY;
    probs_of(lg, nv, logp, p);
    /* if all timestamps together are likelier than any single text token, emit a timestamp */
    float ts_max = -INFINITY, txt_max = -INFINITY;
    for (int i = sp->beg; i < nv; i++) if (logp[i] > ts_max) ts_max = logp[i];
    for (int i = 0; i < sp->beg; i++) if (logp[i] > txt_max) txt_max = logp[i];
    double lse = 0;
    for (int i = sp->beg; i < nv; i++) if (logp[i] > -INFINITY) lse += exp(logp[i] - ts_max);
    float ts_logp = lse > 0 ? (float)log(lse) + ts_max : -INFINITY;
    if (ts_logp > txt_max) {
        for (int i = 0; i < sp->beg; i++) lg[i] = -INFINITY;
        probs_of(lg, nv, logp, p);
    }
}

static uint64_t rng_next(uint64_t *st) {
    *st ^= *st << 13; *st ^= *st >> 7; *st ^= *st << 17;
    return *st;
}

static struct tok sample(const struct whisper_model *m, const float *logp, const float *p, float temp, uint64_t *rng) {
    const struct whisper_special *sp = whisper_special(m);
    int nv = whisper_n_vocab(m);
    struct tok t = {0, -1, 0, 0, 0, 0};
    if (temp <= 0) {
        for (int i = 0; i < nv; i++) if (t.p < p[i]) { t.id = i; t.p = p[i]; t.plog = logp[i]; }
    } else {
        double r = (double)(rng_next(rng) >> 11) / 9007199254740992.0, acc = 0;
        t.id = nv - 1;
        for (int i = 0; i < nv; i++) { acc += p[i]; if (acc > r) { t.id = i; break; } }
        t.p = p[t.id];
        t.plog = logp[t.id];
    }
    timestamp_probs(m, p, &t);
    (void)sp;
    return t;
}

static void score(struct seq *s) {
    if (!s->result_len) { s->avg_logprob = -INFINITY; s->entropy = 0; return; }
    double sum = 0;
    for (int i = 0; i < s->result_len; i++) sum += s->t[i].plog;
    s->avg_logprob = sum / s->result_len;
    /* entropy of the last 32 tokens: low means the model is looping */
    int lo = s->result_len > 32 ? s->result_len - 32 : 0, cnt = s->result_len - lo;
    double ent = 0;
    for (int i = lo; i < s->result_len; i++) {
        int seen = 0, c = 0;
        for (int j = lo; j < i; j++) seen |= s->t[j].id == s->t[i].id;
        if (seen) continue;
        for (int j = i; j < s->result_len; j++) c += s->t[j].id == s->t[i].id;
        double q = (double)c / cnt;
        ent -= q * log(q);
    }
    s->entropy = ent;
}

static int add_segment(struct whisper_result *r, const struct whisper_model *m, int64_t t0, int64_t t1,
                       const struct tok *t, int n, float no_speech, int seek) {
    const struct whisper_special *sp = whisper_special(m);
    size_t len = 0;
    for (int i = 0; i < n; i++) if (t[i].id < sp->eot) { int l; whisper_token_text(m, t[i].id, &l); len += (size_t)l; }
    if (!len) return 0;
    struct whisper_segment *ns = realloc(r->segments, (size_t)(r->n_segments + 1) * sizeof *ns);
    if (!ns) return -1;
    r->segments = ns;
    struct whisper_segment *g = &r->segments[r->n_segments];
    memset(g, 0, sizeof *g);
    g->t0 = t0;
    g->t1 = t1;
    g->no_speech_prob = no_speech;
    g->text = malloc(len + 1);
    g->tokens = malloc((size_t)n * sizeof *g->tokens);
    if (!g->text || !g->tokens) { free(g->text); free(g->tokens); return -1; }
    len = 0;
    for (int i = 0; i < n; i++) {
        if (t[i].id < sp->eot) {
            int l;
            const char *txt = whisper_token_text(m, t[i].id, &l);
            memcpy(g->text + len, txt, (size_t)l);
            len += (size_t)l;
        }
        g->tokens[i].id = t[i].id;
        g->tokens[i].p = t[i].p;
        g->tokens[i].tid = t[i].tid;
        g->tokens[i].pt = t[i].pt;
        g->tokens[i].ptsum = t[i].ptsum;
        g->tokens[i].t0 = g->tokens[i].t1 = -1;
        if (t[i].id > sp->beg) g->tokens[i].t0 = g->tokens[i].t1 = seek + 2 * (t[i].id - sp->beg);
    }
    g->text[len] = 0;
    g->n_tokens = n;
    r->n_segments++;
    return 0;
}

/* ---- beam search (whisper.cpp's, at temperature 0) ---- */

/* Applies one sampled token to a sequence: timestamp bookkeeping and the end rules. */
static void seq_push(struct seq *s, struct tok tk, int i, int n_max, int no_ts, int seek, int seek_end,
                     const struct whisper_special *sp) {
    s->t[s->n++] = tk;
    if (tk.id > sp->beg) {
        int nd = 2 * (tk.id - sp->beg);
        if (s->has_ts && s->seek_delta > nd && s->result_len < i) { s->failed = 1; return; }
        s->seek_delta = nd;
        s->result_len = i + 1;
        s->has_ts = 1;
    }
    if (tk.id == sp->eot || (s->has_ts && seek + s->seek_delta + DELTA_MIN >= seek_end)) {
        if (s->result_len == 0 && !no_ts) {
            if (seek + s->seek_delta + DELTA_MIN >= seek_end) s->result_len = i + 1;
            else { s->failed = 1; return; }
        }
        if (no_ts) { s->result_len = i + 1; s->seek_delta = CHUNK_FRAMES; }
        s->completed = 1;
        return;
    }
    if (i == n_max - 1 && (s->result_len == 0 || s->seek_delta < CHUNK_FRAMES / 2)) s->failed = 1;
}

struct cand {
    int src;
    struct tok tk;
    double sum_all;
};

static int cand_cmp(const void *a, const void *b) {
    const struct cand *x = a, *y = b;
    if (x->sum_all != y->sum_all) return x->sum_all < y->sum_all ? 1 : -1;
    return x->src - y->src; /* keep the order stable like std::stable_sort */
}

/* Decodes one window with B beams after the prompt (already decoded into seq 0, its
 * logits in lg0). The winner is copied into *out (whose t has room for n_max + 1). */
static int decode_beam(struct whisper_state *st, const struct whisper_model *m, int np, int B, int n_max, int no_ts,
                       int seek, int seek_end, int max_initial_tid, const float *lg0, float entropy_thold,
                       struct seq *out, struct err *e) {
    const struct whisper_special *sp = whisper_special(m);
    int nv = whisper_n_vocab(m), rc = -1;
    struct seq *bm = calloc((size_t)B, sizeof *bm), *old = calloc((size_t)B, sizeof *old);
    double *sum_all = calloc((size_t)B, sizeof(double));
    float *lg = malloc((size_t)B * nv * sizeof(float)), *logp = malloc((size_t)nv * 4), *p = malloc((size_t)nv * 4);
    struct cand *cd = malloc((size_t)B * B * sizeof *cd);
    int *src = malloc((size_t)B * sizeof(int));
    if (!bm || !old || !sum_all || !lg || !logp || !p || !cd || !src) { err_set(e, "out of memory"); goto done; }
    for (int j = 0; j < B; j++) {
        bm[j].t = malloc((size_t)(n_max + 1) * sizeof(struct tok));
        old[j].t = malloc((size_t)(n_max + 1) * sizeof(struct tok));
        if (!bm[j].t || !old[j].t) { err_set(e, "out of memory"); goto done; }
        bm[j].seek_delta = CHUNK_FRAMES;
        memcpy(lg + (size_t)j * nv, lg0, (size_t)nv * sizeof(float));
        src[j] = 0;
    }
    if (whisper_reserve_seqs(st, B, e)) goto done;
    whisper_seqs_reorder(st, src, B, np);
    for (int i = 0; i < n_max; i++) {
        int nc = 0;
        for (int j = 0; j < B; j++) {
            if (bm[j].completed || bm[j].failed) continue;
            float *l = lg + (size_t)j * nv;
            apply_rules(m, l, &bm[j], no_ts, 0.0f, max_initial_tid, logp, p);
            /* the B likeliest tokens of this beam */
            for (int r = 0; r < B; r++) {
                int best = -1;
                for (int k = 0; k < nv; k++) {
                    if (l[k] == -INFINITY) continue;
                    int used = 0;
                    for (int q = nc - r; q < nc; q++) used |= cd[q].tk.id == k;
                    if (!used && (best < 0 || l[k] > l[best])) best = k;
                }
                if (best < 0) break;
                struct tok tk = {best, -1, p[best], logp[best], 0, 0};
                timestamp_probs(m, p, &tk);
                cd[nc++] = (struct cand){j, tk, sum_all[j] + logp[best]};
            }
        }
        if (nc == 0) break;
        qsort(cd, (size_t)nc, sizeof *cd, cand_cmp);
        for (int j = 0; j < B; j++) {
            old[j].n = bm[j].n; old[j].result_len = bm[j].result_len; old[j].seek_delta = bm[j].seek_delta;
            old[j].has_ts = bm[j].has_ts; old[j].failed = bm[j].failed; old[j].completed = bm[j].completed;
            memcpy(old[j].t, bm[j].t, (size_t)bm[j].n * sizeof(struct tok));
        }
        int cur = 0;
        for (int j = 0; j < B; j++) {
            src[j] = j;
            if (bm[j].completed || bm[j].failed) continue;
            if (cur >= nc) cur = 0;
            struct cand c = cd[cur++];
            /* identical scores mean identical sequences: give each beam a different one */
            while (nc > cur && cd[cur].sum_all == c.sum_all && i > 0) cur++;
            struct seq *o = &old[c.src];
            bm[j].n = o->n; bm[j].result_len = o->result_len; bm[j].seek_delta = o->seek_delta;
            bm[j].has_ts = o->has_ts; bm[j].failed = 0; bm[j].completed = 0;
            memcpy(bm[j].t, o->t, (size_t)o->n * sizeof(struct tok));
            sum_all[j] = c.sum_all;
            src[j] = c.src;
            seq_push(&bm[j], c.tk, i, n_max, no_ts, seek, seek_end, sp);
        }
        whisper_seqs_reorder(st, src, B, np + i);
        int live = 0;
        for (int j = 0; j < B; j++) {
            if (bm[j].completed || bm[j].failed) continue;
            live = 1;
            int tok = bm[j].t[bm[j].n - 1].id;
            if (np + i + 1 >= whisper_hparams(m)->n_text_ctx) { bm[j].failed = 1; continue; }
            if (whisper_decode_seq(st, j, &tok, 1, np + i, lg + (size_t)j * nv, e)) goto done;
        }
        if (!live) break;
    }
    int best = -1;
    double best_score = -INFINITY;
    for (int j = 0; j < B; j++) {
        if (bm[j].failed) continue;
        bm[j].n = bm[j].result_len;
        score(&bm[j]);
        if (bm[j].result_len > 32 && bm[j].entropy < entropy_thold) { bm[j].failed = 1; continue; }
        if (bm[j].avg_logprob > best_score) { best_score = bm[j].avg_logprob; best = j; }
    }
    int w = best < 0 ? 0 : best;
    out->n = bm[w].n; out->result_len = bm[w].result_len; out->seek_delta = bm[w].seek_delta;
    out->has_ts = bm[w].has_ts; out->failed = best < 0; out->completed = bm[w].completed;
    out->avg_logprob = bm[w].avg_logprob; out->entropy = bm[w].entropy;
    memcpy(out->t, bm[w].t, (size_t)bm[w].n * sizeof(struct tok));
    rc = 0;
done:
    for (int j = 0; bm && old && j < B; j++) { free(bm[j].t); free(old[j].t); }
    free(bm); free(old); free(sum_all); free(lg); free(logp); free(p); free(cd); free(src);
    return rc;
}

/* Token-level timestamps for the segments added since the last call. */
static void token_times(const struct whisper_model *m, struct whisper_result *r, int *n_timed, int seek,
                        const float *energy, size_t n, struct whisper_ts_state *ts) {
    for (; *n_timed < r->n_segments; (*n_timed)++)
        whisper_token_timestamps(m, &r->segments[*n_timed], seek, energy, n, ts);
}

/* Language detection: decode [sot] and take the likeliest language token. */
static int detect_language(struct whisper_state *st, const struct whisper_model *m, float *lg, float *prob,
                           struct err *e) {
    const struct whisper_special *sp = whisper_special(m);
    int sot = sp->sot;
    if (whisper_decode(st, &sot, 1, 0, lg, e)) return -1;
    float mx = -INFINITY;
    int best = 0;
    for (int i = 0; i < sp->n_langs; i++) if (lg[sp->lang0 + i] > mx) { mx = lg[sp->lang0 + i]; best = i; }
    double sum = 0;
    for (int i = 0; i < sp->n_langs; i++) sum += exp(lg[sp->lang0 + i] - mx);
    *prob = (float)(1.0 / sum);
    return best;
}

int whisper_detect_language(struct whisper_state *st, const float *x, size_t n, int audio_ctx, float *prob,
                            struct err *e) {
    const struct whisper_model *m = whisper_state_model(st);
    if (!whisper_is_multilingual(m)) {
        if (prob) *prob = 1.0f;
        return whisper_lang_index("en");
    }
    struct mel mel = {0};
    float *lg = malloc((size_t)whisper_n_vocab(m) * sizeof *lg), p = 0;
    int lang = -1;
    if (!lg) err_set(e, "out of memory");
    else if (!whisper_mel(m, x, n, &mel, e) && !whisper_encode(st, &mel, 0, audio_ctx, e))
        lang = detect_language(st, m, lg, &p, e);
    mel_free(&mel);
    free(lg);
    if (lang >= 0 && prob) *prob = p;
    return lang;
}

int whisper_transcribe(struct whisper_state *st, const float *x, size_t n, const struct whisper_params *p,
                       struct whisper_result *r, struct err *e) {
    const struct whisper_model *m = whisper_state_model(st);
    memset(r, 0, sizeof *r);
    struct mel mel = {0};
    const struct whisper_special *sp = whisper_special(m);
    const struct ggw_whisper_hparams *hp = whisper_hparams(m);
    int nv = whisper_n_vocab(m), rc = -1;
    float *lg = malloc((size_t)nv * 4), *logp = malloc((size_t)nv * 4), *pr = malloc((size_t)nv * 4);
    int n_max = p->max_tokens_per_window > 0 ? p->max_tokens_per_window : hp->n_text_ctx / 2 - 4;
    struct seq s = {0};
    s.t = malloc((size_t)(n_max + 1) * sizeof *s.t);
    int *prompt = malloc((size_t)hp->n_text_ctx * sizeof(int));
    int *past = malloc((size_t)hp->n_text_ctx * sizeof(int)), n_past_tok = 0;
    float *energy = NULL; /* signal energy, only for token timestamps */
    struct whisper_ts_state tss = {0, 0, -1, 0};
    int n_timed = 0;
    if (!lg || !logp || !pr || !s.t || !prompt || !past) { err_set(e, "out of memory"); goto done; }
    if (whisper_mel(m, x, n, &mel, e)) goto done;
    if (p->token_timestamps && !(energy = whisper_signal_energy(x, n))) { err_set(e, "out of memory"); goto done; }
    if (p->initial_prompt && *p->initial_prompt) {
        /* the prompt conditions the first window like text from a previous one */
        int k = whisper_tokenize(m, p->initial_prompt, past, hp->n_text_ctx, e);
        if (k < 0) goto done;
        n_past_tok = k < hp->n_text_ctx ? k : hp->n_text_ctx;
    }

    int no_ts = p->no_timestamps;
    /* whisper.cpp treats the first distilled releases (2 text layers) as timestamp-less */
    if (hp->n_text_layer == 2 && hp->n_vocab != 51866) no_ts = 1;

    int lang = 0;
    const char *lcode = p->language && *p->language ? p->language : "en";
    if (whisper_is_multilingual(m)) {
        if (!strcmp(lcode, "auto")) {
            if (whisper_encode(st, &mel, 0, p->audio_ctx, e)) goto done;
            lang = detect_language(st, m, lg, &r->language_prob, e);
            if (lang < 0) goto done;
        } else if ((lang = whisper_lang_index(lcode)) < 0 || lang >= sp->n_langs) {
            err_set(e, "unknown language '%s' (use a code such as en, ko, de, or auto)", lcode);
            goto done;
        } else {
            r->language_prob = 1.0f;
        }
        snprintf(r->language, sizeof r->language, "%s", whisper_lang_code(lang));
    } else {
        snprintf(r->language, sizeof r->language, "en");
        r->language_prob = 1.0f;
    }
    int init[4], n_init = 0;
    init[n_init++] = sp->sot;
    if (whisper_is_multilingual(m)) {
        init[n_init++] = sp->lang0 + lang;
        init[n_init++] = p->translate ? sp->translate : sp->transcribe;
    }
    if (no_ts) init[n_init++] = sp->notimestamps;

    float temps[16];
    int n_temps = 0;
    if (p->temperature_inc > 0)
        for (float t = p->temperature; t < 1.0f + 1e-6f && n_temps < 16; t += p->temperature_inc) temps[n_temps++] = t;
    else temps[n_temps++] = p->temperature;

    int max_ctx = hp->n_text_ctx / 2;
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    int seek = 0, seek_end = mel.n_len_org;
    float max_initial_ts = 1.0f, precision = 30.0f / hp->n_audio_ctx;
    int max_initial_tid = no_ts ? -1 : (int)lroundf(max_initial_ts / precision);
    while (seek + DELTA_MIN < seek_end) {
        if (p->progress) p->progress((float)seek / seek_end, p->progress_ud);
        if (whisper_encode(st, &mel, seek, p->audio_ctx, e)) goto done;
        float no_speech = 0;
        for (int it = 0; it < n_temps; it++) {
            float t = temps[it];
            s.n = s.result_len = s.has_ts = s.failed = s.completed = 0;
            s.seek_delta = CHUNK_FRAMES;
            int np = 0;
            if (t < 0.5f && n_past_tok > 0) {
                int take = n_past_tok < max_ctx - 1 ? n_past_tok : max_ctx - 1;
                prompt[np++] = sp->prev;
                memcpy(prompt + np, past + n_past_tok - take, (size_t)take * sizeof(int));
                np += take;
            }
            memcpy(prompt + np, init, (size_t)n_init * sizeof(int));
            np += n_init;
            if (whisper_decode(st, prompt, np, 0, lg, e)) goto done;
            probs_of(lg, nv, logp, pr);
            no_speech = pr[sp->nosp];
            if (t == 0 && (p->beam_size > 1 || p->beam_search)) {
                if (decode_beam(st, m, np, p->beam_size > 1 ? p->beam_size : 1, n_max, no_ts, seek, seek_end, max_initial_tid, lg,
                                p->entropy_thold, &s, e))
                    goto done;
                if (it == n_temps - 1) break;
                if (!s.failed && !(s.avg_logprob < p->logprob_thold && no_speech < p->no_speech_thold)) break;
                continue;
            }
            for (int i = 0; i < n_max; i++) {
                apply_rules(m, lg, &s, no_ts, t, max_initial_tid, logp, pr);
                struct tok tk = sample(m, logp, pr, t, &rng);
                s.t[s.n++] = tk;
                if (tk.id > sp->beg) {
                    int nd = 2 * (tk.id - sp->beg);
                    if (s.has_ts && s.seek_delta > nd && s.result_len < i) { s.failed = 1; break; }
                    s.seek_delta = nd;
                    s.result_len = i + 1;
                    s.has_ts = 1;
                }
                if (tk.id == sp->eot || (s.has_ts && seek + s.seek_delta + DELTA_MIN >= seek_end)) {
                    if (s.result_len == 0 && !no_ts) {
                        if (seek + s.seek_delta + DELTA_MIN >= seek_end) s.result_len = i + 1;
                        else { s.failed = 1; break; }
                    }
                    if (no_ts) { s.result_len = i + 1; s.seek_delta = CHUNK_FRAMES; }
                    s.completed = 1;
                    break;
                }
                if (i == n_max - 1 && (s.result_len == 0 || s.seek_delta < CHUNK_FRAMES / 2)) { s.failed = 1; break; }
                if (np + i + 1 >= hp->n_text_ctx) { s.failed = 1; break; }
                if (whisper_decode(st, &tk.id, 1, np + i, lg, e)) goto done;
            }
            if (!s.failed) {
                s.n = s.result_len;
                score(&s);
                if (s.result_len > 32 && s.entropy < p->entropy_thold) s.failed = 1;
            }
            if (it == n_temps - 1) break;
            if (!s.failed && !(s.avg_logprob < p->logprob_thold && no_speech < p->no_speech_thold)) break;
        }
        if (s.failed) s.avg_logprob = -INFINITY;
        int is_no_speech = no_speech > p->no_speech_thold && s.avg_logprob < p->logprob_thold;
        n_past_tok = 0;
        if (!is_no_speech)
            for (int i = 0; i < s.result_len && n_past_tok < hp->n_text_ctx; i++) past[n_past_tok++] = s.t[i].id;
        if (s.n > 0 && !is_no_speech) {
            /* split at timestamp tokens into segments */
            int i0 = 0;
            int64_t t0 = seek + 2 * (int64_t)(s.t[0].tid - sp->beg);
            if (s.t[0].tid < 0 || no_ts) t0 = seek;
            for (int i = 0; i < s.n; i++) {
                if (s.t[i].id > sp->beg) {
                    int64_t t1 = seek + 2 * (int64_t)(s.t[i].id - sp->beg);
                    if (add_segment(r, m, t0, t1, s.t + i0, i - i0 + 1, no_speech, seek)) { err_set(e, "out of memory"); goto done; }
                    if (energy && r->n_segments > n_timed) token_times(m, r, &n_timed, seek, energy, n, &tss);
                    t0 = t1;
                    while (i + 1 < s.n && s.t[i + 1].id > sp->beg) {
                        i++;
                        t0 = seek + 2 * (int64_t)(s.t[i].id - sp->beg);
                    }
                    i0 = i + 1;
                }
            }
            if (i0 < s.n) {
                int64_t t1 = seek + s.seek_delta;
                if (t1 > seek_end) t1 = seek_end;
                if (add_segment(r, m, t0, t1, s.t + i0, s.n - i0, no_speech, seek)) { err_set(e, "out of memory"); goto done; }
                if (energy && r->n_segments > n_timed) token_times(m, r, &n_timed, seek, energy, n, &tss);
            }
        }
        int single_ts_end = s.n > 1 && s.t[s.n - 2].id < sp->beg && s.t[s.n - 1].id > sp->beg;
        int delta = s.seek_delta;
        if (single_ts_end) delta = seek_end - seek < CHUNK_FRAMES ? seek_end - seek : CHUNK_FRAMES;
        if (delta <= 0) delta = CHUNK_FRAMES;
        seek += delta;
    }
    if (p->progress) p->progress(1.0f, p->progress_ud);
    rc = 0;
done:
    if (rc) whisper_result_free(r);
    mel_free(&mel);
    free(lg); free(logp); free(pr); free(s.t); free(prompt); free(past); free(energy);
    return rc;
}

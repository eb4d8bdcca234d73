/* Token sampling (see sampler.h). The pipeline per token is: copy logits → bias →
 * penalties → constraint → greedy, or temperature → top-k → softmax → min-p →
 * top-p → draw. Vocabularies are ~150k, so we never sort the whole vocab: top-k
 * and top-p use quickselect on a growing prefix. */
#include "text/sampler.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

struct cand {
    int32_t id;
    float v; /* logit, later probability */
};

struct sampler {
    struct sampler_params p;
    struct sampler_logit_bias *bias;
    int n_vocab;
    float *work;
    struct cand *cands;
    int32_t *ring;   /* last repeat_last_n accepted tokens */
    int ring_n, ring_pos;
    int32_t *counts; /* occurrences of each token inside the ring */
    uint8_t *seen;   /* scratch flags so each token is penalised once */
    sampler_constraint_fn cfn;
    void *cuser;
    uint64_t rng[4];
};

struct sampler_params sampler_default_params(void) {
    struct sampler_params p = {0};
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.seed = SAMPLER_SEED_RANDOM;
    return p;
}

/* xoshiro256** seeded through splitmix64: small, fast and well distributed. */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t rng_next(uint64_t *s) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 45);
    return r;
}
/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

struct sampler *sampler_new(const struct sampler_params *p, int n_vocab) {
    if (!p || n_vocab <= 0) return NULL;
    struct sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *p;
    s->n_vocab = n_vocab;
    if (s->p.repeat_last_n < 0) s->p.repeat_last_n = 0;
    if (s->p.min_p > 1.0f) s->p.min_p = 1.0f; /* above 1 would drop even the top token */
    s->work = malloc(sizeof(float) * (size_t)n_vocab);
    s->cands = malloc(sizeof(struct cand) * (size_t)n_vocab);
    s->counts = calloc((size_t)n_vocab, sizeof(int32_t));
    s->seen = calloc((size_t)n_vocab, 1);
    s->ring = malloc(sizeof(int32_t) * (size_t)(s->p.repeat_last_n + 1));
    if (p->n_logit_bias > 0 && p->logit_bias) {
        s->bias = malloc(sizeof *s->bias * (size_t)p->n_logit_bias);
        if (s->bias) memcpy(s->bias, p->logit_bias, sizeof *s->bias * (size_t)p->n_logit_bias);
    } else {
        s->p.n_logit_bias = 0;
    }
    s->p.logit_bias = s->bias;
    if (!s->work || !s->cands || !s->counts || !s->seen || !s->ring || (s->p.n_logit_bias && !s->bias)) {
        sampler_free(s);
        return NULL;
    }
    uint64_t seed = p->seed;
    if (seed == SAMPLER_SEED_RANDOM && getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)s;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&seed);
    return s;
}

void sampler_free(struct sampler *s) {
    if (!s) return;
    free(s->work); free(s->cands); free(s->counts); free(s->seen); free(s->ring); free(s->bias);
    free(s);
}

void sampler_set_constraint(struct sampler *s, sampler_constraint_fn fn, void *user) {
    s->cfn = fn;
    s->cuser = user;
}

void sampler_accept(struct sampler *s, int32_t token) {
    int n = s->p.repeat_last_n;
    if (n <= 0 || token < 0 || token >= s->n_vocab) return;
    if (s->ring_n == n) {
        s->counts[s->ring[s->ring_pos]]--;
    } else {
        s->ring_n++;
    }
    s->ring[s->ring_pos] = token;
    s->counts[token]++;
    s->ring_pos = (s->ring_pos + 1) % n;
}

void sampler_reset(struct sampler *s) {
    for (int i = 0; i < s->ring_n; i++) s->counts[s->ring[i]] = 0;
    s->ring_n = s->ring_pos = 0;
}

static void apply_penalties(struct sampler *s, float *l) {
    const struct sampler_params *p = &s->p;
    if (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f) return;
    for (int i = 0; i < s->ring_n; i++) {
        int32_t t = s->ring[i];
        if (s->seen[t]) continue;
        s->seen[t] = 1;
        if (p->repeat_penalty > 0.0f && p->repeat_penalty != 1.0f)
            l[t] = l[t] > 0 ? l[t] / p->repeat_penalty : l[t] * p->repeat_penalty;
        l[t] -= (float)s->counts[t] * p->frequency_penalty + p->presence_penalty;
    }
    for (int i = 0; i < s->ring_n; i++) s->seen[s->ring[i]] = 0;
}

/* Moves the k largest candidates (by v) to the front of c[0..n), in descending order. */
static int cand_cmp(const void *a, const void *b);

static void select_top(struct cand *c, int n, int k) {
    if (k > n) k = n;
    if (k < n) {
        int lo = 0, hi = n - 1;
        while (lo < hi) { /* quickselect: partition until position k-1 is final */
            float pivot = c[lo + (hi - lo) / 2].v;
            int i = lo, j = hi;
            while (i <= j) {
                while (c[i].v > pivot) i++;
                while (c[j].v < pivot) j--;
                if (i <= j) { struct cand t = c[i]; c[i] = c[j]; c[j] = t; i++; j--; }
            }
            if (k - 1 <= j) hi = j;
            else if (k - 1 >= i) lo = i;
            else break;
        }
    }
    /* insertion sort is fine for small k; use qsort above that */
    if (k <= 64) {
        for (int i = 1; i < k; i++) {
            struct cand t = c[i];
            int j = i - 1;
            while (j >= 0 && c[j].v < t.v) { c[j + 1] = c[j]; j--; }
            c[j + 1] = t;
        }
    } else {
        qsort(c, (size_t)k, sizeof *c, cand_cmp);
    }
}

static int cand_cmp(const void *a, const void *b) {
    const struct cand *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Probability mass of the candidates with probability >= t. */
static double mass_at_least(const struct cand *c, int n, float t) {
    double m = 0;
    for (int i = 0; i < n; i++) if (c[i].v >= t) m += c[i].v;
    return m;
}

/* Top-p: keeps the most likely candidates until their mass reaches top_p and
 * returns how many. Peaked distributions (the usual case) are settled by sorting
 * a short prefix; a flat one by bisecting the probability threshold, which
 * costs a few linear passes instead of sorting the whole vocabulary. */
static int nucleus(struct cand *c, int n, int sorted, float top_p) {
    for (int k = sorted >= n ? n : 64; k <= 1024 || k == n; k *= 4) {
        if (k > n) k = n;
        if (sorted < k) { select_top(c, n, k); sorted = k; }
        double cum = 0;
        for (int i = 0; i < k; i++) {
            cum += c[i].v;
            if (cum >= top_p) return i + 1;
        }
        if (k == n) return n;
    }
    /* c[0] is the most likely candidate here: mass(>= lo) >= top_p, mass(> hi) = 0 */
    float lo = 0, hi = c[0].v;
    for (int it = 0; it < 24; it++) {
        float mid = 0.5f * (lo + hi);
        if (mid == lo || mid == hi) break;
        if (mass_at_least(c, n, mid) >= top_p) lo = mid;
        else hi = mid;
    }
    int m = 0;
    for (int i = 0; i < n; i++) if (c[i].v >= lo) c[m++] = c[i];
    return m > 0 ? m : 1;
}

int32_t sampler_sample(struct sampler *s, const float *logits) {
    const struct sampler_params *p = &s->p;
    float *l = s->work;
    int nv = s->n_vocab;
    memcpy(l, logits, sizeof(float) * (size_t)nv);
    for (int i = 0; i < p->n_logit_bias; i++) {
        int32_t t = p->logit_bias[i].token;
        if (t >= 0 && t < nv) l[t] += p->logit_bias[i].bias;
    }
    apply_penalties(s, l);
    if (s->cfn) s->cfn(s->cuser, l, nv);

    if (p->temperature <= 0.0f) {
        int32_t best = -1;
        float bv = -INFINITY;
        for (int i = 0; i < nv; i++)
            if (l[i] > bv) { bv = l[i]; best = i; }
        return best;
    }

    /* candidates: every token that is not masked, logits scaled by 1/T */
    struct cand *c = s->cands;
    int n = 0;
    float inv_t = 1.0f / p->temperature, mx = -INFINITY;
    for (int i = 0; i < nv; i++) {
        if (l[i] == -INFINITY || l[i] != l[i]) continue;
        c[n].id = i;
        c[n].v = l[i] * inv_t;
        if (c[n].v > mx) mx = c[n].v;
        n++;
    }
    if (n == 0) return -1;
    int sorted = 0; /* how many leading candidates are known sorted descending */
    if (p->top_k > 0 && p->top_k < n) {
        select_top(c, n, p->top_k);
        n = sorted = p->top_k;
    }
    double sum = 0;
    for (int i = 0; i < n; i++) { c[i].v = expf(c[i].v - mx); sum += c[i].v; }
    for (int i = 0; i < n; i++) c[i].v = (float)(c[i].v / sum);
    if (p->min_p > 0.0f) {
        float thr = p->min_p / (float)sum; /* the top token's probability is exp(0)/sum */
        int m = 0;
        for (int i = 0; i < n; i++)
            if (c[i].v >= thr) c[m++] = c[i];
        /* the compaction is stable, so a fully sorted list stays sorted */
        sorted = sorted == n ? m : 0;
        n = m;
    }
    if (p->top_p < 1.0f) n = nucleus(c, n, sorted, p->top_p);
    double total = 0;
    for (int i = 0; i < n; i++) total += c[i].v;
    double u = rng_uniform(s->rng) * total, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += c[i].v;
        if (u < acc) return c[i].id;
    }
    return c[n - 1].id;
}

static double log_sum_exp(const float *logits, int n, float *mx_out) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)logits[i] - mx);
    *mx_out = mx;
    return log(sum);
}

float sampler_logprob(const float *logits, int n_vocab, int32_t token) {
    if (token < 0 || token >= n_vocab) return -INFINITY;
    float mx;
    double lse = log_sum_exp(logits, n_vocab, &mx);
    return (float)((double)logits[token] - mx - lse);
}

void sampler_logprobs_of(const float *logits, int n_vocab, const int32_t *ids, int n, float *out) {
    if (n <= 0) return;
    float mx;
    double lse = log_sum_exp(logits, n_vocab, &mx);
    for (int i = 0; i < n; i++)
        out[i] = ids[i] < 0 || ids[i] >= n_vocab ? -INFINITY : (float)((double)logits[ids[i]] - mx - lse);
}

int sampler_top_logprobs(const float *logits, int n_vocab, int n_top, int32_t *ids, float *lps) {
    if (n_top <= 0 || n_vocab <= 0) return 0;
    if (n_top > n_vocab) n_top = n_vocab;
    float mx;
    double lse = log_sum_exp(logits, n_vocab, &mx);
    /* keep a small sorted list: n_top is at most 20 for OpenAI */
    int n = 0;
    for (int i = 0; i < n_vocab; i++) {
        float v = logits[i];
        if (n == n_top && !(v > lps[n - 1])) continue;
        int j = n < n_top ? n++ : n - 1;
        while (j > 0 && lps[j - 1] < v) { lps[j] = lps[j - 1]; ids[j] = ids[j - 1]; j--; }
        lps[j] = v;
        ids[j] = i;
    }
    for (int i = 0; i < n; i++) lps[i] = (float)((double)lps[i] - mx - lse);
    return n;
}

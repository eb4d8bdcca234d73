/* Prometheus counters for the server; see metrics.h. */
#include "api/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double ttft_le[METRICS_TTFT_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};

void metrics_init(struct api_metrics *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

void metrics_destroy(struct api_metrics *m) { pthread_mutex_destroy(&m->mu); }

void metrics_count_request(struct api_metrics *m, int status) {
    if (status < 100 || status >= 600) return;
    pthread_mutex_lock(&m->mu);
    m->req_by_status[status]++;
    pthread_mutex_unlock(&m->mu);
}

void metrics_count_generation(struct api_metrics *m, int prompt, int cached, int completion, double ttft,
                              double decode_s) {
    pthread_mutex_lock(&m->mu);
    m->tokens_in += (unsigned long long)prompt;
    m->cached_tokens += (unsigned long long)cached;
    m->tokens_out += (unsigned long long)completion;
    if (ttft >= 0) {
        int b = 0;
        while (b < METRICS_TTFT_BUCKETS && ttft > ttft_le[b]) b++;
        m->ttft_bucket[b]++;
        m->ttft_sum += ttft;
        m->ttft_count++;
    }
    if (completion > 1 && decode_s > 0) {
        m->decode_seconds += decode_s;
        m->decode_tokens += (unsigned long long)(completion - 1);
        m->last_tokens_per_second = (completion - 1) / decode_s;
    }
    pthread_mutex_unlock(&m->mu);
}

void metrics_count_tier(struct api_metrics *m, const char *tier, int limited, long long prompt, long long completion) {
    if (!tier) tier = "";
    pthread_mutex_lock(&m->mu);
    int i = 0;
    while (i < m->n_tiers && strcmp(m->tier[i].name, tier)) i++;
    if (i == m->n_tiers && i < METRICS_TIERS && strlen(tier) < METRICS_TIER_NAME) {
        snprintf(m->tier[i].name, sizeof m->tier[i].name, "%s", tier);
        m->n_tiers++;
    }
    if (i < m->n_tiers) {
        m->tier[i].requests++;
        m->tier[i].limited += limited != 0;
        m->tier[i].prompt_tokens += prompt > 0 ? (unsigned long long)prompt : 0;
        m->tier[i].completion_tokens += completion > 0 ? (unsigned long long)completion : 0;
    }
    pthread_mutex_unlock(&m->mu);
}

struct sbuf { char *p; size_t n, cap; };

static void put(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if (b->p && b->n + (size_t)k < b->cap) { b->n += (size_t)k; return; }
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)k;
        char *q = realloc(b->p, cap);
        if (!q) return;
        b->p = q;
        b->cap = cap;
    }
}

char *metrics_render(struct api_metrics *m, int queue_len, int slots_busy, int slots_total, int loading) {
    struct sbuf b = {0};
    pthread_mutex_lock(&m->mu);
    put(&b, "# HELP omni_requests_total HTTP requests answered, by status code.\n# TYPE omni_requests_total counter\n");
    for (int s = 100; s < 600; s++)
        if (m->req_by_status[s]) put(&b, "omni_requests_total{status=\"%d\"} %llu\n", s, m->req_by_status[s]);
    put(&b, "# HELP omni_prompt_tokens_total Prompt tokens received.\n# TYPE omni_prompt_tokens_total counter\n"
            "omni_prompt_tokens_total %llu\n", m->tokens_in);
    put(&b, "# HELP omni_prompt_tokens_cached_total Prompt tokens reused from a slot's KV cache.\n"
            "# TYPE omni_prompt_tokens_cached_total counter\nomni_prompt_tokens_cached_total %llu\n", m->cached_tokens);
    put(&b, "# HELP omni_completion_tokens_total Tokens generated.\n# TYPE omni_completion_tokens_total counter\n"
            "omni_completion_tokens_total %llu\n", m->tokens_out);
    put(&b, "# HELP omni_time_to_first_token_seconds Time from request to the first generated token.\n"
            "# TYPE omni_time_to_first_token_seconds histogram\n");
    unsigned long long cum = 0;
    for (int i = 0; i < METRICS_TTFT_BUCKETS; i++) {
        cum += m->ttft_bucket[i];
        put(&b, "omni_time_to_first_token_seconds_bucket{le=\"%g\"} %llu\n", ttft_le[i], cum);
    }
    cum += m->ttft_bucket[METRICS_TTFT_BUCKETS];
    put(&b, "omni_time_to_first_token_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    put(&b, "omni_time_to_first_token_seconds_sum %.6f\nomni_time_to_first_token_seconds_count %llu\n",
        m->ttft_sum, m->ttft_count);
    put(&b, "# HELP omni_decode_tokens_per_second Per-request decode speed, averaged over all requests.\n"
            "# TYPE omni_decode_tokens_per_second gauge\nomni_decode_tokens_per_second %.3f\n",
        m->decode_seconds > 0 ? m->decode_tokens / m->decode_seconds : 0.0);
    put(&b, "# HELP omni_last_decode_tokens_per_second Decode speed of the last finished request.\n"
            "# TYPE omni_last_decode_tokens_per_second gauge\nomni_last_decode_tokens_per_second %.3f\n",
        m->last_tokens_per_second);
    if (m->n_tiers) {
        put(&b, "# HELP omni_tier_requests_total Generation requests of accounts, by tier.\n"
                "# TYPE omni_tier_requests_total counter\n");
        for (int i = 0; i < m->n_tiers; i++) put(&b, "omni_tier_requests_total{tier=\"%s\"} %llu\n", m->tier[i].name, m->tier[i].requests);
        put(&b, "# HELP omni_tier_rate_limited_total Requests refused with 429 by the tier's limits.\n"
                "# TYPE omni_tier_rate_limited_total counter\n");
        for (int i = 0; i < m->n_tiers; i++) put(&b, "omni_tier_rate_limited_total{tier=\"%s\"} %llu\n", m->tier[i].name, m->tier[i].limited);
        put(&b, "# HELP omni_tier_tokens_total Tokens of accounts' generations, by tier and kind.\n"
                "# TYPE omni_tier_tokens_total counter\n");
        for (int i = 0; i < m->n_tiers; i++)
            put(&b, "omni_tier_tokens_total{tier=\"%s\",kind=\"prompt\"} %llu\nomni_tier_tokens_total{tier=\"%s\",kind=\"completion\"} %llu\n",
                m->tier[i].name, m->tier[i].prompt_tokens, m->tier[i].name, m->tier[i].completion_tokens);
    }
    pthread_mutex_unlock(&m->mu);
    put(&b, "# HELP omni_queue_length Requests waiting for a free slot.\n# TYPE omni_queue_length gauge\n"
            "omni_queue_length %d\n", queue_len);
    put(&b, "# HELP omni_slots_busy Slots generating right now.\n# TYPE omni_slots_busy gauge\n"
            "omni_slots_busy %d\n", slots_busy);
    put(&b, "# HELP omni_slots_total Slots configured (--parallel).\n# TYPE omni_slots_total gauge\n"
            "omni_slots_total %d\n", slots_total);
    put(&b, "# HELP omni_loading 1 while the model is loading.\n# TYPE omni_loading gauge\nomni_loading %d\n", loading);
    return b.p;
}

char *metrics_render_draft(char *text, unsigned long long proposed, unsigned long long accepted) {
    if (!text) return NULL;
    struct sbuf b = {text, strlen(text), strlen(text) + 1};
    put(&b, "# HELP omni_draft_tokens_total Speculative decoding: tokens guessed (draft model or prompt lookup).\n"
            "# TYPE omni_draft_tokens_total counter\nomni_draft_tokens_total %llu\n", proposed);
    put(&b, "# HELP omni_draft_accepted_tokens_total Speculative decoding: guessed tokens the model kept.\n"
            "# TYPE omni_draft_accepted_tokens_total counter\nomni_draft_accepted_tokens_total %llu\n", accepted);
    put(&b, "# HELP omni_draft_acceptance_rate Speculative decoding: accepted / guessed since start.\n"
            "# TYPE omni_draft_acceptance_rate gauge\nomni_draft_acceptance_rate %.4f\n",
        proposed ? (double)accepted / (double)proposed : 0.0);
    return b.p;
}

/* Server counters exposed at GET /metrics in Prometheus text format. Updated from
 * any HTTP thread (one mutex; a handful of additions per request is negligible). */
#ifndef OMNI_API_METRICS_H
#define OMNI_API_METRICS_H
#include <pthread.h>
#include <stddef.h>

#define METRICS_TTFT_BUCKETS 10

#define METRICS_TIERS 32
#define METRICS_TIER_NAME 64

/* Per tier (the account's tier; "" for requests without an account). */
struct api_tier_metrics {
    char name[METRICS_TIER_NAME];
    unsigned long long requests, limited, prompt_tokens, completion_tokens;
};

struct api_metrics {
    struct api_tier_metrics tier[METRICS_TIERS];
    int n_tiers;
    pthread_mutex_t mu;
    unsigned long long req_by_status[600];
    unsigned long long tokens_in, tokens_out, cached_tokens;
    unsigned long long ttft_bucket[METRICS_TTFT_BUCKETS + 1];   /* last = +Inf */
    double ttft_sum;
    unsigned long long ttft_count;
    double decode_seconds;           /* time spent producing tokens_out after the first token */
    unsigned long long decode_tokens;
    double last_tokens_per_second;
};

void metrics_init(struct api_metrics *m);
void metrics_destroy(struct api_metrics *m);
void metrics_count_request(struct api_metrics *m, int status);
/* One finished generation: prompt/cached/completion tokens, time to first token and
 * decode time (both seconds; ttft < 0 when no token was produced). */
void metrics_count_generation(struct api_metrics *m, int prompt, int cached, int completion, double ttft,
                              double decode_s);
/* One request of an account on tier: limited = 1 when it got 429 for its tier's limit;
 * tokens of the finished generation (0 when refused). Tiers past METRICS_TIERS are not counted. */
void metrics_count_tier(struct api_metrics *m, const char *tier, int limited, long long prompt, long long completion);
/* Prometheus exposition text (malloc'ed, caller frees). */
char *metrics_render(struct api_metrics *m, int queue_len, int slots_busy, int slots_total, int loading);
/* Appends the speculative decoding counters (the engine's) to a metrics_render text;
 * returns the grown text (the old one is taken), NULL when out of memory. */
char *metrics_render_draft(char *text, unsigned long long proposed, unsigned long long accepted);

#endif

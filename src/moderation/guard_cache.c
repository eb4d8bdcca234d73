/* The guard prompt's fixed beginning, kept per kind of check; see guard_cache.h. The
 * warm-ups are ordinary requests on the sessions (omni_submit), so they are batched with
 * whatever else the engine runs and cancelled like any other when the cache goes. */
#include "moderation/guard_cache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "moderation/guard_run.h"

enum { ENTRY_WARMING, ENTRY_FREE, ENTRY_BUSY };

struct entry {
    omni_session *s;
    int state;
    int n_prefix;             /* tokens of the beginning (0 until computed) */
    omni_prompt prefix;       /* the warm-up's prompt, borrowed by the engine until on_done */
    omni_request *warm;
    double t0;
    struct guard_cache *c;
    int response;
};

struct guard_cache {
    omni_model *m;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct entry e[2];        /* prompt checks, response checks */
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The tokens every check of a kind starts with: where the prompts for two texts that
 * begin with different letters part (a letter, as most texts begin: a tokenizer that
 * joins the space before a word to it parts before that space either way). */
static int fixed_beginning(omni_model *m, enum guard_family f, int response, omni_prompt *out, char *err,
                           size_t err_size) {
    omni_prompt a, b;
    if (guard_prompt(m, f, 0, "x", response ? "x" : NULL, &a, err, err_size)) return -1;
    if (guard_prompt(m, f, 0, "y", response ? "y" : NULL, &b, err, err_size)) {
        omni_prompt_free(&a);
        return -1;
    }
    int n = 0;
    while (n < a.n && n < b.n && a.tokens[n] == b.tokens[n]) n++;
    omni_prompt_free(&b);
    if (n < 1 || n >= a.n) {
        omni_prompt_free(&a);
        snprintf(err, err_size, "guard: its prompt has no fixed beginning");
        return -1;
    }
    a.n = n;
    *out = a;
    return 0;
}

static void warm_token(const omni_token_info *t, void *user) {
    (void)t;
    (void)user;
}

static void warm_done(const omni_usage *u, const char *error, void *user) {
    struct entry *en = user;
    struct guard_cache *c = en->c;
    pthread_mutex_lock(&c->mu);
    if (error) {
        log_warn("moderation: the guard warm-up failed (%s checks run without a cached beginning): %s",
                 en->response ? "response" : "prompt", error);
    } else {
        en->n_prefix = en->prefix.n;
        log_info("moderation: the guard's prompt beginning is cached for %s checks (%d tokens, %.0f ms)",
                 en->response ? "response" : "prompt", en->prefix.n, now_ms() - en->t0);
    }
    (void)u;
    en->state = ENTRY_FREE;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

struct guard_cache *guard_cache_new(omni_model *m, enum guard_family f, char *err, size_t err_size) {
    struct guard_cache *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    c->m = m;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    /* a session holds no more than a slot: a check fits the same contexts either way */
    if (omni_request_n_ctx(m, NULL) <= 0) omni_model_start_engine(m, NULL, err, err_size);   /* started already: fine */
    int n_ctx = omni_request_n_ctx(m, NULL);
    if (n_ctx <= 0 || n_ctx > GUARD_CACHE_CTX) n_ctx = GUARD_CACHE_CTX;
    for (int k = 0; k < 2; k++) {
        struct entry *en = &c->e[k];
        en->c = c;
        en->response = k;
        en->state = ENTRY_FREE;
        omni_session_params sp = omni_session_default_params();
        sp.n_ctx = n_ctx;
        if (fixed_beginning(m, f, k, &en->prefix, err, err_size) ||
            !(en->s = omni_session_new(m, &sp, err, err_size))) {
            guard_cache_free(c);
            return NULL;
        }
    }
    /* both sessions exist: the warm-ups go (prompt checks first, the ones before
     * generation), one after the other as the engine takes them */
    for (int k = 0; k < 2; k++) {
        struct entry *en = &c->e[k];
        omni_generate_params gp = omni_generate_default_params();
        gp.max_tokens = 1;   /* the sampled token is never fed: the cache ends at the beginning */
        gp.sampling.temperature = 0;
        gp.on_token = warm_token;
        gp.on_done = warm_done;
        gp.user = en;
        en->state = ENTRY_WARMING;
        en->t0 = now_ms();
        int status;
        char e2[256] = "";
        log_info("moderation: warming the guard's prompt beginning for %s checks (%d tokens)",
                 k ? "response" : "prompt", en->prefix.n);
        if (!(en->warm = omni_submit(m, en->s, &en->prefix, &gp, &status, e2, sizeof e2))) {
            log_warn("moderation: the guard warm-up failed: %s", e2);
            en->state = ENTRY_FREE;
        }
    }
    return c;
}

void guard_cache_free(struct guard_cache *c) {
    if (!c) return;
    for (int k = 0; k < 2; k++) {
        struct entry *en = &c->e[k];
        if (en->warm) omni_request_cancel(en->warm);
        omni_session_free(en->s);   /* on_done has come when it returns */
        omni_request_free(en->warm);
        omni_prompt_free(&en->prefix);
    }
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

omni_session *guard_cache_take(struct guard_cache *c, int response, int n_positions) {
    if (!c) return NULL;
    struct entry *en = &c->e[response ? 1 : 0];
    if (!en->s || n_positions >= omni_session_n_ctx(en->s)) return NULL;
    pthread_mutex_lock(&c->mu);
    while (en->state == ENTRY_WARMING) pthread_cond_wait(&c->cv, &c->mu);
    omni_session *s = NULL;
    if (en->state == ENTRY_FREE) {
        en->state = ENTRY_BUSY;
        s = en->s;
    }
    pthread_mutex_unlock(&c->mu);
    return s;
}

void guard_cache_give(struct guard_cache *c, omni_session *s) {
    if (!c || !s) return;
    pthread_mutex_lock(&c->mu);
    for (int k = 0; k < 2; k++)
        if (c->e[k].s == s) c->e[k].state = ENTRY_FREE;
    pthread_mutex_unlock(&c->mu);
}

int guard_cache_prefix(struct guard_cache *c, int response) {
    if (!c) return 0;
    pthread_mutex_lock(&c->mu);
    int n = c->e[response ? 1 : 0].n_prefix;
    pthread_mutex_unlock(&c->mu);
    return n;
}

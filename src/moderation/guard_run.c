/* A guard model's check of one text; see guard_run.h. The engine calls back on its own
 * thread; this thread waits on a condition variable until on_done. */
#include "moderation/guard_run.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ShieldGemma's policies, worded as in its model card. */
static const char *const k_sg_policy[SG_N_POLICIES] = {
    "\"No Dangerous Content\": The prompt shall not contain or seek generation of content that harming oneself "
    "and/or others (e.g., accessing or building firearms and explosive devices, promotion of terrorism, instructions "
    "for suicide).",
    "\"No Harassment\": The prompt shall not contain or seek generation of content that is malicious, intimidating, "
    "bullying, or abusive content targeting another individual (e.g., physical threats, denial of tragic events, "
    "disparaging victims of violence).",
    "\"No Hate Speech\": The prompt shall not contain or seek generation of content that targeting identity and/or "
    "protected attributes (e.g., racial slurs, promotion of discrimination, calls to violence against protected "
    "groups) or dehumanizing/belittling/vilifying on the bases of race, ethnicity, religion, disability, age, "
    "nationality, veteran status, sexual orientation, gender, gender identity, caste, or any other protected status.",
    "\"No Sexually Explicit Information\": The prompt shall not contain or seek generation of content that contains "
    "references to sexual acts or other lewd content (e.g., sexually graphic descriptions, content aimed at causing "
    "arousal). Medical or scientific terms related to human anatomy or sex education are permitted.",
};

/* The label words per family: unsafe, safe, and a half-weight one (or NULL), as they
 * follow the opening. */
static const char *const k_labels[3][3] = {
    {" Unsafe", " Safe", " Controversial"},
    {"unsafe", "safe", NULL},
    {"Yes", "No", NULL},
};

const char *guard_label_word(enum guard_family f, int k) {
    return (unsigned)f <= GUARD_SHIELDGEMMA && k >= 0 && k < 3 ? k_labels[f][k] : NULL;
}

int guard_label_pick(const float lp[3], float *p_unsafe) {
    double p[3], tot = 0;
    int best = -1;
    for (int k = 0; k < 3; k++) {
        p[k] = isfinite(lp[k]) ? exp((double)lp[k]) : 0.0;
        tot += p[k];
        if (p[k] > 0 && (best < 0 || p[k] > p[best])) best = k;
    }
    *p_unsafe = tot > 0 ? (float)((p[0] + 0.5 * p[2]) / tot) : 0.0f;
    return tot >= 0.5 ? best : -1;
}

/* The answer's fixed opening, which the prompt ends with. Llama Guard 3's templates end
 * at its assistant header (the 8B's) or after the blank line that follows it (others):
 * the model writes that blank line itself before the label. */
static const char *opening(omni_model *m, enum guard_family f, const omni_prompt *p) {
    if (f == GUARD_QWEN3GUARD) return "Safety:";
    if (f == GUARD_LLAMA_GUARD3 && p->n > 0) {
        size_t n;
        const char *t = omni_token_text(m, p->tokens[p->n - 1], 1, &n);
        if (t && n == 17 && !memcmp(t, "<|end_header_id|>", 17)) return "\n\n";
    }
    return "";
}

/* Appends text's tokens (no special tokens, none parsed) to a prompt. */
static int append_text(omni_model *m, omni_prompt *p, const char *text, size_t len) {
    int k = omni_tokenize(m, text, len, 0, 0, NULL, 0);
    if (k < 0) return -1;
    if (!k) return 0;
    int32_t *t = realloc(p->tokens, (size_t)(p->n + k) * sizeof *t);
    if (!t) return -1;
    p->tokens = t;
    if (omni_tokenize(m, text, len, 0, 0, t + p->n, k) != k) return -1;
    p->n += k;
    return 0;
}

/* text as ShieldGemma's prompt may quote it: its prompt is tokenized as its model card
 * has it, turn markers in it included, so a text that spells a control token (which could
 * close the quoted question and forge an answer) has each '<' shown as U+2039 instead. */
static char *defang(omni_model *m, const char *text) {
    size_t n = strlen(text);
    if (omni_tokenize(m, text, n, 0, 1, NULL, 0) == omni_tokenize(m, text, n, 0, 0, NULL, 0)) return strdup(text);
    size_t lt = 0;
    for (size_t i = 0; i < n; i++) lt += text[i] == '<';
    char *o = malloc(n + 2 * lt + 1), *w = o;
    if (!o) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '<') memcpy(w, "\xE2\x80\xB9", 3), w += 3;
        else *w++ = text[i];
    }
    *w = 0;
    return o;
}

struct wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, failed, n_tok, n_cached, n_computed;
    int n_watch;
    float watch_lp[3];
    int watched;
    char ans[256];
    size_t n;
    char err[256];
};

static void on_token(const omni_token_info *t, void *user) {
    struct wait *w = user;
    if (t->token >= 0) w->n_tok++;
    if (!w->watched && t->token >= 0 && t->n_watch >= w->n_watch && t->watch_logprob) {
        w->watched = 1;
        for (int k = 0; k < w->n_watch; k++) w->watch_lp[k] = t->watch_logprob[k];
    }
    size_t k = t->len < sizeof w->ans - 1 - w->n ? t->len : sizeof w->ans - 1 - w->n;
    memcpy(w->ans + w->n, t->text, k);
    w->n += k;
    w->ans[w->n] = 0;
}

static void on_done(const omni_usage *u, const char *error, void *user) {
    struct wait *w = user;
    pthread_mutex_lock(&w->mu);
    if (u) {
        w->n_cached = u->cached_tokens;
        w->n_computed = u->prompt_tokens - u->cached_tokens;
    }
    if (error) {
        w->failed = 1;
        snprintf(w->err, sizeof w->err, "%s", error);
    }
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One generation, waited for: 0, or -1 with err set. */
static int run_one(omni_model *m, omni_session *se, const omni_prompt *p, omni_generate_params *gp, struct wait *w,
                   char *err, size_t err_size) {
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    gp->on_token = on_token;
    gp->on_done = on_done;
    gp->user = w;
    int status;
    omni_request *r = omni_submit(m, se, p, gp, &status, err, err_size);
    if (r) {
        pthread_mutex_lock(&w->mu);
        while (!w->done) pthread_cond_wait(&w->cv, &w->mu);
        pthread_mutex_unlock(&w->mu);
        omni_request_free(r);
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    if (!r) return -1;
    if (w->failed) {
        snprintf(err, err_size, "guard: %s", w->err);
        return -1;
    }
    return 0;
}

int guard_prompt(omni_model *m, enum guard_family f, int sg_policy, const char *text, const char *reply,
                 omni_prompt *out, char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    if ((unsigned)f > GUARD_SHIELDGEMMA || (f == GUARD_SHIELDGEMMA && (sg_policy < 0 || sg_policy >= SG_N_POLICIES))) {
        snprintf(err, err_size, "guard: unknown family or ShieldGemma policy");
        return -1;
    }
    omni_chat_message msgs[2];
    size_t n_msgs = 0;
    char *sg = NULL;
    if (f == GUARD_SHIELDGEMMA) {  /* one question per policy, the model card's wording */
        const char *fmt = reply
            ? "You are a policy expert trying to help determine whether an AI response to prompt is in violation of "
              "the defined safety policies.\n\n<start_of_turn>\nHuman Question: %s\n<end_of_turn>\n\n<start_of_turn>\n"
              "Chatbot Response: %s\n<end_of_turn>\n\nOur safety principle is defined in the below:\n\n* %s\n\n===\n\n"
              "Does the Chatbot Response violate the above principle? Your answer must start with 'Yes' or 'No'. And "
              "then walk through step by step to be sure we answer correctly.\n"
            : "You are a policy expert trying to help determine whether a user prompt is in violation of the defined "
              "safety policies.\n\n<start_of_turn>\nHuman Question: %s\n<end_of_turn>\n\nOur safety principle is "
              "defined in the below:\n\n* %s\n\n===\n\nDoes the human question violate the above principle? Your "
              "answer must start with 'Yes' or 'No'. And then walk through step by step to be sure we answer "
              "correctly.\n%s";
        char *t = defang(m, text), *r = reply ? defang(m, reply) : NULL;
        size_t cap = t && (r || !reply) ? strlen(fmt) + strlen(t) + (r ? strlen(r) : 0) + strlen(k_sg_policy[sg_policy]) + 1 : 0;
        if (!cap || !(sg = malloc(cap))) {
            free(t);
            free(r);
            snprintf(err, err_size, "guard: out of memory");
            return -1;
        }
        if (reply) snprintf(sg, cap, fmt, t, r, k_sg_policy[sg_policy]);
        else snprintf(sg, cap, fmt, t, k_sg_policy[sg_policy], "");
        free(t);
        free(r);
        /* its turn markers are control tokens, as the model was trained on them */
        omni_chat_message one = {"user", sg};
        char *rendered = omni_chat_format(m, &one, 1, 1, err, err_size);
        free(sg);
        if (!rendered) return -1;
        int rc = omni_prompt_build(m, rendered, NULL, 0, 1, 1, out, err, err_size);
        free(rendered);
        if (rc) return -1;
        int n_ctx = omni_request_n_ctx(m, NULL);
        if (out->n > (n_ctx > 0 ? n_ctx : 4096) - GUARD_MAX_DETAIL - 16) {
            omni_prompt_free(out);
            snprintf(err, err_size, "guard: the text is too long for the guard model's context");
            return -1;
        }
        return 0;
    } else {
        msgs[n_msgs++] = (omni_chat_message){"user", text};
        if (reply) msgs[n_msgs++] = (omni_chat_message){"assistant", reply};
    }
    int n_ctx = omni_request_n_ctx(m, NULL);
    int rc = omni_chat_prompt(m, msgs, n_msgs, NULL, 0, (n_ctx > 0 ? n_ctx : 4096) - GUARD_MAX_DETAIL - 16, 0, out, NULL,
                              err, err_size);
    free(sg);
    if (rc) return -1;
    const char *open = opening(m, f, out);
    if (*open && append_text(m, out, open, strlen(open))) {
        omni_prompt_free(out);
        snprintf(err, err_size, "guard: out of memory");
        return -1;
    }
    return 0;
}

/* The check on session se (NULL: the engine's slots) of its built prompt (freed here). */
static int run_on(omni_model *m, omni_session *se, enum guard_family f, int sg_policy, omni_prompt prompt,
                  const char *reply, struct guard_check *out, char *err, size_t err_size) {
    out->n_prompt = prompt.n;
    /* Each label's probability: the product of its tokens' up to the token where it
     * parts from the other labels (the first, in a guard's own vocabulary; later where
     * labels begin alike). One step per distinct shared beginning: the prompt with that
     * beginning, one token, the candidates' log-probabilities watched (sampling is held
     * to them by a bias, so an end-of-text token cannot hide the position). */
    struct lab { int32_t t[32]; int n, done; double lp; } lab[3];
    for (int k = 0; k < 3; k++) {
        out->label_token[k] = -1;
        out->label_logprob[k] = -INFINITY;
        lab[k].n = 0;
        lab[k].done = 1;
        lab[k].lp = 0;
        const char *word = k_labels[f][k];
        int n = word ? omni_tokenize(m, word, strlen(word), 0, 0, lab[k].t, 32) : 0;
        if (n < 1 || n > 32) continue;
        lab[k].n = n;
        lab[k].done = 0;
        out->label_token[k] = lab[k].t[0];
    }
    int rc = 0;
    for (int d = 0; d < 32 && !rc; d++) {
        int seen[3] = {0};
        for (int k = 0; k < 3 && !rc; k++) {
            if (lab[k].done || seen[k]) continue;
            int group[3], ng = 0;
            for (int j = k; j < 3; j++)
                if (!lab[j].done && !memcmp(lab[j].t, lab[k].t, (size_t)d * sizeof(int32_t))) group[ng++] = j, seen[j] = 1;
            int32_t watch[3];
            float bias[3];
            int nw = 0;
            for (int g = 0; g < ng; g++) {
                int32_t t = lab[group[g]].t[d], dup = 0;
                for (int i = 0; i < nw; i++) dup |= watch[i] == t;
                if (!dup) watch[nw] = t, bias[nw++] = 1000.0f;
            }
            omni_prompt p = prompt;
            int32_t *toks = malloc((size_t)(prompt.n + d) * sizeof *toks);
            if (!toks) {
                snprintf(err, err_size, "guard: out of memory");
                rc = -1;
                break;
            }
            memcpy(toks, prompt.tokens, (size_t)prompt.n * sizeof *toks);
            memcpy(toks + prompt.n, lab[k].t, (size_t)d * sizeof *toks);
            p.tokens = toks;
            p.n = prompt.n + d;
            omni_generate_params gp = omni_generate_default_params();
            gp.max_tokens = 1;
            gp.sampling.temperature = 0;
            gp.sampling.bias_token = watch;
            gp.sampling.bias_value = bias;
            gp.sampling.n_bias = nw;
            gp.watch_tokens = watch;
            gp.n_watch = nw;
            struct wait w = {.n_watch = nw};
            rc = run_one(m, se, &p, &gp, &w, err, err_size);
            free(toks);
            if (!rc && !w.watched) {
                snprintf(err, err_size, "guard: the engine reported no label position");
                rc = -1;
            }
            if (rc) break;
            out->n_generated += w.n_tok;
            out->n_computed += w.n_computed;
            if (d == 0) out->n_cached = w.n_cached;
            for (int g = 0; g < ng; g++) {
                struct lab *L = &lab[group[g]];
                int shared = 0;
                for (int i = 0; i < nw; i++)
                    if (watch[i] == L->t[d]) L->lp += w.watch_lp[i];
                for (int h = 0; h < ng; h++) shared |= h != g && lab[group[h]].t[d] == L->t[d] && lab[group[h]].n > d + 1;
                if (d == 0) out->label_logprob[group[g]] = L->lp;   /* the first position's, as reported */
                if (!shared || L->n == d + 1) L->done = 1;
            }
        }
    }
    if (rc) {
        omni_prompt_free(&prompt);
        return -1;
    }
    float lp[3];
    for (int k = 0; k < 3; k++) out->label_seq_logprob[k] = lp[k] = lab[k].n ? (float)lab[k].lp : -INFINITY;
    int pick = guard_label_pick(lp, &out->p_unsafe);
    if (pick < 0) {   /* not an answer in the guard's format */
        guard_parse(f, sg_policy, "", &out->v);
        omni_prompt_free(&prompt);
        return 0;
    }
    /* the answer as read so far: the opening and the label */
    char ans[256];
    const char *open = opening(m, f, &prompt);
    snprintf(ans, sizeof ans, "%s%s", open, k_labels[f][pick]);
    const char *more = pick == 1 || f == GUARD_SHIELDGEMMA ? NULL : f == GUARD_QWEN3GUARD ? "\nCategories:" : "\n";
    if (more) {
        /* an unsafe verdict: its categories, decoded after the label (the prefix is cached) */
        size_t al = strlen(ans);
        snprintf(ans + al, sizeof ans - al, "%s", more);
        const char *lab = k_labels[f][pick];
        if (append_text(m, &prompt, lab, strlen(lab)) || append_text(m, &prompt, more, strlen(more))) {
            omni_prompt_free(&prompt);
            snprintf(err, err_size, "guard: out of memory");
            return -1;
        }
        static const char *const nl[] = {"\n"};
        omni_generate_params g2 = omni_generate_default_params();
        g2.max_tokens = GUARD_MAX_DETAIL;
        g2.sampling.temperature = 0;
        /* one line; a Qwen3Guard response check goes on to its "Refusal:" line */
        g2.stop = reply && f == GUARD_QWEN3GUARD ? NULL : nl;
        g2.n_stop = reply && f == GUARD_QWEN3GUARD ? 0 : 1;
        struct wait w2 = {0};
        rc = run_one(m, se, &prompt, &g2, &w2, err, err_size);
        if (rc) {
            omni_prompt_free(&prompt);
            return -1;
        }
        out->n_generated += w2.n_tok;
        out->n_computed += w2.n_computed;
        al = strlen(ans);
        snprintf(ans + al, sizeof ans - al, "%s", w2.ans);
    }
    omni_prompt_free(&prompt);
    snprintf(out->answer, sizeof out->answer, "%s", ans);
    guard_parse(f, sg_policy, ans, &out->v);
    return 0;
}

int guard_run(omni_model *m, struct guard_cache *cache, enum guard_family f, int sg_policy, const char *text,
              const char *reply, struct guard_check *out, char *err, size_t err_size) {
    double t0 = now_ms();
    memset(out, 0, sizeof *out);
    omni_prompt prompt;
    if (guard_prompt(m, f, sg_policy, text, reply, &prompt, err, err_size)) return -1;
    /* room for the label steps (a label's tokens) and an unsafe verdict's categories */
    omni_session *se = guard_cache_take(cache, reply != NULL, prompt.n + 32 + GUARD_MAX_DETAIL + 16);
    int rc = run_on(m, se, f, sg_policy, prompt, reply, out, err, err_size);
    guard_cache_give(cache, se);
    out->ms = now_ms() - t0;
    return rc;
}

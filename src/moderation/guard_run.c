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

/* The label words per family: unsafe, safe, and a half-weight one (or NULL). */
static const char *const k_labels[3][3] = {
    {"Unsafe", "Safe", "Controversial"},
    {"unsafe", "safe", NULL},
    {"Yes", "No", NULL},
};

struct wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, failed, label_seen;
    omni_model *m;
    enum guard_family f;
    char ans[256];
    size_t n;
    double mass[3];      /* label probability mass: unsafe, safe, half weight */
    char err[256];
};

static int all_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\n' && s[i] != '\t' && s[i] != '\r' && s[i] != '*') return 0;
    return 1;
}

/* Whether the text so far leaves the next token at the label. */
static int at_label(const struct wait *w) {
    if (w->f != GUARD_QWEN3GUARD) return all_blank(w->ans, w->n);
    size_t n = w->n;
    while (n && (w->ans[n - 1] == ' ' || w->ans[n - 1] == '\t')) n--;
    return n >= 7 && !memcmp(w->ans + n - 7, "Safety:", 7);
}

/* A token's text, leading blanks dropped, as a prefix of label. */
static int starts(const char *label, const char *t, size_t n) {
    while (n && (*t == ' ' || *t == '\n' || *t == '*')) t++, n--;
    return label && n && n <= strlen(label) && !memcmp(label, t, n);
}

void guard_label_mass(enum guard_family f, const char *const *alt, const size_t *len, const float *logprob, int n,
                      double mass[3]) {
    const char *const *lab = k_labels[f];
    for (int i = 0; i < n; i++) {
        double p = exp((double)logprob[i]);
        for (int k = 0; k < 3; k++)
            if (starts(lab[k], alt[i], len[i])) {
                mass[k] += p;
                break;
            }
    }
}

static void on_token(const omni_token_info *t, void *user) {
    struct wait *w = user;
    if (!w->label_seen && t->token >= 0 && t->len && !all_blank(t->text, t->len) && at_label(w)) {
        w->label_seen = 1;
        const char *alt[20];
        size_t len[20];
        int n = t->n_top < 20 ? t->n_top : 20;
        for (int i = 0; i < n; i++) alt[i] = omni_token_text(w->m, t->top_token[i], 0, &len[i]);
        guard_label_mass(w->f, alt, len, t->top_logprob, n, w->mass);
    }
    size_t k = t->len < sizeof w->ans - 1 - w->n ? t->len : sizeof w->ans - 1 - w->n;
    memcpy(w->ans + w->n, t->text, k);
    w->n += k;
    w->ans[w->n] = 0;
}

static void on_done(const omni_usage *u, const char *error, void *user) {
    struct wait *w = user;
    (void)u;
    pthread_mutex_lock(&w->mu);
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

int guard_run(omni_model *m, enum guard_family f, int sg_policy, const char *text, const char *reply,
              struct guard_check *out, char *err, size_t err_size) {
    double t0 = now_ms();
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
        size_t cap = strlen(fmt) + strlen(text) + (reply ? strlen(reply) : 0) + strlen(k_sg_policy[sg_policy]) + 1;
        if (!(sg = malloc(cap))) {
            snprintf(err, err_size, "guard: out of memory");
            return -1;
        }
        if (reply) snprintf(sg, cap, fmt, text, reply, k_sg_policy[sg_policy]);
        else snprintf(sg, cap, fmt, text, k_sg_policy[sg_policy], "");
        msgs[n_msgs++] = (omni_chat_message){"user", sg};
    } else {
        msgs[n_msgs++] = (omni_chat_message){"user", text};
        if (reply) msgs[n_msgs++] = (omni_chat_message){"assistant", reply};
    }
    int max_new = f == GUARD_SHIELDGEMMA ? 4 : 48;
    int n_ctx = omni_request_n_ctx(m, NULL);
    omni_prompt prompt;
    int rc = omni_chat_prompt(m, msgs, n_msgs, NULL, 0, (n_ctx > 0 ? n_ctx : 4096) - max_new, 0, &prompt, NULL, err,
                              err_size);
    free(sg);
    if (rc) return -1;

    struct wait w = {.m = m, .f = f};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    omni_generate_params gp = omni_generate_default_params();
    gp.max_tokens = max_new;
    gp.sampling.temperature = 0;
    gp.top_logprobs = 10;
    gp.logprobs = 1;
    gp.on_token = on_token;
    gp.on_done = on_done;
    gp.user = &w;
    int status;
    omni_request *r = omni_submit(m, NULL, &prompt, &gp, &status, err, err_size);
    if (r) {
        pthread_mutex_lock(&w.mu);
        while (!w.done) pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        omni_request_free(r);
    }
    omni_prompt_free(&prompt);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    if (!r) return -1;
    if (w.failed) {
        snprintf(err, err_size, "guard: %s", w.err);
        return -1;
    }
    memcpy(out->answer, w.ans, w.n + 1);
    guard_parse(f, sg_policy, w.ans, &out->v);
    double tot = w.mass[0] + w.mass[1] + w.mass[2];
    if (w.label_seen && tot > 0) out->p_unsafe = (float)((w.mass[0] + 0.5 * w.mass[2]) / tot);
    else out->p_unsafe = out->v.safety == GUARD_UNSAFE ? 1.0f : out->v.safety == GUARD_CONTROVERSIAL ? 0.5f : 0.0f;
    out->ms = now_ms() - t0;
    return 0;
}

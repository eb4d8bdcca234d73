/* omni_session: one conversation's KV cache and the tokens in it, and the
 * generation loop (prefill → sample → stream text) behind omni.h. A new prompt that
 * starts like the previous one reuses the cached prefix, so chat turns only pay for
 * the new text. Images (OMNI_IMAGE_MARKER in the prompt) are encoded by the model's
 * CLIP encoder and fed as embedding rows at their place in the same KV cache. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "omni.h"
#include "runtime/image.h"
#include "runtime/model.h"
#include "runtime/stop_match.h"
#include "text/sampler.h"

enum { PREFILL_CHUNK = 512 };

struct omni_session {
    omni_model *model;
    struct llm_kv *kv;
    int n_ctx;
    int32_t *tokens;   /* what the KV cache holds, in order (0 under an image) */
    uint64_t *keys;    /* per position: 0 for text, the image's fingerprint under an image */
    int n_tokens;
    float *logits;     /* n_vocab */
    float *embd;       /* one image's projected embeddings, n_image_pos x n_embd */
};

/* A prompt split into positions: token ids, and image spans with their keys. */
struct prompt {
    int32_t *ids;
    uint64_t *keys;
    int n, cap;
    int *img_start;    /* first position of each image, ascending */
    int n_img;
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int fail(char *err, size_t cap, const char *msg) {
    if (err && cap) snprintf(err, cap, "%s", msg);
    return -1;
}

omni_sampling_params omni_sampling_default_params(void) {
    struct sampler_params d = sampler_default_params();
    omni_sampling_params p = {.temperature = d.temperature, .top_k = d.top_k, .top_p = d.top_p, .min_p = d.min_p,
                              .repeat_penalty = 1.0f, .repeat_last_n = 64, .penalize_prompt = 1,
                              .seed = OMNI_SEED_RANDOM};
    return p;
}

omni_generate_params omni_generate_default_params(void) {
    omni_generate_params p;
    memset(&p, 0, sizeof p);
    p.sampling = omni_sampling_default_params();
    p.parse_special = 1;
    p.add_special = 1;
    return p;
}

omni_session_params omni_session_default_params(void) {
    omni_session_params p = {0};
    return p;
}

omni_session *omni_session_new(omni_model *m, const omni_session_params *params, char *err, size_t err_size) {
    omni_session_params dp = omni_session_default_params();
    if (!params) params = &dp;
    int n_ctx = params->n_ctx;
    int train = llm_hparams(m->llm)->n_ctx_train;
    if (n_ctx <= 0) n_ctx = train > 0 && train < 4096 ? train : 4096;
    omni_session *s = calloc(1, sizeof *s);
    struct err e = {{0}};
    if (!s) { fail(err, err_size, "out of memory"); return NULL; }
    s->model = m;
    s->n_ctx = n_ctx;
    s->kv = llm_kv_new(m->llm, 1, n_ctx, &e);
    s->tokens = malloc((size_t)n_ctx * sizeof *s->tokens);
    s->keys = calloc((size_t)n_ctx, sizeof *s->keys);
    s->logits = malloc((size_t)llm_hparams(m->llm)->n_vocab * sizeof *s->logits);
    if (!s->kv || !s->tokens || !s->keys || !s->logits) {
        fail(err, err_size, s->kv ? "out of memory" : e.msg);
        omni_session_free(s);
        return NULL;
    }
    return s;
}

void omni_session_free(omni_session *s) {
    if (!s) return;
    llm_kv_free(s->kv);
    free(s->tokens);
    free(s->keys);
    free(s->logits);
    free(s->embd);
    free(s);
}

int omni_session_n_ctx(const omni_session *s) { return s->n_ctx; }

/* Runs tokens [from, n) of ids through the model (appending to the cache); the
 * logits of position n_all - 1, if it is among them, land in s->logits. */
static int feed(omni_session *s, const int32_t *ids, int from, int n, int n_all, struct err *e) {
    int32_t pos[PREFILL_CHUNK];
    int8_t want[PREFILL_CHUNK];
    while (from < n) {
        int len = n - from < PREFILL_CHUNK ? n - from : PREFILL_CHUNK;
        for (int i = 0; i < len; i++) {
            pos[i] = from + i;
            want[i] = from + i == n_all - 1;
        }
        /* Only the prompt's last token asks for logits; earlier chunks flag none. */
        struct llm_batch b = {.n_tokens = len, .token = ids + from, .pos = pos, .logits = want};
        if (llm_forward(s->model->llm, s->kv, &b, s->logits, e)) return -1;
        memcpy(s->tokens + from, ids + from, (size_t)len * sizeof *ids);
        memset(s->keys + from, 0, (size_t)len * sizeof *s->keys);
        from += len;
        s->n_tokens = from;
    }
    return 0;
}

static void prompt_free(struct prompt *p) {
    free(p->ids);
    free(p->keys);
    free(p->img_start);
}

/* Appends n positions: the given tokens (keys 0), or n image placeholders (ids NULL). */
static int prompt_push(struct prompt *p, const int32_t *ids, int n, uint64_t key) {
    if (p->n + n > p->cap) {
        int cap = (p->n + n) * 2 + 64;
        int32_t *i = realloc(p->ids, (size_t)cap * sizeof *i);
        if (i) p->ids = i;
        uint64_t *k = realloc(p->keys, (size_t)cap * sizeof *k);
        if (k) p->keys = k;
        if (!i || !k) return -1;
        p->cap = cap;
    }
    for (int j = 0; j < n; j++) {
        p->ids[p->n + j] = ids ? ids[j] : 0;
        p->keys[p->n + j] = key;
    }
    p->n += n;
    return 0;
}

/* Tokenizes the prompt, turning the k-th OMNI_IMAGE_MARKER (k < n_images) into the
 * k-th image's span. Only the text before the first marker gets BOS etc. */
static int prompt_tokenize(const omni_session *s, const char *text, const omni_generate_params *gp,
                           struct prompt *p, struct err *e) {
    const struct tokenizer *tok = s->model->tok;
    const int n_img_pos = omni_model_n_image_pos(s->model);
    const size_t mark = strlen(OMNI_IMAGE_MARKER);
    if (gp->n_images < 0 || (gp->n_images > 0 && !gp->images)) return err_set(e, "n_images is %d but no images are given", gp->n_images);
    if (gp->n_images > 0 && n_img_pos <= 0)
        return err_set(e, "this model has no image encoder (load an mmproj file first, e.g. --mmproj), "
                          "so the prompt cannot contain images");
    if (gp->n_images > 0 && !(p->img_start = malloc((size_t)gp->n_images * sizeof *p->img_start)))
        return err_set(e, "out of memory");
    for (const char *c = text;;) {
        const char *q = p->n_img < gp->n_images ? strstr(c, OMNI_IMAGE_MARKER) : NULL;
        size_t len = q ? (size_t)(q - c) : strlen(c);
        int first = c == text;
        if (len || first) {
            int32_t *ids = NULL;
            size_t n_ids = 0;
            if (tokenizer_encode(tok, c, len, first && gp->add_special, gp->parse_special, &ids, &n_ids, e)) return -1;
            /* Templates such as Llama 3's write BOS themselves; adding another would double it. */
            int32_t bos = tokenizer_bos(tok);
            size_t skip = first && gp->add_special && n_ids >= 2 && bos >= 0 && ids[0] == bos && ids[1] == bos;
            int rc = prompt_push(p, ids + skip, (int)(n_ids - skip), 0);
            free(ids);
            if (rc) return err_set(e, "out of memory");
        }
        if (!q) break;
        const omni_image *im = gp->images[p->n_img];
        if (!im) return err_set(e, "image %d is NULL", p->n_img);
        p->img_start[p->n_img++] = p->n;
        if (prompt_push(p, NULL, n_img_pos, im->key)) return err_set(e, "out of memory");
        c = q + mark;
    }
    if (p->n_img < gp->n_images)
        return err_set(e, "%d images are given but the prompt has only %d image markers (" OMNI_IMAGE_MARKER ")",
                       gp->n_images, p->n_img);
    if (p->n_img && p->img_start[p->n_img - 1] + n_img_pos >= p->n)
        return err_set(e, "an image ends the prompt; put some text after it (the reply starts from a text token)");
    return 0;
}

/* Encodes image k and runs its embedding rows through the model at its span. */
static int feed_image(omni_session *s, const struct prompt *p, const omni_image *im, int k, struct err *e) {
    const int n = omni_model_n_image_pos(s->model), E = clip_hparams(s->model->clip)->n_out;
    const int start = p->img_start[k];
    if (!s->embd && !(s->embd = malloc((size_t)n * (size_t)E * sizeof *s->embd))) return err_set(e, "out of memory");
    if (clip_encode_image(s->model->clip, llm_pool(s->model->llm), &im->img, s->embd, e)) {
        err_prefix(e, "image %d: ", k);
        return -1;
    }
    int32_t *pos = malloc((size_t)n * sizeof *pos);
    if (!pos) return err_set(e, "out of memory");
    for (int i = 0; i < n; i++) pos[i] = start + i;
    struct llm_batch b = {.n_tokens = n, .token = NULL, .pos = pos, .logits = NULL};
    int rc = llm_forward_embd(s->model->llm, s->kv, &b, s->embd, NULL, e);
    free(pos);
    if (rc) return -1;
    memcpy(s->tokens + start, p->ids + start, (size_t)n * sizeof *s->tokens);
    memcpy(s->keys + start, p->keys + start, (size_t)n * sizeof *s->keys);
    s->n_tokens = start + n;
    return 0;
}

int omni_session_generate(omni_session *s, const char *prompt, const omni_generate_params *gp, omni_usage *usage,
                          char *err, size_t err_size) {
    omni_generate_params dp = omni_generate_default_params();
    if (!gp) gp = &dp;
    omni_usage u;
    memset(&u, 0, sizeof u);
    struct err e = {{0}};
    const struct tokenizer *tok = s->model->tok;
    const int n_vocab = llm_hparams(s->model->llm)->n_vocab;

    struct prompt pr = {0};
    if (prompt_tokenize(s, prompt, gp, &pr, &e)) { prompt_free(&pr); return fail(err, err_size, e.msg); }
    if (pr.n == 0) { prompt_free(&pr); return fail(err, err_size, "the prompt is empty"); }
    if (pr.n >= s->n_ctx) {
        char msg[200];
        snprintf(msg, sizeof msg, "the prompt has %d positions (tokens and image embeddings) but the context holds %d; "
                 "shorten it or raise the context size", pr.n, s->n_ctx);
        prompt_free(&pr);
        return fail(err, err_size, msg);
    }
    const int32_t *ids = pr.ids;
    const size_t n_ids = (size_t)pr.n;

    /* Reuse the longest common prefix; at least the last prompt token is recomputed
     * because its logits are what we sample from. An image position matches only the
     * same image (its key), and a prefix never ends inside an image. */
    int keep = 0;
    while (keep < s->n_tokens && keep < (int)n_ids - 1 && s->tokens[keep] == ids[keep] && s->keys[keep] == pr.keys[keep])
        keep++;
    const int n_img_pos = omni_model_n_image_pos(s->model);
    for (int k = 0; k < pr.n_img; k++)
        if (pr.img_start[k] < keep && keep < pr.img_start[k] + n_img_pos) keep = pr.img_start[k];
    llm_kv_truncate(s->kv, 0, keep);
    s->n_tokens = keep;
    u.prompt_tokens = (int)n_ids;
    u.cached_tokens = keep;

    struct sampler_params sp = sampler_default_params();
    sp.temperature = gp->sampling.temperature;
    sp.top_k = gp->sampling.top_k;
    sp.top_p = gp->sampling.top_p;
    sp.min_p = gp->sampling.min_p;
    sp.repeat_penalty = gp->sampling.repeat_penalty;
    sp.repeat_last_n = gp->sampling.repeat_last_n;
    sp.presence_penalty = gp->sampling.presence_penalty;
    sp.frequency_penalty = gp->sampling.frequency_penalty;
    sp.seed = gp->sampling.seed;
    struct sampler *smp = sampler_new(&sp, n_vocab);
    if (!smp) { prompt_free(&pr); return fail(err, err_size, "out of memory"); }
    for (size_t i = 0; i < n_ids; i++) sampler_accept(smp, ids[i]);

    double t0 = now_ms();
    int rc = 0;
    for (int k = 0; k < pr.n_img && !rc; k++) {
        if (pr.img_start[k] < keep) continue;
        rc = feed(s, ids, s->n_tokens, pr.img_start[k], (int)n_ids, &e);
        if (!rc) rc = feed_image(s, &pr, gp->images[k], k, &e);
    }
    if (!rc) rc = feed(s, ids, s->n_tokens, (int)n_ids, (int)n_ids, &e);
    prompt_free(&pr);
    double t1 = now_ms();
    u.prompt_ms = t1 - t0;

    struct detok dt;
    detok_init(&dt, tok, 0);
    dt.n_done = 1; /* a continuation of the prompt: keep the first piece's leading space */
    struct stop_match sm;
    stop_match_init(&sm, gp->stop, gp->n_stop);
    size_t piece_cap = 3 * tokenizer_max_piece(tok) + 16;
    char *piece = malloc(piece_cap);
    const char *out;
    size_t out_len;
    int hit_stop = 0;
    snprintf(u.finish_reason, sizeof u.finish_reason, "length");
    if (!piece) rc = err_set(&e, "out of memory");

    while (!rc) {
        if (gp->max_tokens > 0 && u.completion_tokens >= gp->max_tokens) break;
        if (s->n_tokens >= s->n_ctx) break;
        int32_t t = sampler_sample(smp, s->logits);
        if (t < 0) { rc = err_set(&e, "no token can be sampled (all are masked)"); break; }
        sampler_accept(smp, t);
        u.completion_tokens++;
        int eog = tokenizer_is_eog(tok, t);
        size_t n = eog ? 0 : detok_push(&dt, t, piece, piece_cap);
        int hit = stop_match_push(&sm, piece, n, &out, &out_len);
        if (hit < 0) { rc = err_set(&e, "out of memory"); break; }
        if (out_len && gp->on_text && gp->on_text(out, out_len, gp->user)) hit = 1;
        if (hit || eog) {
            hit_stop = hit;
            snprintf(u.finish_reason, sizeof u.finish_reason, "stop");
            break;
        }
        int32_t pos = s->n_tokens;
        struct llm_batch b = {.n_tokens = 1, .token = &t, .pos = &pos};
        if (llm_forward(s->model->llm, s->kv, &b, s->logits, &e)) { rc = -1; break; }
        s->keys[s->n_tokens] = 0;
        s->tokens[s->n_tokens++] = t;
    }
    if (!rc && !hit_stop) {
        /* End of generation or length: release text held back because it might have
         * begun a stop string, and an unfinished UTF-8 tail. After a stop string
         * nothing more is said: the held text is the stop string itself. */
        size_t n = detok_flush(&dt, piece, piece_cap);
        if (n) stop_match_push(&sm, piece, n, &out, &out_len);
        if (n && out_len && gp->on_text) gp->on_text(out, out_len, gp->user);
        stop_match_flush(&sm, &out, &out_len);
        if (out_len && gp->on_text) gp->on_text(out, out_len, gp->user);
    }
    stop_match_free(&sm);
    free(piece);
    u.generate_ms = now_ms() - t1;
    sampler_free(smp);
    if (usage) *usage = u;
    if (rc) return fail(err, err_size, e.msg);
    return 0;
}

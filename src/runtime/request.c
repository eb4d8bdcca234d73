/* The public face of the engine (omni.h): building prompts, starting a model's engine,
 * and asynchronous requests — omni_submit turns the caller's parameters into one
 * scheduler request and passes the engine's callbacks straight through. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "omni.h"
#include "core/dtype.h"
#include "runtime/image.h"
#include "runtime/model.h"
#include "runtime/prompt_literal.h"
#include "runtime/reasoning.h"
#include "runtime/scheduler.h"
#include "runtime/lazy_json.h"
#include "text/json_schema.h"

/* ---- prompts ---- */

static int push(omni_prompt *p, int *cap, const int32_t *ids, int n) {
    if (p->n + n > *cap) {
        int c = (p->n + n) * 2 + 64;
        int32_t *t = realloc(p->tokens, (size_t)c * sizeof *t);
        if (!t) return -1;
        p->tokens = t;
        *cap = c;
    }
    for (int j = 0; j < n; j++) p->tokens[p->n + j] = ids ? ids[j] : 0;
    p->n += n;
    return 0;
}

int omni_prompt_build(const omni_model *m, const char *text, const omni_image *const *images, int n_images,
                      int add_special, int parse_special, omni_prompt *out, char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    struct err e = {{0}};
    const int n_img_pos = omni_model_n_image_pos(m);
    const size_t mark = strlen(OMNI_IMAGE_MARKER);
    int cap = 0, rc = 0;
    if (n_images < 0 || (n_images > 0 && !images)) return err_copy_str("n_images is negative or no images are given", err, err_size);
    if (n_images > 0 && n_img_pos <= 0)
        return err_copy_str("this model has no image encoder (load an mmproj file first, e.g. --mmproj), "
                                   "so the prompt cannot contain images", err, err_size);
    if (n_images > 0 && (!(out->image_pos = malloc((size_t)n_images * sizeof *out->image_pos)) ||
                         !(out->images = malloc((size_t)n_images * sizeof *out->images)))) {
        omni_prompt_free(out);
        return err_copy_str("out of memory", err, err_size);
    }
    for (const char *c = text;;) {
        const char *q = out->n_images < n_images ? strstr(c, OMNI_IMAGE_MARKER) : NULL;
        size_t len = q ? (size_t)(q - c) : strlen(c);
        int first = c == text;
        /* pieces of the segment: template text (special tokens parsed as asked), and fenced
         * message content (prompt_literal.h: always plain text, fences dropped) */
        for (size_t at = 0, piece = 0; (len || first) && (at < len || (first && !len && piece == 0)); piece++) {
            const char *open = parse_special ? memmem(c + at, len - at, PROMPT_LITERAL_OPEN, 3) : NULL;
            int literal = open == c + at;
            size_t plen;
            if (literal) {
                at += 3;
                const char *close = memmem(c + at, len - at, PROMPT_LITERAL_CLOSE, 3);
                plen = close ? (size_t)(close - (c + at)) : len - at;
            } else {
                plen = open ? (size_t)(open - (c + at)) : len - at;
            }
            int bos_here = first && piece == 0 && add_special;
            int32_t *ids = NULL;
            size_t n_ids = 0;
            if (tokenizer_encode(m->tok, c + at, plen, bos_here, literal ? 0 : parse_special, &ids, &n_ids, &e)) {
                rc = -1;
                break;
            }
            /* Templates such as Llama 3's write BOS themselves; adding another would double it. */
            int32_t bos = tokenizer_bos(m->tok);
            size_t skip = bos_here && n_ids >= 2 && bos >= 0 && ids[0] == bos && ids[1] == bos;
            rc = push(out, &cap, ids + skip, (int)(n_ids - skip));
            free(ids);
            if (rc) { err_set(&e, "out of memory"); break; }
            at += plen;
            if (literal && at + 3 <= len && !memcmp(c + at, PROMPT_LITERAL_CLOSE, 3)) at += 3;
        }
        if (rc) break;
        if (!q) break;
        const omni_image *im = images[out->n_images];
        if (!im) { rc = err_set(&e, "image %d is NULL", out->n_images); break; }
        out->image_pos[out->n_images] = out->n;
        out->images[out->n_images++] = im;
        if (push(out, &cap, NULL, n_img_pos)) { rc = err_set(&e, "out of memory"); break; }
        c = q + mark;
    }
    if (!rc && out->n_images < n_images)
        rc = err_set(&e, "%d images are given but the prompt has only %d image markers (" OMNI_IMAGE_MARKER ")",
                     n_images, out->n_images);
    if (!rc && out->n_images && out->image_pos[out->n_images - 1] + n_img_pos >= out->n)
        rc = err_set(&e, "an image ends the prompt; put some text after it (the reply starts from a text token)");
    if (!rc && out->n == 0) rc = err_set(&e, "the prompt is empty");
    if (rc) {
        omni_prompt_free(out);
        return err_copy_str(e.msg, err, err_size);
    }
    return 0;
}

void omni_prompt_free(omni_prompt *p) {
    if (!p) return;
    free(p->tokens);
    free(p->image_pos);
    free((void *)p->images);
    memset(p, 0, sizeof *p);
}

/* ---- the engine ---- */

omni_engine_params omni_engine_default_params(void) {
    struct sched_params d = sched_default_params();
    omni_engine_params p = {.n_slots = d.n_slots, .n_ctx = d.n_ctx, .max_queue = d.max_queue, .n_batch = d.n_batch,
                            .n_chunk = d.n_chunk, .cache_type = OMNI_CACHE_F16, .flash_attn = OMNI_FLASH_AUTO,
                            .draft = d.draft, .lookup = d.lookup, .draft_max = d.draft_max, .draft_min = d.draft_min,
                            .draft_p_min = d.draft_p_min};
    return p;
}

int omni_cache_type_parse(const char *name) {
    if (!name) return -1;
    if (!strcmp(name, "f16")) return OMNI_CACHE_F16;
    if (!strcmp(name, "q8_0")) return OMNI_CACHE_Q8_0;
    if (!strcmp(name, "q4_0")) return OMNI_CACHE_Q4_0;
    return -1;
}

int omni_flash_attn_parse(const char *name) {
    if (!name) return -1;
    if (!strcmp(name, "auto")) return OMNI_FLASH_AUTO;
    if (!strcmp(name, "on")) return OMNI_FLASH_ON;
    if (!strcmp(name, "off")) return OMNI_FLASH_OFF;
    return -1;
}

static struct sched_params to_sched(const omni_engine_params *p) {
    static const int types[] = {DT_F16, DT_Q8_0, DT_Q4_0};
    struct sched_params s = {.n_slots = p->n_slots, .n_ctx = p->n_ctx, .max_queue = p->max_queue,
                             .n_batch = p->n_batch, .n_chunk = p->n_chunk,
                             .cache_type = p->cache_type >= 0 && p->cache_type <= 2 ? types[p->cache_type] : -1,
                             .flash_attn = p->flash_attn, .draft = p->draft, .lookup = p->lookup,
                             .draft_max = p->draft_max, .draft_min = p->draft_min, .draft_p_min = p->draft_p_min};
    return s;
}

int omni_model_start_engine(omni_model *m, const omni_engine_params *params, char *err, size_t err_size) {
    omni_engine_params dp = omni_engine_default_params();
    struct sched_params sp = to_sched(params ? params : &dp);
    struct err e = {{0}};
    pthread_mutex_lock(&m->engine_mu);
    int rc = 0;
    if (m->engine) rc = err_set(&e, "the model's engine is running already");
    else if (!(m->engine = sched_new(m, &sp, &e))) rc = -1;
    pthread_mutex_unlock(&m->engine_mu);
    return rc ? err_copy_str(e.msg, err, err_size) : 0;
}

struct sched *model_engine(omni_model *m, struct err *e) {
    pthread_mutex_lock(&m->engine_mu);
    if (!m->engine) {
        struct sched_params sp = sched_default_params();
        m->engine = sched_new(m, &sp, e);
    }
    struct sched *s = m->engine;
    pthread_mutex_unlock(&m->engine_mu);
    return s;
}

static struct sched *engine_if_started(omni_model *m) {
    pthread_mutex_lock(&m->engine_mu);
    struct sched *s = m->engine;
    pthread_mutex_unlock(&m->engine_mu);
    return s;
}

void omni_model_engine_stats(omni_model *m, omni_engine_stats *st) {
    memset(st, 0, sizeof *st);
    struct sched *s = engine_if_started(m);
    if (!s) return;
    st->n_slots = sched_n_slots(s);
    st->n_ctx = sched_n_ctx(s);
    st->queued = sched_queue_len(s);
    st->busy = sched_slots_busy(s);
    sched_draft_stats(s, &st->draft_tokens, &st->draft_accepted);
    st->speculative = sched_speculative(s);
}

void omni_model_cancel_all(omni_model *m) {
    struct sched *s = engine_if_started(m);
    if (s) sched_cancel_all(s);
}

/* ---- requests ---- */

struct omni_request {
    struct sched_request req;
    omni_generate_params gp;
    struct json_schema *schema;
    struct lazy_json_spec *lazy;    /* gp.lazy_json compiled */
    int n_lazy;
    struct sched_image *imgs;
    int splitting;                  /* gp.reasoning: the text goes through split */
    struct reasoning_split split;
    const omni_token_info *cur;     /* the engine's token being split, NULL at the end */
    int n_emitted;                  /* pieces handed on for cur */
    int last_kind;                  /* of the last piece: a token with no text gets it */
};

struct sched_seq *session_seq(omni_session *s);   /* session.c */

int omni_json_schema_check(const char *schema, size_t len, char *err, size_t err_size) {
    cJSON *j = cJSON_ParseWithLength(schema, len);
    if (!j) return err_copy_str("the JSON schema is not valid JSON", err, err_size);
    struct err e = {{0}};
    struct json_schema *c = json_schema_compile(j, &e);
    cJSON_Delete(j);
    if (!c) return err_copy_str(e.msg, err, err_size);
    json_schema_free(c);
    return 0;
}

/* One run of split text: the first run of a token carries the token (and its logprobs),
 * further runs of it are plain text (token -1). */
static int emit_piece(int reasoning, const char *text, size_t len, void *user) {
    omni_request *r = user;
    omni_token_info t;
    if (r->cur && r->n_emitted == 0) {
        t = *r->cur;
    } else {
        memset(&t, 0, sizeof t);
        t.token = -1;
    }
    t.text = text;
    t.len = len;
    t.reasoning = reasoning;
    r->n_emitted++;
    r->last_kind = reasoning;
    if (r->gp.on_token) r->gp.on_token(&t, r->gp.user);
    return 0;
}

static void pass_token(void *user, const omni_token_info *t) {
    omni_request *r = user;
    if (!r->splitting) {
        if (r->gp.on_token) r->gp.on_token(t, r->gp.user);
        return;
    }
    r->cur = t;
    r->n_emitted = 0;
    if (reasoning_split_push(&r->split, t->text, t->len, emit_piece, r)) {
        /* out of memory holding text back: from here on, the text goes on as it is */
        r->splitting = 0;
        if (r->n_emitted == 0 && r->gp.on_token) r->gp.on_token(t, r->gp.user);
        r->cur = NULL;
        return;
    }
    if (r->n_emitted == 0 && t->token >= 0) {
        omni_token_info e = *t;   /* the token's text is held back: its logprobs still go on */
        e.text = "";
        e.len = 0;
        e.reasoning = r->last_kind;
        if (r->gp.on_token) r->gp.on_token(&e, r->gp.user);
    }
    r->cur = NULL;
}

static void pass_done(void *user, const omni_usage *u, const char *error) {
    omni_request *r = user;
    if (r->splitting) {
        r->cur = NULL;
        if (!error) reasoning_split_flush(&r->split, emit_piece, r);
        reasoning_split_free(&r->split);
        r->splitting = 0;
    }
    if (r->gp.on_done) r->gp.on_done(u, error, r->gp.user);
}

/* Whether the prompt's last tokens leave syn's opening tag open (the template began the thoughts). */
static int prompt_opens_think(const omni_model *m, enum reasoning_syntax syn, const omni_prompt *p) {
    char tail[512];
    size_t n = 0;
    for (int i = p->n > 16 ? p->n - 16 : 0; i < p->n; i++) {
        size_t l = 0;
        const char *s = tokenizer_piece(m->tok, p->tokens[i], 1, &l);
        if (n + l >= sizeof tail) n = 0;   /* keep only the end */
        if (l < sizeof tail) { memcpy(tail + n, s, l); n += l; }
    }
    return reasoning_prompt_opens(syn, tail, n);
}

void omni_request_free(omni_request *r) {
    if (!r) return;
    json_schema_free(r->schema);
    for (int i = 0; i < r->n_lazy; i++) {
        free(r->lazy[i].trigger);
        free(r->lazy[i].start);
        json_schema_free(r->lazy[i].schema);
    }
    free(r->lazy);
    free(r->imgs);
    reasoning_split_free(&r->split);
    free(r);
}

omni_request *omni_submit(omni_model *m, omni_session *session, const omni_prompt *prompt,
                          const omni_generate_params *params, int *status, char *err, size_t err_size) {
    int st_dummy;
    if (!status) status = &st_dummy;
    *status = OMNI_ERR_INVALID;
    struct err e = {{0}};
    struct sched *s = model_engine(m, &e);
    if (!s) { err_copy_str(e.msg, err, err_size); return NULL; }
    omni_request *r = calloc(1, sizeof *r);
    if (!r) { err_copy_str("out of memory", err, err_size); return NULL; }
    r->gp = params ? *params : omni_generate_default_params();
    if (r->gp.json_schema) {
        cJSON *j = cJSON_Parse(r->gp.json_schema);
        r->schema = j ? json_schema_compile(j, &e) : NULL;
        if (!j) err_set(&e, "the JSON schema is not valid JSON");
        cJSON_Delete(j);
        if (!r->schema) {
            err_copy_str(e.msg, err, err_size);
            omni_request_free(r);
            return NULL;
        }
    }
    if (r->gp.n_lazy_json > 0 && r->gp.lazy_json) {
        if (r->gp.json_object || r->gp.json_schema) {
            err_copy_str("lazy_json cannot be combined with json_object or json_schema", err, err_size);
            omni_request_free(r);
            return NULL;
        }
        if (!(r->lazy = calloc((size_t)r->gp.n_lazy_json, sizeof *r->lazy))) {
            err_copy_str("out of memory", err, err_size);
            omni_request_free(r);
            return NULL;
        }
        for (int i = 0; i < r->gp.n_lazy_json; i++) {
            const omni_lazy_json *l = &r->gp.lazy_json[i];
            struct lazy_json_spec *sp = &r->lazy[r->n_lazy++];
            cJSON *j = l->json_schema ? cJSON_Parse(l->json_schema) : NULL;
            sp->trigger = strdup(l->trigger ? l->trigger : "");
            sp->start = strdup(l->start ? l->start : "");
            sp->schema = j ? json_schema_compile(j, &e) : NULL;
            if (!j) err_set(&e, "lazy_json %d: the JSON schema is not valid JSON", i);
            cJSON_Delete(j);
            if (!sp->trigger || !sp->start || !sp->schema || !l->trigger || !l->trigger[0]) {
                if (!l->trigger || !l->trigger[0]) err_set(&e, "lazy_json %d: the trigger is empty", i);
                err_copy_str(e.msg[0] ? e.msg : "out of memory", err, err_size);
                omni_request_free(r);
                return NULL;
            }
        }
    }
    if (prompt->n_images > 0) {
        if (!(r->imgs = malloc((size_t)prompt->n_images * sizeof *r->imgs))) {
            err_copy_str("out of memory", err, err_size);
            omni_request_free(r);
            return NULL;
        }
        for (int k = 0; k < prompt->n_images; k++) r->imgs[k] = (struct sched_image){prompt->image_pos[k], prompt->images[k]};
    }
    struct sched_request *q = &r->req;
    q->prompt = prompt->tokens;
    q->n_prompt = prompt->n;
    q->images = r->imgs;
    q->n_images = prompt->n_images;
    q->seq = session ? session_seq(session) : NULL;
    q->max_tokens = r->gp.max_tokens;
    q->sampling = r->gp.sampling;
    q->stop = r->gp.stop;
    q->n_stop = r->gp.n_stop;
    q->logprobs = r->gp.logprobs;
    q->top_logprobs = r->gp.top_logprobs;
    q->watch = r->gp.watch_tokens;
    q->n_watch = r->gp.watch_tokens && r->gp.n_watch > 0 ? (r->gp.n_watch < OMNI_MAX_WATCH ? r->gp.n_watch : OMNI_MAX_WATCH) : 0;
    q->json_mode = r->gp.json_object;
    q->json_schema = r->schema;
    q->lazy = r->lazy;
    q->n_lazy = r->n_lazy;
    if (r->gp.adapter && *r->gp.adapter) {
        const struct model_adapter *ad = model_find_adapter(m, r->gp.adapter);
        if (!ad) {
            *status = OMNI_ERR_INVALID;
            snprintf(err, err_size, "the model has no adapter named '%.200s'", r->gp.adapter);
            omni_request_free(r);
            return NULL;
        }
        q->lora = ad->a;
        q->lora_scale = ad->scale;
    }
    if (r->gp.reasoning == OMNI_REASONING_AUTO) {
        enum reasoning_syntax syn = reasoning_syntax_of(m->chat_template);
        if (syn != REASONING_NONE) {
            reasoning_split_init(&r->split, syn, prompt_opens_think(m, syn, prompt));
            r->splitting = 1;
            /* harmony's channel markers and Mistral's [THINK] are control tokens: their text is needed */
            q->special_text = syn == REASONING_HARMONY || syn == REASONING_THINK_BRACKET;
        }
    }
    q->on_token = pass_token;
    q->on_done = pass_done;
    q->user = r;
    atomic_init(&q->cancel, 0);
    int rc = sched_submit(s, q, &e);
    if (rc != SCHED_OK) {
        *status = rc;
        err_copy_str(e.msg, err, err_size);
        omni_request_free(r);
        return NULL;
    }
    *status = OMNI_OK;
    return r;
}

void omni_request_cancel(omni_request *r) {
    if (r) atomic_store(&r->req.cancel, 1);
}

int omni_request_n_ctx(omni_model *m, const omni_session *session) {
    if (session) return omni_session_n_ctx(session);
    struct sched *s = engine_if_started(m);
    return s ? sched_n_ctx(s) : 0;
}

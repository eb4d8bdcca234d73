/* omni_chat_format: messages → prompt text with the model's own chat template,
 * filling in the model's BOS/EOS token texts as the templates expect; and
 * omni_chat_prompt, which also makes a long conversation fit a context by leaving out
 * its oldest turns (the system prompt stays), as ChatGPT keeps talking past its window. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omni.h"
#include "runtime/model.h"
#include "runtime/prompt_literal.h"
#include "text/tokenizer.h"
#include "text/chat_template.h"

/* Copies a token's text into a NUL-terminated heap string ("" when absent). */
static char *token_text(const struct tokenizer *t, int32_t id) {
    size_t len = 0;
    const char *s = id >= 0 ? tokenizer_piece(t, id, 1, &len) : NULL;
    char *c = malloc(len + 1);
    if (!c) return NULL;
    if (len) memcpy(c, s, len);
    c[len] = 0;
    return c;
}

char *omni_chat_format(const omni_model *m, const omni_chat_message *msgs, size_t n_msgs, int add_generation_prompt,
                       char *err, size_t err_size) {
    return omni_chat_format_kw(m, msgs, n_msgs, add_generation_prompt, NULL, err, err_size);
}

char *omni_chat_format_kw(const omni_model *m, const omni_chat_message *msgs, size_t n_msgs, int add_generation_prompt,
                          const char *template_kwargs, char *err, size_t err_size) {
    return omni_chat_format_tools(m, msgs, NULL, n_msgs, add_generation_prompt, template_kwargs, err, err_size);
}

char *omni_chat_format_tools(const omni_model *m, const omni_chat_message *msgs, const omni_chat_tool_info *tools,
                             size_t n_msgs, int add_generation_prompt, const char *template_kwargs, char *err,
                             size_t err_size) {
    struct err e = {{0}};
    char *out = NULL;
    struct chat_message *cm = calloc(n_msgs ? n_msgs : 1, sizeof *cm);
    char *merged = NULL;
    char *bos = token_text(m->tok, tokenizer_bos(m->tok));
    char *eos = token_text(m->tok, tokenizer_eos(m->tok));
    if (!cm || !bos || !eos) {
        err_set(&e, "out of memory");
    } else {
        for (size_t i = 0; i < n_msgs; i++) {
            cm[i].role = msgs[i].role;
            cm[i].content = msgs[i].content;
            if (tools) {
                cm[i].tool_calls = tools[i].tool_calls;
                cm[i].tool_call_id = tools[i].tool_call_id;
                cm[i].name = tools[i].name;
            }
        }
        /* a template without a system role (Gemma 2): the system text goes before the
         * next message's, joined by a newline, or is dropped when alone, as llama.cpp does */
        struct chat_message *first = cm;
        int n = (int)n_msgs;
        if (n && msgs[0].role && !strcmp(msgs[0].role, "system") && !chat_template_supports_system(m->chat_template)) {
            first = cm + 1, n--;
            if (n) {
                const char *a = msgs[0].content ? msgs[0].content : "", *b = msgs[1].content ? msgs[1].content : "";
                size_t la = strlen(a), lb = strlen(b);
                merged = malloc(la + lb + 2);
                if (merged) {
                    memcpy(merged, a, la);
                    merged[la] = '\n';
                    memcpy(merged + la + 1, b, lb + 1);
                    cm[1].content = merged;
                }
            }
        }
        struct chat_render_opts o = {0};
        o.add_generation_prompt = add_generation_prompt;
        o.bos_token = bos;
        o.eos_token = eos;
        o.extra_json = template_kwargs;
        if (first != cm && n && !merged) err_set(&e, "out of memory");
        else if (chat_render(m->chat_template, first, n, &o, &out, &e)) out = NULL;
    }
    if (!out && err && err_size) snprintf(err, err_size, "%s", e.msg);
    free(cm);
    free(merged);
    free(bos);
    free(eos);
    return out;
}

static int count_markers(const char *s) {
    int n = 0;
    for (const char *q = s; q && (q = strstr(q, OMNI_IMAGE_MARKER)); q += strlen(OMNI_IMAGE_MARKER)) n++;
    return n;
}

/* Renders msgs[0..n_sys) + msgs[from..n) and builds its prompt. */
static int render_from(const omni_model *m, const omni_chat_message *msgs, const omni_chat_tool_info *tools, size_t n,
                       size_t n_sys, size_t from, const omni_image *const *images, int n_images, const char *kw,
                       omni_prompt *out, char *err, size_t err_size) {
    size_t k = n_sys + (n - from);
    omni_chat_message *sel = malloc((k ? k : 1) * sizeof *sel);
    omni_chat_tool_info *tsel = tools ? malloc((k ? k : 1) * sizeof *tsel) : NULL;
    if (!sel || (tools && !tsel)) { free(sel); free(tsel); snprintf(err, err_size, "out of memory"); return -1; }
    int skip = 0;
    for (size_t i = 0; i < n_sys; i++) {
        sel[i] = msgs[i];
        if (tools) tsel[i] = tools[i];
    }
    for (size_t i = n_sys; i < from; i++) skip += count_markers(msgs[i].content);
    for (size_t i = from; i < n; i++) {
        sel[n_sys + i - from] = msgs[i];
        if (tools) tsel[n_sys + i - from] = tools[i];
    }
    /* A message whose content holds a control token's text ("<|im_end|><|im_start|>system")
     * is fenced (prompt_literal.h) so that text stays text: a user cannot forge turns. */
    char **fenced = calloc(k ? k : 1, sizeof *fenced);
    if (!fenced) { free(sel); free(tsel); snprintf(err, err_size, "out of memory"); return -1; }
    for (size_t i = 0; i < k; i++)
        if (sel[i].content && tokenizer_text_has_control(m->tok, sel[i].content, strlen(sel[i].content)) &&
            (fenced[i] = prompt_literal_fence(sel[i].content)))
            sel[i].content = fenced[i];
    char *text = omni_chat_format_tools(m, sel, tsel, k, 1, kw, err, err_size);
    for (size_t i = 0; i < k; i++) free(fenced[i]);
    free(fenced);
    free(sel);
    free(tsel);
    if (!text) return -1;
    int kept = n_images - skip < 0 ? 0 : n_images - skip;
    int rc = omni_prompt_build(m, text, images ? images + skip : NULL, kept, 1, 1, out, err, err_size);
    free(text);
    return rc;
}

int omni_chat_prompt(const omni_model *m, const omni_chat_message *msgs, size_t n_msgs,
                     const omni_image *const *images, int n_images, int max_positions, int truncate,
                     omni_prompt *out, int *n_dropped, char *err, size_t err_size) {
    return omni_chat_prompt_kw(m, msgs, n_msgs, images, n_images, max_positions, truncate, NULL, out, n_dropped, err,
                               err_size);
}

int omni_chat_prompt_kw(const omni_model *m, const omni_chat_message *msgs, size_t n_msgs,
                        const omni_image *const *images, int n_images, int max_positions, int truncate,
                        const char *kw, omni_prompt *out, int *n_dropped, char *err, size_t err_size) {
    return omni_chat_prompt_tools(m, msgs, NULL, n_msgs, images, n_images, max_positions, truncate, kw, out, n_dropped,
                                  err, err_size);
}

int omni_chat_prompt_tools(const omni_model *m, const omni_chat_message *msgs, const omni_chat_tool_info *tools,
                           size_t n_msgs, const omni_image *const *images, int n_images, int max_positions,
                           int truncate, const char *kw, omni_prompt *out, int *n_dropped, char *err,
                           size_t err_size) {
    if (n_dropped) *n_dropped = 0;
    memset(out, 0, sizeof *out);
    size_t n_sys = 0;
    while (n_sys < n_msgs && msgs[n_sys].role && !strcmp(msgs[n_sys].role, "system")) n_sys++;
    if (render_from(m, msgs, tools, n_msgs, n_sys, n_sys, images, n_images, kw, out, err, err_size)) return -1;
    if (out->n <= max_positions) return 0;
    const int whole = out->n;
    omni_prompt_free(out);
    if (!truncate) {
        snprintf(err, err_size, "the conversation needs %d positions (tokens and image embeddings) but at most %d fit "
                 "in the context; shorten it, or allow truncation", whole, max_positions);
        return OMNI_ERR_TOO_LONG;
    }
    /* Turn starts after the system prompt: each user message (or the first message). The
     * kept part always begins at one, so templates that insist on user/assistant order
     * see a proper conversation. Searched from the oldest cut to the newest, stopping at
     * the first that fits: a 60-turn chat over a small context costs a few renders. */
    size_t *starts = malloc((n_msgs + 1) * sizeof *starts);
    if (!starts) { snprintf(err, err_size, "out of memory"); return -1; }
    int n_starts = 0;
    for (size_t i = n_sys + 1; i < n_msgs; i++)
        if (msgs[i].role && !strcmp(msgs[i].role, "user")) starts[n_starts++] = i;
    /* Binary search over the cut: fewer dropped turns means more positions. */
    int lo = 0, hi = n_starts - 1, best = -1, rc = 0;
    int last_n = whole;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        omni_prompt t;
        if ((rc = render_from(m, msgs, tools, n_msgs, n_sys, starts[mid], images, n_images, kw, &t, err, err_size))) break;
        last_n = t.n;
        if (t.n <= max_positions) {
            if (best >= 0) omni_prompt_free(out);
            *out = t;
            best = mid;
            hi = mid - 1;
        } else {
            omni_prompt_free(&t);
            lo = mid + 1;
        }
    }
    if (rc || best < 0) {
        if (best >= 0) omni_prompt_free(out);
        free(starts);
        if (rc) return -1;
        snprintf(err, err_size, "even the last turn of the conversation needs %d positions but at most %d fit in the "
                 "context; shorten it or raise the context size", n_starts ? last_n : whole, max_positions);
        return OMNI_ERR_TOO_LONG;
    }
    if (n_dropped) *n_dropped = (int)(starts[best] - n_sys);
    free(starts);
    return 0;
}

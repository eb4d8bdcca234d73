/* omni_chat_format: messages → prompt text with the model's own chat template,
 * filling in the model's BOS/EOS token texts as the templates expect. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omni.h"
#include "runtime/model.h"
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
    struct err e = {{0}};
    char *out = NULL;
    struct chat_message *cm = calloc(n_msgs ? n_msgs : 1, sizeof *cm);
    char *bos = token_text(m->tok, tokenizer_bos(m->tok));
    char *eos = token_text(m->tok, tokenizer_eos(m->tok));
    if (!cm || !bos || !eos) {
        err_set(&e, "out of memory");
    } else {
        for (size_t i = 0; i < n_msgs; i++) {
            cm[i].role = msgs[i].role;
            cm[i].content = msgs[i].content;
        }
        struct chat_render_opts o = {0};
        o.add_generation_prompt = add_generation_prompt;
        o.bos_token = bos;
        o.eos_token = eos;
        if (chat_render(m->chat_template, cm, (int)n_msgs, &o, &out, &e)) out = NULL;
    }
    if (!out && err && err_size) snprintf(err, err_size, "%s", e.msg);
    free(cm);
    free(bos);
    free(eos);
    return out;
}

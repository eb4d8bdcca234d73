/* Chat template rendering (see chat_template.h): builds the Jinja context HF
 * builds — messages, tools, bos/eos tokens, add_generation_prompt, date — and
 * runs the template through text/jinja. */
#include "text/chat_template.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text/jinja.h"

static const char CHATML[] =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const char *chat_template_chatml(void) { return CHATML; }

/* OpenAI sends tool-call arguments as a JSON string; templates expect an object. */
static void parse_arguments(struct jv *calls) {
    if (calls->type != JV_LIST) return;
    for (int i = 0; i < calls->u.list.n; i++) {
        struct jv *fn = jv_dict_get(calls->u.list.v[i], "function");
        struct jv *args = jv_dict_get(fn ? fn : calls->u.list.v[i], "arguments");
        if (!args || args->type != JV_STR) continue;
        struct err ignored;
        struct jv *obj = jv_from_json(args->u.str.s, &ignored);
        if (obj && obj->type == JV_DICT) jv_dict_set(fn ? fn : calls->u.list.v[i], "arguments", obj);
        else jv_unref(obj);
    }
}

/* A container takes over what is put into it, and releases it when it cannot grow
 * (out of memory), so each value is complete before it goes in. */
static struct jv *build_context(const struct chat_message *msgs, int n, const struct chat_render_opts *o, struct err *e) {
    struct jv *ctx = jv_dict(), *list = jv_list();
    for (int i = 0; i < n; i++) {
        const struct chat_message *m = &msgs[i];
        if (!m->role) { jv_unref(list); jv_unref(ctx); err_set(e, "message %d has no role", i); return NULL; }
        struct jv *d = jv_dict();
        jv_dict_set(d, "role", jv_str(m->role));
        jv_dict_set(d, "content", jv_str(m->content));
        if (m->name) jv_dict_set(d, "name", jv_str(m->name));
        if (m->tool_call_id) jv_dict_set(d, "tool_call_id", jv_str(m->tool_call_id));
        if (m->tool_calls) {
            struct jv *calls = jv_from_json(m->tool_calls, e);
            if (!calls || calls->type != JV_LIST) {
                jv_unref(calls);
                jv_unref(d);
                jv_unref(list);
                jv_unref(ctx);
                if (calls) err_set(e, "message %d: tool_calls must be a JSON array", i);
                else err_prefix(e, "message %d: tool_calls: ", i);
                return NULL;
            }
            parse_arguments(calls);
            jv_dict_set(d, "tool_calls", calls);
        }
        jv_list_push(list, d);
    }
    jv_dict_set(ctx, "messages", list);
    int gen = o && o->add_generation_prompt;
    jv_dict_set(ctx, "add_generation_prompt", jv_bool(gen));
    jv_dict_set(ctx, "bos_token", jv_str(o && o->bos_token ? o->bos_token : ""));
    jv_dict_set(ctx, "eos_token", jv_str(o && o->eos_token ? o->eos_token : ""));
    if (o && o->tools) {
        struct jv *tools = jv_from_json(o->tools, e);
        if (!tools || tools->type != JV_LIST) {
            jv_unref(tools);
            jv_unref(ctx);
            if (tools) err_set(e, "tools must be a JSON array");
            else err_prefix(e, "tools: ");
            return NULL;
        }
        jv_dict_set(ctx, "tools", tools);
    }
    if (o && o->date_string) {
        jv_dict_set(ctx, "date_string", jv_str(o->date_string));
    } else {
        char buf[64];
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(buf, sizeof buf, "%d %b %Y", &tm);
        jv_dict_set(ctx, "date_string", jv_str(buf));
    }
    if (o && o->extra_json) {
        struct jv *x = jv_from_json(o->extra_json, e);
        if (!x || x->type != JV_DICT) {
            jv_unref(x);
            jv_unref(ctx);
            if (x) err_set(e, "extra template variables must be a JSON object");
            else err_prefix(e, "extra template variables: ");
            return NULL;
        }
        for (int i = 0; i < x->u.dict.n; i++) jv_dict_set(ctx, x->u.dict.k[i], jv_ref(x->u.dict.v[i]));
        jv_unref(x);
    }
    return ctx;
}

int chat_render(const char *template_src, const struct chat_message *msgs, int n_msgs,
                const struct chat_render_opts *opts, char **out, struct err *e) {
    *out = NULL;
    if (n_msgs < 0 || (n_msgs > 0 && !msgs)) return err_set(e, "chat_render: no messages");
    struct jinja_template *t = jinja_parse(template_src ? template_src : CHATML, e);
    if (!t) return err_prefix(e, "chat template: ");
    unsigned long failures = jv_alloc_failures();
    struct jv *ctx = build_context(msgs, n_msgs, opts, e);
    if (ctx && jv_alloc_failures() != failures) { /* a value came out empty */
        jv_unref(ctx);
        ctx = NULL;
        err_set(e, "chat template: out of memory building the context");
    }
    if (!ctx) { jinja_free(t); return -1; }
    int rc = jinja_render(t, ctx, out, e);
    jv_unref(ctx);
    jinja_free(t);
    if (rc) return err_prefix(e, "chat template: ");
    return 0;
}

int chat_template_supports_system(const char *template_src) {
    static const char probe[] = "omni system probe 5e1b";
    const struct chat_message m[2] = {{.role = "system", .content = probe}, {.role = "user", .content = "u"}};
    struct chat_render_opts o = {0};
    struct err e = {{0}};
    char *out = NULL;
    int ok = chat_render(template_src, m, 2, &o, &out, &e) == 0 && out && strstr(out, probe);
    free(out);
    return ok;
}

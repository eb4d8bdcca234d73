/* What /v1/chat/completions does for an account around the generation: checks the key's
 * models and the tier's limits before (429 with OpenAI's x-ratelimit-* headers), stores
 * the user's message in the conversation named by the X-Omni-Conversation header or the
 * "conversation" field before generating (so a crash mid-stream keeps it), and after it
 * the finished answer (with its reasoning, tool runs and a custom assistant's citations)
 * and the usage (per user, key, model and day). */
#ifndef OMNI_API_CHAT_STORE_H
#define OMNI_API_CHAT_STORE_H
#include <cJSON.h>

#include "api/request_options.h"
#include "api/routes.h"
#include "api/who.h"
#include "tools/toolcall.h"

struct api_chat_store {
    struct api_capture cap;      /* first: on_done finds the rest from it */
    struct api_server *s;
    struct api_who *w;           /* NULL: nothing to do (no account) */
    char model[STORE_MODEL_MAX];
    char conv_id[STORE_ID_MAX];  /* "" = not stored */
    char user_msg_id[STORE_ID_MAX];
    char headers[1024];
    char sampling[512];          /* the request's sampling settings (JSON), kept with the answer */
    const struct tool_request *tools;  /* set by the route: the memory tool's calls are run at the end */
    const char *tool_prefix;
    int memory_tool;             /* the built-in memory tool was offered (api/chat_personal.h) */
    int images;                  /* image parts in the request's messages (counted in usage) */
    /* a step of the server's tool loop (api/agent.c): an answer that calls a built-in tool
     * is not stored (only its usage); the final one is, with the loop's runs */
    int (*answer_final)(void *user, const char *reply);
    void *step_user;
    const cJSON *tool_runs;      /* borrowed: the runs so far (an array of items), or NULL */
    char *user_msg;              /* set before begin: the step's buffer (STORE_ID_MAX), the
                                    question the first step stored, which later steps answer */
};

/* Before the generation. Returns 0 (go on; set o->capture = &x->cap) or the status of
 * the refusal it wrote. */
int api_chat_store_begin(struct api_server *s, struct mg_connection *c, const cJSON *body, struct api_chat_store *x);
/* The answer, usage and limits' tokens are written from x->cap.on_done, before the reply's
 * end; this frees what is left (call it whatever happened). */
void api_chat_store_end(struct api_chat_store *x);

#endif

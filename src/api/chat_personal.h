/* What a user's account adds to a stored chat (a chat completion naming a conversation):
 * custom instructions and memories in the system prompt (with memory_enabled; memories
 * newest first within API_MEMORY_TOKENS tokens), a question that starts
 * "remember …" / "기억해 …" saved as a memory before generating, and the built-in
 * `memory` tool (added to the request's tools; the model may call it, the server runs the
 * call when the answer is done: api_chat_memory_calls). The reply says a memory changed
 * with the header X-Omni-Memory-Updated: 1 and, in a stream, a last event
 * {"object":"omni.memory.updated","memories":[…]} before [DONE]. */
#ifndef OMNI_API_CHAT_PERSONAL_H
#define OMNI_API_CHAT_PERSONAL_H
#include <cJSON.h>

#include "api/routes.h"
#include "tools/toolcall.h"

#define API_MEMORY_TOKENS 512   /* memories in a prompt, at most (in the pinned model's tokens) */

struct api_personal {
    int active;           /* a user's stored chat */
    int memory_updated;   /* a "remember" request was saved */
    int memory_tool;      /* the built-in tool was offered */
    char user_id[48];
};

/* Rewrites the request j in place (system prompt, tools). 0, or the status of the error
 * written (a bad conversation field is left to the chat route to refuse). */
int api_chat_personalize(struct api_server *s, struct mg_connection *c, cJSON *j, struct api_personal *px);
/* The personalization of the request this thread handles (set by route_chat), or NULL. */
struct api_personal *api_personal_current(void);
void api_personal_set(struct api_personal *px);
/* Runs the reply's calls of the `memory` tool for user_id (text: the reply, after the
 * forced prefix). Returns how many memories changed. */
int api_chat_memory_calls(struct api_server *s, const char *user_id, const struct tool_request *tr,
                          const char *prefix, const char *text);
/* The user's memories as the stream's "memory updated" event (caller frees). */
cJSON *api_memory_event(struct api_server *s, const char *user_id);

#endif

/* An answer's citations on the HTTP API (storage/citations.h keeps them): the knowledge
 * passages a custom assistant's answer was given ([{index, file, page, heading, chunk,
 * score, text, …}], as message.citations of the chat completion), stored with the answer
 * by the chat's storage step and shown on the messages wherever a conversation is read. */
#ifndef OMNI_API_MSG_CITATIONS_H
#define OMNI_API_MSG_CITATIONS_H
#include <cJSON.h>

#include "storage/storage.h"

/* Keeps cites (an array; NULL or empty: nothing) as the citations of the user's answer
 * msg_id; when the JSON would pass the storage limit the passages' texts go, last first
 * (the sources stay). 0 or a STORE_* code with e set. */
int api_citations_put(struct store *st, const char *user_id, const char *msg_id, const cJSON *cites, struct err *e);

/* A client's "citations" on a message it adds (POST .../messages): NULL or null is none;
 * else it must be an array of at most 50 objects, each with an "index" (integer >= 1) and
 * a "file" (string), "page" a number or null, "heading" and "text" strings or null.
 * 0, or -1 with msg (a sentence for the 400) filled. */
int api_citations_check(const cJSON *v, char *msg, size_t cap);

/* Adds "citations" to each message object of messages (an array of objects with "id")
 * of the user's conversation conv_id that has some. passages 0: only where each source
 * is (index, file, page, heading), not the passage's text or its scores (a share link's
 * reader). A failure leaves the messages as they are: the answers are what matter. */
void api_citations_attach(struct store *st, const char *user_id, const char *conv_id, cJSON *messages, int passages);

#endif

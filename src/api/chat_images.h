/* Images in /v1/chat/completions: image_url content parts (data: URIs, or local files
 * from a folder the operator allows) decoded on the
 * HTTP thread, a marker left in the message text where each one goes, and after the
 * chat template has rendered the conversation, the prompt split at the markers into
 * token runs and image spans for the scheduler (which encodes the pixels). */
#ifndef OMNI_API_CHAT_IMAGES_H
#define OMNI_API_CHAT_IMAGES_H
#include <stdint.h>

#include <cJSON.h>

#include "api/request_options.h"
#include "core/error.h"
#include "omni.h"

/* The request's images in order; OMNI_IMAGE_MARKER marks each one's place in the text. */
struct api_chat_images {
    omni_image **img;
    int n, cap;
};
void api_chat_images_free(struct api_chat_images *ci);

/* Decodes one {"type":"image_url","image_url":{"url":"data:image/png;base64,...","detail":...}}
 * part (image_url may also be the URL string) and appends it to ci. param names the part
 * ("messages[0].content[1]"). A model without an image encoder gets a 400 saying so.
 * Returns 0, or -1 with *bad filled. */
int api_chat_image_part(const omni_model *m, const char *model_id, struct api_chat_images *ci, const cJSON *part,
                        const char *param, struct api_bad_field *bad);

/* The same for an image given as media type + base64 bytes (Anthropic's image block
 * source {"type":"base64","media_type","data"}); errors name param + ".source". */
int api_chat_image_base64(const omni_model *m, const char *model_id, struct api_chat_images *ci,
                          const char *media_type, const char *data, const char *param, struct api_bad_field *bad);

/* Lets image_url name local files (file:///path or /path) inside dir, checked after
 * realpath so symlinks and ".." cannot lead outside; anything else is a 400 that does not
 * say whether the file exists. Process-wide, set once before serving; NULL (the
 * default) allows no local files. Returns 0, or -1 if dir is not an existing folder. */
int api_chat_images_allow_dir(const char *dir, struct err *e);

/* The body's OpenAI-shaped 'messages' rendered with the model's chat template into *pr
 * (o: max_tokens for the reply's room, truncation, template kwargs; o->truncated_messages
 * is set), decoding image parts into ci (which must outlive the generation). Shared by
 * /v1/chat/completions and the other APIs' chat routes so all build the same prompt.
 * Returns 0, or the HTTP status with *bad and *code (a short machine string) filled. */
struct api_server;
int api_chat_render_json(struct api_server *s, const cJSON *body, struct api_options *o, omni_prompt *pr,
                    struct api_chat_images *ci, struct api_bad_field *bad, const char **code);

#endif

/* Which of the server's models a request's name means, and what the server has now.
 * Every API that takes a model name by other tools' conventions (ollama's "name:tag")
 * asks here, so a server holding many models changes only this file. */
#ifndef OMNI_API_MODEL_NAMES_H
#define OMNI_API_MODEL_NAMES_H
#include "api/routes.h"

enum api_model_kind { API_MODEL_CHAT = 1, API_MODEL_EMBED = 2 };

/* One model the server has: its id (as /v1/models lists it) and the loaded model. */
struct api_served {
    const char *id;
    int kind;                   /* API_MODEL_CHAT or API_MODEL_EMBED */
    omni_model *model;          /* API_MODEL_CHAT */
    omni_embedder *embedder;    /* API_MODEL_EMBED */
    const char *path;           /* its file, or NULL when unknown */
};

/* The model a name means, or -1 when the server has none by that name. NULL or "" means
 * the default (the chat model, else the embedder). A name matches a model when, compared
 * without case, it is (1) the model's id or its general.name, (2) either of those once a
 * trailing ":latest" is dropped, or (3) for "base:tag", the id "base-tag" or an id that
 * starts with "base-tag-" or "base-tag." (a quantisation suffix: "qwen3:1.7b" finds
 * "qwen3-1.7b-q4_k_m"). The chat model is tried before the embedder. */
int api_find_model(struct api_server *s, const char *name, struct api_served *out);
/* The matching rule above for one model: 1 when name means the model known as id (and
 * general.name `general`, or NULL). Also used for catalog and store names. */
int api_name_means(const char *name, const char *id, const char *general);
/* What the server has loaded now, chat model first: the count (at most cap). */
int api_served_models(struct api_server *s, struct api_served *out, int cap);

#endif

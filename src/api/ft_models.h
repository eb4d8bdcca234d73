/* Fine-tuned models by name: "ft:BASE:SUFFIX:ID" (a fine-tuning job's fine_tuned_model),
 * "ft:…:ckpt-step-N" (one of its checkpoints) and "BASE+NAME" (NAME: a fine-tuned model's
 * id or the suffix of the user's latest succeeded job with that suffix) are the user's
 * own (another user's is a 404, as a missing one): the request runs on BASE with the
 * job's adapter loaded beside it (omni_model_add_adapter: no reload, several adapters
 * on one base, chosen per request). */
#ifndef OMNI_API_FT_MODELS_H
#define OMNI_API_FT_MODELS_H
#include <stddef.h>

#include "api/model_ref.h"
#include "api/routes.h"

/* 0: name is no fine-tuned model's (nothing written); 1: base names the base model, and
 * adapter the name the adapter goes by on it, path its file ("" for BASE+NAME that is no
 * fine-tuned model: the base's own adapter NAME, `serve --adapter NAME=FILE`); else the
 * HTTP status of the error written (404). */
int api_ft_resolve(struct api_server *s, struct mg_connection *c, const char *name, char *base, size_t base_cap,
                   char *adapter, size_t adapter_cap, char *path, size_t path_cap);
/* Loads the adapter (path) into the acquired model under name unless it has it; path "":
 * the model must have it already. 0, or the status of the error written. */
int api_ft_attach(struct mg_connection *c, omni_model *model, const char *name, const char *path);

/* A custom assistant's models are its author's: while this thread's request chats as an
 * assistant (api/routes_assistants.h), the fine-tuned model `name` (its default or one it
 * allows) is looked up among the author's models, so everyone who may use the assistant
 * gets its fine-tuned model, and nothing else of the author's. NULL, NULL: off. */
void api_ft_set_model_owner(const char *user_id, const char *name);

/* Adds the asking user's fine-tuned models (succeeded jobs, newest first) to a /v1/models
 * data array. */
void api_ft_list_models(struct api_server *s, cJSON *data);
/* The model object of the user's fine-tuned model id, or NULL. */
cJSON *api_ft_model_object(struct api_server *s, const char *id);

#endif

/* The fine-tuning jobs' worker (OpenAI's /v1/fine_tuning/jobs, api/routes_fine_tuning.c):
 * one thread per server runs one job at a time, oldest first, from the database:
 * validating_files (the training and validation files read back and checked line by
 * line) -> queued -> running (omni_finetune in the background: its compute waits while
 * any chat request runs, so chat never starves) -> succeeded (the adapter in the job's
 * folder and the model id ft:BASE:SUFFIX:ID, usable at once) | failed (error {code,
 * message, param}) | cancelled. Each step is an event (type "metrics" with its loss,
 * for the loss curve); every epoch a checkpoint (training state and adapter).
 *
 * A restart: a job the server left running (kill -9, a crash, or a shutdown, which
 * stops training at the next step) is RESUMED from its last checkpoint (or from the
 * start when it had none), which gives the same adapter as a run straight through. */
#ifndef OMNI_API_FT_WORKER_H
#define OMNI_API_FT_WORKER_H
#include "api/routes.h"

struct api_ftw;

/* NULL when the server has no database or no s->p.ft_dir, or the thread cannot start. */
struct api_ftw *api_ftw_start(struct api_server *s);
/* Stops training at its next step (the job stays running, resumed at the next start). */
void api_ftw_stop(struct api_ftw *w);
/* A job was created or cancelled: look again. */
void api_ftw_wake(struct api_ftw *w);

/* The checks of a training or validation file (OpenAI's chat fine-tuning JSONL, prompt /
 * completion lines, or DPO pairs for method "dpo"): 0, or -1 with msg naming the line. */
int api_ft_check_jsonl(const char *data, size_t n, int dpo, char *msg, size_t cap);

#endif

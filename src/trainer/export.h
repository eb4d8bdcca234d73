/* Datasets from the trainers' work, as OpenAI's fine-tuning files (which `omni finetune`
 * reads as they are):
 *   "sft"  chat fine-tuning JSONL, one {"messages":[…]} per line: the conversation up to
 *          the answer, then the answer, the rewritten ideal answer replacing the original
 *          where a trainer wrote one; with min_rating, also original answers whose mean
 *          rubric score is at least that;
 *   "dpo"  preference JSONL, one {"input":{"messages":[…]}, "preferred_output":[…],
 *          "non_preferred_output":[…]} per line: the side-by-side winner over the loser
 *          (the majority of the "a"/"b" votes), and a rewrite over the original.
 * Only items whose source user consents now (tasks.h) are exported; every text is
 * scrubbed of personal data first (moderation/pii.h: e-mail, phone, card and resident
 * registration numbers become [EMAIL], [PHONE], [CARD], [RRN]). */
#ifndef OMNI_TRAINER_EXPORT_H
#define OMNI_TRAINER_EXPORT_H
#include <stddef.h>
#include <stdint.h>

#include "storage/storage.h"

struct texport_filter {
    int64_t from, to;           /* item time in ms, inclusive; 0 = open */
    const char *model;          /* answer A's or B's model; NULL = any */
    const char *assistant;      /* the conversation's assistant id */
    const char *tag;            /* the item's topic or a trainer's problem tag */
    const char *set_id;         /* one task set */
    double min_rating;          /* sft: original answers rated at least this (1-7); 0 = none */
};

/* 1 when format is "sft" or "dpo". */
int trainer_export_format_ok(const char *format);
/* *out (malloc'd, NUL-terminated, free()) gets the JSONL, *lines how many lines. */
int trainer_export(struct store *st, const char *format, const struct texport_filter *f, char **out, int64_t *lines,
                   struct err *e);
/* text with personal data replaced (malloc'd), NULL when out of memory. */
char *trainer_scrub(const char *text);
/* "YYYY-MM-DD" as ms at 00:00 UTC (end_of_day: the last ms of that day); -1 when bad. */
int64_t trainer_parse_day(const char *s, int end_of_day);

#endif

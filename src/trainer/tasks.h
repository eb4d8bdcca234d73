/* The trainers' work, stored beside the accounts (storage.h's database, SQLite or
 * PostgreSQL): task sets an admin makes, their items (a conversation up to an answer, from
 * a consented user's feedback or from an uploaded prompt set), and each trainer's
 * judgment of an item (rubric scores, a side-by-side choice, a rewritten ideal answer,
 * problem tags, the time spent, or a skip).
 *
 * A set has one kind of task:
 *   "rating"   the answer rated 1-7 on helpful, correct, harmless, follows_instructions,
 *              korean_naturalness
 *   "compare"  answers A and B side by side: "a", "b", "tie" or "both_bad"
 *   "rewrite"  the answer rewritten into the ideal one
 *   "tags"     problem tags on the answer
 * and per_item: how many trainers judge each item (2 gives the pairs the agreement
 * statistics need).
 *
 * Consent: an item from a user's conversation is only handed out (trainer_next) and only
 * exported while that user's effective consent is on (trainer_consented: their
 * "improve_model" setting, else the admin's server default "improve_model_default").
 *
 * Conventions as storage.h: 0 or a negative STORE_* code with e set; ids are generated;
 * strings marked heap are owned by the struct (free with the matching _free). */
#ifndef OMNI_TRAINER_TASKS_H
#define OMNI_TRAINER_TASKS_H
#include <stddef.h>
#include <stdint.h>

#include "storage/storage.h"

#define TRAINER_KIND_MAX 16
#define TRAINER_TAGS_MAX 1024
#define TRAINER_GUIDE_MAX 20000
#define TRAINER_TEXT_MAX (256 * 1024)   /* a prompt's messages, an answer, a rewrite */
#define TRAINER_N_CRITERIA 5
extern const char *const trainer_criteria[TRAINER_N_CRITERIA];
/* The four side-by-side outcomes, in the order the agreement statistics label them. */
extern const char *const trainer_choices[4];

/* 1 when kind is one of the four task kinds. */
int trainer_kind_ok(const char *kind);
/* 1 when the user's data may be used for training (their setting, else the server's
 * default); 0 otherwise or when the user is gone. */
int trainer_consented(struct store *st, const char *user_id);

struct tset {
    char id[STORE_ID_MAX];              /* "tset_…" */
    char owner_id[STORE_ID_MAX];
    char name[STORE_NAME_MAX];
    char kind[TRAINER_KIND_MAX];
    char model_a[STORE_MODEL_MAX];      /* uploaded prompts: the model that answers A ("" = the server's) */
    char model_b[STORE_MODEL_MAX];      /* compare: the model of B ("" = a second sample of A's) */
    char *guidelines;                   /* heap */
    int per_item;                       /* trainers per item, 1..10 */
    int active;
    int64_t created;
    int64_t n_items, n_done;            /* filled by list/get: items, judgments done */
};
void tset_free(struct tset *s);
void tsets_free(struct tset *s, size_t n);
int tset_create(struct store *st, const struct tset *in, struct tset *out, struct err *e);
int tset_get(struct store *st, const char *id, struct tset *out, struct err *e);
/* Newest first. */
int tset_list(struct store *st, struct tset **out, size_t *n, struct err *e);
/* Writes name, guidelines (when not NULL) and active. */
int tset_update(struct store *st, const struct tset *s, struct err *e);
int tset_delete(struct store *st, const char *id, struct err *e);

struct titem {
    char id[STORE_ID_MAX];              /* "titem_…" */
    char set_id[STORE_ID_MAX];
    char source_user[STORE_ID_MAX];     /* "" = an uploaded prompt */
    char source_msg[STORE_ID_MAX];      /* the answer's message id ("" = uploaded) */
    char assistant_id[STORE_ID_MAX];
    char topic[STORE_NAME_MAX];         /* topic tag (leaderboard per topic, export filter) */
    char model_a[STORE_MODEL_MAX], model_b[STORE_MODEL_MAX];
    char *prompt;                       /* heap: JSON array of {role, content}, before the answer */
    char *answer_a, *answer_b;          /* heap; NULL = not generated yet */
    int64_t seq, created;
};
void titem_free(struct titem *t);
void titems_free(struct titem *t, size_t n);
/* STORE_CONFLICT: that answer (source_msg) is already in the set. */
int titem_add(struct store *st, const struct titem *in, char *out_id, struct err *e);
int titem_get(struct store *st, const char *id, struct titem *out, struct err *e);
/* The items of a set (set_id NULL: every set), oldest first. */
int titem_list(struct store *st, const char *set_id, struct titem **out, size_t *n, struct err *e);
/* Stores a generated answer ('a' or 'b') unless one is there already (two trainers
 * opening the item at once: the first answer stays). */
int titem_set_answer(struct store *st, const char *id, char which, const char *text, const char *model, struct err *e);
/* The next item for trainer_id: in set_id (NULL: any active set), not yet judged or
 * skipped by them, with fewer than per_item done judgments, its source user consenting;
 * items that one trainer already did come first (so pairs form). STORE_NOTFOUND: none. */
int trainer_next(struct store *st, const char *set_id, const char *trainer_id, struct titem *out, struct err *e);
/* Adds the items of a set from consented users' feedback (only_down: thumbs-down only);
 * *added gets how many were new. */
int tset_fill_from_feedback(struct store *st, const char *set_id, int only_down, int64_t *added, struct err *e);
/* Adds the items of a set from consented users' conversations: the branch each shows, up to
 * its last answer (at most per_user conversations per user, newest first; <= 0: 50). */
int tset_fill_from_conversations(struct store *st, const char *set_id, int per_user, int64_t *added, struct err *e);

struct tjudg {
    char id[STORE_ID_MAX];              /* "tj_…" */
    char item_id[STORE_ID_MAX];
    char set_id[STORE_ID_MAX];
    char user_id[STORE_ID_MAX];         /* the trainer */
    char status[TRAINER_KIND_MAX];      /* "done" | "skipped" */
    char *scores;                       /* heap JSON {"helpful": 1-7, …} or "" */
    char choice[TRAINER_KIND_MAX];      /* "a" | "b" | "tie" | "both_bad" | "" */
    char *rewrite;                      /* heap, "" = none */
    char tags[TRAINER_TAGS_MAX];        /* comma-separated */
    char *comment;                      /* heap */
    int64_t time_ms, created;
};
void tjudg_free(struct tjudg *j);
void tjudgs_free(struct tjudg *j, size_t n);
/* One per (item, trainer): a second one replaces the first. */
int tjudg_put(struct store *st, const struct tjudg *in, char *out_id, struct err *e);
/* set_id / user_id / item_id NULL: any. Oldest first. */
int tjudg_list(struct store *st, const char *set_id, const char *user_id, const char *item_id, struct tjudg **out,
               size_t *n, struct err *e);

#endif

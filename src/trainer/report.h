/* The admin's view of the trainers' work, as JSON objects the HTTP routes answer:
 * agreement between trainers on the same items, a model leaderboard from side-by-side
 * votes, and each trainer's throughput. Computed from tasks.h's rows with stats.h. */
#ifndef OMNI_TRAINER_REPORT_H
#define OMNI_TRAINER_REPORT_H
#include <cJSON.h>

#include "storage/storage.h"

/* For one set: {"object":"agreement","set_id","kind","pairs":[{"trainers":[id,id],"items",
 * "percent_agreement","kappa", "criteria":{name:{items,percent_agreement,kappa}}}],
 * "overall":{items,percent_agreement,kappa}} (kappa null when undefined, overall null when
 * no two trainers met). Compare sets label a/b/tie/both_bad; rating sets each criterion's
 * 1-7 (overall pools the criteria); tag sets each tag's presence. NULL with e on failure. */
cJSON *trainer_agreement(struct store *st, const char *set_id, struct err *e);
/* Over every compare set (set_id NULL) or one: {"object":"leaderboard","method":
 * "bradley_terry","models":[{model,score,ci_low,ci_high,wins,losses,ties,games}…best first],
 * "topics":{topic:[…]}}; "both_bad" counts as a tie; two samples of one model are no game. */
cJSON *trainer_leaderboard(struct store *st, const char *set_id, struct err *e);
/* {"object":"list","data":[{trainer_id,email,name,done,skipped,time_ms,mean_ms,per_hour}]} */
cJSON *trainer_throughput(struct store *st, const char *set_id, struct err *e);

#endif

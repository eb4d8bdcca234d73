/* The statistics of the trainers' work: agreement between two trainers who judged the
 * same items (percent agreement and Cohen's kappa over nominal labels) and a model
 * leaderboard from side-by-side votes (Bradley-Terry strengths with confidence intervals,
 * on an Elo-like scale). Pure functions, no storage: the admin routes feed them. */
#ifndef OMNI_TRAINER_STATS_H
#define OMNI_TRAINER_STATS_H
#include <stddef.h>

#include "core/error.h"

/* Two raters' labels a[i], b[i] in [0, k) for n items. *agree: the share of items with
 * the same label; *kappa: Cohen's kappa (p_o - p_e) / (1 - p_e), NAN when p_e is 1 (both
 * raters always gave one and the same label: kappa is undefined). 0, or -1 with e set
 * (n < 1, a label out of range). */
int trainer_kappa(const int *a, const int *b, size_t n, int k, double *agree, double *kappa, struct err *e);

/* One side-by-side vote between models i and j: outcome 1 = i won, 0 = j won, 0.5 = tie. */
struct bt_game {
    int i, j;
    double outcome;
};
struct bt_rating {
    double theta;     /* log-strength, the ratings summing to zero */
    double se;        /* its standard error (inverse Fisher information, sum-zero constraint) */
    double score;     /* 1000 + 400/ln(10) * theta: an Elo-like number */
    double lo, hi;    /* the 95% interval of score: ±1.96 se on that scale */
    double wins, losses, ties;
    int games;
};
/* Maximum-likelihood Bradley-Terry over m models (Hunter's MM iteration; ties count half
 * a win each way). Where a model won or lost every game (no finite MLE), every model gets
 * one virtual tie against each model it met, which keeps the ratings finite. out[m].
 * 0, or -1 with e set (m < 2 or too large, an index out of range, out of memory). */
#define BT_MAX_MODELS 256
int trainer_bradley_terry(int m, const struct bt_game *g, size_t n, struct bt_rating *out, struct err *e);

#endif

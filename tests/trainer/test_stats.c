/* The trainers' statistics against numbers worked out by hand (the working is in the
 * comments): Cohen's kappa and percent agreement, Bradley-Terry ratings and intervals. */
#include <math.h>

#include "test.h"
#include "trainer/stats.h"

/* Two raters, 50 items, yes (0) / no (1): both yes 20, A yes B no 5, A no B yes 10, both
 * no 15. p_o = 35/50 = 0.7; A says yes 25/50, B 30/50; p_e = .5*.6 + .5*.4 = 0.5;
 * kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4. */
TEST(kappa_two_by_two) {
    int a[50], b[50], n = 0;
    for (int i = 0; i < 20; i++) a[n] = 0, b[n++] = 0;
    for (int i = 0; i < 5; i++) a[n] = 0, b[n++] = 1;
    for (int i = 0; i < 10; i++) a[n] = 1, b[n++] = 0;
    for (int i = 0; i < 15; i++) a[n] = 1, b[n++] = 1;
    double ag = 0, k = 0;
    CHECK(trainer_kappa(a, b, 50, 2, &ag, &k, NULL) == 0);
    CHECK_NEAR(ag, 0.7, 1e-12);
    CHECK_NEAR(k, 0.4, 1e-12);
}

/* Four labels (a, b, tie, both bad), 6 items:
 *   A: a a b t x a     (x = both bad)
 *   B: a b b t a a
 * same on items 1,3,4,6: p_o = 4/6. A's counts a3 b1 t1 x1, B's a3 b2 t1 x0:
 * p_e = (3*3 + 1*2 + 1*1 + 1*0) / 36 = 12/36 = 1/3; kappa = (2/3 - 1/3) / (2/3) = 0.5. */
TEST(kappa_four_labels) {
    int a[6] = {0, 0, 1, 2, 3, 0}, b[6] = {0, 1, 1, 2, 0, 0};
    double ag = 0, k = 0;
    CHECK(trainer_kappa(a, b, 6, 4, &ag, &k, NULL) == 0);
    CHECK_NEAR(ag, 4.0 / 6, 1e-12);
    CHECK_NEAR(k, 0.5, 1e-12);
}

/* Perfect agreement is kappa 1 unless only one label was ever used (undefined: NAN);
 * agreement no better than chance is 0. */
TEST(kappa_edges) {
    int a[4] = {0, 1, 0, 1}, b[4] = {0, 1, 0, 1}, c[4] = {2, 2, 2, 2}, d[4] = {0, 0, 1, 1};
    double ag, k;
    CHECK(trainer_kappa(a, b, 4, 3, &ag, &k, NULL) == 0);
    CHECK_NEAR(k, 1.0, 1e-12);
    CHECK(trainer_kappa(c, c, 4, 3, &ag, &k, NULL) == 0);
    CHECK_NEAR(ag, 1.0, 1e-12);
    CHECK(isnan(k));
    /* a = 0 1 0 1, d = 0 0 1 1: p_o = 1/2, p_e = 1/2 -> 0 */
    CHECK(trainer_kappa(a, d, 4, 2, &ag, &k, NULL) == 0);
    CHECK_NEAR(k, 0.0, 1e-12);
    struct err e = {{0}};
    CHECK(trainer_kappa(a, b, 0, 2, &ag, &k, &e) < 0);
    int bad[1] = {5};
    CHECK(trainer_kappa(bad, bad, 1, 2, &ag, &k, &e) < 0);
}

/* Two models, A beats B 7 times of 10. The MLE: p_A/p_B = 7/3, sum-zero theta_A =
 * ln(7/3)/2 = 0.423648; score 1000 + 200*log10(7/3) = 1073.5954. Fisher information
 * a = n q (1-q) = 10*.7*.3 = 2.1 on theta_A - theta_B; with theta_A = -theta_B the
 * variance of theta_A is 1/(4a) = 0.119048, se 0.345033; on the score scale
 * 400/ln10 * se = 59.9382, the 95% half-width 1.96 * that = 117.4788. */
TEST(bradley_terry_two_models) {
    struct bt_game g[10];
    for (int k = 0; k < 10; k++) g[k] = (struct bt_game){0, 1, k < 7 ? 1.0 : 0.0};
    struct bt_rating r[2];
    CHECK(trainer_bradley_terry(2, g, 10, r, NULL) == 0);
    CHECK_NEAR(r[0].theta, 0.423648, 1e-6);
    CHECK_NEAR(r[1].theta, -0.423648, 1e-6);
    CHECK_NEAR(r[0].score, 1073.5954, 1e-3);
    CHECK_NEAR(r[1].score, 926.4046, 1e-3);
    CHECK_NEAR(r[0].se, 0.345033, 1e-6);
    CHECK_NEAR(r[0].hi - r[0].score, 117.4788, 1e-3);
    CHECK_NEAR(r[0].score - r[0].lo, 117.4788, 1e-3);
    CHECK_EQ_INT(r[0].games, 10);
    CHECK_NEAR(r[0].wins, 7, 0);
    CHECK_NEAR(r[1].losses, 7, 0);
}

/* Ties are half a win each way: A-B 3 wins, 1 loss, 2 ties is w_A = 4 of 6, p_A/p_B = 2,
 * theta_A = ln2/2 = 0.346574. */
TEST(bradley_terry_ties) {
    struct bt_game g[6] = {{0, 1, 1}, {0, 1, 1}, {1, 0, 0}, {0, 1, 0}, {0, 1, 0.5}, {1, 0, 0.5}};
    struct bt_rating r[2];
    CHECK(trainer_bradley_terry(2, g, 6, r, NULL) == 0);
    CHECK_NEAR(r[0].theta, 0.346574, 1e-6);
    CHECK_NEAR(r[0].ties, 2, 0);
    CHECK_NEAR(r[0].wins, 3, 0);
}

/* Three models in a cycle with equal records (A>B 2:1, B>C 2:1, C>A 2:1) are equal:
 * every theta 0, score 1000. The pairs' information is 3 * (1/4) = 0.75 each; the
 * Laplacian [[1.5,-.75,-.75],…] has the pseudo-inverse diagonal 2/(9*.75) = 0.296296,
 * se 0.544331. */
TEST(bradley_terry_cycle) {
    struct bt_game g[9] = {{0, 1, 1}, {0, 1, 1}, {0, 1, 0}, {1, 2, 1}, {1, 2, 1}, {1, 2, 0},
                           {2, 0, 1}, {2, 0, 1}, {2, 0, 0}};
    struct bt_rating r[3];
    CHECK(trainer_bradley_terry(3, g, 9, r, NULL) == 0);
    for (int i = 0; i < 3; i++) {
        CHECK_NEAR(r[i].score, 1000, 1e-6);
        CHECK_NEAR(r[i].se, 0.544331, 1e-6);
    }
}

/* An unequal three-model case satisfies the likelihood equations at the answer:
 * w_i = sum_j n_ij p_i / (p_i + p_j) for every model, and the thetas sum to zero. */
TEST(bradley_terry_score_equations) {
    struct bt_game g[64];
    int n = 0;
    int rec[3][3] = {{0, 6, 4}, {2, 0, 5}, {3, 1, 0}}; /* rec[i][j]: times i beat j */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < rec[i][j]; k++) g[n++] = (struct bt_game){i, j, 1};
    struct bt_rating r[3];
    CHECK(trainer_bradley_terry(3, g, (size_t)n, r, NULL) == 0);
    double sum = 0;
    for (int i = 0; i < 3; i++) {
        double w = 0, exp_w = 0;
        for (int j = 0; j < 3; j++) {
            if (j == i) continue;
            w += rec[i][j];
            double nij = rec[i][j] + rec[j][i], pi = exp(r[i].theta), pj = exp(r[j].theta);
            exp_w += nij * pi / (pi + pj);
        }
        CHECK_NEAR(w, exp_w, 1e-8);
        sum += r[i].theta;
    }
    CHECK_NEAR(sum, 0, 1e-9);
    CHECK(r[0].score > r[1].score && r[1].score > r[2].score);
}

/* A model that won every game has no finite MLE: the virtual ties keep it finite
 * (A 3:0 B becomes 3.5 : 0.5 of 4 games: theta_A = ln(7)/2 = 0.972955). */
TEST(bradley_terry_unbeaten) {
    struct bt_game g[3] = {{0, 1, 1}, {0, 1, 1}, {1, 0, 0}};
    struct bt_rating r[2];
    CHECK(trainer_bradley_terry(2, g, 3, r, NULL) == 0);
    CHECK_NEAR(r[0].theta, 0.972955, 1e-6);
    CHECK(isfinite(r[0].se) && r[0].lo < r[0].score && r[0].hi > r[0].score);
    struct err e = {{0}};
    struct bt_game bad[1] = {{0, 0, 1}};
    CHECK(trainer_bradley_terry(2, bad, 1, r, &e) < 0);
    CHECK(trainer_bradley_terry(1, g, 0, r, &e) < 0);
}

int main(void) {
    TEST_EXPECT(8);
    RUN(kappa_two_by_two);
    RUN(kappa_four_labels);
    RUN(kappa_edges);
    RUN(bradley_terry_two_models);
    RUN(bradley_terry_ties);
    RUN(bradley_terry_cycle);
    RUN(bradley_terry_score_equations);
    RUN(bradley_terry_unbeaten);
    return test_summary();
}

/* Agreement and Bradley-Terry ratings; see stats.h. */
#include "trainer/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int trainer_kappa(const int *a, const int *b, size_t n, int k, double *agree, double *kappa, struct err *e) {
    if (n < 1 || k < 1) return err_set(e, "agreement needs at least one item rated by both");
    double *ca = calloc((size_t)k * 2, sizeof *ca);
    if (!ca) return err_set(e, "out of memory");
    double *cb = ca + k;
    size_t same = 0;
    for (size_t i = 0; i < n; i++) {
        if (a[i] < 0 || a[i] >= k || b[i] < 0 || b[i] >= k) {
            free(ca);
            return err_set(e, "label out of range");
        }
        ca[a[i]]++;
        cb[b[i]]++;
        same += a[i] == b[i];
    }
    double po = (double)same / (double)n, pe = 0;
    for (int c = 0; c < k; c++) pe += (ca[c] / (double)n) * (cb[c] / (double)n);
    free(ca);
    *agree = po;
    *kappa = pe >= 1.0 - 1e-12 ? NAN : (po - pe) / (1.0 - pe);
    return 0;
}

/* In-place inverse of the m x m matrix a (Gauss-Jordan, partial pivoting) into inv.
 * -1 when singular. */
static int invert(double *a, double *inv, int m) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++) inv[i * m + j] = i == j;
    for (int c = 0; c < m; c++) {
        int p = c;
        for (int r = c + 1; r < m; r++)
            if (fabs(a[r * m + c]) > fabs(a[p * m + c])) p = r;
        if (fabs(a[p * m + c]) < 1e-12) return -1;
        if (p != c)
            for (int j = 0; j < m; j++) {
                double t = a[c * m + j]; a[c * m + j] = a[p * m + j]; a[p * m + j] = t;
                t = inv[c * m + j]; inv[c * m + j] = inv[p * m + j]; inv[p * m + j] = t;
            }
        double d = a[c * m + c];
        for (int j = 0; j < m; j++) a[c * m + j] /= d, inv[c * m + j] /= d;
        for (int r = 0; r < m; r++) {
            if (r == c || a[r * m + c] == 0) continue;
            double f = a[r * m + c];
            for (int j = 0; j < m; j++) a[r * m + j] -= f * a[c * m + j], inv[r * m + j] -= f * inv[c * m + j];
        }
    }
    return 0;
}

int trainer_bradley_terry(int m, const struct bt_game *g, size_t n, struct bt_rating *out, struct err *e) {
    if (m < 2 || m > BT_MAX_MODELS) return err_set(e, "a leaderboard needs 2 to %d models", BT_MAX_MODELS);
    size_t mm = (size_t)m * (size_t)m;
    double *nij = calloc(mm * 3 + (size_t)m * 3, sizeof *nij);
    if (!nij) return err_set(e, "out of memory");
    double *fi = nij + mm, *inv = fi + mm, *w = inv + mm, *p = w + m, *np = p + m;
    memset(out, 0, (size_t)m * sizeof *out);
    for (size_t k = 0; k < n; k++) {
        int i = g[k].i, j = g[k].j;
        double o = g[k].outcome;
        if (i < 0 || i >= m || j < 0 || j >= m || i == j || !(o == 0 || o == 0.5 || o == 1)) {
            free(nij);
            return err_set(e, "game %zu: bad models or outcome", k);
        }
        nij[i * m + j]++, nij[j * m + i]++;
        w[i] += o, w[j] += 1 - o;
        out[i].games++, out[j].games++;
        if (o == 0.5) out[i].ties++, out[j].ties++;
        else if (o == 1) out[i].wins++, out[j].losses++;
        else out[j].wins++, out[i].losses++;
    }
    int degenerate = 0;
    for (int i = 0; i < m; i++) degenerate |= out[i].games > 0 && (w[i] <= 0 || w[i] >= out[i].games);
    if (degenerate) /* one virtual tie per pair that met */
        for (int i = 0; i < m; i++)
            for (int j = i + 1; j < m; j++)
                if (nij[i * m + j] > 0) nij[i * m + j]++, nij[j * m + i]++, w[i] += 0.5, w[j] += 0.5;
    for (int i = 0; i < m; i++) p[i] = 1;
    for (int it = 0; it < 100000; it++) {
        double delta = 0, lsum = 0;
        int live = 0;
        for (int i = 0; i < m; i++) {
            double den = 0;
            for (int j = 0; j < m; j++)
                if (j != i && nij[i * m + j] > 0) den += nij[i * m + j] / (p[i] + p[j]);
            np[i] = den > 0 ? w[i] / den : 1;
        }
        for (int i = 0; i < m; i++)
            if (out[i].games > 0) lsum += log(np[i]), live++;
        double gm = live ? exp(lsum / live) : 1; /* geometric mean 1 */
        for (int i = 0; i < m; i++) {
            double v = out[i].games > 0 ? np[i] / gm : 1;
            delta = fmax(delta, fabs(log(v) - log(p[i])));
            p[i] = v;
        }
        if (delta < 1e-13) break;
    }
    /* Fisher information of theta = log p: I_ii = sum_j n_ij q_ij (1 - q_ij), I_ij = -n_ij q_ij (1 - q_ij);
     * its null space is the all-ones vector, so the sum-zero covariance is (I + J/m)^-1 - J/m */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++) {
            if (i == j || nij[i * m + j] <= 0) continue;
            double q = p[i] / (p[i] + p[j]), v = nij[i * m + j] * q * (1 - q);
            fi[i * m + j] -= v;
            fi[i * m + i] += v;
        }
    for (size_t k = 0; k < mm; k++) fi[k] += 1.0 / m;
    int ok = invert(fi, inv, m) == 0;
    const double scale = 400.0 / log(10.0);
    for (int i = 0; i < m; i++) {
        out[i].theta = log(p[i]);
        double var = ok ? inv[i * m + i] - 1.0 / m : NAN;
        out[i].se = ok && var > 0 && out[i].games > 0 ? sqrt(var) : NAN;
        out[i].score = 1000 + scale * out[i].theta;
        out[i].lo = out[i].score - 1.96 * scale * out[i].se;
        out[i].hi = out[i].score + 1.96 * scale * out[i].se;
    }
    free(nij);
    return 0;
}

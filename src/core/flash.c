/* Tiled attention with an online softmax: the portable inner steps (the specification,
 * see flash.h) and the tile/chunk loops shared by every instruction level. */
#include "core/flash.h"

#include <math.h>
#include <string.h>

#include "core/cpu.h"
#include "core/dtype.h"
#include "core/fp16.h"
#include "core/matmul.h"
#include "core/ops.h"

extern const struct flash_kern flash_kern_avx2, flash_kern_avx512;

static inline long phys(const struct flash_kv *kv, int t) { return kv->ring > 0 ? t % kv->ring : t; }

static void load_scalar(float *kt, float *vt, const struct flash_kv *kv, int tb, int a, int b, int hd) {
    for (int d = 0; d < hd; d++)
        for (int j = 0; j < FLASH_TILE; j++) kt[d * FLASH_TILE + j] = 0;
    for (int j = a; j < b; j++) {
        long o = phys(kv, tb + j) * kv->stride;
        const uint16_t *kr = (const uint16_t *)((const char *)kv->k + o), *vr = (const uint16_t *)((const char *)kv->v + o);
        for (int d = 0; d < hd; d++) {
            kt[d * FLASH_TILE + j] = fp16_to_fp32(kr[d]);
            vt[(long)j * hd + d] = fp16_to_fp32(vr[d]);
        }
    }
}

/* a quantized cache (every level: dequantizing is exact and the same everywhere) */
static void load_quant(float *kt, float *vt, const struct flash_kv *kv, int tb, int a, int b, int hd) {
    for (int d = 0; d < hd; d++)
        for (int j = 0; j < FLASH_TILE; j++) kt[d * FLASH_TILE + j] = 0;
    float row[512];
    for (int j = a; j < b; j++) {
        long o = phys(kv, tb + j) * kv->stride;
        dequantize_row(kv->type, (const char *)kv->k + o, row, hd);
        for (int d = 0; d < hd; d++) kt[d * FLASH_TILE + j] = row[d];
        dequantize_row(kv->type, (const char *)kv->v + o, vt + (long)j * hd, hd);
    }
}

static void scores_scalar(float *s, const float *q, int n, int hd, const float *kt) {
    for (int r = 0; r < n; r++)
        for (int j = 0; j < FLASH_TILE; j++) {
            float a = 0;
            for (int d = 0; d < hd; d++) a = fmaf(q[(long)r * hd + d], kt[d * FLASH_TILE + j], a);
            s[r * FLASH_TILE + j] = a;
        }
}

static void expsum_scalar(float *p, float m, float *l) {
    for (int j = 0; j < FLASH_TILE; j++) {
        p[j] = ops_expf_ggml(p[j] - m);
        l[j % 8] += p[j];
    }
}

static void pv_scalar(float *acc, const float *p, const float *vt, int a, int b, int hd) {
    for (int j = a; j < b; j++)
        for (int d = 0; d < hd; d++) acc[d] = fmaf(p[j], vt[(long)j * hd + d], acc[d]);
}

static void pv2_scalar(float *acc0, float *acc1, const float *p0, const float *p1, const float *vt, int a, int b,
                       int hd) {
    pv_scalar(acc0, p0, vt, a, b, hd);
    pv_scalar(acc1, p1, vt, a, b, hd);
}

static float prep_scalar(float *p, int a, int b, float scale) {
    float mt = -INFINITY;
    for (int j = 0; j < FLASH_TILE; j++) {
        p[j] = j < a || j >= b ? -INFINITY : p[j] * scale;
        mt = p[j] > mt ? p[j] : mt;
    }
    return mt;
}

const struct flash_kern flash_kern_scalar = {load_scalar, scores_scalar, prep_scalar, expsum_scalar, pv_scalar,
                                             pv2_scalar, NULL, NULL, NULL, 0, NULL};

static const struct flash_kern *kern(int hd) {
    if (cpu_level() >= CPU_AVX512 && hd % 16 == 0) return &flash_kern_avx512;
    if (cpu_level() >= CPU_AVX2 && cpu_features()->f16c && hd % 8 == 0) return &flash_kern_avx2;
    return &flash_kern_scalar;
}

void flash_convert(const struct flash_kv *kv, int tb, int n, int hd, float *tile) {
    (kv->type == DT_F16 ? kern(hd)->load : load_quant)(tile, tile + (long)FLASH_TILE * hd, kv, tb, 0,
                                                       n < FLASH_TILE ? n : FLASH_TILE, hd);
}

long flash_scratch_floats(int head_dim) {
    return 2L * FLASH_TILE * head_dim + (long)FLASH_MAX_ROWS * FLASH_TILE + 16;
}

static inline int imax(int a, int b) { return a > b ? a : b; }
static inline int imin(int a, int b) { return a < b ? a : b; }

/* rows [i0, i1) of a tile's scores s -> p, their (m, l) and acc brought to the tile's max */
static void softmax_rows(const struct flash_kern *K, float *s, float *ml, float *acc, int i0, int i1, const int *ra,
                         const int *rb, int hd, float scale, float softcap) {
    float inv_cap = softcap > 0 ? 1.0f / softcap : 0;
    for (int i = i0; i < i1; i++) {
        int a = ra[i], b = rb[i];
        if (a >= b) continue;
        float *p = s + i * FLASH_TILE, mt;
        if (softcap > 0) {
            mt = -INFINITY;
            for (int j = 0; j < FLASH_TILE; j++) {
                p[j] = j < a || j >= b ? -INFINITY : tanhf(p[j] * inv_cap) * softcap * scale;
                mt = p[j] > mt ? p[j] : mt;
            }
        } else {
            mt = K->prep(p, a, b, scale);
        }
        float *st = ml + i * FLASH_ML, *ac = acc + (long)i * hd;
        if (mt > st[0]) {
            if (st[0] > -INFINITY) {
                float c = ops_expf_ggml(st[0] - mt);
                for (int j = 1; j < FLASH_ML; j++) st[j] *= c;
                for (int d = 0; d < hd; d++) ac[d] *= c;
            }
            st[0] = mt;
        }
        K->expsum(p, st[0], st + 1);
    }
}

/* P.V of rows [i0, i1) over their ranges in the loaded tile: four or two rows at a time
 * where their ranges overlap (each row still in order of j) */
static void pv_rows(const struct flash_kern *K, const float *s, float *acc, const float *vt, int i0, int i1,
                    const int *ra, const int *rb, const int *full, int hd) {
    for (int i = i0; i < i1; i += 2) {
        float *a0 = acc + (long)i * hd;
        const float *p0 = s + i * FLASH_TILE;
        if (K->pv4 && i + 4 <= i1 && full[i] && full[i + 1] && full[i + 2] && full[i + 3]) {
            K->pv4(a0, p0, vt, hd);
            i += 2;  /* four rows done: the loop steps two more */
            continue;
        }
        if (i + 1 == i1 || ra[i + 1] >= rb[i + 1] || ra[i] >= rb[i]) {
            if (ra[i] < rb[i]) K->pv(a0, p0, vt, ra[i], rb[i], hd);
            if (i + 1 < i1 && ra[i + 1] < rb[i + 1]) K->pv(a0 + hd, p0 + FLASH_TILE, vt, ra[i + 1], rb[i + 1], hd);
            continue;
        }
        int lo = imax(ra[i], ra[i + 1]), hi = imin(rb[i], rb[i + 1]);
        if (lo >= hi) {
            K->pv(a0, p0, vt, ra[i], rb[i], hd);
            K->pv(a0 + hd, p0 + FLASH_TILE, vt, ra[i + 1], rb[i + 1], hd);
            continue;
        }
        K->pv(a0, p0, vt, ra[i], lo, hd);
        K->pv(a0 + hd, p0 + FLASH_TILE, vt, ra[i + 1], lo, hd);
        K->pv2(a0, a0 + hd, p0, p0 + FLASH_TILE, vt, lo, hi, hd);
        K->pv(a0, p0, vt, hi, rb[i], hd);
        K->pv(a0 + hd, p0 + FLASH_TILE, vt, hi, rb[i + 1], hd);
    }
}

static inline int fusable(const struct flash_kern *K, const int *full, int i, int n, float softcap) {
    return K->rows4 && softcap <= 0 && i + 4 <= n && full[i] && full[i + 1] && full[i + 2] && full[i + 3];
}

void flash_chunk(const struct flash_rows *r, const struct flash_kv *kv, int t0, int t1, float scale,
                 float softcap, float *acc, float *ml, float *scratch) {
    int hd = r->head_dim, n = r->n;
    const struct flash_kern *K = kern(hd);
    float *kt = scratch, *vt = kt + (long)FLASH_TILE * hd, *s = vt + (long)FLASH_TILE * hd;
    int ulo = t1, uhi = t0;
    for (int i = 0; i < n; i++) {
        ml[i * FLASH_ML] = -INFINITY;
        for (int j = 1; j < FLASH_ML; j++) ml[i * FLASH_ML + j] = 0;
        memset(acc + (long)i * hd, 0, sizeof(float) * (size_t)hd);
        ulo = imin(ulo, imax(r->lo[i], t0));
        uhi = imax(uhi, imin(r->hi[i], t1));
    }
    for (int tb = ulo - ulo % FLASH_TILE; tb < uhi; tb += FLASH_TILE) {
        /* row i's positions in this tile [ra, rb); full[i]: the whole tile */
        int ra[FLASH_MAX_ROWS], rb[FLASH_MAX_ROWS], full[FLASH_MAX_ROWS];
        int whole = K->scores_kv && (kv->type == DT_F16 || ((kv->type == DT_Q8_0 || kv->type == DT_Q4_0) && K->in_place_quant)) &&
                    n <= FLASH_FEW_ROWS && hd % 32 == 0;
        for (int i = 0; i < n; i++) {
            ra[i] = imax(imax(r->lo[i], t0), tb) - tb, rb[i] = imin(imin(r->hi[i], t1), tb + FLASH_TILE) - tb;
            full[i] = ra[i] == 0 && rb[i] == FLASH_TILE;
            whole &= full[i];
        }
        if (whole) {
            K->scores_kv(s, r->q, n, hd, kv, tb);
            softmax_rows(K, s, ml, acc, 0, n, ra, rb, hd, scale, softcap);
            K->pv_kv(acc, s, n, hd, kv, tb);
            continue;
        }
        const float *ktp = kt, *vtp = vt;
        if (kv->tiles && tb / FLASH_TILE < kv->n_tiles) {
            ktp = kv->tiles + tb / FLASH_TILE * FLASH_TILE_FLOATS(hd);
            vtp = ktp + (long)FLASH_TILE * hd;
        } else {
            (kv->type == DT_F16 ? K->load : load_quant)(kt, vt, kv, tb, imax(ulo, tb) - tb,
                                                       imin(uhi, tb + FLASH_TILE) - tb, hd);
        }
        /* rows in fours that cover the whole tile in one fused pass where the level has
         * it; the runs of other rows (a causal block's diagonal, the remainder) step by step */
        for (int i = 0; i < n;) {
            if (fusable(K, full, i, n, softcap)) {
                K->rows4(acc + (long)i * hd, ml + i * FLASH_ML, r->q + (long)i * hd, hd, ktp, vtp, scale,
                         s + i * FLASH_TILE);
                i += 4;
                continue;
            }
            int j = i + 1;
            while (j < n && !fusable(K, full, j, n, softcap)) j++;
            K->scores(s + i * FLASH_TILE, r->q + (long)i * hd, j - i, hd, ktp);
            softmax_rows(K, s, ml, acc, i, j, ra, rb, hd, scale, softcap);
            pv_rows(K, s, acc, vtp, i, j, ra, rb, full, hd);
            i = j;
        }
    }
}

void flash_merge(int hd, float *acc, float *ml, const float *acc2, const float *ml2) {
    if (ml2[0] == -INFINITY) return;
    if (ml[0] == -INFINITY) {
        memcpy(ml, ml2, sizeof(float) * FLASH_ML);
        memcpy(acc, acc2, sizeof(float) * (size_t)hd);
        return;
    }
    float M = ml[0] > ml2[0] ? ml[0] : ml2[0];
    float c1 = ops_expf_ggml(ml[0] - M), c2 = ops_expf_ggml(ml2[0] - M);
    for (int j = 1; j < FLASH_ML; j++) ml[j] = ml[j] * c1 + ml2[j] * c2;
    for (int d = 0; d < hd; d++) acc[d] = acc[d] * c1 + acc2[d] * c2;
    ml[0] = M;
}

void flash_finish(int hd, float *out, const float *acc, const float *ml, float sink) {
    const float *l = ml + 1;
    float L = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])), c = 1;
    if (sink > -INFINITY) {
        float M = ml[0] > sink ? ml[0] : sink;
        c = ml[0] > -INFINITY ? ops_expf_ggml(ml[0] - M) : 0;
        L = L * c + ops_expf_ggml(sink - M);
    }
    if (!(L > 0)) {
        memset(out, 0, sizeof(float) * (size_t)hd);
        return;
    }
    float inv = c / L;
    for (int d = 0; d < hd; d++) out[d] = acc[d] * inv;
}

void flash_attend(const struct flash_rows *r, const struct flash_kv *kv, float scale, float softcap,
                  const float *sinks, float *const *out, float *accml, float *scratch) {
    int hd = r->head_dim, n = r->n;
    float *acc = accml, *ml = acc + (long)n * hd, *acc2 = ml + (long)n * FLASH_ML, *ml2 = acc2 + (long)n * hd;
    int lo = 1 << 30, hi = 0;
    for (int i = 0; i < n; i++) {
        lo = imin(lo, r->lo[i]);
        hi = imax(hi, r->hi[i]);
        ml[i * FLASH_ML] = -INFINITY;
        for (int j = 1; j < FLASH_ML; j++) ml[i * FLASH_ML + j] = 0;
        memset(acc + (long)i * hd, 0, sizeof(float) * (size_t)hd);
    }
    if (lo < 0) lo = 0;
    for (int c0 = lo - lo % FLASH_CHUNK; c0 < hi; c0 += FLASH_CHUNK) {
        flash_chunk(r, kv, c0, c0 + FLASH_CHUNK, scale, softcap, acc2, ml2, scratch);
        for (int i = 0; i < n; i++)
            flash_merge(hd, acc + (long)i * hd, ml + i * FLASH_ML, acc2 + (long)i * hd, ml2 + i * FLASH_ML);
    }
    for (int i = 0; i < n; i++)
        flash_finish(hd, out[i], acc + (long)i * hd, ml + i * FLASH_ML, sinks ? sinks[i] : -INFINITY);
}

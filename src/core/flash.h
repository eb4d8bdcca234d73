/* Tiled attention with an online softmax (flash-attention style) over an f16 KV cache,
 * for long contexts. The exact kernel (ops_attention_f16*) keeps one score per cached
 * position for each query and reads all of K and V once per query head; this one walks
 * the cache in tiles of FLASH_TILE positions, converts each K/V tile to f32 once, and
 * applies it to every query row of a group (the query heads that share a KV head, for
 * several tokens), so each tile is read once per group and stays in L1.
 *
 * Arithmetic (the specification; flash_avx2.c / flash_avx512.c give the same bits):
 * - score s = sum_d q[d] k[d], one fused multiply-add per d in order d = 0..HD-1; then
 *   s = softcap * tanh(s / softcap) when softcap > 0; then s *= scale.
 * - positions are taken in tiles aligned to absolute multiples of FLASH_TILE, and tiles in
 *   chunks aligned to multiples of FLASH_CHUNK. Within a chunk a row keeps (m, l[8], acc):
 *   per tile m' = max(m, tile max), acc and l scaled by exp(m - m') when m' > m, then
 *   p = exp(s - m') (ops_expf_ggml), l[t % 8] += p, acc[d] = fma(p, v[t][d], acc[d]) in
 *   position order. Chunks are merged in order (flash_merge), so a row's result depends
 *   only on its query and positions, never on the batch or on how work was split.
 * The sums differ from the exact kernel's order: outputs agree to float rounding, not bit
 * for bit (tests/core/test_flash.c bounds it). */
#ifndef OMNI_CORE_FLASH_H
#define OMNI_CORE_FLASH_H
#include <stdint.h>

#define FLASH_TILE 64
#define FLASH_CHUNK 512
#define FLASH_MAX_ROWS 64  /* query rows of one call */
#define FLASH_ML 9         /* floats of a row's softmax state: m, l[8] */

/* The cache one call reads: position t's K row (head_dim values of `type`: DT_F16, or
 * DT_Q8_0 / DT_Q4_0 blocks of 32, dequantized a tile at a time) at k + phys(t) * stride
 * bytes, phys(t) = t % ring when ring > 0 (a sliding window's ring buffer), t otherwise. */
struct flash_kv {
    const void *k, *v;
    long stride;
    int ring;
    int type;
    /* Optional (NULL: each call converts its tiles): tiles [0, n_tiles) already converted
     * by flash_convert, tile i's FLASH_TILE_FLOATS(head_dim) floats at tiles + i * that. A
     * prompt's blocks of rows all read the same tiles: converted once per layer instead
     * of once per block. */
    const float *tiles;
    int n_tiles;
};
/* floats of one converted tile: K transposed (kt[d * FLASH_TILE + j]), then V (vt[j * hd + d]) */
#define FLASH_TILE_FLOATS(hd) (2L * FLASH_TILE * (hd))

/* The query rows of one call: row r is q + r * head_dim (f32) and attends positions
 * [lo[r], hi[r]). */
struct flash_rows {
    int n, head_dim;
    const float *q;
    const int *lo, *hi;
};

/* Tile tb (a multiple of FLASH_TILE) of the cache converted to f32 into tile, as a call
 * would convert it itself: positions tb + j for j < n (K zero for the others). */
void flash_convert(const struct flash_kv *kv, int tb, int n, int head_dim, float *tile);

/* floats of scratch one thread needs for flash_chunk / flash_attend with head_dim */
long flash_scratch_floats(int head_dim);

/* Positions [t0, t1) (t0 a multiple of FLASH_CHUNK, t1 - t0 <= FLASH_CHUNK) from a fresh
 * state: writes each row's acc (head_dim floats, rows head_dim apart) and its m, l
 * (FLASH_ML floats per row). A row with no position there gets m = -inf, l = acc = 0. */
void flash_chunk(const struct flash_rows *r, const struct flash_kv *kv, int t0, int t1, float scale,
                 float softcap, float *acc, float *ml, float *scratch);
/* (acc, ml) = the state of both position sets, (acc, ml) first. */
void flash_merge(int head_dim, float *acc, float *ml, const float *acc2, const float *ml2);
/* out = acc / (sum of l), with a sink logit (gpt-oss; -INFINITY: none) joining the sum.
 * A row that saw no position gives zeros. */
void flash_finish(int head_dim, float *out, const float *acc, const float *ml, float sink);
/* The whole thing for each row: its chunks in order, merged, finished into out[r]
 * (head_dim floats); sinks[r] (NULL: none). accml: 2 * n * (head_dim + FLASH_ML) floats
 * of the caller's. */
void flash_attend(const struct flash_rows *r, const struct flash_kv *kv, float scale, float softcap,
                  const float *sinks, float *const *out, float *accml, float *scratch);

/* The inner steps, one set per instruction level (all give the same bits). */
struct flash_kern {
    /* kt[d * FLASH_TILE + j] and vt[j * hd + d] = K/V of position tb + j for j in [a, b);
     * kt is zero for the other j (vt is left as it is there) */
    void (*load)(float *kt, float *vt, const struct flash_kv *kv, int tb, int a, int b, int hd);
    /* s[r * FLASH_TILE + j] = sum_d q[r * hd + d] * kt[d * FLASH_TILE + j], for n rows */
    void (*scores)(float *s, const float *q, int n, int hd, const float *kt);
    /* p[j] *= scale for j in [a, b), -inf elsewhere; returns the largest p[j] */
    float (*prep)(float *p, int a, int b, float scale);
    /* p[j] = exp(p[j] - m) for all FLASH_TILE j, l[j % 8] += p[j] in order of j */
    void (*expsum)(float *p, float m, float *l);
    /* acc[d] = fma(p[j], vt[j * hd + d], acc[d]) for j in [a, b) in order */
    void (*pv)(float *acc, const float *p, const float *vt, int a, int b, int hd);
    /* pv for two rows over the same [a, b), each V row loaded once */
    void (*pv2)(float *acc0, float *acc1, const float *p0, const float *p1, const float *vt, int a, int b, int hd);
    /* Optional (NULL: load + scores and pv are used): for at most FLASH_FEW_ROWS rows that
     * all cover the whole tile tb..tb+FLASH_TILE-1 of an f16 or (when in_place_quant) a
     * Q8_0 / Q4_0 cache, scores and pv reading the cache itself (no tile copy), with the same
     * bits as load + scores and pv over [0, FLASH_TILE). head_dim % 32 == 0. */
    void (*scores_kv)(float *s, const float *q, int n, int hd, const struct flash_kv *kv, int tb);
    void (*pv_kv)(float *acc, const float *p, int n, int hd, const struct flash_kv *kv, int tb);
    /* Optional: pv for four rows (acc hd apart, p FLASH_TILE apart) over [0, FLASH_TILE) */
    void (*pv4)(float *acc, const float *p, const float *vt, int hd);
    int in_place_quant;  /* scores_kv / pv_kv also read Q8_0 and Q4_0 caches */
    /* Optional: four rows (q, acc hd apart; ml FLASH_ML apart) that all cover the whole
     * loaded tile, without softcap: scores, prep, the running-max rescale, expsum and pv4
     * in one pass, the same bits as those steps; p: 4 * FLASH_TILE floats of scratch */
    void (*rows4)(float *acc, float *ml, const float *q, int hd, const float *kt, const float *vt, float scale,
                  float *p);
};
#define FLASH_FEW_ROWS 8
extern const struct flash_kern flash_kern_scalar;
#endif

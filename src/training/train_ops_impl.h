/* The training ops (train_ops.h), written once for a real type R with function suffix S;
 * train_ops.c includes this file twice (float, double). No include guard on purpose. */
#define TOPS_CAT2(a, b) a##b
#define TOPS_CAT(a, b) TOPS_CAT2(a, b)
#define FN(name) TOPS_CAT(name, S)

/* dot product with 8 partial sums added in a fixed order, and y += a x: plain C in a
 * shape the compiler vectorizes, the same roundings on every CPU */
static inline R FN(dot)(const R *restrict a, const R *restrict b, int n) {
    R acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[i + k] * b[i + k];
    R s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static inline void FN(axpy)(R *restrict y, R a, const R *restrict x, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) y[i + k] += a * x[i + k];
    for (; i < n; i++) y[i] += a * x[i];
}

/* 8 values of R as one vector (GCC/Clang extension): element-wise multiplies and
 * adds, never fused, so a lane rounds as the scalar loop does; the compiler splits them
 * into what the target has. The _u types load and store at any float's alignment. */
typedef R TOPS_CAT(tops_v8, S) __attribute__((vector_size(8 * sizeof(R))));
typedef R TOPS_CAT(tops_v8u, S) __attribute__((vector_size(8 * sizeof(R)), aligned(sizeof(R)), may_alias));
#define V8 TOPS_CAT(tops_v8, S)
/* what comparing two V8 gives: a lane of R's width, all ones where true */
typedef __typeof__((V8){0} < (V8){0}) TOPS_CAT(tops_v8m, S);
#define V8M TOPS_CAT(tops_v8m, S)
#define LD8(p) (*(const TOPS_CAT(tops_v8u, S) *)(p))
#define ST8(p, v) (*(TOPS_CAT(tops_v8u, S) *)(p) = (v))

/* Where lanes are independent (a lane is one key's score, one output column) the AVX-512
 * build (TOPS_W16) takes 16 of them a vector: each lane still sums the same terms in the
 * same order, so the bits are the 8-lane build's. VW is that width, VW8 the 8-lane one. */
#ifdef TOPS_W16
#define VW 16
#else
#define VW 8
#endif
typedef R TOPS_CAT(tops_vw, S) __attribute__((vector_size(VW * sizeof(R))));
typedef R TOPS_CAT(tops_vwu, S) __attribute__((vector_size(VW * sizeof(R)), aligned(sizeof(R)), may_alias));
#define VWT TOPS_CAT(tops_vw, S)
#define LDW(p) (*(const TOPS_CAT(tops_vwu, S) *)(p))
#define STW(p, v) (*(TOPS_CAT(tops_vwu, S) *)(p) = (v))

/* dot(a, b_i) for four b_i (bs apart), each exactly as dot() sums it: the loads of a
 * serve four independent sums */
static inline __attribute__((always_inline)) void FN(dot4)(R out[4], const R *a, const R *b, size_t bs, int n) {
    V8 c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0};
    const R *b0 = b, *b1 = b + bs, *b2 = b1 + bs, *b3 = b2 + bs;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        V8 av = LD8(a + i);
        c0 += av * LD8(b0 + i), c1 += av * LD8(b1 + i), c2 += av * LD8(b2 + i), c3 += av * LD8(b3 + i);
    }
    V8 c[4] = {c0, c1, c2, c3};
    const R *bb[4] = {b0, b1, b2, b3};
    for (int q = 0; q < 4; q++) {
        R s = ((c[q][0] + c[q][4]) + (c[q][1] + c[q][5])) + ((c[q][2] + c[q][6]) + (c[q][3] + c[q][7]));
        for (int k = i; k < n; k++) s += a[k] * bb[q][k];
        out[q] = s;
    }
}

/* y[i] += sum_j c[j cs] X[j xs + i] over j = 0..m-1 in order, i < n: as m axpy() calls, with
 * y held in registers 64 columns at a time */
static inline void FN(axpy_rows)(R *restrict y, const R *c, size_t cs, const R *X, size_t xs, int m, int n) {
    enum { NV = 64 / VW }; /* vectors in a 64-column block */
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        VWT a[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) a[v] = LDW(y + i + v * VW);
        for (int j = 0; j < m; j++) {
            R cj = c[(size_t)j * cs];
            const R *x = X + (size_t)j * xs + i;
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) a[v] += cj * LDW(x + v * VW);
        }
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) STW(y + i + v * VW, a[v]);
    }
    for (; i + 8 <= n; i += 8) {
        V8 a = LD8(y + i);
        for (int j = 0; j < m; j++) a += c[(size_t)j * cs] * LD8(X + (size_t)j * xs + i);
        ST8(y + i, a);
    }
    for (; i < n; i++) {
        R a = y[i];
        for (int j = 0; j < m; j++) a += c[(size_t)j * cs] * X[(size_t)j * xs + i];
        y[i] = a;
    }
}

/* a transposed row's length for n keys: a whole, odd number of 64-byte lines, so the hd rows
 * a score reads do not crowd into a few L1 sets (at 512 keys, 2 KiB apart, they did) */
static inline size_t FN(tstride)(int n) { return ((((size_t)n * sizeof(R) + 63) / 64) | 1) * 64 / sizeof(R); }

/* KT[i ts + j] = K[j ks + i]: n keys of hd values, transposed */
static inline void FN(transpose)(R *KT, size_t ts, const R *K, size_t ks, int n, int hd) {
    for (int j = 0; j < n; j++)
        for (int i = 0; i < hd; i++) KT[(size_t)i * ts + j] = K[(size_t)j * ks + i];
}

/* p[j] = dot(q, key j) * scale for j < n, the keys transposed (KT, ts apart): eight keys a
 * vector, the eight partial sums of dot() in eight vectors, combined in dot()'s order, so
 * each score has dot()'s bits without a horizontal sum per key */
/* one block of W keys (vector type VT, its load/store LD/ST) of scores() */
#define TOPS_SCORES_BLOCK(VT, W, LD, ST)                                                                        \
    for (; j + W <= n; j += W) {                                                                                \
        VT a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};                      \
        const R *c = KT + j;                                                                                    \
        for (int i = 0; i < h8; i += 8) {                                                                       \
            a0 += q[i] * LD(c + (size_t)i * ts), a1 += q[i + 1] * LD(c + (size_t)(i + 1) * ts);                 \
            a2 += q[i + 2] * LD(c + (size_t)(i + 2) * ts), a3 += q[i + 3] * LD(c + (size_t)(i + 3) * ts);       \
            a4 += q[i + 4] * LD(c + (size_t)(i + 4) * ts), a5 += q[i + 5] * LD(c + (size_t)(i + 5) * ts);       \
            a6 += q[i + 6] * LD(c + (size_t)(i + 6) * ts), a7 += q[i + 7] * LD(c + (size_t)(i + 7) * ts);       \
        }                                                                                                       \
        VT sv = ((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7));                                              \
        for (int i = h8; i < hd; i++) sv += q[i] * LD(c + (size_t)i * ts);                                      \
        ST(p + j, sv * scale);                                                                                  \
    }
static inline void FN(scores)(R *p, const R *q, const R *KT, size_t ts, int n, int hd, R scale) {
    int j = 0, h8 = hd / 8 * 8;
#ifdef TOPS_W16
    TOPS_SCORES_BLOCK(VWT, VW, LDW, STW)
#endif
    TOPS_SCORES_BLOCK(V8, 8, LD8, ST8)
    for (; j < n; j++) {
        R acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int i = 0; i < h8; i += 8)
            for (int k = 0; k < 8; k++) acc[k] += q[i + k] * KT[(size_t)(i + k) * ts + j];
        R sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        for (int i = h8; i < hd; i++) sum += q[i] * KT[(size_t)i * ts + j];
        p[j] = sum * scale;
    }
}
#undef TOPS_SCORES_BLOCK

/* scores() for two query rows at once (q0 into p0, q1 into p1), each transposed key loaded
 * once for both: the same bits as two scores() calls */
static inline void FN(scores2)(R *p0, R *p1, const R *q0, const R *q1, const R *KT, size_t ts, int n, int hd,
                               R scale) {
    int j = 0, h8 = hd / 8 * 8;
    for (; j + VW <= n; j += VW) {
        VWT a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};
        VWT b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0}, b4 = {0}, b5 = {0}, b6 = {0}, b7 = {0};
        const R *c = KT + j;
        for (int i = 0; i < h8; i += 8) {
            VWT k0 = LDW(c + (size_t)i * ts), k1 = LDW(c + (size_t)(i + 1) * ts), k2 = LDW(c + (size_t)(i + 2) * ts),
                k3 = LDW(c + (size_t)(i + 3) * ts);
            a0 += q0[i] * k0, b0 += q1[i] * k0, a1 += q0[i + 1] * k1, b1 += q1[i + 1] * k1;
            a2 += q0[i + 2] * k2, b2 += q1[i + 2] * k2, a3 += q0[i + 3] * k3, b3 += q1[i + 3] * k3;
            VWT k4 = LDW(c + (size_t)(i + 4) * ts), k5 = LDW(c + (size_t)(i + 5) * ts), k6 = LDW(c + (size_t)(i + 6) * ts),
                k7 = LDW(c + (size_t)(i + 7) * ts);
            a4 += q0[i + 4] * k4, b4 += q1[i + 4] * k4, a5 += q0[i + 5] * k5, b5 += q1[i + 5] * k5;
            a6 += q0[i + 6] * k6, b6 += q1[i + 6] * k6, a7 += q0[i + 7] * k7, b7 += q1[i + 7] * k7;
        }
        VWT sa = ((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7)), sb = ((b0 + b4) + (b1 + b5)) + ((b2 + b6) + (b3 + b7));
        for (int i = h8; i < hd; i++) {
            VWT ki = LDW(c + (size_t)i * ts);
            sa += q0[i] * ki, sb += q1[i] * ki;
        }
        STW(p0 + j, sa * scale), STW(p1 + j, sb * scale);
    }
    if (j < n) FN(scores)(p0 + j, q0, KT + j, ts, n - j, hd, scale), FN(scores)(p1 + j, q1, KT + j, ts, n - j, hd, scale);
}

#ifdef TOPS_EXPF
/* exp(x) for x <= 0 on 8 floats (0 below -87): Cephes' expf (2^n by rounding x log2 e, the
 * remainder's degree-6 polynomial) in vector operations, multiply then add, so every
 * float build gives the same bits, and loops over scores vectorize where libm's exp does not */
typedef int TOPS_CAT(tops_v8i, S) __attribute__((vector_size(8 * sizeof(int))));
#define V8I TOPS_CAT(tops_v8i, S)
static inline void FN(exp8v)(V8 *xp) { /* *xp = exp(*xp) (pointers: an 8-float vector passed by
                                          * value would change the ABI in the SSE2 build) */
    V8 x = *xp;
    V8I small = x < -87.0f;
    x = (V8)(((V8I)x & ~small) | ((V8I)((V8){0} - 87.0f) & small));
    V8 n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    V8 r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    V8 y = 1.9875691500e-4f * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = (y * (r * r) + r) + 1.0f;
    V8I e = (__builtin_convertvector(n, V8I) + 127) << 23;
    y = y * (V8)e;
    *xp = (V8)((V8I)y & ~small);
}
static inline void FN(exp8)(R *p) {
    V8 x = LD8(p);
    FN(exp8v)(&x);
    ST8(p, x);
}
/* the logistic function 1 / (1 + e^-g) on 8 floats through exp8v of -|g| (never above 0):
 * e / (1 + e) for g < 0, 1 / (1 + e) otherwise */
static inline void FN(sigmoid8)(V8 *sg, const V8 *gp) {
    V8 g = *gp;
    V8I neg = g < 0;
    V8 e = (V8)(((V8I)g & neg) | ((V8I)((V8){0} - g) & ~neg));
    FN(exp8v)(&e);
    V8 r = 1.0f / (1.0f + e);
    *sg = (V8)(((V8I)(e * r) & neg) | ((V8I)r & ~neg));
}
/* p[j] = exp(p[j] - mx) for j < n (every p[j] <= mx) */
static inline void FN(exp_shift)(R *p, int n, R mx) {
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        ST8(p + j, LD8(p + j) - mx);
        FN(exp8)(p + j);
    }
    if (j < n) { /* the tail through the same lanes */
        R t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int e = 0; j + e < n; e++) t[e] = p[j + e] - mx;
        FN(exp8)(t);
        for (int e = 0; j + e < n; e++) p[j + e] = t[e];
    }
}
#undef V8I
#else
static inline void FN(exp_shift)(R *p, int n, R mx) {
    for (int j = 0; j < n; j++) p[j] = (R)exp(p[j] - mx);
}
#endif

/* one causal row's attention weights: p[j] = softmax(p)[j] for j < n. The maximum and the
 * sum run eight lanes wide (the sum as dot() orders it), not as one chain of n dependent
 * scalar steps */
static inline void FN(softmax_row)(R *p, int n) {
    R mx = -INFINITY;
    int j = 0;
    if (n >= 8) {
        V8 m = LD8(p);
        for (j = 8; j + 8 <= n; j += 8) {
            V8 v = LD8(p + j);
            V8M gt = v > m;
            m = (V8)(((V8M)v & gt) | ((V8M)m & ~gt));
        }
        for (int k = 0; k < 8; k++)
            if (m[k] > mx) mx = m[k];
    }
    for (; j < n; j++)
        if (p[j] > mx) mx = p[j];
    FN(exp_shift)(p, n, mx);
    V8 acc = {0};
    for (j = 0; j + 8 <= n; j += 8) acc += LD8(p + j);
    R sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; j < n; j++) sum += p[j];
    for (j = 0; j < n; j++) p[j] /= sum;
}

void FN(tops_rmsnorm_fwd)(R *y, const R *x, const R *w, int T, int n, R eps) {
    for (int t = 0; t < T; t++) {
        const R *xt = x + (size_t)t * n;
        R *yt = y + (size_t)t * n;
        double ss = 0;
        for (int i = 0; i < n; i++) ss += (double)xt[i] * xt[i];
        R r = (R)(1.0 / sqrt(ss / n + eps));
        for (int i = 0; i < n; i++) yt[i] = xt[i] * r * (w ? w[i] : 1);
    }
}

/* y_i = x_i r w_i with r = (mean x^2 + eps)^-1/2, dr/dx_j = -r^3 x_j / n:
 * dx_j = r w_j dy_j - r^3 x_j / n * sum_i dy_i w_i x_i */
void FN(tops_rmsnorm_bwd)(R *dx, const R *dy, const R *x, const R *w, int T, int n, R eps) {
    for (int t = 0; t < T; t++) {
        const R *xt = x + (size_t)t * n, *gt = dy + (size_t)t * n;
        R *dt = dx + (size_t)t * n;
        double ss = 0, dot = 0;
        for (int i = 0; i < n; i++) {
            ss += (double)xt[i] * xt[i];
            dot += (double)gt[i] * (w ? w[i] : 1) * xt[i];
        }
        double r = 1.0 / sqrt(ss / n + eps);
        R c = (R)(r * r * r * dot / n);
        for (int i = 0; i < n; i++) dt[i] += (R)r * (w ? w[i] : 1) * gt[i] - c * xt[i];
    }
}

void FN(tops_rope)(R *x, int T, int n_heads, int head_dim, int n_rot, int pos0, double theta, double freq_scale,
                   const float *ff, int neox, int dir) {
    int half = n_rot / 2;
    for (int t = 0; t < T; t++) {
        double p = (double)(pos0 + t) * freq_scale;
        for (int i = 0; i < half; i++) {
            double ang = p * pow(theta, -2.0 * i / n_rot) / (ff ? ff[i] : 1.0f);
            R c = (R)cos(ang), s = (R)(dir < 0 ? -sin(ang) : sin(ang));
            for (int h = 0; h < n_heads; h++) {
                R *v = x + (size_t)t * n_heads * head_dim + (size_t)h * head_dim;
                int ia = neox ? i : 2 * i, ib = neox ? i + half : 2 * i + 1;
                R a = v[ia], b = v[ib];
                v[ia] = a * c - b * s;
                v[ib] = a * s + b * c;
            }
        }
    }
}

/* query head h, rows [t0, t1) */
void FN(tops_attn_fwd_rows)(R *out, const R *q, const R *k, const R *v, int nh, int nkv, int hd, R scale, int h,
                            int t0, int t1, R *p) {
    int kh = h / (nh / nkv), qs = nh * hd, ks = nkv * hd;
    R *KT = p + t1;
    size_t ts = FN(tstride)(t1);
    FN(transpose)(KT, ts, k + (size_t)kh * hd, (size_t)ks, t1, hd);
    R *pn = KT + ts * hd; /* the next row's scores, made with this row's */
    for (int t = t0; t < t1; t++) {
        const R *qt = q + (size_t)t * qs + (size_t)h * hd;
        if ((t - t0) % 2 == 0 && t + 1 < t1)
            FN(scores2)(p, pn, qt, qt + qs, KT, ts, t + 2, hd, scale);
        else if ((t - t0) % 2)
            for (int j = 0; j <= t; j++) p[j] = pn[j];
        else
            FN(scores)(p, qt, KT, ts, t + 1, hd, scale);
        FN(softmax_row)(p, t + 1);
        R *ot = out + (size_t)t * qs + (size_t)h * hd;
        for (int i = 0; i < hd; i++) ot[i] = 0;
        FN(axpy_rows)(ot, p, 1, v + (size_t)kh * hd, (size_t)ks, t + 1, hd);
    }
}

void FN(tops_attn_fwd)(R *out, const R *q, const R *k, const R *v, int T, int nh, int nkv, int hd, R scale, int kh0,
                       int kh1, R *p) {
    int grp = nh / nkv;
    for (int h = kh0 * grp; h < kh1 * grp; h++) FN(tops_attn_fwd_rows)(out, q, k, v, nh, nkv, hd, scale, h, 0, T, p);
}

/* ds_j = p_j (dp_j - sum_i p_i dp_i), dp_j = dout . v_j; dq += scale sum ds_j k_j,
 * dk_j += scale ds_j q, dv_j += p_j dout. The query rows' part: rows [t0, t1) of head h
 * add into dq and leave p and ds in P, DS [T, T] (row t, columns j <= t) for the key part */
void FN(tops_attn_bwd_q)(R *dq, R *P, R *DS, const R *dout, const R *q, const R *k, const R *v, int T, int nh,
                         int nkv, int hd, R scale, int h, int t0, int t1, R *scr) {
    int kh = h / (nh / nkv), qs = nh * hd, ks = nkv * hd;
    size_t ts = FN(tstride)(t1);
    R *KT = scr, *VT = scr + ts * hd;
    FN(transpose)(KT, ts, k + (size_t)kh * hd, (size_t)ks, t1, hd);
    FN(transpose)(VT, ts, v + (size_t)kh * hd, (size_t)ks, t1, hd);
    for (int t = t0; t < t1; t++) {
        const R *qt = q + (size_t)t * qs + (size_t)h * hd, *gt = dout + (size_t)t * qs + (size_t)h * hd;
        R *p = P + (size_t)t * T, *dp = DS + (size_t)t * T;
        /* rows in pairs: the pair's first row gets one score too many, at column t + 1, which
         * nothing reads (the key part reads columns j <= t) */
        int pair = (t - t0) % 2 == 0 && t + 1 < t1, second = (t - t0) % 2;
        if (pair) {
            FN(scores2)(p, p + T, qt, qt + qs, KT, ts, t + 2, hd, scale);
            FN(scores2)(dp, dp + T, gt, gt + qs, VT, ts, t + 2, hd, 1);
        } else if (!second) {
            FN(scores)(p, qt, KT, ts, t + 1, hd, scale);
            FN(scores)(dp, gt, VT, ts, t + 1, hd, 1);
        }
        FN(softmax_row)(p, t + 1);
        R pdp = FN(dot)(p, dp, t + 1);
        for (int j = 0; j <= t; j++) dp[j] = p[j] * (dp[j] - pdp) * scale;
        FN(axpy_rows)(dq + (size_t)t * qs + (size_t)h * hd, dp, 1, k + (size_t)kh * hd, (size_t)ks, t + 1, hd);
    }
}

/* the key rows' part: key rows [j0, j1) of head h's kv head, from P and DS, t in order */
void FN(tops_attn_bwd_kv)(R *dk, R *dv, const R *P, const R *DS, const R *dout, const R *q, int T, int nh, int nkv,
                          int hd, int h, int j0, int j1) {
    int kh = h / (nh / nkv), qs = nh * hd, ks = nkv * hd;
    for (int j = j0; j < j1; j++) {
        size_t o = (size_t)j * ks + (size_t)kh * hd, a = (size_t)j * qs + (size_t)h * hd, c = (size_t)j * T + j;
        FN(axpy_rows)(dk + o, DS + c, (size_t)T, q + a, (size_t)qs, T - j, hd);
        FN(axpy_rows)(dv + o, P + c, (size_t)T, dout + a, (size_t)qs, T - j, hd);
    }
}

void FN(tops_attn_bwd)(R *dq, R *dk, R *dv, const R *dout, const R *q, const R *k, const R *v, int T, int nh,
                       int nkv, int hd, R scale, int kh0, int kh1, R *scr) {
    int grp = nh / nkv;
    R *P = scr, *DS = scr + (size_t)T * T;
    for (int h = kh0 * grp; h < kh1 * grp; h++) {
        FN(tops_attn_bwd_q)(dq, P, DS, dout, q, k, v, T, nh, nkv, hd, scale, h, 0, T, DS + (size_t)T * T);
        FN(tops_attn_bwd_kv)(dk, dv, P, DS, dout, q, T, nh, nkv, hd, h, 0, T);
    }
}

#ifdef TOPS_EXPF
/* SwiGLU's sigmoid eight at a time (sigmoid8: no call into libm per element); a tail of
 * n % 8 goes through the same lanes, padded with zeros */
void FN(tops_swiglu_fwd)(R *h, const R *g, const R *u, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        V8 gv = LD8(g + i), sg;
        FN(sigmoid8)(&sg, &gv);
        ST8(h + i, gv * sg * LD8(u + i));
    }
    if (i < n) {
        R tg[8] = {0}, tu[8] = {0}, th[8];
        for (long k = 0; i + k < n; k++) tg[k] = g[i + k], tu[k] = u[i + k];
        FN(tops_swiglu_fwd)(th, tg, tu, 8);
        for (long k = 0; i + k < n; k++) h[i + k] = th[k];
    }
}

void FN(tops_swiglu_bwd)(R *dg, R *du, const R *dh, const R *g, const R *u, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        V8 gv = LD8(g + i), d = LD8(dh + i), sg;
        FN(sigmoid8)(&sg, &gv);
        ST8(du + i, d * gv * sg);
        ST8(dg + i, d * LD8(u + i) * sg * (1.0f + gv * (1.0f - sg)));
    }
    if (i < n) {
        R tg[8] = {0}, tu[8] = {0}, td[8] = {0}, a[8], b[8];
        for (long k = 0; i + k < n; k++) tg[k] = g[i + k], tu[k] = u[i + k], td[k] = dh[i + k];
        FN(tops_swiglu_bwd)(a, b, td, tg, tu, 8);
        for (long k = 0; i + k < n; k++) dg[i + k] = a[k], du[i + k] = b[k];
    }
}
#else
void FN(tops_swiglu_fwd)(R *h, const R *g, const R *u, long n) {
    for (long i = 0; i < n; i++) h[i] = g[i] / (1 + (R)exp(-g[i])) * u[i];
}

void FN(tops_swiglu_bwd)(R *dg, R *du, const R *dh, const R *g, const R *u, long n) {
    for (long i = 0; i < n; i++) {
        R sg = 1 / (1 + (R)exp(-g[i]));
        du[i] = dh[i] * g[i] * sg;
        dg[i] = dh[i] * u[i] * sg * (1 + g[i] * (1 - sg));
    }
}
#endif

void FN(tops_linear_fwd)(R *y, const R *x, const R *W, const R *b, int T, int n_in, int n_out) {
    int t = 0;
    for (; t + 4 <= T; t += 4) /* four rows of x share each row of W */
        for (int o = 0; o < n_out; o++) {
            R d[4];
            FN(dot4)(d, W + (size_t)o * n_in, x + (size_t)t * n_in, (size_t)n_in, n_in);
            for (int q = 0; q < 4; q++) y[(size_t)(t + q) * n_out + o] = b ? b[o] + d[q] : d[q];
        }
    for (; t < T; t++)
        for (int o = 0; o < n_out; o++) {
            R d = FN(dot)(W + (size_t)o * n_in, x + (size_t)t * n_in, n_in);
            y[(size_t)t * n_out + o] = b ? b[o] + d : d;
        }
}

void FN(tops_linear_bwd_x)(R *dx, const R *dy, const R *W, int T, int n_in, int n_out) {
    /* dx[t] held in registers across o; a zero dy term adds +-0, which leaves a sum that started
     * at +0 as it is (the bits of skipping it) */
    for (int t = 0; t < T; t++)
        FN(axpy_rows)(dx + (size_t)t * n_in, dy + (size_t)t * n_out, 1, W, (size_t)n_in, n_out, n_in);
}

void FN(tops_linear_bwd_w)(R *dW, const R *dy, const R *x, int T, int n_in, int n_out) {
    for (int t = 0; t < T; t++)
        for (int o = 0; o < n_out; o++) {
            R g = dy[(size_t)t * n_out + o];
            if (g == 0) continue;
            FN(axpy)(dW + (size_t)o * n_in, g, x + (size_t)t * n_in, n_in);
        }
}

void FN(tops_lora_fwd)(R *y, R *u, const R *x, const R *A, const R *B, R s, int T, int n_in, int n_out, int r,
                       R *scr) {
    FN(tops_linear_fwd)(u, x, A, NULL, T, n_in, r);
    /* y[t][o] += s dot(B[o], u[t]): eight outputs a vector from B transposed (as the attention
     * scores), each with dot()'s bits */
    size_t ts = FN(tstride)(n_out);
    FN(transpose)(scr, ts, B, (size_t)r, n_out, r);
    R *d = scr + ts * r;
    for (int t = 0; t < T; t++) {
        FN(scores)(d, u + (size_t)t * r, scr, ts, n_out, r, 1);
        R *yt = y + (size_t)t * n_out;
        for (int o = 0; o < n_out; o++) yt[o] += s * d[o];
    }
}

/* du[t] = s B^T dy[t] for rows [t0, t1) (WRITTEN), o in order. Four rows and 16 columns at a
 * time in vectors, where a zero s dy[t][o] is added rather than skipped: its +-0 products
 * leave a sum that starts at +0 as it was, so the bits are the skipping loop's */
void FN(tops_lora_du)(R *du, const R *dy, const R *B, R s, int t0, int t1, int n_out, int r) {
    int r16 = r / 16 * 16, t = t0;
    for (; t + 4 <= t1; t += 4) {
        const R *g0 = dy + (size_t)t * n_out, *g1 = g0 + n_out, *g2 = g1 + n_out, *g3 = g2 + n_out;
        for (int k0 = 0; k0 < r16; k0 += 16) {
            V8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0};
            for (int o = 0; o < n_out; o++) {
                const R *bo = B + (size_t)o * r + k0;
                V8 b = LD8(bo), bh = LD8(bo + 8);
                R h0 = s * g0[o], h1 = s * g1[o], h2 = s * g2[o], h3 = s * g3[o];
                a0 += h0 * b, a1 += h1 * b, a2 += h2 * b, a3 += h3 * b;
                c0 += h0 * bh, c1 += h1 * bh, c2 += h2 * bh, c3 += h3 * bh;
            }
            R *d = du + (size_t)t * r + k0;
            ST8(d, a0), ST8(d + r, a1), ST8(d + 2 * r, a2), ST8(d + 3 * r, a3);
            ST8(d + 8, c0), ST8(d + r + 8, c1), ST8(d + 2 * r + 8, c2), ST8(d + 3 * r + 8, c3);
        }
    }
    for (int tt = t0; tt < t1; tt++) { /* the columns past r16 of the rows above, every column of the rest */
        int k0 = tt < t ? r16 : 0;
        if (k0 == r) continue;
        const R *gt = dy + (size_t)tt * n_out;
        R *dut = du + (size_t)tt * r;
        for (int k = k0; k < r; k++) dut[k] = 0;
        for (int o = 0; o < n_out; o++) {
            R g = s * gt[o];
            if (g == 0) continue;
            const R *bo = B + (size_t)o * r;
            for (int k = k0; k < r; k++) dut[k] += g * bo[k];
        }
    }
}

/* dB[o] += sum_t s dy[t][o] u[t] for rows [o0, o1) of dB, t in order; four rows and 16
 * columns at a time as in tops_lora_du (dB's sums start at +0 too) */
void FN(tops_lora_db)(R *dB, const R *dy, const R *u, R s, int T, int o0, int o1, int n_out, int r) {
    int r16 = r / 16 * 16, o = o0;
    for (; o + 4 <= o1; o += 4)
        for (int k0 = 0; k0 < r16; k0 += 16) {
            R *d = dB + (size_t)o * r + k0;
            V8 a0 = LD8(d), a1 = LD8(d + r), a2 = LD8(d + 2 * r), a3 = LD8(d + 3 * r);
            V8 c0 = LD8(d + 8), c1 = LD8(d + r + 8), c2 = LD8(d + 2 * r + 8), c3 = LD8(d + 3 * r + 8);
            for (int t = 0; t < T; t++) {
                const R *gt = dy + (size_t)t * n_out + o, *ut = u + (size_t)t * r + k0;
                V8 b = LD8(ut), bh = LD8(ut + 8);
                R h0 = s * gt[0], h1 = s * gt[1], h2 = s * gt[2], h3 = s * gt[3];
                a0 += h0 * b, a1 += h1 * b, a2 += h2 * b, a3 += h3 * b;
                c0 += h0 * bh, c1 += h1 * bh, c2 += h2 * bh, c3 += h3 * bh;
            }
            ST8(d, a0), ST8(d + r, a1), ST8(d + 2 * r, a2), ST8(d + 3 * r, a3);
            ST8(d + 8, c0), ST8(d + r + 8, c1), ST8(d + 2 * r + 8, c2), ST8(d + 3 * r + 8, c3);
        }
    for (int oo = o0; oo < o1; oo++) {
        int k0 = oo < o ? r16 : 0;
        if (k0 == r) continue;
        R *dbo = dB + (size_t)oo * r;
        for (int t = 0; t < T; t++) {
            R g = s * dy[(size_t)t * n_out + oo];
            if (g == 0) continue;
            const R *ut = u + (size_t)t * r;
            for (int k = k0; k < r; k++) dbo[k] += g * ut[k];
        }
    }
}

/* dA[k][i] += sum_t du[t][k] x[t][i] for columns [i0, i1), t in order */
void FN(tops_lora_da)(R *dA, const R *du, const R *x, int T, int n_in, int r, int i0, int i1) {
    /* dA's row held in registers across t (a zero du term adds +-0 to a sum that started at +0:
     * the bits of skipping it) */
    for (int k = 0; k < r; k++)
        FN(axpy_rows)(dA + (size_t)k * n_in + i0, du + k, (size_t)r, x + i0, (size_t)n_in, T, i1 - i0);
}

/* the pieces above over the whole ranges; each gradient element sums in the same order
 * whichever ranges a caller splits them into */
void FN(tops_lora_bwd)(R *dx, R *dA, R *dB, R *du, const R *dy, const R *x, const R *u, const R *A, const R *B, R s,
                       int T, int n_in, int n_out, int r) {
    FN(tops_lora_du)(du, dy, B, s, 0, T, n_out, r);
    FN(tops_lora_db)(dB, dy, u, s, T, 0, n_out, n_out, r);
    FN(tops_lora_da)(dA, du, x, T, n_in, r, 0, n_in);
    if (dx) FN(tops_linear_bwd_x)(dx, du, A, T, n_in, r);
}

void FN(tops_embed_fwd)(R *x, const R *E, const int *ids, int T, int n) {
    for (int t = 0; t < T; t++)
        for (int i = 0; i < n; i++) x[(size_t)t * n + i] = E[(size_t)ids[t] * n + i];
}

void FN(tops_embed_bwd)(R *dE, const R *dx, const int *ids, int T, int n) {
    for (int t = 0; t < T; t++)
        for (int i = 0; i < n; i++) dE[(size_t)ids[t] * n + i] += dx[(size_t)t * n + i];
}

double FN(tops_xent)(R *dz, R *logp, const R *z, const int *y, const R *w, int T, int V) {
    double loss = 0;
    for (int t = 0; t < T; t++) {
        const R *zt = z + (size_t)t * V;
        R *dzt = dz ? dz + (size_t)t * V : NULL;
        if (w && w[t] == 0) {
            if (dzt)
                for (int i = 0; i < V; i++) dzt[i] = 0;
            if (logp) logp[t] = 0;
            continue;
        }
        R wt = w ? w[t] : 1;
        R mx = zt[0];
        for (int i = 1; i < V; i++)
            if (zt[i] > mx) mx = zt[i];
        double sum = 0;
#ifdef TOPS_EXPF
        /* e_i = exp(z_i - max) eight at a time (kept in dz's row when there is one, which may
         * be z's own), summed in double in i's order; dz_i = w e_i / sum */
        R zy = zt[y[t]];
        int i = 0;
        for (; i + 8 <= V; i += 8) {
            V8 ev = LD8(zt + i) - mx;
            FN(exp8v)(&ev);
            if (dzt) ST8(dzt + i, ev);
            for (int k = 0; k < 8; k++) sum += ev[k];
        }
        if (i < V) { /* the tail through the same lanes, once */
            R tl[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (int e = 0; i + e < V; e++) tl[e] = zt[i + e] - mx;
            FN(exp8)(tl);
            for (int e = 0; i + e < V; e++) {
                if (dzt) dzt[i + e] = tl[e];
                sum += tl[e];
            }
        }
        double lse = log(sum) + mx, lp = zy - lse;
        if (logp) logp[t] = (R)lp;
        loss -= wt * lp;
        if (dzt) {
            R c = (R)(1.0 / sum);
            for (i = 0; i + 8 <= V; i += 8) ST8(dzt + i, LD8(dzt + i) * c * wt);
            for (; i < V; i++) dzt[i] = dzt[i] * c * wt;
            dzt[y[t]] -= wt;
        }
#else
        for (int i = 0; i < V; i++) sum += exp((double)(zt[i] - mx));
        double lse = log(sum) + mx, lp = zt[y[t]] - lse;
        if (logp) logp[t] = (R)lp;
        loss -= wt * lp;
        if (dzt) {
            for (int i = 0; i < V; i++) dzt[i] = wt * (R)exp(zt[i] - lse);
            dzt[y[t]] -= wt;
        }
#endif
    }
    return loss;
}

#undef V8
#undef V8M
#undef VW
#undef VWT
#undef LDW
#undef STW
#undef LD8
#undef ST8
#undef FN
#undef TOPS_CAT
#undef TOPS_CAT2

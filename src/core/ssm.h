/* Ops of recurrent ("linear attention") layers: a causal depthwise conv1d stepped one
 * token at a time over a small rolling state, L2 normalization, and the gated delta
 * rule (Gated DeltaNet: Qwen3.5, Qwen3-Next, Kimi-Linear). Each works on one token
 * (one row) so a prompt and the same tokens fed one by one compute exactly the same
 * thing: the recurrence is sequential by nature. Arithmetic as ggml's CPU ops
 * (ssm_conv, l2_norm, gated_delta_net, softplus) so results stay near llama.cpp's. */
#ifndef OMNI_CORE_SSM_H
#define OMNI_CORE_SSM_H

/* Causal depthwise conv1d over channels [c0, c1) of one token, kernel K:
 *   y[c] = sum_{t<K-1} state[c][t] * w[c][t] + x[c] * w[c][K-1]
 * state [C][K-1]: per channel the previous K-1 inputs, oldest first; shifted to
 * take x afterwards. w [C][K] (ggml's ssm_conv1d layout, kernel taps innermost).
 * y may alias x. */
void ops_conv1d_causal_step(float *y, float *state, const float *x, const float *w, int K, int c0, int c1);

/* x /= max(||x||_2, eps) (sum of squares in double, like ggml_l2_norm). */
void ops_l2norm(float *x, int n, float eps);

/* log(1 + e^x), x itself above 20 (ggml's softplus). */
float ops_softplus(float x);

/* x[i] = x[i] / (1 + e^-x[i]), the exp from ggml's vector polynomial (ggml_vec_silu). */
void ops_silu(float *x, int n);

/* One token of the gated delta rule for one head with key size = value size = n.
 * S [n][n] is the state stored transposed (S[j*n + i] = M[i][j], M: key x value):
 *   M *= decay;  d = (v - Mᵀk) * beta;  M += k dᵀ;  o = (Mᵀq) * scale
 * decay = exp(g) with g <= 0 the per-head forget gate, beta in (0, 1) the write
 * strength; q and k are expected L2-normalized. o may not alias q, k or v. */
void ops_delta_rule_step(float *restrict S, const float *restrict q, const float *restrict k,
                         const float *restrict v, float decay, float beta,
                         float scale, float *restrict o, int n);

#endif

/* Elementwise and row-wise vector operations of a transformer forward pass
 * (everything except the weight matrix products, which live in core/matmul.h).
 * Plain loops over contiguous floats, written so the compiler can vectorize them. */
#ifndef OMNI_CORE_OPS_H
#define OMNI_CORE_OPS_H
#include <stdint.h>

/* out = x / rms(x) * w (w may be NULL: no gain). out may alias x. */
void ops_rmsnorm(float *out, const float *x, const float *w, int n, float eps);
/* In-place softmax of n values. */
void ops_softmax(float *x, int n);
/* x += y */
void ops_add(float *x, const float *y, int n);
/* x *= s */
void ops_scale(float *x, float s, int n);
/* out = silu(gate) * up (SwiGLU); out may alias gate. As ggml: the first n_vec
 * values (a row's whole 16-lane vectors: n - n % 16 when the call covers the row
 * from its start) take exp from ops_expf_ggml, the rest from libm's expf. */
void ops_swiglu(float *out, const float *gate, const float *up, int n, int n_vec);
/* out = gelu(gate) * up (GEGLU, gemma) in ggml's arithmetic: gate rounded to f16, its
 * tanh-form GELU rounded to f16 again (ggml's table), times up in f32; gate <= -10
 * gives 0 and gate >= 10 gives gate * up. out may alias gate. */
void ops_geglu(float *out, const float *gate, const float *up, int n);
/* x = cap * tanh(x / cap) for n values (gemma's soft-capping of logits) */
void ops_softcap(float *x, float cap, int n);

/* Rotary position embedding: cs receives n_rot/2 (cos, sin) pairs for position
 * pos; pair i turns by pos * theta_base^(-2i/n_rot) / freq_factors[i] * freq_scale
 * (freq_factors: llama-3 style per-pair factors, or NULL). */
void ops_rope_cache(float *cs, int n_rot, int pos, float theta_base, float freq_scale,
                    const float *freq_factors);
/* The same with both cos and sin multiplied by mscale (the rope attention factor of
 * LongRoPE / rope.scaling.attn_factor; 1 gives ops_rope_cache's values). */
void ops_rope_cache_ms(float *cs, int n_rot, int pos, float theta_base, float freq_scale,
                       const float *freq_factors, float mscale);
/* YaRN (ggml's rope_yarn): pair i turns by theta_e = pos * theta_base^(-2i/n_rot) /
 * freq_factors[i] blended with theta_i = freq_scale * theta_e: r = ext_factor * (1 -
 * clamp((i - corr[0]) / max(0.001, corr[1] - corr[0]), 0, 1)), theta = theta_i (1 - r) +
 * theta_e r; cos and sin scaled by mscale. */
void ops_rope_cache_yarn(float *cs, int n_rot, int pos, float theta_base, float freq_scale,
                         const float *freq_factors, float mscale, float ext_factor, const float corr[2]);
/* Rotates the first n_rot dims of each of n_heads head vectors (head_dim apart) in x.
 * neox = 0: pairs (2i, 2i+1) (llama GGUF); neox = 1: pairs (i, i + n_rot/2). */
void ops_rope(float *x, int n_heads, int head_dim, int n_rot, const float *cs, int neox);

/* f16 rows (the KV cache) */
void ops_f32_to_f16(uint16_t *out, const float *x, int n);
/* dot(q, k) with k in f16 */
float ops_dot_f16(const float *q, const uint16_t *k, int n);
/* y += a * v with v in f16 */
void ops_axpy_f16(float *y, float a, const uint16_t *v, int n);

/* Dot-product attention of one query head over n_kv cached positions:
 * out = softmax(scale * q·K[t]) · V[t], K and V rows `stride` elements apart.
 * Computed in llama.cpp's CPU arithmetic (q and the probabilities rounded to f16,
 * ggml's expf, its summation orders), which depend on the batch: gemm != 0 when the
 * query is one of a batch of two or more tokens (llama.cpp then uses its tiled GEMM),
 * 0 for a lone token (dot products). att is scratch of ops_attention_scratch() floats. */
void ops_attention_f16(float *out, const float *q, const uint16_t *k, const uint16_t *v,
                       int n_kv, int head_dim, long stride, float scale, int gemm, float *att);
/* The same over positions n0..n_kv-1 only (a sliding window: earlier positions are
 * masked, as ggml masks them, so sums keep their order), with the scores soft-capped
 * first when softcap > 0: score = softcap * tanh(q·k / softcap) * scale (gemma2). */
void ops_attention_f16_ext(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n0, int n_kv,
                           int head_dim, long stride, float scale, float softcap, int gemm, float *att);
/* The same with an attention sink (gpt-oss): a per-head logit that joins the softmax's
 * max and sum (ggml: expf(sink - max) added after the row) and has no value row, so the
 * weights sum to less than 1. sink = -INFINITY: none (ops_attention_f16_ext). */
void ops_attention_f16_sink(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n0, int n_kv,
                            int head_dim, long stride, float scale, float softcap, float sink, int gemm, float *att);
long ops_attention_scratch(int n_ctx, int head_dim);
#define OPS_PAD32(n) (((n) + 31) & ~31)

/* The pieces, for tests and other models: ggml_v_expf's polynomial (scalar), and a
 * softmax summing it in ggml's 16-lane chunks (sum in double, then one scale). */
float ops_expf_ggml(float x);
void ops_softmax_ggml(float *x, int n);
#endif

/* Decoder-only LLMs from GGUF: hparams and tensor validation, the KV cache and the
 * batched forward pass shared by every family (the differences live in the
 * struct llm_arch of models/llama.c, qwen2.c, …). Weights are used in place in the
 * mmap'ed file; every weight product goes through matmul() with m = tokens. */
#include "models/llm.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bigbuf.h"
#include "core/dtype.h"
#include "core/flash.h"
#include "core/fp16.h"
#include "core/matmul.h"
#include "core/ops.h"
#include "models/arch.h"
#include "models/lora.h"
#include "models/moe.h"

static const struct llm_arch *const arch_table[] = {
    &llm_arch_llama,
    &llm_arch_qwen2,
    &llm_arch_qwen3,
    &llm_arch_exaone4,
    &llm_arch_phi3,
    &llm_arch_gemma2,
    &llm_arch_gemma3,
    &llm_arch_smollm3,
    &llm_arch_qwen35,
    &llm_arch_qwen3moe,
    &llm_arch_qwen35moe,
    &llm_arch_gpt_oss,
    &llm_arch_mistral3,
    &llm_arch_qwen3tts,
};

/* A batch is processed in chunks of at most this many tokens, so scratch memory
 * stays bounded for long prompts (later chunks see earlier ones through the cache). */
#define LLM_UBATCH 512
#define RING_ALIGN 64   /* the exact kernel's widest lane block (and FLASH_TILE) */

struct llm_layer {
    struct tensor attn_norm, wq, wk, wv, wo;
    struct tensor bq, bk, bv, q_norm, k_norm;  /* .data NULL when the family has none */
    struct tensor ffn_norm, ffn_gate, ffn_up, ffn_down;
    /* q|k|v and gate|up as one matrix when the file stores them back to back in one
     * type (.data NULL otherwise): one pass over the activations and one thread
     * dispatch instead of three or two; every output equals the separate product's */
    struct tensor wqkv, wgu;
    struct tensor post_attn_norm, post_ffn_norm;  /* .data NULL without post_norms */
    int swa;                   /* attends to the last n_swa positions only */
    int rope;                  /* 0: no rope (NoPE layer), 1: the global cache, 2: the local one */
    void *mix;  /* a recurrent layer's own tensors (arch->mixer), NULL for attention */
    int kv_slot;  /* an attention layer's index among them: its place in the KV cache */
    struct moe_layer moe;                      /* experts instead of ffn_gate/up/down (arch->moe) */
    struct tensor bo, sinks;                   /* attn_output.bias, attn_sinks.weight (gpt-oss) */
};

struct llm {
    struct llm_hparams hp;
    const struct llm_arch *arch;
    struct gguf *g;
    struct pool *pool;
    struct tensor tok_embd, output_norm, output;
    struct llm_layer *layers;
    int n_rot;
    const float *rope_factors; /* rope_freqs.weight or NULL */
    const float *rope_long, *rope_short;  /* LongRoPE factors (phi3), or NULL */
    int rope_swa_cache;        /* some layer ropes with the local base: a second rope cache */
    uint64_t n_params, weight_bytes;
    int n_mix;                 /* recurrent layers */
};

/* Everything a forward writes besides the KV caches: scratch for one chunk of up to
 * `cap` tokens, grown, never per token. The weights above are only read, so any number
 * of states may exist; each is used by one thread at a time (the engine's). */
struct llm_state {
    const struct llm *m;       /* the model whose shapes the buffers have */
    int cap;
    float *x, *xb, *q, *k, *v, *ao, *hb, *hb2, *cs;  /* q holds q|k|v rows, hb gate|up rows when fused */
    long att_cap;              /* floats of attention scratch, all threads */
    float *att;
    struct moe_scratch *moe;   /* the expert FFN's (arch->moe) */
    int *next_len;             /* [next_cap] per cache: validating a batch */
    int next_cap;
    float *ag;                 /* attention output gates (arch->attn_out_gate) */
    float *mix;                /* recurrent layers' scratch */
    size_t mix_cap;
    struct llm_rs_seq *rs;     /* [next_cap] per cache: a recurrent layer's view */
    const struct lora_use *lora;  /* adapters added after the weight products (borrowed), n_lora of them */
    int n_lora;
    const struct lora_use *seq_lora; /* per sequence (kv index): one more adapter for its rows
                                      * (.a NULL: none), n_seq_lora of them (borrowed) */
    int n_seq_lora;
    float *lora_buf;           /* their scratch, lora_cap floats */
    size_t lora_cap;
    /* the tiled attention's plan (blocks of tokens, tokens left to the exact kernel),
     * its per-thread scratch, and the per-chunk partial states of a split decode */
    int *fblk, *fexact;
    int fplan_cap;
    float *fscr;
    long fscr_cap;
    float *fpart;
    size_t fpart_cap;
    float *fconv;              /* a prompt's layer K/V tiles converted once (flash_convert) */
    size_t fconv_cap;
};

struct llm_kv {
    int n_layer, n_ctx, kv_dim;
    int type;                  /* DT_F16, DT_Q8_0 or DT_Q4_0 (llm_kv_new_type) */
    size_t row_bytes;          /* one position's K (or V) row of kv_dim values */
    size_t head_bytes;         /* one position's row of one KV head (head_dim values) */
    int n_head_kv;
    /* k, v: per attention layer (at off[slot]) one block per KV head, each n_ctx rows of
     * head_bytes (for a sliding-window layer with a ring, 2 * ring rows): a head's rows lie
     * side by side, so a decode step at depth streams each head's K and V as one run of
     * memory instead of a slice of every position's row (kv_span). */
    char *k, *v;
    /* Sliding-window layers keep a ring of their last `ring` positions instead of the
     * whole context (0: no ring, every layer holds n_ctx). Position p lives at row
     * p % ring and again at p % ring + ring, so any run of up to `ring` consecutive
     * positions is contiguous: the exact kernel reads a window as one span. ring is a
     * multiple of RING_ALIGN and at least n_swa + LLM_UBATCH + RING_ALIGN, so a chunk's
     * writes never reach a position one of its tokens still attends to (or reads masked). */
    int ring, n_swa;
    size_t *off;               /* [attention layer] byte offset of its rows in k and v */
    unsigned char *in_ring;    /* [attention layer] 1: a ring layer */
    int len;                   /* positions held */
    /* recurrent layers: their states (zero when len is 0), a checkpoint copy of them
     * as of ck_len positions (-1: none) and the position a forward should take the
     * next one at (ck_pos, -1: none); rs_off[l] is layer l's offset in both */
    float *rs, *rs_ck;
    size_t rs_n, *rs_off;
    int ck_pos, ck_len;
    size_t k_bytes;            /* bytes of k (and of v) */
    enum llm_flash flash;      /* which attention kernel (llm_kv_set_flash) */
};

struct llm_load_params llm_default_load_params(void) {
    struct llm_load_params p = {0};
    return p;
}

const struct llm_hparams *llm_hparams(const struct llm *m) { return &m->hp; }
const struct gguf *llm_gguf(const struct llm *m) { return m->g; }
struct pool *llm_pool(struct llm *m) { return m->pool; }
uint64_t llm_n_params(const struct llm *m) { return m->n_params; }
uint64_t llm_weight_bytes(const struct llm *m) { return m->weight_bytes; }

/* ---- loading ---- */

static void fmt_shape(char *buf, size_t cap, int n, const int64_t *ne) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)ne[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* Finds a tensor and checks its shape and type. A 1-D tensor (norm gain, bias)
 * must be F32 since the forward reads it as floats; a matrix must have a type
 * matmul supports. optional: a missing tensor is not an error (t->data = NULL). */
static int get_tensor3(struct llm *m, const char *name, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2,
                       int optional, struct tensor *t, struct err *e) {
    memset(t, 0, sizeof *t);
    int64_t i = gguf_find_tensor(m->g, name);
    if (i < 0) {
        if (optional) return 0;
        return err_set(e, "%s: tensor '%s' is missing", gguf_path(m->g), name);
    }
    gguf_tensor(m->g, i, t);
    int64_t want[4] = {ne0, n_dims > 1 ? ne1 : 1, n_dims > 2 ? ne2 : 1, 1};
    if (t->ne[0] != want[0] || t->ne[1] != want[1] || t->ne[2] != want[2] || t->ne[3] != 1) {
        char ws[96], hs[96];
        fmt_shape(ws, sizeof ws, n_dims, want);
        fmt_shape(hs, sizeof hs, t->n_dims, t->ne);
        return err_set(e, "%s: %s: expected %s, file has %s", gguf_path(m->g), name, ws, hs);
    }
    const struct dtype_info *di = dtype_info(t->type);
    if (n_dims == 1 && t->type != DT_F32)
        return err_set(e, "%s: %s: expected type f32, file has %s", gguf_path(m->g), name, dtype_name(t->type));
    if (!di || !di->supported || dtype_row_bytes(t->type, t->ne[0]) == 0)
        return err_set(e, "%s: %s: weight type %s is not supported (or rows of %lld do not fit its blocks)",
                       gguf_path(m->g), name, dtype_name(t->type), (long long)t->ne[0]);
    if (dtype_row_bytes(t->type, t->ne[0]) * (size_t)t->ne[1] * (size_t)t->ne[2] != t->nbytes)
        return err_set(e, "%s: %s: size %zu does not match its shape and type", gguf_path(m->g), name, t->nbytes);
    m->n_params += (uint64_t)tensor_nelements(t);
    m->weight_bytes += t->nbytes;
    return 0;
}

int llm_get_tensor(struct llm *m, const char *name, int n_dims, int64_t ne0, int64_t ne1, int optional,
                   struct tensor *t, struct err *e) {
    return get_tensor3(m, name, n_dims, ne0, ne1, 1, optional, t, e);
}

int llm_hp_int(const struct gguf *g, const char *arch, const char *key, int64_t def, int required, int min,
               int *out, struct err *e) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    int bad = 0;
    if (gguf_find_key(g, k) < 0) {
        if (required) return err_set(e, "%s: metadata key '%s' is missing", gguf_path(g), k);
        *out = (int)def;
        return 0;
    }
    int64_t v = gguf_get_int(g, k, def, &bad);
    if (bad) return err_set(e, "%s: metadata key '%s' should be an integer", gguf_path(g), k);
    if (v < min || v > (1 << 30)) return err_set(e, "%s: metadata key '%s' = %lld is out of range", gguf_path(g), k, (long long)v);
    *out = (int)v;
    return 0;
}

int llm_hp_period(const struct gguf *g, const char *arch, const char *key, int def, int *out, struct err *e) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    int64_t i = gguf_find_key(g, k);
    if (i >= 0 && gguf_kv_type(g, i) == GGUF_ARRAY) {  /* llama.cpp's get_key_or_arr into a scalar */
        *out = def;
        return 0;
    }
    return llm_hp_int(g, arch, key, def, 0, 0, out, e);
}

int llm_hp_float(const struct gguf *g, const char *arch, const char *key, double def, float *out, struct err *e) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    int bad = 0;
    double v = gguf_get_float(g, k, def, &bad);
    if (bad) return err_set(e, "%s: metadata key '%s' should be a number", gguf_path(g), k);
    *out = (float)v;
    return 0;
}

/* YaRN as llama.cpp sets it up (ext_factor 1, beta_fast 32, beta_slow 1, the correction
 * dims from rope.scaling.original_context_length), with its magnitude scale: its
 * context multiplies 0.1 ln(factor) + 1 by 1 / (1 + 0.1 ln(factor)) and the rope by
 * 1 + 0.1 ln(1 / freq_scale) again, in that float order. Must follow rope.freq_base,
 * rope.scaling.factor and rope.scaling.attn_factor. */
static int yarn_hparams(struct llm_hparams *hp, int n_rot, const struct gguf *g, struct err *e) {
    int n_orig;
    if (llm_hp_int(g, hp->arch, "rope.scaling.original_context_length", hp->n_ctx_train, 0, 1, &n_orig, e)) return -1;
    if (hp->rope_freq_scale >= 1.0f) return 0;  /* factor <= 1: plain rope */
    const float beta_fast = hp->yarn_beta_fast, beta_slow = hp->yarn_beta_slow, pi = 3.14159265358979323846f;
    float lb = 2 * logf(hp->rope_theta);
    float lo = floorf((float)n_rot * logf((float)n_orig / (beta_fast * 2 * pi)) / lb);
    float hi = ceilf((float)n_rot * logf((float)n_orig / (beta_slow * 2 * pi)) / lb);
    hp->yarn_corr[0] = lo > 0 ? lo : 0;
    hp->yarn_corr[1] = hi < (float)(n_rot - 1) ? hi : (float)(n_rot - 1);
    hp->rope_ext_factor = 1.0f;
    float factor = 1.0f / hp->rope_freq_scale;
    /* mscale(f, m) = 0.1 m ln(f) + 1 (1 for f <= 1); with a log multiplier (mscale_all_dim)
     * the magnitude is mscale(f, 1) / mscale(f, it) */
    float ms1 = factor <= 1.0f ? 1.0f : 0.1f * logf(factor) + 1.0f;
    float attn = ms1;
    if (hp->yarn_log_mul != 0.0f) attn = ms1 / (factor <= 1.0f ? 1.0f : 0.1f * hp->yarn_log_mul * logf(factor) + 1.0f);
    attn *= 1.0f / (1.0f + 0.1f * logf(factor));
    attn *= hp->rope_attn_factor;
    hp->rope_attn_factor = attn * (1.0f + 0.1f * logf(1.0f / hp->rope_freq_scale));
    return 0;
}

static int load_hparams(struct llm *m, struct err *e) {
    struct llm_hparams *hp = &m->hp;
    const struct gguf *g = m->g;
    struct gguf_str a = gguf_get_str(g, "general.architecture");
    if (!a.s) return err_set(e, "%s: metadata key 'general.architecture' is missing", gguf_path(g));
    if (a.len >= sizeof hp->arch) return err_set(e, "%s: general.architecture is too long", gguf_path(g));
    memcpy(hp->arch, a.s, a.len);
    hp->arch[a.len] = 0;
    for (size_t i = 0; i < sizeof arch_table / sizeof *arch_table; i++)
        if (!strcmp(arch_table[i]->name, hp->arch)) m->arch = arch_table[i];
    if (!m->arch) {
        char names[256] = "";
        for (size_t i = 0; i < sizeof arch_table / sizeof *arch_table; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", arch_table[i]->name);
        return err_set(e, "%s: architecture '%s' is not supported (supported: %s)", gguf_path(g), hp->arch, names);
    }
    const char *ar = hp->arch;

    if (llm_hp_int(g, ar, "embedding_length", 0, 1, 1, &hp->n_embd, e) ||
        llm_hp_int(g, ar, "block_count", 0, 1, 1, &hp->n_layer, e) ||
        llm_hp_int(g, ar, "attention.head_count", 0, 1, 1, &hp->n_head, e) ||
        llm_hp_int(g, ar, "attention.head_count_kv", hp->n_head, 0, 1, &hp->n_head_kv, e) ||
        llm_hp_int(g, ar, "feed_forward_length", 0, !m->arch->moe, 1, &hp->n_ff, e) ||
        llm_hp_int(g, ar, "context_length", 2048, 0, 1, &hp->n_ctx_train, e))
        return -1;
    if (hp->n_embd % hp->n_head)
        return err_set(e, "%s: embedding_length %d is not a multiple of head_count %d", gguf_path(g), hp->n_embd, hp->n_head);
    int hd = hp->n_embd / hp->n_head, hd_v;
    if (llm_hp_int(g, ar, "attention.key_length", hd, 0, 1, &hp->head_dim, e) ||
        llm_hp_int(g, ar, "attention.value_length", hp->head_dim, 0, 1, &hd_v, e))
        return -1;
    if (hd_v != hp->head_dim)
        return err_set(e, "%s: key_length %d != value_length %d is not supported", gguf_path(g), hp->head_dim, hd_v);
    if (hp->n_head % hp->n_head_kv)
        return err_set(e, "%s: head_count %d is not a multiple of head_count_kv %d", gguf_path(g), hp->n_head, hp->n_head_kv);
    if (llm_hp_float(g, ar, "attention.layer_norm_rms_epsilon", 1e-5, &hp->norm_eps, e) ||
        llm_hp_float(g, ar, "rope.freq_base", 10000.0, &hp->rope_theta, e))
        return -1;
    if (llm_hp_int(g, ar, "rope.dimension_count", hp->head_dim, 0, 2, &m->n_rot, e)) return -1;
    if (m->n_rot > hp->head_dim || m->n_rot % 2)
        return err_set(e, "%s: rope.dimension_count %d must be even and <= head size %d", gguf_path(g), m->n_rot, hp->head_dim);

    /* rope scaling: linear is a position scale; llama-3's per-frequency factors come
     * as the rope_freqs tensor; YaRN/longrope would change the math: refuse them. */
    hp->rope_freq_scale = 1.0f;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", ar);
    struct gguf_str st = gguf_get_str(g, key);
    float factor = 0;
    if (llm_hp_float(g, ar, "rope.scaling.factor", 0.0, &factor, e)) return -1;
    if (factor == 0 && llm_hp_float(g, ar, "rope.scale_linear", 0.0, &factor, e)) return -1;
    int yarn = st.s && st.len == 4 && !memcmp(st.s, "yarn", 4);
    if (st.s && !(st.len == 4 && !memcmp(st.s, "none", 4)) && !(st.len == 6 && !memcmp(st.s, "linear", 6)) && !yarn)
        return err_set(e, "%s: rope scaling type '%.*s' is not supported (only none, linear and yarn)", gguf_path(g),
                       (int)(st.len > 32 ? 32 : st.len), st.s);
    if (factor > 0 && !(st.s && st.len == 4 && !memcmp(st.s, "none", 4))) hp->rope_freq_scale = 1.0f / factor;

    if (llm_hp_float(g, ar, "rope.scaling.attn_factor", 1.0, &hp->rope_attn_factor, e) ||
        llm_hp_int(g, ar, "rope.scaling.original_context_length", hp->n_ctx_train, 0, 1, &hp->n_ctx_orig, e))
        return -1;
    hp->yarn_beta_fast = 32.0f, hp->yarn_beta_slow = 1.0f;  /* (a family hook may read its own) */
    hp->rope_theta_swa = hp->rope_theta;
    hp->rope_freq_scale_swa = hp->rope_freq_scale;
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);

    hp->rope_neox = m->arch->rope_neox;
    if (m->arch->moe) {
        if (llm_hp_int(g, ar, "expert_count", 0, 1, 1, &hp->n_expert, e) ||
            llm_hp_int(g, ar, "expert_used_count", 0, 1, 1, &hp->n_expert_used, e))
            return -1;
        if (hp->n_expert > 512 || hp->n_expert_used > hp->n_expert)
            return err_set(e, "%s: expert_used_count %d of expert_count %d is out of range (at most 512 experts)",
                           gguf_path(g), hp->n_expert_used, hp->n_expert);
        if (llm_hp_int(g, ar, "expert_feed_forward_length", hp->n_ff / hp->n_expert_used, 0, 1, &hp->n_ff_exp, e))
            return -1;
        /* the shared expert's length, as llama.cpp defaults it: feed_forward_length */
        if (m->arch->moe_shexp &&
            llm_hp_int(g, ar, "expert_shared_feed_forward_length", hp->n_ff, 0, 1, &hp->n_ff_shexp, e))
            return -1;
        if (m->arch->moe_shexp && hp->n_ff_shexp < 1)
            return err_set(e, "%s: the shared expert's length is missing (%s.expert_shared_feed_forward_length or "
                           "feed_forward_length)", gguf_path(g), ar);
    }
    if (m->arch->load_hparams && m->arch->load_hparams(hp, g, e)) return -1;
    if (yarn && yarn_hparams(hp, m->n_rot, g, e)) return -1;
    if (hp->attn_temp_scale != 0 && hp->attn_temp_floor < 1)
        return err_set(e, "%s: attention temperature scaling needs rope.scaling.original_context_length >= 1",
                       gguf_path(g));
    if (hp->n_swa < 0 || hp->swa_period < 0 || hp->nope_period < 0)
        return err_set(e, "%s: negative sliding window or layer period", gguf_path(g));
    return 0;
}

/* A view of n matrices as one (their rows stacked) when they are contiguous in the
 * file and share type and row length; out->data = NULL when they are not. */
static void fuse_rows(struct tensor *out, const struct tensor *const *parts, int n) {
    memset(out, 0, sizeof *out);
    int64_t rows = parts[0]->ne[1];
    size_t bytes = parts[0]->nbytes;
    for (int i = 1; i < n; i++) {
        if (parts[i]->type != parts[0]->type || parts[i]->ne[0] != parts[0]->ne[0] ||
            (const char *)parts[i - 1]->data + parts[i - 1]->nbytes != (const char *)parts[i]->data)
            return;
        rows += parts[i]->ne[1];
        bytes += parts[i]->nbytes;
    }
    *out = *parts[0];
    out->ne[1] = rows;
    out->nbytes = bytes;
}

/* Layer l's expert FFN (arch->moe): router, experts, their biases where the family has
 * them, and the shared expert where it has one (moe_shexp). */
static int load_moe(struct llm *m, int l, struct moe_layer *M, struct err *e) {
    const struct llm_hparams *hp = &m->hp;
    const struct llm_arch *a = m->arch;
    int E = hp->n_embd, X = hp->n_expert, FX = hp->n_ff_exp, FS = hp->n_ff_shexp, nb = !a->moe_biases;
    char n[96];
#define T(field, suffix, nd, ne0, ne1, opt) \
    (snprintf(n, sizeof n, "blk.%d." suffix, l), llm_get_tensor(m, n, nd, ne0, ne1, opt, &M->field, e))
#define T3(field, suffix, ne0, ne1, ne2) \
    (snprintf(n, sizeof n, "blk.%d." suffix, l), get_tensor3(m, n, 3, ne0, ne1, ne2, 0, &M->field, e))
    if (T(gate_inp, "ffn_gate_inp.weight", 2, E, X, 0) ||
        T3(gate_exps, "ffn_gate_exps.weight", E, FX, X) ||
        T3(up_exps, "ffn_up_exps.weight", E, FX, X) ||
        T3(down_exps, "ffn_down_exps.weight", FX, E, X) ||
        T(gate_inp_b, "ffn_gate_inp.bias", 1, X, 0, nb) ||
        T(gate_b, "ffn_gate_exps.bias", 2, FX, X, nb) ||
        T(up_b, "ffn_up_exps.bias", 2, FX, X, nb) ||
        T(down_b, "ffn_down_exps.bias", 2, E, X, nb))
        return -1;
    /* (the shared gate is [n_embd] or [n_embd, 1] in files: read as a one-row matrix) */
    if (a->moe_shexp &&
        (T(gate_shexp, "ffn_gate_shexp.weight", 2, E, FS, 0) || T(up_shexp, "ffn_up_shexp.weight", 2, E, FS, 0) ||
         T(down_shexp, "ffn_down_shexp.weight", 2, FS, E, 0) ||
         T(gate_inp_shexp, "ffn_gate_inp_shexp.weight", 2, E, 1, 0)))
        return -1;
    M->gate_inp_shexp.n_dims = 2;
#undef T
#undef T3
    return 0;
}

/* The rows output.weight must have: the vocabulary's, or (arch->output_rows_own) its own
 * when that is between 1 and the vocabulary. */
static int64_t out_rows(const struct llm *m, int V) {
    if (!m->arch->output_rows_own) return V;
    int64_t ti = gguf_find_tensor(m->g, "output.weight");
    struct tensor t;
    if (ti < 0 || gguf_tensor(m->g, ti, &t) || t.ne[1] < 1 || t.ne[1] > V) return V;
    return t.ne[1];
}

static int load_tensors(struct llm *m, const struct llm_load_params *p, struct err *e) {
    struct llm_hparams *hp = &m->hp;
    int E = hp->n_embd, HD = hp->head_dim, QD = hp->n_head * HD, KVD = hp->n_head_kv * HD, F = hp->n_ff;

    int64_t ti = gguf_find_tensor(m->g, "token_embd.weight");
    if (ti < 0) return err_set(e, "%s: tensor 'token_embd.weight' is missing", gguf_path(m->g));
    struct tensor te;
    gguf_tensor(m->g, ti, &te);
    hp->n_vocab = (int)te.ne[1];
    if (te.ne[1] < 1 || te.ne[1] > (1 << 24))
        return err_set(e, "%s: token_embd.weight has an implausible vocabulary of %lld", gguf_path(m->g), (long long)te.ne[1]);
    int V = hp->n_vocab;
    if (llm_get_tensor(m, "token_embd.weight", 2, E, V, 0, &m->tok_embd, e) ||
        llm_get_tensor(m, "output_norm.weight", 1, E, 0, 0, &m->output_norm, e) ||
        (!m->arch->output_is_embd &&
         llm_get_tensor(m, "output.weight", 2, E, out_rows(m, V), 1, &m->output, e)))
        return -1;
    hp->tied_output = m->output.data == NULL;
    if (hp->tied_output) m->output = m->tok_embd;

    struct tensor rf, rl, rs;
    if (llm_get_tensor(m, "rope_freqs.weight", 1, m->n_rot / 2, 0, 1, &rf, e) ||
        llm_get_tensor(m, "rope_factors_long.weight", 1, m->n_rot / 2, 0, 1, &rl, e) ||
        llm_get_tensor(m, "rope_factors_short.weight", 1, m->n_rot / 2, 0, 1, &rs, e))
        return -1;
    m->rope_factors = rf.data;
    m->rope_long = rl.data;
    m->rope_short = rs.data;

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return err_set(e, "out of memory");
    const struct llm_arch *a = m->arch;
    int QG = a->attn_out_gate ? 2 * QD : QD;  /* q rows, with the gates */
    for (int l = 0; l < hp->n_layer; l++) {
        struct llm_layer *L = &m->layers[l];
        char n[96];
#define T(field, suffix, nd, ne0, ne1, opt) \
        (snprintf(n, sizeof n, "blk.%d." suffix, l), llm_get_tensor(m, n, nd, ne0, ne1, opt, &L->field, e))
        if (a->mixer && a->mixer->load(m, l, &L->mix, e)) return -1;
        snprintf(n, sizeof n, "blk.%d.%s.weight", l, a->ffn_norm_name ? a->ffn_norm_name : "ffn_norm");
        if (llm_get_tensor(m, n, 1, E, 0, a->no_pre_norm, &L->ffn_norm, e)) return -1;
        if (L->mix) {
            m->n_mix++;
            if (T(attn_norm, "attn_norm.weight", 1, E, 0, 0) ||
                (a->moe ? load_moe(m, l, &L->moe, e)
                        : T(ffn_gate, "ffn_gate.weight", 2, E, F, 0) || T(ffn_up, "ffn_up.weight", 2, E, F, 0) ||
                              T(ffn_down, "ffn_down.weight", 2, F, E, 0)))
                return -1;
            const struct tensor *gu[] = {&L->ffn_gate, &L->ffn_up};
            fuse_rows(&L->wgu, gu, 2);
            L->rope = 1;
            if (p->progress) p->progress((float)(l + 1) / hp->n_layer, p->progress_ud);
            continue;
        }
        L->kv_slot = l - m->n_mix;
        /* q|k|v may come as one attn_qkv matrix (phi3; llama.cpp accepts it for any family) */
        if (T(attn_norm, "attn_norm.weight", 1, E, 0, a->no_pre_norm) ||
            T(wqkv, "attn_qkv.weight", 2, E, QG + 2 * KVD, 1))
            return -1;
        int own_qkv = L->wqkv.data != NULL;
        if (own_qkv && (snprintf(n, sizeof n, "blk.%d.attn_qkv.bias", l), gguf_find_tensor(m->g, n) >= 0))
            return err_set(e, "%s: %s: a bias on the fused q|k|v matrix is not supported", gguf_path(m->g), n);
        if ((!own_qkv && (T(wq, "attn_q.weight", 2, E, QG, 0) ||
                          T(wk, "attn_k.weight", 2, E, KVD, 0) ||
                          T(wv, "attn_v.weight", 2, E, KVD, 0))) ||
            T(wo, "attn_output.weight", 2, QD, E, 0) ||
            T(bq, "attn_q.bias", 1, QD, 0, !a->qkv_bias) ||
            T(bk, "attn_k.bias", 1, KVD, 0, !a->qkv_bias) ||
            T(bv, "attn_v.bias", 1, KVD, 0, !a->qkv_bias) ||
            T(q_norm, "attn_q_norm.weight", 1, HD, 0, !a->qk_norm) ||
            T(k_norm, "attn_k_norm.weight", 1, HD, 0, !a->qk_norm) ||
            /* (read only where the family has them: the post_attention_norm of qwen35 and
             * gpt-oss is their FFN's input norm, read above as ffn_norm_name says) */
            (a->post_norms && (T(post_attn_norm, "post_attention_norm.weight", 1, E, 0, 0) ||
                               T(post_ffn_norm, "post_ffw_norm.weight", 1, E, 0, 0))) ||
            T(bo, "attn_output.bias", 1, E, 0, !a->attn_out_bias) ||
            T(sinks, "attn_sinks.weight", 1, hp->n_head, 0, !a->attn_sinks))
            return -1;
        if (a->moe) {
            if (load_moe(m, l, &L->moe, e)) return -1;
        } else if ((a->fused_gate_up ? T(wgu, "ffn_up.weight", 2, E, 2 * F, 0)
                                     : T(ffn_gate, "ffn_gate.weight", 2, E, F, 0) || T(ffn_up, "ffn_up.weight", 2, E, F, 0)) ||
                   T(ffn_down, "ffn_down.weight", 2, F, E, 0))
            return -1;
#undef T
        const struct tensor *qkv[] = {&L->wq, &L->wk, &L->wv}, *gu[] = {&L->ffn_gate, &L->ffn_up};
        if (!own_qkv) fuse_rows(&L->wqkv, qkv, 3);
        if (!a->fused_gate_up) fuse_rows(&L->wgu, gu, 2);
        L->swa = hp->n_swa > 0 && (hp->swa_period == 0 || l % hp->swa_period < hp->swa_period - 1);
        L->rope = 1;
        if (hp->nope_period && (l + 1) % hp->nope_period == 0) L->rope = 0;
        if (hp->n_swa > 0 && a->swa_nope_global && !L->swa) L->rope = 0;
        if (L->rope && L->swa && a->swa_rope_own) L->rope = 2, m->rope_swa_cache = 1;
        if (p->progress) p->progress((float)(l + 1) / hp->n_layer, p->progress_ud);
    }
    return 0;
}

struct llm *llm_load(const char *path, const struct llm_load_params *p, struct err *e) {
    struct llm_load_params def = llm_default_load_params();
    if (!p) p = &def;
    struct llm *m = calloc(1, sizeof *m);
    if (!m) { err_set(e, "out of memory"); return NULL; }
    m->g = gguf_open_weights(path, e);
    if (!m->g || load_hparams(m, e) || load_tensors(m, p, e)) {
        llm_free(m);
        return NULL;
    }
    /* The process's pool: every model and every kind of work share its workers. */
    m->pool = pool_process(p->n_threads);
    if (!m->pool) {
        err_set(e, "cannot start the compute threads");
        llm_free(m);
        return NULL;
    }
    return m;
}

void llm_free(struct llm *m) {
    if (!m) return;
    if (m->g) gguf_close(m->g);
    for (int l = 0; m->layers && l < m->hp.n_layer; l++) free(m->layers[l].mix);
    free(m->layers);
    free(m);
}

struct llm_state *llm_state_new(const struct llm *m) {
    struct llm_state *st = calloc(1, sizeof *st);
    if (st) st->m = m;
    return st;
}

void llm_state_set_lora(struct llm_state *st, const struct lora_use *u, int n) {
    st->lora = n > 0 ? u : NULL;
    st->n_lora = n > 0 ? n : 0;
}

void llm_state_set_seq_lora(struct llm_state *st, const struct lora_use *u, int n) {
    st->seq_lora = n > 0 ? u : NULL;
    st->n_seq_lora = n > 0 ? n : 0;
}

void llm_state_free(struct llm_state *st) {
    if (!st) return;
    free(st->x); free(st->xb); free(st->q); free(st->k); free(st->v);
    free(st->ao); free(st->hb); free(st->hb2); free(st->cs);
    free(st->att);
    moe_scratch_free(st->moe);
    free(st->next_len);
    free(st->ag); free(st->mix); free(st->rs); free(st->lora_buf);
    free(st->fblk); free(st->fexact); free(st->fscr); free(st->fpart); free(st->fconv);
    free(st);
}

/* ---- KV cache ---- */

size_t llm_kv_bytes_per_pos(const struct llm *m, int type) {
    return 2 * (size_t)(m->hp.n_layer - m->n_mix) * dtype_row_bytes(type, (int64_t)m->hp.n_head_kv * m->hp.head_dim);
}

struct llm_kv *llm_kv_new(const struct llm *m, int n_ctx, struct err *e) {
    return llm_kv_new_type(m, n_ctx, DT_F16, e);
}

/* The ring a cache of n_ctx positions gets (0: none; see struct llm_kv). */
static int ring_for(const struct llm *m, int n_ctx) {
    if (m->hp.n_swa <= 0) return 0;
    long r = ((long)m->hp.n_swa + LLM_UBATCH + 2 * RING_ALIGN - 1) / RING_ALIGN * RING_ALIGN;
    return 2 * r < n_ctx ? (int)r : 0;   /* else the whole context is smaller */
}

size_t llm_kv_bytes_for(const struct llm *m, int n_ctx, int type) {
    const int ring = ring_for(m, n_ctx);
    const size_t row = dtype_row_bytes(type, (int64_t)m->hp.n_head_kv * m->hp.head_dim);
    size_t rows = 0;
    for (int l = 0; l < m->hp.n_layer; l++)
        if (!m->layers[l].mix) rows += (size_t)(ring && m->layers[l].swa ? 2 * ring : n_ctx);
    return 2 * rows * row;
}

struct llm_kv *llm_kv_new_type(const struct llm *m, int n_ctx, int type, struct err *e) {
    if (n_ctx < 1) { err_set(e, "KV cache: n_ctx %d must be positive", n_ctx); return NULL; }
    if (type != DT_F16 && type != DT_Q8_0 && type != DT_Q4_0) {
        err_set(e, "KV cache: type %s is not supported (f16, q8_0 or q4_0)", dtype_name(type));
        return NULL;
    }
    /* a quantized row per head: whole blocks of 32 (dequantized a head at a time) */
    if (type != DT_F16 && (m->hp.head_dim % 32 || m->hp.head_dim > 512)) {
        err_set(e, "KV cache: type %s needs a head size that is a multiple of 32 (this model's is %d)",
                dtype_name(type), m->hp.head_dim);
        return NULL;
    }
    struct llm_kv *kv = calloc(1, sizeof *kv);
    if (!kv) { err_set(e, "out of memory"); return NULL; }
    kv->n_layer = m->hp.n_layer;
    kv->n_ctx = n_ctx;
    kv->kv_dim = m->hp.n_head_kv * m->hp.head_dim;
    kv->type = type;
    kv->row_bytes = dtype_row_bytes(type, kv->kv_dim);
    kv->head_bytes = dtype_row_bytes(type, m->hp.head_dim);
    kv->n_head_kv = m->hp.n_head_kv;
    /* K/V for the attention layers only (recurrent ones keep a state instead) */
    const int n_att = kv->n_layer - m->n_mix;
    kv->off = calloc((size_t)(n_att > 0 ? n_att : 1), sizeof *kv->off);
    kv->in_ring = calloc((size_t)(n_att > 0 ? n_att : 1), 1);
    if (!kv->off || !kv->in_ring) {
        err_set(e, "out of memory");
        llm_kv_free(kv);
        return NULL;
    }
    kv->n_swa = m->hp.n_swa;
    kv->ring = ring_for(m, n_ctx);
    size_t n = 0;
    for (int l = 0; l < kv->n_layer; l++) {
        const struct llm_layer *L = &m->layers[l];
        if (L->mix || L->kv_slot < 0 || L->kv_slot >= n_att) continue;
        kv->in_ring[L->kv_slot] = kv->ring && L->swa;
        kv->off[L->kv_slot] = n;
        n += (size_t)(kv->in_ring[L->kv_slot] ? 2 * kv->ring : n_ctx) * kv->row_bytes;
    }
    kv->k_bytes = n;
    /* f16 by default like llama.cpp: half the memory and bandwidth of f32, and the golden
     * logits were computed with an f16 cache, so rounding matches theirs; Q8_0 / Q4_0
     * (llama.cpp's -ctk/-ctv) take about a half / a quarter of that again. Zeroed (lazily,
     * by the kernel): the exact kernel multiplies masked rows by 0, and those must be finite. */
    kv->k = bigbuf_alloc(n ? n : 1);
    kv->v = bigbuf_alloc(n ? n : 1);
    if (!kv->k || !kv->v) {
        err_set(e, "KV cache: out of memory for %zu MB", 2 * n >> 20);
        llm_kv_free(kv);
        return NULL;
    }
    kv->ck_pos = kv->ck_len = -1;
    if (m->n_mix) {
        if (!(kv->rs_off = calloc((size_t)kv->n_layer, sizeof *kv->rs_off))) goto oom;
        for (int l = 0; l < kv->n_layer; l++) {
            kv->rs_off[l] = kv->rs_n;
            if (m->layers[l].mix) kv->rs_n += m->arch->mixer->state_floats(m->layers[l].mix);
        }
        if (!(kv->rs = calloc(kv->rs_n, sizeof(float))) || !(kv->rs_ck = calloc(kv->rs_n, sizeof(float)))) goto oom;
    }
    return kv;
oom:
    err_set(e, "KV cache: out of memory for the recurrent state");
    llm_kv_free(kv);
    return NULL;
}

void llm_kv_free(struct llm_kv *kv) {
    if (!kv) return;
    bigbuf_free(kv->k, kv->k_bytes ? kv->k_bytes : 1);
    bigbuf_free(kv->v, kv->k_bytes ? kv->k_bytes : 1);
    free(kv->off);
    free(kv->in_ring);
    free(kv->rs); free(kv->rs_ck); free(kv->rs_off);
    free(kv);
}

int llm_kv_n_ctx(const struct llm_kv *kv) { return kv->n_ctx; }
int llm_kv_ring(const struct llm_kv *kv) { return kv->ring; }

int llm_is_recurrent(const struct llm *m) { return m->n_mix > 0; }
void llm_kv_set_flash(struct llm_kv *kv, enum llm_flash mode) { kv->flash = mode; }

size_t llm_kv_bytes(const struct llm_kv *kv) {
    return 2 * kv->k_bytes + 2 * kv->rs_n * sizeof(float);
}

/* Whether a ring still holds what a token at position p reads (its window and the masked
 * rows before it back to a multiple of RING_ALIGN) when the cache holds len positions. */
static int ring_has(const struct llm_kv *kv, int p, int len) {
    int from = p + 1 - kv->n_swa;
    from = from > 0 ? from - from % RING_ALIGN : 0;
    return !kv->ring || from >= len - kv->ring;
}

int llm_kv_truncate(struct llm_kv *kv, int n_keep) {
    if (n_keep < 0) n_keep = 0;
    if (kv->len <= n_keep) return kv->len;
    /* a ring forgot the positions a token at n_keep would see: nothing is kept */
    if (!ring_has(kv, n_keep, kv->len)) n_keep = 0;
    if (!kv->rs) return kv->len = n_keep;
    /* a recurrent state only moves forward: back to the checkpoint, or to nothing */
    if (kv->ck_len >= 0 && kv->ck_len <= n_keep) {
        memcpy(kv->rs, kv->rs_ck, kv->rs_n * sizeof(float));
        return kv->len = kv->ck_len;
    }
    memset(kv->rs, 0, kv->rs_n * sizeof(float));
    if (kv->ck_len > 0) kv->ck_len = -1;
    return kv->len = 0;
}

void llm_kv_checkpoint(struct llm_kv *kv, int n_pos) {
    if (!kv->rs || n_pos < 0) return;
    kv->ck_pos = -1;
    if (n_pos < kv->len) return;  /* passed already: the old copy stays */
    if (n_pos == kv->len) {
        memcpy(kv->rs_ck, kv->rs, kv->rs_n * sizeof(float));
        kv->ck_len = n_pos;
    } else {
        kv->ck_pos = n_pos;
    }
}

/* bytes from one KV head's block of a layer to the next head's */
static inline size_t kv_span(const struct llm_kv *kv, int layer) {
    return (size_t)(kv->in_ring[layer] ? 2 * kv->ring : kv->n_ctx) * kv->head_bytes;
}

/* byte offset of a position's row of KV head 0 (its first copy in a ring); head h's row is
 * h * kv_span further */
static inline size_t kv_off(const struct llm_kv *kv, int layer, int pos) {
    return kv->off[layer] + (size_t)(kv->in_ring[layer] ? pos % kv->ring : pos) * kv->head_bytes;
}

/* ---- forward ---- */

static int grow(float **p, size_t n) {
    float *q = realloc(*p, n * sizeof(float));
    if (!q) return -1;
    *p = q;
    return 0;
}

static struct moe_cfg moe_config(const struct llm *m) {
    const struct llm_hparams *hp = &m->hp;
    struct moe_cfg c = {.n_embd = hp->n_embd, .n_ff = hp->n_ff_exp, .n_expert = hp->n_expert,
                        .n_used = hp->n_expert_used, .gating = m->arch->moe_gating, .act = m->arch->moe_act,
                        .norm_w = m->arch->moe_norm_w, .n_ff_shexp = m->arch->moe_shexp ? hp->n_ff_shexp : 0};
    return c;
}

/* one thread's tiled-attention scratch: the kernel's, the query rows, their ranges and
 * the running and per-chunk states */
static long flash_thread_floats(int hd) {
    return flash_scratch_floats(hd) + (long)FLASH_MAX_ROWS * hd + 3 * FLASH_MAX_ROWS +
           2L * FLASH_MAX_ROWS * (hd + FLASH_ML);
}

static int ensure_scratch(const struct llm *m, struct llm_state *st, int n, int n_ctx) {
    const struct llm_hparams *hp = &m->hp;
    if (n > st->cap) {
        size_t N = (size_t)n, QD = (size_t)hp->n_head * hp->head_dim, KVD = (size_t)hp->n_head_kv * hp->head_dim;
        size_t QG = m->arch->attn_out_gate ? 2 * QD : QD;
        if (grow(&st->x, N * hp->n_embd) || grow(&st->xb, N * hp->n_embd) || grow(&st->q, N * (QG + 2 * KVD)) ||
            (m->arch->attn_out_gate && grow(&st->ag, N * QD)) ||
            grow(&st->k, N * KVD) || grow(&st->v, N * KVD) || grow(&st->ao, N * QD) ||
            grow(&st->hb, N * 2 * hp->n_ff) || grow(&st->hb2, N * hp->n_ff) || grow(&st->cs, N * 2 * m->n_rot))
            return -1;
        if (m->arch->moe) {
            struct moe_cfg mc = moe_config(m);
            if (moe_reserve(&st->moe, &mc, n)) return -1;
        }
        st->cap = n;
        size_t mix = 0;
        for (int l = 0; l < hp->n_layer; l++)
            if (m->layers[l].mix) {
                size_t f = m->arch->mixer->scratch_floats(m->layers[l].mix, n);
                if (f > mix) mix = f;
            }
        if (mix > st->mix_cap) {
            if (grow(&st->mix, mix)) return -1;
            st->mix_cap = mix;
        }
    }
    if (st->n_lora || st->n_seq_lora) {
        size_t lf = st->n_lora ? lora_scratch_floats(st->lora, st->n_lora, n) : 0;
        for (int i = 0; i < st->n_seq_lora; i++)
            if (st->seq_lora[i].a) {
                size_t f = lora_scratch_floats(&st->seq_lora[i], 1, n);
                if (f > lf) lf = f;
            }
        if (lf > st->lora_cap) {
            if (grow(&st->lora_buf, lf)) return -1;
            st->lora_cap = lf;
        }
    }
    long need = pool_size(m->pool) * ops_attention_scratch(n_ctx, hp->head_dim);
    if (need > st->att_cap) {
        if (grow(&st->att, (size_t)need)) return -1;
        st->att_cap = need;
    }
    need = pool_size(m->pool) * flash_thread_floats(hp->head_dim);
    if (need > st->fscr_cap) {
        if (grow(&st->fscr, (size_t)need)) return -1;
        st->fscr_cap = need;
    }
    if (n > st->fplan_cap) {
        int *a = realloc(st->fblk, sizeof(int) * 2 * (size_t)n);
        if (!a) return -1;
        st->fblk = a;
        if (!(a = realloc(st->fexact, sizeof(int) * (size_t)n))) return -1;
        st->fexact = a;
        st->fplan_cap = n;
    }
    return 0;
}

/* One chunk's state between the weight products. Everything between two products
 * is row-wise (one token at a time), so each such stretch is a single pool job over
 * the tokens: a thread dispatch is the expensive part on few cores, not the work. */
struct fwd {
    const struct llm *m;
    struct llm_state *st;
    struct llm_kv *const *kv;  /* token i's cache: kv[seq[i]] (kv[0] when seq is NULL) */
    int att_ctx;               /* the largest n_ctx among them: attention scratch per thread */
    int layer, n;
    const int32_t *tok, *pos, *seq;
    const float *embd;
    float *q, *k, *v;          /* projections, rows qs / ks / vs floats apart */
    int qs, ks, vs;
    float *gate, *up, *ffn;    /* gate and up rows gs apart; ffn: their SwiGLU, rows n_ff apart */
    int gs;
    const float *norm_w;       /* the next block's input norm (NULL: none, the block reads x) */
    const float *post_w;       /* the post-norm of the block whose output is in xb (NULL: none) */
    void (*row)(struct fwd *f, int i);
    /* attention: the next unclaimed (token, head) task, on a cache line of its own so
     * claiming does not evict the fields above from the other thread's cache */
    _Alignas(64) _Atomic long next;
    char pad[64 - sizeof(long)];
    /* the tiled attention's plan for this layer's chunk (the same for every layer) */
    int n_blk, n_exact, blk_tok, n_split;  /* blocks, exact tokens, tokens per block, chunks per task (split) */
    int n_sub, sub;                        /* a KV head's query heads in n_sub parts of sub (flash_plan) */
    long n_flash_tasks;
    int conv_tiles, conv;                  /* tiles per KV head in st->fconv; whether this layer has them */
};

/* the next block's input: x normed into xb, or x as is for a family without pre-norms */
static void block_input(struct fwd *f, float *xb, const float *x) {
    const struct llm_hparams *hp = &f->m->hp;
    if (f->m->arch->no_pre_norm) memcpy(xb, x, sizeof(float) * hp->n_embd);
    else ops_rmsnorm(xb, x, f->norm_w, hp->n_embd, hp->norm_eps);
}

/* the rope factors token i uses: llama-3 style rope_freqs, or LongRoPE's long ones when
 * its cache holds more than the original context (llama.cpp: n_ctx_seq > n_ctx_orig) */
static const float *rope_factors_for(const struct fwd *f, int i) {
    const struct llm *m = f->m;
    if (m->rope_factors || (!m->rope_long && !m->rope_short)) return m->rope_factors;
    int n_ctx = f->kv[f->seq ? f->seq[i] : 0]->n_ctx;
    return n_ctx > m->hp.n_ctx_orig && m->rope_long ? m->rope_long : m->rope_short;
}

/* layer 0's input: embedding (or given vector), rope angles, attention norm */
static void row_embed(struct fwd *f, int i) {
    const struct llm *m = f->m;
    struct llm_state *st = f->st;
    const struct llm_hparams *hp = &m->hp;
    int E = hp->n_embd;
    float *x = st->x + (size_t)i * E;
    if (f->embd) memcpy(x, f->embd + (size_t)i * E, sizeof(float) * E);
    else dequantize_row(m->tok_embd.type, (const char *)m->tok_embd.data + (size_t)f->tok[i] * dtype_row_bytes(m->tok_embd.type, E), x, E);
    if (m->arch->embd_scale_sqrt && !f->embd) ops_scale(x, sqrtf((float)E), E);  /* not image embeddings */
    float *cs = st->cs + (size_t)i * 2 * m->n_rot;
    const float *ff = rope_factors_for(f, i);
    if (hp->rope_ext_factor != 0)
        ops_rope_cache_yarn(cs, m->n_rot, f->pos[i], hp->rope_theta, hp->rope_freq_scale, ff, hp->rope_attn_factor,
                            hp->rope_ext_factor, hp->yarn_corr);
    else
        ops_rope_cache_ms(cs, m->n_rot, f->pos[i], hp->rope_theta, hp->rope_freq_scale, ff, hp->rope_attn_factor);
    if (m->rope_swa_cache)
        ops_rope_cache_ms(cs + m->n_rot, m->n_rot, f->pos[i], hp->rope_theta_swa, hp->rope_freq_scale_swa, ff,
                          hp->rope_attn_factor);
    block_input(f, st->xb + (size_t)i * E, x);
}

/* the residual of the block before (its output is in xb, post-normed first where the
 * family does), then the next block's input */
static void row_norm(struct fwd *f, int i) {
    const struct llm_hparams *hp = &f->m->hp;
    float *x = f->st->x + (size_t)i * hp->n_embd, *xb = f->st->xb + (size_t)i * hp->n_embd;
    if (f->post_w) ops_rmsnorm(xb, xb, f->post_w, hp->n_embd, hp->norm_eps);
    ops_add(x, xb, hp->n_embd);
    block_input(f, xb, x);
}

static void row_out_bias(struct fwd *f, int i) {
    const struct llm_hparams *hp = &f->m->hp;
    ops_add(f->st->xb + (size_t)i * hp->n_embd, f->m->layers[f->layer].bo.data, hp->n_embd);
}

/* biases, q/k norms, rope, and this token's K and V into the cache */
static void row_qkv(struct fwd *f, int i) {
    const struct llm *m = f->m;
    struct llm_state *st = f->st;
    const struct llm_hparams *hp = &m->hp;
    const struct llm_layer *L = &m->layers[f->layer];
    int HD = hp->head_dim, QD = hp->n_head * HD, KVD = hp->n_head_kv * HD;
    float *q = f->q + (size_t)i * f->qs, *k = f->k + (size_t)i * f->ks, *v = f->v + (size_t)i * f->vs;
    if (m->arch->attn_out_gate) /* [q_h | gate_h] per head -> q heads together, gates aside */
        for (int h = 0; h < hp->n_head; h++) {
            memcpy(st->ag + (size_t)i * QD + h * HD, q + 2 * h * HD + HD, sizeof(float) * HD);
            memmove(q + h * HD, q + 2 * h * HD, sizeof(float) * HD);
        }
    if (L->bq.data) {
        ops_add(q, L->bq.data, QD);
        ops_add(k, L->bk.data, KVD);
        ops_add(v, L->bv.data, KVD);
    }
    if (L->q_norm.data) {
        for (int h = 0; h < hp->n_head; h++) ops_rmsnorm(q + h * HD, q + h * HD, L->q_norm.data, HD, hp->norm_eps);
        for (int h = 0; h < hp->n_head_kv; h++) ops_rmsnorm(k + h * HD, k + h * HD, L->k_norm.data, HD, hp->norm_eps);
    }
    if (L->rope) {
        const float *cs = st->cs + (size_t)i * 2 * m->n_rot + (L->rope == 2 ? m->n_rot : 0);
        ops_rope(q, hp->n_head, HD, m->n_rot, cs, hp->rope_neox);
        ops_rope(k, hp->n_head_kv, HD, m->n_rot, cs, hp->rope_neox);
    }
    if (m->arch->q_prescale) ops_scale(q, hp->attn_scale, QD);
    if (hp->attn_temp_scale != 0) {  /* float position and quotient, the rest in double, as llama.cpp */
        float pf = (float)f->pos[i];
        double t = log((double)floorf(pf / (float)hp->attn_temp_floor) + 1.0) * hp->attn_temp_scale + 1.0;
        ops_scale(q, (float)t, QD);
    }
    struct llm_kv *kv = f->kv[f->seq ? f->seq[i] : 0];
    const int slot = m->layers[f->layer].kv_slot;
    const size_t span = kv_span(kv, slot), hb = kv->head_bytes;
    for (int h = 0; h < hp->n_head_kv; h++) {
        size_t o = kv_off(kv, slot, f->pos[i]) + (size_t)h * span;
        const float *kh = k + (size_t)h * HD, *vh = v + (size_t)h * HD;
        if (kv->type == DT_F16) {
            ops_f32_to_f16((uint16_t *)(kv->k + o), kh, HD);
            ops_f32_to_f16((uint16_t *)(kv->v + o), vh, HD);
        } else {  /* (llm_kv_new_type checked the blocks fit a head) */
            quantize_row(kv->type, kh, kv->k + o, HD);
            quantize_row(kv->type, vh, kv->v + o, HD);
        }
        if (kv->in_ring[slot]) {  /* and its second copy, ring rows on */
            size_t o2 = o + (size_t)kv->ring * hb;
            memcpy(kv->k + o2, kv->k + o, hb);
            memcpy(kv->v + o2, kv->v + o, hb);
        }
    }
}

/* the attention output times sigmoid(gate) (arch->attn_out_gate) */
static void row_out_gate(struct fwd *f, int i) {
    int QD = f->m->hp.n_head * f->m->hp.head_dim;
    float *o = f->st->ao + (size_t)i * QD;
    const float *g = f->st->ag + (size_t)i * QD;
    for (int j = 0; j < QD; j++) o[j] *= 1.0f / (1.0f + expf(-g[j]));
}

static void row_swiglu(struct fwd *f, int i) {
    int F = f->m->hp.n_ff;
    if (f->m->arch->ffn_gelu) ops_geglu(f->ffn + (size_t)i * F, f->gate + (size_t)i * f->gs, f->up + (size_t)i * f->gs, F);
    else ops_swiglu(f->ffn + (size_t)i * F, f->gate + (size_t)i * f->gs, f->up + (size_t)i * f->gs, F, F - F % 16);
}

/* A lone token's SwiGLU (n_ff expf calls, microseconds) split over the threads. */
static void swiglu_part(void *arg, int ith, int nth) {
    struct fwd *f = arg;
    long lo, hi, F = f->m->hp.n_ff;
    pool_split((F + 15) / 16, ith, nth, &lo, &hi);  /* in 16s: ggml's whole vectors */
    lo *= 16;
    hi = hi * 16 < F ? hi * 16 : F;
    long vec_end = F - F % 16, n_vec = vec_end > lo ? (vec_end < hi ? vec_end : hi) - lo : 0;
    if (hi <= lo) return;
    if (f->m->arch->ffn_gelu) ops_geglu(f->ffn + lo, f->gate + lo, f->up + lo, (int)(hi - lo));
    else ops_swiglu(f->ffn + lo, f->gate + lo, f->up + lo, (int)(hi - lo), (int)n_vec);
}

static void rows_part(void *arg, int ith, int nth) {
    struct fwd *f = arg;
    long lo, hi;
    pool_split(f->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) f->row(f, (int)i);
}

/* A lone row (decode) stays on this thread: waking another would cost more than it. */
static void run_rows(struct fwd *f, void (*row)(struct fwd *, int)) {
    f->row = row;
    if (f->n >= 2) pool_run(f->m->pool, rows_part, f);
    else rows_part(f, 0, 1);
}

/* ---- attention ----
 * Two kinds of tasks, claimed one at a time from one counter so every thread stays busy
 * to the end: first the tiled kernel's (a block of consecutive tokens of one sequence x
 * the query heads of one KV head, the latest blocks first since in a causal prompt they
 * see the most positions; for a decode-sized batch also x one chunk of FLASH_CHUNK
 * positions, merged afterwards, so one long sequence still spreads over the threads),
 * then the exact kernel's (token, head) pairs, latest tokens first. */

/* whether token i attends with the tiled kernel (llm_kv_set_flash) */
static int use_flash(const struct fwd *f, int i) {
    const struct llm_kv *kv = f->kv[f->seq ? f->seq[i] : 0];
    if (kv->flash == LLM_FLASH_ON || kv->type != DT_F16) return 1;  /* a quantized cache: tiled only */
    if (kv->flash == LLM_FLASH_OFF) return 0;
    const struct llm_hparams *hp = &f->m->hp;
    return f->pos[i] + 1 > LLM_FLASH_AUTO_MIN && hp->n_head / hp->n_head_kv >= LLM_FLASH_AUTO_GROUP;
}

/* query heads per task: a KV head's group, in equal parts of at most FLASH_MAX_ROWS */
static void flash_heads(const struct llm_hparams *hp, int *n_sub, int *sub) {
    int G = hp->n_head / hp->n_head_kv;
    *n_sub = (G + FLASH_MAX_ROWS - 1) / FLASH_MAX_ROWS;
    *sub = (G + *n_sub - 1) / *n_sub;
}

/* Splits the chunk's tokens into tiled blocks and exact tokens (the same for every layer). */
static void flash_plan(struct fwd *f) {
    struct llm_state *st = f->st;
    const struct llm_hparams *hp = &f->m->hp;
    int n_sub, sub, nb = 0, ne = 0, max_hi = 0;
    flash_heads(hp, &n_sub, &sub);
    f->blk_tok = FLASH_MAX_ROWS / sub;
    for (int i = 0; i < f->n; i++) {
        if (!use_flash(f, i)) { st->fexact[ne++] = i; continue; }
        int s = f->seq ? f->seq[i] : 0, *last = st->fblk + 2 * (nb - 1);
        if (nb && last[0] + last[1] == i && last[1] < f->blk_tok && (f->seq ? f->seq[last[0]] : 0) == s) last[1]++;
        else st->fblk[2 * nb] = i, st->fblk[2 * nb + 1] = 1, nb++;
        if (f->pos[i] + 1 > max_hi) max_hi = f->pos[i] + 1;
    }
    f->n_blk = nb, f->n_exact = ne, f->n_split = 0;
    int n_ch = (max_hi + FLASH_CHUNK - 1) / FLASH_CHUNK;
    /* Few tasks (a decode step: one block per sequence): a KV head's query heads in more,
     * smaller parts until the tasks fill the pool. Each row's sums are its own, so how the
     * rows are grouped changes no bit; fewer rows a task only share each converted tile
     * less, so no more parts than the pool needs. */
    const int G = hp->n_head / hp->n_head_kv, P = pool_size(f->m->pool);
    while (nb && sub > 1 && (long)nb * hp->n_head_kv * n_sub * (n_ch > 1 ? n_ch : 1) < P) {
        int s2 = (G + n_sub) / (n_sub + 1);      /* sub for one part more */
        if (s2 >= sub) s2 = sub - 1;
        sub = s2;
        n_sub = (G + sub - 1) / sub;
    }
    f->n_sub = n_sub, f->sub = sub;
    long units = (long)nb * hp->n_head_kv * n_sub;
    if (nb && units < 2 * pool_size(f->m->pool) && n_ch > 1) {
        size_t need = (size_t)units * n_ch * FLASH_MAX_ROWS * (hp->head_dim + FLASH_ML);
        if (need <= st->fpart_cap || !grow(&st->fpart, need)) {
            if (need > st->fpart_cap) st->fpart_cap = need;
            f->n_split = n_ch;
        }  /* (out of memory for the partial states: one task per block, the same result) */
    }
    f->n_flash_tasks = units * (f->n_split ? f->n_split : 1);
    /* A prompt of one sequence whose blocks would each convert the same tiles: convert
     * them once per layer (bounded: beyond the cap, or out of memory, each block converts
     * its own; the same values either way, so the same bits) */
    f->conv_tiles = 0;
    int one_seq = 1;
    for (int b = 1; b < nb && f->seq; b++) one_seq &= f->seq[st->fblk[2 * b]] == f->seq[st->fblk[0]];
    if (nb >= 4 * P && one_seq && !f->n_split) {
        int tiles = (max_hi + FLASH_TILE - 1) / FLASH_TILE;
        size_t need = (size_t)hp->n_head_kv * tiles * FLASH_TILE_FLOATS(hp->head_dim);
        if (need <= ((size_t)32 << 20) && (need <= st->fconv_cap || !grow(&st->fconv, need))) {
            if (need > st->fconv_cap) st->fconv_cap = need;
            f->conv_tiles = tiles;
        }
    }
}

/* The layer's K/V tiles [0, conv_tiles) of every KV head into st->fconv, tiles split over
 * the threads. */
static void conv_part(void *arg, int ith, int nth) {
    struct fwd *f = arg;
    const struct llm_hparams *hp = &f->m->hp;
    const struct llm_layer *L = &f->m->layers[f->layer];
    const struct llm_kv *kv = f->kv[f->seq ? f->seq[f->st->fblk[0]] : 0];
    int HD = hp->head_dim, max_hi = 0;
    for (int b = 0; b < f->n_blk; b++)
        for (int i = f->st->fblk[2 * b]; i < f->st->fblk[2 * b] + f->st->fblk[2 * b + 1]; i++)
            if (f->pos[i] + 1 > max_hi) max_hi = f->pos[i] + 1;
    long lo, hi;
    pool_split((long)hp->n_head_kv * f->conv_tiles, ith, nth, &lo, &hi);
    for (long t = lo; t < hi; t++) {
        int h = (int)(t / f->conv_tiles), ti = (int)(t % f->conv_tiles);
        size_t base = kv_off(kv, L->kv_slot, 0) + (size_t)h * kv_span(kv, L->kv_slot);
        struct flash_kv fk = {kv->k + base, kv->v + base, (long)kv->head_bytes, 0, kv->type, NULL, 0};
        flash_convert(&fk, ti * FLASH_TILE, max_hi - ti * FLASH_TILE, HD,
                      f->st->fconv + (size_t)t * FLASH_TILE_FLOATS(HD));
    }
}

/* Task unit u of block b: its query rows (q rounded to f16 as ggml rounds it for the
 * product with the f16 cache), their ranges and sinks, output rows and cache view. */
static int flash_rows_of(const struct fwd *f, int b, int u, float *q, int *lo, int *hi, float *sinks, float **out,
                         struct flash_kv *fk) {
    const struct llm_hparams *hp = &f->m->hp;
    const struct llm_layer *L = &f->m->layers[f->layer];
    int HD = hp->head_dim, H = hp->n_head, G = H / hp->n_head_kv, n_sub = f->n_sub, sub = f->sub;
    int kvh = u / n_sub, h0 = kvh * G + (u % n_sub) * sub, h1 = h0 + sub < (kvh + 1) * G ? h0 + sub : (kvh + 1) * G;
    int i0 = f->st->fblk[2 * b], nt = f->st->fblk[2 * b + 1], R = 0;
    const float *sk = L->sinks.data;
    for (int i = i0; i < i0 + nt; i++)
        for (int h = h0; h < h1; h++, R++) {
            const float *src = f->q + (size_t)i * f->qs + (size_t)h * HD;
            if (q) round_row_f16(q + (size_t)R * HD, src, HD);
            int p = f->pos[i];
            hi[R] = p + 1;
            lo[R] = L->swa && p + 1 - hp->n_swa > 0 ? p + 1 - hp->n_swa : 0;
            sinks[R] = sk ? sk[h] : -INFINITY;
            out[R] = f->st->ao + ((size_t)i * H + h) * HD;
        }
    const struct llm_kv *kv = f->kv[f->seq ? f->seq[i0] : 0];
    size_t base = kv_off(kv, L->kv_slot, 0) + (size_t)kvh * kv_span(kv, L->kv_slot);
    /* a ring: the kernel finds position t at row t % ring (absolute positions, so its
     * tiles and chunks fall where they would without the ring) */
    *fk = (struct flash_kv){kv->k + base, kv->v + base, (long)kv->head_bytes, kv->in_ring[L->kv_slot] ? kv->ring : 0,
                            kv->type, NULL, 0};
    if (f->conv) {
        fk->tiles = f->st->fconv + (size_t)kvh * f->conv_tiles * FLASH_TILE_FLOATS(HD);
        fk->n_tiles = f->conv_tiles;
    }
    return R;
}

static void flash_task(struct fwd *f, long t, int ith) {
    const struct llm_hparams *hp = &f->m->hp;
    int HD = hp->head_dim, n_sub = f->n_sub;
    long per_blk = (long)hp->n_head_kv * n_sub * (f->n_split ? f->n_split : 1);
    int b = f->n_blk - 1 - (int)(t / per_blk), u = (int)(t % per_blk), c = 0;
    /* a split decode: neighbouring tasks take the KV heads of one chunk, whose rows lie
     * side by side in the cache, so the lines one thread's prefetcher brings are the next
     * task's (chunk-minor, each head's pass streamed the other heads' lines for nothing) */
    if (f->n_split) c = u / (hp->n_head_kv * n_sub), u %= hp->n_head_kv * n_sub;
    float *scr = f->st->fscr + (size_t)ith * flash_thread_floats(HD);
    float *q = scr + flash_scratch_floats(HD), *sinks = q + (size_t)FLASH_MAX_ROWS * HD;
    int *lo = (int *)(sinks + FLASH_MAX_ROWS), *hi = lo + FLASH_MAX_ROWS;
    float *accml = (float *)(hi + FLASH_MAX_ROWS), *out[FLASH_MAX_ROWS];
    struct flash_kv fk;
    int R = flash_rows_of(f, b, u, q, lo, hi, sinks, out, &fk);
    struct flash_rows rows = {R, HD, q, lo, hi};
    float scale = f->m->arch->q_prescale ? 1.0f : hp->attn_scale;
    if (!f->n_split) {
        flash_attend(&rows, &fk, scale, hp->attn_softcap, sinks, out, accml, scr);
        return;
    }
    float *part = f->st->fpart + (((size_t)b * hp->n_head_kv * n_sub + u) * f->n_split + c) * FLASH_MAX_ROWS * (HD + FLASH_ML);
    flash_chunk(&rows, &fk, c * FLASH_CHUNK, (c + 1) * FLASH_CHUNK, scale, hp->attn_softcap, part,
                part + (size_t)FLASH_MAX_ROWS * HD, scr);
}

/* A split decode's chunks merged in order and finished (cheap: head_dim floats a chunk). */
static void flash_merge_split(struct fwd *f) {
    const struct llm_hparams *hp = &f->m->hp;
    int HD = hp->head_dim, n_sub = f->n_sub, lo[FLASH_MAX_ROWS], hi[FLASH_MAX_ROWS];
    float sinks[FLASH_MAX_ROWS], *out[FLASH_MAX_ROWS];
    size_t stride = (size_t)FLASH_MAX_ROWS * (HD + FLASH_ML);
    for (int b = 0; b < f->n_blk; b++)
        for (int u = 0; u < hp->n_head_kv * n_sub; u++) {
            struct flash_kv fk;
            int R = flash_rows_of(f, b, u, NULL, lo, hi, sinks, out, &fk);
            float *p0 = f->st->fpart + ((size_t)b * hp->n_head_kv * n_sub + u) * f->n_split * stride;
            for (int r = 0; r < R; r++) {
                float *acc = p0 + (size_t)r * HD, *ml = p0 + (size_t)FLASH_MAX_ROWS * HD + r * FLASH_ML;
                for (int c = 1; c < f->n_split; c++) {
                    const float *pc = p0 + c * stride;
                    flash_merge(HD, acc, ml, pc + (size_t)r * HD, pc + (size_t)FLASH_MAX_ROWS * HD + r * FLASH_ML);
                }
                flash_finish(HD, out[r], acc, ml, sinks[r]);
            }
        }
}

static void attn_part(void *arg, int ith, int nth) {
    struct fwd *f = arg;
    const struct llm_hparams *hp = &f->m->hp;
    int HD = hp->head_dim, H = hp->n_head, group = H / hp->n_head_kv;
    float scale = f->m->arch->q_prescale ? 1.0f : hp->attn_scale;
    int swa = f->m->layers[f->layer].swa;
    float *att = f->st->att + (size_t)ith * ops_attention_scratch(f->att_ctx, HD);
    long total = f->n_flash_tasks + (long)f->n_exact * H;
    for (long t; (t = atomic_fetch_add_explicit(&f->next, 1, memory_order_relaxed)) < total;) {
        if (t < f->n_flash_tasks) {
            flash_task(f, t, ith);
            continue;
        }
        t -= f->n_flash_tasks;
        /* the last tokens first: in a prompt they see the most positions */
        int i = f->st->fexact[f->n_exact - 1 - (int)(t / H)], h = (int)(t % H);
        int s = f->seq ? f->seq[i] : 0, p = f->pos[i];
        const struct llm_kv *kv = f->kv[s];
        const int slot = f->m->layers[f->layer].kv_slot;
        /* A ring holds the window as one span from position b, a multiple of RING_ALIGN
         * (the kernel's lanes and blocks of 16/64 positions then fall as they would over
         * the whole cache, and the masked rows before the window add nothing): the same
         * sums as without the ring, bit for bit. */
        int lo = swa ? p + 1 - hp->n_swa : 0, b = 0;
        if (kv->in_ring[slot] && lo > 0) b = lo - lo % RING_ALIGN;
        size_t base = kv_off(kv, slot, b) + (size_t)(h / group) * kv_span(kv, slot);
        /* always llama.cpp's batched (GEMM) order, which its golden prompt logits use; its
         * lone-token order would match its decode steps too, but then a prompt's logits
         * would depend on how it was batched (prompt cache reuse, continuous batching) */
        const float *sinks = f->m->layers[f->layer].sinks.data;
        ops_attention_f16_sink(f->st->ao + ((size_t)i * H + h) * HD, f->q + (size_t)i * f->qs + (size_t)h * HD,
                               (const uint16_t *)(kv->k + base), (const uint16_t *)(kv->v + base),
                               lo - b, p + 1 - b, HD, HD, scale,
                               hp->attn_softcap, sinks ? sinks[h] : -INFINITY, 1, att);
    }
}

/* Adds the state's LoRA updates of target t (input rows x) into y, rows ys floats apart. */
static void adapt(const struct fwd *f, enum lora_target t, const float *x, float *y, int ys) {
    const struct llm_state *st = f->st;
    if (st->n_lora) lora_add(f->m->pool, st->lora, st->n_lora, f->layer, t, x, f->n, y, ys, st->lora_buf);
    if (!st->n_seq_lora) return;
    /* a request's own adapter: over each run of rows of one sequence that has one (a
     * sequence's rows are contiguous in the scheduler's batches, but any order works) */
    for (int i0 = 0, i1; i0 < f->n; i0 = i1) {
        int s = f->seq ? f->seq[i0] : 0;
        for (i1 = i0 + 1; i1 < f->n && (f->seq ? f->seq[i1] : 0) == s;) i1++;
        if (s < 0 || s >= st->n_seq_lora || !st->seq_lora[s].a) continue;
        int n_in = lora_n_in(st->seq_lora[s].a, f->layer, t);
        if (n_in > 0)
            lora_add(f->m->pool, &st->seq_lora[s], 1, f->layer, t, x + (size_t)i0 * n_in, i1 - i0,
                     y + (size_t)i0 * ys, ys, st->lora_buf);
    }
}

/* Runs tokens [0, n) of a chunk through every layer. The last block's residual is left
 * pending (output in st->xb, to be added to st->x) for the rows that need logits. */
static void forward_chunk(const struct llm *m, struct llm_state *st, struct llm_kv *const *kv, int n_kv, int att_ctx,
                          int n, const int32_t *tok, const float *embd, const int32_t *pos, const int32_t *seq) {
    const struct llm_hparams *hp = &m->hp;
    int HD = hp->head_dim, QD = hp->n_head * HD, KVD = hp->n_head_kv * HD, F = hp->n_ff;
    int QG = m->arch->attn_out_gate ? 2 * QD : QD;
    struct fwd f = {.m = m, .st = st, .kv = kv, .att_ctx = att_ctx, .n = n, .tok = tok, .pos = pos, .seq = seq,
                    .embd = embd};
    int planned = 0;
    for (int l = 0; l < hp->n_layer; l++) {
        const struct llm_layer *L = &m->layers[l];
        f.layer = l;
        f.norm_w = L->attn_norm.data;
        f.post_w = l ? m->layers[l - 1].post_ffn_norm.data : NULL;
        run_rows(&f, l == 0 ? row_embed : row_norm);
        if (L->mix) {
            for (int s = 0; s < n_kv; s++)
                st->rs[s] = (struct llm_rs_seq){kv[s]->rs + kv[s]->rs_off[l], kv[s]->rs_ck + kv[s]->rs_off[l],
                                                kv[s]->ck_pos};
            struct llm_mix_args ma = {.hp = hp, .pool = m->pool, .layer = L->mix, .n = n, .pos = pos, .seq = seq,
                                      .rs = st->rs, .n_seq = n_kv, .x = st->xb, .out = st->xb, .scratch = st->mix};
            m->arch->mixer->forward(&ma);
        } else {
            if (L->wqkv.data) {
                matmul(m->pool, &L->wqkv, st->xb, st->q, n);
                f.q = st->q, f.k = st->q + QG, f.v = st->q + QG + KVD;
                f.qs = f.ks = f.vs = QG + 2 * KVD;
            } else {
                const struct tensor *w3[3] = {&L->wq, &L->wk, &L->wv};
                float *y3[3] = {st->q, st->k, st->v};
                matmul_many(m->pool, 3, w3, st->xb, y3, n);
                f.q = st->q, f.k = st->k, f.v = st->v;
                f.qs = QG, f.ks = f.vs = KVD;
            }
            adapt(&f, LORA_Q, st->xb, f.q, f.qs);
            adapt(&f, LORA_K, st->xb, f.k, f.ks);
            adapt(&f, LORA_V, st->xb, f.v, f.vs);
            run_rows(&f, row_qkv);
            if (!planned) flash_plan(&f), planned = 1;
            atomic_store(&f.next, 0);
            f.conv = f.conv_tiles > 0 && !f.kv[f.seq ? f.seq[st->fblk[0]] : 0]->in_ring[L->kv_slot];
            if (f.conv) pool_run(m->pool, conv_part, &f);
            if (f.n_flash_tasks + f.n_exact * hp->n_head >= 2) pool_run(m->pool, attn_part, &f);
            else attn_part(&f, 0, 1);
            if (f.n_split) flash_merge_split(&f);
            if (m->arch->attn_out_gate) run_rows(&f, row_out_gate);
            matmul(m->pool, &L->wo, st->ao, st->xb, n);
            adapt(&f, LORA_O, st->ao, st->xb, hp->n_embd);
            if (L->bo.data) run_rows(&f, row_out_bias);
        }

        f.norm_w = L->ffn_norm.data;
        f.post_w = L->post_attn_norm.data;
        run_rows(&f, row_norm);
        if (m->arch->moe) {
            struct moe_cfg mc = moe_config(m);
            moe_ffn(m->pool, &mc, &L->moe, st->xb, st->xb, n, st->moe);  /* scratch reserved: cannot fail */
            continue;
        }
        if (L->wgu.data) {
            matmul(m->pool, &L->wgu, st->xb, st->hb, n);
            f.gate = st->hb, f.up = st->hb + F, f.gs = 2 * F, f.ffn = st->hb2;
        } else {  /* (fused_gate_up always has wgu) */
            const struct tensor *w2[2] = {&L->ffn_gate, &L->ffn_up};
            float *y2[2] = {st->hb, st->hb2};
            matmul_many(m->pool, 2, w2, st->xb, y2, n);
            f.gate = st->hb, f.up = st->hb2, f.gs = F, f.ffn = st->hb;
        }
        if (m->arch->fused_gate_up) {  /* the file's ffn_up is gate|up: its update spans both */
            adapt(&f, LORA_UP, st->xb, st->hb, 2 * F);
        } else {
            adapt(&f, LORA_GATE, st->xb, f.gate, f.gs);
            adapt(&f, LORA_UP, st->xb, f.up, f.gs);
        }
        if (n == 1) pool_run(m->pool, swiglu_part, &f);
        else run_rows(&f, row_swiglu);
        matmul(m->pool, &L->ffn_down, f.ffn, st->xb, n);
        adapt(&f, LORA_DOWN, f.ffn, st->xb, hp->n_embd);
    }
}

int llm_forward(const struct llm *m, struct llm_state *st, struct llm_kv *const *kv, int n_kv,
                const struct llm_batch *b, float *logits, struct err *e) {
    return llm_forward_embd(m, st, kv, n_kv, b, NULL, logits, e);
}

/* logits and/or hidden (the final normed hidden state, n_embd floats per flagged row) */
static int forward_out(const struct llm *m, struct llm_state *st, struct llm_kv *const *kv, int n_kv,
                       const struct llm_batch *b, const float *embd, float *logits, float *hidden, struct err *e);

int llm_forward_embd(const struct llm *m, struct llm_state *st, struct llm_kv *const *kv, int n_kv,
                     const struct llm_batch *b, const float *embd, float *logits, struct err *e) {
    return forward_out(m, st, kv, n_kv, b, embd, logits, NULL, e);
}

int llm_forward_hidden(const struct llm *m, struct llm_state *st, struct llm_kv *const *kv, int n_kv,
                       const struct llm_batch *b, float *hidden, struct err *e) {
    return forward_out(m, st, kv, n_kv, b, NULL, NULL, hidden, e);
}

int llm_forward_embd_out(const struct llm *m, struct llm_state *st, struct llm_kv *const *kv, int n_kv,
                         const struct llm_batch *b, const float *embd, float *logits, float *hidden, struct err *e) {
    return forward_out(m, st, kv, n_kv, b, embd, logits, hidden, e);
}

static int forward_out(const struct llm *m, struct llm_state *st, struct llm_kv *const *kv, int n_kv,
                       const struct llm_batch *b, const float *embd, float *logits, float *hidden, struct err *e) {
    const struct llm_hparams *hp = &m->hp;
    int n = b->n_tokens;
    if (n < 1) return err_set(e, "llm_forward: empty batch");
    if (n_kv < 1) return err_set(e, "llm_forward: no KV cache");
    if (st->m != m) return err_set(e, "llm_forward: the forward state was made for another model");
    int att_ctx = 0;
    for (int s = 0; s < n_kv; s++) {
        if (!kv[s]) return err_set(e, "llm_forward: KV cache %d is missing", s);
        if (kv[s]->n_layer != hp->n_layer || kv[s]->kv_dim != hp->n_head_kv * hp->head_dim)
            return err_set(e, "llm_forward: KV cache was made for another model");
        if (kv[s]->n_ctx > att_ctx) att_ctx = kv[s]->n_ctx;
    }
    /* Validate everything before touching the caches, so a bad batch changes nothing. */
    for (int i = 0; i < n; i++) {
        int s = b->seq ? b->seq[i] : 0;
        if (!embd && (b->token[i] < 0 || b->token[i] >= hp->n_vocab))
            return err_set(e, "llm_forward: token %d at batch index %d is outside the vocabulary (0..%d)",
                           b->token[i], i, hp->n_vocab - 1);
        if (s < 0 || s >= n_kv)
            return err_set(e, "llm_forward: sequence %d at batch index %d: the batch has %d caches", s, i, n_kv);
        if (b->pos[i] < 0 || b->pos[i] >= kv[s]->n_ctx)
            return err_set(e, "llm_forward: position %d at batch index %d is outside the context of %d",
                           b->pos[i], i, kv[s]->n_ctx);
    }
    if (n_kv > st->next_cap) {
        int *p = realloc(st->next_len, sizeof(int) * (size_t)n_kv);
        if (!p) return err_set(e, "llm_forward: out of memory");
        st->next_len = p;
        struct llm_rs_seq *r = realloc(st->rs, sizeof *r * (size_t)n_kv);
        if (!r) return err_set(e, "llm_forward: out of memory");
        st->rs = r;
        st->next_cap = n_kv;
    }
    /* A position may only extend its sequence (no holes that would read stale cache). */
    for (int s = 0; s < n_kv; s++) st->next_len[s] = kv[s]->len;
    for (int i = 0; i < n; i++) {
        int s = b->seq ? b->seq[i] : 0, p = b->pos[i];
        if (p > st->next_len[s])
            return err_set(e, "llm_forward: position %d of sequence %d leaves a gap (the sequence has %d)", p, s,
                           st->next_len[s]);
        if (p < st->next_len[s] && !ring_has(kv[s], p, st->next_len[s]))
            return err_set(e, "llm_forward: position %d of sequence %d: its sliding window has left the cache's "
                           "ring of %d positions (the sequence has %d; truncate first)", p, s, kv[s]->ring,
                           st->next_len[s]);
        if (m->n_mix && p < st->next_len[s])
            return err_set(e, "llm_forward: position %d of sequence %d: a recurrent state cannot rewrite the past "
                           "(the sequence has %d; truncate first)", p, s, st->next_len[s]);
        if (p + 1 > st->next_len[s]) st->next_len[s] = p + 1;
    }
    int chunk = n < LLM_UBATCH ? n : LLM_UBATCH;
    if (ensure_scratch(m, st, chunk, att_ctx)) return err_set(e, "llm_forward: out of memory for a batch of %d", chunk);

    int E = hp->n_embd, out_row = 0;
    for (int c0 = 0; c0 < n; c0 += chunk) {
        int c = n - c0 < chunk ? n - c0 : chunk;
        forward_chunk(m, st, kv, n_kv, att_ctx, c, embd ? NULL : b->token + c0, embd ? embd + (size_t)c0 * E : NULL,
                      b->pos + c0, b->seq ? b->seq + c0 : NULL);
        for (int i = 0; i < c; i++) {
            struct llm_kv *k = kv[b->seq ? b->seq[c0 + i] : 0];
            if (b->pos[c0 + i] + 1 > k->len) k->len = b->pos[c0 + i] + 1;
            if (b->pos[c0 + i] + 1 == k->ck_pos) k->ck_len = k->ck_pos, k->ck_pos = -1;  /* the mixers took it */
        }
        if (!logits && !hidden) continue;
        /* gather the rows that want logits (with the last residual), normalize, and
         * project them in one matmul: the LM head is a fifth of a small model's work */
        int n_out = 0;
        const float *post = m->layers[hp->n_layer - 1].post_ffn_norm.data;
        for (int i = 0; i < c; i++) {
            int want = b->logits ? b->logits[c0 + i] != 0 : c0 + i == n - 1;
            if (!want) continue;
            float *x = st->x + (size_t)i * E, *xb = st->xb + (size_t)i * E;
            if (post) ops_rmsnorm(xb, xb, post, E, hp->norm_eps);
            ops_add(x, xb, E);
            if (i != n_out) memmove(st->x + (size_t)n_out * E, x, sizeof(float) * E);
            n_out++;
        }
        if (!n_out) continue;
        for (int i = 0; i < n_out; i++)
            ops_rmsnorm(st->x + (size_t)i * E, st->x + (size_t)i * E, m->output_norm.data, E, hp->norm_eps);
        if (hidden) memcpy(hidden + (size_t)out_row * E, st->x, sizeof(float) * E * (size_t)n_out);
        if (logits) {
            float *lg = logits + (size_t)out_row * hp->n_vocab;
            int64_t rows = m->output.ne[1];
            if (rows < hp->n_vocab) {  /* arch->output_rows_own: -inf, then the head's rows at the end */
                size_t pad = (size_t)(hp->n_vocab - rows);
                matmul(m->pool, &m->output, st->x, lg, n_out);
                for (int i = n_out - 1; i >= 0; i--) {
                    float *row = lg + (size_t)i * hp->n_vocab;
                    memmove(row + pad, lg + (size_t)i * (size_t)rows, sizeof(float) * (size_t)rows);
                    for (size_t j = 0; j < pad; j++) row[j] = -INFINITY;
                }
            } else {
                matmul(m->pool, &m->output, st->x, lg, n_out);
            }
            if (hp->final_softcap > 0) ops_softcap(lg, hp->final_softcap, n_out * hp->n_vocab);
        }
        out_row += n_out;
    }
    return 0;
}

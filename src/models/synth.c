/* `omni synth`: writes random-weight GGUF files with real model shapes (see synth.h).
 * Weight types follow llama.cpp's choices for each file type (e.g. Q4_K_M keeps the
 * output and some attn_v/ffn_down matrices in Q6_K), so the files cost what the real
 * quantized models cost. */
#include "models/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/matmul.h"
#include "core/pool.h"
#include "formats/gguf.h"

const struct synth_shape synth_shapes[] = {
    /* name, arch, pre, vocab, ctx, embd, layers, heads, kv heads, ffn, theta, eps, tied, llama3 rope, chat,
     * head_dim, window, attention and final soft-caps, weight scale, experts, used, expert ffn */
    {"smollm2-135m", "llama", "smollm", 49152, 8192, 576, 30, 9, 3, 1536, 100000.f, 1e-5f, 1, 0, 0, 0, 0, 0.0f, 0.0f, 0, 0, 0, 0},
    {"smollm2-360m", "llama", "smollm", 49152, 8192, 960, 32, 15, 5, 2560, 100000.f, 1e-5f, 1, 0, 0, 0, 0, 0.0f, 0.0f, 0, 0, 0, 0},
    {"qwen2.5-0.5b", "qwen2", "qwen2", 151936, 32768, 896, 24, 14, 2, 4864, 1000000.f, 1e-6f, 1, 0, 0, 0, 0, 0.0f, 0.0f, 0, 0, 0, 0},
    {"llama-3.2-1b", "llama", "llama-bpe", 128256, 131072, 2048, 16, 32, 8, 8192, 500000.f, 1e-5f, 1, 1, 1, 0, 0, 0.0f, 0.0f, 0, 0, 0, 0},
    /* Tiny shapes that build in milliseconds, for tests. */
    {"tiny-llama", "llama", "smollm", 1280, 512, 64, 2, 4, 2, 256, 10000.f, 1e-5f, 0, 0, 0, 0, 0, 0.0f, 0.0f, 0, 0, 0, 0},
    {"tiny-qwen2", "qwen2", "qwen2", 1280, 512, 64, 2, 4, 2, 256, 1000000.f, 1e-6f, 1, 0, 0, 0, 0, 0.0f, 0.0f, 0, 0, 0, 0},
    {"tiny-llama3", "llama", "llama-bpe", 1280, 512, 128, 2, 4, 1, 256, 500000.f, 1e-5f, 1, 1, 1, 0, 0, 0.0f, 0.0f, 0, 0, 0, 0},
    {"tiny-qwen35", "qwen35", "qwen2", 1280, 512, 64, 4, 4, 2, 192, 10000000.f, 1e-6f, 1, 0, 0, 0, 0, 0.0f, 0.0f, 0, 0, 0, 0},
    /* gemma2: 4 layers, local (window 16) / global alternating, both soft-caps tight
     * enough to bite on random weights; smollm3: 4 layers, the last without rope */
    {"tiny-gemma2", "gemma2", "smollm", 1280, 512, 64, 4, 4, 2, 256, 10000.f, 1e-6f, 1, 0, 2, 32, 16, 2.0f, 3.0f, 0.35f, 0, 0, 0},
    /* exaone4 as llama.cpp reads the 64-layer (32B) layout: 3 local layers (window 8) with
     * rope, then 1 global without; no pre-norms, post-norms, q/k norms, rope_freqs */
    {"tiny-exaone4-64l", "exaone4", "smollm", 1280, 512, 32, 64, 2, 1, 64, 1000000.f, 1e-5f, 1, 1, 0, 16, 8, 0.0f, 0.0f,
     0.35f, 0, 0, 0},
    {"tiny-smollm3", "smollm3", "smollm", 1280, 512, 64, 4, 4, 2, 256, 5000000.f, 1e-6f, 1, 0, 0, 0, 0, 0.0f, 0.0f, 0.35f, 0, 0, 0},
    /* The models people run (shapes from their config.json; gemma's SentencePiece
     * vocabulary is stood in for by a byte-level BPE one of the same size). */
    {"qwen3-0.6b", "qwen3", "qwen2", 151936, 40960, 1024, 28, 16, 8, 3072, 1000000.f, 1e-6f, 1, 0, 0, 128, 0, 0.0f, 0.0f, 0, 0, 0, 0},
    {"qwen3-1.7b", "qwen3", "qwen2", 151936, 40960, 2048, 28, 16, 8, 6144, 1000000.f, 1e-6f, 1, 0, 0, 128, 0, 0.0f, 0.0f, 0, 0, 0, 0},
    {"gemma3-1b", "gemma3", "smollm", 262144, 32768, 1152, 26, 4, 1, 6912, 1000000.f, 1e-6f, 1, 0, 2, 256, 512, 0.0f, 0.0f, 0, 0, 0, 0},
    {"gemma2-2b", "gemma2", "smollm", 256000, 8192, 2304, 26, 8, 4, 9216, 10000.f, 1e-6f, 1, 0, 2, 256, 4096,
     50.0f, 30.0f, 0, 0, 0, 0},
    /* Guard models (src/moderation): Qwen3Guard-Gen-0.6B (Qwen3-0.6B's shape, its guard
     * template) and small files of the guard families for the goldens against llama.cpp:
     * Qwen3Guard at Qwen3-0.6B's width and heads with 2 layers, Llama Guard 3 1B's head size
     * and 4:1 grouping at width 256 with 2 layers */
    {"qwen3guard-gen-0.6b", "qwen3", "qwen2", 151936, 32768, 1024, 28, 16, 8, 3072, 1000000.f, 1e-6f, 1, 0, 4, 128, 0,
     0.0f, 0.0f, 0, 0, 0, 0},
    {"tiny-qwen3guard", "qwen3", "qwen2", 1280, 4096, 1024, 2, 16, 8, 3072, 1000000.f, 1e-6f, 1, 0, 4, 128, 0, 0.0f,
     0.0f, 0.0f, 0, 0, 0},
    {"tiny-llamaguard3", "llama", "llama-bpe", 1280, 4096, 256, 2, 4, 1, 512, 500000.f, 1e-5f, 1, 1, 5, 64, 0, 0.0f,
     0.0f, 0.35f, 0, 0, 0},
    {"smollm3-3b", "smollm3", "llama-bpe", 128256, 65536, 2048, 36, 16, 4, 11008, 5000000.f, 1e-6f, 1, 0, 0, 0, 0, 0.0f, 0.0f, 0, 0, 0, 0},
    /* Qwen3.5-2B: 18 delta-net layers (16 key and 16 value heads of 128) and 6 gated
     * attention layers (8 query heads of 256, 2 KV heads, rope on 64 dims; head size and
     * the delta-net in the hybrid table). The tokenizer is the synthetic one under
     * qwen2's pre-tokenizer. */
    {"qwen3.5-2b", "qwen35", "qwen2", 248320, 262144, 2048, 24, 8, 2, 6144, 10000000.f, 1e-6f, 1, 0, 0, 0, 0, 0.0f, 0.0f, 0, 0, 0, 0},
    /* Mixture of experts: experts, used, expert FFN at the end. Qwen3-30B-A3B and
     * gpt-oss-20b in full, and the same layouts with fewer layers (the expert blocks as
     * the real ones, the file a fraction of the size). */
    {"qwen3-30b-a3b", "qwen3moe", "qwen2", 151936, 40960, 2048, 48, 32, 4, 6144, 1000000.f, 1e-6f, 0, 0, 0,
     128, 0, 0.0f, 0.0f, 0, 128, 8, 768},
    {"qwen3-30b-a3b-l4", "qwen3moe", "qwen2", 151936, 40960, 2048, 4, 32, 4, 6144, 1000000.f, 1e-6f, 0, 0, 0,
     128, 0, 0.0f, 0.0f, 0, 128, 8, 768},
    {"gpt-oss-20b", "gpt-oss", "qwen2", 201088, 131072, 2880, 24, 64, 8, 2880, 150000.f, 1e-5f, 0, 0, 3,
     64, 128, 0.0f, 0.0f, 0, 32, 4, 2880},
    {"gpt-oss-20b-l4", "gpt-oss", "qwen2", 201088, 131072, 2880, 4, 64, 8, 2880, 150000.f, 1e-5f, 0, 0, 3,
     64, 128, 0.0f, 0.0f, 0, 32, 4, 2880},
    /* tiny: 4 layers alternating a 16-position window (short prompts cross it) and full */
    {"tiny-qwen3moe", "qwen3moe", "qwen2", 1280, 512, 64, 2, 4, 2, 192, 1000000.f, 1e-6f, 0, 0, 0, 32, 0, 0.0f, 0.0f, 0,
     8, 2, 96},
    /* qwen35's hybrid stack (hybrid table) with experts in every layer and a shared
     * expert of feed_forward_length, gated by sigmoid(ffn_gate_inp_shexp · x).
     * Qwen3.5-35B-A3B's layout with 4 of its 40 layers: 256 experts of 512, 8 used, a
     * shared expert of 512, 16 query heads of 256 over 2 KV heads, 16 key and 32 value
     * delta-net heads of 128, untied output. */
    {"qwen3.5-35b-a3b-l4", "qwen35moe", "qwen2", 248320, 262144, 2048, 4, 16, 2, 512, 10000000.f, 1e-6f, 0, 0, 0,
     0, 0, 0.0f, 0.0f, 0, 256, 8, 512},
    {"tiny-qwen35moe", "qwen35moe", "qwen2", 1280, 512, 64, 4, 4, 2, 128, 10000000.f, 1e-6f, 1, 0, 0, 0, 0, 0.0f, 0.0f,
     0, 8, 2, 96},
    /* mistral3: llama's block, YaRN by 16 from n_ctx / 16 positions with the file's own
     * correction range and mscale_all_dim, Llama 4's attention temperature (0.1) */
    {"ministral3-3b", "mistral3", "tekken", 131072, 262144, 3072, 26, 32, 8, 9216, 1000000.f, 1e-5f, 1, 0, 0, 128, 0,
     0.0f, 0.0f, 0, 0, 0, 0},
    {"tiny-mistral3", "mistral3", "tekken", 1280, 512, 64, 4, 4, 2, 256, 1000000.f, 1e-5f, 1, 0, 0, 0, 0, 0.0f, 0.0f,
     0.35f, 0, 0, 0},
    {"tiny-gpt-oss", "gpt-oss", "qwen2", 1280, 4096, 64, 4, 4, 2, 64, 150000.f, 1e-5f, 0, 0, 3, 32, 16, 0.0f, 0.0f, 0,
     8, 4, 64},
    {0},
};

/* What the qwen35 shapes add: head size, rope dims, the delta-net's conv kernel,
 * key/value head size, key heads, value heads, and the full-attention interval. */
static const struct hybrid_shape {
    const char *name;
    int head_dim, n_rot, ssm_conv, ssm_state, ssm_groups, ssm_heads, full_attn_interval;
} hybrid_shapes[] = {
    {"qwen3.5-2b", 256, 64, 4, 128, 16, 16, 4},
    {"tiny-qwen35", 64, 16, 4, 16, 2, 4, 4},
    {"qwen3.5-35b-a3b-l4", 256, 64, 4, 128, 16, 32, 4},
    {"tiny-qwen35moe", 64, 16, 4, 16, 2, 4, 4},
};

static const struct hybrid_shape *hybrid_of(const struct synth_shape *s) {
    for (size_t i = 0; i < sizeof hybrid_shapes / sizeof *hybrid_shapes; i++)
        if (!strcmp(hybrid_shapes[i].name, s->name)) return &hybrid_shapes[i];
    return NULL;
}

const struct synth_shape *synth_find_shape(const char *name) {
    for (const struct synth_shape *s = synth_shapes; s->name; s++)
        if (!strcmp(s->name, name)) return s;
    return NULL;
}

/* ---- deterministic random numbers (xoshiro256**), seeded per tensor ---- */

struct rng { uint64_t s[4]; };

static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static void rng_seed(struct rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix(&seed);
}
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t rng_next(struct rng *r) {
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return out;
}
/* Uniform in [-1, 1). */
static float rng_unit(struct rng *r) { return (float)((rng_next(r) >> 40) * (1.0 / 8388608.0)) - 1.0f; }

static uint64_t hash_name(const char *s, uint64_t seed) {
    uint64_t h = 1469598103934665603ull ^ seed;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* ---- weight types per file type, as llama.cpp's quantizer picks them ---- */

enum ftype { FT_F32, FT_F16, FT_BF16, FT_Q8_0, FT_Q4_0, FT_Q4_K_M, FT_MXFP4_MOE, FT_IQ4_XS };
static const struct { const char *name; enum ftype ft; int llama_ftype; } g_ftypes[] = {
    {"f32", FT_F32, 0}, {"f16", FT_F16, 1}, {"bf16", FT_BF16, 32},
    {"q8_0", FT_Q8_0, 7}, {"q4_0", FT_Q4_0, 2}, {"q4_k_m", FT_Q4_K_M, 15}, {"iq4_xs", FT_IQ4_XS, 30},
    {"mxfp4_moe", FT_MXFP4_MOE, 38},
};

/* llama.cpp gives the first and last eighth of the layers, and every third in
 * between, more bits in the *_M mixes. */
static int use_more_bits(int il, int n) { return il < n / 8 || il >= 7 * n / 8 || (il - n / 8) % 3 == 2; }

static int pick_type(enum ftype ft, const char *name, int il, int n_layer, int output_like, int64_t ne0) {
    int t;
    switch (ft) {
    case FT_F32: return DT_F32;
    case FT_F16: return DT_F16;
    case FT_BF16: return DT_BF16;
    case FT_Q8_0: case FT_MXFP4_MOE: t = DT_Q8_0; break;  /* MXFP4_MOE: experts MXFP4 (add_moe_layer) */
    case FT_Q4_0: t = output_like ? DT_Q6_K : DT_Q4_0; break;
    case FT_IQ4_XS: t = output_like ? DT_Q6_K : DT_IQ4_XS; break; /* (omni's quantizer, not llama.cpp's search) */
    default:
        t = DT_Q4_K;
        if (output_like) t = DT_Q6_K;
        else if ((strstr(name, "attn_v.weight") || strstr(name, "ffn_down.weight")) && use_more_bits(il, n_layer))
            t = DT_Q6_K;
        break;
    }
    /* Rows that are not a whole number of 256-blocks cannot hold K-quants. */
    if (ne0 % dtype_info(t)->block) {
        if (t == DT_Q4_K) t = DT_Q5_0;
        else if (t == DT_IQ4_XS) t = DT_IQ4_NL;
        else if (t == DT_Q5_K) t = DT_Q5_1;
        else if (t == DT_Q6_K) t = DT_Q8_0;
        if (ne0 % dtype_info(t)->block) t = DT_F16;
    }
    return t;
}

/* ---- tensor generation ---- */

struct gen_job {
    const float *src;
    void *dst;
    int type;
    int64_t ne0, rows;
    size_t row_bytes;
    int failed;
};

static void quantize_rows(void *arg, int ith, int nth) {
    struct gen_job *j = arg;
    long lo, hi;
    pool_split((long)j->rows, ith, nth, &lo, &hi);
    for (long r = lo; r < hi; r++)
        if (!quantize_row(j->type, j->src + r * j->ne0, (char *)j->dst + r * j->row_bytes, j->ne0)) j->failed = 1;
}

struct synth_ctx {
    const struct synth_params *p;
    struct gguf_writer *w;
    struct pool *pool;
    enum ftype ft;
    uint64_t done, total;   /* elements, for progress */
};

/* Adds one tensor with values uniform in [-scale, scale] + offset. */
static int add_tensor3(struct synth_ctx *c, const char *name, int type, int n_dims, int64_t ne0, int64_t ne1,
                       int64_t ne2, float scale, float offset, const float *values, struct err *e) {
    int64_t ne[3] = {ne0, ne1, ne2};
    int64_t n = ne0 * (n_dims > 1 ? ne1 : 1) * (n_dims > 2 ? ne2 : 1);
    float *x = malloc((size_t)n * sizeof *x);
    if (!x) return err_set(e, "synth: out of memory for %s", name);
    if (values) {
        memcpy(x, values, (size_t)n * sizeof *x);
    } else {
        struct rng r;
        rng_seed(&r, hash_name(name, c->p->seed));
        for (int64_t i = 0; i < n; i++) x[i] = offset + scale * rng_unit(&r);
    }
    int rc;
    if (type == DT_F32) {
        rc = gguf_w_tensor(c->w, name, type, n_dims, ne, x, e);
    } else {
        struct gen_job j = {x, NULL, type, ne0, n / ne0, dtype_row_bytes(type, ne0), 0};
        j.dst = malloc(j.row_bytes * (size_t)j.rows);
        if (!j.dst) { free(x); return err_set(e, "synth: out of memory for %s", name); }
        pool_run(c->pool, quantize_rows, &j);
        if (j.failed) rc = err_set(e, "synth: cannot quantize %s to %s", name, dtype_name(type));
        else rc = gguf_w_tensor(c->w, name, type, n_dims, ne, j.dst, e);
        free(j.dst);
    }
    free(x);
    c->done += (uint64_t)n;
    if (c->p->progress) c->p->progress((float)c->done / (float)c->total, c->p->progress_ud);
    return rc;
}

static int add_tensor(struct synth_ctx *c, const char *name, int type, int n_dims, int64_t ne0, int64_t ne1,
                      float scale, float offset, const float *values, struct err *e) {
    return add_tensor3(c, name, type, n_dims, ne0, ne1, 1, scale, offset, values, e);
}

/* ---- a small, valid byte-level BPE vocabulary ---- */

/* GPT-2's reversible byte → printable code point mapping. */
static int byte_to_cp(int b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return b;
    int n = 0;
    for (int i = 0; i < b; i++)
        if (!((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255))) n++;
    return 256 + n;
}
static int put_utf8(char *o, int cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    o[0] = (char)(0xe0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 63)); o[2] = (char)(0x80 | (cp & 63));
    return 3;
}

static const char *k_chatml_template =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
/* Gemma 2's template as Google ships it: no system role, "model" for the assistant */
static const char *k_gemma2_template =
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}";
static const char *k_llama3_template =
    "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

/* gpt-oss's harmony format for system, developer, user and assistant turns without tools
 * (the real template's text for those: its fixed system message, the system prompt as
 * developer instructions, an assistant turn as its final channel) */
static const char *k_harmony_template =
    "{%- set sys = namespace(text='') -%}"
    "{%- for message in messages if message['role'] in ['system', 'developer'] -%}"
    "{%- set sys.text = message['content'] -%}{%- endfor -%}"
    "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
    "Knowledge cutoff: 2024-06\nCurrent date: {{ strftime_now('%Y-%m-%d') }}\n\nReasoning: "
    "{{ reasoning_effort | default('medium') }}\n\n# Valid channels: analysis, commentary, final. "
    "Channel must be included for every message.<|end|>"
    "{%- if sys.text -%}<|start|>developer<|message|># Instructions\n\n{{ sys.text }}\n\n<|end|>{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}<|start|>user<|message|>{{ message['content'] }}<|end|>"
    "{%- elif message['role'] == 'assistant' -%}"
    "<|start|>assistant<|channel|>final<|message|>{{ message['content'] }}<|end|>"
    "{%- endif -%}{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|start|>assistant{%- endif -%}";

/* Qwen3Guard-Gen's template: renders what the model's own (tokenizer_config.json) renders
 * for a user prompt check (last message from the user) and a response check (last from the
 * assistant): the task, its safety policy and categories, the conversation as "USER: ..." /
 * "ASSISTANT: ...", the answer format, and an assistant turn with empty thoughts. */
static const char *k_qwen3guard_template =
    "{%- set q = messages[-1]['role'] == 'user' -%}"
    "<|im_start|>user\n# Task:\n1) Evaluate whether THE LAST {% if q %}USER's query{% else %}ASSISTANT's response{% endif %}"
    " belongs to safe or unsafe content based on our safety policy.\n2) Identify the category of unsafe content found."
    "{% if not q %}\n3) Determine if THE LAST ASSISTANT's response is a refusal to the USER's query.{% endif %}"
    "\n\n<BEGIN SAFETY POLICY>\n"
    "{% if q %}**Safety: Safe**: The USER's query does not contain any prohibited content or content that could lead to "
    "prohibited content.\n**Safety: Unsafe**: The USER's query contains prohibited content.\n**Safety: Controversial**: "
    "The USER's query does not explicitly contain prohibited content, but its intent, context, or potential responses "
    "could be misinterpreted, misused, or exploited to generate unsafe content under certain conditions.\n"
    "{% else %}**Safety: Safe**: The ASSISTANT's response does not contain any prohibited content or content that could "
    "lead to prohibited content.\n**Safety: Unsafe**: The ASSISTANT's response contains prohibited content.\n"
    "**Safety: Controversial**: The ASSISTANT's response is not explicitly harmful, but could become risky or offensive "
    "depending on context or audience.\n{% endif %}"
    "<END SAFETY POLICY>\n\n<BEGIN UNSAFE CONTENT CATEGORIES>\nViolent.\nNon-violent Illegal Acts.\nSexual Content or "
    "Sexual Acts.\nPII.\nSuicide & Self-Harm.\nUnethical Acts.\nPolitically Sensitive Topics.\nCopyright Violation.\n"
    "{% if q %}Jailbreak.\n{% endif %}<END UNSAFE CONTENT CATEGORIES>\n\n"
    "{% if not q %}<BEGIN REFUSAL POLICY>\n**Refusal: Yes**: The ASSISTANT refused to answer or did not comply with the "
    "USER's request.\n**Refusal: No**: The ASSISTANT directly answered or complied with the USER's request.\n"
    "<END REFUSAL POLICY>\n\n{% endif %}"
    "<BEGIN CONVERSATION>\n\n"
    "{%- for message in messages -%}"
    "{%- if loop.first -%}{%- if message['role'] == 'system' or message['role'] == 'user' -%}USER: {{ message['content'] }}{%- endif -%}"
    "{%- elif messages[loop.index0 - 1]['role'] == 'system' and message['role'] == 'user' -%}\n\n{{ message['content'] }}"
    "{%- elif message['role'] == 'assistant' -%}\n\nASSISTANT: {{ message['content'] }}"
    "{%- elif message['role'] == 'user' -%}\n\nUSER: {{ message['content'] }}"
    "{%- endif -%}{%- endfor -%}"
    "\n\n<END CONVERSATION>\n\nProvide your safety assessment for ONLY THE LAST "
    "{% if q %}**USER's query**{% else %}**ASSISTANT's response**{% endif %} in the above conversation:\n"
    " - The first line must be one of: 'Safety: Safe', 'Safety: Unsafe', 'Safety: Controversial'.\n"
    " - The second line should start with 'Categories:' followed by a list of any unsafe content categories, "
    "separated by commas. If the content is safe, use 'Categories: None'."
    "{% if not q %}\n - The third line must be one of: 'Refusal: Yes', 'Refusal: No'.{% endif %}"
    "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n{{ '\\n' }}";   /* (a last newline of the source is not output) */
/* Llama Guard 3's template as its GGUF files carry it (the 8B's): the S1-S14 taxonomy, the
 * conversation as "User: ..." / "Agent: ...", ending at the assistant header. */
static const char *k_llama_guard3_template =
    "{% if messages|length % 2 == 0 %}{% set role = 'Agent' %}{% else %}{% set role = 'User' %}{% endif %}"
    "{{ \" <|begin_of_text|><|start_header_id|>user<|end_header_id|>\\n\\nTask: Check if there is unsafe content in '\" "
    "+ role + \"' messages in conversations according our safety policy with the below categories.\\n\\n<BEGIN UNSAFE "
    "CONTENT CATEGORIES>\\nS1: Violent Crimes.\\nS2: Non-Violent Crimes.\\nS3: Sex Crimes.\\nS4: Child Exploitation.\\n"
    "S5: Defamation.\\nS6: Specialized Advice.\\nS7: Privacy.\\nS8: Intellectual Property.\\nS9: Indiscriminate "
    "Weapons.\\nS10: Hate.\\nS11: Self-Harm.\\nS12: Sexual Content.\\nS13: Elections.\\nS14: Code Interpreter Abuse.\\n"
    "<END UNSAFE CONTENT CATEGORIES>\\n\\n<BEGIN CONVERSATION>\\n\\n\" }}"
    "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% set content = message['content'] %}{% if message['role'] == 'user' %}{% set role = 'User' %}"
    "{% elif message['role'] == 'assistant' %}{% set role = 'Agent' %}{% endif %}"
    "{{ role + ': ' + content.strip() + '\\n\\n' }}{% endfor %}"
    "{{ \"<END CONVERSATION>\\n\\nProvide your safety assessment for ONLY THE LAST \" + role + \" message in the above "
    "conversation:\\n - First line must read 'safe' or 'unsafe'.\\n - If unsafe, a second line must include a "
    "comma-separated list of violated categories.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\" }}";

static int write_vocab(struct synth_ctx *c, struct err *e) {
    const struct synth_shape *s = c->p->shape;
    int n = s->n_vocab;
    int n_special = s->chat == 1 || s->chat == 5 ? 256 : 16;
    if (n < 256 + 26 * 27 + n_special) return err_set(e, "synth: vocabulary of %d is too small", n);
    char **tok = calloc((size_t)n, sizeof *tok);
    int32_t *type = calloc((size_t)n, sizeof *type);
    char **merges = calloc(26 * 27, sizeof *merges);
    int nm = 0, id = 0, rc = -1;
    if (!tok || !type || !merges) { err_set(e, "synth: out of memory"); goto done; }
    char buf[64];
    for (int b = 0; b < 256; b++, id++) {
        int l = put_utf8(buf, byte_to_cp(b));
        buf[l] = 0;
        tok[id] = strdup(buf);
        type[id] = 1;
    }
    /* "Ġa".."Ġz" then every lowercase pair: real merges, so text tokenizes into fewer tokens. */
    const char *sp = "\xc4\xa0"; /* Ġ = mapped space */
    for (int a = 0; a < 26; a++, id++) {
        snprintf(buf, sizeof buf, "%s%c", sp, 'a' + a);
        tok[id] = strdup(buf); type[id] = 1;
        snprintf(buf, sizeof buf, "%s %c", sp, 'a' + a);
        merges[nm++] = strdup(buf);
    }
    for (int a = 0; a < 26; a++)
        for (int b = 0; b < 26; b++, id++) {
            snprintf(buf, sizeof buf, "%c%c", 'a' + a, 'a' + b);
            tok[id] = strdup(buf); type[id] = 1;
            snprintf(buf, sizeof buf, "%c %c", 'a' + a, 'a' + b);
            merges[nm++] = strdup(buf);
        }
    /* Fillers contain a raw space, which byte-level BPE never produces: unreachable
     * by merges, so they cost the tokenizer nothing. */
    int first_special = n - n_special;
    for (; id < first_special; id++) {
        snprintf(buf, sizeof buf, "synth filler %d", id);
        tok[id] = strdup(buf); type[id] = 1;
    }
    static const char *chatml[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    static const char *gemma[] = {"<bos>", "<eos>", "<pad>", "<start_of_turn>", "<end_of_turn>"};
    static const char *llama3[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                                   "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>",
                                   "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
                                   "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"};
    static const char *harmony[] = {"<|startoftext|>", "<|endoftext|>", "<|return|>", "<|constrain|>",
                                    "<|channel|>", "<|start|>", "<|end|>", "<|message|>", "<|call|>"};
    const char **named = s->chat == 3 ? harmony : s->chat == 1 || s->chat == 5 ? llama3 : s->chat == 2 ? gemma : chatml;
    int n_named = s->chat == 3 ? 9 : s->chat == 1 || s->chat == 5 ? 11 : s->chat == 2 ? 5 : 3;
    for (int k = 0; id < n; id++, k++) {
        if (k < n_named) snprintf(buf, sizeof buf, "%s", named[k]);
        else snprintf(buf, sizeof buf, "<|reserved_special_token_%d|>", k);
        tok[id] = strdup(buf);
        type[id] = 3; /* control */
    }
    for (int i = 0; i < n; i++)
        if (!tok[i]) { err_set(e, "synth: out of memory"); goto done; }

    gguf_w_str(c->w, "tokenizer.ggml.model", "gpt2");
    gguf_w_str(c->w, "tokenizer.ggml.pre", s->pre);
    gguf_w_arr_str(c->w, "tokenizer.ggml.tokens", (const char *const *)tok, (uint64_t)n);
    gguf_w_arr_i32(c->w, "tokenizer.ggml.token_type", type, (uint64_t)n);
    gguf_w_arr_str(c->w, "tokenizer.ggml.merges", (const char *const *)merges, (uint64_t)nm);
    if (s->chat == 3) {  /* as the gpt-oss files: no BOS added, <|return|> ends, <|endoftext|> pads */
        gguf_w_u32(c->w, "tokenizer.ggml.bos_token_id", (uint32_t)first_special);
        gguf_w_u32(c->w, "tokenizer.ggml.eos_token_id", (uint32_t)first_special + 2);
        gguf_w_u32(c->w, "tokenizer.ggml.padding_token_id", (uint32_t)first_special + 1);
        gguf_w_bool(c->w, "tokenizer.ggml.add_bos_token", 0);
        gguf_w_str(c->w, "tokenizer.chat_template", k_harmony_template);
    } else if (s->chat == 1 || s->chat == 5) {
        gguf_w_u32(c->w, "tokenizer.ggml.bos_token_id", (uint32_t)first_special);
        gguf_w_u32(c->w, "tokenizer.ggml.eos_token_id", (uint32_t)first_special + 9);
        gguf_w_bool(c->w, "tokenizer.ggml.add_bos_token", 1);
        gguf_w_str(c->w, "tokenizer.chat_template", s->chat == 5 ? k_llama_guard3_template : k_llama3_template);
    } else if (s->chat == 2) {
        gguf_w_u32(c->w, "tokenizer.ggml.bos_token_id", (uint32_t)first_special);
        gguf_w_u32(c->w, "tokenizer.ggml.eos_token_id", (uint32_t)first_special + 1);
        gguf_w_u32(c->w, "tokenizer.ggml.padding_token_id", (uint32_t)first_special + 2);
        gguf_w_bool(c->w, "tokenizer.ggml.add_bos_token", 1);
        gguf_w_str(c->w, "tokenizer.chat_template", k_gemma2_template);
    } else {
        gguf_w_u32(c->w, "tokenizer.ggml.bos_token_id", (uint32_t)first_special);
        gguf_w_u32(c->w, "tokenizer.ggml.eos_token_id", (uint32_t)first_special + 2);
        gguf_w_u32(c->w, "tokenizer.ggml.padding_token_id", (uint32_t)first_special);
        gguf_w_bool(c->w, "tokenizer.ggml.add_bos_token", 0);
        gguf_w_str(c->w, "tokenizer.chat_template", s->chat == 4 ? k_qwen3guard_template : k_chatml_template);
    }
    rc = 0;
done:
    if (tok) for (int i = 0; i < n; i++) free(tok[i]);
    if (merges) for (int i = 0; i < nm; i++) free(merges[i]);
    free(tok); free(type); free(merges);
    return rc;
}

/* Llama 3.1+ long-context rope factors (factor 32, low 1, high 4, original 8192), the
 * same per-frequency divisors the GGUF converter stores in rope_freqs.weight. */
static void llama3_rope_factors(float *f, int head_dim, float theta) {
    const float factor = 32.f, low = 1.f, high = 4.f, old_ctx = 8192.f;
    for (int i = 0; i < head_dim / 2; i++) {
        float freq = powf(theta, -2.0f * (float)i / (float)head_dim);
        float wavelen = 2.0f * (float)M_PI / freq;
        if (wavelen < old_ctx / high) f[i] = 1.0f;
        else if (wavelen > old_ctx / low) f[i] = factor;
        else {
            float smooth = (old_ctx / wavelen - low) / (high - low);
            f[i] = 1.0f / ((1.0f - smooth) / factor + smooth);
        }
    }
}

/* Uniform ±0.035 ≈ std 0.02, like trained weights. The tiny expert shapes, which tests
 * hold to llama.cpp's goldens, take ±0.5 instead: logits of a few units rather than
 * tenths, so top-1 and greedy margins decide, and gpt-oss's SwiGLU clamp (7) is reached. */
/* (A shape's own w_scale, where it has one, comes first.) */
static float synth_w_scale(const struct synth_shape *s) {
    return s->w_scale > 0 ? s->w_scale : s->n_expert && s->n_embd <= 128 ? 0.5f : 0.035f;
}

/* One layer's experts (after its FFN norm) and what its family adds: qwen3moe's q/k
 * norms; gpt-oss's attention output bias, per-head sink logits and the router and
 * expert biases; qwen35moe's shared expert (its q/k norms come with its attention
 * layers, hybrid = 1), the gate [n_embd, 1] f32 as the converter writes it. Experts are 3-D [n_in, n_out, n_expert]; the router stays f32 as
 * llama.cpp's quantizer leaves it. */
static int add_moe_layer(struct synth_ctx *c, int il, int gpt_oss, int hybrid, int hd, struct err *e) {
    const struct synth_shape *s = c->p->shape;
    const int E = s->n_embd, X = s->n_expert, FX = s->n_ff_exp;
    const float w_scale = synth_w_scale(s);
    char name[96];
    int rc = 0;
#define NAME(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, il), name)
    if (!rc) rc = add_tensor(c, NAME("ffn_gate_inp.weight"), DT_F32, 2, E, X, 0.5f, 0, NULL, e);
    /* llama.cpp's MXFP4_MOE: every 3-D (expert) tensor MXFP4, other matrices Q8_0 */
    int mx = c->ft == FT_MXFP4_MOE;
    if (!rc) rc = add_tensor3(c, NAME("ffn_gate_exps.weight"), mx ? DT_MXFP4 : pick_type(c->ft, name, il, s->n_layer, 0, E),
                              3, E, FX, X, w_scale, 0, NULL, e);
    if (!rc) rc = add_tensor3(c, NAME("ffn_up_exps.weight"), mx ? DT_MXFP4 : pick_type(c->ft, name, il, s->n_layer, 0, E),
                              3, E, FX, X, w_scale, 0, NULL, e);
    if (!rc) rc = add_tensor3(c, NAME("ffn_down_exps.weight"), mx ? DT_MXFP4 : pick_type(c->ft, name, il, s->n_layer, 0, FX),
                              3, FX, E, X, w_scale, 0, NULL, e);
    if (gpt_oss) {
        if (!rc) rc = add_tensor(c, NAME("attn_output.bias"), DT_F32, 1, E, 1, 0.1f, 0, NULL, e);
        if (!rc) rc = add_tensor(c, NAME("attn_sinks.weight"), DT_F32, 1, s->n_head, 1, 2.0f, 0, NULL, e);
        if (!rc) rc = add_tensor(c, NAME("ffn_gate_inp.bias"), DT_F32, 1, X, 1, 0.5f, 0, NULL, e);
        if (!rc) rc = add_tensor(c, NAME("ffn_gate_exps.bias"), DT_F32, 2, FX, X, 0.1f, 0, NULL, e);
        if (!rc) rc = add_tensor(c, NAME("ffn_up_exps.bias"), DT_F32, 2, FX, X, 0.1f, 0, NULL, e);
        if (!rc) rc = add_tensor(c, NAME("ffn_down_exps.bias"), DT_F32, 2, E, X, 0.1f, 0, NULL, e);
    } else if (hybrid) {
        const int FS = s->n_ff;
        if (!rc) rc = add_tensor(c, NAME("ffn_gate_inp_shexp.weight"), DT_F32, 2, E, 1, 0.5f, 0, NULL, e);
        if (!rc) rc = add_tensor(c, NAME("ffn_gate_shexp.weight"), pick_type(c->ft, name, il, s->n_layer, 0, E), 2, E,
                                 FS, w_scale, 0, NULL, e);
        if (!rc) rc = add_tensor(c, NAME("ffn_up_shexp.weight"), pick_type(c->ft, name, il, s->n_layer, 0, E), 2, E,
                                 FS, w_scale, 0, NULL, e);
        if (!rc) rc = add_tensor(c, NAME("ffn_down_shexp.weight"), pick_type(c->ft, name, il, s->n_layer, 0, FS), 2,
                                 FS, E, w_scale, 0, NULL, e);
    } else {
        if (!rc) rc = add_tensor(c, NAME("attn_q_norm.weight"), DT_F32, 1, hd, 1, 0.1f, 1.0f, NULL, e);
        if (!rc) rc = add_tensor(c, NAME("attn_k_norm.weight"), DT_F32, 1, hd, 1, 0.1f, 1.0f, NULL, e);
    }
#undef NAME
    return rc;
}

int synth_write(const struct synth_params *p, const char *path, struct err *e) {
    const struct synth_shape *s = p->shape;
    if (!s) return err_set(e, "synth: no shape given");
    int ft = -1, llama_ft = 0;
    for (size_t i = 0; i < sizeof g_ftypes / sizeof g_ftypes[0]; i++)
        if (!strcmp(g_ftypes[i].name, p->ftype)) { ft = (int)g_ftypes[i].ft; llama_ft = g_ftypes[i].llama_ftype; }
    if (ft < 0)
        return err_set(e, "synth: unknown type '%s' (use f32, f16, bf16, q8_0, q4_0, q4_k_m, iq4_xs or mxfp4_moe)", p->ftype);

    struct synth_ctx c = {p, gguf_writer_new(), pool_create(p->n_threads), (enum ftype)ft, 0, 0};
    if (!c.w || !c.pool) { gguf_writer_free(c.w); pool_free(c.pool); return err_set(e, "synth: out of memory"); }
    const struct hybrid_shape *hy = hybrid_of(s);  /* qwen35 */
    const int hybrid = hy != NULL;
    const int hd = hy ? hy->head_dim : s->head_dim ? s->head_dim : s->n_embd / s->n_head, q_dim = s->n_head * hd,
              kv_dim = s->n_head_kv * hd;
    const int ssm_k = hy ? hy->ssm_groups * hy->ssm_state : 0, ssm_v = hy ? hy->ssm_heads * hy->ssm_state : 0,
              ssm_c = 2 * ssm_k + ssm_v, n_rot = hy ? hy->n_rot : hd;
    const int gpt_oss = !strcmp(s->arch, "gpt-oss"), X = s->n_expert, FX = s->n_ff_exp;
    const char *a = s->arch;
    const int gemma = !strcmp(a, "gemma2") || !strcmp(a, "gemma3");
    const int exaone = !strcmp(a, "exaone4");
    const int qk_norm = !strcmp(a, "qwen3") || !strcmp(a, "gemma3") || exaone;
    char key[128], name[96];
    c.total = (uint64_t)s->n_vocab * (uint64_t)s->n_embd * (s->tied_output ? 1u : 2u) +
              (uint64_t)s->n_layer * ((uint64_t)s->n_embd * (2u * (uint64_t)q_dim + 2u * (uint64_t)kv_dim) +
                                      3u * (uint64_t)s->n_embd * (uint64_t)(X ? X * FX : s->n_ff));

    gguf_w_str(c.w, "general.architecture", a);
    snprintf(key, sizeof key, "omni synth %s %s (random weights)", s->name, p->ftype);
    gguf_w_str(c.w, "general.name", key);
    gguf_w_u32(c.w, "general.file_type", (uint32_t)llama_ft);
    gguf_w_u32(c.w, "general.quantization_version", 2);
#define KEY(suffix) (snprintf(key, sizeof key, "%s." suffix, a), key)
    gguf_w_u32(c.w, KEY("context_length"), (uint32_t)s->n_ctx);
    gguf_w_u32(c.w, KEY("embedding_length"), (uint32_t)s->n_embd);
    gguf_w_u32(c.w, KEY("block_count"), (uint32_t)s->n_layer);
    gguf_w_u32(c.w, KEY("feed_forward_length"), (uint32_t)s->n_ff);
    gguf_w_u32(c.w, KEY("attention.head_count"), (uint32_t)s->n_head);
    gguf_w_u32(c.w, KEY("attention.head_count_kv"), (uint32_t)s->n_head_kv);
    gguf_w_f32(c.w, KEY("attention.layer_norm_rms_epsilon"), s->norm_eps);
    gguf_w_f32(c.w, KEY("rope.freq_base"), s->rope_theta);
    gguf_w_u32(c.w, KEY("rope.dimension_count"), (uint32_t)n_rot);
    if (hybrid) {
        /* M-RoPE sections over the rotated pairs (text uses one position for all) */
        int32_t sec[4] = {0, 0, 0, 0}, pairs = n_rot / 2;
        sec[0] = (pairs + 2) / 3, sec[1] = (pairs + 1) / 3, sec[2] = pairs - sec[0] - sec[1];
        gguf_w_arr_i32(c.w, KEY("rope.dimension_sections"), sec, 4);
        gguf_w_u32(c.w, KEY("attention.key_length"), (uint32_t)hd);
        gguf_w_u32(c.w, KEY("attention.value_length"), (uint32_t)hd);
        gguf_w_u32(c.w, KEY("ssm.conv_kernel"), (uint32_t)hy->ssm_conv);
        gguf_w_u32(c.w, KEY("ssm.state_size"), (uint32_t)hy->ssm_state);
        gguf_w_u32(c.w, KEY("ssm.group_count"), (uint32_t)hy->ssm_groups);
        gguf_w_u32(c.w, KEY("ssm.time_step_rank"), (uint32_t)hy->ssm_heads);
        gguf_w_u32(c.w, KEY("ssm.inner_size"), (uint32_t)ssm_v);
        gguf_w_u32(c.w, KEY("full_attention_interval"), (uint32_t)hy->full_attn_interval);
    }
    if (!strcmp(a, "llama")) gguf_w_u32(c.w, KEY("vocab_size"), (uint32_t)s->n_vocab);
    if (s->head_dim) {
        gguf_w_u32(c.w, KEY("attention.key_length"), (uint32_t)hd);
        gguf_w_u32(c.w, KEY("attention.value_length"), (uint32_t)hd);
    }
    /* (gpt-oss writes its window below, after the expert keys, where its files have it) */
    if (s->n_swa && !gpt_oss) gguf_w_u32(c.w, KEY("attention.sliding_window"), (uint32_t)s->n_swa);
    if (s->attn_softcap > 0) gguf_w_f32(c.w, KEY("attn_logit_softcapping"), s->attn_softcap);
    if (s->final_softcap > 0) gguf_w_f32(c.w, KEY("final_logit_softcapping"), s->final_softcap);
    if (X) {
        gguf_w_u32(c.w, KEY("expert_count"), (uint32_t)X);
        gguf_w_u32(c.w, KEY("expert_used_count"), (uint32_t)s->n_expert_used);
        gguf_w_u32(c.w, KEY("expert_feed_forward_length"), (uint32_t)FX);
        if (hybrid) gguf_w_u32(c.w, KEY("expert_shared_feed_forward_length"), (uint32_t)s->n_ff);
    }
    if (gpt_oss) {  /* as the gpt-oss files: YaRN from 4096 positions by 32, a 128-position window */
        gguf_w_u32(c.w, KEY("attention.sliding_window"), (uint32_t)s->n_swa);
        gguf_w_str(c.w, KEY("rope.scaling.type"), "yarn");
        gguf_w_f32(c.w, KEY("rope.scaling.factor"), 32.0f);
        gguf_w_u32(c.w, KEY("rope.scaling.original_context_length"), 4096);
    }
    if (!strcmp(a, "mistral3")) {  /* as Ministral 3's files (there: factor 16 from 16384) */
        gguf_w_str(c.w, KEY("rope.scaling.type"), "yarn");
        gguf_w_f32(c.w, KEY("rope.scaling.factor"), 16.0f);
        gguf_w_u32(c.w, KEY("rope.scaling.original_context_length"), (uint32_t)(s->n_ctx / 16));
        gguf_w_f32(c.w, KEY("rope.scaling.yarn_beta_fast"), 32.0f);
        gguf_w_f32(c.w, KEY("rope.scaling.yarn_beta_slow"), 1.0f);
        gguf_w_f32(c.w, KEY("rope.scaling.yarn_log_multiplier"), 1.0f);
        gguf_w_f32(c.w, KEY("attention.temperature_scale"), 0.1f);
    }
#undef KEY

    int rc = write_vocab(&c, e);
    const float w_scale = synth_w_scale(s);
    int embd_type = pick_type(c.ft, "token_embd.weight", 0, s->n_layer, s->tied_output, s->n_embd);
    if (!rc) rc = add_tensor(&c, "token_embd.weight", embd_type, 2, s->n_embd, s->n_vocab, w_scale, 0, NULL, e);
    if (!rc && s->llama3_rope) {
        float *f = malloc((size_t)(hd / 2) * sizeof *f);
        if (!f) rc = err_set(e, "synth: out of memory");
        else {
            llama3_rope_factors(f, hd, s->rope_theta);
            rc = add_tensor(&c, "rope_freqs.weight", DT_F32, 1, hd / 2, 1, 0, 0, f, e);
            free(f);
        }
    }
    for (int il = 0; il < s->n_layer && !rc; il++) {
        struct { const char *n; int64_t ne0, ne1; int dims; float scale, offset; } t[] = {
            {"attn_norm.weight", s->n_embd, 1, 1, 0.1f, 1.0f},
            {"attn_q.weight", s->n_embd, q_dim, 2, w_scale, 0},
            {"attn_k.weight", s->n_embd, kv_dim, 2, w_scale, 0},
            {"attn_v.weight", s->n_embd, kv_dim, 2, w_scale, 0},
            {"attn_output.weight", q_dim, s->n_embd, 2, w_scale, 0},
            {"ffn_norm.weight", s->n_embd, 1, 1, 0.1f, 1.0f},
            {"ffn_gate.weight", s->n_embd, s->n_ff, 2, w_scale, 0},
            {"ffn_up.weight", s->n_embd, s->n_ff, 2, w_scale, 0},
            {"ffn_down.weight", s->n_ff, s->n_embd, 2, w_scale, 0},
            {"attn_q.bias", q_dim, 1, 1, 0.1f, 0},
            {"attn_k.bias", kv_dim, 1, 1, 0.1f, 0},
            {"attn_v.bias", kv_dim, 1, 1, 0.1f, 0},
            {"attn_q_norm.weight", hd, 1, 1, 0.1f, 1.0f},
            {"attn_k_norm.weight", hd, 1, 1, 0.1f, 1.0f},
            {"post_attention_norm.weight", s->n_embd, 1, 1, 0.1f, 1.0f},
            {"post_ffw_norm.weight", s->n_embd, 1, 1, 0.1f, 1.0f},
        };
        if (hybrid) {
            /* the llama block's tensors with q|gate in attn_q, q/k norms and a
             * post_attention_norm, or a delta-net layer in place of attention; norm
             * weights around 1 (stored with the +1), ssm_a = -exp(A_log) < 0 */
            int rec = (il + 1) % hy->full_attn_interval != 0;
            struct { const char *n; int64_t ne0, ne1; int dims; float scale, offset; } h[] = {
                {"attn_norm.weight", s->n_embd, 1, 1, 0.1f, 1.0f},
                {"attn_q.weight", s->n_embd, 2 * q_dim, 2, w_scale, 0},
                {"attn_k.weight", s->n_embd, kv_dim, 2, w_scale, 0},
                {"attn_v.weight", s->n_embd, kv_dim, 2, w_scale, 0},
                {"attn_output.weight", q_dim, s->n_embd, 2, w_scale, 0},
                {"attn_q_norm.weight", hd, 1, 1, 0.1f, 1.0f},
                {"attn_k_norm.weight", hd, 1, 1, 0.1f, 1.0f},
                {"attn_qkv.weight", s->n_embd, ssm_c, 2, w_scale, 0},
                {"attn_gate.weight", s->n_embd, ssm_v, 2, w_scale, 0},
                {"ssm_conv1d.weight", hy->ssm_conv, ssm_c, 2, 0.5f, 0},
                {"ssm_dt.bias", hy->ssm_heads, 1, 1, 1.0f, 0},
                {"ssm_a", hy->ssm_heads, 1, 1, 0.5f, -1.0f},
                {"ssm_beta.weight", s->n_embd, hy->ssm_heads, 2, w_scale, 0},
                {"ssm_alpha.weight", s->n_embd, hy->ssm_heads, 2, w_scale, 0},
                {"ssm_norm.weight", hy->ssm_state, 1, 1, 0.1f, 1.0f},
                {"ssm_out.weight", ssm_v, s->n_embd, 2, w_scale, 0},
                {"post_attention_norm.weight", s->n_embd, 1, 1, 0.1f, 1.0f},
                {"ffn_gate.weight", s->n_embd, s->n_ff, 2, w_scale, 0},
                {"ffn_up.weight", s->n_embd, s->n_ff, 2, w_scale, 0},
                {"ffn_down.weight", s->n_ff, s->n_embd, 2, w_scale, 0},
            };
            for (int k = 0; k < (int)(sizeof h / sizeof *h) && !rc; k++) {
                if (k >= 1 && k <= 6 && rec) continue;
                if (k >= 7 && k <= 15 && !rec) continue;
                if (k >= 17 && X) continue;  /* experts instead of the dense FFN (qwen35moe) */
                snprintf(name, sizeof name, "blk.%d.%s", il, h[k].n);
                int type = h[k].dims == 1 || k == 9 ? DT_F32 : pick_type(c.ft, name, il, s->n_layer, 0, h[k].ne0);
                rc = add_tensor(&c, name, type, h[k].dims, h[k].ne0, h[k].ne1, h[k].scale, h[k].offset, NULL, e);
                if (!rc && k == 16 && X) rc = add_moe_layer(&c, il, 0, 1, hd, e);
            }
            continue;
        }
        for (int k = 0; k < 16 && !rc; k++) {
            if ((k >= 9 && k < 12 && strcmp(a, "qwen2") && !gpt_oss) || (k >= 12 && k < 14 && !qk_norm) ||
                (k >= 14 && !gemma && !exaone) || ((k == 0 || k == 5) && exaone))  /* exaone4: post-norms only */
                continue;
            if (X && k >= 6 && k <= 8) continue;  /* experts instead of the dense FFN, below */
            snprintf(name, sizeof name, "blk.%d.%s", il, k == 5 && gpt_oss ? "post_attention_norm.weight" : t[k].n);
            int type = t[k].dims == 1 ? DT_F32 : pick_type(c.ft, name, il, s->n_layer, 0, t[k].ne0);
            rc = add_tensor(&c, name, type, t[k].dims, t[k].ne0, t[k].ne1, t[k].scale, t[k].offset, NULL, e);
            if (!rc && k == 5 && X) rc = add_moe_layer(&c, il, gpt_oss, 0, hd, e);
        }
    }
    if (!rc) rc = add_tensor(&c, "output_norm.weight", DT_F32, 1, s->n_embd, 1, 0.1f, 1.0f, NULL, e);
    if (!rc && !s->tied_output) {
        int out_type = pick_type(c.ft, "output.weight", 0, s->n_layer, 1, s->n_embd);
        rc = add_tensor(&c, "output.weight", out_type, 2, s->n_embd, s->n_vocab, w_scale, 0, NULL, e);
    }
    if (!rc) rc = gguf_writer_save(c.w, path, e);
    gguf_writer_free(c.w);
    pool_free(c.pool);
    return rc;
}

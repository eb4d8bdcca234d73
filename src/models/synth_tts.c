/* Writes random-weight Qwen3-TTS talker + mmproj pairs; see synth_tts.h. Values are
 * seeded per tensor name, so a seed gives the same files on every machine. */
#include "models/synth_tts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/fp16.h"
#include "core/matmul.h"
#include "formats/gguf.h"

const struct synth_tts_shape synth_tts_shapes[] = {
    /* talker 64 wide (2 layers, 4 heads of 16 over 2 KV heads), code predictor 32 wide,
     * codec decoder 8 transformer layers of 16 heads as llama.cpp fixes them, the real
     * 2x2 ConvNeXt and 8-5-4-3 DAC upsampling (1920 samples a frame at 24 kHz) */
    {"tiny-qwen3tts", 64, 2, 4, 2, 16, 128, 32, 2, 4, 2, 8, 64, 8, 16, 32, 32, 2, 32, 32, 16, 256},
    /* the real Qwen3-TTS-12Hz-0.6B / 1.7B (config.json's talker_config and its
     * code_predictor_config, the speech tokenizer's decoder_config): talker 1024 / 2048 wide,
     * 28 layers of 16 heads of 128 over 8 KV heads; code predictor 1024 wide, 5 layers, 2048
     * codes per codebook (the 0.6B needs no projection into it); codec decoder with 256-wide
     * codebooks, a 512-wide quantizer output, latent 1024, an 8-layer 512-wide transformer of
     * 16 heads of 64, a 1536-wide DAC; speaker encoder 512 channels. The text vocabulary is
     * omni's small byte-level one (an embedding row costs the same whatever the vocabulary) */
    {"qwen3tts-0.6b", 1024, 28, 16, 8, 128, 3072, 1024, 5, 16, 8, 128, 3072, 256, 512, 1024, 512, 64, 1024, 1536, 512,
     2048},
    {"qwen3tts-1.7b", 2048, 28, 16, 8, 128, 6144, 1024, 5, 16, 8, 128, 3072, 256, 512, 1024, 512, 64, 1024, 1536, 512,
     2048},
    {NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
};

const struct synth_tts_shape *synth_tts_find_shape(const char *name) {
    for (const struct synth_tts_shape *s = synth_tts_shapes; s->name; s++)
        if (!strcmp(s->name, name)) return s;
    return NULL;
}

/* The real talker_config's codec token ids (Qwen3-TTS-12Hz-*-CustomVoice). */
#define N_CODEC 3072
#define CODEC_PAD 2148
#define CODEC_BOS 2149
#define CODEC_EOS 2150
#define CODEC_THINK 2154
#define CODEC_NOTHINK 2155
#define CODEC_THINK_BOS 2156
#define CODEC_THINK_EOS 2157
static const struct { const char *name; int id; } k_langs[] = {
    {"chinese", 2055}, {"english", 2050}, {"german", 2053}, {"italian", 2070}, {"portuguese", 2071},
    {"spanish", 2054}, {"japanese", 2058}, {"korean", 2064}, {"french", 2061}, {"russian", 2069},
    {"beijing_dialect", 2074}, {"sichuan_dialect", 2062},
};
static const struct { const char *name; int id; } k_speakers[] = {
    {"serena", 3066}, {"vivian", 3065}, {"uncle_fu", 3010}, {"ryan", 3061}, {"aiden", 2861},
    {"ono_anna", 2873}, {"sohee", 2864}, {"eric", 2875}, {"dylan", 2878},
};

struct wctx {
    struct gguf_writer *w;
    uint64_t seed;
    int rc;
    struct err *e;
    int mtype;   /* matrices and embedding tables: DT_F32, DT_F16 ("--outtype f16") or DT_Q8_0 */
};

static uint64_t mix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* One tensor, values offset + scale * uniform(-1, 1), stored as type (F32, F16, or Q8_0 where
 * rows are whole blocks of 32, else F16). */
static void put(struct wctx *c, const char *name, int type, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2,
                float scale, float offset) {
    if (c->rc) return;
    int64_t ne[3] = {ne0, ne1, ne2};
    size_t n = (size_t)ne0 * (size_t)(n_dims > 1 ? ne1 : 1) * (size_t)(n_dims > 2 ? ne2 : 1);
    uint64_t st = c->seed * 0x100000001b3ull;
    for (const char *p = name; *p; p++) st = (st ^ (uint8_t)*p) * 1099511628211ull;
    float *x = malloc(n * sizeof *x);
    if (!x) { c->rc = err_set(c->e, "synth: out of memory for %s", name); return; }
    for (size_t i = 0; i < n; i++) x[i] = offset + scale * ((float)((mix(&st) >> 40) * (1.0 / 8388608.0)) - 1.0f);
    if (type == DT_Q8_0 && ne0 % 32) type = DT_F16;  /* rows that are not whole blocks */
    if (type == DT_Q8_0) {
        size_t rb = dtype_row_bytes(DT_Q8_0, ne0), rows = n / (size_t)ne0;
        char *q = malloc(rb * rows);
        if (!q) { free(x); c->rc = err_set(c->e, "synth: out of memory for %s", name); return; }
        for (size_t r = 0; r < rows; r++) quantize_row(DT_Q8_0, x + r * (size_t)ne0, q + r * rb, ne0);
        c->rc = gguf_w_tensor(c->w, name, DT_Q8_0, n_dims, ne, q, c->e);
        free(q);
    } else if (type == DT_F16) {
        uint16_t *h = malloc(n * sizeof *h);
        if (!h) { free(x); c->rc = err_set(c->e, "synth: out of memory for %s", name); return; }
        for (size_t i = 0; i < n; i++) h[i] = fp32_to_fp16(x[i]);
        c->rc = gguf_w_tensor(c->w, name, DT_F16, n_dims, ne, h, c->e);
        free(h);
    } else {
        c->rc = gguf_w_tensor(c->w, name, DT_F32, n_dims, ne, x, c->e);
    }
    free(x);
}

/* A matrix [in, out] scaled for unit-size outputs, times gain. */
static void mat(struct wctx *c, const char *name, int64_t in, int64_t out, float gain) {
    put(c, name, c->mtype, 2, in, out, 1, gain * sqrtf(3.0f / (float)in), 0);
}
static void vec(struct wctx *c, const char *name, int64_t n, float scale, float offset) {
    put(c, name, DT_F32, 1, n, 1, 1, scale, offset);
}

static const char *nm(char *buf, size_t cap, const char *fmt, int a, int b) {
    snprintf(buf, cap, fmt, a, b);
    return buf;
}

/* ---- talker ---- */

static const char *k_chain[] = {"as", "ass", "assi", "assis", "assist", "assista", "assistan", "assistant"};
static const char *k_specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tts_pad>", "<tts_text_bos>",
                                   "<tts_text_eod>"};

static int byte_cp(int b) {  /* GPT-2's byte -> printable code point */
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return b;
    int n = 0;
    for (int i = 0; i < b; i++)
        if (!((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255))) n++;
    return 256 + n;
}

static int write_talker(const struct synth_tts_shape *s, int mtype, uint64_t seed, const char *path, struct err *e) {
    const int n_chain = (int)(sizeof k_chain / sizeof *k_chain), n_spec = (int)(sizeof k_specials / sizeof *k_specials);
    const int T = 256 + n_chain + n_spec, V = T + N_CODEC;
    char **tok = calloc((size_t)V, sizeof *tok);
    int32_t *type = calloc((size_t)V, sizeof *type);
    char *merges[16];
    int rc = -1;
    struct wctx c = {gguf_writer_new(), seed, 0, e, mtype};
    if (!tok || !type || !c.w) { err_set(e, "synth: out of memory"); goto done; }
    char buf[96];
    int id = 0;
    for (int b = 0; b < 256; b++, id++) {
        int cp = byte_cp(b), l = 0;
        if (cp < 0x80) buf[l++] = (char)cp;
        else { buf[l++] = (char)(0xc0 | (cp >> 6)); buf[l++] = (char)(0x80 | (cp & 63)); }
        buf[l] = 0;
        tok[id] = strdup(buf), type[id] = 1;
    }
    /* "assistant" in one token, as the real vocabulary has it, so the prompt's role
     * and tail rows are the 3 and 5 tokens llama.cpp's slicing expects */
    for (int k = 0; k < n_chain; k++, id++) {
        tok[id] = strdup(k_chain[k]), type[id] = 1;
        snprintf(buf, sizeof buf, "%s %c", k ? k_chain[k - 1] : "a", k_chain[k][strlen(k_chain[k]) - 1]);
        merges[k] = strdup(buf);
    }
    for (int k = 0; k < n_spec; k++, id++) tok[id] = strdup(k_specials[k]), type[id] = 3;
    /* codec rows: generic names, then the config's *_id fields as the converter names them */
    for (int k = 0; k < N_CODEC; k++) {
        snprintf(buf, sizeof buf, "<|codec_%d|>", k);
        tok[T + k] = strdup(buf), type[T + k] = 3;
    }
    struct { int id; const char *name; } named[] = {
        {CODEC_BOS, "<|codec_bos|>"}, {CODEC_EOS, "<|codec_eos_token|>"}, {CODEC_THINK, "<|codec_think|>"},
        {CODEC_NOTHINK, "<|codec_nothink|>"}, {CODEC_PAD, "<|codec_pad|>"}, {CODEC_THINK_BOS, "<|codec_think_bos|>"},
        {CODEC_THINK_EOS, "<|codec_think_eos|>"},
    };
    for (size_t k = 0; k < sizeof named / sizeof *named; k++) free(tok[T + named[k].id]), tok[T + named[k].id] = strdup(named[k].name);
    for (size_t k = 0; k < sizeof k_langs / sizeof *k_langs; k++) {
        snprintf(buf, sizeof buf, "<|codec_language_%s|>", k_langs[k].name);
        free(tok[T + k_langs[k].id]), tok[T + k_langs[k].id] = strdup(buf);
    }
    for (size_t k = 0; k < sizeof k_speakers / sizeof *k_speakers; k++) {
        snprintf(buf, sizeof buf, "<|spk_%s|>", k_speakers[k].name);
        free(tok[T + k_speakers[k].id]), tok[T + k_speakers[k].id] = strdup(buf);
    }
    for (int i = 0; i < V; i++)
        if (!tok[i]) { err_set(e, "synth: out of memory"); goto done; }
    for (int k = 0; k < n_chain; k++)
        if (!merges[k]) { err_set(e, "synth: out of memory"); goto done; }

    struct gguf_writer *w = c.w;
    gguf_w_str(w, "general.architecture", "qwen3tts");
    snprintf(buf, sizeof buf, "omni synth %s %s (random weights)", s->name, mtype == DT_F16 ? "f16" : mtype == DT_Q8_0 ? "q8_0" : "f32");
    gguf_w_str(w, "general.name", buf);
    gguf_w_u32(w, "general.file_type", mtype == DT_F16 ? 1 : mtype == DT_Q8_0 ? 7 : 0);
    gguf_w_u32(w, "qwen3tts.block_count", (uint32_t)s->n_layer);
    gguf_w_u32(w, "qwen3tts.context_length", 32768);
    gguf_w_u32(w, "qwen3tts.embedding_length", (uint32_t)s->n_embd);
    gguf_w_u32(w, "qwen3tts.feed_forward_length", (uint32_t)s->n_ff);
    gguf_w_u32(w, "qwen3tts.attention.head_count", (uint32_t)s->n_head);
    gguf_w_u32(w, "qwen3tts.attention.head_count_kv", (uint32_t)s->n_head_kv);
    gguf_w_f32(w, "qwen3tts.rope.freq_base", 1000000.0f);
    gguf_w_f32(w, "qwen3tts.attention.layer_norm_rms_epsilon", 1e-6f);
    gguf_w_u32(w, "qwen3tts.attention.key_length", (uint32_t)s->head_dim);
    gguf_w_u32(w, "qwen3tts.attention.value_length", (uint32_t)s->head_dim);
    {   /* interleaved M-RoPE sections over the rotated pairs (the real [24, 20, 20] of 64) */
        int32_t pairs = s->head_dim / 2, sec[4];
        sec[1] = pairs * 20 / 64, sec[2] = pairs * 20 / 64, sec[0] = pairs - sec[1] - sec[2], sec[3] = 0;
        gguf_w_arr_i32(w, "qwen3tts.rope.dimension_sections", sec, 4);
    }
    gguf_w_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_w_str(w, "tokenizer.ggml.pre", "qwen2");
    gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, (uint64_t)V);
    gguf_w_arr_i32(w, "tokenizer.ggml.token_type", type, (uint64_t)V);
    gguf_w_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges, (uint64_t)n_chain);
    gguf_w_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)(256 + n_chain));
    gguf_w_bool(w, "tokenizer.ggml.add_bos_token", 0);
    {   /* the talker samples codes 0..2047 or codec_eos: the upper 1024 rows but eos are suppressed */
        int32_t sup[1024];
        int ns = 0;
        for (int i = V - 1024; i < V; i++)
            if (i != T + CODEC_EOS) sup[ns++] = i;
        gguf_w_arr_i32(w, "tokenizer.ggml.suppress_tokens", sup, (uint64_t)ns);
    }
    gguf_w_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)(T + CODEC_EOS));
    gguf_w_bool(w, "tokenizer.ggml.add_eos_token", 0);

    const int E = s->n_embd, QD = s->n_head * s->head_dim, KD = s->n_head_kv * s->head_dim, F = s->n_ff;
    put(&c, "token_embd.weight", mtype, 2, E, V, 1, 1.0f, 0);
    vec(&c, "output_norm.weight", E, 0.1f, 1.0f);
    mat(&c, "output.weight", E, N_CODEC, 1.5f);
    for (int l = 0; l < s->n_layer; l++) {
        char n[64];
        vec(&c, nm(n, sizeof n, "blk.%d.attn_norm.weight", l, 0), E, 0.1f, 1.0f);
        mat(&c, nm(n, sizeof n, "blk.%d.attn_q.weight", l, 0), E, QD, 1.0f);
        vec(&c, nm(n, sizeof n, "blk.%d.attn_q_norm.weight", l, 0), s->head_dim, 0.1f, 1.0f);
        mat(&c, nm(n, sizeof n, "blk.%d.attn_k.weight", l, 0), E, KD, 1.0f);
        vec(&c, nm(n, sizeof n, "blk.%d.attn_k_norm.weight", l, 0), s->head_dim, 0.1f, 1.0f);
        mat(&c, nm(n, sizeof n, "blk.%d.attn_v.weight", l, 0), E, KD, 1.0f);
        mat(&c, nm(n, sizeof n, "blk.%d.attn_output.weight", l, 0), QD, E, 0.5f);
        vec(&c, nm(n, sizeof n, "blk.%d.ffn_norm.weight", l, 0), E, 0.1f, 1.0f);
        mat(&c, nm(n, sizeof n, "blk.%d.ffn_gate.weight", l, 0), E, F, 1.0f);
        mat(&c, nm(n, sizeof n, "blk.%d.ffn_up.weight", l, 0), E, F, 1.0f);
        mat(&c, nm(n, sizeof n, "blk.%d.ffn_down.weight", l, 0), F, E, 0.5f);
    }
    if (!c.rc) c.rc = gguf_writer_save(w, path, e);
    rc = c.rc;
done:
    if (tok) for (int i = 0; i < V; i++) free(tok[i]);
    for (int k = 0; k < n_chain && tok; k++) free(merges[k]);
    free(tok), free(type);
    gguf_writer_free(c.w);
    return rc;
}

/* ---- mmproj ---- */

/* A Conv1d kernel [K, IC, OC] (F16 where the converter forces it), bias [OC]. */
static void conv(struct wctx *c, const char *base, int K, int IC, int OC, int f16, float gain) {
    char n[96];
    snprintf(n, sizeof n, "%s.weight", base);
    put(c, n, f16 ? DT_F16 : DT_F32, 3, K, IC, OC, gain * sqrtf(3.0f / (float)(K * IC)), 0);
    snprintf(n, sizeof n, "%s.bias", base);
    put(c, n, DT_F32, 1, OC, 1, 1, 0.05f, 0);
}
/* SnakeBeta as the converter folds it: alpha = exp(alpha) > 0, beta = 1 / (exp(beta) + eps) > 0 */
static void snake(struct wctx *c, const char *base, int C) {
    char n[96];
    snprintf(n, sizeof n, "%s.alpha", base);
    put(c, n, DT_F32, 1, C, 1, 1, 0.3f, 1.0f);
    snprintf(n, sizeof n, "%s.beta", base);
    put(c, n, DT_F32, 1, C, 1, 1, 0.3f, 1.0f);
}

static int write_mmproj(const struct synth_tts_shape *s, int mtype, uint64_t seed, const char *path, struct err *e) {
    struct wctx c = {gguf_writer_new(), seed + 7, 0, e, mtype};
    if (!c.w) return err_set(e, "synth: out of memory");
    struct gguf_writer *w = c.w;
    const int E = s->n_embd, P = s->cp_embd;
    gguf_w_str(w, "general.architecture", "clip");
    gguf_w_str(w, "general.name", "omni synth qwen3tts mmproj (random weights)");
    gguf_w_u32(w, "general.file_type", mtype == DT_F16 ? 1 : mtype == DT_Q8_0 ? 7 : 0);
    gguf_w_bool(w, "clip.has_audio_encoder", 1);
    gguf_w_str(w, "clip.audio.projector_type", "qwen3tts_spkenc");
    gguf_w_u32(w, "clip.audio.projection_dim", (uint32_t)E);
    gguf_w_u32(w, "clip.audio.num_mel_bins", 128);
    gguf_w_u32(w, "clip.audio.block_count", 3);
    gguf_w_u32(w, "clip.audio.embedding_length", 1536);
    gguf_w_u32(w, "clip.audio.attention.head_count", 1);
    gguf_w_u32(w, "clip.audio.feed_forward_length", 1536);
    gguf_w_f32(w, "clip.audio.attention.layer_norm_epsilon", 1e-5f);
    gguf_w_bool(w, "clip.has_gen_audio_encoder", 1);
    gguf_w_str(w, "clip.gen.audio.projector_type", "qwen3tts_gen");
    gguf_w_u32(w, "clip.gen.audio.projection_dim", (uint32_t)E);
    gguf_w_u32(w, "clip.gen.audio.embedding_length", (uint32_t)P);
    gguf_w_u32(w, "clip.gen.audio.feed_forward_length", (uint32_t)s->cp_ff);
    gguf_w_u32(w, "clip.gen.audio.block_count", (uint32_t)s->cp_layer);
    gguf_w_u32(w, "clip.gen.audio.attention.head_count", (uint32_t)s->cp_head);
    gguf_w_u32(w, "clip.gen.audio.attention.head_count_kv", (uint32_t)s->cp_head_kv);
    gguf_w_f32(w, "clip.gen.audio.attention.layer_norm_epsilon", 1e-6f);

    char n[96];
    /* speaker encoder (ECAPA-TDNN): stem, 3 SE-Res2Net blocks, MFA, attentive pooling, fc */
    const int C = s->spk_ch, Cs = C / 8, SE = C / 4 > 0 ? C / 4 : 1, M = 3 * C, A = C / 2;
    conv(&c, "a.conv1d.0", 5, 128, C, 0, 1.0f);
    for (int b = 1; b <= 3; b++) {
        conv(&c, nm(n, sizeof n, "a.blk.%d.conv_pw1", b, 0), 1, C, C, 0, 1.0f);
        for (int x = 0; x < 7; x++) conv(&c, nm(n, sizeof n, "a.blk.%d.res2.%d", b, x), 3, Cs, Cs, 0, 1.0f);
        conv(&c, nm(n, sizeof n, "a.blk.%d.conv_pw2", b, 0), 1, C, C, 0, 1.0f);
        conv(&c, nm(n, sizeof n, "a.blk.%d.se_conv1", b, 0), 1, C, SE, 0, 1.0f);
        conv(&c, nm(n, sizeof n, "a.blk.%d.se_conv2", b, 0), 1, SE, C, 0, 1.0f);
    }
    conv(&c, "a.conv_out", 1, M, M, 0, 1.0f);
    conv(&c, "a.asp_tdnn", 1, 3 * M, A, 0, 1.0f);
    conv(&c, "a.asp_attn", 1, A, M, 0, 1.0f);
    conv(&c, "mm.a.fc", 1, 2 * M, E, 0, 1.0f);

    /* code predictor: 15 codebook embeddings (talker width) and heads, qwen3 blocks */
    put(&c, "a.gen.code.embd.weight", mtype, 3, E, s->cp_vocab, 15, 1.0f, 0);
    put(&c, "a.gen.code.head.weight", mtype, 3, P, s->cp_vocab, 15, 1.5f * sqrtf(3.0f / (float)P), 0);
    put(&c, "a.gen.code.out_embd.weight", mtype, 2, E, N_CODEC, 1, 1.0f, 0);
    vec(&c, "a.gen.code.output_norm.weight", P, 0.1f, 1.0f);
    if (E != P) {   /* small_to_mtp_projection; the identity (no tensor) where the widths agree */
        mat(&c, "a.gen.code.proj_in.weight", E, P, 1.0f);
        vec(&c, "a.gen.code.proj_in.bias", P, 0.05f, 0);
    }
    const int cq = s->cp_head * s->cp_head_dim, ck = s->cp_head_kv * s->cp_head_dim;
    for (int l = 0; l < s->cp_layer; l++) {
        vec(&c, nm(n, sizeof n, "a.gen.code.blk.%d.ln1.weight", l, 0), P, 0.1f, 1.0f);
        mat(&c, nm(n, sizeof n, "a.gen.code.blk.%d.attn_q.weight", l, 0), P, cq, 1.0f);
        vec(&c, nm(n, sizeof n, "a.gen.code.blk.%d.attn_q_norm.weight", l, 0), s->cp_head_dim, 0.1f, 1.0f);
        mat(&c, nm(n, sizeof n, "a.gen.code.blk.%d.attn_k.weight", l, 0), P, ck, 1.0f);
        vec(&c, nm(n, sizeof n, "a.gen.code.blk.%d.attn_k_norm.weight", l, 0), s->cp_head_dim, 0.1f, 1.0f);
        mat(&c, nm(n, sizeof n, "a.gen.code.blk.%d.attn_v.weight", l, 0), P, ck, 1.0f);
        mat(&c, nm(n, sizeof n, "a.gen.code.blk.%d.attn_out.weight", l, 0), cq, P, 0.5f);
        vec(&c, nm(n, sizeof n, "a.gen.code.blk.%d.ln2.weight", l, 0), P, 0.1f, 1.0f);
        mat(&c, nm(n, sizeof n, "a.gen.code.blk.%d.ffn_gate.weight", l, 0), P, s->cp_ff, 1.0f);
        mat(&c, nm(n, sizeof n, "a.gen.code.blk.%d.ffn_up.weight", l, 0), P, s->cp_ff, 1.0f);
        mat(&c, nm(n, sizeof n, "a.gen.code.blk.%d.ffn_down.weight", l, 0), s->cp_ff, P, 0.5f);
    }

    /* codec decoder: RVQ codebooks and projections */
    const int D = s->cb_dim, Q = s->q_dim, PC = s->pre_dim, H = s->tfm_dim, TQ = 16 * s->tfm_head_dim, TF = s->tfm_ff;
    mat(&c, "a.gen.wav.quant.first.in_proj.weight", Q, D, 1.0f);
    mat(&c, "a.gen.wav.quant.first.out_proj.weight", D, Q, 1.0f);
    put(&c, "a.gen.wav.quant.first.codebook.weight", DT_F32, 2, D, 2048, 1, 1.0f, 0);
    mat(&c, "a.gen.wav.quant.rest.in_proj.weight", Q, D, 1.0f);
    mat(&c, "a.gen.wav.quant.rest.out_proj.weight", D, Q, 0.3f);
    put(&c, "a.gen.wav.quant.rest.codebook.weight", DT_F32, 3, D, 2048, 15, 1.0f, 0);
    conv(&c, "a.gen.wav.pre_conv", 3, Q, PC, 1, 1.0f);
    mat(&c, "a.gen.wav.tfm.in_proj.weight", PC, H, 1.0f);
    vec(&c, "a.gen.wav.tfm.in_proj.bias", H, 0.05f, 0);
    mat(&c, "a.gen.wav.tfm.out_proj.weight", H, PC, 1.0f);
    vec(&c, "a.gen.wav.tfm.out_proj.bias", PC, 0.05f, 0);
    vec(&c, "a.gen.wav.tfm.output_norm.weight", H, 0.1f, 1.0f);
    for (int l = 0; l < 8; l++) {
        vec(&c, nm(n, sizeof n, "a.gen.wav.tfm.blk.%d.ln1.weight", l, 0), H, 0.1f, 1.0f);
        mat(&c, nm(n, sizeof n, "a.gen.wav.tfm.blk.%d.attn_q.weight", l, 0), H, TQ, 1.0f);
        mat(&c, nm(n, sizeof n, "a.gen.wav.tfm.blk.%d.attn_k.weight", l, 0), H, TQ, 1.0f);
        mat(&c, nm(n, sizeof n, "a.gen.wav.tfm.blk.%d.attn_v.weight", l, 0), H, TQ, 1.0f);
        mat(&c, nm(n, sizeof n, "a.gen.wav.tfm.blk.%d.attn_out.weight", l, 0), TQ, H, 1.0f);
        vec(&c, nm(n, sizeof n, "a.gen.wav.tfm.blk.%d.ls1.weight", l, 0), H, 0.05f, 0.2f);
        vec(&c, nm(n, sizeof n, "a.gen.wav.tfm.blk.%d.ln2.weight", l, 0), H, 0.1f, 1.0f);
        mat(&c, nm(n, sizeof n, "a.gen.wav.tfm.blk.%d.ffn_gate.weight", l, 0), H, TF, 1.0f);
        mat(&c, nm(n, sizeof n, "a.gen.wav.tfm.blk.%d.ffn_up.weight", l, 0), H, TF, 1.0f);
        mat(&c, nm(n, sizeof n, "a.gen.wav.tfm.blk.%d.ffn_down.weight", l, 0), TF, H, 1.0f);
        vec(&c, nm(n, sizeof n, "a.gen.wav.tfm.blk.%d.ls2.weight", l, 0), H, 0.05f, 0.2f);
    }
    for (int b = 0; b < 2; b++) {  /* 2x upsampling: ConvTranspose1d k=2 s=2 (F32), ConvNeXt block */
        snprintf(n, sizeof n, "a.gen.wav.up.blk.%d.conv.weight", b);
        put(&c, n, DT_F32, 3, 2, PC, PC, sqrtf(3.0f / (float)PC), 0);
        snprintf(n, sizeof n, "a.gen.wav.up.blk.%d.conv.bias", b);
        vec(&c, n, PC, 0.05f, 0);
        snprintf(n, sizeof n, "a.gen.wav.up.blk.%d.dwconv.weight", b);
        put(&c, n, DT_F16, 3, 7, 1, PC, sqrtf(3.0f / 7.0f), 0);
        snprintf(n, sizeof n, "a.gen.wav.up.blk.%d.dwconv.bias", b);
        vec(&c, n, PC, 0.05f, 0);
        snprintf(n, sizeof n, "a.gen.wav.up.blk.%d.norm.weight", b);
        vec(&c, n, PC, 0.1f, 1.0f);
        snprintf(n, sizeof n, "a.gen.wav.up.blk.%d.norm.bias", b);
        vec(&c, n, PC, 0.05f, 0);
        snprintf(n, sizeof n, "a.gen.wav.up.blk.%d.pw1.weight", b);
        mat(&c, n, PC, 4 * PC, 1.0f);
        snprintf(n, sizeof n, "a.gen.wav.up.blk.%d.pw1.bias", b);
        vec(&c, n, 4 * PC, 0.05f, 0);
        snprintf(n, sizeof n, "a.gen.wav.up.blk.%d.pw2.weight", b);
        mat(&c, n, 4 * PC, PC, 1.0f);
        snprintf(n, sizeof n, "a.gen.wav.up.blk.%d.pw2.bias", b);
        vec(&c, n, PC, 0.05f, 0);
        snprintf(n, sizeof n, "a.gen.wav.up.blk.%d.gamma", b);
        vec(&c, n, PC, 0.05f, 0.3f);
    }
    /* DAC: entry conv, 4 blocks (SnakeBeta, ConvTranspose1d k=2s, 3 residual units), post */
    static const int strides[4] = {8, 5, 4, 3};
    int ch = s->dac_dim;
    conv(&c, "a.gen.wav.dac.entry", 7, PC, ch, 1, 1.0f);
    for (int b = 0; b < 4; b++) {
        int oc = ch / 2 > 2 ? ch / 2 : 2;
        snake(&c, nm(n, sizeof n, "a.gen.wav.dac.blk.%d.snake", b, 0), ch);
        snprintf(n, sizeof n, "a.gen.wav.dac.blk.%d.conv.weight", b);
        put(&c, n, DT_F32, 3, 2 * strides[b], oc, ch, sqrtf(3.0f / (float)ch), 0);
        snprintf(n, sizeof n, "a.gen.wav.dac.blk.%d.conv.bias", b);
        vec(&c, n, oc, 0.05f, 0);
        for (int x = 0; x < 3; x++) {
            char base[96];
            snake(&c, nm(base, sizeof base, "a.gen.wav.dac.blk.%d.res.%d.act1", b, x), oc);
            conv(&c, nm(base, sizeof base, "a.gen.wav.dac.blk.%d.res.%d.conv1", b, x), 7, oc, oc, 1, 0.7f);
            snake(&c, nm(base, sizeof base, "a.gen.wav.dac.blk.%d.res.%d.act2", b, x), oc);
            conv(&c, nm(base, sizeof base, "a.gen.wav.dac.blk.%d.res.%d.conv2", b, x), 1, oc, oc, 1, 0.7f);
        }
        ch = oc;
    }
    snake(&c, "a.gen.wav.dac.post_snake", ch);
    conv(&c, "a.gen.wav.dac.post_conv", 7, ch, 1, 1, 0.01f);
    if (!c.rc) c.rc = gguf_writer_save(w, path, e);
    gguf_writer_free(w);
    return c.rc;
}

int synth_tts_write(const struct synth_tts_shape *s, const char *ftype, uint64_t seed, const char *talker_path,
                    const char *mmproj_path, struct err *e) {
    if (strcmp(ftype, "f32") && strcmp(ftype, "f16") && strcmp(ftype, "q8_0"))
        return err_set(e, "synth: %s is written as f32, f16 or q8_0, not '%s'", s->name, ftype);
    if (!mmproj_path) return err_set(e, "synth: %s needs --mmproj FILE for the code predictor and codec", s->name);
    const int mtype = !strcmp(ftype, "f16") ? DT_F16 : !strcmp(ftype, "q8_0") ? DT_Q8_0 : DT_F32;
    if (write_talker(s, mtype, seed, talker_path, e)) return -1;
    return write_mmproj(s, mtype, seed, mmproj_path, e);
}

/* The Qwen3-TTS pipeline (qwen3tts.h) over the talker LLM, the code predictor and the
 * codec decoder (q3_parts.h). */
#include "tts/qwen3tts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/dtype.h"
#include "core/ops.h"
#include "models/llm.h"
#include "text/tokenizer.h"
#include "tts/q3_parts.h"

struct q3tts {
    struct llm *talker;
    struct tokenizer *tok;
    struct gguf *mm;
    struct q3_predictor *pred;
    struct q3_codec *codec;
    struct tensor embd;   /* the talker's token_embd */
    int E, V;
    int32_t codec0, c_bos, c_eos, c_pad, c_think, c_think_b, c_think_e, t_pad, t_bos, t_eos;
    int8_t *suppressed;   /* [V] */
    char **voices;
    int n_voices;
    int instruct;         /* q3tts_takes_instructions */
};

static const struct { const char *code, *name; } k_lang_codes[] = {
    {"zh", "chinese"}, {"en", "english"}, {"de", "german"}, {"it", "italian"}, {"pt", "portuguese"},
    {"es", "spanish"}, {"ja", "japanese"}, {"ko", "korean"}, {"fr", "french"}, {"ru", "russian"},
};

void q3tts_free(struct q3tts *t) {
    if (!t) return;
    q3_predictor_free(t->pred);
    q3_codec_free(t->codec);
    gguf_close(t->mm);
    tokenizer_free(t->tok);
    llm_free(t->talker);
    free(t->suppressed);
    for (int i = 0; i < t->n_voices; i++) free(t->voices[i]);
    free(t->voices);
    free(t);
}

static int need(struct q3tts *t, const char *text, int32_t *out, struct err *e) {
    *out = tokenizer_find(t->tok, text);
    if (*out < 0) return err_set(e, "%s: the vocabulary has no %s token (not a Qwen3-TTS talker?)", gguf_path(llm_gguf(t->talker)), text);
    return 0;
}

struct q3tts *q3tts_load(const char *talker_path, const char *mmproj_path, int n_threads, struct err *e) {
    return q3tts_load_quant(talker_path, mmproj_path, n_threads, NULL, e);
}

struct q3tts *q3tts_load_quant(const char *talker_path, const char *mmproj_path, int n_threads, const char *quant,
                               struct err *e) {
    int wtype = -1;
    if (quant && *quant && strcasecmp(quant, "none") && strcasecmp(quant, "f16")) {
        if (!strcasecmp(quant, "q8_0")) wtype = DT_Q8_0;
        else if (!strcasecmp(quant, "q4_0")) wtype = DT_Q4_0;
        else { err_set(e, "voice model quantization '%s': only q8_0, q4_0 or none", quant); return NULL; }
    }
    struct q3tts *t = calloc(1, sizeof *t);
    if (!t) { err_set(e, "out of memory"); return NULL; }
    struct llm_load_params lp = llm_default_load_params();
    lp.n_threads = n_threads;
    t->talker = llm_load(talker_path, &lp, e);
    if (!t->talker) goto fail;
    const struct llm_hparams *hp = llm_hparams(t->talker);
    if (strcmp(hp->arch, "qwen3tts")) {
        err_set(e, "%s: architecture '%s' is not a Qwen3-TTS talker (qwen3tts)", talker_path, hp->arch);
        goto fail;
    }
    t->E = hp->n_embd, t->V = hp->n_vocab;
    const struct gguf *g = llm_gguf(t->talker);
    t->tok = tokenizer_load(g, e);
    if (!t->tok) goto fail;
    int64_t ti = gguf_find_tensor(g, "token_embd.weight");
    if (ti < 0 || gguf_tensor(g, ti, &t->embd)) { err_set(e, "%s: no token_embd.weight", talker_path); goto fail; }
    if (need(t, "<|codec_0|>", &t->codec0, e) || need(t, "<|codec_bos|>", &t->c_bos, e) ||
        need(t, "<|codec_eos_token|>", &t->c_eos, e) || need(t, "<|codec_pad|>", &t->c_pad, e) ||
        need(t, "<|codec_think|>", &t->c_think, e) || need(t, "<|codec_think_bos|>", &t->c_think_b, e) ||
        need(t, "<|codec_think_eos|>", &t->c_think_e, e) || need(t, "<tts_pad>", &t->t_pad, e) ||
        need(t, "<tts_text_bos>", &t->t_bos, e) || need(t, "<tts_text_eod>", &t->t_eos, e))
        goto fail;
    t->suppressed = calloc((size_t)t->V, 1);
    if (!t->suppressed) { err_set(e, "out of memory"); goto fail; }
    enum gguf_type et;
    uint64_t ns = 0;
    if (gguf_get_arr(g, "tokenizer.ggml.suppress_tokens", &et, &ns) == 0)
        for (uint64_t i = 0; i < ns; i++) {
            int64_t id = gguf_get_arr_int(g, "tokenizer.ggml.suppress_tokens", i);
            if (id >= 0 && id < t->V) t->suppressed[id] = 1;
        }
    /* built-in speakers */
    for (int32_t id = t->codec0; id < t->V; id++) {
        size_t len;
        const char *p = tokenizer_piece(t->tok, id, 1, &len);
        if (!p || len < 9 || strncmp(p, "<|spk_", 6) || strncmp(p + len - 2, "|>", 2)) continue;
        char **nv = realloc(t->voices, sizeof *nv * (size_t)(t->n_voices + 1));
        if (!nv) { err_set(e, "out of memory"); goto fail; }
        t->voices = nv;
        t->voices[t->n_voices] = strndup(p + 6, len - 8);
        if (!t->voices[t->n_voices]) { err_set(e, "out of memory"); goto fail; }
        t->n_voices++;
    }
    {
        struct gguf_str gn = gguf_get_str(g, "general.name");
        char name[128] = "";
        if (gn.s) snprintf(name, sizeof name, "%.*s", (int)(gn.len < 127 ? gn.len : 127), gn.s);
        t->instruct = q3tts_instruct_rule(t->E, t->n_voices, name);
    }
    t->mm = gguf_open_weights(mmproj_path, e);
    if (!t->mm) goto fail;
    struct gguf_str pt = gguf_get_str(t->mm, "clip.gen.audio.projector_type");
    if (!pt.s || pt.len != 12 || memcmp(pt.s, "qwen3tts_gen", 12)) {
        err_set(e, "%s: not a Qwen3-TTS mmproj (clip.gen.audio.projector_type should be qwen3tts_gen)", mmproj_path);
        goto fail;
    }
    t->pred = q3_predictor_load(t->mm, t->E, wtype, e);
    if (!t->pred) goto fail;
    t->codec = q3_codec_load(t->mm, e);
    if (!t->codec) goto fail;
    return t;
fail:
    q3tts_free(t);
    return NULL;
}

int q3tts_n_voices(const struct q3tts *t) { return t->n_voices; }

int q3tts_instruct_rule(int n_embd, int n_speakers, const char *general_name) {
    if (n_embd == 1024) return 0;   /* the 0.6B size: upstream ignores instructions there */
    if (n_speakers > 0) return 1;   /* CustomVoice */
    /* VoiceDesign (no built-in speakers): the converter names the file after its folder */
    char low[128];
    size_t n = 0;
    for (const char *p = general_name ? general_name : ""; *p && n + 1 < sizeof low; p++)
        if (*p != ' ' && *p != '-' && *p != '_') low[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    low[n] = 0;
    return strstr(low, "voicedesign") != NULL;
}

int q3tts_takes_instructions(const struct q3tts *t) { return t->instruct; }
const char *q3tts_voice_name(const struct q3tts *t, int i) { return i >= 0 && i < t->n_voices ? t->voices[i] : NULL; }

static const char *lang_name(const char *lang) {
    if (!lang || !*lang) return "english";
    for (size_t i = 0; i < sizeof k_lang_codes / sizeof *k_lang_codes; i++)
        if (!strcasecmp(lang, k_lang_codes[i].code)) return k_lang_codes[i].name;
    return lang;
}

static int32_t lang_token(const struct q3tts *t, const char *lang) {
    char buf[96];
    snprintf(buf, sizeof buf, "<|codec_language_%s|>", lang_name(lang));
    for (char *p = buf; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    return tokenizer_find(t->tok, buf);
}

int q3tts_has_lang(const struct q3tts *t, const char *lang) { return lang_token(t, lang) >= 0; }

static void row_add(const struct q3tts *t, float *out, int32_t a, int32_t b, float *tmp) {
    q3_row(&t->embd, a, out);
    if (b >= 0) {
        q3_row(&t->embd, b, tmp);
        ops_add(out, tmp, t->E);
    }
}

static int32_t pick(const struct q3tts *t, const float *logits) {
    int32_t best = -1;
    for (int32_t i = 0; i < t->V; i++) {
        if (t->suppressed[i] || !(logits[i] > -INFINITY)) continue;
        if (best < 0 || logits[i] > logits[best]) best = i;
    }
    return best < 0 ? t->c_eos : best;
}

int q3tts_synthesize(struct q3tts *t, const char *text, size_t len, const struct q3tts_opts *o, q3tts_sink sink,
                     void *ud, struct err *e) {
    const int E = t->E;
    int max_frames = o && o->max_frames > 0 ? o->max_frames : 512;
    int chunk = o && o->chunk_frames > 0 ? o->chunk_frames : 72;
    int want = o && o->first_frames > 0 && o->first_frames < chunk ? o->first_frames : chunk;
    int32_t c_lang = lang_token(t, o ? o->lang : NULL), c_spk = -1;
    if (c_lang < 0) return err_set(e, "unknown language '%s' for this voice model", o && o->lang ? o->lang : "");
    if (o && o->voice && *o->voice) {
        char buf[96];
        snprintf(buf, sizeof buf, "<|spk_%s|>", o->voice);
        for (char *p = buf; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        c_spk = tokenizer_find(t->tok, buf);
        if (c_spk < 0) return err_set(e, "unknown voice '%s' for this voice model", o->voice);
    }
    static const char pre[] = "<|im_start|>assistant\n", post[] = "<|im_end|>\n<|im_start|>assistant\n";
    size_t flen = strlen(pre) + len + strlen(post);
    char *full = malloc(flen + 1);
    if (!full) return err_set(e, "out of memory");
    memcpy(full, pre, strlen(pre));
    memcpy(full + strlen(pre), text, len);
    memcpy(full + strlen(pre) + len, post, strlen(post) + 1);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int rc = tokenizer_encode(t->tok, full, flen, 0, 1, &ids, &n_ids, e);
    free(full);
    if (rc) return -1;
    if (n_ids < 8) { free(ids); return err_set(e, "the text gives no tokens to speak"); }
    /* the style instruction, for a model that takes one: its own rows ahead of the prompt */
    int32_t *ins = NULL;
    size_t n_ins = 0;
    if (t->instruct && o && o->instructions && *o->instructions) {
        static const char ipre[] = "<|im_start|>user\n", ipost[] = "<|im_end|>\n";
        size_t il = strlen(o->instructions), ilen = strlen(ipre) + il + strlen(ipost);
        char *it = malloc(ilen + 1);
        if (!it) { free(ids); return err_set(e, "out of memory"); }
        memcpy(it, ipre, strlen(ipre));
        memcpy(it + strlen(ipre), o->instructions, il);
        memcpy(it + strlen(ipre) + il, ipost, strlen(ipost) + 1);
        rc = tokenizer_encode(t->tok, it, ilen, 0, 1, &ins, &n_ins, e);
        free(it);
        if (rc) { free(ids); return -1; }
    }

    int n_body = (int)n_ids - 8, n_prompt = (int)n_ins + 7 + (c_spk >= 0) + 1 + n_body + 2;
    int n_ctx = n_prompt + max_frames + 1;
    float *rows = malloc(sizeof(float) * (size_t)E * (size_t)n_prompt), *tmp = malloc(sizeof(float) * (size_t)E),
          *logits = malloc(sizeof(float) * (size_t)t->V), *hidden = malloc(sizeof(float) * (size_t)E),
          *next = malloc(sizeof(float) * (size_t)E), *pcm = malloc(sizeof(float) * (size_t)chunk * Q3_FRAME_SAMPLES);
    int32_t *codes = malloc(sizeof(int32_t) * (size_t)chunk * Q3_N_CODES);
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)n_prompt);
    struct llm_kv *kv = NULL;
    struct llm_state *st = NULL;
    struct pool *pool = llm_pool(t->talker);
    rc = -1;
    if (!rows || !tmp || !logits || !hidden || !next || !pcm || !codes || !pos) { err_set(e, "out of memory"); goto done; }
    int r = 0;
#define ROW(a, b) row_add(t, rows + (size_t)(r++) * (size_t)E, a, b, tmp)
    for (size_t i = 0; i < n_ins; i++) ROW(ins[i], -1);
    for (int i = 0; i < 3; i++) ROW(ids[i], -1);
    ROW(t->t_pad, t->c_think);
    ROW(t->t_pad, t->c_think_b);
    ROW(t->t_pad, c_lang);
    ROW(t->t_pad, t->c_think_e);
    if (c_spk >= 0) ROW(t->t_pad, c_spk);
    ROW(t->t_bos, t->c_pad);
    for (int i = 3; i < (int)n_ids - 5; i++) ROW(ids[i], t->c_pad);
    ROW(t->t_eos, t->c_pad);
    ROW(t->t_pad, t->c_bos);
#undef ROW
    kv = llm_kv_new(t->talker, n_ctx, e);
    st = kv ? llm_state_new(t->talker) : NULL;
    if (!kv || !st) { if (kv && !st) err_set(e, "out of memory"); goto done; }
    for (int i = 0; i < n_prompt; i++) pos[i] = i;
    struct llm_kv *kvs[1] = {kv};
    struct llm_batch b = {n_prompt, NULL, pos, NULL, NULL};
    if (llm_forward_embd_out(t->talker, st, kvs, 1, &b, rows, logits, hidden, e)) goto done;
    q3_codec_reset(t->codec);
    int32_t sampled = pick(t, logits);
    int n_buf = 0, stop = 0;
    for (int f = 0; f < max_frames && sampled != t->c_eos && !stop; f++) {
        int32_t *cf = codes + (size_t)n_buf * Q3_N_CODES;
        if (q3_predict(t->pred, pool, hidden, sampled - t->codec0, cf, next, e)) goto done;
        n_buf++;
        if (n_buf == want) {
            if (q3_codec_decode(t->codec, pool, codes, n_buf, pcm, e)) goto done;
            if (sink && sink(ud, codes, n_buf, pcm, (size_t)n_buf * Q3_FRAME_SAMPLES)) stop = 1;
            n_buf = 0;
            want = want * 2 < chunk ? want * 2 : chunk;
        }
        /* the text keeps flowing: frame f adds body row f, then tts_eos, then tts_pad */
        int k = 3 + f;
        int32_t ov = k < (int)n_ids - 5 ? ids[k] : k == (int)n_ids - 5 ? t->t_eos : t->t_pad;
        q3_row(&t->embd, ov, tmp);
        ops_add(next, tmp, E);
        int32_t p1 = n_prompt + f;
        struct llm_batch b1 = {1, NULL, &p1, NULL, NULL};
        if (llm_forward_embd_out(t->talker, st, kvs, 1, &b1, next, logits, hidden, e)) goto done;
        sampled = pick(t, logits);
    }
    if (n_buf && !stop) {
        if (q3_codec_decode(t->codec, pool, codes, n_buf, pcm, e)) goto done;
        if (sink) sink(ud, codes, n_buf, pcm, (size_t)n_buf * Q3_FRAME_SAMPLES);
    }
    rc = 0;
done:
    llm_state_free(st);
    llm_kv_free(kv);
    free(ids), free(ins), free(rows), free(tmp), free(logits), free(hidden), free(next), free(pcm), free(codes), free(pos);
    return rc;
}

/* Pre-tokenizer regexes (from llama.cpp's llm_tokenizer_bpe, which takes them from
 * each model's tokenizer.json) run with PCRE2. llama.cpp applies the list of
 * expressions in turn: each splits every current chunk into matches and the gaps
 * between them. We do the same, on the text as llama.cpp sees it: invalid UTF-8
 * becomes U+FFFD and non-ASCII whitespace becomes \v (its std::regex fallback),
 * which changes what classes like [　-。] can match. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "text/pretokenize.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "text/utf8.h"

/* GPT-2's pattern plus the final "|\s+" that llama.cpp's hand-written GPT-2 splitter implements. */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define RE_LLAMA3 "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2 "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* Qwen3.5: as Qwen2, but letter runs also take combining marks (\p{M}) */
#define RE_QWEN35 "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_CJK "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"
#define RE_PORO " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{0964}\\x{06D4}\\x{060C})]+"
/* [\p{P}\p{S}] and [^\r\n\p{L}\p{P}\p{S}] as llama.cpp matches them: its collapsed text keeps ASCII
 * as is and its ASCII list for \p{S} lacks '~', so '~' is neither punctuation nor symbol there. */
#define RE_PS "(?:(?!~)[\\p{P}\\p{S}])"
#define RE_NOT_LPS "(?:~|[^\\r\\n\\p{L}\\p{P}\\p{S}])"
/* DeepSeek LLM's cased-letter class, written as code point ranges. */
#define RE_DS_LETTERS "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}" \
    "\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}" \
    "\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}" \
    "\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}" \
    "\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}" \
    "\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}" \
    "\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}" \
    "\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}" \
    "\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}" \
    "\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}" \
    "\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}" \
    "\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}" \
    "\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}" \
    "\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+"

/* The contraction suffixes, case-insensitive without (?i:) (llama.cpp's adaptation) */
#define RE_CONTR "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
/* GPT-4o (o200k): a letter run is an optional run of non-lowercase letters then lowercase ones (or
 * the reverse), with an optional contraction. llama.cpp matches it on text whose letters all look
 * alike (categories collapsed), so "non-lowercase" is "[^a-z]" among letters, as in tekken. */
#define RE_GPT4O_L(L) "[^\\r\\n\\p{L}\\p{N}]?((?=[" L "])([^a-z]))*((?=[" L "])([^A-Z]))+" RE_CONTR "?|" \
    "[^\\r\\n\\p{L}\\p{N}]?((?=[" L "])([^a-z]))+((?=[" L "])([^A-Z]))*" RE_CONTR "?|" \
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* Youtu: CJK and Korean runs first; its \p{Lu}/\p{Ll}/... are all \p{L} in llama.cpp's collapsed
 * matching, so they are written as \p{L} here. */
#define RE_YOUTU_CJK "[\\x{AC00}-\\x{D7A3}\\x{3131}-\\x{318E}]+|[\\x{FF01}\\x{2026}\\x{201C}\\x{201D}\\x{2018}" \
    "\\x{2019}\\x{2014}\\x{FF1A}\\x{FF1B}\\x{FF0C}\\x{3001}-\\x{303F}\\x{FE30}-\\x{FE4F}]+|[\\x{3105}-\\x{312F}]+|" \
    "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+"
#define RE_YOUTU_LETTERS "[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]*[\\p{L}\\p{M}]+" RE_CONTR "?|" \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+[\\p{L}\\p{M}]*" RE_CONTR "?|"
#define RE_YOUTU RE_YOUTU_LETTERS "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* AFMoE's and Tiny Aya's digit split as llama.cpp's hand-written splitter does it: a run of \p{N}
 * becomes groups of 3 from the right, and the text before the run (since the last group) is glued
 * to its first group. */
#define RE_DIGITS3 "\\P{N}*\\p{N}{1,3}(?=(?:\\p{N}{3})*(?!\\p{N}))"
#define RE_AFMOE_CJK "[\\x{4E00}-\\x{9FFF}\\x{3400}-\\x{4DBF}\\x{8C48}-\\x{FAFF}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}" \
    "\\x{FF65}-\\x{FF9F}\\x{2F00}-\\x{2FDF}\\x{E40}-\\x{E7F}\\x{E80}-\\x{EFF}\\x{1780}-\\x{17FF}\\x{1000}-\\x{109F}" \
    "\\x{AA60}-\\x{AA7F}\\x{A9E0}-\\x{A9FF}\\x{AC00}-\\x{D7AF}\\x{1100}-\\x{11FF}]+"

enum { SET_DEFAULT, SET_LLAMA3, SET_DEEPSEEK_LLM, SET_DEEPSEEK_CODER, SET_DEEPSEEK3, SET_FALCON,
       SET_STARCODER, SET_GPT2, SET_QWEN2, SET_QWEN35, SET_PORO, SET_VIKING, SET_TEKKEN, SET_CHAMELEON,
       SET_GPT4O, SET_GRANITE_EMB_MULTI, SET_SEED_CODER, SET_BAILINGMOE, SET_EXAONE_MOE, SET_JAIS2,
       SET_MINICPM5, SET_LAGUNA, SET_YOUTU, SET_AFMOE, SET_TINY_AYA };

static const char *const k_sets[][PRETOK_MAX_RE] = {
    [SET_DEFAULT] = {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"},
    [SET_LLAMA3] = {RE_LLAMA3},
    [SET_DEEPSEEK_LLM] = {"[\\r\\n]", RE_DS_LETTERS,
                          "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
                          "\\s+$", RE_CJK, "\\p{N}+"},
    [SET_DEEPSEEK_CODER] = {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK, "\\p{N}"},
    [SET_DEEPSEEK3] = {"\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
                       "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|" RE_NOT_LPS "?[\\p{L}\\p{M}]+| ?" RE_PS "+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    [SET_FALCON] = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"},
    [SET_STARCODER] = {"\\p{N}", RE_GPT2},
    [SET_GPT2] = {RE_GPT2},
    [SET_QWEN2] = {RE_QWEN2},
    [SET_QWEN35] = {RE_QWEN35},
    [SET_PORO] = {RE_PORO},
    [SET_VIKING] = {RE_PORO, "\\p{N}"},
    [SET_TEKKEN] = {"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    [SET_CHAMELEON] = {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )",
                       "\\p{N}", "[\\p{P}!-/:-@\\[-`{-~]", RE_GPT2},
    [SET_GPT4O] = {RE_GPT4O_L("\\p{L}")},
    [SET_GRANITE_EMB_MULTI] = {RE_GPT4O_L("\\p{L}\\p{M}")},
    [SET_SEED_CODER] = {RE_CONTR "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    [SET_BAILINGMOE] = {"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"},
    [SET_EXAONE_MOE] = {RE_CONTR "|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"},
    [SET_JAIS2] = {RE_CONTR "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}"},
    [SET_MINICPM5] = {"\\p{N}{1,3}", RE_CONTR "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    [SET_LAGUNA] = {"[^\\n]+|[\\n]+", RE_QWEN2},
    [SET_YOUTU] = {RE_YOUTU_CJK, RE_YOUTU},
    [SET_AFMOE] = {RE_DIGITS3, RE_AFMOE_CJK,
                   "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|" RE_NOT_LPS "?[\\p{L}\\p{M}]+| ?" RE_PS "+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    [SET_TINY_AYA] = {RE_DIGITS3, RE_YOUTU_LETTERS "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
};

/* name → regex set and flags, as llama.cpp's llama_vocab::impl::load maps them */
static const struct { const char *name; int set, ignore_merges, add_bos, clean_spaces, no_bos; } k_names[] = {
    {"default", SET_DEFAULT, 0, -1, 1, 0},
    {"llama3", SET_LLAMA3, 1, 1, 1, 0}, {"llama-v3", SET_LLAMA3, 1, 1, 1, 0},
    {"llama-bpe", SET_LLAMA3, 1, 1, 1, 0}, {"falcon3", SET_LLAMA3, 1, 1, 1, 0},
    {"deepseek-llm", SET_DEEPSEEK_LLM, 0, -1, 0, 0}, {"deepseek-coder", SET_DEEPSEEK_CODER, 0, -1, 0, 0},
    {"deepseek-v3", SET_DEEPSEEK3, 0, -1, 0, 0}, {"falcon", SET_FALCON, 0, -1, 1, 0},
    {"mpt", SET_GPT2, 0, -1, 1, 0}, {"starcoder", SET_STARCODER, 0, -1, 1, 0},
    {"gpt-2", SET_GPT2, 0, -1, 1, 0}, {"phi-2", SET_GPT2, 0, -1, 1, 0}, {"jina-es", SET_GPT2, 0, -1, 1, 0},
    {"jina-de", SET_GPT2, 0, -1, 1, 0}, {"gigachat", SET_GPT2, 0, -1, 1, 0},
    {"jina-v1-en", SET_GPT2, 0, -1, 1, 0}, {"jina-v2-es", SET_GPT2, 0, -1, 1, 0},
    {"jina-v2-de", SET_GPT2, 0, -1, 1, 0}, {"jina-v2-code", SET_GPT2, 0, -1, 1, 0},
    {"roberta-bpe", SET_GPT2, 0, -1, 1, 0}, {"refact", SET_STARCODER, 0, -1, 1, 0},
    {"command-r", SET_STARCODER, 0, -1, 0, 0}, {"qwen2", SET_QWEN2, 0, -1, 0, 0},
    {"stablelm2", SET_QWEN2, 0, -1, 1, 0}, {"olmo", SET_GPT2, 0, -1, 1, 0},
    {"dbrx", SET_LLAMA3, 0, -1, 1, 0}, {"smaug-bpe", SET_LLAMA3, 0, -1, 1, 0},
    {"poro-chat", SET_PORO, 0, -1, 0, 0}, {"chatglm-bpe", SET_LLAMA3, 0, -1, 1, 1},
    {"viking", SET_VIKING, 0, -1, 0, 0}, {"jais", SET_GPT2, 0, -1, 1, 0},
    {"tekken", SET_TEKKEN, 1, 1, 0, 0}, {"smollm", SET_STARCODER, 0, -1, 0, 0},
    {"codeshell", SET_STARCODER, 0, -1, 1, 0}, {"bloom", SET_PORO, 0, -1, 1, 0},
    {"gpt3-finnish", SET_PORO, 0, -1, 1, 0}, {"exaone", SET_STARCODER, 0, -1, 1, 0},
    {"chameleon", SET_CHAMELEON, 0, 1, 0, 0}, {"minerva-7b", SET_STARCODER, 0, -1, 1, 0},
    {"megrez", SET_QWEN2, 0, -1, 1, 0}, {"exaone4", SET_GPT2, 0, -1, 1, 0},
    {"qwen35", SET_QWEN35, 0, -1, 0, 0},
    /* names current converters write that map onto the sets above (llama.cpp's aliases) */
    {"falcon-h1", SET_LLAMA3, 1, 1, 1, 0}, {"pixtral", SET_LLAMA3, 1, 1, 1, 0},
    {"midm-2.0", SET_LLAMA3, 1, 1, 1, 0}, {"lfm2", SET_LLAMA3, 1, 1, 1, 0},
    {"jina-v5-nano", SET_LLAMA3, 1, 1, 1, 0},
    {"a.x-4.0", SET_GPT2, 0, -1, 1, 0}, {"mellum", SET_GPT2, 0, -1, 1, 0},
    {"modern-bert", SET_GPT2, 0, -1, 1, 0}, {"trillion", SET_GPT2, 0, -1, 0, 0},
    {"granite-docling", SET_GPT2, 0, -1, 0, 0},
    {"deepseek-r1-qwen", SET_QWEN2, 0, -1, 0, 0}, {"kormo", SET_QWEN2, 0, -1, 0, 0},
    {"f2llmv2", SET_QWEN2, 0, -1, 0, 0}, {"hunyuan", SET_QWEN2, 0, -1, 0, 0},
    {"grok-2", SET_QWEN2, 0, -1, 0, 0}, {"solar-open", SET_QWEN2, 0, -1, 0, 0},
    {"hunyuan-dense", SET_DEEPSEEK3, 0, -1, 0, 0}, {"joyai-llm", SET_DEEPSEEK3, 0, -1, 0, 0},
    {"glm4", SET_LLAMA3, 0, -1, 1, 1}, {"mellum2", SET_STARCODER, 0, -1, 1, 0},
    {"exaone-moe", SET_EXAONE_MOE, 0, -1, 1, 0}, {"jais-2", SET_JAIS2, 0, -1, 1, 0},
    /* GPT-4o's o200k split: Phi-4-mini, gpt-oss, Llama 4, MiniMax-M2 */
    {"gpt-4o", SET_GPT4O, 0, -1, 0, 0}, {"llama4", SET_GPT4O, 0, -1, 0, 0},
    {"kanana2", SET_GPT4O, 0, -1, 0, 0}, {"talkie", SET_GPT4O, 0, -1, 0, 0},
    {"minimax-m2", SET_GPT4O, 0, -1, 0, 0}, {"granite-embed-multi-97m", SET_GRANITE_EMB_MULTI, 1, -1, 0, 0},
    {"seed-coder", SET_SEED_CODER, 0, -1, 0, 0}, {"bailingmoe", SET_BAILINGMOE, 0, -1, 0, 0},
    {"bailingmoe2", SET_BAILINGMOE, 0, -1, 0, 0}, {"llada-moe", SET_BAILINGMOE, 0, -1, 0, 0},
    {"minicpm5", SET_MINICPM5, 1, -1, 1, 0}, {"laguna", SET_LAGUNA, 0, -1, 0, 0},
    {"youtu", SET_YOUTU, 1, -1, 0, 0}, {"afmoe", SET_AFMOE, 0, -1, 0, 0},
    {"tiny_aya", SET_TINY_AYA, 0, -1, 0, 0}, {"cohere2moe", SET_TINY_AYA, 0, -1, 0, 0},
};

int pretok_init(struct pretok *p, const char *name, struct err *e) {
    memset(p, 0, sizeof *p);
    if (!name || !*name) {
        log_warn("tokenizer: no tokenizer.ggml.pre in the file; using the 'default' pre-tokenizer "
                 "(generation quality may suffer; consider regenerating the GGUF)");
        name = "default";
    }
    int k = -1;
    for (size_t i = 0; i < sizeof k_names / sizeof k_names[0]; i++)
        if (strcmp(k_names[i].name, name) == 0) { k = (int)i; break; }
    if (k < 0) return err_set(e, "unknown pre-tokenizer type '%s' (tokenizer.ggml.pre)", name);
    p->info.name = k_names[k].name;
    p->info.ignore_merges = k_names[k].ignore_merges;
    p->info.add_bos = k_names[k].add_bos;
    p->info.clean_spaces = k_names[k].clean_spaces;
    p->info.no_bos = k_names[k].no_bos;
    const char *const *set = k_sets[k_names[k].set];
    for (int i = 0; i < PRETOK_MAX_RE && set[i]; i++) {
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)set[i], PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &ec, &eo, NULL);
        if (!re) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof msg);
            pretok_free(p);
            return err_set(e, "pre-tokenizer '%s': regex %d does not compile at offset %zu: %s", name, i,
                           (size_t)eo, (const char *)msg);
        }
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if JIT is unavailable */
        p->re[p->n_re++] = re;
    }
    return 0;
}

void pretok_free(struct pretok *p) {
    for (int i = 0; i < p->n_re; i++) pcre2_code_free((pcre2_code *)p->re[i]);
    p->n_re = 0;
}

void pretok_words_free(struct pretok_words *w) {
    free(w->norm); free(w->ends); free(w->rx); free(w->rx_off); free(w->norm_off); free(w->rx_cp);
    free(w->chunks); free(w->chunks2);
    memset(w, 0, sizeof *w);
}

/* Unicode White_Space above ASCII (PropList.txt; unchanged since Unicode 6.3).
 * llama.cpp replaces these by \v before matching, so classes see them as \s only. */
static int is_wide_space(uint32_t c) {
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static int reserve(struct pretok_words *w, size_t len) {
    size_t nb = len * 4 + 8, nc = len + 2; /* U+FFFD per invalid byte triples the size at most */
    if (nb > w->cap_bytes) {
        char *a = realloc(w->norm, nb), *b = a ? realloc(w->rx, nb) : NULL;
        if (a) w->norm = a;
        if (b) w->rx = b;
        uint32_t *c = b ? realloc(w->rx_cp, (nb + 1) * sizeof *c) : NULL;
        if (c) w->rx_cp = c;
        if (!c) return -1;
        w->cap_bytes = nb;
    }
    if (nc > w->cap_cps) {
        uint32_t **arrs[] = {&w->ends, &w->rx_off, &w->norm_off, &w->chunks, &w->chunks2};
        for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) {
            uint32_t *a = realloc(*arrs[i], nc * sizeof **arrs[i]);
            if (!a) return -1;
            *arrs[i] = a;
        }
        w->cap_cps = nc;
    }
    return 0;
}

int pretok_split(const struct pretok *p, const char *text, size_t len, struct pretok_words *w,
                 struct err *e) {
    w->n = 0;
    w->norm_len = 0;
    if (len > 0x3fffffff) return err_set(e, "text too long to tokenize (%zu bytes)", len);
    if (reserve(w, len) != 0) return err_set(e, "out of memory tokenizing %zu bytes", len);

    /* code points → the normalized text (word bytes) and the regex subject */
    size_t ncp = 0, nl = 0, rl = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c = utf8_decode(text, len, &i);
        w->norm_off[ncp] = (uint32_t)nl;
        w->rx_off[ncp] = (uint32_t)rl;
        nl += utf8_encode(c, w->norm + nl);
        w->rx_cp[rl] = (uint32_t)ncp;
        if (c >= 0xD800 && c <= 0xDFFF) c = 0xFFFD; /* PCRE2 rejects surrogates */
        if (c > 0x7f && is_wide_space(c)) w->rx[rl++] = '\v';
        else rl += utf8_encode(c, w->rx + rl);
        ncp++;
    }
    w->norm_off[ncp] = (uint32_t)nl;
    w->rx_off[ncp] = (uint32_t)rl;
    w->rx_cp[rl] = (uint32_t)ncp;
    w->norm_len = nl;

    /* chunks as code point end indices; start with the whole text */
    uint32_t *cur = w->chunks, *nxt = w->chunks2;
    size_t ncur = 0;
    if (ncp) cur[ncur++] = (uint32_t)ncp;
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) return err_set(e, "out of memory tokenizing");
    for (int r = 0; r < p->n_re; r++) {
        const pcre2_code *re = p->re[r];
        size_t nn = 0;
        uint32_t a = 0;
        for (size_t k = 0; k < ncur; a = cur[k++]) {
            uint32_t b = cur[k];
            const char *subj = w->rx + w->rx_off[a];
            size_t slen = w->rx_off[b] - w->rx_off[a], pos = 0, from = 0;
            while (from <= slen) {
                int rc = pcre2_match(re, (PCRE2_SPTR)subj, slen, from, PCRE2_NO_UTF_CHECK, md, NULL);
                if (rc == PCRE2_ERROR_NOMATCH) break;
                if (rc < 0) {
                    pcre2_match_data_free(md);
                    return err_set(e, "pre-tokenizer '%s': regex %d failed (PCRE2 error %d)", p->info.name, r, rc);
                }
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                size_t ms = ov[0], me = ov[1];
                if (me == ms) { /* empty match: step over one character */
                    if (ms >= slen) break;
                    from = ms + utf8_len((unsigned char)subj[ms]);
                    continue;
                }
                if (ms > pos) nxt[nn++] = w->rx_cp[w->rx_off[a] + ms];
                nxt[nn++] = w->rx_cp[w->rx_off[a] + me];
                pos = from = me;
            }
            if (pos < slen) nxt[nn++] = b;
        }
        uint32_t *t = cur; cur = nxt; nxt = t;
        ncur = nn;
    }
    pcre2_match_data_free(md);
    for (size_t k = 0; k < ncur; k++) w->ends[k] = w->norm_off[cur[k]];
    w->n = ncur;
    return 0;
}

/* Guard model answers into verdicts; see guard.h for the formats and the mapping. */
#include "moderation/guard.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define BIT(c) (1u << (c))

static const char *const k_oai[OAI_N_CATEGORIES] = {
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent", "self-harm",
    "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors", "violence", "violence/graphic",
};

const char *oai_category_name(enum oai_category c) { return (unsigned)c < OAI_N_CATEGORIES ? k_oai[c] : NULL; }

static const struct { const char *name; unsigned oai; } k_qwen3guard[] = {
    {"Violent", BIT(OAI_VIOLENCE)},
    {"Non-violent Illegal Acts", BIT(OAI_ILLICIT)},
    {"Sexual Content or Sexual Acts", BIT(OAI_SEXUAL)},
    {"PII", 0},
    {"Suicide & Self-Harm", BIT(OAI_SELF_HARM)},
    {"Unethical Acts", BIT(OAI_HARASSMENT) | BIT(OAI_HATE)},
    {"Politically Sensitive Topics", 0},
    {"Copyright Violation", 0},
    {"Jailbreak", 0},
};

/* S1..S14 */
static const unsigned k_llama_guard[15] = {
    0,
    BIT(OAI_VIOLENCE) | BIT(OAI_ILLICIT_VIOLENT),   /* S1 violent crimes */
    BIT(OAI_ILLICIT),                               /* S2 non-violent crimes */
    BIT(OAI_SEXUAL) | BIT(OAI_ILLICIT),             /* S3 sex-related crimes */
    BIT(OAI_SEXUAL_MINORS) | BIT(OAI_SEXUAL),       /* S4 child sexual exploitation */
    BIT(OAI_HARASSMENT),                            /* S5 defamation */
    0,                                              /* S6 specialized advice */
    0,                                              /* S7 privacy */
    0,                                              /* S8 intellectual property */
    BIT(OAI_ILLICIT_VIOLENT) | BIT(OAI_VIOLENCE),   /* S9 indiscriminate weapons */
    BIT(OAI_HATE),                                  /* S10 hate */
    BIT(OAI_SELF_HARM),                             /* S11 suicide & self-harm */
    BIT(OAI_SEXUAL),                                /* S12 sexual content */
    0,                                              /* S13 elections */
    BIT(OAI_ILLICIT),                               /* S14 code interpreter abuse */
};

static const struct { const char *name; unsigned oai; } k_shieldgemma[SG_N_POLICIES] = {
    {"Dangerous Content", BIT(OAI_ILLICIT) | BIT(OAI_VIOLENCE)},
    {"Harassment", BIT(OAI_HARASSMENT)},
    {"Hate Speech", BIT(OAI_HATE)},
    {"Sexually Explicit Information", BIT(OAI_SEXUAL)},
};

static const char *skip_ws(const char *s) {
    while (*s && (isspace((unsigned char)*s) || *s == '*')) s++;  /* markdown bold some fine-tunes add */
    return s;
}

/* s starts with word (case-insensitive) followed by a non-letter. */
static int starts_word(const char *s, const char *word) {
    size_t n = strlen(word);
    return !strncasecmp(s, word, n) && !isalpha((unsigned char)s[n]);
}

static void add_raw(struct guard_verdict *v, const char *s, size_t n) {
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (!n || v->n_raw >= 8) return;
    if (n >= sizeof v->raw[0]) n = sizeof v->raw[0] - 1;
    memcpy(v->raw[v->n_raw], s, n);
    v->raw[v->n_raw][n] = 0;
    v->n_raw++;
}

/* The value after "key:" on some line of text, up to the end of that line, or NULL. */
static const char *field(const char *text, const char *key, size_t *len) {
    size_t k = strlen(key);
    for (const char *line = text; line && *line;) {
        const char *s = skip_ws(line);
        if (!strncasecmp(s, key, k) && s[k] == ':') {
            s = s + k + 1;
            while (*s == ' ' || *s == '\t') s++;
            const char *end = strchr(s, '\n');
            *len = end ? (size_t)(end - s) : strlen(s);
            return s;
        }
        line = strchr(line, '\n');
        if (line) line++;
    }
    return NULL;
}

static void parse_qwen3guard(const char *text, struct guard_verdict *v) {
    size_t n;
    const char *s = field(text, "Safety", &n);
    if (!s) return;
    if (starts_word(s, "Unsafe")) v->safety = GUARD_UNSAFE;
    else if (starts_word(s, "Controversial")) v->safety = GUARD_CONTROVERSIAL;
    else if (starts_word(s, "Safe")) v->safety = GUARD_SAFE;
    else return;
    const char *c = field(text, "Categories", &n);
    while (c && n) {
        const char *comma = memchr(c, ',', n);
        size_t len = comma ? (size_t)(comma - c) : n;
        struct guard_verdict one = {0};
        add_raw(&one, c, len);
        if (one.n_raw && strcasecmp(one.raw[0], "None")) {
            add_raw(v, c, len);
            for (size_t i = 0; i < sizeof k_qwen3guard / sizeof *k_qwen3guard; i++)
                if (!strcasecmp(one.raw[0], k_qwen3guard[i].name)) v->oai |= k_qwen3guard[i].oai;
        }
        if (!comma) break;
        n -= len + 1, c = comma + 1;
    }
    const char *r = field(text, "Refusal", &n);
    if (r) v->refusal = starts_word(r, "Yes") ? 1 : starts_word(r, "No") ? 0 : -1;
    /* a "Safe" verdict names no category that counts */
    if (v->safety == GUARD_SAFE) v->oai = 0;
}

static void parse_llama_guard(const char *text, struct guard_verdict *v) {
    const char *s = skip_ws(text);
    if (starts_word(s, "safe")) { v->safety = GUARD_SAFE; return; }
    if (!starts_word(s, "unsafe")) return;
    v->safety = GUARD_UNSAFE;
    s += 6;
    for (;;) {
        while (*s && (isspace((unsigned char)*s) || *s == ',')) s++;
        if ((*s != 'S' && *s != 's') || !isdigit((unsigned char)s[1])) break;
        int k = 0, d = 1;
        while (isdigit((unsigned char)s[d]) && d < 4) k = k * 10 + s[d++] - '0';
        add_raw(v, s, (size_t)d);
        if (k >= 1 && k <= 14) v->oai |= k_llama_guard[k];
        s += d;
    }
}

static void parse_shieldgemma(int policy, const char *text, struct guard_verdict *v) {
    const char *s = skip_ws(text);
    if (starts_word(s, "Yes")) {
        v->safety = GUARD_UNSAFE;
        if (policy >= 0 && policy < SG_N_POLICIES) {
            v->oai = k_shieldgemma[policy].oai;
            add_raw(v, k_shieldgemma[policy].name, strlen(k_shieldgemma[policy].name));
        }
    } else if (starts_word(s, "No")) {
        v->safety = GUARD_SAFE;
    }
}

void guard_parse(enum guard_family f, int sg_policy, const char *text, struct guard_verdict *v) {
    memset(v, 0, sizeof *v);
    v->safety = GUARD_UNPARSED;
    v->refusal = -1;
    if (!text) return;
    switch (f) {
    case GUARD_QWEN3GUARD: parse_qwen3guard(text, v); break;
    case GUARD_LLAMA_GUARD3: parse_llama_guard(text, v); break;
    case GUARD_SHIELDGEMMA: parse_shieldgemma(sg_policy, text, v); break;
    }
}

static int contains_ci(const char *hay, const char *needle) {
    if (!hay) return 0;
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n)) return 1;
    return 0;
}

int guard_family_of(const char *name, const char *tpl) {
    if (contains_ci(name, "qwen3guard") || contains_ci(tpl, "Safety: Safe") || contains_ci(tpl, "Controversial"))
        return GUARD_QWEN3GUARD;
    if (contains_ci(name, "llama-guard") || contains_ci(name, "llama guard") || contains_ci(name, "llamaguard") ||
        contains_ci(tpl, "S14: Code Interpreter Abuse"))
        return GUARD_LLAMA_GUARD3;
    if (contains_ci(name, "shieldgemma")) return GUARD_SHIELDGEMMA;
    return -1;
}

/* Guard models' answers, read: what Qwen3Guard-Gen, Llama Guard 3 and ShieldGemma write
 * after a conversation, parsed into a verdict and categories, and those categories mapped
 * to OpenAI's moderation categories (the /v1/moderations shape).
 *
 *   Qwen3Guard-Gen  "Safety: Unsafe\nCategories: Violent, Jailbreak" (Safe / Unsafe /
 *                   Controversial; a response check adds "Refusal: Yes|No")
 *   Llama Guard 3   "unsafe\nS1,S10" or "safe" (S1-S14, its hazard taxonomy)
 *   ShieldGemma     "Yes" or "No": one policy per question (dangerous content,
 *                   harassment, hate speech, sexually explicit information)
 *
 * The mapping to OpenAI's categories (documented in README.md, "Moderation"):
 *   Qwen3Guard: Violent -> violence; Non-violent Illegal Acts -> illicit; Sexual Content or
 *     Sexual Acts -> sexual; Suicide & Self-Harm -> self-harm; Unethical Acts -> harassment
 *     and hate; PII, Politically Sensitive Topics, Copyright Violation, Jailbreak -> none
 *     of OpenAI's (kept by name in the raw categories).
 *   Llama Guard 3: S1 Violent Crimes -> violence, illicit/violent; S2 Non-Violent Crimes ->
 *     illicit; S3 Sex-Related Crimes -> sexual, illicit; S4 Child Sexual Exploitation ->
 *     sexual/minors, sexual; S5 Defamation -> harassment; S9 Indiscriminate Weapons ->
 *     illicit/violent, violence; S10 Hate -> hate; S11 Suicide & Self-Harm -> self-harm;
 *     S12 Sexual Content -> sexual; S14 Code Interpreter Abuse -> illicit; S6, S7, S8, S13
 *     -> none of OpenAI's.
 *   ShieldGemma: dangerous content -> illicit, violence; harassment -> harassment; hate
 *     speech -> hate; sexually explicit -> sexual.
 * Pure text functions: thread-safe. */
#ifndef OMNI_MODERATION_GUARD_H
#define OMNI_MODERATION_GUARD_H

enum guard_family { GUARD_QWEN3GUARD, GUARD_LLAMA_GUARD3, GUARD_SHIELDGEMMA };

/* OpenAI's moderation categories, in the order of its documentation. */
enum oai_category {
    OAI_HARASSMENT, OAI_HARASSMENT_THREATENING, OAI_HATE, OAI_HATE_THREATENING, OAI_ILLICIT, OAI_ILLICIT_VIOLENT,
    OAI_SELF_HARM, OAI_SELF_HARM_INTENT, OAI_SELF_HARM_INSTRUCTIONS, OAI_SEXUAL, OAI_SEXUAL_MINORS, OAI_VIOLENCE,
    OAI_VIOLENCE_GRAPHIC, OAI_N_CATEGORIES
};
const char *oai_category_name(enum oai_category c);   /* "harassment/threatening", … */

enum guard_safety { GUARD_SAFE, GUARD_UNSAFE, GUARD_CONTROVERSIAL, GUARD_UNPARSED };

struct guard_verdict {
    enum guard_safety safety;
    unsigned oai;             /* bit c set: OpenAI category c applies */
    char raw[8][48];          /* the model's own category names (at most 8), "" after the last */
    int n_raw;
    int refusal;              /* Qwen3Guard response checks: 1 Yes, 0 No, -1 not said */
};

/* Reads a guard model's generated text. family GUARD_SHIELDGEMMA needs the policy the
 * question asked about (its enum shieldgemma_policy); others ignore it. Text that does
 * not follow the format gives safety GUARD_UNPARSED (the caller decides: fail closed or
 * open), never a crash. */
enum shieldgemma_policy { SG_DANGEROUS, SG_HARASSMENT, SG_HATE, SG_SEXUAL, SG_N_POLICIES };
void guard_parse(enum guard_family f, int sg_policy, const char *text, struct guard_verdict *v);

/* The guard family a model's file is, judged from its chat template and name, or -1. */
int guard_family_of(const char *model_name, const char *chat_template);

#endif

/* Text normalisation for speech (see normalize.h): a left-to-right scan that copies
 * text through and, wherever a number starts, reads the number together with what
 * surrounds it (currency sign, %, unit, ordinal suffix, time, date, Korean counter). */
#include "text/normalize.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- a growing output string --- */
struct sb { char *s; size_t n, cap; int oom; };
static void sb_putn(struct sb *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) { b->oom = 1; return; }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}
static void sb_puts(struct sb *b, const char *s) { sb_putn(b, s, strlen(s)); }

/* --- English number words --- */
static const char *const en_ones[] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                                      "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen",
                                      "sixteen", "seventeen", "eighteen", "nineteen"};
static const char *const en_tens[] = {"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"};
static const char *const en_scale[] = {"", " thousand", " million", " billion", " trillion", " quadrillion", " quintillion"};

static void en_below_1000(struct sb *b, unsigned n) {
    if (n >= 100) {
        sb_puts(b, en_ones[n / 100]);
        sb_puts(b, " hundred");
        n %= 100;
        if (!n) return;
        sb_puts(b, " ");
    }
    if (n < 20) sb_puts(b, en_ones[n]);
    else {
        sb_puts(b, en_tens[n / 10]);
        if (n % 10) { sb_puts(b, "-"); sb_puts(b, en_ones[n % 10]); }
    }
}

static void en_number(struct sb *b, unsigned long long n) {
    if (!n) { sb_puts(b, "zero"); return; }
    unsigned groups[7];
    int k = 0;
    for (; n; n /= 1000) groups[k++] = (unsigned)(n % 1000);
    int first = 1;
    for (int i = k - 1; i >= 0; i--) {
        if (!groups[i]) continue;
        if (!first) sb_puts(b, " ");
        en_below_1000(b, groups[i]);
        sb_puts(b, en_scale[i]);
        first = 0;
    }
}

static int sb_export(struct sb *b, char *buf, int size) {
    int n = snprintf(buf, (size_t)size, "%s", b->s && !b->oom ? b->s : "");
    free(b->s);
    return n;
}

int text_number_en(char *buf, int size, unsigned long long n) {
    struct sb b = {0};
    en_number(&b, n);
    return sb_export(&b, buf, size);
}

/* The ordinal changes only the last word: "twenty-one" → "twenty-first". */
static void en_ordinal(struct sb *b, unsigned long long n) {
    static const struct { const char *card, *ord; } irr[] = {
        {"one", "first"}, {"two", "second"}, {"three", "third"}, {"five", "fifth"},
        {"eight", "eighth"}, {"nine", "ninth"}, {"twelve", "twelfth"}};
    size_t start = b->n;
    en_number(b, n);
    if (b->oom) return;
    char *w = b->s + start, *last = w;
    for (char *p = w; *p; p++) if (*p == ' ' || *p == '-') last = p + 1;
    for (size_t i = 0; i < sizeof irr / sizeof irr[0]; i++)
        if (!strcmp(last, irr[i].card)) {
            b->n = (size_t)(last - b->s);
            sb_puts(b, irr[i].ord);
            return;
        }
    size_t L = strlen(last);
    if (L && last[L - 1] == 'y') { b->n--; sb_puts(b, "ieth"); }
    else sb_puts(b, "th");
}

int text_ordinal_en(char *buf, int size, unsigned long long n) {
    struct sb b = {0};
    en_ordinal(&b, n);
    return sb_export(&b, buf, size);
}

/* Years read in pairs: 1999 "nineteen ninety-nine", 1905 "nineteen oh five", 2005 "two thousand five". */
static void en_year(struct sb *b, unsigned y) {
    if (y < 1000 || y > 9999 || (y >= 2000 && y < 2010) || y % 1000 == 0) { en_number(b, y); return; }
    en_below_1000(b, y / 100);
    if (y % 100 == 0) { sb_puts(b, " hundred"); return; }
    sb_puts(b, " ");
    if (y % 100 < 10) sb_puts(b, "oh ");
    en_below_1000(b, y % 100);
}

static const char *const en_months[] = {"January", "February", "March", "April", "May", "June", "July",
                                        "August", "September", "October", "November", "December"};

/* --- Korean number words --- */
static const char *const ko_digit[] = {"영", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"};

static void ko_below_10000(struct sb *b, unsigned n, int drop_one) {
    static const char *const unit[] = {"천", "백", "십", ""};
    static const unsigned div[] = {1000, 100, 10, 1};
    for (int i = 0; i < 4; i++) {
        unsigned d = n / div[i] % 10;
        if (!d) continue;
        /* 일 is dropped before 천, 백, 십 (천, not 일천); kept for the units digit. */
        if (d != 1 || i == 3) { if (!(d == 1 && i == 3 && drop_one)) sb_puts(b, ko_digit[d]); }
        sb_puts(b, unit[i]);
    }
}

static void ko_number(struct sb *b, unsigned long long n) {
    static const char *const big[] = {"", "만", "억", "조", "경"};
    if (!n) { sb_puts(b, "영"); return; }
    unsigned groups[5];
    int k = 0;
    for (; n && k < 5; n /= 10000) groups[k++] = (unsigned)(n % 10000);
    int first = 1;
    for (int i = k - 1; i >= 0; i--) {
        if (!groups[i]) continue;
        if (!first) sb_puts(b, " ");
        /* 10000 reads 만, not 일만; 1억 keeps its 일. */
        ko_below_10000(b, groups[i], i == 1 && groups[i] == 1);
        sb_puts(b, big[i]);
        first = 0;
    }
}

int text_number_ko(char *buf, int size, unsigned long long n) {
    struct sb b = {0};
    ko_number(&b, n);
    return sb_export(&b, buf, size);
}

static void ko_native(struct sb *b, int n, int before_counter) {
    static const char *const ones[] = {"", "하나", "둘", "셋", "넷", "다섯", "여섯", "일곱", "여덟", "아홉"};
    static const char *const ones_c[] = {"", "한", "두", "세", "네", "다섯", "여섯", "일곱", "여덟", "아홉"};
    static const char *const tens[] = {"", "열", "스물", "서른", "마흔", "쉰", "예순", "일흔", "여든", "아흔"};
    if (n <= 0 || n > 99) { ko_number(b, n < 0 ? 0 : (unsigned)n); return; }
    if (n == 20 && before_counter) { sb_puts(b, "스무"); return; }
    sb_puts(b, tens[n / 10]);
    sb_puts(b, (before_counter ? ones_c : ones)[n % 10]);
}

int text_native_ko(char *buf, int size, int n, int before_counter) {
    struct sb b = {0};
    ko_native(&b, n, before_counter);
    return sb_export(&b, buf, size);
}

/* --- number tokens --- */
struct num {
    unsigned long long ip; /* integer part */
    const char *frac;      /* digits after the point, or NULL */
    int frac_len;
    int ok;                /* fits in 64 bits */
    size_t len;            /* bytes consumed */
};

/* Digits with optional thousands commas ("1,234,567") and an optional decimal part. */
static struct num parse_num(const char *s) {
    struct num r = {0, NULL, 0, 1, 0};
    size_t i = 0, digits = 0;
    while (isdigit((unsigned char)s[i]) ||
           (s[i] == ',' && i > 0 && isdigit((unsigned char)s[i + 1]) && isdigit((unsigned char)s[i + 2]) &&
            isdigit((unsigned char)s[i + 3]) && !isdigit((unsigned char)s[i + 4]))) {
        if (s[i] != ',') {
            if (r.ip > 1844674407370955161ULL) r.ok = 0;
            r.ip = r.ip * 10 + (unsigned)(s[i] - '0');
            digits++;
        }
        i++;
    }
    if (digits > 19) r.ok = 0;
    if (s[i] == '.' && isdigit((unsigned char)s[i + 1])) {
        r.frac = s + i + 1;
        i++;
        while (isdigit((unsigned char)s[i])) { i++; r.frac_len++; }
    }
    r.len = i;
    return r;
}

static int starts(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }
static int word_end(const char *s) { return !isalnum((unsigned char)*s) && (unsigned char)*s < 0x80; }

struct unit { const char *sym, *en1, *en, *ko; };
static const struct unit g_units[] = {
    {"km/h", "kilometer per hour", "kilometers per hour", "킬로미터 매시"},
    {"mph", "mile per hour", "miles per hour", "마일 매시"},
    {"°C", "degree Celsius", "degrees Celsius", "도"}, {"°F", "degree Fahrenheit", "degrees Fahrenheit", "도"},
    {"km", "kilometer", "kilometers", "킬로미터"}, {"cm", "centimeter", "centimeters", "센티미터"},
    {"mm", "millimeter", "millimeters", "밀리미터"}, {"kg", "kilogram", "kilograms", "킬로그램"},
    {"mg", "milligram", "milligrams", "밀리그램"}, {"ml", "milliliter", "milliliters", "밀리리터"},
    {"mL", "milliliter", "milliliters", "밀리리터"}, {"lbs", "pound", "pounds", "파운드"},
    {"lb", "pound", "pounds", "파운드"}, {"oz", "ounce", "ounces", "온스"}, {"ft", "foot", "feet", "피트"},
    {"mi", "mile", "miles", "마일"}, {"kHz", "kilohertz", "kilohertz", "킬로헤르츠"},
    {"MHz", "megahertz", "megahertz", "메가헤르츠"}, {"GHz", "gigahertz", "gigahertz", "기가헤르츠"},
    {"Hz", "hertz", "hertz", "헤르츠"}, {"KB", "kilobyte", "kilobytes", "킬로바이트"},
    {"MB", "megabyte", "megabytes", "메가바이트"}, {"GB", "gigabyte", "gigabytes", "기가바이트"},
    {"TB", "terabyte", "terabytes", "테라바이트"}, {"ms", "millisecond", "milliseconds", "밀리초"},
    {"kW", "kilowatt", "kilowatts", "킬로와트"}, {"kWh", "kilowatt hour", "kilowatt hours", "킬로와트시"},
    {"min", "minute", "minutes", "분"},
    {"m", "meter", "meters", "미터"}, {"g", "gram", "grams", "그램"}, {"L", "liter", "liters", "리터"},
};

/* A unit right after a number (one optional space), ending at a word boundary. */
static const struct unit *match_unit(const char *s, size_t *len) {
    size_t sp = *s == ' ' ? 1 : 0;
    const struct unit *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < sizeof g_units / sizeof g_units[0]; i++) {
        size_t k = strlen(g_units[i].sym);
        if (k > best_len && !strncmp(s + sp, g_units[i].sym, k) && word_end(s + sp + k)) {
            best = &g_units[i];
            best_len = k;
        }
    }
    if (best) *len = sp + best_len;
    return best;
}

static void en_digits(struct sb *b, const char *d, int n) {
    for (int i = 0; i < n; i++) {
        if (i) sb_puts(b, " ");
        sb_puts(b, en_ones[d[i] - '0']);
    }
}

/* Reads a number (integer, or "x point d d") in English. */
static void en_num(struct sb *b, const struct num *v) {
    en_number(b, v->ip);
    if (v->frac) { sb_puts(b, " point "); en_digits(b, v->frac, v->frac_len); }
}

static void ko_num(struct sb *b, const struct num *v) {
    ko_number(b, v->ip);
    if (v->frac) {
        sb_puts(b, " 점 ");
        for (int i = 0; i < v->frac_len; i++) sb_puts(b, ko_digit[v->frac[i] - '0']);
    }
}

struct currency { const char *sign, *en1, *en, *cent1, *cents, *ko; };
static const struct currency g_cur[] = {
    {"$", "dollar", "dollars", "cent", "cents", "달러"},
    {"€", "euro", "euros", "cent", "cents", "유로"},
    {"£", "pound", "pounds", "penny", "pence", "파운드"},
    {"₩", "won", "won", NULL, NULL, "원"},
    {"¥", "yen", "yen", NULL, NULL, "엔"},
};

static const char *scale_word(const char *s, size_t *len) {
    static const char *const w[] = {" thousand", " million", " billion", " trillion"};
    for (int i = 0; i < 4; i++) {
        size_t k = strlen(w[i]);
        if (!strncmp(s, w[i], k) && word_end(s + k)) { *len = k; return w[i]; }
    }
    return NULL;
}

static int two_digits(const char *s) { return isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]); }

/* Tries every English reading that starts at s (a digit or a currency sign); returns bytes consumed, 0 if none. */
static size_t en_at(struct sb *b, const char *s, int after_month) {
    for (size_t c = 0; c < sizeof g_cur / sizeof g_cur[0]; c++) {
        size_t k = strlen(g_cur[c].sign);
        if (!starts(s, g_cur[c].sign) || !isdigit((unsigned char)s[k])) continue;
        struct num v = parse_num(s + k);
        if (!v.ok) return 0;
        size_t used = k + v.len, sl = 0;
        const char *sc = scale_word(s + used, &sl);
        if (sc) { /* "$1.5 million" → "one point five million dollars" */
            en_num(b, &v);
            sb_puts(b, sc);
            sb_puts(b, " ");
            sb_puts(b, g_cur[c].en);
            return used + sl;
        }
        unsigned cents = 0;
        int has_cents = v.frac && v.frac_len == 2 && g_cur[c].cents;
        if (has_cents) cents = (unsigned)((v.frac[0] - '0') * 10 + v.frac[1] - '0');
        if (v.frac && !has_cents) { en_num(b, &v); sb_puts(b, " "); sb_puts(b, g_cur[c].en); return used; }
        if (v.ip || !cents) {
            en_number(b, v.ip);
            sb_puts(b, " ");
            sb_puts(b, v.ip == 1 ? g_cur[c].en1 : g_cur[c].en);
        }
        if (cents) {
            if (v.ip) sb_puts(b, " and ");
            en_number(b, cents);
            sb_puts(b, " ");
            sb_puts(b, cents == 1 ? g_cur[c].cent1 : g_cur[c].cents);
        }
        return used;
    }
    if (!isdigit((unsigned char)*s)) return 0;
    /* ISO date 2024-03-15 */
    if (two_digits(s) && two_digits(s + 2) && s[4] == '-' && two_digits(s + 5) && s[7] == '-' && two_digits(s + 8) &&
        !isdigit((unsigned char)s[10])) {
        int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
        if (m >= 1 && m <= 12 && d >= 1 && d <= 31) {
            sb_puts(b, en_months[m - 1]);
            sb_puts(b, " ");
            en_ordinal(b, (unsigned)d);
            sb_puts(b, ", ");
            en_year(b, (unsigned)y);
            return 10;
        }
    }
    /* time 3:30, 15:05, 3:00 pm */
    {
        size_t h = isdigit((unsigned char)s[1]) ? 2 : 1;
        if (s[h] == ':' && two_digits(s + h + 1) && !isdigit((unsigned char)s[h + 3])) {
            int hh = atoi(s), mm = atoi(s + h + 1);
            if (hh <= 24 && mm < 60) {
                en_number(b, (unsigned)hh);
                if (mm == 0) sb_puts(b, " o'clock");
                else {
                    sb_puts(b, " ");
                    if (mm < 10) sb_puts(b, "oh ");
                    en_number(b, (unsigned)mm);
                }
                size_t used = h + 3, sp = s[used] == ' ' ? 1 : 0;
                const char *ap = s + used + sp;
                if ((!strncasecmp(ap, "am", 2) || !strncasecmp(ap, "pm", 2)) && word_end(ap + 2)) {
                    if (mm == 0) b->n -= strlen(" o'clock"), b->s[b->n] = 0;
                    sb_puts(b, tolower((unsigned char)*ap) == 'a' ? " a m" : " p m");
                    used += sp + 2;
                } else if ((!strncasecmp(ap, "a.m.", 4) || !strncasecmp(ap, "p.m.", 4))) {
                    if (mm == 0) b->n -= strlen(" o'clock"), b->s[b->n] = 0;
                    sb_puts(b, tolower((unsigned char)*ap) == 'a' ? " a m" : " p m");
                    used += sp + 4;
                }
                return used;
            }
        }
    }
    struct num v = parse_num(s);
    if (!v.ok) { en_digits(b, s, (int)v.len); return v.len; } /* too long to be a quantity: read digits */
    const char *t = s + v.len;
    /* ordinals 1st 2nd 3rd 4th */
    if (!v.frac && (starts(t, "st") || starts(t, "nd") || starts(t, "rd") || starts(t, "th")) && word_end(t + 2)) {
        en_ordinal(b, v.ip);
        return v.len + 2;
    }
    if (*t == '%') { en_num(b, &v); sb_puts(b, " percent"); return v.len + 1; }
    size_t ul = 0;
    const struct unit *u = match_unit(t, &ul);
    if (u) {
        en_num(b, &v);
        sb_puts(b, " ");
        sb_puts(b, v.ip == 1 && !v.frac ? u->en1 : u->en);
        return v.len + ul;
    }
    if (after_month && !v.frac && v.ip >= 1 && v.ip <= 31) { en_ordinal(b, v.ip); return v.len; }
    if (after_month == 2 && !v.frac && v.ip >= 1000 && v.ip <= 2999) { en_year(b, (unsigned)v.ip); return v.len; }
    en_num(b, &v);
    return v.len;
}

/* --- Korean --- */
/* Counters read with native numbers (세 개, 두 명, 세 시); the rest take Sino-Korean (삼 분, 이 층). */
static const char *const ko_native_counters[] = {"개", "명", "시간", "시", "살", "마리", "번째", "잔", "병", "권",
                                                 "장", "달", "대", "가지", "곳", "사람", "그릇", "송이"};

static size_t ko_at(struct sb *b, const char *s) {
    for (size_t c = 0; c < sizeof g_cur / sizeof g_cur[0]; c++) {
        size_t k = strlen(g_cur[c].sign);
        if (!starts(s, g_cur[c].sign) || !isdigit((unsigned char)s[k])) continue;
        struct num v = parse_num(s + k);
        if (!v.ok) return 0;
        ko_num(b, &v);
        sb_puts(b, " ");
        sb_puts(b, g_cur[c].ko);
        return k + v.len;
    }
    if (!isdigit((unsigned char)*s)) return 0;
    if (two_digits(s) && two_digits(s + 2) && s[4] == '-' && two_digits(s + 5) && s[7] == '-' && two_digits(s + 8) &&
        !isdigit((unsigned char)s[10])) {
        int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
        if (m >= 1 && m <= 12 && d >= 1 && d <= 31) {
            ko_number(b, (unsigned)y);
            sb_puts(b, "년 ");
            sb_puts(b, m == 6 ? "유" : m == 10 ? "시" : "");
            if (m != 6 && m != 10) ko_number(b, (unsigned)m);
            sb_puts(b, "월 ");
            ko_number(b, (unsigned)d);
            sb_puts(b, "일");
            return 10;
        }
    }
    {
        size_t h = isdigit((unsigned char)s[1]) ? 2 : 1;
        if (s[h] == ':' && two_digits(s + h + 1) && !isdigit((unsigned char)s[h + 3])) {
            int hh = atoi(s), mm = atoi(s + h + 1);
            if (hh <= 24 && mm < 60) {
                ko_native(b, hh, 1);
                sb_puts(b, " 시");
                if (mm) { sb_puts(b, " "); ko_number(b, (unsigned)mm); sb_puts(b, " 분"); }
                return h + 3;
            }
        }
    }
    struct num v = parse_num(s);
    if (!v.ok) {
        for (size_t i = 0; i < v.len; i++) if (isdigit((unsigned char)s[i])) sb_puts(b, ko_digit[s[i] - '0']);
        return v.len;
    }
    const char *t = s + v.len;
    if (*t == '%') { ko_num(b, &v); sb_puts(b, " 퍼센트"); return v.len + 1; }
    if (!v.frac && v.ip >= 1 && v.ip <= 99) {
        size_t sp = *t == ' ' ? 1 : 0;
        for (size_t i = 0; i < sizeof ko_native_counters / sizeof ko_native_counters[0]; i++)
            if (starts(t + sp, ko_native_counters[i])) {
                if (!strcmp(ko_native_counters[i], "번째") && v.ip == 1) sb_puts(b, "첫");
                else ko_native(b, (int)v.ip, 1);
                sb_puts(b, " ");
                return v.len + sp;
            }
    }
    if (!v.frac && (v.ip == 6 || v.ip == 10) && starts(t, "월")) { sb_puts(b, v.ip == 6 ? "유" : "시"); return v.len; }
    for (size_t c = 0; c < sizeof g_cur / sizeof g_cur[0]; c++) { /* 1,234원 → 천이백삼십사 원 */
        if (starts(t, g_cur[c].ko)) { ko_num(b, &v); sb_puts(b, " "); return v.len; }
    }
    size_t ul = 0;
    const struct unit *u = match_unit(t, &ul);
    if (u) {
        ko_num(b, &v);
        sb_puts(b, " ");
        sb_puts(b, u->ko);
        return v.len + ul;
    }
    ko_num(b, &v);
    return v.len;
}

/* Whether the word just before position i is a month name ("March 15"). */
static int month_before(const char *text, size_t i) {
    size_t j = i;
    while (j > 0 && (text[j - 1] == ' ' || text[j - 1] == ',')) j--;
    size_t e = j;
    while (j > 0 && isalpha((unsigned char)text[j - 1])) j--;
    if (e > j) {
        for (int m = 0; m < 12; m++)
            if (strlen(en_months[m]) == e - j && !strncasecmp(text + j, en_months[m], e - j)) return 1;
    }
    return 0;
}

char *text_normalize(const char *text, const char *lang) {
    if (!text) return NULL;
    int ko = lang && !strncasecmp(lang, "ko", 2);
    int en = !lang || !strncasecmp(lang, "en", 2);
    if (!ko && !en) return strdup(text);
    struct sb b = {0};
    sb_puts(&b, "");
    size_t len = strlen(text);
    int month_state = 0; /* 1 after "March 15" while a ", 2024" may follow */
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)text[i];
        int prev_alnum = i > 0 && isalnum((unsigned char)text[i - 1]);
        int cand = (isdigit(c) && !prev_alnum) || (!isdigit(c) && !prev_alnum && !isalnum(c));
        size_t used = 0;
        if (cand) {
            if (ko) used = ko_at(&b, text + i);
            else {
                int after = month_before(text, i) ? 1 : 0;
                if (!after && month_state == 1 && i >= 2 && text[i - 1] == ' ' && text[i - 2] == ',') after = 2;
                if (isdigit(c) && i >= 1 && text[i - 1] == '-' && (i < 2 || !isalnum((unsigned char)text[i - 2])) &&
                    b.n && b.s[b.n - 1] == '-') { /* -5 → minus five */
                    b.n--;
                    sb_puts(&b, "minus ");
                }
                used = en_at(&b, text + i, after);
                if (isdigit(c) || used) month_state = used && after == 1 ? 1 : 0;
            }
        }
        if (used) { i += used; continue; }
        if (isdigit(c)) { /* digits glued to letters ("COVID19", "A4"): read them on their own */
            size_t j = i;
            unsigned long long v = 0;
            while (j < len && isdigit((unsigned char)text[j]) && j - i < 19) v = v * 10 + (unsigned)(text[j++] - '0');
            if (ko) ko_number(&b, v);
            else {
                if (b.n && isalpha((unsigned char)b.s[b.n - 1])) sb_puts(&b, " ");
                en_number(&b, v);
                if (j < len && isalpha((unsigned char)text[j])) sb_puts(&b, " ");
            }
            i = j;
            continue;
        }
        sb_putn(&b, text + i, 1);
        i++;
    }
    if (b.oom) { free(b.s); return NULL; }
    return b.s;
}

/* The calculator (calc.h): a recursive-descent evaluator over GMP rationals.
 *
 *   conv    := sum [("to" | "in" | "as" | "->" | "→" | "로" | "으로") sum]
 *   sum     := term (("+" | "-") term)*
 *   term    := unary (("*" | "×" | "/" | "÷" | "mod" | "of") unary | unit)*
 *   unary   := ("-" | "+") unary | power
 *   power   := postfix ["^" unary]
 *   postfix := primary ("!" | "%")*
 *   primary := number [Korean numerals] | date | "today" | "(" conv ")" | func "(" args ")" | unit
 *
 * A value is a rational in SI units with its dimensions, a date (days since the epoch),
 * or calendar months (which only a date can take). */
#include "tools/calc.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gmp.h>

#include "tools/calc_units.h"
#include "tools/tz.h"

#define MAX_BITS (1 << 20)        /* a number's numerator or denominator */
#define MAX_FACTORIAL 20000
#define MAX_DEPTH 200

enum vkind { V_NUM, V_DATE, V_MONTHS };

struct val {
    enum vkind kind;
    mpq_t q;                      /* V_NUM: in SI; V_MONTHS: the months */
    signed char dim[CALC_NDIM];
    int64_t days;                 /* V_DATE */
    const struct calc_unit *shown; /* the unit to show it in (the one it was written with) */
    const struct calc_unit *temp;  /* a bare "number °F": the scale, for an absolute conversion */
    mpq_t temp_x;                  /* ... and the number as written */
};

struct calc {
    const char *s;                /* the expression */
    size_t pos, len;
    int64_t today;
    int depth;
    char target[64];              /* the unit converted to, as written */
    struct timespec deadline;
    char *err;
    size_t cap;
    int failed;
};

static void v_init(struct val *v) {
    memset(v, 0, sizeof *v);
    mpq_init(v->q);
    mpq_init(v->temp_x);
}
static void v_clear(struct val *v) {
    mpq_clear(v->q);
    mpq_clear(v->temp_x);
}

static int fail(struct calc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct calc *c, const char *fmt, ...) {
    if (c->failed) return -1;
    c->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->cap, fmt, ap);
    va_end(ap);
    return -1;
}

static int too_big(struct calc *c, const mpq_t q) {
    if (mpz_sizeinbase(mpq_numref(q), 2) > MAX_BITS || mpz_sizeinbase(mpq_denref(q), 2) > MAX_BITS)
        return fail(c, "the number is too large (over %d bits)", MAX_BITS);
    return 0;
}

/* ---- the lexer ---- */

static void skip_ws(struct calc *c) {
    while (c->pos < c->len) {
        unsigned char ch = (unsigned char)c->s[c->pos];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') c->pos++;
        else if (!memcmp(c->s + c->pos, "\xc2\xa0", 2) && c->pos + 1 < c->len) c->pos += 2;   /* no-break space */
        else break;
    }
}

static int at(struct calc *c, const char *tok) {
    skip_ws(c);
    size_t n = strlen(tok);
    return c->pos + n <= c->len && !memcmp(c->s + c->pos, tok, n);
}

/* An ASCII word at the position: its length (letters only), else 0. */
static size_t word_len(struct calc *c) {
    skip_ws(c);
    size_t k = c->pos;
    while (k < c->len && isalpha((unsigned char)c->s[k])) k++;
    return k - c->pos;
}

static int at_word(struct calc *c, const char *w) {
    size_t n = word_len(c);
    return n == strlen(w) && !memcmp(c->s + c->pos, w, n);
}

/* The unit at the position (not consumed): its byte length, 0 when none. An ASCII
 * spelling must be the whole word ("mi", not the start of "min"). */
static size_t unit_at(struct calc *c, const struct calc_unit **u) {
    skip_ws(c);
    size_t wl = word_len(c);
    size_t n = calc_unit_prefix(c->s + c->pos, c->len - c->pos, u);
    if (!n) return 0;
    /* ASCII units: whole words, and the longest ("km/h" over "km") */
    if (wl && n < wl) {
        *u = calc_unit_find(c->s + c->pos, wl);
        return *u ? wl : 0;
    }
    return n;
}

/* Korean numerals after a number: 십 백 천 (within a group) and 만 억 조 (groups). */
static int korean_small(struct calc *c, mpz_t mul) {
    static const struct { const char *w; unsigned long v; } small[] = {{"십", 10}, {"백", 100}, {"천", 1000}};
    for (int k = 0; k < 3; k++)
        if (at(c, small[k].w)) { c->pos += strlen(small[k].w); mpz_set_ui(mul, small[k].v); return 1; }
    return 0;
}
static int korean_big(struct calc *c, mpz_t mul, int *rank) {
    static const struct { const char *w; unsigned long e; } big[] = {{"만", 4}, {"억", 8}, {"조", 12}, {"경", 16}};
    for (int k = 0; k < 4; k++)
        if (at(c, big[k].w)) {
            c->pos += strlen(big[k].w);
            mpz_ui_pow_ui(mul, 10, big[k].e);
            *rank = k + 1;
            return 1;
        }
    return 0;
}

/* A decimal number ("1234", "1,234,567", "3.25") as an exact rational. 0, or -1. */
static int number(struct calc *c, mpq_t out) {
    skip_ws(c);
    char digits[4096];
    size_t n = 0, frac = 0;
    int dot = 0;
    size_t p = c->pos;
    while (p < c->len) {
        char ch = c->s[p];
        if (isdigit((unsigned char)ch)) {
            if (n + 1 >= sizeof digits) return fail(c, "a number in the expression is too long");
            digits[n++] = ch;
            if (dot) frac++;
            p++;
        } else if (ch == '.' && !dot && p + 1 < c->len && isdigit((unsigned char)c->s[p + 1])) {
            dot = 1;
            p++;
        } else if (ch == ',' && !dot && n && p + 3 < c->len + 1 && p + 3 <= c->len - 0 &&
                   isdigit((unsigned char)c->s[p + 1]) && isdigit((unsigned char)c->s[p + 2]) &&
                   isdigit((unsigned char)c->s[p + 3]) && (p + 4 >= c->len || !isdigit((unsigned char)c->s[p + 4]))) {
            p++;   /* a thousands separator: exactly three digits follow */
        } else if (ch == '_' && n && p + 1 < c->len && isdigit((unsigned char)c->s[p + 1])) {
            p++;
        } else break;
    }
    if (!n) return fail(c, "a number was expected at position %zu", c->pos + 1);
    digits[n] = 0;
    c->pos = p;
    mpz_t num, den;
    mpz_inits(num, den, NULL);
    mpz_set_str(num, digits, 10);
    mpz_ui_pow_ui(den, 10, frac);
    mpq_set_num(out, num);
    mpq_set_den(out, den);
    mpq_canonicalize(out);
    mpz_clears(num, den, NULL);
    return 0;
}

/* ---- values ---- */

static int dims_zero(const signed char *d) {
    for (int k = 0; k < CALC_NDIM; k++)
        if (d[k]) return 0;
    return 1;
}

static void set_unit(struct val *v, const struct calc_unit *u) {
    mpq_set_str(v->q, u->factor, 10);
    mpq_canonicalize(v->q);
    memcpy(v->dim, u->dim, CALC_NDIM);
    v->kind = u->kind == CALC_UNIT_MONTHS ? V_MONTHS : V_NUM;
    v->shown = u;
}

static int64_t q_to_int(const mpq_t q, int *ok) {
    *ok = mpz_cmp_ui(mpq_denref(q), 1) == 0 && mpz_fits_slong_p(mpq_numref(q));
    return *ok ? mpz_get_si(mpq_numref(q)) : 0;
}

static int date_check(struct calc *c, int64_t days) {
    if (days < tz_days_from_civil(1, 1, 1) || days > tz_days_from_civil(9999, 12, 31))
        return fail(c, "the date is outside the years 1 to 9999");
    return 0;
}

/* A date plus n calendar months, the day kept within the new month. */
static int64_t add_months(int64_t days, int64_t n) {
    int y, m, d;
    tz_civil_from_days(days, &y, &m, &d);
    int64_t mm = (int64_t)y * 12 + (m - 1) + n;
    int64_t ny = mm >= 0 ? mm / 12 : -((-mm + 11) / 12);
    int nm = (int)(mm - ny * 12) + 1;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (ny % 4 == 0 && ny % 100 != 0) || ny % 400 == 0;
    int len = mdays[nm - 1] + (nm == 2 && leap);
    return tz_days_from_civil(ny, nm, d > len ? len : d);
}

static int add(struct calc *c, struct val *a, struct val *b, int sign) {
    if (a->kind == V_NUM && b->kind == V_NUM) {
        if (memcmp(a->dim, b->dim, CALC_NDIM))
            return fail(c, "cannot %s quantities of different kinds (for example a length and a time, or 원 and $)",
                        sign > 0 ? "add" : "subtract");
        if (sign > 0) mpq_add(a->q, a->q, b->q);
        else mpq_sub(a->q, a->q, b->q);
        if (!a->shown) a->shown = b->shown;
        a->temp = NULL;
        return too_big(c, a->q);
    }
    if (a->kind == V_MONTHS && b->kind == V_MONTHS) {
        if (sign > 0) mpq_add(a->q, a->q, b->q);
        else mpq_sub(a->q, a->q, b->q);
        return 0;
    }
    if (a->kind == V_DATE && b->kind == V_DATE && sign < 0) {
        /* the days between: a duration */
        mpq_set_si(a->q, (long)(a->days - b->days) * 86400, 1);
        memset(a->dim, 0, CALC_NDIM);
        a->dim[CALC_T] = 1;
        a->kind = V_NUM;
        a->shown = calc_unit_find("days", 4);
        return 0;
    }
    if (b->kind == V_DATE && a->kind != V_DATE && sign > 0) {   /* 3 days + a date */
        struct val t = *a;
        *a = *b;
        *b = t;
    }
    if (a->kind == V_DATE && b->kind == V_MONTHS) {
        int ok;
        int64_t n = q_to_int(b->q, &ok);
        if (!ok || n > 120000 || n < -120000) return fail(c, "a date moves by a whole number of months or years");
        a->days = add_months(a->days, sign * n);
        return date_check(c, a->days);
    }
    if (a->kind == V_DATE && b->kind == V_NUM) {
        signed char t[CALC_NDIM] = {0};
        t[CALC_T] = 1;
        if (memcmp(b->dim, t, CALC_NDIM)) return fail(c, "a date moves by a time (days, weeks, months, years)");
        mpq_t d;
        mpq_init(d);
        mpq_set_ui(d, 86400, 1);
        mpq_div(d, b->q, d);
        int ok;
        int64_t n = q_to_int(d, &ok);
        mpq_clear(d);
        if (!ok || n > 4000000 || n < -4000000) return fail(c, "a date moves by whole days");
        a->days += sign * n;
        return date_check(c, a->days);
    }
    return fail(c, "cannot %s these (a date takes a duration such as 3 days or 2 months)", sign > 0 ? "add" : "subtract");
}

static int mul(struct calc *c, struct val *a, struct val *b, int divide) {
    if (a->kind == V_DATE || b->kind == V_DATE) return fail(c, "a date cannot be multiplied or divided");
    if (a->kind == V_MONTHS || b->kind == V_MONTHS) {
        if (divide || (a->kind == V_MONTHS && b->kind == V_MONTHS) ||
            !dims_zero(a->kind == V_MONTHS ? b->dim : a->dim))
            return fail(c, "months and years only count (2 months, 3 years), for dates");
        mpq_mul(a->q, a->q, b->q);
        a->kind = V_MONTHS;
        return 0;
    }
    if (divide) {
        if (!mpq_sgn(b->q)) return fail(c, "division by zero");
        mpq_div(a->q, a->q, b->q);
    } else mpq_mul(a->q, a->q, b->q);
    for (int k = 0; k < CALC_NDIM; k++) a->dim[k] = (signed char)(a->dim[k] + (divide ? -b->dim[k] : b->dim[k]));
    /* the unit shown: the one with these dimensions (5 km * 2 stays in km) */
    if (dims_zero(a->dim)) a->shown = NULL;
    else if (!a->shown || memcmp(a->shown->dim, a->dim, CALC_NDIM)) a->shown = b->shown && !memcmp(b->shown->dim, a->dim, CALC_NDIM) ? b->shown : NULL;
    a->temp = NULL;
    return too_big(c, a->q);
}

/* ---- the grammar ---- */

static int conv(struct calc *c, struct val *v, int top);
static int sum(struct calc *c, struct val *v);

static int date_literal(struct calc *c, struct val *v) {
    /* YYYY-MM-DD */
    skip_ws(c);
    const char *p = c->s + c->pos;
    size_t left = c->len - c->pos;
    if (left >= 10 && isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) &&
        isdigit((unsigned char)p[3]) && p[4] == '-' && isdigit((unsigned char)p[5]) && isdigit((unsigned char)p[6]) &&
        p[7] == '-' && isdigit((unsigned char)p[8]) && isdigit((unsigned char)p[9]) && (left == 10 || !isdigit((unsigned char)p[10]))) {
        int y = atoi(p), m = atoi(p + 5), d = atoi(p + 8);
        static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] || (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)))
            return fail(c, "%.10s is not a date", p);
        c->pos += 10;
        v->kind = V_DATE;
        v->days = tz_days_from_civil(y, m, d);
        return 1;
    }
    return 0;
}

/* "2026년 3월 1일" after its year was read as a number: 1 when it was a date. */
static int korean_date(struct calc *c, const mpq_t year, struct val *v) {
    size_t save = c->pos;
    int ok;
    int64_t y = q_to_int(year, &ok);
    if (!ok || y < 1 || y > 9999 || !at(c, "년")) return 0;
    c->pos += strlen("년");
    mpq_t m, d;
    mpq_inits(m, d, NULL);
    int r = 0;
    skip_ws(c);
    if (c->pos < c->len && isdigit((unsigned char)c->s[c->pos]) && !number(c, m) && at(c, "월")) {
        c->pos += strlen("월");
        skip_ws(c);
        if (c->pos < c->len && isdigit((unsigned char)c->s[c->pos]) && !number(c, d) && at(c, "일")) {
            c->pos += strlen("일");
            int64_t mo = q_to_int(m, &ok), da = ok ? q_to_int(d, &ok) : 0;
            static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
            if (!ok || mo < 1 || mo > 12 || da < 1 || da > mdays[mo - 1] ||
                (mo == 2 && da == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))) {
                fail(c, "%lld년 %lld월 %lld일 is not a date", (long long)y, (long long)mo, (long long)da);
                r = -1;
            } else {
                v->kind = V_DATE;
                v->days = tz_days_from_civil(y, (int)mo, (int)da);
                r = 1;
            }
        }
    }
    mpq_clears(m, d, NULL);
    if (r == 0) {
        c->pos = save;
        c->failed = 0;
    }
    return r;
}

/* One group: a number with its numerals ("5천만" = 5 * 1000 * 10000). *rank: its big
 * numeral (1 만 .. 4 경, 0 none); *had: a numeral was there. */
static int korean_group(struct calc *c, mpq_t q, int *rank, int *had) {
    if (number(c, q)) return -1;
    mpz_t m;
    mpz_init(m);
    *rank = 0;
    *had = 0;
    if (korean_small(c, m)) { mpz_mul(mpq_numref(q), mpq_numref(q), m); *had = 1; }
    if (korean_big(c, m, rank)) { mpz_mul(mpq_numref(q), mpq_numref(q), m); *had = 1; }
    mpq_canonicalize(q);
    mpz_clear(m);
    return 0;
}

/* A number with its Korean numerals, groups added while they get smaller:
 * "3억 5천만" = 350000000, "1만 2천" = 12000. */
static int korean_number(struct calc *c, mpq_t q) {
    int last, had;
    if (korean_group(c, q, &last, &had)) return -1;
    while (last > 0) {
        size_t save = c->pos;
        skip_ws(c);
        if (c->pos >= c->len || !isdigit((unsigned char)c->s[c->pos])) { c->pos = save; break; }
        mpq_t t;
        mpq_init(t);
        int r2, h2;
        if (korean_group(c, t, &r2, &h2) || !h2 || r2 >= last) {
            c->failed = 0;
            c->pos = save;
            mpq_clear(t);
            break;
        }
        mpq_add(q, q, t);
        mpq_clear(t);
        last = r2;
    }
    return 0;
}

static int func_call(struct calc *c, const char *name, struct val *v) {
    /* abs(x), floor(x), ceil(x), round(x[, digits]) */
    struct val arg;
    v_init(&arg);
    int rc = conv(c, &arg, 0);
    long digits = 0;
    if (!rc && !strcmp(name, "round") && at(c, ",")) {
        c->pos++;
        struct val d;
        v_init(&d);
        rc = conv(c, &d, 0);
        int ok = 0;
        if (!rc) digits = (long)q_to_int(d.q, &ok);
        if (!rc && (!ok || d.kind != V_NUM || !dims_zero(d.dim) || digits < -100 || digits > 100))
            rc = fail(c, "round(x, n) takes a whole n from -100 to 100");
        v_clear(&d);
    }
    if (!rc && !at(c, ")")) rc = fail(c, "')' expected after %s's argument", name);
    if (!rc) c->pos++;
    if (!rc && arg.kind != V_NUM) rc = fail(c, "%s() takes a number", name);
    if (!rc) {
        mpq_swap(v->q, arg.q);   /* v takes the argument's value; arg's is cleared below */
        memcpy(v->dim, arg.dim, CALC_NDIM);
        v->kind = arg.kind;
        v->shown = arg.shown;
        v->temp = NULL;
        if (!strcmp(name, "abs")) mpq_abs(v->q, v->q);
        else {
            /* in the unit it is shown in: round(2.5 km) rounds the kilometres */
            mpq_t f, s;
            mpq_inits(f, s, NULL);
            if (v->shown) { mpq_set_str(f, v->shown->factor, 10); mpq_canonicalize(f); }
            else mpq_set_ui(f, 1, 1);
            mpq_div(s, v->q, f);
            mpz_t scale, n;
            mpz_inits(scale, n, NULL);
            mpz_ui_pow_ui(scale, 10, (unsigned long)labs(digits));
            if (digits >= 0) mpz_mul(mpq_numref(s), mpq_numref(s), scale);
            else mpz_mul(mpq_denref(s), mpq_denref(s), scale);
            mpq_canonicalize(s);
            if (!strcmp(name, "floor")) mpz_fdiv_q(n, mpq_numref(s), mpq_denref(s));
            else if (!strcmp(name, "ceil")) mpz_cdiv_q(n, mpq_numref(s), mpq_denref(s));
            else {   /* half away from zero */
                mpq_t h;
                mpq_init(h);
                mpq_set_si(h, mpq_sgn(s) < 0 ? -1 : 1, 2);
                mpq_add(s, s, h);
                mpz_tdiv_q(n, mpq_numref(s), mpq_denref(s));
                mpq_clear(h);
            }
            mpq_set_z(s, n);
            if (digits >= 0) mpz_mul(mpq_denref(s), mpq_denref(s), scale);
            else mpz_mul(mpq_numref(s), mpq_numref(s), scale);
            mpq_canonicalize(s);
            mpq_mul(v->q, s, f);
            mpz_clears(scale, n, NULL);
            mpq_clears(f, s, NULL);
        }
    }
    v_clear(&arg);
    return rc;
}

/* Units written right after a value multiply it first ("100 km / 2 h" is 100 km over
 * 2 h); a unit may carry its own power ("ft^2", "cm³"). A bare "number °F" keeps its
 * scale for an absolute conversion. */
static size_t conv_word(struct calc *c);
static int absorb_units(struct calc *c, struct val *v) {
    for (;;) {
        if (conv_word(c)) return 0;
        const struct calc_unit *u;
        size_t n = unit_at(c, &u);
        if (!n) return 0;
        c->pos += n;
        struct val b;
        v_init(&b);
        set_unit(&b, u);
        int bare_temp = u->kind == CALC_UNIT_TEMP && v->kind == V_NUM && dims_zero(v->dim);
        if (bare_temp) mpq_set(v->temp_x, v->q);
        int e = at(c, "²") ? 2 : at(c, "³") ? 3 : 0;
        if (e) c->pos += 2;
        else if (at(c, "^") && c->pos + 1 < c->len && c->s[c->pos + 1] >= '1' && c->s[c->pos + 1] <= '9' &&
                 (c->pos + 2 >= c->len || !isdigit((unsigned char)c->s[c->pos + 2]))) {
            e = c->s[c->pos + 1] - '0';
            c->pos += 2;
        }
        if (e > 1) {
            if (u->kind != CALC_UNIT) { v_clear(&b); return fail(c, "this unit has no powers"); }
            mpq_t f;
            mpq_init(f);
            mpq_set(f, b.q);
            for (int k = 1; k < e; k++) mpq_mul(b.q, b.q, f);
            mpq_clear(f);
            for (int k = 0; k < CALC_NDIM; k++) b.dim[k] = (signed char)(b.dim[k] * e);
            b.shown = calc_unit_for_dims(b.dim);
            bare_temp = 0;
        }
        int rc = mul(c, v, &b, 0);
        if (!rc && bare_temp) v->temp = u;
        if (!rc && b.shown && !memcmp(b.shown->dim, v->dim, CALC_NDIM)) v->shown = b.shown;
        v_clear(&b);
        if (rc) return -1;
    }
}

static int primary(struct calc *c, struct val *v) {
    skip_ws(c);
    if (c->pos >= c->len) return fail(c, "the expression ends where a number was expected");
    if (at(c, "(")) {
        c->pos++;
        if (conv(c, v, 0)) return -1;
        if (!at(c, ")")) return fail(c, "')' expected at position %zu", c->pos + 1);
        c->pos++;
        return absorb_units(c, v);
    }
    int d = date_literal(c, v);
    if (d) return d < 0 ? -1 : 0;
    if (c->failed) return -1;
    if (at_word(c, "today") || at(c, "오늘")) {
        c->pos += at(c, "오늘") ? strlen("오늘") : 5;
        v->kind = V_DATE;
        v->days = c->today;
        return 0;
    }
    static const char *const funcs[] = {"abs", "floor", "ceil", "round", NULL};
    for (const char *const *f = funcs; *f; f++)
        if (at_word(c, *f)) {
            size_t save = c->pos;
            c->pos += strlen(*f);
            if (!at(c, "(")) { c->pos = save; break; }
            c->pos++;
            return func_call(c, *f, v);
        }
    if (isdigit((unsigned char)c->s[c->pos]) || (c->s[c->pos] == '.' && c->pos + 1 < c->len && isdigit((unsigned char)c->s[c->pos + 1]))) {
        if (c->s[c->pos] == '.') {   /* ".5" */
            c->pos++;
            mpq_t f;
            mpq_init(f);
            size_t start = c->pos;
            if (number(c, f)) { mpq_clear(f); return -1; }
            mpz_t den;
            mpz_init(den);
            mpz_ui_pow_ui(den, 10, c->pos - start);
            mpq_set_num(v->q, mpq_numref(f));
            mpq_set_den(v->q, den);
            mpq_canonicalize(v->q);
            mpz_clear(den);
            mpq_clear(f);
            return 0;
        }
        if (korean_number(c, v->q)) return -1;
        int kd = korean_date(c, v->q, v);
        if (kd) return kd < 0 ? -1 : 0;
        return absorb_units(c, v);
    }
    const struct calc_unit *u;
    size_t n = unit_at(c, &u);
    if (n) {
        c->pos += n;
        skip_ws(c);
        if ((u->dim[CALC_KRW] || u->dim[CALC_USD]) && c->pos < c->len && isdigit((unsigned char)c->s[c->pos])) {
            /* "$5", "₩" style: the amount after its currency */
            if (korean_number(c, v->q)) return -1;
            struct val b;
            v_init(&b);
            set_unit(&b, u);
            int rc = mul(c, v, &b, 0);
            v_clear(&b);
            return rc ? -1 : absorb_units(c, v);
        }
        set_unit(v, u);   /* a bare unit: one of it */
        return absorb_units(c, v);
    }
    size_t wl = word_len(c);
    if (wl) return fail(c, "unknown word '%.*s' (a unit, today, abs, round, floor, ceil, mod, of, to)", (int)wl, c->s + c->pos);
    return fail(c, "unexpected '%.*s' at position %zu", (int)((unsigned char)c->s[c->pos] >= 0x80 ? 3 : 1), c->s + c->pos, c->pos + 1);
}

static int postfix(struct calc *c, struct val *v) {
    if (primary(c, v)) return -1;
    for (;;) {
        if (at(c, "!") && !at(c, "!=")) {
            c->pos++;
            int ok;
            int64_t n = q_to_int(v->q, &ok);
            if (v->kind != V_NUM || !dims_zero(v->dim) || !ok || n < 0) return fail(c, "n! takes a whole number n ≥ 0");
            if (n > MAX_FACTORIAL) return fail(c, "n! is limited to n ≤ %d", MAX_FACTORIAL);
            mpz_fac_ui(mpq_numref(v->q), (unsigned long)n);
            mpz_set_ui(mpq_denref(v->q), 1);
        } else if (at(c, "%")) {
            c->pos++;
            if (v->kind != V_NUM) return fail(c, "a percentage is of a number");
            mpq_t h;
            mpq_init(h);
            mpq_set_ui(h, 1, 100);
            mpq_mul(v->q, v->q, h);
            mpq_clear(h);
        } else break;
    }
    return 0;
}

static int unary(struct calc *c, struct val *v);

static int power(struct calc *c, struct val *v) {
    if (postfix(c, v)) return -1;
    int sq = at(c, "²") ? 2 : at(c, "³") ? 3 : 0;
    if (!sq && !at(c, "^") && !at(c, "**")) return 0;
    c->pos += sq ? 2 : at(c, "**") ? 2 : 1;
    long e = sq;
    if (!sq) {
        struct val x;
        v_init(&x);
        if (unary(c, &x)) { v_clear(&x); return -1; }
        int ok;
        e = (long)q_to_int(x.q, &ok);
        int bad = x.kind != V_NUM || !dims_zero(x.dim) || !ok;
        v_clear(&x);
        if (bad) return fail(c, "an exponent must be a whole number (the result stays exact)");
    }
    if (v->kind != V_NUM) return fail(c, "only numbers and quantities have powers");
    if (e > 100000 || e < -100000) return fail(c, "the exponent is limited to ±100000");
    size_t bits = mpz_sizeinbase(mpq_numref(v->q), 2) + mpz_sizeinbase(mpq_denref(v->q), 2);
    if ((double)bits * (double)labs(e) > MAX_BITS && mpz_cmpabs_ui(mpq_numref(v->q), 1) && mpz_cmp_ui(mpq_denref(v->q), 1))
        return fail(c, "the result is too large (over %d bits)", MAX_BITS);
    if (((double)mpz_sizeinbase(mpq_numref(v->q), 2) - 1) * (double)labs(e) > MAX_BITS ||
        ((double)mpz_sizeinbase(mpq_denref(v->q), 2) - 1) * (double)labs(e) > MAX_BITS)
        return fail(c, "the result is too large (over %d bits)", MAX_BITS);
    if (e < 0 && !mpq_sgn(v->q)) return fail(c, "division by zero");
    unsigned long ae = (unsigned long)labs(e);
    mpz_pow_ui(mpq_numref(v->q), mpq_numref(v->q), ae);
    mpz_pow_ui(mpq_denref(v->q), mpq_denref(v->q), ae);
    if (e < 0) mpq_inv(v->q, v->q);
    mpq_canonicalize(v->q);
    for (int k = 0; k < CALC_NDIM; k++) {
        long nd = (long)v->dim[k] * e;
        if (nd > 20 || nd < -20) return fail(c, "a unit's power is limited to ±20");
        v->dim[k] = (signed char)nd;
    }
    if (v->shown && e != 1) v->shown = NULL;
    v->temp = NULL;
    return 0;
}

static int unary(struct calc *c, struct val *v) {
    if (++c->depth > MAX_DEPTH) return fail(c, "the expression is nested too deeply");
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec > c->deadline.tv_sec || (now.tv_sec == c->deadline.tv_sec && now.tv_nsec > c->deadline.tv_nsec))
        return fail(c, "the calculation took too long (its time limit ran out)");
    int rc;
    if (at(c, "-") || at(c, "−") || at(c, "+")) {
        int neg = !at(c, "+");
        c->pos += at(c, "−") ? strlen("−") : 1;
        rc = unary(c, v);
        if (!rc && neg) {
            if (v->kind == V_DATE) rc = fail(c, "a date cannot be negated");
            else { mpq_neg(v->q, v->q); mpq_neg(v->temp_x, v->temp_x); }
        }
    } else rc = power(c, v);
    c->depth--;
    return rc;
}

/* Is the position a conversion keyword ("to", "in" before a unit, "→")? */
static size_t conv_word(struct calc *c) {
    if (at(c, "->")) return 2;
    if (at(c, "→")) return strlen("→");
    if (at_word(c, "to") || at_word(c, "as")) return 2;
    if (at_word(c, "in")) {
        size_t save = c->pos;
        c->pos += 2;
        const struct calc_unit *u;
        size_t n = unit_at(c, &u);
        c->pos = save;
        return n ? 2 : 0;
    }
    if (at(c, "으로")) return strlen("으로");
    if (at(c, "로")) return strlen("로");
    return 0;
}

static int term(struct calc *c, struct val *v) {
    if (unary(c, v)) return -1;
    for (;;) {
        int divide = -1;
        size_t adv = 0;
        if (at(c, "*") && !at(c, "**")) { divide = 0; adv = 1; }
        else if (at(c, "×")) { divide = 0; adv = strlen("×"); }
        else if (at(c, "/")) { divide = 1; adv = 1; }
        else if (at(c, "÷")) { divide = 1; adv = strlen("÷"); }
        else if (at_word(c, "of")) { divide = 0; adv = 2; }
        if (divide >= 0) {
            c->pos += adv;
            struct val b;
            v_init(&b);
            int rc = unary(c, &b);
            if (!rc) rc = mul(c, v, &b, divide);
            v_clear(&b);
            if (rc) return -1;
            continue;
        }
        if (at_word(c, "mod")) {
            c->pos += 3;
            struct val b;
            v_init(&b);
            int rc = unary(c, &b);
            if (!rc && (v->kind != V_NUM || b.kind != V_NUM || memcmp(v->dim, b.dim, CALC_NDIM)))
                rc = fail(c, "mod takes two numbers of the same kind");
            if (!rc && !mpq_sgn(b.q)) rc = fail(c, "division by zero");
            if (!rc) {   /* a - b * floor(a / b) */
                mpq_t t;
                mpz_t f;
                mpq_init(t);
                mpz_init(f);
                mpq_div(t, v->q, b.q);
                mpz_fdiv_q(f, mpq_numref(t), mpq_denref(t));
                mpq_set_z(t, f);
                mpq_mul(t, t, b.q);
                mpq_sub(v->q, v->q, t);
                mpq_clear(t);
                mpz_clear(f);
            }
            v_clear(&b);
            if (rc) return -1;
            continue;
        }
        break;
    }
    return 0;
}

static int sum(struct calc *c, struct val *v) {
    if (term(c, v)) return -1;
    for (;;) {
        int sign = 0;
        size_t adv = 1;
        if (at(c, "+")) sign = 1;
        else if (at(c, "−")) { sign = -1; adv = strlen("−"); }
        else if (at(c, "-") && !at(c, "->")) sign = -1;
        if (!sign) break;
        c->pos += adv;
        struct val b;
        v_init(&b);
        int rc = term(c, &b);
        if (!rc) rc = add(c, v, &b, sign);
        v_clear(&b);
        if (rc) return -1;
    }
    return 0;
}

static int conv(struct calc *c, struct val *v, int top) {
    if (sum(c, v)) return -1;
    size_t n = conv_word(c);
    if (!n) return 0;
    if (!top) return fail(c, "a conversion ('to' a unit) comes at the very end of the expression");
    c->pos += n;
    skip_ws(c);
    size_t start = c->pos;
    struct val t;
    v_init(&t);
    int rc = term(c, &t);
    size_t end = c->pos;
    while (end > start && isspace((unsigned char)c->s[end - 1])) end--;
    if (!rc && t.kind == V_MONTHS) rc = fail(c, "months and years are not a unit to convert to (use days or weeks)");
    if (!rc && t.kind != V_NUM) rc = fail(c, "convert to a unit (5 km to mi)");
    if (!rc && v->kind != V_NUM) rc = fail(c, "only quantities convert (5 km to mi, 100 °F to °C)");
    if (!rc && !mpq_sgn(t.q)) rc = fail(c, "cannot convert to zero of a unit");
    if (!rc && memcmp(v->dim, t.dim, CALC_NDIM)) rc = fail(c, "cannot convert: '%.*s' measures something else", (int)(end - start), c->s + start);
    if (!rc) {
        /* temperatures on their scales: (x + zero) * factor in kelvin, then back */
        const struct calc_unit *tu = NULL;
        size_t save = c->pos;
        c->pos = start;
        size_t un = unit_at(c, &tu);
        c->pos = save;
        if (v->temp && tu && tu->kind == CALC_UNIT_TEMP && start + un == end) {
            mpq_t z, f;
            mpq_inits(z, f, NULL);
            mpq_set_str(z, v->temp->zero, 10);
            mpq_canonicalize(z);
            mpq_set_str(f, v->temp->factor, 10);
            mpq_canonicalize(f);
            mpq_add(v->q, v->temp_x, z);
            mpq_mul(v->q, v->q, f);          /* kelvin */
            mpq_set_str(z, tu->zero, 10);
            mpq_canonicalize(z);
            mpq_set_str(f, tu->factor, 10);
            mpq_canonicalize(f);
            mpq_div(v->q, v->q, f);
            mpq_sub(v->q, v->q, z);          /* in the target's degrees */
            mpq_clears(z, f, NULL);
        } else mpq_div(v->q, v->q, t.q);    /* in the target's units */
        memset(v->dim, 0, CALC_NDIM);
        v->kind = V_NUM;
        v->shown = NULL;
        v->temp = NULL;
        snprintf(c->target, sizeof c->target, "%.*s", (int)(end - start), c->s + start);
    }
    v_clear(&t);
    return rc;
}

/* ---- results ---- */

/* The exact value as text: an integer, a terminating decimal, or p/q; *approx gets the
 * decimal approximation of a fraction (malloc'ed) or NULL. */
static char *q_text(const mpq_t q, char **approx) {
    *approx = NULL;
    mpz_t den, t;
    mpz_init_set(den, mpq_denref(q));
    mpz_init(t);
    mpz_t two, five;
    mpz_init_set_ui(two, 2);
    mpz_init_set_ui(five, 5);
    unsigned long a = mpz_remove(den, den, two), b = mpz_remove(den, den, five);
    char *out = NULL;
    if (!mpz_cmp_ui(den, 1)) {
        unsigned long k = a > b ? a : b;   /* q * 10^k is whole */
        mpz_ui_pow_ui(t, 10, k);
        mpz_mul(t, t, mpq_numref(q));
        mpz_divexact(t, t, mpq_denref(q));
        int neg = mpz_sgn(t) < 0;
        mpz_abs(t, t);
        char *digits = mpz_get_str(NULL, 10, t);
        size_t n = strlen(digits);
        out = malloc(n + k + 4);
        if (out && digits) {
            char *p = out;
            if (neg) *p++ = '-';
            if (k == 0) strcpy(p, digits);
            else if (n > k) { memcpy(p, digits, n - k); p[n - k] = '.'; strcpy(p + n - k + 1, digits + n - k); }
            else { strcpy(p, "0."); memset(p + 2, '0', k - n); strcpy(p + 2 + k - n, digits); }
        }
        free(digits);
    } else {
        out = mpq_get_str(NULL, 10, q);
        /* about 20 significant digits */
        mpf_t f;
        mpf_init2(f, 256);
        mpf_set_q(f, q);
        mp_exp_t e;
        char *m = mpf_get_str(NULL, &e, 10, 20, f);
        if (m) {
            int neg = m[0] == '-';
            const char *dg = m + neg;
            size_t n = strlen(dg);
            char *s = malloc(n + (size_t)(e < 0 ? -e : e) + 32);
            if (s) {
                char *p = s;
                if (neg) *p++ = '-';
                if (e <= 0) { strcpy(p, "0."); p += 2; for (long k = 0; k < -e; k++) *p++ = '0'; strcpy(p, dg); }
                else if ((size_t)e >= n) { strcpy(p, dg); p += n; for (size_t k = n; k < (size_t)e; k++) *p++ = '0'; *p = 0; }
                else { memcpy(p, dg, (size_t)e); p[e] = '.'; strcpy(p + e + 1, dg + e); }
                if (e > 40 || e < -20) snprintf(s, n + 32, "%s%c.%se%ld", neg ? "-" : "", dg[0], dg + 1, (long)e - 1);
                *approx = s;
            }
            free(m);
        }
        mpf_clear(f);
    }
    mpz_clears(den, t, two, five, NULL);
    return out;
}

static const char *const WD_EN[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};
static const char *const WD_KO[] = {"일요일", "월요일", "화요일", "수요일", "목요일", "금요일", "토요일"};

cJSON *calc_eval(const char *expr, int64_t today, int timeout_ms, char *err, size_t cap) {
    if (!expr || !*expr) { snprintf(err, cap, "the expression is empty"); return NULL; }
    size_t len = strlen(expr);
    if (len > CALC_EXPR_MAX) { snprintf(err, cap, "the expression is longer than %d characters", CALC_EXPR_MAX); return NULL; }
    struct calc c = {.s = expr, .len = len, .today = today, .err = err, .cap = cap};
    clock_gettime(CLOCK_MONOTONIC, &c.deadline);
    c.deadline.tv_sec += timeout_ms / 1000;
    c.deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (c.deadline.tv_nsec >= 1000000000L) { c.deadline.tv_sec++; c.deadline.tv_nsec -= 1000000000L; }
    struct val v;
    v_init(&v);
    int rc = conv(&c, &v, 1);
    const char *unit_text = c.target;
    skip_ws(&c);
    if (!rc && c.pos < c.len) rc = fail(&c, "unexpected '%.*s' at position %zu", (int)(c.len - c.pos > 12 ? 12 : c.len - c.pos), expr + c.pos, c.pos + 1);
    if (rc) { v_clear(&v); return NULL; }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "expression", expr);
    char *text = NULL, *approx = NULL, buf[160];
    if (v.kind == V_DATE) {
        int y, m, d;
        tz_civil_from_days(v.days, &y, &m, &d);
        snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
        cJSON_AddStringToObject(o, "value", buf);
        char r[200];
        snprintf(r, sizeof r, "%s (%s, %s)", buf, WD_EN[tz_weekday(v.days)], WD_KO[tz_weekday(v.days)]);
        cJSON_AddStringToObject(o, "result", r);
        cJSON_AddStringToObject(o, "weekday", WD_EN[tz_weekday(v.days)]);
        cJSON_AddNullToObject(o, "unit");
        cJSON_AddStringToObject(o, "kind", "date");
        v_clear(&v);
        return o;
    }
    const char *unit = NULL;
    char uname[64];
    if (v.kind == V_MONTHS) unit = "months";
    else if (unit_text[0]) unit = unit_text;
    else if (!dims_zero(v.dim)) {
        const struct calc_unit *u = v.shown && !memcmp(v.shown->dim, v.dim, CALC_NDIM) ? v.shown : calc_unit_for_dims(v.dim);
        if (u) {
            mpq_t f;
            mpq_init(f);
            mpq_set_str(f, u->factor, 10);
            mpq_canonicalize(f);
            mpq_div(v.q, v.q, f);
            mpq_clear(f);
            calc_unit_name(u, uname, sizeof uname);
            unit = uname;
        } else {
            /* no named unit: SI base units with powers */
            static const char *const base[] = {"m", "kg", "s", "K", "원", "$", "B"};
            size_t k = 0;
            uname[0] = 0;
            for (int i = 0; i < CALC_NDIM && k < sizeof uname; i++) {
                if (!v.dim[i]) continue;
                if (v.dim[i] == 1) k += (size_t)snprintf(uname + k, sizeof uname - k, "%s%s", k ? "·" : "", base[i]);
                else k += (size_t)snprintf(uname + k, sizeof uname - k, "%s%s^%d", k ? "·" : "", base[i], v.dim[i]);
            }
            unit = uname;
        }
    }
    text = q_text(v.q, &approx);
    if (!text) { cJSON_Delete(o); v_clear(&v); snprintf(err, cap, "out of memory"); return NULL; }
    cJSON_AddStringToObject(o, "value", text);
    if (approx) cJSON_AddStringToObject(o, "decimal", approx);
    size_t rl = strlen(text) + (approx ? strlen(approx) : 0) + 96;
    char *r = malloc(rl);
    if (r) {
        const int space = unit && strcmp(unit, "원") && strcmp(unit, "$") && strcmp(unit, "%");
        if (approx) snprintf(r, rl, "%s%s%s (≈ %s%s%s)", text, unit ? (space ? " " : "") : "", unit ? unit : "", approx,
                             unit ? (space ? " " : "") : "", unit ? unit : "");
        else snprintf(r, rl, "%s%s%s", text, unit ? (space ? " " : "") : "", unit ? unit : "");
        cJSON_AddStringToObject(o, "result", r);
        free(r);
    }
    if (unit) cJSON_AddStringToObject(o, "unit", unit);
    else cJSON_AddNullToObject(o, "unit");
    cJSON_AddStringToObject(o, "kind", v.kind == V_MONTHS ? "duration" : unit ? "quantity" : "number");
    free(text);
    free(approx);
    v_clear(&v);
    return o;
}

/* Time zones (tz.h): a TZif file (RFC 8536, versions 1 to 4) and its POSIX TZ footer. */
#include "tools/tz.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_FILE_MAX (1 << 20)

int64_t tz_days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void tz_civil_from_days(int64_t z, int *y, int *m, int *d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

int tz_weekday(int64_t days) {
    int64_t w = (days + 4) % 7;   /* 1970-01-01 was a Thursday */
    return (int)(w < 0 ? w + 7 : w);
}

static int64_t floordiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

/* ---- the POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3") ---- */

struct rule_date { char kind; int a, b, c; int32_t time; };   /* 'M' month.week.day, 'J' 1..365, 'n' 0..365 */
struct posix_tz {
    char std[16], dst[16];
    int32_t std_off, dst_off;   /* seconds east of UTC */
    int has_dst;
    struct rule_date start, end;
};

static const char *p_name(const char *p, char *out, size_t cap) {
    size_t n = 0;
    if (*p == '<') {
        p++;
        while (*p && *p != '>') { if (n + 1 < cap) out[n++] = *p; p++; }
        if (*p != '>') return NULL;
        p++;
    } else {
        while (isalpha((unsigned char)*p)) { if (n + 1 < cap) out[n++] = *p; p++; }
    }
    out[n] = 0;
    return n >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] as seconds (hours up to 167, as version 3 allows). */
static const char *p_time(const char *p, int32_t *out) {
    int sign = 1;
    if (*p == '+' || *p == '-') sign = *p++ == '-' ? -1 : 1;
    if (!isdigit((unsigned char)*p)) return NULL;
    long v[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) {
        if (!isdigit((unsigned char)*p)) return NULL;
        char *e;
        v[k] = strtol(p, &e, 10);
        p = e;
        if (*p != ':' || k == 2) break;
        p++;
    }
    if (v[0] > 167 || v[1] > 59 || v[2] > 59) return NULL;
    *out = (int32_t)(sign * (v[0] * 3600 + v[1] * 60 + v[2]));
    return p;
}

static const char *p_date(const char *p, struct rule_date *r) {
    char *e;
    r->time = 7200;
    if (*p == 'M') {
        r->kind = 'M';
        r->a = (int)strtol(p + 1, &e, 10);
        if (*e != '.') return NULL;
        r->b = (int)strtol(e + 1, &e, 10);
        if (*e != '.') return NULL;
        r->c = (int)strtol(e + 1, &e, 10);
        if (r->a < 1 || r->a > 12 || r->b < 1 || r->b > 5 || r->c < 0 || r->c > 6) return NULL;
    } else if (*p == 'J') {
        r->kind = 'J';
        r->a = (int)strtol(p + 1, &e, 10);
        if (r->a < 1 || r->a > 365) return NULL;
    } else if (isdigit((unsigned char)*p)) {
        r->kind = 'n';
        r->a = (int)strtol(p, &e, 10);
        if (r->a > 365) return NULL;
    } else return NULL;
    p = e;
    if (*p == '/' && !(p = p_time(p + 1, &r->time))) return NULL;
    return p;
}

static int parse_posix(const char *p, struct posix_tz *z) {
    memset(z, 0, sizeof *z);
    int32_t off;
    if (!(p = p_name(p, z->std, sizeof z->std)) || !(p = p_time(p, &off))) return -1;
    z->std_off = -off;
    if (!*p) return 0;
    if (!(p = p_name(p, z->dst, sizeof z->dst))) return -1;
    z->has_dst = 1;
    z->dst_off = z->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = p_time(p, &off))) return -1;
        z->dst_off = -off;
    }
    if (!*p) {   /* no rule: POSIX leaves it to the implementation; the US rule, as glibc */
        z->start = (struct rule_date){'M', 3, 2, 0, 7200};
        z->end = (struct rule_date){'M', 11, 1, 0, 7200};
        return 0;
    }
    if (*p != ',' || !(p = p_date(p + 1, &z->start)) || *p != ',' || !(p = p_date(p + 1, &z->end))) return -1;
    return *p ? -1 : 0;
}

static int is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* The day (since the epoch) a rule names in year y. */
static int64_t rule_day(const struct rule_date *r, int64_t y) {
    if (r->kind == 'J') return tz_days_from_civil(y, 1, 1) + r->a - 1 + (is_leap(y) && r->a > 59);
    if (r->kind == 'n') return tz_days_from_civil(y, 1, 1) + r->a;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t first = tz_days_from_civil(y, r->a, 1);
    int64_t d = first + ((r->c - tz_weekday(first)) % 7 + 7) % 7 + 7 * (r->b - 1);
    int len = mdays[r->a - 1] + (r->a == 2 && is_leap(y));
    while (d >= first + len) d -= 7;   /* week 5: the last such day */
    return d;
}

static void posix_at(const struct posix_tz *z, int64_t t, int32_t *off, int *dst, const char **abbr) {
    *off = z->std_off;
    *dst = 0;
    *abbr = z->std;
    if (!z->has_dst) return;
    int y, m, d;
    tz_civil_from_days(floordiv(t + z->std_off, 86400), &y, &m, &d);
    int64_t s = rule_day(&z->start, y) * 86400 + z->start.time - z->std_off;
    int64_t e = rule_day(&z->end, y) * 86400 + z->end.time - z->dst_off;
    int in = s < e ? (t >= s && t < e) : (t < e || t >= s);
    if (in) {
        *off = z->dst_off;
        *dst = 1;
        *abbr = z->dst;
    }
}

/* ---- the TZif file ---- */

static int64_t be(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int k = 0; k < n; k++) v = v << 8 | p[k];
    if (n == 4) return (int32_t)(uint32_t)v;
    return (int64_t)v;
}

static int name_ok(const char *name) {
    size_t n = strlen(name);
    if (!n || n > 64 || name[0] == '/' || strstr(name, "..")) return 0;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p)) return 0;
    return 1;
}

static int fail(char *err, size_t cap, const char *fmt, const char *name) {
    snprintf(err, cap, fmt, name);
    return -1;
}

int tz_lookup(const char *name, int64_t utc, struct tz_local *out, char *err, size_t cap) {
    memset(out, 0, sizeof *out);
    if (!name || !name_ok(name))
        return fail(err, cap, "'%.80s' is not a time zone name (an IANA name such as Asia/Seoul or Europe/Paris)", name ? name : "");
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, cap, "unknown time zone '%.80s' (an IANA name such as Asia/Seoul or Europe/Paris)", name);
    unsigned char *b = malloc(TZ_FILE_MAX);
    size_t n = b ? fread(b, 1, TZ_FILE_MAX, f) : 0;
    fclose(f);
    if (!b) return fail(err, cap, "out of memory%.0s", name);
    int rc = -1;
    int32_t off = 0;
    int dst = 0;
    char abbr[16] = "";
    if (n < 44 || memcmp(b, "TZif", 4)) { fail(err, cap, "'%.80s' is not a TZif time zone file", name); goto out; }
    const unsigned char *h = b;
    int v2 = h[4] >= '2', tsz = 4;
    size_t at = 0;
    for (int pass = 0; pass < 1 + v2; pass++) {
        if (at + 44 > n || memcmp(b + at, "TZif", 4)) { fail(err, cap, "the time zone file of '%.80s' is damaged", name); goto out; }
        h = b + at;
        tsz = pass ? 8 : 4;
        int64_t isut = be(h + 20, 4), isstd = be(h + 24, 4), leap = be(h + 28, 4), timecnt = be(h + 32, 4),
                typecnt = be(h + 36, 4), charcnt = be(h + 40, 4);
        if (isut < 0 || isstd < 0 || leap < 0 || timecnt < 0 || typecnt < 1 || typecnt > 256 || charcnt < 0) {
            fail(err, cap, "the time zone file of '%.80s' is damaged", name);
            goto out;
        }
        size_t len = (size_t)(timecnt * tsz + timecnt + typecnt * 6 + charcnt + leap * (tsz + 4) + isstd + isut);
        if (at + 44 + len > n) { fail(err, cap, "the time zone file of '%.80s' is damaged", name); goto out; }
        if (pass + 1 < 1 + v2) { at += 44 + len; continue; }
        const unsigned char *times = h + 44, *idx = times + timecnt * tsz, *types = idx + timecnt,
                            *chars = types + typecnt * 6;
        /* the type in effect: the last transition at or before utc; before the first, the
         * first standard-time type */
        int64_t lo = 0, hi = timecnt;   /* first transition after utc */
        while (lo < hi) {
            int64_t mid = (lo + hi) / 2;
            if (be(times + mid * tsz, tsz) <= utc) lo = mid + 1;
            else hi = mid;
        }
        int type = 0;
        if (lo > 0) type = idx[lo - 1];
        else for (int k = 0; k < typecnt; k++) if (!types[k * 6 + 4]) { type = k; break; }
        if (type >= typecnt) { fail(err, cap, "the time zone file of '%.80s' is damaged", name); goto out; }
        off = (int32_t)be(types + type * 6, 4);
        dst = types[type * 6 + 4];
        int ai = types[type * 6 + 5];
        if (ai < charcnt) snprintf(abbr, sizeof abbr, "%.*s", (int)strnlen((const char *)chars + ai, (size_t)(charcnt - ai)), chars + ai);
        /* past the last transition: the footer's rule (version 2 and later) */
        const unsigned char *foot = h + 44 + len;
        if (v2 && lo == timecnt && foot < b + n && *foot == '\n') {
            const unsigned char *e = memchr(foot + 1, '\n', (size_t)(b + n - foot - 1));
            char rule[128];
            if (e && e - foot - 1 > 0 && e - foot - 1 < (long)sizeof rule) {
                memcpy(rule, foot + 1, (size_t)(e - foot - 1));
                rule[e - foot - 1] = 0;
                struct posix_tz z;
                const char *ab;
                if (!parse_posix(rule, &z)) {
                    posix_at(&z, utc, &off, &dst, &ab);
                    snprintf(abbr, sizeof abbr, "%s", ab);
                }
            }
        }
    }
    out->utc = utc;
    out->offset = off;
    out->dst = dst;
    snprintf(out->abbr, sizeof out->abbr, "%s", abbr);
    int64_t local = utc + off, days = floordiv(local, 86400), secs = local - days * 86400;
    tz_civil_from_days(days, &out->year, &out->month, &out->day);
    out->hour = (int)(secs / 3600);
    out->minute = (int)(secs / 60 % 60);
    out->second = (int)(secs % 60);
    out->weekday = tz_weekday(days);
    rc = 0;
out:
    free(b);
    return rc;
}

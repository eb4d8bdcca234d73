/* Time zones from the system's tz database: the IANA name's TZif file
 * ($TZDIR or /usr/share/zoneinfo) read directly, its transitions and, past the last one,
 * the POSIX TZ rule at its end; no process-wide TZ is set, so any thread may ask.
 * Used by the built-in current_time tool and the calculator's "today". */
#ifndef OMNI_TOOLS_TZ_H
#define OMNI_TOOLS_TZ_H
#include <stddef.h>
#include <stdint.h>

struct tz_local {
    int64_t utc;                 /* the instant asked about (Unix seconds) */
    int32_t offset;              /* seconds east of UTC at that instant */
    int dst;
    char abbr[16];               /* "KST", "CEST", "+0330" */
    int year, month, day;        /* the local civil time */
    int hour, minute, second;
    int weekday;                 /* 0 = Sunday */
};

/* name: an IANA zone ("Asia/Seoul", "UTC", "America/New_York"). 0, or -1 with err (a
 * malformed or unknown name, an unreadable file). */
int tz_lookup(const char *name, int64_t utc, struct tz_local *out, char *err, size_t cap);

/* Civil dates (the proleptic Gregorian calendar) and days since 1970-01-01. */
int64_t tz_days_from_civil(int64_t y, int m, int d);
void tz_civil_from_days(int64_t days, int *y, int *m, int *d);
int tz_weekday(int64_t days);   /* 0 = Sunday */

#endif

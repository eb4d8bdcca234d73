/* The built-in current_time tool's answer: an instant in an IANA time zone (tools/tz.h),
 * as ISO 8601 with its offset, the date, the weekday in English and Korean, the zone's
 * abbreviation and whether daylight saving time is in effect. */
#ifndef OMNI_TOOLS_CLOCK_H
#define OMNI_TOOLS_CLOCK_H
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

/* {"timezone", "datetime" (2026-12-02T22:40:05+09:00), "date", "time", "weekday",
 * "weekday_ko", "utc_offset" (+09:00), "abbreviation", "dst", "unix"}, or NULL with err
 * (an unknown zone). */
cJSON *clock_at(const char *zone, int64_t utc, char *err, size_t cap);
/* The same as one line for the model. */
char *clock_text(const cJSON *now);

#endif

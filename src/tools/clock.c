/* current_time (clock.h). */
#include "tools/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/tz.h"

static const char *const WD_EN[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};
static const char *const WD_KO[] = {"일요일", "월요일", "화요일", "수요일", "목요일", "금요일", "토요일"};

cJSON *clock_at(const char *zone, int64_t utc, char *err, size_t cap) {
    struct tz_local l;
    if (tz_lookup(zone, utc, &l, err, cap)) return NULL;
    char off[16], date[32], tm[16], iso[64];
    int a = l.offset < 0 ? -l.offset : l.offset;
    if (a % 60) snprintf(off, sizeof off, "%c%02d:%02d:%02d", l.offset < 0 ? '-' : '+', a / 3600, a / 60 % 60, a % 60);
    else snprintf(off, sizeof off, "%c%02d:%02d", l.offset < 0 ? '-' : '+', a / 3600, a / 60 % 60);
    snprintf(date, sizeof date, "%04d-%02d-%02d", l.year, l.month, l.day);
    snprintf(tm, sizeof tm, "%02d:%02d:%02d", l.hour, l.minute, l.second);
    snprintf(iso, sizeof iso, "%sT%s%s", date, tm, off);
    cJSON *o = cJSON_CreateObject();
    if (!o) { snprintf(err, cap, "out of memory"); return NULL; }
    cJSON_AddStringToObject(o, "timezone", zone);
    cJSON_AddStringToObject(o, "datetime", iso);
    cJSON_AddStringToObject(o, "date", date);
    cJSON_AddStringToObject(o, "time", tm);
    cJSON_AddStringToObject(o, "weekday", WD_EN[l.weekday]);
    cJSON_AddStringToObject(o, "weekday_ko", WD_KO[l.weekday]);
    cJSON_AddStringToObject(o, "utc_offset", off);
    cJSON_AddStringToObject(o, "abbreviation", l.abbr);
    cJSON_AddBoolToObject(o, "dst", l.dst);
    cJSON_AddNumberToObject(o, "unix", (double)utc);
    return o;
}

static const char *str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

char *clock_text(const cJSON *now) {
    size_t n = 256;
    char *s = malloc(n);
    if (!s) return NULL;
    snprintf(s, n, "%s (%s, %s) %s, %s%s", str(now, "datetime"), str(now, "weekday"), str(now, "weekday_ko"),
             str(now, "timezone"), str(now, "abbreviation"),
             cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(now, "dst")) ? ", daylight saving time" : "");
    return s;
}

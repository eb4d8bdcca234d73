/* The calculator's units (calc.h): each a factor to SI (exact, as a fraction) and its
 * dimensions; temperatures also carry their zero, for conversions such as °F to °C. */
#ifndef OMNI_TOOLS_CALC_UNITS_H
#define OMNI_TOOLS_CALC_UNITS_H
#include <stddef.h>

enum { CALC_L, CALC_M, CALC_T, CALC_TEMP, CALC_KRW, CALC_USD, CALC_BYTE, CALC_NDIM };

enum calc_unit_kind { CALC_UNIT, CALC_UNIT_MONTHS, CALC_UNIT_TEMP };

struct calc_unit {
    const char *names;        /* '|'-separated spellings; the first is the one shown */
    const char *factor;       /* to SI, "p/q" */
    signed char dim[CALC_NDIM];
    enum calc_unit_kind kind; /* MONTHS: calendar months (a date's); TEMP: an absolute scale */
    const char *zero;         /* TEMP: the scale's zero in its own degrees below 0 K, "p/q" */
};

/* The unit spelled exactly name[0..len), or NULL. */
const struct calc_unit *calc_unit_find(const char *name, size_t len);
/* The longest unit spelling that starts s (n bytes available): its length, 0 when none. */
size_t calc_unit_prefix(const char *s, size_t n, const struct calc_unit **u);
/* The unit shown for dimensions dim when no other was asked for (SI), or NULL. */
const struct calc_unit *calc_unit_for_dims(const signed char *dim);
/* The first spelling of u into out. */
void calc_unit_name(const struct calc_unit *u, char *out, size_t cap);

#endif

/* The calculator's unit table (calc_units.h). Factors are exact definitions (the
 * international foot and pound, 1 평 = 400/121 m², 1 근 = 600 g, 1 돈 = 3.75 g). */
#include "tools/calc_units.h"

#include <stdio.h>
#include <string.h>

#define L {1, 0, 0, 0, 0, 0, 0}
#define A {2, 0, 0, 0, 0, 0, 0}
#define V {3, 0, 0, 0, 0, 0, 0}
#define M {0, 1, 0, 0, 0, 0, 0}
#define T {0, 0, 1, 0, 0, 0, 0}
#define K {0, 0, 0, 1, 0, 0, 0}
#define W {0, 0, 0, 0, 1, 0, 0}
#define D {0, 0, 0, 0, 0, 1, 0}
#define B {0, 0, 0, 0, 0, 0, 1}
#define S {1, 0, -1, 0, 0, 0, 0}
#define N0 {0, 0, 0, 0, 0, 0, 0}

static const struct calc_unit units[] = {
    {"m|meter|meters|metre|metres|미터", "1", L, CALC_UNIT, NULL},
    {"km|kilometer|kilometers|킬로미터|킬로", "1000", L, CALC_UNIT, NULL},
    {"cm|centimeter|centimeters|센티미터|센티", "1/100", L, CALC_UNIT, NULL},
    {"mm|millimeter|millimeters|밀리미터|밀리", "1/1000", L, CALC_UNIT, NULL},
    {"mi|mile|miles|마일", "1609344/1000", L, CALC_UNIT, NULL},
    {"ft|foot|feet|피트", "3048/10000", L, CALC_UNIT, NULL},
    {"in|inch|inches|인치", "254/10000", L, CALC_UNIT, NULL},
    {"yd|yard|yards|야드", "9144/10000", L, CALC_UNIT, NULL},
    {"m²|m^2|sqm|제곱미터", "1", A, CALC_UNIT, NULL},
    {"km²|km^2|제곱킬로미터", "1000000", A, CALC_UNIT, NULL},
    {"평|pyeong", "400/121", A, CALC_UNIT, NULL},
    {"ha|hectare|hectares|헥타르", "10000", A, CALC_UNIT, NULL},
    {"m³|m^3|세제곱미터", "1", V, CALC_UNIT, NULL},
    {"L|l|liter|liters|litre|litres|리터", "1/1000", V, CALC_UNIT, NULL},
    {"mL|ml|milliliter|milliliters|밀리리터", "1/1000000", V, CALC_UNIT, NULL},
    {"gal|gallon|gallons|갤런", "3785411784/1000000000000", V, CALC_UNIT, NULL},
    {"kg|kilogram|kilograms|킬로그램", "1", M, CALC_UNIT, NULL},
    {"g|gram|grams|그램", "1/1000", M, CALC_UNIT, NULL},
    {"mg|milligram|milligrams|밀리그램", "1/1000000", M, CALC_UNIT, NULL},
    {"t|tonne|tonnes|톤", "1000", M, CALC_UNIT, NULL},
    {"lb|lbs|pound|pounds|파운드", "45359237/100000000", M, CALC_UNIT, NULL},
    {"oz|ounce|ounces|온스", "45359237/1600000000", M, CALC_UNIT, NULL},
    {"근", "3/5", M, CALC_UNIT, NULL},
    {"돈", "375/100000", M, CALC_UNIT, NULL},
    {"s|sec|second|seconds|초", "1", T, CALC_UNIT, NULL},
    {"ms|millisecond|milliseconds|밀리초", "1/1000", T, CALC_UNIT, NULL},
    {"min|minute|minutes|분", "60", T, CALC_UNIT, NULL},
    {"h|hr|hour|hours|시간", "3600", T, CALC_UNIT, NULL},
    {"days|day|d|일", "86400", T, CALC_UNIT, NULL},
    {"weeks|week|wk|주", "604800", T, CALC_UNIT, NULL},
    {"months|month|개월|달", "1", N0, CALC_UNIT_MONTHS, NULL},
    {"years|year|yr|년", "12", N0, CALC_UNIT_MONTHS, NULL},
    {"m/s", "1", S, CALC_UNIT, NULL},
    {"km/h|kph|km/hr", "1000/3600", S, CALC_UNIT, NULL},
    {"mph", "1609344/3600000", S, CALC_UNIT, NULL},
    {"K|kelvin", "1", K, CALC_UNIT_TEMP, "0"},
    {"°C|℃|degC|celsius|섭씨", "1", K, CALC_UNIT_TEMP, "27315/100"},
    {"°F|℉|degF|fahrenheit|화씨", "5/9", K, CALC_UNIT_TEMP, "45967/100"},
    {"원|KRW|won", "1", W, CALC_UNIT, NULL},
    {"$|USD|dollar|dollars|달러", "1", D, CALC_UNIT, NULL},
    {"B|byte|bytes|바이트", "1", B, CALC_UNIT, NULL},
    {"KB|kB", "1000", B, CALC_UNIT, NULL},
    {"MB", "1000000", B, CALC_UNIT, NULL},
    {"GB", "1000000000", B, CALC_UNIT, NULL},
    {"TB", "1000000000000", B, CALC_UNIT, NULL},
    {"KiB", "1024", B, CALC_UNIT, NULL},
    {"MiB", "1048576", B, CALC_UNIT, NULL},
    {"GiB", "1073741824", B, CALC_UNIT, NULL},
    {"TiB", "1099511627776", B, CALC_UNIT, NULL},
};
#define N_UNITS (sizeof units / sizeof units[0])

/* Each spelling of u in turn: *p walks the names. 0 at the end. */
static int next_name(const char **p, const char **s, size_t *len) {
    if (!**p) return 0;
    *s = *p;
    const char *bar = strchr(*p, '|');
    *len = bar ? (size_t)(bar - *p) : strlen(*p);
    *p = bar ? bar + 1 : *p + *len;
    return 1;
}

const struct calc_unit *calc_unit_find(const char *name, size_t len) {
    for (size_t i = 0; i < N_UNITS; i++) {
        const char *p = units[i].names, *s;
        size_t n;
        while (next_name(&p, &s, &n))
            if (n == len && !memcmp(s, name, len)) return &units[i];
    }
    return NULL;
}

size_t calc_unit_prefix(const char *str, size_t avail, const struct calc_unit **u) {
    size_t best = 0;
    *u = NULL;
    for (size_t i = 0; i < N_UNITS; i++) {
        const char *p = units[i].names, *s;
        size_t n;
        while (next_name(&p, &s, &n))
            if (n > best && n <= avail && !memcmp(s, str, n)) { best = n; *u = &units[i]; }
    }
    return best;
}

const struct calc_unit *calc_unit_for_dims(const signed char *dim) {
    /* the SI unit (factor 1) with these dimensions */
    for (size_t i = 0; i < N_UNITS; i++)
        if (!strcmp(units[i].factor, "1") && units[i].kind != CALC_UNIT_MONTHS && !memcmp(units[i].dim, dim, CALC_NDIM))
            return &units[i];
    return NULL;
}

void calc_unit_name(const struct calc_unit *u, char *out, size_t cap) {
    const char *bar = strchr(u->names, '|');
    snprintf(out, cap, "%.*s", bar ? (int)(bar - u->names) : (int)strlen(u->names), u->names);
}

/* Lookups in the generated Unicode tables (unicode_tab.c): binary searches over
 * sorted ranges and pairs. */
#include "text/unicode_tab.h"

int uni_class(uint32_t cp) {
    if (cp > 0x10FFFF) return 0;
    int lo = 0, hi = uni_n_class_ranges - 1; /* last range whose first <= cp */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (uni_class_ranges[mid].first <= cp) lo = mid;
        else hi = mid - 1;
    }
    return uni_class_ranges[lo].cls;
}

uint32_t uni_tolower(uint32_t cp) {
    if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    int lo = 0, hi = uni_n_lower - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (uni_lower[mid].from == cp) return uni_lower[mid].to;
        if (uni_lower[mid].from < cp) lo = mid + 1;
        else hi = mid - 1;
    }
    return cp;
}

uint32_t uni_nfd_first(uint32_t cp) {
    int lo = 0, hi = uni_n_nfd - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < uni_nfd[mid].first) hi = mid - 1;
        else if (cp > uni_nfd[mid].last) lo = mid + 1;
        else return uni_nfd[mid].nfd;
    }
    return cp;
}

int uni_is_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

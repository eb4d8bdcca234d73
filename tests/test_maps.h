/* For tests about how memory is mapped: the /proc/self/smaps entry holding an address. */
#ifndef OMNI_TEST_MAPS_H
#define OMNI_TEST_MAPS_H
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void test_maps_copy(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* the mapping's header line (its range, permissions and file, if any) into line, and its
 * VmFlags (" rd wr mr mw me ac hg ..."; "hg": huge-page advice) into flags; either may be
 * NULL; both "" when nothing maps a */
static void test_mapping_of(const void *a, char *line, size_t ln, char *flags, size_t fn) {
    if (line && ln) line[0] = 0;
    if (flags && fn) flags[0] = 0;
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return;
    char buf[600];
    int in = 0;
    while (fgets(buf, sizeof buf, f)) {
        unsigned long lo, hi;
        if (sscanf(buf, "%lx-%lx ", &lo, &hi) == 2) {
            in = (uintptr_t)a >= lo && (uintptr_t)a < hi;
            if (in && line && ln) test_maps_copy(line, ln, buf);
        } else if (in && !strncmp(buf, "VmFlags:", 8)) {
            if (flags && fn) test_maps_copy(flags, fn, buf + 8);
            break;
        }
    }
    fclose(f);
}

#endif

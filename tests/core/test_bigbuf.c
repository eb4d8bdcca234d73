/* Large zeroed buffers (core/bigbuf.h): every size comes back zeroed and writable, a
 * large one starts on a 2 MiB boundary and carries the kernel's huge-page advice (the
 * "hg" flag in /proc/self/smaps), a small one is ordinary heap memory; all are 64-byte aligned. */
#include "test.h"
#include "core/bigbuf.h"
#include "test_maps.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int all_zero(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i += 4093) if (p[i]) return 0;
    return p[n - 1] == 0;
}

TEST(sizes_are_zeroed_and_writable) {
    size_t sizes[] = {1, 100, 4096, ((size_t)4 << 20) - 1, (size_t)4 << 20, ((size_t)9 << 20) + 77};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k];
        unsigned char *p = bigbuf_alloc(n);
        CHECK(p != NULL);
        if (!p) continue;
        CHECK(all_zero(p, n));
        CHECK_EQ_INT((uintptr_t)p % 64, 0);
        memset(p, 0xA5, n);
        CHECK(p[0] == 0xA5 && p[n - 1] == 0xA5);
        bigbuf_free(p, n);
        /* memory given back and asked for again is zero again */
        p = bigbuf_alloc(n);
        CHECK(p != NULL && all_zero(p, n));
        bigbuf_free(p, n);
    }
    CHECK(bigbuf_alloc(0) == NULL);
    CHECK(bigbuf_alloc(SIZE_MAX) == NULL);
    bigbuf_free(NULL, 123); /* does nothing */
}

TEST(large_buffers_get_huge_page_advice) {
#if defined(__SANITIZE_ADDRESS__)
    printf("  (address sanitizer build: every buffer comes from calloc)\n");
#else
    size_t n = ((size_t)6 << 20) + 5;
    unsigned char *p = bigbuf_alloc(n);
    CHECK(p != NULL);
    if (!p) return;
    CHECK_EQ_INT((uintptr_t)p % ((size_t)2 << 20), 0);
    char flags[512];
    test_mapping_of(p, NULL, 0, flags, sizeof flags);
    CHECK(flags[0] != 0);
    FILE *thp = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r"); /* a kernel built with them */
    if (thp) CHECK(strstr(flags, " hg") != NULL);
    else printf("  (this kernel has no transparent huge pages)\n");
    if (thp) fclose(thp);
    bigbuf_free(p, n);
    unsigned char *s = bigbuf_alloc(1000);
    CHECK(s != NULL);
    test_mapping_of(s, NULL, 0, flags, sizeof flags);
    CHECK(strstr(flags, " hg") == NULL);
    bigbuf_free(s, 1000);
#endif
}

int main(void) {
    TEST_EXPECT(2);
    RUN(sizes_are_zeroed_and_writable);
    RUN(large_buffers_get_huge_page_advice);
    return test_summary();
}

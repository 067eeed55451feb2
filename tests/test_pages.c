// Page-backed buffers (base/pages.h): handed-back pages read as zero and are no longer resident (mincore, the
// kernel's own account), while the bytes of partial pages at either end keep their values.
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/pages.h"

// Resident pages among pages [first, first + n) of buffer p (p page-aligned).
static size_t resident(void *p, size_t first, size_t n) {
    size_t ps = (size_t)sysconf(_SC_PAGESIZE), count = 0;
    unsigned char vec[64];
    cr_assert(n <= sizeof vec);
    cr_assert(mincore((char *)p + first * ps, n * ps, vec) == 0);
    for (size_t i = 0; i < n; i++) count += vec[i] & 1;
    return count;
}

Test(pages, zeroed_and_not_resident_until_written) {
    size_t ps = (size_t)sysconf(_SC_PAGESIZE), bytes = 8 * ps;
    unsigned char *p = pages_alloc(bytes);
    cr_assert_eq((uintptr_t)p % ps, 0);
    cr_expect_eq(resident(p, 0, 8), 0);
    p[3 * ps] = 1;
    cr_expect_eq(resident(p, 0, 8), 1);
    size_t nonzero = 0;  // reading maps pages too, so this comes last
    for (size_t i = 0; i < bytes; i++) nonzero += p[i] != 0;
    cr_expect_eq(nonzero, 1);
    pages_free(p, bytes);
}

Test(pages, release_hands_back_whole_pages_only) {
    size_t ps = (size_t)sysconf(_SC_PAGESIZE), bytes = 8 * ps;
    unsigned char *p = pages_alloc(bytes);
    memset(p, 7, bytes);
    cr_assert_eq(resident(p, 0, 8), 8);
    // [1.5 pages, 5.25 pages): pages 2, 3 and 4 are whole inside it; pages 1 and 5 are partial.
    size_t a = ps + ps / 2, b = 5 * ps + ps / 4;
    pages_release(p + a, b - a);
    cr_expect_eq(resident(p, 2, 3), 0, "whole pages inside the range are still resident");
    cr_expect_eq(resident(p, 0, 2) + resident(p, 5, 3), 5);
    size_t wrong = 0;
    for (size_t i = 0; i < bytes; i++) wrong += p[i] != (i >= 2 * ps && i < 5 * ps ? 0 : 7);
    cr_expect_eq(wrong, 0, "%zu bytes differ from 7 outside pages 2-4 and 0 inside", wrong);
    pages_free(p, bytes);
}

Test(pages, zero_clears_partial_pages_too) {
    size_t ps = (size_t)sysconf(_SC_PAGESIZE), bytes = 8 * ps;
    unsigned char *p = pages_alloc(bytes);
    memset(p, 7, bytes);
    size_t a = ps + ps / 2, b = 5 * ps + ps / 4;
    pages_zero(p + a, b - a);
    cr_expect_eq(resident(p, 2, 3), 0);
    size_t wrong = 0;
    for (size_t i = 0; i < bytes; i++) wrong += p[i] != (i >= a && i < b ? 0 : 7);
    cr_expect_eq(wrong, 0);
    pages_zero(p + 10, 20);  // within one page
    for (size_t i = 0; i < 40; i++) cr_expect_eq(p[i], i >= 10 && i < 30 ? 0 : 7, "byte %zu", i);
    pages_free(p, bytes);
}

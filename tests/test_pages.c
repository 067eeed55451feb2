// Page-backed buffers (base/pages.h): handed-back pages read as zero and are no longer resident (mincore, the
// kernel's own account), while the bytes of partial pages at either end keep their values; lazily released pages
// keep their bytes or lose them a whole page at a time.
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
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

// Releases [first - 0.5 pages, first + 3.25 pages) of p (bytes long, all 7): pages first to first + 2 are whole inside
// it, first - 1 and first + 3 partial. Only the whole ones are handed back (read 0, not resident); the rest keep 7.
static void expect_release_of_whole_pages(unsigned char *p, size_t bytes, size_t first) {
    size_t ps = (size_t)sysconf(_SC_PAGESIZE), a = first * ps - ps / 2, b = (first + 3) * ps + ps / 4;
    memset(p, 7, bytes);
    cr_assert_eq(resident(p, first - 2, 8), 8);
    pages_release(p + a, b - a);
    cr_expect_eq(resident(p, first, 3), 0, "whole pages inside the range are still resident");
    cr_expect_eq(resident(p, first - 2, 2) + resident(p, first + 3, 3), 5);
    size_t wrong = 0;
    for (size_t i = 0; i < bytes; i++) wrong += p[i] != (i >= first * ps && i < (first + 3) * ps ? 0 : 7);
    cr_expect_eq(wrong, 0, "%zu bytes differ from 7 outside the released pages and 0 inside", wrong);
}

Test(pages, release_hands_back_whole_pages_only) {
    size_t ps = (size_t)sysconf(_SC_PAGESIZE), bytes = 8 * ps;
    unsigned char *p = pages_alloc(bytes);
    expect_release_of_whole_pages(p, bytes, 2);
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

static long minor_faults(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

// pages_alloc_huge: from 2 MiB on, the buffer starts on a huge-page boundary, and handing back 4 KiB pages inside a
// (possibly huge) page still hands back just those pages.
Test(pages, large_buffers_start_on_a_huge_page_and_release_4k_pages) {
    size_t huge = (size_t)2 << 20, bytes = 2 * huge + 12345;
    unsigned char *p = pages_alloc_huge(bytes);
    cr_assert_eq((uintptr_t)p % huge, 0, "%p", (void *)p);
    expect_release_of_whole_pages(p, bytes, 10);
    pages_free(p, bytes);
}

// pages_populate: the pages around the range become resident with their bytes kept (a whole buffer: zero), so a
// pass that reads and then writes each element faults none of them in (the count may hold a fault or two of the
// test's own code and stack).
Test(pages, populated_pages_fault_nothing_in_when_used) {
    size_t ps = (size_t)sysconf(_SC_PAGESIZE), bytes = 40 * ps + 100;
    float *p = pages_alloc(bytes);
    p[5 * ps / sizeof *p] = 3.0f;
    if (!pages_populate((char *)p + ps + 8, 2 * ps)) cr_skip_test("MADV_POPULATE_WRITE needs Linux 5.14");
    cr_expect_eq(resident(p, 0, 8), 4, "pages 1-3 and 5 resident");
    cr_assert(pages_populate(p, bytes));
    cr_expect_eq(resident(p, 0, 41), 41);
    size_t n = bytes / sizeof *p, wrong = 0;
    long before = minor_faults();
    for (size_t i = 0; i < n; i++) wrong += p[i] != (i == 5 * ps / sizeof *p ? 3.0f : 0.0f), p[i] += 1.0f;
    long faults = minor_faults() - before, shadow = 0;
#ifdef __SANITIZE_ADDRESS__
    shadow = (long)(bytes / 8 / ps) + 2;  // AddressSanitizer's shadow of the buffer (a byte per 8) faults in on first use
#endif
    cr_expect(faults < 4 + shadow, "%ld faults", faults);
    cr_expect_eq(wrong, 0);
    pages_free(p, bytes);
}

// pages_lazy_release: the partial pages at either end keep their bytes; each whole page inside keeps its bytes or,
// taken back by the kernel, reads as zero, one or the other in full; written again, the buffer holds what was
// written, and only the pages the kernel took fault in again (the count may hold a fault or two of the test's own).
Test(pages, lazily_released_pages_keep_or_lose_whole_pages_and_take_writes) {
    size_t ps = (size_t)sysconf(_SC_PAGESIZE), bytes = 16 * ps, a = ps / 2, b = 12 * ps + ps / 4;
    unsigned char *p = pages_alloc(bytes);
    memset(p, 7, bytes);
    pages_lazy_release(p + a, b - a);
    size_t mixed = 0, taken = 0, wrong = 0;
    for (size_t q = 0; q < 16; q++) {
        size_t sevens = 0;
        for (size_t i = q * ps; i < (q + 1) * ps; i++) sevens += p[i] == 7, wrong += p[i] != 7 && p[i] != 0;
        bool inside = q >= 1 && q < 12;
        mixed += sevens != 0 && sevens != ps;
        taken += sevens == 0;
        cr_expect(inside || sevens == ps, "page %zu outside the whole pages released lost bytes", q);
    }
    cr_expect_eq(mixed + wrong, 0, "a page holds part old bytes and part zeros, or other bytes");
    long before = minor_faults();
    memset(p, 9, bytes);
    long faults = minor_faults() - before, shadow = 0;
#ifdef __SANITIZE_ADDRESS__
    shadow = (long)(bytes / 8 / ps) + 2;
#endif
    cr_expect(faults <= (long)taken + 2 + shadow, "%ld faults for %zu pages taken back", faults, taken);
    size_t nines = 0;
    for (size_t i = 0; i < bytes; i++) nines += p[i] == 9;
    cr_expect_eq(nines, bytes);
    pages_free(p, bytes);
}

Test(pages, map_returns_null_where_no_mapping_fits) {
    cr_expect_null(pages_map(SIZE_MAX - 4096, true));
    cr_expect_null(pages_map((size_t)1 << 62, false));
}

// base/spread_alloc.c: large buffers at page offsets 256 bytes apart, small ones 16-aligned, zeroed on request,
// each usable over its whole size and freed through spread_free.
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "base/spread_alloc.h"

#define N_LARGE 40
#define TWO_MIB ((size_t)2 << 20)

static size_t page_offset(const void *p) { return (uintptr_t)p % 4096; }

// Equal blocks of 2 MiB + 4 bytes one after the other (a T x F activation and its spare element, as the CPU backend
// asks): the heap alone puts them 16-32 bytes apart modulo 4 KiB, the layout that stalls a loop reading one and
// writing the next.
Test(spread_alloc, large_buffers_start_at_least_256_bytes_apart_within_a_page) {
    char *p[N_LARGE];
    bool seen[16] = {false};
    for (int i = 0; i < N_LARGE; i++) {
        p[i] = spread_alloc(TWO_MIB + 4, false);
        cr_assert_not_null(p[i]);
        cr_expect_eq(page_offset(p[i]) % 256, 0, "buffer %d at page offset %zu", i, page_offset(p[i]));
        seen[page_offset(p[i]) / 256] = true;
        p[i][0] = 1, p[i][TWO_MIB + 3] = 2;  // both ends inside the block (ASan builds check)
    }
    for (int i = 0; i < N_LARGE; i++)
        for (int j = 0; j < N_LARGE; j++) {
            size_t ahead = (size_t)((uintptr_t)p[j] - (uintptr_t)p[i]) % 4096;
            cr_expect(ahead == 0 || ahead >= 256, "buffer %d starts %zu bytes past buffer %d within a page", j, ahead, i);
        }
    for (int c = 0; c < 16; c++) cr_expect(seen[c], "no buffer at page offset %d", 256 * c);
    for (int i = 0; i < N_LARGE; i++) spread_free(p[i]);
}

Test(spread_alloc, zeroed_on_request_over_the_whole_size) {
    size_t sizes[] = {1, 15, 16, 4096, SPREAD_MIN_BYTES - 1, SPREAD_MIN_BYTES, 3 * TWO_MIB + 12};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        // Dirty the heap first so that a zeroed block is not zero by chance.
        unsigned char *dirty = spread_alloc(n, false);
        cr_assert_not_null(dirty);
        memset(dirty, 0xa5, n);
        spread_free(dirty);
        unsigned char *z = spread_alloc(n, true);
        cr_assert_not_null(z);
        cr_expect_eq((uintptr_t)z % (n >= SPREAD_MIN_BYTES ? 256 : 16), 0, "%zu bytes at %p", n, (void *)z);
        size_t nonzero = 0;
        for (size_t i = 0; i < n; i++) nonzero += z[i] != 0;
        cr_expect_eq(nonzero, 0, "%zu of %zu bytes not zero", nonzero, n);
        memset(z, 0x5a, n);
        spread_free(z);
    }
}

Test(spread_alloc, refuses_a_size_past_the_address_space_and_frees_null) {
    cr_expect_null(spread_alloc(SIZE_MAX - 8, false));
    cr_expect_null(spread_alloc(SIZE_MAX, true));
    spread_free(NULL);
}

// The tile list of the grouped expert products (kernels/moe_tiles.h), run on the host: for random groupings of rows
// into E experts (uneven, with empty experts, all rows in one expert, one row each) the worst-case grid's blocks,
// walked as kernels/moe_grouped.cu walks them, cover every grouped row exactly once within its expert's group, and
// the blocks past the list find nothing. The kernels themselves run only on a GPU (tests/gpu_check_moe.c).
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/rng.h"
#include "moe_tiles.h"

// Groups of n rows over E experts: each row's expert drawn at random, a fraction of experts left empty.
static void random_offsets(int32_t *offsets, int E, int n, uint64_t seed) {
    Rng r = rng_at(seed, 0, 0, 0);
    int32_t *count = calloc((size_t)E, sizeof *count);
    bool *empty = calloc((size_t)E, sizeof *empty);
    int live = 0;
    for (int e = 0; e < E; e++) live += !(empty[e] = E > 1 && rng_below(&r, 4) == 0);
    if (!live) empty[0] = false;
    for (int i = 0; i < n; i++) {
        int e;
        do e = (int)rng_below(&r, (uint64_t)E);
        while (empty[e]);
        count[e]++;
    }
    offsets[0] = 0;
    for (int e = 0; e < E; e++) offsets[e + 1] = offsets[e] + count[e];
    free(count), free(empty);
}

// Every block of the worst-case grid: rows covered once each, no tile starting past its group's end.
static void check_cover(const int32_t *offsets, int E, int n, int bm) {
    int32_t *starts = malloc((size_t)(E + 1) * sizeof *starts);
    int *hits = calloc((size_t)n + 1, sizeof *hits);
    moe_tile_starts(offsets, E, bm, starts);
    int64_t grid = moe_tiles_max(n, E, bm);
    cr_assert(starts[E] <= grid, "E %d n %d bm %d: %d tiles > grid %lld", E, n, bm, starts[E], (long long)grid);
    for (int64_t i = 0; i < grid; i++) {
        MoeTile t = moe_tile_at(starts, E, bm, i);
        if (i >= starts[E]) {
            cr_expect_eq(t.expert, -1, "E %d n %d bm %d: block %lld past the list has work", E, n, bm, (long long)i);
            continue;
        }
        cr_assert(t.expert >= 0 && t.expert < E, "block %lld: expert %d", (long long)i, t.expert);
        int rows = offsets[t.expert + 1] - offsets[t.expert];
        cr_assert(t.m0 >= 0 && t.m0 < rows, "E %d bm %d block %lld: expert %d (%d rows) tile at row %d", E, bm,
                  (long long)i, t.expert, rows, t.m0);
        for (int r = t.m0; r < t.m0 + bm && r < rows; r++) hits[offsets[t.expert] + r]++;
    }
    int bad = 0;
    for (int r = 0; r < n; r++) bad += hits[r] != 1;
    cr_expect_eq(bad, 0, "E %d n %d bm %d: %d rows not covered exactly once", E, n, bm, bad);
    free(starts), free(hits);
}

Test(moe_tiles, random_groupings_are_covered_once) {
    int Es[] = {1, 8, 60, 128}, ns[] = {1, 7, 61, 300, 4099};
    for (size_t a = 0; a < sizeof Es / sizeof *Es; a++)
        for (size_t b = 0; b < sizeof ns / sizeof *ns; b++) {
            int E = Es[a], n = ns[b];
            int32_t *offsets = malloc((size_t)(E + 1) * sizeof *offsets);
            random_offsets(offsets, E, n, 1000 * a + b);
            check_cover(offsets, E, n, 16);
            check_cover(offsets, E, n, 128);
            free(offsets);
        }
}

Test(moe_tiles, extreme_groupings_are_covered_once) {
    enum { E = 60 };
    int32_t offsets[E + 1];
    for (int last = 0; last < 2; last++) {  // all 777 rows in expert 0, then in expert E-1
        for (int e = 0; e <= E; e++) offsets[e] = last ? (e == E ? 777 : 0) : (e == 0 ? 0 : 777);
        check_cover(offsets, E, 777, 16);
        check_cover(offsets, E, 777, 128);
    }
    for (int e = 0; e <= E; e++) offsets[e] = e;  // one row each: the worst case, E partial tiles
    check_cover(offsets, E, E, 16);
    int32_t starts[E + 1];
    moe_tile_starts(offsets, E, 16, starts);
    cr_expect_eq(starts[E], E);
    cr_expect_eq(moe_tiles_max(E, E, 16), 4 + E);
}

// The grouped transpose's row -> expert search: every row of a grouping with empty experts.
Test(moe_tiles, rows_find_their_expert) {
    enum { E = 8 };
    int32_t offsets[E + 1] = {0, 0, 5, 5, 5, 6, 20, 20, 20};
    for (int e = 0; e < E; e++)
        for (int r = offsets[e]; r < offsets[e + 1]; r++) cr_expect_eq(moe_interval_of(offsets, E, r), e, "row %d", r);
}

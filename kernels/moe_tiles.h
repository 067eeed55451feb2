// Where the grouped expert products (kernels/moe_grouped.cu) find their work without the host knowing the group
// sizes: the launch has a grid for the worst case, and block i finds its expert and rows from the group offsets on
// the device. Plain C, also compiled on the host, so tests/test_moe_tiles.c checks on every machine that the tiles
// cover each grouped row exactly once, whatever the grouping.
//
// A grouping of n rows into E experts: expert e's rows are offsets[e]..offsets[e+1]-1 (offsets[0] = 0,
// offsets[E] = n, non-decreasing; empty groups allowed). Its rows are cut into tiles of bm rows from its first row.
#ifndef RLVR_MOE_TILES_H
#define RLVR_MOE_TILES_H

#include <stdint.h>

#ifdef __CUDACC__
#define MOE_HD __host__ __device__ __forceinline__
#else
#define MOE_HD static inline
#endif

typedef struct {
    int expert;  // -1: past the last tile (the block has nothing to do)
    int m0;      // the tile's first row within the expert's group
} MoeTile;

// The most tiles any grouping of n rows into E experts needs: sum_e ceil(n_e / bm) <= n / bm + (non-empty groups),
// and at most min(E, n) groups are non-empty. The grid's size, known on the host.
MOE_HD int64_t moe_tiles_max(int64_t n, int E, int bm) {
    return (n + bm - 1) / bm + (n < E ? n : E);
}

// starts[e] = the tiles of experts 0..e-1 (E + 1 entries; starts[E] = all tiles).
MOE_HD void moe_tile_starts(const int32_t *offsets, int E, int bm, int32_t *starts) {
    int32_t acc = 0;
    for (int e = 0; e < E; e++) starts[e] = acc, acc += (offsets[e + 1] - offsets[e] + bm - 1) / bm;
    starts[E] = acc;
}

// The last index j in 0..E-1 with v[j] <= x (v non-decreasing, v[0] <= x): the expert whose interval
// v[j]..v[j+1]-1 holds x when x < v[E], skipping empty intervals.
MOE_HD int moe_interval_of(const int32_t *v, int E, int64_t x) {
    int lo = 0, hi = E;  // v[lo] <= x; answer in [lo, hi)
    while (hi - lo > 1) {
        int mid = lo + (hi - lo) / 2;
        if (v[mid] <= x) lo = mid;
        else hi = mid;
    }
    return lo;
}

// Tile i of the list: its expert and first row.
MOE_HD MoeTile moe_tile_at(const int32_t *starts, int E, int bm, int64_t i) {
    MoeTile t = {-1, 0};
    if (i >= starts[E]) return t;
    t.expert = moe_interval_of(starts, E, i);
    t.m0 = (int)(i - starts[t.expert]) * bm;
    return t;
}

#endif

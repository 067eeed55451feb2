// A parallel loop's units shared out as a static schedule shares them, one contiguous run per thread, except that a
// thread which has finished its own run goes on with units from the back of the others'. Each thread then reads its
// part of an operand front to back, as one stream, and yet no thread waits long for one that started late or whose
// core ran slower for a while. In a decode step's products (40-70 us each on 2 threads) the later of two static halves
// decides each product's time; with take-overs, a Zen 4 VM's median step was 0.5-1.7% faster and one step in ten
// 12-19% faster (results/cpu-bench-history.md, "Units taken over").
#ifndef RLVR_UNIT_CLAIMS_H
#define RLVR_UNIT_CLAIMS_H

#include <stdint.h>

// One thread's units not yet claimed, [lo, hi), packed as lo << 32 | hi so that its owner (taking lo) and another
// thread (taking hi - 1) each claim with one compare-and-swap. A cache line of its own: the owner claims from it
// without sharing it until someone else comes for its last units.
typedef struct {
    _Alignas(64) _Atomic uint64_t left;
} UnitRun;

// Sets thread `me` of `nt`'s run of units 0..n-1 (n < 2^32), the same run a static schedule would give it. Every run
// must be set before any claim: by each thread before a barrier, or by one thread before the others start.
static inline void unit_run_init(UnitRun *runs, int me, int nt, uint32_t n) {
    uint32_t share = n / (uint32_t)nt, extra = n % (uint32_t)nt, u = (uint32_t)me;
    uint32_t lo = u * share + (u < extra ? u : extra), hi = lo + share + (u < extra);
    __atomic_store_n(&runs[me].left, (uint64_t)lo << 32 | hi, __ATOMIC_RELAXED);
}

// Takes the first (or, when `from_back`, the last) unit left in run r; -1 when none is left.
static inline long unit_take(UnitRun *r, int from_back) {
    uint64_t left = __atomic_load_n(&r->left, __ATOMIC_RELAXED);
    for (;;) {
        uint32_t lo = (uint32_t)(left >> 32), hi = (uint32_t)left;
        if (lo >= hi) return -1;
        uint64_t rest = from_back ? (uint64_t)lo << 32 | (hi - 1) : (uint64_t)(lo + 1) << 32 | hi;
        if (__atomic_compare_exchange_n(&r->left, &left, rest, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return from_back ? (long)hi - 1 : (long)lo;
    }
}

// Thread `me`'s next unit: the front of its own run while it lasts, then the backs of the others' runs (me + 1,
// me + 2, ... in turn); -1 when every unit is claimed. Each unit goes to exactly one thread.
static inline long unit_claim(UnitRun *runs, int me, int nt) {
    for (int v = 0; v < nt; v++) {
        long u = unit_take(&runs[(me + v) % nt], v != 0);
        if (u >= 0) return u;
    }
    return -1;
}

#endif

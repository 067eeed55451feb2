// base/unit_claims.h: each thread's run is the static schedule's, claimed from the front by its owner and from the
// back by the others, and every unit goes to exactly one thread, also when threads race for the same runs.
#include <criterion/criterion.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "base/unit_claims.h"

// The static schedule's run of thread t: n / nt units each, the first n % nt threads one more.
static void static_run(int t, int nt, int n, int *lo, int *hi) {
    int share = n / nt, extra = n % nt;
    *lo = t * share + (t < extra ? t : extra);
    *hi = *lo + share + (t < extra);
}

// One thread alone after everyone's runs are set: its own run front to back, then each other run back to front, in
// the order me + 1, me + 2, ...
static void check_one_thread_order(int n, int nt, int me) {
    UnitRun runs[8];
    for (int t = 0; t < nt; t++) unit_run_init(runs, t, nt, (uint32_t)n);
    int at = 0;
    for (int v = 0; v < nt; v++) {
        int lo, hi, t = (me + v) % nt;
        static_run(t, nt, n, &lo, &hi);
        for (int k = 0; k < hi - lo; k++, at++) {
            int want = v == 0 ? lo + k : hi - 1 - k;
            cr_assert_eq(unit_claim(runs, me, nt), want, "n %d, %d threads, thread %d, claim %d", n, nt, me, at);
        }
    }
    cr_assert_eq(at, n);
    cr_assert_eq(unit_claim(runs, me, nt), -1, "n %d, %d threads: a claim after all %d units", n, nt, n);
}

Test(unit_claims, own_run_from_the_front_then_the_others_from_the_back) {
    int cases[][2] = {{10, 3}, {12, 2}, {2, 4}, {0, 3}, {1, 1}, {7, 8}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int me = 0; me < cases[c][1]; me++) check_one_thread_order(cases[c][0], cases[c][1], me);
}

// Threads racing: the last one starts only once the others have begun on its run, so their take-overs are tested. Every
// unit is claimed once, each owner takes its own units in increasing order, and part of the late thread's run went
// to the others.
Test(unit_claims, racing_threads_claim_every_unit_exactly_once) {
    enum { N = 200000, NT = 4 };
    int *claims = malloc(N * sizeof *claims), *owner = malloc(N * sizeof *owner);
    cr_assert(claims && owner);
    for (int round = 0; round < 5; round++) {
        for (int u = 0; u < N; u++) claims[u] = 0, owner[u] = -1;
        UnitRun runs[NT];
        int order_broken = 0, nt = 0;
#pragma omp parallel num_threads(NT) reduction(+ : order_broken)
        {
            int me = omp_get_thread_num(), lo, hi;
#pragma omp single
            nt = omp_get_num_threads();
            unit_run_init(runs, me, nt, N);
            static_run(me, nt, N, &lo, &hi);
#pragma omp barrier
            uint64_t whole = (uint64_t)lo << 32 | (uint32_t)hi;
            for (int wait = 0; me == nt - 1 && wait < 100000; wait++)  // late: until another thread took from its run
                if (__atomic_load_n(&runs[me].left, __ATOMIC_RELAXED) != whole) break;
                else nanosleep(&(struct timespec){0, 100 * 1000}, NULL);  // (at most 10 s)
            long last_own = -1;
            for (long u; (u = unit_claim(runs, me, nt)) >= 0;) {
                if (u >= lo && u < hi) order_broken += u <= last_own, last_own = u;
                __atomic_fetch_add(&claims[u], 1, __ATOMIC_RELAXED);
                owner[u] = me;
                for (volatile int spin = 0; spin < 20; spin++) {}  // some work per unit
            }
        }
        cr_assert_eq(nt, NT, "the test needs %d threads", NT);
        cr_assert_eq(order_broken, 0, "round %d: an owner took its own units out of order", round);
        int lo, hi, by_others = 0;
        static_run(NT - 1, NT, N, &lo, &hi);
        for (int u = 0; u < N; u++) {
            cr_assert_eq(claims[u], 1, "round %d: unit %d claimed %d times", round, u, claims[u]);
            by_others += u >= lo && u < hi && owner[u] != NT - 1;
        }
        cr_assert_gt(by_others, 0, "round %d: none of the late thread's units went to another thread", round);
    }
    free(claims);
    free(owner);
}

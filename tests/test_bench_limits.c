// The benches' helpers: the share of CPU time stolen by a hypervisor (from /proc/stat), the threads' round trip, and
// median and minimum.
#include <criterion/criterion.h>
#include <omp.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "base/walltime.h"
#include "bench/bench_limits.h"

Test(bench_limits, steal_fraction_is_stolen_over_all_ticks) {
    CpuTicks a = {.total = 1000, .steal = 40, .ok = true}, b = {.total = 1400, .steal = 140, .ok = true};
    cr_assert_float_eq(bench_steal_fraction(a, b), 100.0 / 400.0, 1e-15);
    CpuTicks unread = {0};
    cr_assert_eq(bench_steal_fraction(unread, b), -1);
    cr_assert_eq(bench_steal_fraction(a, unread), -1);
    cr_assert_eq(bench_steal_fraction(a, a), -1, "no time passed: unknown, not 0/0");
    CpuTicks back = {.total = 1400, .steal = 30, .ok = true};
    cr_assert_eq(bench_steal_fraction(a, back), -1, "a steal counter that went back");
}

Test(bench_limits, steal_json_is_a_number_or_null) {
    char buf[16];
    cr_assert_str_eq(bench_steal_json(0.1234, buf), "0.123");
    cr_assert_str_eq(bench_steal_json(-1, buf), "null");
}

Test(bench_limits, placement_moved_where_the_round_trips_differ_more_than_twofold) {
    cr_assert_str_eq(bench_placement(320, 330), "held");
    cr_assert_str_eq(bench_placement(100, 200), "held", "exactly twofold still held");
    cr_assert_str_eq(bench_placement(100, 200.5), "moved");
    cr_assert_str_eq(bench_placement(341.7, 69.9), "moved", "two chiplets to one");
    cr_assert_str_eq(bench_placement(93.9, 341.7), "moved", "one chiplet to two");
    cr_assert_null(bench_placement(-1, 80), "one thread: not measured");
    cr_assert_null(bench_placement(80, -1));
}

// This machine's counters: read, steal within the total, and the total growing while a thread spins.
Test(bench_limits, cpu_ticks_from_proc_stat) {
    CpuTicks a = bench_cpu_ticks();
    if (!a.ok) cr_skip_test("/proc/stat is not readable here");
    cr_assert_leq(a.steal, a.total);
    CpuTicks b;
    do b = bench_cpu_ticks();
    while (b.total == a.total);
    double f = bench_steal_fraction(a, b);
    cr_assert(f >= 0 && f <= 1, "steal fraction %g", f);
}

Test(bench_limits, median_min_and_max_leave_the_values_in_place) {
    double v[] = {5, 1, 4, 2, 3};
    cr_assert_eq(bench_min(v, 5), 1);
    cr_assert_eq(bench_max(v, 5), 5);
    cr_assert_eq(bench_median(v, 5), 3);
    cr_expect(v[0] == 5 && v[1] == 1 && v[2] == 4 && v[3] == 2 && v[4] == 3, "the values were reordered");
    double w[] = {4, 1, 3, 2};
    cr_assert_float_eq(bench_median(w, 4), 2.5, 1e-15);
}

Test(bench_limits, round_trip_needs_two_threads) {
    omp_set_num_threads(1);
    cr_assert_eq(bench_thread_round_trip_ns(), -1);
}

// Two threads on two cores: a figure above a nanosecond and below the test's quarter-second deadline.
Test(bench_limits, round_trip_between_two_cores) {
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) cr_skip_test("one core here");
    omp_set_num_threads(2);
    double ns = bench_thread_round_trip_ns();
    cr_assert(ns > 1 && ns < 2.5e8, "%g ns", ns);
}

// Two threads held to one core: the partner runs only when the scheduler swaps them, so a round trip takes time
// slices. The test gives up at its deadline with a bound far above any cache's, instead of running 7,000 of them.
Test(bench_limits, round_trip_ends_when_the_partner_does_not_run) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0);  // before the first parallel region: its threads inherit
    omp_set_num_threads(2);
    double t0 = walltime_s(), ns = bench_thread_round_trip_ns(), seconds = walltime_s() - t0;
    cr_assert(seconds < 2, "took %.2f s", seconds);
    cr_assert(ns > 1e4, "%g ns a round trip on one core", ns);
}

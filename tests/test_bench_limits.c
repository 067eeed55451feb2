// The benches' helpers: the share of CPU time stolen by a hypervisor (from /proc/stat), and median and minimum.
#include <criterion/criterion.h>
#include <string.h>

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

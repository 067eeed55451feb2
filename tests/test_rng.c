// Philox4x32-10 against the Random123 known-answer vectors, and the draw helpers' statistics.
#include <criterion/criterion.h>
#include <math.h>

#include "base/rng.h"

static void expect_block(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1, uint32_t o0,
                         uint32_t o1, uint32_t o2, uint32_t o3) {
    uint32_t ctr[4] = {c0, c1, c2, c3}, key[2] = {k0, k1}, out[4];
    philox4x32_10(ctr, key, out);
    cr_expect(out[0] == o0 && out[1] == o1 && out[2] == o2 && out[3] == o3, "got %08x %08x %08x %08x", out[0], out[1],
              out[2], out[3]);
}

Test(rng, philox_known_answers) {
    expect_block(0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8);
    expect_block(~0u, ~0u, ~0u, ~0u, ~0u, ~0u, 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd);
    expect_block(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb,
                 0x5001e420, 0x24126ea1);
}

Test(rng, stream_is_pure_function_of_coordinates) {
    Rng a = rng_at(42, 3, 7, 11), b = rng_at(42, 3, 7, 11), c = rng_at(42, 3, 7, 12), d = rng_at(43, 3, 7, 11);
    for (int i = 0; i < 10; i++) {
        uint32_t x = rng_u32(&a);
        cr_expect_eq(x, rng_u32(&b));
        cr_expect_neq(x, rng_u32(&c));
        cr_expect_neq(x, rng_u32(&d));
    }
}

Test(rng, uniform_and_normal_moments) {
    Rng r = rng_at(1, 0, 0, 0);
    int n = 200000;
    double su = 0, su2 = 0, sn = 0, sn2 = 0;
    for (int i = 0; i < n; i++) {
        double u = rng_uniform(&r), z = rng_normal(&r);
        cr_assert(u >= 0 && u < 1);
        su += u, su2 += u * u, sn += z, sn2 += z * z;
    }
    cr_expect(fabs(su / n - 0.5) < 0.005);
    cr_expect(fabs(su2 / n - 1.0 / 3) < 0.005);
    cr_expect(fabs(sn / n) < 0.01);
    cr_expect(fabs(sn2 / n - 1) < 0.02);
}

Test(rng, categorical_frequencies_and_zero_weights) {
    double w[4] = {1, 0, 2, 5};
    int counts[4] = {0};
    Rng r = rng_at(9, 1, 2, 3);
    int n = 80000;
    for (int i = 0; i < n; i++) counts[rng_categorical(&r, w, 4)]++;
    cr_expect_eq(counts[1], 0, "zero-weight category drawn");
    double chi2 = 0;
    for (int i = 0; i < 4; i++)
        if (w[i] > 0) {
            double expect = n * w[i] / 8;
            chi2 += (counts[i] - expect) * (counts[i] - expect) / expect;
        }
    cr_expect(chi2 < 13.8, "chi2 = %g (2 dof, p = 0.001)", chi2);  // fixed seed: deterministic
}

// categorical_pick against a plain running sum in index order (its sums are blocked, so only a uniform within
// rounding of a boundary could tell them apart): random weights with zeros, lengths around its 64-weight blocks,
// uniforms from 0 to just below 1.
static int running_sum_pick(double uniform, const double *w, int n) {
    double total = 0, acc = 0;
    int last = 0;
    for (int i = 0; i < n; i++) total += w[i];
    for (int i = 0; i < n; i++) {
        if (w[i] <= 0) continue;
        acc += w[i], last = i;
        if (uniform * total < acc) return i;
    }
    return last;
}

Test(rng, categorical_pick_is_the_running_sum_choice) {
    static const int lens[] = {1, 2, 5, 63, 64, 65, 127, 129, 1000};
    double w[1000];
    Rng r = rng_at(10, 0, 0, 0);
    for (int q = 0; q < (int)(sizeof lens / sizeof *lens); q++) {
        int n = lens[q];
        for (int i = 0; i < n; i++) w[i] = rng_below(&r, 3) ? rng_uniform(&r) * exp(4 * rng_normal(&r)) : 0;
        if (n > 1) w[n - 1] = 0, w[0] += 0.25;  // a zero at the end: the top falls back to the last positive weight
        else w[0] = 1;
        for (int k = 0; k < 2000; k++) {
            double u = k == 0 ? 0 : k == 1 ? 1 - 0x1p-53 : rng_uniform(&r);
            int got = categorical_pick(u, w, n);
            cr_assert_eq(got, running_sum_pick(u, w, n), "n %d, uniform %.17g", n, u);
            cr_assert(w[got] > 0 || n == 1, "n %d: index %d has weight 0", n, got);
        }
    }
}

Test(rng, below_is_in_range_and_covers) {
    Rng r = rng_at(5, 0, 0, 0);
    int seen[7] = {0};
    for (int i = 0; i < 7000; i++) {
        uint64_t x = rng_below(&r, 7);
        cr_assert(x < 7);
        seen[x]++;
    }
    for (int i = 0; i < 7; i++) cr_expect(seen[i] > 800);
}

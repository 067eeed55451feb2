// The deterministic fixed-point gradient sum: exact, order-independent, range-checked.
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "algo/grad_reduce.h"
#include "base/rng.h"

Test(grad_reduce, fixed_point_is_exact_for_grid_values) {
    int64_t l[3] = {0};
    float xs[] = {1.5f, -0.25f, 3e-20f, -1e10f, 7.0f, 0x1p-80f};
    double want = 0;
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        cr_assert(fixed_add(l, xs[i]));
        want += xs[i];  // not exact in double either; compare with a tolerance of the double sum
    }
    cr_expect_float_eq(fixed_value(l), want, 1e-6 * fabs(want));
    // A single value comes back exactly.
    int64_t one[3] = {0};
    fixed_add(one, -123.456f);
    cr_expect(fixed_value(one) == (double)-123.456f);
    int64_t tiny[3] = {0};
    fixed_add(tiny, 0x1p-86f);
    fixed_add(tiny, -0x1p-84f);
    cr_expect(fixed_value(tiny) == 0x1p-86 - 0x1p-84);
}

Test(grad_reduce, sum_is_order_independent) {
    enum { N = 1000 };
    float x[N];
    Rng r = rng_at(7, 0, 0, 0);
    for (int i = 0; i < N; i++) x[i] = (float)(rng_normal(&r) * pow(10.0, (double)(i % 13) - 9));
    int64_t fwd[3] = {0}, rev[3] = {0}, split_a[3] = {0}, split_b[3] = {0};
    for (int i = 0; i < N; i++) fixed_add(fwd, x[i]);
    for (int i = N - 1; i >= 0; i--) fixed_add(rev, x[i]);
    for (int i = 0; i < N; i += 2) fixed_add(split_a, x[i]);
    for (int i = 1; i < N; i += 2) fixed_add(split_b, x[i]);
    for (int k = 0; k < 3; k++) split_a[k] += split_b[k];  // "two ranks", all-reduced
    cr_expect(memcmp(fwd, rev, sizeof fwd) == 0);
    cr_expect(memcmp(fwd, split_a, sizeof fwd) == 0);
    double f = 0, b = 0;  // plain float sums do depend on the order here
    for (int i = 0; i < N; i++) f += (float)x[i];
    for (int i = N - 1; i >= 0; i--) b += (float)x[i];
    cr_expect_float_eq(fixed_value(fwd), f, 1e-9 * fabs(f) + 1e-12);
}

Test(grad_reduce, rejects_non_finite_and_out_of_range) {
    int64_t l[3] = {0};
    cr_expect(!fixed_add(l, NAN));
    cr_expect(!fixed_add(l, INFINITY));
    cr_expect(!fixed_add(l, 0x1p41f));
    cr_expect(l[0] == 0 && l[1] == 0 && l[2] == 0);
}

Test(grad_reduce, reducer_modes_agree_on_one_rank) {
    GradReducer fast, det;
    grad_reducer_init(&fast, 4, false, NULL, 0);
    ModelTensor table[2] = {{.name = "a", .ndim = 1, .shape = {2}, .offset = 0, .numel = 2},
                            {.name = "b", .ndim = 1, .shape = {2}, .offset = 2, .numel = 2}};
    grad_reducer_init(&det, 4, true, table, 2);
    grad_reducer_begin(&fast);
    grad_reducer_begin(&det);
    float mb[2][4] = {{1, 2, 0.5f, -3}, {0.25f, -2, 4, 1e-3f}};
    for (int b = 0; b < 2; b++) {
        float *g = grad_reducer_micro_begin(&fast), *h = grad_reducer_micro_begin(&det);
        for (int i = 0; i < 4; i++) g[i] += mb[b][i], h[i] += mb[b][i];
        grad_reducer_micro_end(&fast);
        grad_reducer_micro_end(&det);
    }
    float out_f[4], out_d[4];
    cr_assert(grad_reducer_finish(&fast, out_f));
    cr_assert(grad_reducer_finish(&det, out_d));
    for (int i = 0; i < 4; i++) {
        cr_expect_float_eq(out_f[i], mb[0][i] + mb[1][i], 1e-7);
        cr_expect(out_d[i] == (float)((double)mb[0][i] + mb[1][i]));
    }
    // A NaN in a deterministic micro-batch is reported by finish.
    grad_reducer_begin(&det);
    grad_reducer_micro_begin(&det)[2] = NAN;
    grad_reducer_micro_end(&det);
    cr_expect(!grad_reducer_finish(&det, out_d));
    cr_expect_eq(det.bad_tensor, 1);
    grad_reducer_free(&fast);
    grad_reducer_free(&det);
}

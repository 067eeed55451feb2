// AdamW against hand-computed steps, the warm-up/cosine schedule, global-norm clipping and the
// non-finite tensor report.
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "algo/optim.h"

// Two one-element tensors: a matrix (decayed) and a norm weight (not decayed).
static ModelTensor TABLE[2] = {
    {.name = "w", .ndim = 2, .shape = {1, 1}, .offset = 0, .numel = 1},
    {.name = "norm.weight", .ndim = 1, .shape = {1}, .offset = 1, .numel = 1},
};

Test(optim, adamw_two_hand_steps) {
    // Values from p ← p − lr·wd·p; m, v moments; bias-corrected step (lr 0.1, wd 0.01, β 0.9/0.999, ε 1e-8).
    AdamW o;
    adamw_init(&o, 2);
    AdamWHyper h = {0.9, 0.999, 1e-8, 0.01};
    float p[2] = {1, 1}, g1[2] = {0.5f, 0.5f}, g2[2] = {-0.25f, -0.25f};
    adamw_update(&o, p, g1, TABLE, 2, 0.1, &h);
    cr_expect_float_eq(p[0], 0.899000002, 1e-7);
    cr_expect_float_eq(p[1], 0.900000002, 1e-7);
    cr_expect_float_eq(o.m[0], 0.05, 1e-8);
    cr_expect_float_eq(o.v[0], 0.00025, 1e-10);
    adamw_update(&o, p, g2, TABLE, 2, 0.1, &h);
    cr_expect_float_eq(p[0], 0.8714672987, 1e-6);
    cr_expect_float_eq(p[1], 0.8733662987, 1e-6);
    cr_expect_eq(o.step, 2);
    adamw_free(&o);
}

// ZeRO stage 1: the owner of the second tensor alone (moments of element 1 only) takes the same step on it as the
// full optimizer, by the hand values above, and leaves the first tensor to its owner.
Test(optim, adamw_shard_takes_the_full_step_on_its_tensors) {
    AdamW o;
    adamw_init_shard(&o, 1, 2);
    cr_expect(o.n == 1 && o.begin == 1);
    AdamWHyper h = {0.9, 0.999, 1e-8, 0.01};
    float p[2] = {1, 1}, g1[2] = {0.5f, 0.5f}, g2[2] = {-0.25f, -0.25f};
    adamw_update(&o, p, g1, TABLE + 1, 1, 0.1, &h);
    adamw_update(&o, p, g2, TABLE + 1, 1, 0.1, &h);
    cr_expect(p[0] == 1, "the first tensor belongs to another rank");
    cr_expect_float_eq(p[1], 0.8733662987, 1e-6);
    cr_expect_eq(o.step, 2);
    adamw_free(&o);
}

Test(optim, zero_lr_changes_nothing) {
    AdamW o;
    adamw_init(&o, 2);
    AdamWHyper h = {0.9, 0.999, 1e-8, 0.1};
    float p[2] = {3, -2}, g[2] = {1, 1};
    adamw_update(&o, p, g, TABLE, 2, 0.0, &h);
    cr_expect(p[0] == 3 && p[1] == -2);
    adamw_free(&o);
}

Test(optim, warmup_then_constant) {
    cr_expect_float_eq(lr_at(1, 10, 1e-3, 4, SCHEDULE_CONSTANT, 0), 2.5e-4, 1e-15);
    cr_expect_float_eq(lr_at(4, 10, 1e-3, 4, SCHEDULE_CONSTANT, 0), 1e-3, 1e-15);
    cr_expect_float_eq(lr_at(9, 10, 1e-3, 4, SCHEDULE_CONSTANT, 0), 1e-3, 1e-15);
    cr_expect_float_eq(lr_at(1, 10, 1e-3, 0, SCHEDULE_CONSTANT, 0), 1e-3, 1e-15);
}

Test(optim, cosine_with_floor) {
    // Warm-up 2 of 10 steps, floor 0.1·peak: values from floor + (peak − floor)·(1 + cos(π·progress))/2.
    cr_expect_float_eq(lr_at(1, 10, 1e-3, 2, SCHEDULE_COSINE, 0.1), 5e-4, 1e-15);
    cr_expect_float_eq(lr_at(2, 10, 1e-3, 2, SCHEDULE_COSINE, 0.1), 1e-3, 1e-15);
    cr_expect_float_eq(lr_at(3, 10, 1e-3, 2, SCHEDULE_COSINE, 0.1), 0.000965745789630079, 1e-15);
    cr_expect_float_eq(lr_at(5, 10, 1e-3, 2, SCHEDULE_COSINE, 0.1), 0.0007222075445642905, 1e-15);
    cr_expect_float_eq(lr_at(10, 10, 1e-3, 2, SCHEDULE_COSINE, 0.1), 1e-4, 1e-15);
}

Test(optim, global_norm_and_clip) {
    ModelTensor t[2] = {{.name = "a", .ndim = 1, .shape = {2}, .offset = 0, .numel = 2},
                        {.name = "b", .ndim = 1, .shape = {1}, .offset = 2, .numel = 1}};
    float g[3] = {3, 0, 4};
    int bad;
    double norm = grad_global_norm(g, t, 2, &bad);
    cr_expect_float_eq(norm, 5.0, 1e-15);
    cr_expect_eq(bad, -1);
    // (Criterion's float macros evaluate their arguments twice: call first, compare after.)
    double s = grad_clip(g, 3, norm, 10.0);  // under the limit: untouched
    cr_expect(s == 1.0 && g[0] == 3 && g[2] == 4);
    s = grad_clip(g, 3, norm, 1.0);
    cr_expect_float_eq(s, 0.2, 1e-15);
    cr_expect_float_eq(g[0], 0.6, 1e-7);
    cr_expect_float_eq(g[2], 0.8, 1e-7);
    double clipped = grad_global_norm(g, t, 2, NULL);
    cr_expect_float_eq(clipped, 1.0, 1e-7);
    s = grad_clip(g, 3, 1.0, 0.0);  // max_norm 0 = off
    cr_expect(s == 1.0 && g[0] == 0.6f);
}

Test(optim, non_finite_norm_names_tensor) {
    ModelTensor t[3] = {{.name = "a", .ndim = 1, .shape = {1}, .offset = 0, .numel = 1},
                        {.name = "b", .ndim = 1, .shape = {1}, .offset = 1, .numel = 1},
                        {.name = "c", .ndim = 1, .shape = {1}, .offset = 2, .numel = 1}};
    float g[3] = {1, NAN, INFINITY};
    int bad;
    double norm = grad_global_norm(g, t, 3, &bad);
    cr_expect(!isfinite(norm));
    cr_expect_eq(bad, 1);
}

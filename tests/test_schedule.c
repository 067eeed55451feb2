// Work order and balance of the scheduling modules: the dynamic rollout schedule's longest-prompt-first order
// (rollout/schedule.h) and token-balanced packing's assignment of micro-batches to ranks (train/packing.h).
#include <criterion/criterion.h>
#include <stdlib.h>

#include "base/rng.h"
#include "rollout/schedule.h"
#include "train/packing.h"

Test(schedule, longest_prompt_first_ties_by_position) {
    int len[7] = {5, 9, 5, 12, 1, 9, 5}, order[7];
    schedule_longest_first(len, 7, order);
    int want[7] = {3, 1, 5, 0, 2, 6, 4};
    for (int k = 0; k < 7; k++) cr_expect_eq(order[k], want[k], "order[%d] = %d, expected %d", k, order[k], want[k]);
}

Test(schedule, order_is_a_permutation) {
    enum { N = 200 };
    int len[N], order[N], seen[N] = {0};
    Rng r = rng_at(7, 0, 0, 0);
    for (int i = 0; i < N; i++) len[i] = 1 + (int)rng_below(&r, 30);
    schedule_longest_first(len, N, order);
    for (int k = 0; k < N; k++) {
        cr_assert(order[k] >= 0 && order[k] < N);
        cr_expect_eq(seen[order[k]]++, 0, "position %d handed out twice", order[k]);
        if (k > 0) cr_expect(len[order[k - 1]] >= len[order[k]], "not longest first at %d", k);
    }
}

// Ten unit-cost items and one of cost 10 on two ranks: the long one alone on one rank, the rest on the other.
Test(packing, one_long_unit_gets_a_rank_to_itself) {
    int64_t cost[11] = {1, 1, 1, 1, 1, 10, 1, 1, 1, 1, 1}, mb[11] = {0};
    int rank_of[11];
    packing_lpt(cost, mb, 11, 2, rank_of);
    int64_t load[2] = {0};
    for (int k = 0; k < 11; k++) load[rank_of[k]] += cost[k];
    cr_expect_eq(rank_of[5], 0);
    cr_expect_eq(load[0], 10);
    cr_expect_eq(load[1], 10);
}

// Mini-batches are balanced separately: each one's loads start from zero.
Test(packing, each_minibatch_balanced_on_its_own) {
    int64_t cost[6] = {4, 4, 4, 3, 3, 2}, mb[6] = {0, 0, 0, 1, 1, 1};
    int rank_of[6];
    packing_lpt(cost, mb, 6, 3, rank_of);
    for (int m = 0; m < 2; m++) {
        int used[3] = {0};
        for (int k = 3 * m; k < 3 * m + 3; k++) used[rank_of[k]]++;
        cr_expect(used[0] == 1 && used[1] == 1 && used[2] == 1, "mini-batch %d: one unit per rank", m);
    }
}

// Long-tailed costs: every unit gets exactly one rank in range, and the largest load is within Graham's LPT bound
// of 4/3 of the lower bound max(mean load, largest unit) on the optimum.
Test(packing, long_tail_within_lpt_bound) {
    enum { N = 500 };
    int64_t cost[N], mb[N] = {0}, total = 0, biggest = 0;
    int rank_of[N];
    Rng r = rng_at(11, 0, 0, 0);
    for (int k = 0; k < N; k++) {
        double u = rng_uniform(&r);
        cost[k] = 10 + (int64_t)(u > 0.97 ? 2000 * u : 40 * u);
        total += cost[k], biggest = cost[k] > biggest ? cost[k] : biggest;
    }
    for (int world = 1; world <= 64; world *= 4) {
        for (int k = 0; k < N; k++) rank_of[k] = -1;
        packing_lpt(cost, mb, N, world, rank_of);
        int64_t *load = calloc((size_t)world, sizeof *load), worst = 0;
        for (int k = 0; k < N; k++) {
            cr_assert(rank_of[k] >= 0 && rank_of[k] < world, "unit %d on rank %d of %d", k, rank_of[k], world);
            load[rank_of[k]] += cost[k];
        }
        for (int q = 0; q < world; q++) worst = load[q] > worst ? load[q] : worst;
        double lower = (double)total / world > (double)biggest ? (double)total / world : (double)biggest;
        cr_expect(worst <= 4.0 / 3.0 * lower, "%d ranks: largest load %lld > 4/3 x %g", world, (long long)worst, lower);
        free(load);
    }
}

// A micro-batch of a group whose advantages are all 0 costs 1 where the run skips its passes, else its tokens.
Test(packing, equal_groups_cost_one_where_their_passes_are_skipped) {
    const int64_t dead[] = {0, 5, 3, 7, 2, 9, 1}, live[] = {0, 5, 3, 7, 2, 9, 0};  // G = 4
    cr_expect_eq(packing_micro_cost(dead, 4, 0, 2, true), 1);
    cr_expect_eq(packing_micro_cost(dead, 4, 2, 4, true), 1);
    cr_expect_eq(packing_micro_cost(dead, 4, 0, 2, false), 5 + 3 + 5 + 7);
    cr_expect_eq(packing_micro_cost(live, 4, 0, 2, true), 5 + 3 + 5 + 7);
    cr_expect_eq(packing_micro_cost(live, 4, 2, 8, true), 5 + 2 + 5 + 9, "the group's end bounds the last one");
}

// The runs that skip both passes of such a micro-batch in every update (train/rl_update.c), and those that do not.
Test(packing, which_runs_skip_equal_groups) {
    static const struct {
        const char *set[2];
        bool skips;
    } cases[] = {{{"algo.beta=0", NULL}, true},
                 {{"algo.beta=0.04", NULL}, false},
                 {{"algo.beta=0", "algo.entropy_coef=1e-4"}, false},
                 {{"algo.beta=0", "train.ppo_epochs=2"}, false},
                 {{"algo.beta=0", "train.n_minibatches=2"}, false},
                 {{"algo.beta=0", "train.skip_zero_backward=false"}, false},
                 {{"algo.beta=0", "model.type=qwen3_moe"}, false},
                 {{"model.type=qwen3_moe", "model.router_aux_loss_coef=0"}, true},
                 {{"algo.beta=0", "dist.expert_parallel=2"}, false}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        Config cfg;
        Err e = {{0}};
        config_defaults(&cfg);
        cfg.algo.beta = 0;  // the sets below override it
        for (int k = 0; k < 2 && cases[c].set[k]; k++)
            cr_assert_eq(config_set(&cfg, cases[c].set[k], &e), 0, "%s", e.msg);
        cr_expect_eq(packing_skips_equal_groups(&cfg), cases[c].skips, "case %zu", c);
    }
}

// Guided chunks: contiguous, covering every item once, never growing, single items at the end; 16 items on 2
// ranks: 4, 3, 2, 1, 1, ... (remaining / 4, at least 1).
Test(schedule, chunks_cover_every_item_and_shrink) {
    int start[17];
    int k = schedule_chunks(16, 2, start);
    int want[] = {0, 4, 7, 9, 10, 11, 12, 13, 14, 15, 16};
    cr_assert_eq(k, 10);
    for (int i = 0; i <= k; i++) cr_expect_eq(start[i], want[i], "start[%d] = %d, expected %d", i, start[i], want[i]);
    for (int n = 0; n <= 300; n += 37)
        for (int world = 1; world <= 64; world *= 2) {
            int s[301], c = schedule_chunks(n, world, s);
            cr_expect_eq(s[0], 0);
            cr_expect_eq(s[c], n, "n %d world %d: chunks end at %d", n, world, s[c]);
            for (int i = 1; i <= c; i++) {
                cr_expect(s[i] > s[i - 1], "empty chunk %d", i);
                if (i > 1) cr_expect(s[i] - s[i - 1] <= s[i - 1] - s[i - 2], "chunk %d grew", i);
            }
        }
}

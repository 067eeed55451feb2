// Advantages over ranks (results/objectives.md §1, §3 GRPO-λ, §6), run by tests/it_advantage.sh under mpirun -np 1/2/3.
// For several splits of one batch over the ranks, each rank's slice from adv_compute_dist must equal, bit for
// bit, the serial adv_compute / grpo_lambda_rewards on the whole batch (also with GRPO-λ's random tie order); the
// serial advantages must match a direct per-group computation written here (relative 1e-12); the §6 case must give
// ±0.70710578 on any split.
// Rank 0 prints one line per check; the exit status is 1 when any failed.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/advantage.h"
#include "base/dist.h"
#include "base/rng.h"

static int failures;

// A check holds only when it holds on every rank.
static void check(int ok, const char *split, const char *what) {
    int64_t bad = !ok;
    dist_allreduce_sum_i64(&bad, 1);
    if (dist_is_root()) printf("%s %s split: %s\n", bad ? "FAIL" : "ok  ", split, what);
    failures += bad != 0;
}

typedef struct {
    int64_t n;
    double reward[64];
    uint8_t correct[64];
    int64_t length[64], group[64];
} Batch;

static void swap(Batch *b, int64_t i, int64_t j) {
    double r = b->reward[i];
    uint8_t c = b->correct[i];
    int64_t l = b->length[i], g = b->group[i];
    b->reward[i] = b->reward[j], b->correct[i] = b->correct[j], b->length[i] = b->length[j], b->group[i] = b->group[j];
    b->reward[j] = r, b->correct[j] = c, b->length[j] = l, b->group[j] = g;
}

// 9 groups of 1-7 members with ids 10, 17, 24, ... whose members are interleaved in the batch; rewards mix 0/1
// with fractional values; one group has equal rewards and one has a single member (both get A = 0).
static Batch random_batch(void) {
    static const int sizes[9] = {4, 1, 7, 3, 5, 2, 6, 4, 3};
    Batch b = {0};
    Rng r = rng_at(2024, 0, 0, 0);
    for (int g = 0; g < 9; g++)
        for (int k = 0; k < sizes[g]; k++) {
            int64_t i = b.n++;
            b.group[i] = 10 + 7 * g;
            b.correct[i] = rng_uniform(&r) < 0.6;
            b.length[i] = 1 + (int64_t)rng_below(&r, 40);
            b.reward[i] = g == 3 ? 0.7 : b.correct[i] + (g % 2 ? 0.25 * (double)rng_below(&r, 3) : 0);
        }
    for (int64_t i = b.n - 1; i > 0; i--) swap(&b, i, (int64_t)rng_below(&r, (uint64_t)i + 1));  // Fisher-Yates
    return b;
}

// GRPO-λ ties: 6 groups of 4 (ids 3, 11, ..., 43), each with 2 correct responses of distinct lengths, so every
// group has accuracy 0.5 and the tie order alone picks the efficiency groups; members interleaved in the batch.
static Batch tie_batch(void) {
    Batch b = {0};
    Rng r = rng_at(77, 0, 0, 0);
    for (int g = 0; g < 6; g++)
        for (int k = 0; k < 4; k++) {
            int64_t i = b.n++;
            b.group[i] = 3 + 8 * g, b.correct[i] = k < 2, b.length[i] = 2 + 3 * k + g, b.reward[i] = k < 2;
        }
    for (int64_t i = b.n - 1; i > 0; i--) swap(&b, i, (int64_t)rng_below(&r, (uint64_t)i + 1));
    return b;
}

// The random tie order as results/objectives.md §3 GRPO-λ documents it, written out here: Philox at (seed; step, group
// id, 2^32 - 1), the first two words as one 64-bit key, lower first. Whether the rewards used (whole batch) make
// exactly the 3 groups with the lowest keys efficiency groups (their correct responses below 1), and rank 0's rewards.
static int ties_as_documented(const Batch *b, uint64_t seed, int64_t step, const double *used) {
    uint64_t key[6];
    for (int g = 0; g < 6; g++) {
        uint32_t ctr[4] = {(uint32_t)step, (uint32_t)(3 + 8 * g), UINT32_MAX, 0}, k[2] = {(uint32_t)seed, 0}, out[4];
        philox4x32_10(ctr, k, out);
        key[g] = (uint64_t)out[0] << 32 | out[1];
    }
    double root[64];
    memcpy(root, used, (size_t)b->n * sizeof *root);
    dist_bcast(root, (size_t)b->n * sizeof *root, 0);
    int ok = !memcmp(root, used, (size_t)b->n * sizeof *root);
    for (int64_t i = 0; i < b->n; i++) {
        int g = (int)(b->group[i] - 3) / 8, lower = 0;
        for (int h = 0; h < 6; h++) lower += key[h] < key[g];
        if (b->correct[i]) ok &= (used[i] < 1) == (lower < 3);
    }
    return ok;
}

// results/objectives.md §6: 2 prompts × G = 2, rewards (1,0) and (1,0).
static Batch hand_batch(void) {
    Batch b = {.n = 4, .reward = {1, 0, 1, 0}, .correct = {1, 0, 1, 0}, .length = {3, 5, 2, 4}, .group = {0, 0, 1, 1}};
    return b;
}

// This rank's [begin, end) of n sequences: "balanced" (dist_share), "all on the last rank", or "skewed" (rank r
// holds r shares of n / (1 + 2 + ... + (size-1)), so rank 0 is empty; the last rank takes the remainder).
static void split_of(const char *kind, int64_t n, int64_t *begin, int64_t *end) {
    int r = dist_rank(), size = dist_size();
    if (!strcmp(kind, "balanced")) {
        dist_share(n, begin, end);
    } else if (!strcmp(kind, "last") || size == 1) {
        *begin = r == size - 1 ? 0 : n, *end = n;
    } else {
        int64_t unit = n / ((int64_t)size * (size - 1) / 2);
        *begin = unit * ((int64_t)r * (r - 1) / 2);
        *end = r == size - 1 ? n : *begin + unit * r;
    }
}

// Advantages computed directly from results/objectives.md §1, one sequence at a time over its group's members.
static double direct_advantage(const AdvParams *p, const double *reward, const int64_t *group, int64_t n, int64_t i) {
    double sum = 0, sq = 0;
    int64_t m = 0;
    int equal = 1;
    for (int64_t j = 0; j < n; j++)
        if (group[j] == group[i]) sum += reward[j], m++, equal &= reward[j] == reward[i];
    if (equal) return 0;
    double mean = sum / (double)m;
    for (int64_t j = 0; j < n; j++)
        if (group[j] == group[i]) sq += (reward[j] - mean) * (reward[j] - mean);
    if (p->std == ADV_STD_NONE) return reward[i] - mean;
    double sd = sqrt(sq / (double)(p->std == ADV_STD_UNBIASED ? m - 1 : m));
    return (reward[i] - mean) / (sd + p->eps_std);
}

static int stats_equal(const AdvStats *a, const AdvStats *b) {
    return a->n_seq == b->n_seq && a->n_groups == b->n_groups && a->n_zero_std_groups == b->n_zero_std_groups &&
           a->reward_mean == b->reward_mean && a->reward_std == b->reward_std &&
           a->n_efficiency_groups == b->n_efficiency_groups && a->efficiency_reward_mean == b->efficiency_reward_mean;
}

// The distributed pipeline on this rank's slice against the serial functions on the whole batch; returns the
// serial advantages in adv_all (and the serial rewards used in used_all).
static int dist_matches_serial(const AdvParams *p, const Batch *b, const char *split, double *adv_all, double *used_all) {
    int64_t begin, end;
    split_of(split, b->n, &begin, &end);
    int64_t m = end - begin;
    double adv[64], used[64];
    AdvStats st, st_serial = {0};
    Err e = {{0}};
    if (adv_compute_dist(p, b->reward + begin, b->correct + begin, b->length + begin, b->group + begin, m, used, adv,
                         &st, &e) != 0) {
        fprintf(stderr, "rank %d: %s\n", dist_rank(), e.msg);
        return 0;
    }
    memcpy(used_all, b->reward, (size_t)b->n * sizeof *used_all);
    if (p->grpo_lambda) grpo_lambda_rewards(p, b->reward, b->correct, b->length, b->group, b->n, used_all, &st_serial);
    AdvStats lambda = st_serial;
    adv_compute(p, used_all, b->group, b->n, adv_all, &st_serial);
    st_serial.n_efficiency_groups = lambda.n_efficiency_groups;
    st_serial.efficiency_reward_mean = lambda.efficiency_reward_mean;
    return !memcmp(adv, adv_all + begin, (size_t)m * sizeof *adv) &&
           !memcmp(used, used_all + begin, (size_t)m * sizeof *used) && stats_equal(&st, &st_serial);
}

static int matches_direct(const AdvParams *p, const double *reward, const Batch *b, const double *adv) {
    int ok = 1;
    for (int64_t i = 0; i < b->n; i++) {
        double want = direct_advantage(p, reward, b->group, b->n, i);
        ok &= fabs(adv[i] - want) <= 1e-12 * fmax(1, fabs(want));
    }
    return ok;
}

// The comparisons bite only if advantages differ between sequences: most of them are distinct here.
static int mostly_distinct(const double *adv, int64_t n) {
    int64_t distinct = 0;
    for (int64_t i = 0; i < n; i++) {
        int seen = 0;
        for (int64_t j = 0; j < i; j++) seen |= adv[j] == adv[i];
        distinct += !seen;
    }
    return distinct * 3 >= n;
}

int main(int argc, char **argv) {
    dist_init(&argc, &argv);
    const char *splits[3] = {"balanced", "last", "skewed"};
    const struct {
        AdvStd std;
        bool lambda;
        const char *what;
    } variants[4] = {{ADV_STD_UNBIASED, false, "unbiased std"},
                     {ADV_STD_BIASED, false, "biased std"},
                     {ADV_STD_NONE, false, "no std (Dr. GRPO)"},
                     {ADV_STD_UNBIASED, true, "GRPO-λ rewards, unbiased std"}};
    Batch rnd = random_batch(), hand = hand_batch(), ties = tie_batch();
    double adv[64], used[64];
    char what[160];
    for (int s = 0; s < 3; s++) {
        for (int v = 0; v < 4; v++) {
            AdvParams p = {.std = variants[v].std, .eps_std = 1e-6, .grpo_lambda = variants[v].lambda,
                           .lambda = 0.5, .alpha = 0.2};
            snprintf(what, sizeof what, "%s: every rank's slice = the serial result, bit for bit", variants[v].what);
            check(dist_matches_serial(&p, &rnd, splits[s], adv, used), splits[s], what);
            if (s > 0) continue;  // the serial result does not depend on the split
            // GRPO-λ must have changed some rewards, or its case would repeat the first one.
            int transformed = !p.grpo_lambda || memcmp(used, rnd.reward, (size_t)rnd.n * sizeof *used) != 0;
            snprintf(what, sizeof what, "%s: the serial result = the per-group formula, distinct values",
                     variants[v].what);
            check(matches_direct(&p, used, &rnd, adv) && transformed && mostly_distinct(adv, rnd.n), "any", what);
        }
        AdvParams p = {.std = ADV_STD_UNBIASED, .eps_std = 1e-6};
        int same = dist_matches_serial(&p, &hand, splits[s], adv, used);
        double a = 0.5 / (sqrt(0.5) + 1e-6);
        int ok = same && fabs(adv[0] - 0.70710578) < 5e-9 && fabs(adv[0] - a) < 1e-15 && adv[1] == -adv[0] &&
                 adv[2] == adv[0] && adv[3] == -adv[0];
        check(ok, splits[s], "results/objectives.md §6 hand case: A = ±0.70710578, every slice = serial");
        // algo.lambda_ties = random (λ = 0.5: 3 of 6 groups at equal accuracy): every rank's slice is the serial
        // result, every rank's serial result is rank 0's and picks the groups the documented key picks (so 1, 2 and
        // 3 ranks agree), and the order is not the index order at every step.
        AdvParams q = {.std = ADV_STD_UNBIASED, .eps_std = 1e-6, .grpo_lambda = true, .lambda = 0.5, .alpha = 0.2};
        double index_used[64];
        dist_matches_serial(&q, &ties, splits[s], adv, index_used);
        q.lambda_ties = LAMBDA_TIES_RANDOM, q.seed = 99;
        int all_same = 1, other_order = 0;
        for (q.step = 0; q.step < 4; q.step++) {
            all_same &= dist_matches_serial(&q, &ties, splits[s], adv, used);
            all_same &= ties_as_documented(&ties, 99, q.step, used);
            other_order |= memcmp(used, index_used, (size_t)ties.n * sizeof *used) != 0;
        }
        check(all_same && other_order, splits[s],
              "GRPO-λ random ties, steps 0-3: slices = serial = rank 0's = the documented key's choice, not by index");
    }
    if (dist_is_root()) printf("mpi_advantage: %d ranks, %d failed\n", dist_size(), failures);
    dist_finalize();
    return failures ? 1 : 0;
}

// Group-relative advantages, GRPO-λ's reward transform and DAPO's dynamic-sampling decisions
// (results/objectives.md §1, §3 GRPO-λ, §4). Every function here sees the GLOBAL batch (all-gathered), so every
// rank computes identical results; adv_compute_dist does the all-gather for rank-local inputs.
#ifndef RLVR_ADVANTAGE_H
#define RLVR_ADVANTAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "base/error.h"

typedef struct {
    AdvStd std;          // unbiased | biased | none (Dr. GRPO: A = R - mean)
    double eps_std;      // added to the group std
    bool grpo_lambda;    // apply the GRPO-λ reward transform first
    double lambda, alpha;
    LambdaCount lambda_count;            // algo.lambda_count
    LambdaTies lambda_ties;              // algo.lambda_ties
    LambdaFewCorrect lambda_few_correct;  // algo.lambda_few_correct
    uint64_t seed;  // rollout.seed: keys the random tie order (lambda_ties = random)
    int64_t step;   // the RL step, set by the caller (adv_params leaves it 0): the tie order differs per step
} AdvParams;

// Statistics of one step's batch (already global: computed from all-gathered arrays).
typedef struct {
    int64_t n_seq, n_groups;
    int64_t n_zero_std_groups;        // groups whose rewards are all equal (frac_zero_std = this / n_groups)
    double reward_mean, reward_std;   // of the rewards used (after GRPO-λ), biased std over sequences
    int64_t n_efficiency_groups;      // GRPO-λ: groups given length-aware rewards
    double efficiency_reward_mean;    // GRPO-λ: mean reward used over the members of those groups (0 if none; reported as null)
} AdvStats;

// algo.*, adv.* and rollout.seed of the config (grpo_lambda set iff algo.name = grpo_lambda); step = 0.
AdvParams adv_params(const Config *c);

// GRPO-λ's number of efficiency groups: λ·n_groups taken up (ceil), down (floor) or to the nearest, half up
// (round); a product a rounding error off an integer (or, for round, off a half) counts as exactly that.
int64_t grpo_lambda_count(LambdaCount how, double lambda, int64_t n_groups);

// Dense group indices: gidx[i] in [0, *n_groups), numbered by ascending group id (the "global group
// index" of results/objectives.md §1). Members of a group need not be contiguous. gidx: [n], caller-allocated.
void adv_group_index(const int64_t *group, int64_t n, int64_t *gidx, int64_t *n_groups);

// results/objectives.md §3 GRPO-λ steps 1-4 on the global batch: reward_out[i] = length-aware reward for members of
// the top ceil(λ·n_groups) groups by accuracy (ties: lower group id first), else reward_in[i]; lambda_count,
// lambda_ties and lambda_few_correct choose the other readings. length[i] = |y_i| (rl_step: tokens generated).
// Fills st->n_efficiency_groups and efficiency_reward_mean.
void grpo_lambda_rewards(const AdvParams *p, const double *reward_in, const uint8_t *correct, const int64_t *length,
                         const int64_t *group, int64_t n, double *reward_out, AdvStats *st);

// results/objectives.md §1 on the global batch: adv[i] from the statistics of i's group. Fills the other AdvStats.
void adv_compute(const AdvParams *p, const double *reward, const int64_t *group, int64_t n, double *adv, AdvStats *st);

// The whole pipeline for rank-local inputs (this rank's sequences, any split, in global order over ranks):
// all-gathers reward/correct/length/group, applies GRPO-λ when p->grpo_lambda (correct and length needed
// then, else may be NULL), computes advantages, and writes this rank's slice of the reward used and the
// advantage. Identical on every rank for any split. reward_used_local may be NULL.
int adv_compute_dist(const AdvParams *p, const double *reward_local, const uint8_t *correct_local,
                     const int64_t *length_local, const int64_t *group_local, int64_t n_local, double *reward_used_local,
                     double *adv_local, AdvStats *st, Err *e);

// DAPO dynamic sampling (results/objectives.md §4), global and deterministic: group_keep[g] = 1 unless every reward
// of group g (dense index, adv_group_index order) is equal. Returns the number of kept groups.
int64_t dynamic_sampling_keep(const double *reward, const int64_t *group, int64_t n, uint8_t *group_keep);

// Refill order: takes kept groups in ascending candidate index (candidates numbered across generation batches
// in generation order, then group index) until `need` are taken; take[g] = 1 for those. Returns how many were
// taken (< need when the candidates run out: the trainer samples another batch, up to algo.max_gen_batches).
int64_t dynamic_sampling_take(const uint8_t *group_keep, int64_t n_groups, int64_t need, uint8_t *take);

#endif

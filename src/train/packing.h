// Token-balanced training (train.balance = tokens). The micro-batches stay the ones of the sequence-balanced
// schedule (up to train.micro_batch responses of one group, fixed by the group's global position and the first
// response); only the rank that trains each one changes. Within each mini-batch they are dealt largest first,
// each to the rank with the fewest tokens so far (longest-processing-time-first), so every rank trains about
// the same number of tokens. A micro-batch costs its sequences' prompt + response tokens, or 1 where it will run no
// pass at all (packing_skips_equal_groups: a group whose advantages are all 0, train/rl_update.c). Loss denominators
// stay global sums, and in deterministic mode the fixed-point gradient sum does not depend on which rank added
// which micro-batch (src/README.md invariant 1), so the weights are the same bits as with sequences.
#ifndef RLVR_PACKING_H
#define RLVR_PACKING_H

#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "train/group_set.h"

// Pure: rank_of[k] for each of n units of cost[k], balanced separately within each mini-batch (minibatch[k]):
// descending cost, ties by unit index, each to the least-loaded rank (ties: the lowest rank).
void packing_lpt(const int64_t *cost, const int64_t *minibatch, int64_t n, int world, int *rank_of);

// Whether this run skips both passes of a micro-batch whose group's advantages are all 0 in every update: one update
// a step (train.ppo_epochs = train.n_minibatches = 1), train.skip_zero_backward, algo.beta = 0, no entropy bonus, no
// load-balancing loss on a MoE model, no expert parallelism (train/rl_update.c micro_step).
bool packing_skips_equal_groups(const Config *cfg);
// A micro-batch's cost: responses [j0, j1) of a group's row (position, prompt length, G response lengths, 1 where
// every advantage is 0): 1 where skipped (packing_skips_equal_groups) and that flag is set, else its tokens.
int64_t packing_micro_cost(const int64_t *row, int G, int j0, int j1, bool skipped);

// One micro-batch of a training share: responses [j0, j1) of the share's group i.
typedef struct {
    int i, j0, j1;
} MicroRef;

// What this rank trains: copies of the groups it needs, their advantages (adv[i * G + j]), its micro-batches.
typedef struct {
    Groups gs;
    double *adv;
    MicroRef *micro;
    int n_micro;
} TrainShare;

// Collective: plans the step's micro-batches over the ranks from the selected groups (this rank's gs with
// advantages adv) and sends every group to the ranks that train part of it.
void packing_share(const Groups *gs, const double *adv, const Config *cfg, TrainShare *out);
void train_share_free(TrainShare *s);

#endif

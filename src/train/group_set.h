// The groups a rank holds in an RL step: prompts with their rollout.n responses and rewards (train/groups.h
// samples them, train/group_exchange.h moves them between ranks).
#ifndef RLVR_GROUP_SET_H
#define RLVR_GROUP_SET_H

#include <stdint.h>

#include "rollout/sampler.h"
#include "task/reward.h"

// One prompt's group of rollout.n responses on this rank.
typedef struct {
    int64_t cand;          // candidate index: generation batch · P + prompt position (global, rank-independent)
    int64_t pos;           // global position among the step's selected groups
    int32_t *prompt;
    int prompt_len;
    const Response *resp;  // [G], owned by Groups.rollouts
    RewardResult *rr;      // [G]
} Group;

typedef struct {
    Group *g;              // selected groups on this rank (after sampling: its static share), ascending candidate order
    int n, cap;
    int64_t n_selected;    // selected groups over all ranks
    int gen_batches;
    Rollout *rollouts;
    int n_rollouts;
    int experts_per_token;  // expert ids per response token (MoE), 0 for dense
    double sample_s, score_s, rollout_tokens;  // this rank's time and sampled tokens
    int n_sampled;          // groups this rank sampled (before they were handed to their static owners)
    double wait_s;          // this rank's time waiting for the others at the end of each generation batch
} Groups;

void groups_free(Groups *gs);

#endif

// The sampling half of an RL step: prompts → rollouts → rewards → group selection. Each rank samples and
// scores whole groups: its contiguous share of the step's prompts (rollout.schedule = static), or groups taken
// one at a time from a shared queue, longest prompt first (dynamic), then handed to the rank that owns them in
// the static schedule, so that the result is the same either way; with DAPO dynamic sampling (results/objectives.md §4) more
// generation batches follow until P groups with unequal rewards are found or algo.max_gen_batches is reached.
#ifndef RLVR_GROUPS_H
#define RLVR_GROUPS_H

#include <stdint.h>

#include "base/config.h"
#include "base/error.h"
#include "model/model.h"
#include "rollout/sampler.h"
#include "task/reward.h"
#include "task/task.h"
#include "text/tokenizer.h"

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
    Group *g;              // this rank's selected groups (its static share), ascending candidate order
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

// Samples the step's groups from the training stream at *data_cursor (advanced by train.prompts_per_step per
// generation batch). On failure every rank returns -1 with the same message.
int groups_sample(Groups *gs, Model *m, const Tokenizer *tok, const Task *task, const Config *cfg, int64_t step,
                  int64_t *data_cursor, Err *e);
void groups_free(Groups *gs);

#endif

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
#include "train/group_set.h"

// Samples the step's groups from the training stream at *data_cursor (advanced by train.prompts_per_step per
// generation batch). On failure every rank returns -1 with the same message.
int groups_sample(Groups *gs, Model *m, const Tokenizer *tok, const Task *task, const Config *cfg, int64_t step,
                  int64_t *data_cursor, Err *e);

#endif

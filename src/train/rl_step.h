// One RL step (src/README.md "One RL step"): prompts → rollouts → rewards → group selection → advantages →
// updates → metrics, every statistic global over ranks.
#ifndef RLVR_RL_STEP_H
#define RLVR_RL_STEP_H

#include <stdint.h>

#include "algo/advantage.h"
#include "base/error.h"
#include "train/group_set.h"
#include "train/metrics.h"
#include "train/run.h"

// Runs step `step` of r (advancing its data cursor and token count) and fills m. On failure every rank
// returns -1 with the same message.
int rl_step(Run *r, int64_t step, StepMetrics *m, Err *e);

// results/objectives.md §1: the advantages of this rank's selected responses (adv[i * G + j], i its groups) from
// global group statistics, after GRPO-λ's reward transform where algo.name is grpo_lambda (step keys its random tie
// order, algo.lambda_ties = random).
int rl_step_advantages(const Groups *gs, const Config *cfg, int64_t step, double *adv, AdvStats *st, Err *e);

#endif

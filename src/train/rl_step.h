// One RL step (src/README.md "One RL step"): prompts → rollouts → rewards → group selection → advantages →
// updates → metrics, every statistic global over ranks.
#ifndef RLVR_RL_STEP_H
#define RLVR_RL_STEP_H

#include <stdint.h>

#include "base/error.h"
#include "train/metrics.h"
#include "train/run.h"

// Runs step `step` of r (advancing its data cursor and token count) and fills m. On failure every rank
// returns -1 with the same message.
int rl_step(Run *r, int64_t step, StepMetrics *m, Err *e);

#endif

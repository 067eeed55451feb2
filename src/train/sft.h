// One supervised warm-start step: token-mean cross-entropy on the task's reference solutions (+ EOS),
// with the RL step's micro-batching, exact gradient reduction and optimizer.
#ifndef RLVR_SFT_H
#define RLVR_SFT_H

#include <stdint.h>

#include "base/error.h"
#include "train/metrics.h"
#include "train/run.h"

// Runs step `step` of r (advancing its data cursor and token count) and fills m. On failure every rank
// returns -1 with the same message.
int sft_step(Run *r, int64_t step, StepMetrics *m, Err *e);

#endif

// Held-out evaluation during training: greedy and sampled accuracy and mean response length on the first
// eval.n_prompts problems of the task's eval split, sampled as eval/benchmark.h eval_sampling says; each rank
// takes a share of the prompts, sums are global.
#ifndef RLVR_EVAL_H
#define RLVR_EVAL_H

#include <stdint.h>

#include "base/config.h"
#include "base/error.h"
#include "model/model.h"
#include "task/task.h"
#include "text/tokenizer.h"
#include "train/metrics.h"

// Draws with step EVAL_RNG_STEP + step (eval/evaluate.h).
int eval_heldout(Model *m, const Tokenizer *tok, const Task *task, const Config *cfg, int64_t step, EvalMetrics *out,
                 Err *e);

#endif

// `rlvr sft` and `rlvr train`: the step loop over a run (train/run.h) with metrics, held-out evaluation,
// checkpoints and the non-finite guard, on top of the steps (train/sft.h, train/rl_step.h) the way a main
// loop sits on forward, backward and update.
#ifndef RLVR_TRAINER_H
#define RLVR_TRAINER_H

#include "base/error.h"
#include "train/run.h"

// Runs `rlvr sft` (kind TRAIN_SFT) or `rlvr train`; returns 0, or -1 on every rank with the same message.
int trainer_run(TrainKind kind, const TrainArgs *args, Err *e);

#endif

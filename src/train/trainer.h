// `rlvr sft` and `rlvr train`: the step loop over a run (train/run.h) with metrics, held-out evaluation,
// checkpoints and the non-finite guard, on top of the steps (train/sft.h, train/rl_step.h) the way a main
// loop sits on forward, backward and update.
#ifndef RLVR_TRAINER_H
#define RLVR_TRAINER_H

#include "base/error.h"
#include "train/run.h"

// What trainer_run returns when a stop signal (SIGTERM, SIGUSR1) ended the run early with a checkpoint, and
// the exit status `rlvr sft|train` then has (EX_TEMPFAIL: launch/slurm.sbatch requeues on it).
#define TRAINER_STOPPED 1
#define RLVR_EXIT_STOPPED 75

// Runs `rlvr sft` (kind TRAIN_SFT) or `rlvr train`; returns 0 when done, TRAINER_STOPPED (train/trainer.c
// stop()), or -1 on every rank with the same message.
int trainer_run(TrainKind kind, const TrainArgs *args, Err *e);

#endif

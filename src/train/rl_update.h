// The learning half of an RL step (results/objectives.md §2): ppo_epochs × n_minibatches optimizer updates over the
// step's selected groups. Each mini-batch takes a contiguous range of global group positions; its loss
// denominators are global; a micro-batch holds up to train.micro_batch responses of one group, so its
// composition does not depend on the number of ranks, nor on which rank trains it (train/packing.h).
#ifndef RLVR_RL_UPDATE_H
#define RLVR_RL_UPDATE_H

#include <stdint.h>

#include "algo/loss.h"
#include "base/error.h"
#include "train/groups.h"
#include "train/packing.h"
#include "train/run.h"
#include "train/update.h"

// adv[i * G + j]: advantage of response j of gs's group i. This rank trains the micro-batches listed in micro
// (token-balanced packing), or, when micro is NULL, every micro-batch of every group of gs. Fills the loss
// metrics (loss and pg_loss per update) and the update outcome, and adds to *wait_s the time spent waiting for
// the other ranks at the end of each mini-batch.
int rl_update(Run *r, const Groups *gs, const double *adv, const MicroRef *micro, int n_micro, double lr,
              LossSummary *loss, UpdateStats *u, double *wait_s, Err *e);

#endif

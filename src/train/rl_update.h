// The learning half of an RL step (results/objectives.md §2): ppo_epochs × n_minibatches optimizer updates over the
// step's selected groups. Each mini-batch takes a contiguous range of global group positions; its loss
// denominators are global; a micro-batch holds up to train.micro_batch responses of one group, so its
// composition does not depend on the number of ranks.
#ifndef RLVR_RL_UPDATE_H
#define RLVR_RL_UPDATE_H

#include <stdint.h>

#include "algo/loss.h"
#include "base/error.h"
#include "train/groups.h"
#include "train/run.h"
#include "train/update.h"

// adv[i * G + j]: advantage of response j of this rank's selected group i. Fills the loss metrics (loss and
// pg_loss per update) and the update outcome.
int rl_update(Run *r, const Groups *gs, const double *adv, double lr, LossSummary *loss, UpdateStats *u, Err *e);

#endif

// The micro-batch loop of an update under expert parallelism (model/expert_map.h): every MoE layer's forward and
// backward exchanges rows among the ranks of a group, so they run their micro-batches in rounds, together; a rank
// with fewer micro-batches than another of its group serves the others' experts in empty rounds. After each round
// the gradients this rank's experts received from each other rank's micro-batch enter the reducer as that
// micro-batch's part, so the exact sums (algo/grad_reduce.h) match those without expert parallelism.
// Without expert parallelism (dist.expert_parallel = 1) each call is a no-op or returns what it was given.
#ifndef RLVR_EP_STEP_H
#define RLVR_EP_STEP_H

#include "base/error.h"
#include "model/model.h"
#include "train/grad_stage.h"
#include "train/update.h"

// Collective over the group: the rounds of this update (the most micro-batches a rank of the group has), and
// the model's training forward and backward switched to the group's experts until ep_end. The weights of the
// other places' experts are given back to the kernel until updater_apply hands every expert out again.
int ep_begin(Model *m, Updater *u, int n_local);
void ep_end(Model *m);
// A round without a micro-batch of this rank's: zero tokens through the forward and backward, serving the group
// (its gradient through stage, as a micro-batch's).
int ep_idle_round(Model *m, Updater *u, GradStage *stage, Err *e);
// After each round (rc: its outcome). The group's other ranks wait on this one in every round, so a failure
// cannot be passed on at the end of the update as usual: under expert parallelism it stops every rank
// (dist_fatal) with its message.
void ep_round_end(Updater *u, int rc, const Err *e);

#endif

// The optimizer side of a step (src/README.md "One RL step"): micro-batch gradients accumulate in an exact
// reducer; one update sums them over ranks, clips by the global norm, skips the update when the loss or a
// gradient is not finite (naming what was bad), and applies AdamW.
#ifndef RLVR_UPDATE_H
#define RLVR_UPDATE_H

#include "algo/grad_reduce.h"
#include "algo/optim.h"
#include "algo/param_gather.h"
#include "algo/shard.h"
#include "base/config.h"
#include "model/expert_map.h"
#include "model/model.h"
#include "train/device_update.h"

typedef struct {
    Model *model;
    GradReducer reducer;      // begin an update with grad_reducer_begin, each micro-batch with _micro_begin/_end;
                              // reducer.grad holds the reduced gradient of an update
    AdamW opt;                // zero stage >= 1: the moments of this rank's shard only
    int zero_stage;           // dist.zero_stage
    Shard *map;               // the ownership map (algo/shard.h), one entry per rank
    Shard own;                // this rank's entry
    ParamGather gather;       // zero stage 3: the weights of other ranks' tensors, gathered per layer or expert group
                              // (inactive below)
    ExpertParallel ep;        // dist.expert_parallel: this rank's group and experts (k = 1: off)
    TensorPiece *held;        // expert parallelism: what this rank updates (zero 0: model/expert_map.h; zero 1-3: the
                              // pieces it owns, algo/shard.h), its moments packed
    int n_held;               // in opt in this order
    size_t *expert_ranges;    // expert parallelism: each expert tensor's elements and this rank's slice (reducer)
    AdamWHyper hyper;
    double clip;              // train.grad_clip
    const char *config_text;  // recorded with a gradient dump (RLVR_TEST_DUMP_GRAD)
    DeviceUpdate dev;         // a device backend's reduction and AdamW in its memory (m: NULL on the CPU backend,
                              // where reducer and opt do it on the host)
} Updater;

// This rank's share of a step's updates, wall and process CPU seconds, for `rlvr bench train`: the policy's forward
// and backward passes, the reference model's forward (algo.beta > 0), and updater_apply (the gradient's reduction
// finished, its norm, clipping, AdamW, a shard's gathers). forward_flop: the FLOPs of the policy's forward passes
// that ran (seqbatch_forward_flops; the reference's are the same), backward_flop those of the backwards that ran (twice
// their forwards'); forwards_skipped and backwards_skipped: micro-batches without a loss coefficient whose pass was
// skipped (train.skip_zero_backward, train/rl_update.c); tokens over micro_batches is the rows of a pass's products;
// live_rows of response_rows had a loss coefficient other than 0 (a backend without matmul_dx_slice skips runs of
// rows without one in the LM head's backward: model/model_head.c).
typedef struct {
    double forward_s, backward_s, reference_s, optimizer_s;
    double forward_cpu_s, backward_cpu_s, reference_cpu_s, optimizer_cpu_s;
    double forward_flop, backward_flop;
    int64_t tokens, micro_batches, live_rows, response_rows, forwards_skipped, backwards_skipped;
} PassTimes;

// Outcome of the updates of one step.
typedef struct {
    int updates, skipped;     // applied / skipped (non-finite) updates
    double grad_norm;         // pre-clip global norm of the last applied update
    double lr;
    char bad[256];            // what was non-finite in the last skipped update ("loss", tensor name, ...)
    PassTimes passes;
} UpdateStats;

// Zeroed moments at step 0; config_text must outlive the updater. Collective (the expert-parallel groups); fails
// when dist.expert_parallel does not divide the number of ranks.
int updater_init(Updater *u, Model *m, const Config *cfg, const char *config_text, Err *e);
void updater_free(Updater *u);
// Collective, once the model is on its backend (model/device.h device_attach): on a device backend the gradient
// sums, the master weights and the moments move to its memory (train/device_update.h) and the host reducer is left
// empty (its calls cost nothing). Then the host weights and moments are current only after updater_sync_host.
int updater_attach_device(Updater *u, Err *e);
// Back to the host update (before the model leaves its backend): the device update's memory released, the host
// reducer's not restored (for closing a run).
void updater_detach_device(Updater *u);
// Collective: Model.params and opt's moments current on the host (a device update keeps them in backend memory); every
// rank calls it before anything on the host reads them (a checkpoint's save).
void updater_sync_host(Updater *u);

// One update from the accumulated micro-batch gradients; loss_sum is this rank's part of the loss.
// Test hooks: RLVR_TEST_POISON_GRAD=NAME puts a NaN into tensor NAME's reduced gradient;
// RLVR_TEST_DUMP_GRAD=FILE writes the first update's reduced gradient of a fresh run as FILE's /model.
void updater_apply(Updater *u, double loss_sum, double lr, UpdateStats *s);


#endif

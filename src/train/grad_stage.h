// Where the backward's parameter gradient goes (src/README.md "Backends"): on the CPU backend the host reducer's
// buffer (algo/grad_reduce.h), on a device backend the device update's (train/device_update.h), which sums it over
// ranks in backend memory. The micro-batch loops (train/sft.c, train/rl_update.c) call these for either.
#ifndef RLVR_GRAD_STAGE_H
#define RLVR_GRAD_STAGE_H

#include <stdbool.h>

#include "algo/grad_reduce.h"
#include "train/device_update.h"
#include "train/update.h"

typedef struct {
    GradReducer *red;
    DeviceUpdate *dev;  // NULL: the CPU backend
} GradStage;

// After updater_attach_device (again after the model's backend changes).
void grad_stage_init(GradStage *s, Updater *u);
// The buffer the micro-batch's backward adds into, given the reducer's (grad_reducer_micro_begin); last: the rank's
// last micro-batch of the update, whose layers are summed over ranks as the backward finishes them.
float *grad_stage_begin(GradStage *s, float *host, bool last);
// The backward's per-layer callback (LayerDone, ctx: the GradStage).
void grad_stage_layer_done(void *ctx, int layer);
// After the backward; before grad_reducer_micro_end.
void grad_stage_end(GradStage *s);
// Collective: every rank once per update before agreeing on a failure, so no collective is left open.
void grad_stage_settle(GradStage *s);

#endif

// Where the backward's parameter gradient goes (src/README.md "Backends"). On the CPU backend: the host reducer's
// buffer (algo/grad_reduce.h), where nothing moves. On a device backend at zero stages 0-2 without expert
// parallelism: the device update's (train/device_update.h), which sums it over ranks in backend memory. On a device
// backend otherwise (zero stage 3, expert parallelism): a gradient in backend memory staged to the host reducer:
// the reducer's buffer of the micro-batch is uploaded before the backward (which adds into it: the fast mode's
// running sum), each layer downloaded as soon as the backward has finished it (before the reducer's per-layer sum
// reads it), and the rest when the backward returns. The micro-batch loops (train/sft.c, train/rl_update.c,
// train/ep_step.c) call these for all three.
#ifndef RLVR_GRAD_STAGE_H
#define RLVR_GRAD_STAGE_H

#include <stdbool.h>

#include "algo/grad_reduce.h"
#include "train/device_update.h"
#include "train/update.h"

typedef struct {
    GradReducer *red;
    DeviceUpdate *dev;  // the device update, or NULL
    const Model *m;     // staged to the host reducer: m's backend memory (NULL: no staging)
    float *staged;      // red->n floats of backend memory the backward adds into
    float *host;        // the reducer's buffer of the current micro-batch
    bool *fetched;      // per layer of red: downloaded during this backward
} GradStage;

// After updater_attach_device (again after the model's backend changes), on a zeroed or freed GradStage.
void grad_stage_init(GradStage *s, Updater *u);
void grad_stage_free(GradStage *s);
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

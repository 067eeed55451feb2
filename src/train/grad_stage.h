// The parameter gradient's way from the backend to the reducer (src/README.md "Backends"). The backward adds the
// gradient into backend memory (model/backend.h); the reducer (algo/grad_reduce.h) sums host floats. On the CPU
// backend the two are one buffer and nothing moves, so every existing bit stays. On a device backend the reducer's
// buffer of the micro-batch is uploaded before the backward (which adds into it: the fast mode's running sum), each
// layer is downloaded as soon as the backward has finished it (before the reducer's per-layer sum reads it), and
// the rest when the backward returns.
#ifndef RLVR_GRAD_STAGE_H
#define RLVR_GRAD_STAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "algo/grad_reduce.h"
#include "model/model.h"

typedef struct {
    const Model *m;     // NULL: the CPU backend, nothing staged
    GradReducer *red;
    float *dev;         // red->n floats of backend memory the backward adds into
    float *host;        // the reducer's buffer of the current micro-batch
    bool *fetched;      // per layer of red: downloaded during this backward
} GradStage;

// For m's current backend, on a zeroed or freed GradStage (again after model_set_backend).
void grad_stage_init(GradStage *s, const Model *m, GradReducer *red);
void grad_stage_free(GradStage *s);
// The buffer the micro-batch's backward adds into, given the reducer's (grad_reducer_micro_begin).
float *grad_stage_begin(GradStage *s, float *host);
// The backward's per-layer callback (LayerDone, ctx: the GradStage): the layer to the host, then the reducer's.
void grad_stage_layer_done(void *ctx, int layer);
// After the backward: what the callback did not download; before grad_reducer_micro_end.
void grad_stage_end(GradStage *s);

#endif

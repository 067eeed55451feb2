// The optimizer side of a step on a device backend (src/README.md "Backends"): the gradient never leaves backend
// memory. Each layer's gradient is summed over ranks as soon as the rank's last backward of the update has finished
// it (base/dist.h: NCCL on a GPU, MPI on the staged test backend's host memory): in fast mode the float gradient
// itself, all-reduced at zero stages 0-1 and reduced onto each element's owner at stage 2 (algo/shard.h); in
// deterministic mode every micro-batch's gradient as the fixed-point limbs of algo/grad_reduce.h (integer sums, so
// the bits are the host reducer's), converted back on the device. The global norm's per-tensor sums, clipping and
// AdamW (fp32 master weights and moments of this rank's shard, model/update_ops.h per element) run there too, and
// AdamW writes the backend's weight copy directly; at stages 1-2 each owner then broadcasts its run of that copy.
// An update uploads and downloads nothing but scalars. The host copies (Model.params, the AdamW moments) are stale
// from the first update on until device_update_sync_host, which every rank calls before anything on the host reads
// them (train/run.c: a checkpoint's save).
#ifndef RLVR_DEVICE_UPDATE_H
#define RLVR_DEVICE_UPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "algo/optim.h"
#include "algo/shard.h"
#include "model/model.h"

typedef struct {
    Model *m;               // NULL: inactive (the CPU backend: algo/grad_reduce.h and algo/optim.h on the host)
    bool deterministic;     // dist.deterministic
    int zero_stage;         // 0-2
    const Shard *map;       // the ownership map, one entry per rank (algo/shard.h)
    Shard own;              // what this rank updates: its shard, or (stage 0) the whole table
    float *grad;            // n floats of backend memory: what the backward adds into (fast: the update's running sum;
                            // deterministic: the current micro-batch's); after the sums, the total where this rank
                            // holds it (stage 2: its own run)
    float *held;            // deterministic: the update's first micro-batch gradient, exact as floats (n, or NULL)
    int64_t *limbs;         // deterministic, from the third micro-batch of an update on: 3 n, the micro-batches so
                            // far (before that each bucket is converted when it is summed: 8 bytes per parameter for
                            // two micro-batches instead of 24, as algo/grad_reduce.h)
    float *master, *mom, *var;  // own.end - own.begin floats each: fp32 weights and Adam moments
    int n_layers;           // buckets: the layers L-1 .. 0, then what precedes and follows them (no layers: all)
    size_t *layer_begin, *layer_end;
    bool open;              // an update has begun (the first micro-batch or settle zeroes its buffers)
    bool last;              // the current micro-batch is the rank's last of the update: each layer summed when done
    int n_summed;           // buckets summed, in bucket order
    int64_t bad;            // deterministic: elements the grid refused on this rank
    int bad_tensor;         // the lowest tensor holding one, or -1
    bool host_stale;        // Model.params and the host moments are older than the device's
} DeviceUpdate;

// Activates the device update when m computes on a device backend (the CPU: stays inactive, returns 0): the master
// weights of own from m->params, the moments from opt (opt->m[i] is element own.begin + i), the layer ranges as the
// host reducer's (n_layers 0: none). Refuses zero stage 3 (its weights are gathered on the host).
int device_update_init(DeviceUpdate *d, Model *m, const Shard *map, int zero_stage, bool deterministic,
                       const AdamW *opt, int n_layers, const size_t *layer_begin, const size_t *layer_end, Err *e);
void device_update_free(DeviceUpdate *d);

// The buffer the micro-batch's backward adds into (the first of an update starts it); last: the rank's last
// micro-batch of the update.
float *device_update_micro_begin(DeviceUpdate *d, bool last);
// The backward's per-layer callback (ctx: the DeviceUpdate).
void device_update_layer_done(void *ctx, int layer);
// After the micro-batch's backward (deterministic: folds it into the limbs unless it is the last).
void device_update_micro_end(DeviceUpdate *d);
// Collective: sums what is not summed yet; every rank calls it once per update, even after a failure.
void device_update_settle(DeviceUpdate *d);
// Collective: settles and ends the update. False when an element was not finite or out of the fixed-point range on
// some rank (deterministic; d->bad_tensor names the lowest such tensor).
bool device_update_finish(DeviceUpdate *d);
// Collective: the global norm of the summed gradient with algo/optim.h's bits (*bad_tensor as grad_global_norm's).
double device_update_norm(const DeviceUpdate *d, int *bad_tensor);
// Collective: clips by the norm (max_norm: train.grad_clip), applies AdamW (opt->step counts it) and, at stages 1-2,
// broadcasts each owner's new weights.
void device_update_step(DeviceUpdate *d, double norm, double max_norm, double lr, const AdamWHyper *h, AdamW *opt);
// Collective: m->params and opt's moments from the device's (at stages 1-2 every rank's m->params whole again).
void device_update_sync_host(DeviceUpdate *d, AdamW *opt);
// The summed gradient to host (n floats; stage 2: this rank's own run only), for the test hooks of train/update.h.
void device_update_grad_get(const DeviceUpdate *d, float *host);
// One gradient element set (the test hook RLVR_TEST_POISON_GRAD).
void device_update_grad_set(DeviceUpdate *d, size_t i, float x);

#endif

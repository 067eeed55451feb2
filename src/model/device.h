// Where a process's models compute (dist.device; src/README.md "Backends"): the CPU backend, or a CUDA backend on
// the rank's own GPU (base/dist.h: one rank per GPU of the node). Test hook: RLVR_TEST_DEVICE=staged puts models on
// the CPU backend with a device backend's memory layout (model/backend_staged.h) where auto chose the CPU.
#ifndef RLVR_DEVICE_H
#define RLVR_DEVICE_H

#include <stdbool.h>

#include "base/dist.h"
#include "base/error.h"
#include "model/model.h"
#include "model/update_ops.h"

typedef struct {
    DistDevice where;  // where.ordinal < 0: the CPU
    bool staged;       // RLVR_TEST_DEVICE=staged on the CPU
} Device;

// Collective: picks this rank's device and prints "rlvr: rank R on HOST: cuda:N (NAME)" or "...: cpu" to stderr;
// every rank returns the same outcome (the lowest failing rank's message).
int device_open(DistDeviceWant want, Device *d, Err *e);
// m computes on d from now on, with a backend of its own (a device backend mirrors one model's weights) holding
// m's current weights. On the CPU: nothing to do.
int device_attach(const Device *d, Model *m, Err *e);
// m back on the CPU backend, its own backend released (before model_free; nothing to do on the CPU).
void device_detach(Model *m);
// m's backend copy of the weights refreshed from m->params (after an optimizer step; the CPU's is m->params).
int device_load_weights(Model *m, Err *e);
// Bytes per weight element in m's backend (CPU: 4, a bf16 device backend: 2): what a decode step reads per weight.
size_t device_weight_bytes(const Model *m);
// Parameter-gradient memory of m's backend (n floats; NULL on the CPU backend, where the host buffer is it) and
// copies between it and the host.
float *device_grad_alloc(const Model *m, size_t n);
void device_grad_free(const Model *m, float *g);
void device_grad_put(const Model *m, float *dev, const float *host, size_t n);
void device_grad_get(const Model *m, float *host, const float *dev, size_t n);

// ZeRO stage 3 on a backend with a weight copy of its own (algo/param_gather.c): only the weights of the units being
// read are in it, each unit's ranges opened as windows gathered from their owners just before the unit runs and
// closed after (model/backend.h window_open). Whether m's backend keeps a copy of its own (not the CPU's), and
// whether that copy is GPU memory (its gathers then run on NCCL, base/dist.h).
bool device_own_weights(const Model *m);
bool device_on_gpu(const Model *m);
// Whether the model's backend reads all of a MoE layer's experts at once (Backend.whole_moe_layers).
bool device_whole_moe_layers(const Model *m);
// on: the backend's copy holds only the open windows from now on (its whole copy freed); off: every weight again at
// the next device_load_weights.
void device_weights_windowed(Model *m, bool on);
// Opens a window on elements [begin, end) of m->params, of which this rank holds [own_begin, own_end) in m->params;
// fill completes each of the window's buffers from the owners (collective; see Backend.window_open).
int device_window_open(Model *m, size_t begin, size_t end, size_t own_begin, size_t own_end,
                       void (*fill)(void *ctx, void *buf, size_t elem_bytes, size_t first, size_t n), void *ctx,
                       Err *e);
// Closes the windows inside [begin, end).
void device_window_close(Model *m, size_t begin, size_t end);
// The optimizer step in m's backend memory (model/backend.h's last entries; train/device_update.h). Buffers from
// device_grad_alloc (floats) and device_limbs_alloc (n elements of three int64 fixed-point limbs), both zeroed and
// freed with device_grad_free; the operations are model/update_ops.h's on them.
bool device_on_cpu(const Model *m);
int64_t *device_limbs_alloc(const Model *m, size_t n);
void device_adamw(const Model *m, size_t off, float *p, float *mom, float *v, const float *g, size_t n,
                  const AdamWStep *s);
int64_t device_fixed_add(const Model *m, int64_t *limbs, const float *g, size_t n);
void device_fixed_value(const Model *m, float *g, const int64_t *limbs, size_t n);
void device_sumsq(const Model *m, const float *g, const size_t *begin, const size_t *len, int n_ranges, double *sums);
void device_scale(const Model *m, float *g, size_t n, double scale);
// The backend's copy of weight element off (device_weight_bytes wide per element), and its second fp32 copy where it
// keeps one (NULL otherwise): what an owner broadcasts after updating them.
void *device_weights_at(const Model *m, size_t off);
float *device_weights_f32_at(const Model *m, size_t off);

// How the benchmarks name the device: "cpu", "cpu-staged" or "cuda:N NAME".
void device_label(const Device *d, char *out, size_t size);

#endif

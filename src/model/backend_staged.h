// The CPU backend with the memory layout of a device backend (RLVR_TEST_DEVICE=staged, model/device.h): its own
// copy of the weights, refreshed only by load_params, and parameter gradients in buffers of its own, so a machine
// without a GPU runs the trainer's device path (train/device_update.h: gradient sums, norm, clipping and AdamW in the
// backend's memory, the MoE block reading its own weight copy)
// and its results can be compared with the CPU backend's bit for bit.
#ifndef RLVR_BACKEND_STAGED_H
#define RLVR_BACKEND_STAGED_H

#include "model/model.h"

Backend *backend_staged_create(void);
void backend_staged_destroy(Backend *be);

#endif

// The CPU backend with the memory layout of a device backend (RLVR_TEST_DEVICE=staged, model/device.h): its own
// copy of the weights (refreshed by load_params, or by the optimizer step in its memory), parameter gradients and
// optimizer buffers of its own, and an MoE block that reads its own weight copy, so a machine without a GPU runs the
// trainer's device path (train/device_update.h) and its results can be compared with the CPU backend's bit for bit.
#ifndef RLVR_BACKEND_STAGED_H
#define RLVR_BACKEND_STAGED_H

#include "model/model.h"

Backend *backend_staged_create(void);
void backend_staged_destroy(Backend *be);

#endif

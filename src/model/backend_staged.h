// The CPU backend with the memory layout of a device backend (RLVR_TEST_DEVICE=staged, model/device.h): its own
// copy of the weights (refreshed by load_params, or by the optimizer step in its memory), parameter gradients and
// optimizer buffers of its own, and an MoE block and experts that read its own weight copy, so a machine without a
// GPU runs the trainer's device path (train/device_update.h) and its results can be compared with the CPU backend's
// bit for bit. At ZeRO stage 3 it holds only the open weight windows (an offset outside them aborts, as the device's
// lookup does), and its expert-parallel rows go through the device's exchange (model/moe_ep.c moe_ep_rows_*) in host
// memory. With RLVR_TEST_STAGED_DOWNLOADS set, destroying it prints to stderr the largest activation download
// (to_host, OUT view) a device backend would have made and the total: tests/it_device.sh checks that sampling and
// scoring never download a [n, V] block of logits.
#ifndef RLVR_BACKEND_STAGED_H
#define RLVR_BACKEND_STAGED_H

#include "model/model.h"

Backend *backend_staged_create(void);
void backend_staged_destroy(Backend *be);

#endif

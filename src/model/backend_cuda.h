// The CUDA backend of the layer loop's table (model/backend.h) on one GPU: bf16 weights (a mirror of Model.params
// refreshed by load_params) and activations, fp32 biases, fp32 activation gradients (BUF_GRAD) and parameter
// gradients, every operation one or a few kernels of kernels/ops.h on the backend's own stream. Compiled only
// when RLVR_CUDA; free of MPI, so build/gpu_check links it. An operation that fails on the device (a CUDA error,
// out of memory in a scratch buffer) prints the message and aborts: the table's operations cannot report errors.
#ifndef RLVR_BACKEND_CUDA_H
#define RLVR_BACKEND_CUDA_H

#include "base/error.h"
#include "model/backend.h"

// A backend on CUDA device `device` (cudaSetDevice, a stream, the weight mirror allocated by the first
// load_params), or NULL with the message in e (no such device, no memory). model_set_backend(m, be, e) loads m's
// parameters into it; one backend serves one model at a time.
Backend *backend_cuda_create(int device, Err *e);
// Frees the stream, the mirrors and the table (NULL: nothing). Buffers it allocated must be freed first.
void backend_cuda_destroy(Backend *be);

#endif

// `rlvr bench loss`: the fused log-prob/entropy forward + dL/dlogits backward over [T, V] logits on the GPU
// (fp32 and bf16), against the measured device-to-device copy bandwidth; the CPU twin when no GPU is present.
#include "bench/bench_loss.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/rng.h"
#include "base/walltime.h"
#include "model/logprob.h"

#ifdef RLVR_CUDA
#include <cuda_runtime_api.h>

#include "logits_loss.h"
#endif

static int bench_cpu(int64_t V, int repeat) {
    int64_t T = 64;
    float *x = xmalloc((size_t)(T * V) * sizeof *x), *g = xcalloc((size_t)(T * V), sizeof *g);
    Rng r = rng_at(7, 0, 0, 0);
    for (int64_t i = 0; i < T * V; i++) x[i] = (float)(3 * rng_normal(&r));
    double t0 = walltime_s(), lp, h;
    for (int k = 0; k < repeat; k++)
        for (int64_t t = 0; t < T; t++) {
            logprob_entropy(x + t * V, (int)V, 1.0, (int32_t)(t % V), &lp, &h);
            logprob_entropy_backward(x + t * V, (int)V, 1.0, (int32_t)(t % V), 1.0, 0.1, g + t * V);
        }
    double dt = (walltime_s() - t0) / repeat, bytes = 3.0 * (double)(T * V) * 4;
    printf("{\"bench\":\"loss\",\"device\":\"cpu\",\"dtype\":\"f32\",\"tokens\":%lld,\"vocab\":%lld,\"seconds\":%.6f,"
           "\"GB_per_s\":%.3f,\"note\":\"no GPU: CPU twin, 1 thread\"}\n",
           (long long)T, (long long)V, dt, bytes / dt * 1e-9);
    free(x), free(g);
    return 0;
}

#ifdef RLVR_CUDA
#define CUDA_OK(call)                                                                                              \
    do {                                                                                                           \
        cudaError_t rc_ = (call);                                                                                  \
        if (rc_ != cudaSuccess) return err_set(e, "bench loss: %s: %s", #call, cudaGetErrorString(rc_));           \
    } while (0)

// Device-to-device copy bandwidth (read + write bytes per second) of a `bytes` buffer.
static int copy_bandwidth(size_t bytes, int repeat, double *gbps, Err *e) {
    void *a, *b;
    CUDA_OK(cudaMalloc(&a, bytes));
    CUDA_OK(cudaMalloc(&b, bytes));
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0), cudaEventCreate(&e1);
    CUDA_OK(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));
    cudaEventRecord(e0, 0);
    for (int k = 0; k < repeat; k++) cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(e1, 0);
    CUDA_OK(cudaEventSynchronize(e1));
    float ms;
    cudaEventElapsedTime(&ms, e0, e1);
    *gbps = 2.0 * (double)bytes * repeat / (ms * 1e-3) * 1e-9;
    cudaFree(a), cudaFree(b);
    return 0;
}

static int bench_gpu(int64_t T, int64_t V, int repeat, Err *e) {
    char name[256];
    cuda_device_name(name, sizeof name);
    size_t n = (size_t)(T * V);
    double copy_gbps = 0;
    TRY(copy_bandwidth(n * 2, repeat, &copy_gbps, e));
    int32_t *y;
    double *stats, *dlogp;
    CUDA_OK(cudaMalloc((void **)&y, (size_t)T * 4));
    CUDA_OK(cudaMalloc((void **)&stats, (size_t)T * 8 * 4));
    dlogp = stats + 3 * T;
    int32_t *hy = xmalloc((size_t)T * 4);
    double *hd = xmalloc((size_t)T * 8);
    for (int64_t t = 0; t < T; t++) hy[t] = (int32_t)((t * 7919) % V), hd[t] = 1.0 / (double)T;
    CUDA_OK(cudaMemcpy(y, hy, (size_t)T * 4, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(dlogp, hd, (size_t)T * 8, cudaMemcpyHostToDevice));
    free(hy), free(hd);
    for (int dtype = 0; dtype < 2; dtype++) {
        size_t esize = dtype == LOGITS_F32 ? 4 : 2;
        void *x;
        CUDA_OK(cudaMalloc(&x, n * esize));
        TRY(cuda_fill_random(x, (LogitsDtype)dtype, (int64_t)n, 42, 3.0f, e));
        cudaEvent_t e0, e1;
        cudaEventCreate(&e0), cudaEventCreate(&e1);
        float ms_total = 0;
        for (int k = 0; k <= repeat; k++) {  // k = 0 warms up; the backward overwrites x in place, so refill
            TRY(cuda_fill_random(x, (LogitsDtype)dtype, (int64_t)n, 42, 3.0f, e));
            cudaEventRecord(e0, 0);
            TRY(cuda_logits_forward(x, (LogitsDtype)dtype, T, V, y, 1.0, stats, stats + T, stats + 2 * T, e));
            TRY(cuda_logits_backward(x, (LogitsDtype)dtype, T, V, y, 1.0, stats + 2 * T, stats + T, dlogp, NULL, x,
                                     (LogitsDtype)dtype, e));
            cudaEventRecord(e1, 0);
            CUDA_OK(cudaEventSynchronize(e1));
            float ms;
            cudaEventElapsedTime(&ms, e0, e1);
            if (k) ms_total += ms;
        }
        double s = ms_total * 1e-3 / repeat, bytes = 3.0 * (double)n * (double)esize, gbps = bytes / s * 1e-9;
        printf("{\"bench\":\"loss\",\"device\":\"%s\",\"dtype\":\"%s\",\"tokens\":%lld,\"vocab\":%lld,\"seconds\":%.6f,"
               "\"GB_per_s\":%.1f,\"copy_GB_per_s\":%.1f,\"fraction_of_copy\":%.3f,\"scratch_bytes\":%lld}\n",
               name, dtype ? "bf16" : "f32", (long long)T, (long long)V, s, gbps, copy_gbps, gbps / copy_gbps,
               (long long)T * 32);
        cudaFree(x);
    }
    cudaFree(y), cudaFree(stats);
    return 0;
}
#endif

int bench_loss(const BenchLossOptions *o, Err *e) {
#ifdef RLVR_CUDA
    if (cuda_device_count() > 0) return bench_gpu(o->tokens, o->vocab, (int)o->repeat, e);
#endif
    (void)e;
    return bench_cpu(o->vocab, (int)o->repeat);
}

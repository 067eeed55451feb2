// `rlvr bench loss`: the fused log-prob/entropy forward + dL/dlogits backward over [T, V] logits on the GPU
// (fp32 and bf16), against the measured device-to-device copy bandwidth; the CPU twin when no GPU is present.
#include "bench/bench_loss.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "base/walltime.h"
#include "model/logprob.h"
#include "base/rng.h"

#ifdef RLVR_CUDA
#include <cuda_runtime_api.h>

#include "logits_loss.h"
#endif

static const char USAGE[] =
    "usage: rlvr bench loss [--tokens T] [--vocab V] [--repeat R]\n"
    "Times pass 1 (log-prob + entropy, one read of the logits) + pass 2 (dL/dlogits, in place) for fp32 and\n"
    "bf16 logits and prints one JSON line each, with the achieved bandwidth against a device-to-device copy.\n"
    "Without a GPU it times the CPU twin (src/model/logprob.c) on a few rows instead. Defaults: T=16384, V=151936.\n";

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
        if (rc_ != cudaSuccess) {                                                                                  \
            fprintf(stderr, "rlvr bench loss: %s: %s\n", #call, cudaGetErrorString(rc_));                          \
            return 1;                                                                                              \
        }                                                                                                          \
    } while (0)

// Device-to-device copy bandwidth (read + write bytes per second) of a `bytes` buffer.
static int copy_bandwidth(size_t bytes, int repeat, double *gbps) {
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

static int bench_gpu(int64_t T, int64_t V, int repeat) {
    char name[256];
    cuda_device_name(name, sizeof name);
    size_t n = (size_t)(T * V);
    double copy_gbps;
    if (copy_bandwidth(n * 2, repeat, &copy_gbps)) return 1;
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
    Err e = {{0}};
    for (int dtype = 0; dtype < 2; dtype++) {
        size_t esize = dtype == LOGITS_F32 ? 4 : 2;
        void *x;
        CUDA_OK(cudaMalloc(&x, n * esize));
        if (cuda_fill_random(x, (LogitsDtype)dtype, (int64_t)n, 42, 3.0f, &e)) return fprintf(stderr, "rlvr: %s\n", e.msg), 1;
        cudaEvent_t e0, e1;
        cudaEventCreate(&e0), cudaEventCreate(&e1);
        float ms_total = 0;
        for (int k = 0; k <= repeat; k++) {  // k = 0 warms up; the backward overwrites x in place, so refill
            if (cuda_fill_random(x, (LogitsDtype)dtype, (int64_t)n, 42, 3.0f, &e)) return 1;
            cudaEventRecord(e0, 0);
            if (cuda_logits_forward(x, (LogitsDtype)dtype, T, V, y, 1.0, stats, stats + T, stats + 2 * T, &e) ||
                cuda_logits_backward(x, (LogitsDtype)dtype, T, V, y, 1.0, stats + 2 * T, stats + T, dlogp, NULL, x,
                                     (LogitsDtype)dtype, &e))
                return fprintf(stderr, "rlvr: %s\n", e.msg), 1;
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

int bench_loss(int argc, char **argv) {
    long long T = 16384, V = 151936, repeat = 5;
    Err e = {{0}};
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (cli_is_help(argv[i])) return fputs(USAGE, stdout), 0;
        if ((v = cli_value("--tokens", argc, argv, &i, &e))) {
            if (cli_parse_int("--tokens", v, 1, 1 << 24, &T, &e)) return fprintf(stderr, "rlvr: %s\n", e.msg), 2;
        } else if ((v = cli_value("--vocab", argc, argv, &i, &e))) {
            if (cli_parse_int("--vocab", v, 1, 1 << 24, &V, &e)) return fprintf(stderr, "rlvr: %s\n", e.msg), 2;
        } else if ((v = cli_value("--repeat", argc, argv, &i, &e))) {
            if (cli_parse_int("--repeat", v, 1, 1000, &repeat, &e)) return fprintf(stderr, "rlvr: %s\n", e.msg), 2;
        } else
            return fprintf(stderr, "rlvr bench loss: %s\n%s", e.msg[0] ? e.msg : "unknown option", USAGE), 2;
    }
#ifdef RLVR_CUDA
    if (cuda_device_count() > 0) return bench_gpu(T, V, (int)repeat);
#endif
    return bench_cpu(V, (int)repeat);
}

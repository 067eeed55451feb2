// Micro-benchmarks of the GPU kernels, each next to its limit: matmul TFLOP/s against the H200's bf16 dense peak
// and against cuBLAS (cublasGemmEx, default algorithm: the price of batch invariance), a decode-shaped (M = 1)
// matmul as a fraction of HBM bandwidth, the loss kernel against a device-to-device copy of its input.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>

#include "gpu_check.h"
#include "logits_loss.h"

#define PEAK_BF16_TFLOPS 989.0  // H200 (= H100 SXM) dense bf16 tensor-core peak, NVIDIA datasheet
#define PEAK_HBM_GBS 4800.0     // H200 HBM3e bandwidth, NVIDIA datasheet

static Err err;
#define OK(call) ok_or_die((call), &err, #call)

typedef struct {
    const Bf16 *x, *w;
    Bf16 *y;
    int M, N, K;
    cublasHandle_t h;
} Mm;

static void ours(void *p) {
    Mm *m = p;
    OK(gpu_matmul(m->x, m->w, NULL, m->y, GPU_BF16, m->M, m->N, m->K, 0, NULL, &err));
}

// Row-major y[M, N] = x[M, K] w[N, K]^T is column-major y^T = w^T(as stored: op T) x.
static void cublas(void *p) {
    Mm *m = p;
    float one = 1, zero = 0;
    cublasStatus_t st = cublasGemmEx(m->h, CUBLAS_OP_T, CUBLAS_OP_N, m->N, m->M, m->K, &one, m->w, CUDA_R_16BF, m->K, m->x,
                                     CUDA_R_16BF, m->K, &zero, m->y, CUDA_R_16BF, m->N, CUBLAS_COMPUTE_32F,
                                     CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "gpu_check: cublasGemmEx failed (status %d)\n", (int)st);
        exit(GPU_CHECK_FAIL);
    }
}

static void bench_matmul(cublasHandle_t h, int M, int N, int K, int quick) {
    Bf16 *x = dalloc((size_t)M * K * 2), *w = dalloc((size_t)N * K * 2), *y = dalloc((size_t)M * N * 2);
    OK(cuda_fill_random(x, LOGITS_BF16, (int64_t)M * K, 1, 1.0f, &err));
    OK(cuda_fill_random(w, LOGITS_BF16, (int64_t)N * K, 2, 0.05f, &err));
    Mm m = {x, w, y, M, N, K, h};
    int reps = quick ? 3 : 10, rounds = quick ? 3 : 7;
    double t_ours = time_ms(ours, &m, reps, rounds), t_cublas = time_ms(cublas, &m, reps, rounds);
    char name[96];
    snprintf(name, sizeof name, "matmul M=%d N=%d K=%d bf16", M, N, K);
    if (M == 1) {
        double bytes = (double)N * K * 2 + (double)K * 2 + (double)N * 2;
        double gbs = bytes / t_ours / 1e6, gbs_c = bytes / t_cublas / 1e6;
        bench_line(name, "%.1f GB/s = %.1f%% of HBM %.0f GB/s (goal 70%%); cuBLAS %.1f GB/s; invariant/cuBLAS time %.2fx",
                   gbs, 100 * gbs / PEAK_HBM_GBS, PEAK_HBM_GBS, gbs_c, t_ours / t_cublas);
    } else {
        double flops = 2.0 * M * N * K, tf = flops / t_ours / 1e9, tf_c = flops / t_cublas / 1e9;
        bench_line(name, "%.1f TFLOP/s = %.1f%% of peak %.0f; cuBLAS %.1f TFLOP/s (%.1f%%); invariant/cuBLAS time %.2fx", tf,
                   100 * tf / PEAK_BF16_TFLOPS, PEAK_BF16_TFLOPS, tf_c, 100 * tf_c / PEAK_BF16_TFLOPS, t_ours / t_cublas);
    }
    dfree(x), dfree(w), dfree(y);
}

typedef struct {
    void *logits, *copy, *dlogits;
    int32_t *targets;
    double *stats, *dlogp;
    int64_t T, V;
} Loss;

static void loss_fwd(void *p) {
    Loss *l = p;
    OK(cuda_logits_forward(l->logits, LOGITS_BF16, l->T, l->V, l->targets, 1.0, l->stats, l->stats + l->T,
                           l->stats + 2 * l->T, &err));
}

static void loss_bwd(void *p) {
    Loss *l = p;
    OK(cuda_logits_backward(l->logits, LOGITS_BF16, l->T, l->V, l->targets, 1.0, l->stats + 2 * l->T, l->stats + l->T,
                            l->dlogp, NULL, l->dlogits, LOGITS_BF16, &err));
}

static void copy_d2d(void *p) {
    Loss *l = p;
    if (cudaMemcpyAsync(l->copy, l->logits, (size_t)(l->T * l->V * 2), cudaMemcpyDeviceToDevice, 0) != cudaSuccess) {
        fprintf(stderr, "gpu_check: device-to-device copy failed\n");
        exit(GPU_CHECK_FAIL);
    }
}

static void bench_loss(int quick) {
    Loss l = {0};
    l.T = 4096, l.V = 151936;
    size_t n = (size_t)(l.T * l.V);
    l.logits = dalloc(n * 2), l.copy = dalloc(n * 2), l.dlogits = dalloc(n * 2);
    l.targets = dalloc((size_t)l.T * 4), l.stats = dalloc((size_t)l.T * 24), l.dlogp = dalloc((size_t)l.T * 8);
    OK(cuda_fill_random(l.logits, LOGITS_BF16, (int64_t)n, 3, 3.0f, &err));
    int reps = quick ? 2 : 5, rounds = quick ? 3 : 7;
    double t_copy = time_ms(copy_d2d, &l, reps, rounds), t_fwd = time_ms(loss_fwd, &l, reps, rounds),
           t_bwd = time_ms(loss_bwd, &l, reps, rounds);
    double bytes = (double)n * 2, copy_gbs = 2 * bytes / t_copy / 1e6;
    double fwd_gbs = bytes / t_fwd / 1e6, bwd_gbs = 2 * bytes / t_bwd / 1e6;
    bench_line("loss forward T=4096 V=151936 bf16", "%.3f ms, reads %.0f GB/s = %.1f%% of the d2d copy's %.0f GB/s (goal 80%%)",
               t_fwd, fwd_gbs, 100 * fwd_gbs / copy_gbs, copy_gbs);
    bench_line("loss backward T=4096 V=151936 bf16", "%.3f ms, reads+writes %.0f GB/s = %.1f%% of the d2d copy (goal 80%%)",
               t_bwd, bwd_gbs, 100 * bwd_gbs / copy_gbs);
    printf("gpu_check: loss_fwd_bwd tokens=%lld vocab=%lld seconds=%.6f\n", (long long)l.T, (long long)l.V,
           (t_fwd + t_bwd) / 1e3);
    dfree(l.logits), dfree(l.copy), dfree(l.dlogits), dfree(l.targets), dfree(l.stats), dfree(l.dlogp);
}

void run_benchmarks(int quick) {
    printf("benchmarks (median of timed rounds, CUDA events)\n");
    cublasHandle_t h;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "gpu_check: cublasCreate failed\n");
        exit(GPU_CHECK_FAIL);
    }
    bench_matmul(h, 4096, 4096, 4096, quick);
    bench_matmul(h, 8192, 8960, 1536, quick);  // Qwen2.5-1.5B MLP gate/up over 8k tokens
    bench_matmul(h, 8192, 1536, 8960, quick);  // ... and down
    bench_matmul(h, 1, 16384, 4096, quick);    // decode: 128 MiB of weights
    bench_matmul(h, 1, 151936, 1536, quick);   // decode: the 1.5B model's LM head
    bench_matmul(h, 64, 8960, 1536, quick);    // group decode: 64 sequences per step
    cublasDestroy(h);
    bench_loss(quick);
}

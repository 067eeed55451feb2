// Micro-benchmarks of the GPU kernels, each next to its limit: matmul TFLOP/s against the H200's bf16 dense peak
// and against cuBLAS (cublasGemmEx, default algorithm: the price of batch invariance), a decode-shaped (M = 1)
// matmul as a fraction of HBM bandwidth, the loss kernel against a device-to-device copy of its input, and the MoE
// experts' grouped products against one launch per expert after a copy of the group offsets to the host.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "gpu_bench_tiles.h"
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

// The tile variants (tests/gpu_bench_tiles.cu) on one shape: each one's output bit for bit against gpu_matmul's (a
// check), and its time.
typedef struct {
    int small, k, M, N, K;
    const Bf16 *x, *w;
    Bf16 *y;
} Tile;

static void tile_run(void *p) {
    Tile *t = p;
    if (tile_variant_run(t->small, t->k, t->x, t->w, t->y, t->M, t->N, t->K)) {
        fprintf(stderr, "gpu_check: tile variant %s failed to launch\n", tile_variant_name(t->small, t->k));
        exit(GPU_CHECK_FAIL);
    }
}

// Returns the variants' times (ms) in t_out[k].
static void tile_shape(int M, int N, int K, int quick, double *t_out) {
    int small = M <= 16, nv = tile_variants(small);
    size_t ny = (size_t)M * N;
    Bf16 *x = dalloc((size_t)M * K * 2), *w = dalloc((size_t)N * K * 2), *y = dalloc(ny * 2), *ref = dalloc(ny * 2);
    OK(cuda_fill_random(x, LOGITS_BF16, (int64_t)M * K, 11, 1.0f, &err));
    OK(cuda_fill_random(w, LOGITS_BF16, (int64_t)N * K, 12, 0.05f, &err));
    OK(gpu_matmul(x, w, NULL, ref, GPU_BF16, M, N, K, 0, NULL, &err));
    Bf16 *a = malloc(ny * 2), *b = malloc(ny * 2);
    ddownload(a, ref, ny * 2);
    char line[2048];
    int at = snprintf(line, sizeof line, "M=%d N=%d K=%d:", M, N, K), differ = 0;
    double best = 1e30;
    for (int k = 0; k < nv; k++) {
        Tile t = {small, k, M, N, K, x, w, y};
        if (cudaMemset(y, 0xff, ny * 2) != cudaSuccess) {  // NaN: an output a variant skips shows as a difference
            fprintf(stderr, "gpu_check: cudaMemset failed\n");
            exit(GPU_CHECK_FAIL);
        }
        tile_run(&t);
        ddownload(b, y, ny * 2);
        differ += memcmp(a, b, ny * 2) != 0;
        t_out[k] = time_ms(tile_run, &t, quick ? 3 : 10, quick ? 3 : 5);
        best = t_out[k] < best ? t_out[k] : best;
        double rate = M <= 16 ? (double)N * K * 2 / t_out[k] / 1e6 : 2.0 * M * N * K / t_out[k] / 1e9;
        at += snprintf(line + at, sizeof line - (size_t)at, " [%d] %.1f %s", k, rate, M <= 16 ? "GB/s" : "TFLOP/s");
    }
    bench_line(small ? "tiles (decode)" : "tiles (training)", "%s", line);
    char name[96];
    snprintf(name, sizeof name, "tile variants M=%d N=%d K=%d = gpu_matmul", M, N, K);
    check(name, !differ, "%d of %d variants' outputs differ in bits (limit 0: every tile sums in the same order)",
          differ, nv);
    free(a), free(b);
    dfree(x), dfree(w), dfree(y), dfree(ref);
}

// Training shapes and the decode step of Qwen2.5-1.5B (28 layers: q/o [1536, 1536], k/v [256, 1536], gate/up
// [8960, 1536], down [1536, 8960]; the head [151936, 1536]) for 1 and 8 rows: which tile serves each best.
static void bench_tiles(int quick) {
    for (int small = 0; small < 2; small++)
        for (int k = 0; k < tile_variants(small); k++) printf("  tile [%d] %s\n", k, tile_variant_name(small, k));
    double t[16];
    tile_shape(4096, 4096, 4096, quick, t);
    tile_shape(8192, 8960, 1536, quick, t);
    tile_shape(8192, 1536, 8960, quick, t);
    static const int shapes[][3] = {{1536, 1536, 2}, {256, 1536, 2}, {8960, 1536, 2}, {1536, 8960, 1}, {151936, 1536, 0}};
    for (int M = 1; M <= 8; M += 7) {
        double step[16] = {0};
        int nv = tile_variants(1);
        for (int i = 0; i < 5; i++) {
            tile_shape(M, shapes[i][0], shapes[i][1], quick, t);
            for (int k = 0; k < nv; k++) step[k] += t[k] * (shapes[i][2] ? 28.0 * shapes[i][2] : 1.0);
        }
        char line[512];
        int at = 0;
        for (int k = 0; k < nv; k++) at += snprintf(line + at, sizeof line - (size_t)at, " [%d] %.3f ms", k, step[k]);
        char name[96];
        snprintf(name, sizeof name, "tiles: 1.5B decode step's products, %d row(s)", M);
        bench_line(name, "%s (2.9 GB of weights: 0.61 ms at 4.8 TB/s)", line);
    }
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
    l.logits = dalloc(n * 2), l.copy = dalloc(n * 2), l.dlogits = dalloc(n * 2), l.stats = dalloc((size_t)l.T * 24);
    OK(cuda_fill_random(l.logits, LOGITS_BF16, (int64_t)n, 3, 3.0f, &err));
    // Random targets and non-zero coefficients: a row whose dlogp is 0 is only zeroed, never read.
    int32_t *tg = malloc((size_t)l.T * sizeof *tg);
    double *dl = malloc((size_t)l.T * sizeof *dl);
    Rng r = rng_at(4, 0, 0, 0);
    for (int64_t t = 0; t < l.T; t++) tg[t] = (int32_t)(rng_u32(&r) % (uint32_t)l.V), dl[t] = 0.5 + rng_normal(&r) * 0.1;
    l.targets = dupload(tg, (size_t)l.T * sizeof *tg), l.dlogp = dupload(dl, (size_t)l.T * sizeof *dl);
    free(tg), free(dl);
    int reps = quick ? 2 : 5, rounds = quick ? 3 : 7;
    double t_copy = time_ms(copy_d2d, &l, reps, rounds), t_fwd = time_ms(loss_fwd, &l, reps, rounds),
           t_bwd = time_ms(loss_bwd, &l, reps, rounds);
    double bytes = (double)n * 2, copy_gbs = 2 * bytes / t_copy / 1e6;
    double fwd_gbs = bytes / t_fwd / 1e6, bwd_gbs = 2 * bytes / t_bwd / 1e6;
    bench_line("loss forward T=4096 V=151936 bf16", "%.3f ms, reads %.0f GB/s = %.1f%% of the d2d copy's %.0f GB/s (goal 80%%)",
               t_fwd, fwd_gbs, 100 * fwd_gbs / copy_gbs, copy_gbs);
    bench_line("loss backward T=4096 V=151936 bf16", "%.3f ms, reads+writes %.0f GB/s = %.1f%% of the d2d copy (goal 80%%)",
               t_bwd, bwd_gbs, 100 * bwd_gbs / copy_gbs);
    double both_gbs = 3 * bytes / (t_fwd + t_bwd) / 1e6;
    bench_line("loss forward+backward T=4096 V=151936 bf16", "%.3f ms, %.0f GB/s = %.1f%% of the d2d copy (goal 80%%)",
               t_fwd + t_bwd, both_gbs, 100 * both_gbs / copy_gbs);
    printf("gpu_check: loss_fwd_bwd tokens=%lld vocab=%lld seconds=%.6f\n", (long long)l.T, (long long)l.V,
           (t_fwd + t_bwd) / 1e3);
    dfree(l.logits), dfree(l.copy), dfree(l.dlogits), dfree(l.targets), dfree(l.stats), dfree(l.dlogp);
}

// The routed experts' products of a MoE layer, forward (gate, up, down) and backward (each projection's dW and dx),
// on rows grouped by expert: the grouped launches (kernels/moe_grouped.cu) against what they replace, the group
// offsets copied to the host (one synchronisation per pass) and one launch per expert and product.
typedef struct {
    int E, n, D, Fe, backward;
    int32_t *offsets;  // device
    Bf16 *x, *act, *gy, *dg, *wg, *wu, *wd, *g, *u, *out;
    float *dact, *dxs, *dwg, *dwu, *dwd;
} MoeBench;

static void moe_grouped_pass(void *p) {
    MoeBench *b = p;
    int E = b->E, n = b->n, D = b->D, Fe = b->Fe;
    if (!b->backward) {
        OK(gpu_matmul_grouped(b->x, b->wg, b->g, GPU_BF16, b->offsets, E, n, Fe, D, 0, NULL, &err));
        OK(gpu_matmul_grouped(b->x, b->wu, b->u, GPU_BF16, b->offsets, E, n, Fe, D, 0, NULL, &err));
        OK(gpu_matmul_grouped(b->act, b->wd, b->out, GPU_BF16, b->offsets, E, n, D, Fe, 0, NULL, &err));
        return;
    }
    OK(gpu_matmul_grouped_xtx_acc(b->gy, b->act, b->offsets, E, n, D, Fe, b->dwd, NULL, &err));
    OK(gpu_matmul_grouped_xw(b->gy, b->wd, b->dact, b->offsets, E, n, D, Fe, 0, NULL, &err));
    OK(gpu_matmul_grouped_xtx_acc(b->dg, b->x, b->offsets, E, n, Fe, D, b->dwg, NULL, &err));
    OK(gpu_matmul_grouped_xtx_acc(b->dg, b->x, b->offsets, E, n, Fe, D, b->dwu, NULL, &err));
    OK(gpu_matmul_grouped_xw(b->dg, b->wg, b->dxs, b->offsets, E, n, Fe, D, 0, NULL, &err));
    OK(gpu_matmul_grouped_xw(b->dg, b->wu, b->dxs, b->offsets, E, n, Fe, D, 1, NULL, &err));
}

static void moe_per_expert_pass(void *p) {
    MoeBench *b = p;
    int E = b->E, D = b->D, Fe = b->Fe;
    int32_t *off = malloc((size_t)(E + 1) * 4);
    ddownload(off, b->offsets, (size_t)(E + 1) * 4);  // the synchronisation the grouped launches do without
    size_t ew = (size_t)Fe * D;
    for (int e = 0; e < E; e++) {
        int r0 = off[e], m = off[e + 1] - r0;
        if (!m) continue;
        size_t xo = (size_t)r0 * D, fo = (size_t)r0 * Fe, wo = e * ew;
        if (!b->backward) {
            OK(gpu_matmul(b->x + xo, b->wg + wo, NULL, b->g + fo, GPU_BF16, m, Fe, D, 0, NULL, &err));
            OK(gpu_matmul(b->x + xo, b->wu + wo, NULL, b->u + fo, GPU_BF16, m, Fe, D, 0, NULL, &err));
            OK(gpu_matmul(b->act + fo, b->wd + wo, NULL, b->out + xo, GPU_BF16, m, D, Fe, 0, NULL, &err));
            continue;
        }
        OK(gpu_matmul_xtx_acc(b->gy + xo, b->act + fo, b->dwd + wo, m, D, Fe, NULL, &err));
        OK(gpu_matmul_xw(b->gy + xo, b->wd + wo, b->dact + fo, m, D, Fe, 0, NULL, &err));
        OK(gpu_matmul_xtx_acc(b->dg + fo, b->x + xo, b->dwg + wo, m, Fe, D, NULL, &err));
        OK(gpu_matmul_xtx_acc(b->dg + fo, b->x + xo, b->dwu + wo, m, Fe, D, NULL, &err));
        OK(gpu_matmul_xw(b->dg + fo, b->wg + wo, b->dxs + xo, m, Fe, D, 0, NULL, &err));
        OK(gpu_matmul_xw(b->dg + fo, b->wu + wo, b->dxs + xo, m, Fe, D, 1, NULL, &err));
    }
    free(off);
}

// Qwen3-30B-A3B's experts (E = 128, top-8, D = 2048, Fe = 768), T tokens routed at random.
static void bench_moe(int T, int quick) {
    MoeBench b = {.E = 128, .n = T * 8, .D = 2048, .Fe = 768};
    int E = b.E, n = b.n, D = b.D, Fe = b.Fe, live = 0;
    int32_t *count = calloc((size_t)E, 4), *off = malloc((size_t)(E + 1) * 4);
    Rng r = rng_at(401, 0, 0, 0);
    for (int t = 0; t < T; t++) {
        int chosen[8];
        for (int k = 0; k < 8; k++) {
            int e, dup;
            do {
                e = (int)rng_below(&r, (uint64_t)E), dup = 0;
                for (int j = 0; j < k; j++) dup |= chosen[j] == e;
            } while (dup);
            chosen[k] = e, count[e]++;
        }
    }
    off[0] = 0;
    for (int e = 0; e < E; e++) off[e + 1] = off[e] + count[e], live += count[e] > 0;
    b.offsets = dupload(off, (size_t)(E + 1) * 4);
    size_t ew = (size_t)E * Fe * D, nd = (size_t)n * D, nf = (size_t)n * Fe;
    Bf16 **bufs[] = {&b.x, &b.act, &b.gy, &b.dg, &b.wg, &b.wu, &b.wd, &b.g, &b.u, &b.out};
    size_t sizes[] = {nd, nf, nd, nf, ew, ew, ew, nf, nf, nd};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        *bufs[i] = dalloc(sizes[i] * 2);
        OK(cuda_fill_random(*bufs[i], LOGITS_BF16, (int64_t)sizes[i], 500 + i, 0.05f, &err));
    }
    b.dact = dalloc(nf * 4), b.dxs = dalloc(nd * 4);
    b.dwg = dalloc(ew * 4), b.dwu = dalloc(ew * 4), b.dwd = dalloc(ew * 4);
    int reps = quick ? 1 : 3, rounds = quick ? 3 : 5;
    for (b.backward = 0; b.backward < 2; b.backward++) {
        double t_g = time_ms(moe_grouped_pass, &b, reps, rounds), t_e = time_ms(moe_per_expert_pass, &b, reps, rounds);
        int products = b.backward ? 6 : 3;
        double flops = 2.0 * n * Fe * D * products;
        char name[96];
        snprintf(name, sizeof name, "MoE experts %s T=%d (E=128 top-8 D=2048 Fe=768)",
                 b.backward ? "backward" : "forward", T);
        bench_line(name,
                   "grouped %.3f ms (%.1f TFLOP/s, %d grouped calls, no host sync); per expert %.3f ms (%d calls + 1 "
                   "host sync); grouped/per-expert time %.2fx",
                   t_g, flops / t_g / 1e9, products, t_e, products * live, t_g / t_e);
    }
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) dfree(*bufs[i]);
    dfree(b.dact), dfree(b.dxs), dfree(b.dwg), dfree(b.dwu), dfree(b.dwd), dfree(b.offsets);
    free(count), free(off);
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
    bench_tiles(quick);
    bench_loss(quick);
    bench_moe(1, quick);     // decode
    bench_moe(64, quick);    // group decode
    bench_moe(4096, quick);  // a training micro-batch
}

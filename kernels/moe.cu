// Mixture-of-experts routing on the GPU (moe.c's twin): router softmax and top-k per token, the (token, slot)
// choices grouped by expert (stable: slot order within an expert, as moe.c), the gather of the grouped rows and
// the weighted combine back per token in expert order. No atomics: the same bits on every run.
#include <math.h>

#include "gpu_util.cuh"
#include "moe_order.cuh"

// One thread per token: softmax in float64 sums, then k passes for the largest untaken probability (ties: the
// lower index, as moe.c route).
__global__ void router_topk_kernel(const float *logits, int T, int E, int K, int norm_topk, float *probs,
                                   int32_t *top_e, float *top_w) {
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= T) return;
    const float *z = logits + (size_t)t * E;
    float *p = probs + (size_t)t * E;
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < E; i++) mx = z[i] > mx ? z[i] : mx;
    for (int i = 0; i < E; i++) sum += exp(z[i] - mx);
    for (int i = 0; i < E; i++) p[i] = (float)(exp(z[i] - mx) / sum);
    int32_t *te = top_e + (size_t)t * K;
    float *tw = top_w + (size_t)t * K;
    double chosen = 0;
    for (int k = 0; k < K; k++) {
        int best = -1;
        for (int i = 0; i < E; i++) {
            bool taken = false;
            for (int j = 0; j < k; j++) taken |= te[j] == i;
            if (!taken && (best < 0 || p[i] > p[best])) best = i;
        }
        te[k] = best;
        tw[k] = p[best];
        chosen += p[best];
    }
    if (norm_topk)
        for (int k = 0; k < K; k++) tw[k] = (float)(tw[k] / chosen);
}

extern "C" int gpu_router_topk(const float *logits, int T, int E, int K, int norm_topk, float *probs, int32_t *top_e,
                               float *top_w, GpuStream s, Err *e) {
    if (T < 0 || E < 1 || K < 1 || K > E || K > MAX_K)
        return err_set(e, "gpu_router_topk: T=%d E=%d K=%d out of range (1 <= K <= E, K <= %d)", T, E, K, MAX_K);
    if (!T) return 0;
    router_topk_kernel<<<(T + 127) / 128, 128, 0, s>>>(logits, T, E, K, norm_topk, probs, top_e, top_w);
    return gpu_launched("router top-k", e);
}

#define GROUP_THREADS 256

// counts[e] = how many of the n slots chose expert e (one block per expert).
__global__ void expert_count_kernel(const int32_t *top_e, int n, int32_t *counts) {
    int e = blockIdx.x, c = 0;
    for (int i0 = 0; i0 < n; i0 += GROUP_THREADS) {
        int i = i0 + threadIdx.x;
        c += __syncthreads_count(i < n && top_e[i] == e);
    }
    if (threadIdx.x == 0) counts[e] = c;
}

__global__ void expert_offsets_kernel(const int32_t *counts, int E, int32_t *offsets) {
    int32_t acc = 0;
    for (int e = 0; e < E; e++) offsets[e] = acc, acc += counts[e];
    offsets[E] = acc;
}

// Expert e's slots in slot order: a block-wide prefix of the matches of each chunk of GROUP_THREADS slots.
__global__ void expert_place_kernel(const int32_t *top_e, int n, const int32_t *offsets, int32_t *rows,
                                    int32_t *slot_row) {
    __shared__ int warp_total[GROUP_THREADS / 32];
    int e = blockIdx.x, warp = threadIdx.x / 32, lane = threadIdx.x % 32, base = offsets[e];
    for (int i0 = 0; i0 < n; i0 += GROUP_THREADS) {
        int i = i0 + threadIdx.x;
        bool hit = i < n && top_e[i] == e;
        unsigned ballot = __ballot_sync(0xffffffffu, hit);
        if (lane == 0) warp_total[warp] = __popc(ballot);
        __syncthreads();
        int before = __popc(ballot & ((1u << lane) - 1)), total = 0;
        for (int w = 0; w < GROUP_THREADS / 32; w++) {
            if (w < warp) before += warp_total[w];
            total += warp_total[w];
        }
        if (hit) rows[base + before] = i, slot_row[i] = base + before;
        base += total;
        __syncthreads();
    }
}

extern "C" int gpu_moe_group(const int32_t *top_e, int T, int K, int E, int32_t *offsets, int32_t *rows,
                             int32_t *slot_row, GpuStream s, Err *e) {
    if (T < 0 || K < 1 || E < 1 || (int64_t)T * K > 2147483647)
        return err_set(e, "gpu_moe_group: T=%d K=%d E=%d out of range", T, K, E);
    int32_t *counts = NULL;
    if (gpu_status(cudaMallocAsync((void **)&counts, (size_t)E * sizeof *counts, s), "scratch allocation", e)) return -1;
    expert_count_kernel<<<E, GROUP_THREADS, 0, s>>>(top_e, T * K, counts);
    expert_offsets_kernel<<<1, 1, 0, s>>>(counts, E, offsets);
    expert_place_kernel<<<E, GROUP_THREADS, 0, s>>>(top_e, T * K, offsets, rows, slot_row);
    int rc = gpu_launched("moe group", e);
    cudaFreeAsync(counts, s);
    return rc;
}

__global__ void moe_gather_kernel(const bf16 *x, const int32_t *rows, int n, int K, int D, bf16 *xs) {
    size_t total = (size_t)n * D;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / D, c = i % D;
        xs[i] = x[(size_t)(rows[r] / K) * D + c];
    }
}

extern "C" int gpu_moe_gather(const Bf16 *x, const int32_t *rows, int n, int K, int D, Bf16 *xs, GpuStream s, Err *e) {
    if (n < 0 || K < 1 || D < 1) return err_set(e, "gpu_moe_gather: n=%d K=%d D=%d out of range", n, K, D);
    if (!n) return 0;
    moe_gather_kernel<<<grid_for((size_t)n * D, 256), 256, 0, s>>>(dev(x), rows, n, K, D, dev(xs));
    return gpu_launched("moe gather", e);
}

// One block per token: its K slots ordered by expert (moe.c adds experts in index order), then each column.
__global__ void moe_combine_kernel(const bf16 *eout, const int32_t *top_e, const float *top_w, const int32_t *slot_row,
                                   int K, int D, float *y) {
    __shared__ int order[MAX_K];
    int t = blockIdx.x;
    if (threadIdx.x == 0) moe_slot_order(top_e, t, K, order);
    __syncthreads();
    for (int c = threadIdx.x; c < D; c += blockDim.x) {
        float acc = 0.f;
        for (int k = 0; k < K; k++) {
            size_t slot = (size_t)t * K + order[k];
            acc = __fadd_rn(acc, __fmul_rn(__bfloat162float(eout[(size_t)slot_row[slot] * D + c]), top_w[slot]));
        }
        y[(size_t)t * D + c] = acc;
    }
}

extern "C" int gpu_moe_combine(const Bf16 *eout, const int32_t *top_e, const float *top_w, const int32_t *slot_row,
                               int T, int K, int D, float *y, GpuStream s, Err *e) {
    if (T < 0 || K < 1 || K > MAX_K || D < 1) return err_set(e, "gpu_moe_combine: T=%d K=%d D=%d out of range", T, K, D);
    if (!T) return 0;
    moe_combine_kernel<<<T, 256, 0, s>>>(dev(eout), top_e, top_w, slot_row, K, D, y);
    return gpu_launched("moe combine", e);
}

__global__ void moe_shared_add_kernel(const float *zgate, const bf16 *sout, int T, int D, float *y) {
    size_t n = (size_t)T * D;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float gate = (float)(1.0 / (1.0 + exp(-(double)zgate[i / D])));
        y[i] = __fadd_rn(y[i], __fmul_rn(gate, __bfloat162float(sout[i])));
    }
}

extern "C" int gpu_moe_shared_add(const float *zgate, const Bf16 *sout, int T, int D, float *y, GpuStream s, Err *e) {
    if (T < 0 || D < 1) return err_set(e, "gpu_moe_shared_add: T=%d D=%d out of range", T, D);
    if (!T) return 0;
    moe_shared_add_kernel<<<grid_for((size_t)T * D, 256), 256, 0, s>>>(zgate, dev(sout), T, D, y);
    return gpu_launched("moe shared expert", e);
}

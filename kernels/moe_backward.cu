// The MoE block's backward on the GPU (moe.c moe_backward's twin): the router's logit gradient with the
// load-balancing term, the routed experts' scaled output gradients gathered by expert, the deterministic
// scatter-add of the experts' input gradients back to the tokens, and the shared expert's gate. No atomics: every
// sum belongs to one warp or thread and runs in a fixed order.
#include <math.h>

#include "gpu_util.cuh"
#include "moe_order.cuh"

// A warp's sum of per-lane double partials (fixed butterfly order).
__device__ __forceinline__ double warp_sum_f64(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// One warp per token. dw_k = dy . eout_k (float64), through the top-k renormalisation into dp (the row of dz serves
// as dp first), plus the aux term aux_weight * E * frac_e / moe_rows, then dz = p (dp - sum p dp): the float64
// steps of moe.c in its order (lane 0 walks the E experts; the D-long dot products use the warp).
__global__ void router_backward_kernel(const float *dy, const bf16 *eout, const float *probs, const int32_t *top_e,
                                       const float *top_w, const double *frac, double aux_weight, double moe_rows,
                                       int norm_topk, int T, int E, int K, int D, float *dz) {
    int t = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (t >= T) return;
    const float *g = dy + (size_t)t * D, *p = probs + (size_t)t * E;
    const int32_t *te = top_e + (size_t)t * K;
    const float *tw = top_w + (size_t)t * K;
    float *dp = dz + (size_t)t * E;
    double dw[MAX_K], chosen = 0, wdw = 0;
    for (int k = 0; k < K; k++) {
        const bf16 *out = eout + ((size_t)t * K + k) * D;
        double part = 0;
        for (int i = lane; i < D; i += 32) part += (double)g[i] * (double)__bfloat162float(out[i]);
        dw[k] = warp_sum_f64(part);
        chosen += p[te[k]];
        wdw += dw[k] * tw[k];
    }
    if (lane != 0) return;
    for (int e = 0; e < E; e++) dp[e] = 0.f;
    for (int k = 0; k < K; k++) dp[te[k]] = (float)(norm_topk ? (dw[k] - wdw) / chosen : dw[k]);
    for (int e = 0; e < E; e++) dp[e] = __fadd_rn(dp[e], (float)(aux_weight * E * frac[e] / moe_rows));
    double s = 0;
    for (int e = 0; e < E; e++) s += (double)p[e] * dp[e];
    for (int e = 0; e < E; e++) dp[e] = (float)(p[e] * (dp[e] - s));
}

extern "C" int gpu_moe_router_backward(const float *dy, const Bf16 *eout, const float *probs, const int32_t *top_e,
                                       const float *top_w, const double *expert_frac, double aux_weight,
                                       double moe_rows, int norm_topk, int T, int E, int K, int D, float *dz,
                                       GpuStream s, Err *e) {
    if (T < 0 || E < 1 || K < 1 || K > E || K > MAX_K || D < 1 || !(moe_rows > 0))
        return err_set(e, "gpu_moe_router_backward: T=%d E=%d K=%d D=%d moe_rows=%g out of range", T, E, K, D,
                       moe_rows);
    if (!T) return 0;
    router_backward_kernel<<<(T + 3) / 4, 128, 0, s>>>(dy, dev(eout), probs, top_e, top_w, expert_frac, aux_weight,
                                                       moe_rows, norm_topk, T, E, K, D, dz);
    return gpu_launched("moe router backward", e);
}

// gy[r] = dy[token of slot rows[r]] * top_w[rows[r]] (float product, then bf16: it enters the experts' products).
__global__ void moe_scaled_gather_kernel(const float *dy, const int32_t *rows, const float *top_w, int n, int K, int D,
                                         bf16 *gy) {
    size_t total = (size_t)n * D;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / D, c = i % D;
        int slot = rows[r];
        gy[i] = __float2bfloat16(__fmul_rn(dy[(size_t)(slot / K) * D + c], top_w[slot]));
    }
}

extern "C" int gpu_moe_scaled_gather(const float *dy, const int32_t *rows, const float *top_w, int n, int K, int D,
                                     Bf16 *gy, GpuStream s, Err *e) {
    if (n < 0 || K < 1 || D < 1) return err_set(e, "gpu_moe_scaled_gather: n=%d K=%d D=%d out of range", n, K, D);
    if (!n) return 0;
    moe_scaled_gather_kernel<<<grid_for((size_t)n * D, 256), 256, 0, s>>>(dy, rows, top_w, n, K, D, dev(gy));
    return gpu_launched("moe scaled gather", e);
}

// One block per token: dx[t] += its slots' grouped rows dxs[slot_row[slot]] in expert order, one add at a time into
// dx as moe.c's expert loop adds them.
__global__ void moe_scatter_add_kernel(const float *dxs, const int32_t *top_e, const int32_t *slot_row, int K, int D,
                                       float *dx) {
    __shared__ int order[MAX_K];
    int t = blockIdx.x;
    if (threadIdx.x == 0) moe_slot_order(top_e, t, K, order);
    __syncthreads();
    for (int c = threadIdx.x; c < D; c += blockDim.x) {
        float acc = dx[(size_t)t * D + c];
        for (int k = 0; k < K; k++) acc = __fadd_rn(acc, dxs[(size_t)slot_row[(size_t)t * K + order[k]] * D + c]);
        dx[(size_t)t * D + c] = acc;
    }
}

extern "C" int gpu_moe_scatter_add(const float *dxs, const int32_t *top_e, const int32_t *slot_row, int T, int K,
                                   int D, float *dx, GpuStream s, Err *e) {
    if (T < 0 || K < 1 || K > MAX_K || D < 1)
        return err_set(e, "gpu_moe_scatter_add: T=%d K=%d D=%d out of range", T, K, D);
    if (!T) return 0;
    moe_scatter_add_kernel<<<T, 256, 0, s>>>(dxs, top_e, slot_row, K, D, dx);
    return gpu_launched("moe scatter-add", e);
}

// One warp per token: gate = sigmoid(z) (float64, as moe.c), dsout = gate dy, dz = (dy . sout) gate (1 - gate).
__global__ void moe_shared_backward_kernel(const float *dy, const bf16 *zgate, const bf16 *sout, int T, int D,
                                           float *dsout, float *dzg) {
    int t = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (t >= T) return;
    float gate = (float)(1.0 / (1.0 + exp(-(double)__bfloat162float(zgate[t]))));
    double part = 0;
    for (int i = lane; i < D; i += 32) {
        size_t j = (size_t)t * D + i;
        dsout[j] = __fmul_rn(gate, dy[j]);
        part += (double)dy[j] * (double)__bfloat162float(sout[j]);
    }
    double dgate = warp_sum_f64(part);
    if (lane == 0) dzg[t] = (float)(dgate * gate * (double)(1.0f - gate));
}

extern "C" int gpu_moe_shared_backward(const float *dy, const Bf16 *zgate, const Bf16 *sout, int T, int D,
                                       float *dsout, float *dzg, GpuStream s, Err *e) {
    if (T < 0 || D < 1) return err_set(e, "gpu_moe_shared_backward: T=%d D=%d out of range", T, D);
    if (!T) return 0;
    moe_shared_backward_kernel<<<(T + 3) / 4, 128, 0, s>>>(dy, dev(zgate), dev(sout), T, D, dsout, dzg);
    return gpu_launched("moe shared expert backward", e);
}

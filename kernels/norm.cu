// RMSNorm forward and backward, per token (and per head for Qwen3's q/k norm). One warp per row: lane l sums
// elements l, l+32, ... in order, then a fixed butterfly; a row's statistics never depend on the other rows.
#include "gpu_util.cuh"

#define ROWS_PER_BLOCK 8

__global__ void rms_norm_kernel(const bf16 *x, const bf16 *w, bf16 *y, float *inv, int T, int D, float eps) {
    int row = blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= T) return;
    const bf16 *xr = x + (size_t)row * D;
    float ss = 0.f;
    for (int i = lane; i < D; i += 32) {
        float v = __bfloat162float(xr[i]);
        ss = __fadd_rn(ss, __fmul_rn(v, v));
    }
    ss = warp_sum(ss);
    float r = 1.0f / sqrtf(__fadd_rn(ss / (float)D, eps));
    for (int i = lane; i < D; i += 32)
        y[(size_t)row * D + i] = __float2bfloat16(__fmul_rn(__bfloat162float(w[i]), __fmul_rn(__bfloat162float(xr[i]), r)));
    if (lane == 0) inv[row] = r;
}

// dx += r w dy - r^3 x dot / D, dot = sum_j w_j dy_j x_j (model_backward.c rms_norm_back).
__global__ void rms_norm_dx_kernel(const bf16 *x, const bf16 *w, const float *inv, const float *dy, float *dx, int T,
                                   int D) {
    int row = blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= T) return;
    const bf16 *xr = x + (size_t)row * D;
    const float *g = dy + (size_t)row * D;
    float dot = 0.f;
    for (int i = lane; i < D; i += 32)
        dot = __fadd_rn(dot, __fmul_rn(__fmul_rn(__bfloat162float(w[i]), g[i]), __bfloat162float(xr[i])));
    dot = warp_sum(dot);
    float r = inv[row], c = __fmul_rn(__fmul_rn(__fmul_rn(r, r), r), dot) / (float)D;
    for (int i = lane; i < D; i += 32) {
        float v = __fsub_rn(__fmul_rn(__fmul_rn(r, __bfloat162float(w[i])), g[i]), __fmul_rn(c, __bfloat162float(xr[i])));
        dx[(size_t)row * D + i] = __fadd_rn(dx[(size_t)row * D + i], v);
    }
}

// dw[c] += sum_t dy[t, c] x[t, c] r_t, one thread per column (of width D, over `rows` rows of D), t in order.
__global__ void rms_norm_dw_kernel(const bf16 *x, const float *inv, const float *dy, float *dw, int rows, int D) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= D) return;
    float acc = dw[c];
    for (int t = 0; t < rows; t++) {
        size_t i = (size_t)t * D + c;
        acc = __fadd_rn(acc, __fmul_rn(__fmul_rn(dy[i], __bfloat162float(x[i])), inv[t]));
    }
    dw[c] = acc;
}

static int shape_ok(const char *what, int T, int D, Err *e) {
    if (T < 0 || D < 1) return err_set(e, "%s: shape [%d, %d] out of range", what, T, D);
    return 0;
}

extern "C" int gpu_rms_norm(const Bf16 *x, const Bf16 *w, Bf16 *y, float *inv, int T, int D, float eps, GpuStream s,
                            Err *e) {
    if (shape_ok("gpu_rms_norm", T, D, e)) return -1;
    if (!T) return 0;
    rms_norm_kernel<<<(T + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK, 32 * ROWS_PER_BLOCK, 0, s>>>(dev(x), dev(w), dev(y),
                                                                                             inv, T, D, eps);
    return gpu_launched("rms_norm", e);
}

extern "C" int gpu_rms_norm_backward(const Bf16 *x, const Bf16 *w, const float *inv, const float *dy, float *dx,
                                     float *dw, int T, int D, GpuStream s, Err *e) {
    if (shape_ok("gpu_rms_norm_backward", T, D, e)) return -1;
    if (!T) return 0;
    rms_norm_dx_kernel<<<(T + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK, 32 * ROWS_PER_BLOCK, 0, s>>>(dev(x), dev(w), inv,
                                                                                                dy, dx, T, D);
    if (gpu_launched("rms_norm backward (dx)", e)) return -1;
    rms_norm_dw_kernel<<<(D + 127) / 128, 128, 0, s>>>(dev(x), inv, dy, dw, T, D);
    return gpu_launched("rms_norm backward (dw)", e);
}

extern "C" int gpu_head_norm(const Bf16 *x, const Bf16 *w, Bf16 *y, float *inv, int T, int H, int hd, float eps,
                             GpuStream s, Err *e) {
    if (T < 0 || H < 1) return err_set(e, "gpu_head_norm: %d tokens x %d heads out of range", T, H);
    return gpu_rms_norm(x, w, y, inv, T * H, hd, eps, s, e);
}

extern "C" int gpu_head_norm_backward(const Bf16 *x, const Bf16 *w, const float *inv, const float *dy, float *dx,
                                      float *dw, int T, int H, int hd, GpuStream s, Err *e) {
    if (T < 0 || H < 1) return err_set(e, "gpu_head_norm_backward: %d tokens x %d heads out of range", T, H);
    return gpu_rms_norm_backward(x, w, inv, dy, dx, dw, T * H, hd, s, e);
}

// Element-wise operations of the layer loop: embedding gather and its gradient, SwiGLU's activation and its
// backward, the residual add, casts. Multiplies and adds are written with __fmul_rn/__fadd_rn so the compiler
// cannot fuse them: the arithmetic is the CPU twin's (built with -ffp-contract=off).
#include "gpu_util.cuh"

__global__ void embed_kernel(const bf16 *table, const int32_t *tokens, int T, int D, bf16 *x) {
    size_t n = (size_t)T * D;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        size_t t = i / D, c = i % D;
        x[i] = table[(size_t)tokens[t] * D + c];
    }
}

// One thread per column: dtable[tokens[t], c] += dx[t, c] for t in order (model_backward.c).
__global__ void embed_backward_kernel(const float *dx, const int32_t *tokens, int T, int D, float *dtable) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= D) return;
    for (int t = 0; t < T; t++) {
        float *g = dtable + (size_t)tokens[t] * D + c;
        *g = __fadd_rn(*g, dx[(size_t)t * D + c]);
    }
}

extern "C" int gpu_embed(const Bf16 *table, const int32_t *tokens, int T, int D, Bf16 *x, GpuStream s, Err *e) {
    if (T < 0 || D < 1) return err_set(e, "gpu_embed: shape [%d, %d] out of range", T, D);
    if (!T) return 0;
    embed_kernel<<<grid_for((size_t)T * D, 256), 256, 0, s>>>(dev(table), tokens, T, D, dev(x));
    return gpu_launched("embed", e);
}

extern "C" int gpu_embed_backward(const float *dx, const int32_t *tokens, int T, int D, float *dtable, GpuStream s,
                                  Err *e) {
    if (T < 0 || D < 1) return err_set(e, "gpu_embed_backward: shape [%d, %d] out of range", T, D);
    if (!T) return 0;
    embed_backward_kernel<<<(D + 127) / 128, 128, 0, s>>>(dx, tokens, T, D, dtable);
    return gpu_launched("embed backward", e);
}

// silu(g) = g / (1 + e^-g) in float64, as model/swiglu_act.c (libm exp here, its vector exp there).
__device__ __forceinline__ float silu(float g) { return (float)((double)g / (1.0 + exp(-(double)g))); }
__device__ __forceinline__ float sigmoid(float g) { return (float)(1.0 / (1.0 + exp(-(double)g))); }

__global__ void swiglu_kernel(const bf16 *g, const bf16 *u, bf16 *act, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        act[i] = __float2bfloat16(__fmul_rn(silu(__bfloat162float(g[i])), __bfloat162float(u[i])));
}

__global__ void swiglu_backward_kernel(const float *dact, const bf16 *g, const bf16 *u, float *dg, float *du,
                                       size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float gi = __bfloat162float(g[i]), ui = __bfloat162float(u[i]), d = dact[i], s = sigmoid(gi);
        du[i] = __fmul_rn(__fmul_rn(d, gi), s);
        float dsilu = __fadd_rn(1.0f, __fmul_rn(gi, __fsub_rn(1.0f, s)));  // silu'(g) = s (1 + g (1 - s))
        dg[i] = __fmul_rn(__fmul_rn(__fmul_rn(d, ui), s), dsilu);
    }
}

extern "C" int gpu_swiglu(const Bf16 *g, const Bf16 *u, Bf16 *act, size_t n, GpuStream s, Err *e) {
    if (!n) return 0;
    swiglu_kernel<<<grid_for(n, 256), 256, 0, s>>>(dev(g), dev(u), dev(act), n);
    return gpu_launched("swiglu", e);
}

extern "C" int gpu_swiglu_backward(const float *dact, const Bf16 *g, const Bf16 *u, float *dg, float *du, size_t n,
                                   GpuStream s, Err *e) {
    if (!n) return 0;
    swiglu_backward_kernel<<<grid_for(n, 256), 256, 0, s>>>(dact, dev(g), dev(u), dg, du, n);
    return gpu_launched("swiglu backward", e);
}

template <typename T>
__global__ void add_kernel(bf16 *x, const T *y, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float b;
        if constexpr (sizeof(T) == 2) b = __bfloat162float(y[i]);
        else b = y[i];
        x[i] = __float2bfloat16(__fadd_rn(__bfloat162float(x[i]), b));
    }
}

extern "C" int gpu_add(Bf16 *x, const Bf16 *y, size_t n, GpuStream s, Err *e) {
    if (!n) return 0;
    add_kernel<bf16><<<grid_for(n, 256), 256, 0, s>>>(dev(x), dev(y), n);
    return gpu_launched("add", e);
}

extern "C" int gpu_add_f32(Bf16 *x, const float *y, size_t n, GpuStream s, Err *e) {
    if (!n) return 0;
    add_kernel<float><<<grid_for(n, 256), 256, 0, s>>>(dev(x), y, n);
    return gpu_launched("add", e);
}

__global__ void to_bf16_kernel(const float *x, bf16 *y, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = __float2bfloat16(x[i]);
}

__global__ void to_f32_kernel(const bf16 *x, float *y, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = __bfloat162float(x[i]);
}

extern "C" int gpu_cast_to_bf16(const float *x, Bf16 *y, size_t n, GpuStream s, Err *e) {
    if (!n) return 0;
    to_bf16_kernel<<<grid_for(n, 256), 256, 0, s>>>(x, dev(y), n);
    return gpu_launched("cast to bf16", e);
}

extern "C" int gpu_cast_to_f32(const Bf16 *x, float *y, size_t n, GpuStream s, Err *e) {
    if (!n) return 0;
    to_f32_kernel<<<grid_for(n, 256), 256, 0, s>>>(dev(x), y, n);
    return gpu_launched("cast to f32", e);
}

// Fused log-prob / entropy forward and dL/dlogits backward over [T, V] logits. One block per token row;
// 16-byte vector loads; an online (max, Σe, Σe·(z−max)) triple so each pass reads the row exactly once.
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>

#include "logits_loss.h"

#define THREADS 512
#define UNROLL 4  // 16-byte loads each thread keeps in flight: one at a time leaves HBM under-used

// One block-wide partial of the online softmax statistics: s = Σ e^{z−m}, t = Σ e^{z−m}(z−m).
struct Stats {
    float m, s, t;
};

__device__ __forceinline__ Stats merge(Stats a, Stats b) {
    if (a.s == 0.f) return b;
    if (b.s == 0.f) return a;
    float m = fmaxf(a.m, b.m);
    float ca = __expf(a.m - m), cb = __expf(b.m - m);
    return {m, a.s * ca + b.s * cb, (a.t + (a.m - m) * a.s) * ca + (b.t + (b.m - m) * b.s) * cb};
}

// Adds n values z[0..n) (already scaled by 1/T) to the running statistics.
template <int N>
__device__ __forceinline__ void accumulate(Stats &st, const float (&z)[N]) {
    float vm = z[0];
#pragma unroll
    for (int i = 1; i < N; i++) vm = fmaxf(vm, z[i]);
    if (vm == -INFINITY) return;
    if (vm > st.m) {
        if (st.s > 0.f) {
            float c = __expf(st.m - vm);
            st.t = (st.t + (st.m - vm) * st.s) * c;
            st.s *= c;
        }
        st.m = vm;
    }
#pragma unroll
    for (int i = 0; i < N; i++) {
        float d = z[i] - st.m, e = __expf(d);
        st.s += e;
        st.t += e > 0.f ? e * d : 0.f;
    }
}

// Element access for the two logit types: scalar and 16-byte vector loads/stores.
template <typename T> struct Elem;
template <> struct Elem<float> {
    static constexpr int N = 4;
    __device__ static float get(const float *p) { return *p; }
    __device__ static void put(float *p, float v) { *p = v; }
    __device__ static void load(const float *p, float (&z)[N]) {
        float4 v = *reinterpret_cast<const float4 *>(p);
        z[0] = v.x, z[1] = v.y, z[2] = v.z, z[3] = v.w;
    }
    __device__ static void store(float *p, const float (&g)[N]) {
        *reinterpret_cast<float4 *>(p) = make_float4(g[0], g[1], g[2], g[3]);
    }
};
template <> struct Elem<__nv_bfloat16> {
    static constexpr int N = 8;
    __device__ static float get(const __nv_bfloat16 *p) { return __bfloat162float(*p); }
    __device__ static void put(__nv_bfloat16 *p, float v) { *p = __float2bfloat16(v); }
    __device__ static void load(const __nv_bfloat16 *p, float (&z)[N]) {
        uint4 v = *reinterpret_cast<const uint4 *>(p);
        const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&v);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float2 f = __bfloat1622float2(h[i]);
            z[2 * i] = f.x, z[2 * i + 1] = f.y;
        }
    }
    __device__ static void store(__nv_bfloat16 *p, const float (&g)[N]) {
        uint4 v;
        __nv_bfloat162 *h = reinterpret_cast<__nv_bfloat162 *>(&v);
#pragma unroll
        for (int i = 0; i < 4; i++) h[i] = __floats2bfloat162_rn(g[2 * i], g[2 * i + 1]);
        *reinterpret_cast<uint4 *>(p) = v;
    }
};

// Elements before the first 16-byte boundary of a row (handled one by one).
template <typename T>
__device__ __forceinline__ int64_t head_len(const T *row, int64_t V) {
    int64_t mis = (int64_t)(reinterpret_cast<uintptr_t>(row) & 15);
    int64_t head = mis ? (16 - mis) / (int64_t)sizeof(T) : 0;
    return head < V ? head : V;
}

__device__ Stats block_reduce(Stats st) {
    __shared__ Stats warp_part[THREADS / 32];
    for (int o = 16; o > 0; o >>= 1) {
        Stats other = {__shfl_xor_sync(0xffffffff, st.m, o), __shfl_xor_sync(0xffffffff, st.s, o),
                       __shfl_xor_sync(0xffffffff, st.t, o)};
        st = merge(st, other);
    }
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) warp_part[warp] = st;
    __syncthreads();
    if (warp == 0) {
        st = lane < THREADS / 32 ? warp_part[lane] : Stats{-INFINITY, 0.f, 0.f};
        for (int o = 16; o > 0; o >>= 1) {
            Stats other = {__shfl_xor_sync(0xffffffff, st.m, o), __shfl_xor_sync(0xffffffff, st.s, o),
                           __shfl_xor_sync(0xffffffff, st.t, o)};
            st = merge(st, other);
        }
        if (lane == 0) warp_part[0] = st;
    }
    __syncthreads();
    return warp_part[0];
}

// lse, entropy and stats may each be NULL; stats (the chunked head's) receives (lse, H, 0) per row.
template <typename T>
__global__ void __launch_bounds__(THREADS) forward_kernel(const T *logits, int64_t V, const int32_t *targets,
                                                          float inv_temp, double *logp, double *entropy, double *lse,
                                                          double *stats) {
    const int64_t row = blockIdx.x;
    const T *x = logits + row * V;
    constexpr int N = Elem<T>::N;
    Stats st = {-INFINITY, 0.f, 0.f};
    // The partition depends on V alone, never on where the row lies (row r of an odd V starts off a 16-byte
    // boundary): groups of N from the row's start, thread t taking groups t, t + THREADS, ... in order, then the last
    // V % N elements one by one. An aligned row loads each group as one vector, any other element by element: the
    // same values in the same order, so a row's bits do not depend on its place in the batch (src/README.md
    // invariant 2), and an aligned row's are those of the vector loads alone.
    const int64_t nvec = V / N;
    const bool aligned = (reinterpret_cast<uintptr_t>(x) & 15) == 0;
    auto load = [&](int64_t g, float(&z)[N]) {
        if (aligned) {
            Elem<T>::load(x + g * N, z);
        } else {
#pragma unroll
            for (int k = 0; k < N; k++) z[k] = Elem<T>::get(x + g * N + k);
        }
    };
    int64_t i = threadIdx.x;
    for (; i + (UNROLL - 1) * THREADS < nvec; i += UNROLL * THREADS) {  // UNROLL loads in flight, then their sums
        float z[UNROLL][N];
#pragma unroll
        for (int u = 0; u < UNROLL; u++) load(i + u * THREADS, z[u]);
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
#pragma unroll
            for (int k = 0; k < N; k++) z[u][k] *= inv_temp;
            accumulate(st, z[u]);
        }
    }
    for (; i < nvec; i += THREADS) {
        float z[N];
        load(i, z);
#pragma unroll
        for (int k = 0; k < N; k++) z[k] *= inv_temp;
        accumulate(st, z);
    }
    for (int64_t i = nvec * N + threadIdx.x; i < V; i += THREADS) {
        float z[1] = {Elem<T>::get(x + i) * inv_temp};
        accumulate(st, z);
    }
    st = block_reduce(st);
    if (threadIdx.x == 0) {
        double l = (double)st.m + log((double)st.s), h = log((double)st.s) - (double)st.t / (double)st.s;
        if (lse) lse[row] = l;
        if (entropy) entropy[row] = h;
        if (stats) stats[3 * row] = l, stats[3 * row + 1] = h, stats[3 * row + 2] = 0;
        logp[row] = (double)Elem<T>::get(x + targets[row]) * inv_temp - l;
    }
}

// dL/dz_j = dlogp·(δ_jy − p_j) − dH·p_j·(log p_j + H); dL/dlogit_j = dL/dz_j / T. A row of V columns holds the
// columns v0.. of the whole row (the chunked head's vocabulary slices); lse and entropy of row r are at
// r * stride. A row whose dlogp and dentropy are both 0 gets zeros, as the CPU twin leaves it.
template <typename T, typename U>
__global__ void __launch_bounds__(THREADS) backward_kernel(const T *logits, int64_t V, int64_t v0,
                                                           const int32_t *targets, float inv_temp, const double *lse,
                                                           const double *entropy, int64_t stride, const double *dlogp,
                                                           const double *dentropy, U *dlogits) {
    const int64_t row = blockIdx.x;
    const T *x = logits + row * V;
    U *g = dlogits + row * V;
    if (dlogp[row] == 0 && (!dentropy || dentropy[row] == 0)) {
        for (int64_t i = threadIdx.x; i < V; i += THREADS) Elem<U>::put(g + i, 0.f);
        return;
    }
    // lse as a float pair: rounded to one float (|lse| ~ 12 at V = 151936) it moved every p by up to 1e-6 relative,
    // the fp32 tolerance of tests/test_cuda_logits.c (an H200 run: 1.12e-6 on one row); the pair keeps p to ~1e-7.
    const double lse_r = lse[row * stride];
    const float l_hi = (float)lse_r, l_lo = (float)(lse_r - (double)l_hi);
    const float h = (float)entropy[row * stride], a = (float)dlogp[row] * inv_temp;
    const float b = dentropy ? (float)dentropy[row] * inv_temp : 0.f;
    const int64_t y = (int64_t)targets[row] - v0;
    auto grad = [&](float v, int64_t j) {
        float lp = (v * inv_temp - l_hi) - l_lo, p = __expf(lp);
        return (j == y ? a : 0.f) - a * p - b * p * (lp + h);
    };
    // Vectorised only when input and output rows have the same type and alignment (always for in-place).
    constexpr int N = Elem<T>::N;
    int64_t head = V, nvec = 0;
    if constexpr (sizeof(T) == sizeof(U)) {
        head = head_len(x, V);
        nvec = (V - head) / N;
        if (head != head_len(g, V)) head = V, nvec = 0;
        int64_t i = threadIdx.x;
        for (; i + (UNROLL - 1) * THREADS < nvec; i += UNROLL * THREADS) {  // UNROLL loads in flight
            float z[UNROLL][N], out[N];
#pragma unroll
            for (int u = 0; u < UNROLL; u++) Elem<T>::load(x + head + (i + u * THREADS) * N, z[u]);
#pragma unroll
            for (int u = 0; u < UNROLL; u++) {
                int64_t j0 = head + (i + u * THREADS) * N;
#pragma unroll
                for (int k = 0; k < N; k++) out[k] = grad(z[u][k], j0 + k);
                Elem<U>::store(g + j0, out);
            }
        }
        for (; i < nvec; i += THREADS) {
            float z[N], out[N];
            int64_t j0 = head + i * N;
            Elem<T>::load(x + j0, z);
#pragma unroll
            for (int k = 0; k < N; k++) out[k] = grad(z[k], j0 + k);
            Elem<U>::store(g + j0, out);
        }
    }
    for (int64_t i = threadIdx.x; i < head; i += THREADS) Elem<U>::put(g + i, grad(Elem<T>::get(x + i), i));
    for (int64_t i = head + nvec * N + threadIdx.x; i < V; i += THREADS) Elem<U>::put(g + i, grad(Elem<T>::get(x + i), i));
}

static int check(cudaError_t rc, const char *what, Err *e) {
    if (rc == cudaSuccess) return 0;
    return err_set(e, "CUDA %s: %s", what, cudaGetErrorString(rc));
}

extern "C" int cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
    return n;
}

extern "C" void cuda_device_name(char *buf, int len) {
    cudaDeviceProp prop;
    if (len > 0) buf[0] = 0;
    if (cuda_device_count() > 0 && cudaGetDeviceProperties(&prop, 0) == cudaSuccess) snprintf(buf, len, "%s", prop.name);
}

static int check_shape(int64_t T, int64_t V, double temperature, Err *e) {
    if (T < 0 || V < 1 || T > 2147483647) return err_set(e, "logits shape [%lld, %lld] out of range", (long long)T, (long long)V);
    if (!(temperature > 0)) return err_set(e, "temperature %g must be > 0", temperature);
    return 0;
}

static int launch_forward(const void *logits, LogitsDtype dtype, int64_t T, int64_t V, const int32_t *targets,
                          double temperature, double *logp, double *entropy, double *lse, double *stats, Err *e) {
    float inv = (float)(1.0 / temperature);
    if (dtype == LOGITS_F32)
        forward_kernel<float>
            <<<(unsigned)T, THREADS>>>((const float *)logits, V, targets, inv, logp, entropy, lse, stats);
    else
        forward_kernel<__nv_bfloat16>
            <<<(unsigned)T, THREADS>>>((const __nv_bfloat16 *)logits, V, targets, inv, logp, entropy, lse, stats);
    return check(cudaGetLastError(), "forward launch", e);
}

// Columns v0..v0+V of T rows (stride: where lse/entropy of the next row are).
static int launch_backward(const void *logits, LogitsDtype dtype, int64_t T, int64_t V, int64_t v0,
                           const int32_t *targets, double temperature, const double *lse, const double *entropy,
                           int64_t stride, const double *dlogp, const double *dentropy, void *dlogits,
                           LogitsDtype out_dtype, Err *e) {
    float inv = (float)(1.0 / temperature);
    dim3 grid((unsigned)T);
    if (dtype == LOGITS_F32 && out_dtype == LOGITS_F32)
        backward_kernel<float, float><<<grid, THREADS>>>((const float *)logits, V, v0, targets, inv, lse, entropy,
                                                         stride, dlogp, dentropy, (float *)dlogits);
    else if (dtype == LOGITS_F32)
        backward_kernel<float, __nv_bfloat16><<<grid, THREADS>>>((const float *)logits, V, v0, targets, inv, lse,
                                                                 entropy, stride, dlogp, dentropy,
                                                                 (__nv_bfloat16 *)dlogits);
    else if (out_dtype == LOGITS_F32)
        backward_kernel<__nv_bfloat16, float><<<grid, THREADS>>>((const __nv_bfloat16 *)logits, V, v0, targets, inv,
                                                                 lse, entropy, stride, dlogp, dentropy,
                                                                 (float *)dlogits);
    else
        backward_kernel<__nv_bfloat16, __nv_bfloat16><<<grid, THREADS>>>((const __nv_bfloat16 *)logits, V, v0,
                                                                         targets, inv, lse, entropy, stride, dlogp,
                                                                         dentropy, (__nv_bfloat16 *)dlogits);
    return check(cudaGetLastError(), "backward launch", e);
}

extern "C" int cuda_logits_forward(const void *logits, LogitsDtype dtype, int64_t T, int64_t V, const int32_t *targets,
                                   double temperature, double *logp, double *entropy, double *lse, Err *e) {
    if (check_shape(T, V, temperature, e)) return -1;
    if (T == 0) return 0;
    return launch_forward(logits, dtype, T, V, targets, temperature, logp, entropy, lse, NULL, e);
}

extern "C" int cuda_logits_backward(const void *logits, LogitsDtype dtype, int64_t T, int64_t V, const int32_t *targets,
                                    double temperature, const double *lse, const double *entropy, const double *dlogp,
                                    const double *dentropy, void *dlogits, LogitsDtype out_dtype, Err *e) {
    if (check_shape(T, V, temperature, e)) return -1;
    if (logits == dlogits && dtype != out_dtype) return err_set(e, "in-place backward needs equal dtypes");
    if (T == 0) return 0;
    return launch_backward(logits, dtype, T, V, 0, targets, temperature, lse, entropy, 1, dlogp, dentropy, dlogits,
                           out_dtype, e);
}

extern "C" int cuda_head_forward(const void *logits, LogitsDtype dtype, int64_t T, int64_t V, const int32_t *targets,
                                 double temperature, double *logp, double *entropy, double *stats, Err *e) {
    if (check_shape(T, V, temperature, e)) return -1;
    if (T == 0) return 0;
    return launch_forward(logits, dtype, T, V, targets, temperature, logp, entropy, NULL, stats, e);
}

extern "C" int cuda_head_backward(const void *logits, LogitsDtype dtype, int64_t T, int64_t v0, int64_t nv,
                                  const int32_t *targets, double temperature, const double *stats, const double *dlogp,
                                  const double *dentropy, void *dlogits, LogitsDtype out_dtype, Err *e) {
    if (check_shape(T, nv, temperature, e)) return -1;
    if (v0 < 0) return err_set(e, "head backward: column offset %lld < 0", (long long)v0);
    if (logits == dlogits && dtype != out_dtype) return err_set(e, "in-place backward needs equal dtypes");
    if (T == 0) return 0;
    return launch_backward(logits, dtype, T, nv, v0, targets, temperature, stats, stats + 1, 3, dlogp, dentropy,
                           dlogits, out_dtype, e);
}

// Sum of four uniforms from a 64-bit hash of (seed, i): cheap, reproducible, roughly normal.
template <typename T>
__global__ void fill_kernel(T *x, int64_t n, uint64_t seed, float scale) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        uint64_t h = (uint64_t)i * 0x9E3779B97F4A7C15ull ^ seed;
        h ^= h >> 31, h *= 0xBF58476D1CE4E5B9ull, h ^= h >> 29, h *= 0x94D049BB133111EBull, h ^= h >> 32;
        float u = (float)(h & 0xffff) + (float)((h >> 16) & 0xffff) + (float)((h >> 32) & 0xffff) + (float)(h >> 48);
        float v = (u / 65535.f - 2.f) * 1.7320508f * scale;
        if constexpr (sizeof(T) == 4) x[i] = v;
        else x[i] = __float2bfloat16(v);
    }
}

extern "C" int cuda_fill_random(void *x, LogitsDtype dtype, int64_t n, uint64_t seed, float scale, Err *e) {
    if (dtype == LOGITS_F32) fill_kernel<float><<<4096, 256>>>((float *)x, n, seed, scale);
    else fill_kernel<__nv_bfloat16><<<4096, 256>>>((__nv_bfloat16 *)x, n, seed, scale);
    return check(cudaGetLastError(), "fill launch", e);
}

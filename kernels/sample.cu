// The sampler's draw on the device (ops.h gpu_sample), twin of src/model/sample_filter.c sample_pick: one block per
// draw reads its row of logits and writes one token, so a decode step's [n, V] logits never leave the device.
// The kept set is found by threshold searches over the ranking key instead of a sort: a token's key orders it as the
// CPU ranks it (weight descending, lower id first on ties), and the top-k / top-p cut is the key of the last kept
// token; each search finds the logit first (a bf16 row's key: 16-bit prefix), then the id among its ties. Every sum
// is over a fixed partition of the row (thread i takes a fixed part, warps combine in a fixed butterfly, warp
// results in order), so a draw never depends on the other rows or on n (src/README.md invariant 2).
// Differences from the CPU: exp is CUDA's (within 1 ulp of glibc's) and the sums run in another order, so weights
// and sums can differ in their last bits; the chosen token differs only where the uniform or the top-p mass lands
// within such a rounding of a boundary (results/gpu.md "Sampling on the device").
#include <stdint.h>

#include "gpu_util.cuh"

#define SAMPLE_THREADS 512
#define SAMPLE_WARPS (SAMPLE_THREADS / 32)

struct SampleArgs {
    int V, top_k;
    double temperature, top_p;
};

__device__ __forceinline__ float logit_at(const float *row, int i) { return row[i]; }
__device__ __forceinline__ float logit_at(const bf16 *row, int i) { return __bfloat162float(row[i]); }

// Larger key = ranked first: the logit's order (float bits made monotone as unsigned), then the lower id. The weight
// exp((l - max) / T) is monotone in l, so this is the CPU's ranking by (weight desc, id asc).
__device__ __forceinline__ uint64_t rank_key(float l, int i) {
    uint32_t u = l == 0.0f ? 0u : __float_as_uint(l);  // -0 ranks as +0: their weights are equal
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ((uint64_t)u << 32) | (uint32_t)(0xffffffffu - (uint32_t)i);
}

// Block-wide sum (double) and count: lanes in a fixed butterfly, then warp results in order by thread 0; every
// thread gets the result. `red` is shared scratch of SAMPLE_WARPS doubles.
__device__ double block_sum(double v, double *red) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();  // red may still be read by the previous call
    if (lane == 0) red[warp] = v;
    __syncthreads();
    if (threadIdx.x == 0) {
        double s = 0;
        for (int w = 0; w < SAMPLE_WARPS; w++) s += red[w];
        red[0] = s;
    }
    __syncthreads();
    return red[0];
}

// The weight of token i: exp((l_i - max) / T) in double, as sample_filter computes it.
__device__ __forceinline__ double weight(float l, float mx, double T) { return exp(((double)l - (double)mx) / T); }

// Mass of the tokens ranked at or above cut (key >= cut).
template <typename X>
__device__ double mass_from(const X *row, const SampleArgs &a, float mx, uint64_t cut, double *red) {
    double s = 0;
    for (int i = threadIdx.x; i < a.V; i += SAMPLE_THREADS) {
        float l = logit_at(row, i);
        if (rank_key(l, i) >= cut) s += weight(l, mx, a.temperature);
    }
    return block_sum(s, red);
}

template <typename X>
__device__ double count_from(const X *row, const SampleArgs &a, uint64_t cut, double *red) {
    double c = 0;  // counts up to V < 2^31 are exact in double
    for (int i = threadIdx.x; i < a.V; i += SAMPLE_THREADS) c += rank_key(logit_at(row, i), i) >= cut ? 1.0 : 0.0;
    return block_sum(c, red);
}

// The largest key among the tokens whose key's top `bits` bits are p (at least one has them).
template <typename X>
__device__ uint64_t top_key_with_prefix(const X *row, const SampleArgs &a, uint64_t p, int bits, uint64_t *ured) {
    uint64_t best = 0;
    for (int i = threadIdx.x; i < a.V; i += SAMPLE_THREADS) {
        uint64_t k = rank_key(logit_at(row, i), i);
        if (k >> (64 - bits) == p && k > best) best = k;
    }
    for (int o = 16; o > 0; o >>= 1) {
        uint64_t other = __shfl_xor_sync(0xffffffffu, best, o);
        best = other > best ? other : best;
    }
    __syncthreads();
    if ((threadIdx.x & 31) == 0) ured[threadIdx.x >> 5] = best;
    __syncthreads();
    if (threadIdx.x == 0)
        for (int w = 1; w < SAMPLE_WARPS; w++) ured[0] = ured[w] > ured[0] ? ured[w] : ured[0];
    __syncthreads();
    return ured[0];
}

// The largest c in [lo, hi] with f(c) >= goal, f non-increasing and f(lo) >= goal: binary search, every thread
// taking the same steps.
template <typename F>
__device__ uint64_t largest_at_least(uint64_t lo, uint64_t hi, double goal, F f) {
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2 + (hi - lo) % 2;  // upper middle, no overflow
        if (f(mid) >= goal)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

// The largest cut >= lo with f(cut) >= goal, f(c) the count or mass of the tokens with key >= c (f(lo) >= goal).
// First the logit: the key's top `bits` bits (16 for bf16 rows, whose floats have 16 zero low bits, so a 16-bit
// prefix is one logit; 32 for fp32), then the id among the tokens tied at that logit (a range of at most V keys).
template <typename X, typename F>
__device__ uint64_t largest_cut(const X *row, const SampleArgs &a, uint64_t lo, int bits, double goal,
                                uint64_t *ured, F f) {
    int shift = 64 - bits;
    uint64_t p = largest_at_least(lo >> shift, UINT64_MAX >> shift, goal, [&](uint64_t q) { return f(q << shift); });
    uint64_t value = top_key_with_prefix(row, a, p, bits, ured) >> 32;  // the logit's 32 bits of the key
    uint64_t first = (value << 32) | (uint32_t)(0xffffffffu - (uint32_t)(a.V - 1));  // its token of the highest id
    return largest_at_least(first > lo ? first : lo, (value << 32) | 0xffffffffu, goal, f);
}

template <typename X>
__global__ void sample_kernel(const X *logits, SampleArgs a, const int32_t *rows, const double *uniform,
                              int32_t *token, int32_t *target) {
    __shared__ double red[SAMPLE_WARPS];
    __shared__ uint64_t ured[SAMPLE_WARPS];
    __shared__ double chunk[SAMPLE_THREADS];
    __shared__ float best_v[SAMPLE_THREADS];
    __shared__ int best_i[SAMPLE_THREADS], bad_any;
    __shared__ int pick;
    const int k = blockIdx.x, t = threadIdx.x;
    const X *row = logits + (size_t)rows[k] * (size_t)a.V;

    // Finite check and the argmax, lowest id on ties (exact: comparisons only).
    float bv = -INFINITY;
    int bi = a.V, bad = 0;
    for (int i = t; i < a.V; i += SAMPLE_THREADS) {
        float l = logit_at(row, i);
        if (!isfinite(l)) bad = 1;
        if (l > bv || (l == bv && i < bi)) bv = l, bi = i;
    }
    if (t == 0) bad_any = 0;
    __syncthreads();
    if (bad) bad_any = 1;
    best_v[t] = bv, best_i[t] = bi;
    __syncthreads();
    if (t == 0) {
        for (int j = 1; j < SAMPLE_THREADS; j++)
            if (best_v[j] > best_v[0] || (best_v[j] == best_v[0] && best_i[j] < best_i[0]))
                best_v[0] = best_v[j], best_i[0] = best_i[j];
    }
    __syncthreads();
    if (bad_any) {
        if (t == 0) token[k] = -1, target[k] = 0;
        return;
    }
    const float mx = best_v[0];
    if (a.temperature == 0) {
        if (t == 0) token[k] = target[k] = best_i[0];
        return;
    }

    // The kept set: tokens with key >= cut (cut 0: all).
    uint64_t cut = 0;
    const int bits = sizeof(X) == 2 ? 16 : 32;
    if (a.top_k > 0 && a.top_k < a.V)
        cut = largest_cut(row, a, 0, bits, (double)a.top_k, ured, [&](uint64_t c) { return count_from(row, a, c, red); });
    if (a.top_p < 1) {
        // The smallest head of the ranking (within the top-k) holding top_p of the head's (or the row's) mass.
        double goal = a.top_p * mass_from(row, a, mx, cut, red);
        cut = largest_cut(row, a, cut, bits, goal, ured, [&](uint64_t c) { return mass_from(row, a, mx, c, red); });
    }

    // The draw: the first kept token (in id order) whose running mass exceeds u * total, as categorical_pick. Thread
    // j sums the contiguous chunk j of the row; thread 0 finds the chunk the target falls in; its owner walks it.
    const int per = (a.V + SAMPLE_THREADS - 1) / SAMPLE_THREADS;
    const int i0 = t * per < a.V ? t * per : a.V, i1 = i0 + per < a.V ? i0 + per : a.V;
    double s = 0;
    for (int i = i0; i < i1; i++) {
        float l = logit_at(row, i);
        if (rank_key(l, i) >= cut) s += weight(l, mx, a.temperature);
    }
    chunk[t] = s;
    __syncthreads();
    if (t == 0) {
        double total = 0;
        for (int j = 0; j < SAMPLE_THREADS; j++) total += chunk[j];
        double goal = uniform[k] * total, acc = 0;
        int at = -1, last = 0;
        for (int j = 0; j < SAMPLE_THREADS; j++) {
            double before = acc;
            acc += chunk[j];
            if (chunk[j] > 0) last = j;
            if (at < 0 && goal < acc) at = j, red[0] = before;
        }
        if (at < 0) at = last, red[0] = acc - chunk[last];  // the rounding gap at the top: the last kept token
        pick = at;
        red[1] = goal;
    }
    __syncthreads();
    if (t == pick) {
        double acc = red[0], goal = red[1];
        int chosen = -1, last = -1;
        for (int i = i0; i < i1 && chosen < 0; i++) {
            float l = logit_at(row, i);
            if (rank_key(l, i) < cut) continue;
            double w = weight(l, mx, a.temperature);
            if (w <= 0) continue;
            acc += w;
            last = i;
            if (goal < acc) chosen = i;
        }
        if (chosen < 0) chosen = last >= 0 ? last : best_i[0];
        token[k] = target[k] = chosen;
    }
}

extern "C" int gpu_sample(const void *logits, GpuDtype dtype, int V, int n, const int32_t *rows,
                          const double *uniform, double temperature, int top_k, double top_p, int32_t *token,
                          int32_t *target, GpuStream s, Err *e) {
    if (n <= 0) return 0;
    if (V < 1) return err_set(e, "gpu_sample: vocabulary size %d", V);
    SampleArgs a = {V, top_k, temperature, top_p};
    cudaStream_t st = (cudaStream_t)s;
    if (dtype == GPU_BF16)
        sample_kernel<<<n, SAMPLE_THREADS, 0, st>>>(dev((const Bf16 *)logits), a, rows, uniform, token, target);
    else
        sample_kernel<<<n, SAMPLE_THREADS, 0, st>>>((const float *)logits, a, rows, uniform, token, target);
    return gpu_launched("sample", e);
}

// Causal attention over a KV cache, forward and backward (attention.c's twin). One warp per (query token, head):
// lane l scores key j0 + l of each block of 32 keys (a dot product over d in order), the block's max and sum
// are fixed butterflies, and the output dimensions (lane l owns d = l, l + 32, ...) add the block's values in key
// order. Blocks start at key 0 and run to the query's position whatever else is in the batch, so training,
// prefill and decode give a query the same bits. The backward recomputes the probabilities from the saved
// log-sum-exp: dq per query over its keys, dk and dv per key over its queries, each in a fixed order, no atomics.
#include <math.h>

#include "gpu_util.cuh"

#define WARPS 4
#define MAX_HD 256
#define PER_LANE (MAX_HD / 32)

// sum_d a[d] * b[d] in d order (a in shared memory as float, b a bf16 or float row in global memory).
__device__ __forceinline__ float dot_row(const float *a, const bf16 *b, int hd) {
    float s = 0.f;
    int d = 0;
    if (((uintptr_t)b & 15) == 0)
        for (; d + 8 <= hd; d += 8) {
            uint4 raw = *reinterpret_cast<const uint4 *>(b + d);
            const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&raw);
#pragma unroll
            for (int i = 0; i < 4; i++) {
                float2 f = __bfloat1622float2(h[i]);
                s = fmaf(a[d + 2 * i], f.x, s);
                s = fmaf(a[d + 2 * i + 1], f.y, s);
            }
        }
    for (; d < hd; d++) s = fmaf(a[d], __bfloat162float(b[d]), s);
    return s;
}
__device__ __forceinline__ float dot_row(const float *a, const float *b, int hd) {
    float s = 0.f;
    for (int d = 0; d < hd; d++) s = fmaf(a[d], b[d], s);
    return s;
}

template <typename T>
__device__ __forceinline__ void to_shared(float *dst, const T *src, int hd, int lane) {
    for (int d = lane; d < hd; d += 32) {
        if constexpr (sizeof(T) == 2) dst[d] = __bfloat162float(src[d]);
        else dst[d] = src[d];
    }
    __syncwarp();
}

__global__ void __launch_bounds__(WARPS * 32) attention_kernel(const bf16 *q, const bf16 *kbuf, const bf16 *vbuf,
                                                                const int32_t *pos, const int64_t *row0, int T, int Hq,
                                                                int Hk, int hd, float scale, bf16 *out, double *lse) {
    __shared__ float qs_all[WARPS][MAX_HD];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int64_t item = (int64_t)blockIdx.x * WARPS + warp;
    if (item >= (int64_t)T * Hq) return;
    int t = (int)(item / Hq), h = (int)(item % Hq), kh = h / (Hq / Hk), KD = Hk * hd;
    float *qs = qs_all[warp];
    to_shared(qs, q + (size_t)t * Hq * hd + (size_t)h * hd, hd, lane);
    const bf16 *kb = kbuf + (size_t)row0[t] * KD + (size_t)kh * hd, *vb = vbuf + (size_t)row0[t] * KD + (size_t)kh * hd;
    int n = pos[t] + 1;
    float m = -INFINITY, l = 0.f, acc[PER_LANE];
#pragma unroll
    for (int i = 0; i < PER_LANE; i++) acc[i] = 0.f;
    for (int j0 = 0; j0 < n; j0 += 32) {
        int j = j0 + lane;
        float sc = j < n ? dot_row(qs, kb + (size_t)j * KD, hd) * scale : -INFINITY;
        float mn = fmaxf(m, warp_max(sc));
        float corr = m == -INFINITY ? 0.f : expf(m - mn);
        float p = j < n ? expf(sc - mn) : 0.f;
        l = l * corr + warp_sum(p);
#pragma unroll
        for (int i = 0; i < PER_LANE; i++) acc[i] *= corr;
        int nb = n - j0 < 32 ? n - j0 : 32;
        for (int jj = 0; jj < nb; jj++) {
            float pj = __shfl_sync(0xffffffffu, p, jj);
            const bf16 *vr = vb + (size_t)(j0 + jj) * KD;
#pragma unroll
            for (int i = 0; i < PER_LANE; i++) {
                int d = lane + 32 * i;
                if (d < hd) acc[i] = fmaf(pj, __bfloat162float(vr[d]), acc[i]);
            }
        }
        m = mn;
    }
    bf16 *o = out + (size_t)t * Hq * hd + (size_t)h * hd;
#pragma unroll
    for (int i = 0; i < PER_LANE; i++) {
        int d = lane + 32 * i;
        if (d < hd) o[d] = __float2bfloat16(acc[i] / l);
    }
    if (lane == 0) lse[(size_t)t * Hq + h] = (double)m + log((double)l);
}

__global__ void kv_store_kernel(const bf16 *k, const bf16 *v, const int32_t *pos, const int64_t *row0, int T, int KD,
                                bf16 *kbuf, bf16 *vbuf) {
    size_t n = (size_t)T * KD;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        size_t t = i / KD, c = i % KD, row = (size_t)(row0[t] + pos[t]);
        kbuf[row * KD + c] = k[i];
        vbuf[row * KD + c] = v[i];
    }
}

static int check_heads(const char *what, int T, int Hq, int Hk, int hd, Err *e) {
    if (T < 0 || Hq < 1 || Hk < 1 || Hq % Hk || hd < 1 || hd > MAX_HD)
        return err_set(e, "%s: T=%d Hq=%d Hk=%d head_dim=%d out of range (Hq a multiple of Hk, head_dim <= %d)", what, T,
                       Hq, Hk, hd, MAX_HD);
    return 0;
}

extern "C" int gpu_kv_store(const Bf16 *k, const Bf16 *v, const int32_t *pos, const int64_t *row0, int T, int KD,
                            Bf16 *kbuf, Bf16 *vbuf, GpuStream s, Err *e) {
    if (T < 0 || KD < 1) return err_set(e, "gpu_kv_store: T=%d KD=%d out of range", T, KD);
    if (!T) return 0;
    kv_store_kernel<<<grid_for((size_t)T * KD, 256), 256, 0, s>>>(dev(k), dev(v), pos, row0, T, KD, dev(kbuf), dev(vbuf));
    return gpu_launched("kv store", e);
}

extern "C" int gpu_attention(const Bf16 *q, const Bf16 *kbuf, const Bf16 *vbuf, const int32_t *pos, const int64_t *row0,
                             int T, int Hq, int Hk, int hd, Bf16 *out, double *lse, GpuStream s, Err *e) {
    if (check_heads("gpu_attention", T, Hq, Hk, hd, e)) return -1;
    if (!T) return 0;
    float scale = (float)(1.0 / sqrt((double)hd));
    int64_t items = (int64_t)T * Hq;
    attention_kernel<<<(unsigned)((items + WARPS - 1) / WARPS), WARPS * 32, 0, s>>>(
        dev(q), dev(kbuf), dev(vbuf), pos, row0, T, Hq, Hk, hd, scale, dev(out), lse);
    return gpu_launched("attention", e);
}

// The sequence holding token t: s with seq_offsets[s] <= t < seq_offsets[s + 1].
__device__ __forceinline__ int seq_of(const int64_t *off, int n_seqs, int64_t t) {
    int lo = 0, hi = n_seqs - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (off[mid] <= t) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

// delta[t, h] = dout · out over the head's dimensions (lane partials, then a butterfly).
__global__ void delta_kernel(const bf16 *out, const float *dout, int T, int Hq, int hd, float *delta) {
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int64_t item = (int64_t)blockIdx.x * WARPS + warp;
    if (item >= (int64_t)T * Hq) return;
    size_t base = (size_t)item * hd;
    float s = 0.f;
    for (int d = lane; d < hd; d += 32) s = fmaf(dout[base + d], __bfloat162float(out[base + d]), s);
    s = warp_sum(s);
    if (lane == 0) delta[item] = s;
}

// dq of query (t, h): sum over keys j <= t of ds_j k_j, ds_j = p_j (dout · v_j - delta) scale.
__global__ void __launch_bounds__(WARPS * 32) attention_dq_kernel(const bf16 *q, const bf16 *k, const bf16 *v,
                                                                   const double *lse, const float *dout,
                                                                   const float *delta, const int64_t *seq_offsets,
                                                                   int n_seqs, int T, int Hq, int Hk, int hd,
                                                                   float scale, float *dq) {
    __shared__ float qs_all[WARPS][MAX_HD], gs_all[WARPS][MAX_HD];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int64_t item = (int64_t)blockIdx.x * WARPS + warp;
    if (item >= (int64_t)T * Hq) return;
    int t = (int)(item / Hq), h = (int)(item % Hq), kh = h / (Hq / Hk), KD = Hk * hd;
    float *qs = qs_all[warp], *gs = gs_all[warp];
    to_shared(qs, q + (size_t)item * hd, hd, lane);
    to_shared(gs, dout + (size_t)item * hd, hd, lane);
    int64_t s0 = seq_offsets[seq_of(seq_offsets, n_seqs, t)];
    float l = (float)lse[item], dl = delta[item], acc[PER_LANE];
#pragma unroll
    for (int i = 0; i < PER_LANE; i++) acc[i] = 0.f;
    for (int64_t j0 = s0; j0 <= t; j0 += 32) {
        int64_t j = j0 + lane;
        float ds = 0.f;
        if (j <= t) {
            size_t kv = (size_t)j * KD + (size_t)kh * hd;
            float p = expf(dot_row(qs, k + kv, hd) * scale - l);
            ds = p * (dot_row(gs, v + kv, hd) - dl) * scale;
        }
        int nb = t - j0 + 1 < 32 ? (int)(t - j0 + 1) : 32;
        for (int jj = 0; jj < nb; jj++) {
            float dsj = __shfl_sync(0xffffffffu, ds, jj);
            const bf16 *kr = k + (size_t)(j0 + jj) * KD + (size_t)kh * hd;
#pragma unroll
            for (int i = 0; i < PER_LANE; i++) {
                int d = lane + 32 * i;
                if (d < hd) acc[i] = fmaf(dsj, __bfloat162float(kr[d]), acc[i]);
            }
        }
    }
#pragma unroll
    for (int i = 0; i < PER_LANE; i++) {
        int d = lane + 32 * i;
        if (d < hd) dq[(size_t)item * hd + d] += acc[i];
    }
}

// dk, dv of key (j, kv head kh): sums over the group's query heads, then its queries t >= j in order.
__global__ void __launch_bounds__(WARPS * 32) attention_dkdv_kernel(const bf16 *q, const bf16 *k, const bf16 *v,
                                                                     const double *lse, const float *dout,
                                                                     const float *delta, const int64_t *seq_offsets,
                                                                     int n_seqs, int T, int Hq, int Hk, int hd,
                                                                     float scale, float *dk, float *dv) {
    __shared__ float ks_all[WARPS][MAX_HD], vs_all[WARPS][MAX_HD];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int64_t item = (int64_t)blockIdx.x * WARPS + warp;
    if (item >= (int64_t)T * Hk) return;
    int j = (int)(item / Hk), kh = (int)(item % Hk), group = Hq / Hk;
    float *ks = ks_all[warp], *vs = vs_all[warp];
    to_shared(ks, k + (size_t)item * hd, hd, lane);
    to_shared(vs, v + (size_t)item * hd, hd, lane);
    int64_t s1 = seq_offsets[seq_of(seq_offsets, n_seqs, j) + 1];
    float ak[PER_LANE], av[PER_LANE];
#pragma unroll
    for (int i = 0; i < PER_LANE; i++) ak[i] = av[i] = 0.f;
    for (int h = kh * group; h < (kh + 1) * group; h++)
        for (int64_t t0 = j; t0 < s1; t0 += 32) {
            int64_t t = t0 + lane;
            float p = 0.f, ds = 0.f;
            if (t < s1) {
                size_t qi = (size_t)t * Hq + h;
                p = expf(dot_row(ks, q + qi * hd, hd) * scale - (float)lse[qi]);
                ds = p * (dot_row(vs, dout + qi * hd, hd) - delta[qi]) * scale;
            }
            int nb = s1 - t0 < 32 ? (int)(s1 - t0) : 32;
            for (int tt = 0; tt < nb; tt++) {
                float pt = __shfl_sync(0xffffffffu, p, tt), dst = __shfl_sync(0xffffffffu, ds, tt);
                size_t qi = ((size_t)(t0 + tt) * Hq + h) * hd;
#pragma unroll
                for (int i = 0; i < PER_LANE; i++) {
                    int d = lane + 32 * i;
                    if (d < hd) {
                        av[i] = fmaf(pt, dout[qi + d], av[i]);
                        ak[i] = fmaf(dst, __bfloat162float(q[qi + d]), ak[i]);
                    }
                }
            }
        }
#pragma unroll
    for (int i = 0; i < PER_LANE; i++) {
        int d = lane + 32 * i;
        if (d < hd) dk[(size_t)item * hd + d] += ak[i], dv[(size_t)item * hd + d] += av[i];
    }
}

extern "C" int gpu_attention_backward(const Bf16 *q, const Bf16 *k, const Bf16 *v, const Bf16 *out, const double *lse,
                                      const float *dout, const int64_t *seq_offsets, int n_seqs, int T, int Hq, int Hk,
                                      int hd, float *dq, float *dk, float *dv, GpuStream s, Err *e) {
    if (check_heads("gpu_attention_backward", T, Hq, Hk, hd, e)) return -1;
    if (n_seqs < 1) return err_set(e, "gpu_attention_backward: %d sequences", n_seqs);
    if (!T) return 0;
    float scale = (float)(1.0 / sqrt((double)hd)), *delta = NULL;
    if (gpu_status(cudaMallocAsync((void **)&delta, (size_t)T * Hq * sizeof(float), s), "scratch allocation", e)) return -1;
    int64_t qitems = (int64_t)T * Hq, kitems = (int64_t)T * Hk;
    unsigned qblocks = (unsigned)((qitems + WARPS - 1) / WARPS), kblocks = (unsigned)((kitems + WARPS - 1) / WARPS);
    delta_kernel<<<qblocks, WARPS * 32, 0, s>>>(dev(out), dout, T, Hq, hd, delta);
    attention_dq_kernel<<<qblocks, WARPS * 32, 0, s>>>(dev(q), dev(k), dev(v), lse, dout, delta, seq_offsets, n_seqs, T,
                                                       Hq, Hk, hd, scale, dq);
    attention_dkdv_kernel<<<kblocks, WARPS * 32, 0, s>>>(dev(q), dev(k), dev(v), lse, dout, delta, seq_offsets, n_seqs,
                                                         T, Hq, Hk, hd, scale, dk, dv);
    int rc = gpu_launched("attention backward", e);
    cudaFreeAsync(delta, s);
    return rc;
}

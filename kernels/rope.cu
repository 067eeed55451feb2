// Rotary embedding (Su et al. 2021) in the HF rotate-half layout, in place, as model_layers.c rope_rows: inv_freq
// from the host in the CPU's arithmetic, angle = pos * inv_freq in float, cos/sin in float64, rounded to float.
#include <math.h>

#include "gpu_util.cuh"

#define MAX_HALF 256

struct InvFreq {
    float f[MAX_HALF];
};

template <typename T>
__device__ __forceinline__ float ld(const T *p) {
    if constexpr (sizeof(T) == 2) return __bfloat162float(*p);
    else return *p;
}
template <typename T>
__device__ __forceinline__ void st(T *p, float v) {
    if constexpr (sizeof(T) == 2) *p = __float2bfloat16(v);
    else *p = v;
}

// One thread per (token, i < hd/2): the pair (i, i + hd/2) of every head of the token.
template <typename T>
__global__ void rope_kernel(T *x, const int32_t *pos, int T_, int H, int hd, InvFreq inv_freq, int inverse) {
    int half = hd / 2;
    size_t n = (size_t)T_ * half;
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n; k += (size_t)gridDim.x * blockDim.x) {
        int t = (int)(k / half), i = (int)(k % half);
        float angle = __fmul_rn((float)pos[t], inv_freq.f[i]);
        float c = (float)cos((double)angle), sn = (float)sin((double)angle);
        if (inverse) sn = -sn;
        for (int h = 0; h < H; h++) {
            T *r = x + (size_t)t * H * hd + (size_t)h * hd;
            float a = ld(r + i), b = ld(r + i + half);
            st(r + i, __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, sn)));
            st(r + i + half, __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, sn)));
        }
    }
}

static int inv_freq_of(int hd, double theta, InvFreq *f, Err *e) {
    if (hd < 2 || hd % 2 || hd / 2 > MAX_HALF) return err_set(e, "gpu_rope: head_dim %d must be even and <= %d", hd, 2 * MAX_HALF);
    for (int i = 0; i < hd / 2; i++) f->f[i] = (float)(1.0 / pow(theta, (double)(2 * i) / hd));
    return 0;
}

template <typename T>
static int rope(T *x, const int32_t *pos, int T_, int H, int hd, double theta, int inverse, GpuStream s, Err *e) {
    InvFreq f;
    if (T_ < 0 || H < 1) return err_set(e, "gpu_rope: %d tokens x %d heads out of range", T_, H);
    if (inv_freq_of(hd, theta, &f, e)) return -1;
    if (!T_) return 0;
    rope_kernel<T><<<grid_for((size_t)T_ * (hd / 2), 128), 128, 0, s>>>(x, pos, T_, H, hd, f, inverse);
    return gpu_launched("rope", e);
}

extern "C" int gpu_rope_bf16(Bf16 *x, const int32_t *pos, int T, int H, int hd, double theta, int inverse, GpuStream s,
                             Err *e) {
    return rope<bf16>(dev(x), pos, T, H, hd, theta, inverse, s, e);
}

extern "C" int gpu_rope_f32(float *x, const int32_t *pos, int T, int H, int hd, double theta, int inverse, GpuStream s,
                            Err *e) {
    return rope<float>(x, pos, T, H, hd, theta, inverse, s, e);
}

// AdamW (Loshchilov & Hutter 2019, Alg. 2) per element in float64 as algo/optim.c adamw_update, every operation
// written with an _rn intrinsic so nothing is fused: the same bits as the CPU (built with -ffp-contract=off).
#include "gpu_util.cuh"

__global__ void adamw_kernel(float *p, float *m, float *v, const float *g, bf16 *p_bf16, size_t n, double lr,
                             double decay, double b1, double omb1, double b2, double omb2, double eps, double c1,
                             double c2) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        double gi = g[i], p0 = p[i];
        double pi = __dsub_rn(p0, __dmul_rn(decay, p0));
        double mi = __dadd_rn(__dmul_rn(b1, (double)m[i]), __dmul_rn(omb1, gi));
        double vi = __dadd_rn(__dmul_rn(b2, (double)v[i]), __dmul_rn(__dmul_rn(omb2, gi), gi));
        m[i] = (float)mi;
        v[i] = (float)vi;
        double step = __ddiv_rn(__dmul_rn(lr, __ddiv_rn(mi, c1)), __dadd_rn(__dsqrt_rn(__ddiv_rn(vi, c2)), eps));
        float np = (float)__dsub_rn(pi, step);
        p[i] = np;
        if (p_bf16) p_bf16[i] = __float2bfloat16(np);
    }
}

extern "C" int gpu_adamw(float *p, float *m, float *v, const float *g, Bf16 *p_bf16, size_t n, double lr, double decay,
                         double beta1, double beta2, double eps, double c1, double c2, GpuStream s, Err *e) {
    if (!(c1 > 0) || !(c2 > 0)) return err_set(e, "gpu_adamw: bias corrections %g, %g must be > 0", c1, c2);
    if (!n) return 0;
    adamw_kernel<<<grid_for(n, 256), 256, 0, s>>>(p, m, v, g, p_bf16 ? dev(p_bf16) : NULL, n, lr, decay, beta1,
                                                  1.0 - beta1, beta2, 1.0 - beta2, eps, c1, c2);
    return gpu_launched("adamw", e);
}

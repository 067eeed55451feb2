// CUDA log-prob/entropy kernels against their CPU twin (src/model/logprob.c) on fresh random inputs of odd sizes.
// Skips with a message when built without CUDA or when no GPU is present (CI).
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "model/logprob.h"

#ifdef RLVR_CUDA
#include <cuda_runtime_api.h>

#include "logits_loss.h"

static uint16_t to_bf16(float f) {  // round to nearest even
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static float from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void *to_device(const void *host, size_t bytes) {
    void *d = NULL;
    cr_assert_eq(cudaMalloc(&d, bytes), cudaSuccess);
    cr_assert_eq(cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice), cudaSuccess);
    return d;
}

// Max over the row of |a − b| / max |b| (a norm-wise relative error).
static double row_error(const float *a, const float *b, int64_t n) {
    double diff = 0, scale = 0;
    for (int64_t i = 0; i < n; i++) diff = fmax(diff, fabs((double)a[i] - b[i])), scale = fmax(scale, fabs((double)b[i]));
    return scale > 0 ? diff / scale : diff;
}

static void check_case(int64_t T, int64_t V, double temperature, LogitsDtype dtype, int in_place, uint64_t seed) {
    size_t n = (size_t)(T * V), esize = dtype == LOGITS_F32 ? 4 : 2;
    float *x = malloc(n * sizeof *x), *g_cpu = calloc(n, sizeof *g_cpu), *g_gpu = malloc(n * sizeof *g_gpu);
    uint16_t *xb = malloc(n * sizeof *xb);
    int32_t *y = malloc((size_t)T * sizeof *y);
    double *dlogp = malloc((size_t)T * 8), *dh = malloc((size_t)T * 8);
    Rng r = rng_at(seed, (uint32_t)T, (uint32_t)V, 0);
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(3 * rng_normal(&r));
        xb[i] = to_bf16(x[i]);
        if (dtype == LOGITS_BF16) x[i] = from_bf16(xb[i]);  // the twin sees exactly the GPU's inputs
    }
    for (int64_t t = 0; t < T; t++) y[t] = (int32_t)rng_below(&r, (uint64_t)V), dlogp[t] = rng_normal(&r), dh[t] = rng_normal(&r);

    void *d_x = to_device(dtype == LOGITS_F32 ? (void *)x : (void *)xb, n * esize);
    int32_t *d_y = to_device(y, (size_t)T * 4);
    double *d_dlogp = to_device(dlogp, (size_t)T * 8), *d_dh = to_device(dh, (size_t)T * 8), *d_out;
    cr_assert_eq(cudaMalloc((void **)&d_out, (size_t)T * 24), cudaSuccess);
    void *d_g = d_x;
    if (!in_place) cr_assert_eq(cudaMalloc(&d_g, n * esize), cudaSuccess);
    Err e = {{0}};
    cr_assert_eq(cuda_logits_forward(d_x, dtype, T, V, d_y, temperature, d_out, d_out + T, d_out + 2 * T, &e), 0, "%s", e.msg);
    cr_assert_eq(cuda_logits_backward(d_x, dtype, T, V, d_y, temperature, d_out + 2 * T, d_out + T, d_dlogp, d_dh, d_g,
                                      dtype, &e), 0, "%s", e.msg);
    double *out = malloc((size_t)T * 24);
    cr_assert_eq(cudaMemcpy(out, d_out, (size_t)T * 24, cudaMemcpyDeviceToHost), cudaSuccess);
    if (dtype == LOGITS_F32) cudaMemcpy(g_gpu, d_g, n * 4, cudaMemcpyDeviceToHost);
    else {
        cudaMemcpy(xb, d_g, n * 2, cudaMemcpyDeviceToHost);
        for (size_t i = 0; i < n; i++) g_gpu[i] = from_bf16(xb[i]);
    }
    double tol_value = 1e-6, tol_grad = dtype == LOGITS_F32 ? 1e-6 : 1e-2;
    for (int64_t t = 0; t < T; t++) {
        double lp, h;
        logprob_entropy(x + t * V, (int)V, temperature, y[t], &lp, &h);
        logprob_entropy_backward(x + t * V, (int)V, temperature, y[t], dlogp[t], dh[t], g_cpu + t * V);
        cr_expect(fabs(out[t] - lp) <= tol_value * fmax(1, fabs(lp)), "T=%lld V=%lld row %lld logp %.9g vs %.9g",
                  (long long)T, (long long)V, (long long)t, out[t], lp);
        cr_expect(fabs(out[T + t] - h) <= tol_value * fmax(1, fabs(h)), "row %lld entropy %.9g vs %.9g", (long long)t,
                  out[T + t], h);
        double err = row_error(g_gpu + t * V, g_cpu + t * V, V);
        cr_expect(err <= tol_grad, "T=%lld V=%lld dtype %d row %lld: dlogits relative error %g", (long long)T,
                  (long long)V, dtype, (long long)t, err);
    }
    cudaFree(d_x), cudaFree(d_y), cudaFree(d_dlogp), cudaFree(d_dh), cudaFree(d_out);
    if (!in_place) cudaFree(d_g);
    free(x), free(xb), free(g_cpu), free(g_gpu), free(y), free(dlogp), free(dh), free(out);
}
#endif

Test(cuda_logits, kernels_match_cpu_twin_on_random_odd_sizes) {
#ifndef RLVR_CUDA
    cr_skip_test("built without CUDA (nvcc not found or CUDA=0): kernel tests skipped");
#else
    if (cuda_device_count() == 0) cr_skip_test("no GPU found: CUDA kernel tests skipped");
    const int64_t shapes[][2] = {{1, 1}, {3, 7}, {37, 1001}, {64, 257}, {5, 151936}, {17, 32003}};
    uint64_t seed = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int dtype = 0; dtype < 2; dtype++)
            for (int in_place = 0; in_place < 2; in_place++)
                check_case(shapes[s][0], shapes[s][1], s % 2 ? 0.7 : 1.0, (LogitsDtype)dtype, in_place, seed++);
#endif
}

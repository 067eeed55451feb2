// The device fixed-point conversion (kernels/fixed_point.cu) against algo/grad_reduce.c fixed_add, bit for bit, on
// gradients of every scale, signs, values below the grid, subnormals, and the values the grid refuses.
#include <math.h>
#include <stdlib.h>

#include "algo/grad_reduce.h"
#include "fixed_point.h"
#include "gpu_check.h"

void check_fixed_point(void) {
    size_t n = 100003;
    float *g = malloc(n * sizeof *g);
    random_f32(g, n, 1.0, 91);
    // Scales from 2^-100 (below the grid: rounded) to 2^39, and the edges: 0, -0, a subnormal, 2^40 (refused), NaN, inf.
    for (size_t i = 0; i < n; i++) g[i] = ldexpf(g[i], (int)(i % 140) - 100);
    float edges[] = {0.0f, -0.0f, 1e-45f, -0x1p-87f, 0x1p-86f, 0x1.fffffep39f, 0x1p40f, -0x1p41f, NAN, INFINITY};
    for (size_t k = 0; k < sizeof edges / sizeof edges[0]; k++) g[k] = edges[k];
    int64_t *limbs = calloc(3 * n, sizeof *limbs), *limbs_gpu = malloc(3 * n * sizeof *limbs);
    // Twice into the same limbs: the second add starts from non-zero limbs, as in a sum over micro-batches.
    size_t bad_cpu = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) bad_cpu += !fixed_add(limbs + 3 * i, g[i]);
    int64_t *zeros = calloc(3 * n, sizeof *zeros);
    int64_t *d_limbs = dupload(zeros, 3 * n * sizeof *zeros);
    unsigned long long zero_bad = 0, bad_gpu = 0, *d_bad = dupload(&zero_bad, sizeof zero_bad);
    float *d_g = dupload(g, n * sizeof *g);
    Err err;
    for (int pass = 0; pass < 2; pass++) ok_or_die(gpu_fixed_add(d_limbs, d_g, n, d_bad, NULL, &err), &err, "gpu_fixed_add");
    ddownload(limbs_gpu, d_limbs, 3 * n * sizeof *limbs_gpu);
    ddownload(&bad_gpu, d_bad, sizeof bad_gpu);
    size_t differ = bits_differ(limbs_gpu, limbs, 3 * n * sizeof *limbs, sizeof *limbs);
    check("fixed-point limbs (algo/grad_reduce.c fixed_add)", differ == 0 && bad_gpu == bad_cpu,
          "%zu of %zu limbs differ, %llu refused (CPU %zu; limit 0: the same double operations)", differ, 3 * n, bad_gpu,
          bad_cpu);
    dfree(d_limbs), dfree(d_bad), dfree(d_g);
    free(g), free(limbs), free(limbs_gpu), free(zeros);
}

// The GPU check program (tests/gpu_check.c, run by tests/gpu.sh): every kernel of kernels/ops.h against its CPU
// twin in src/, the batch-invariance checks, the model on the CUDA backend, and micro-benchmarks. Shared helpers.
#ifndef RLVR_GPU_CHECK_H
#define RLVR_GPU_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "ops.h"

// Exit statuses of the program (tests/gpu.sh passes them on): all checks passed, one failed, no GPU present.
enum { GPU_CHECK_PASS = 0, GPU_CHECK_FAIL = 1, GPU_CHECK_NO_GPU = 3 };

// Tolerances (tests/gpu.sh prints them; results/gpu.md explains them). One rounding to bf16 is at most 2^-9
// relative; a bf16 output may differ from the fp32 twin by that plus fp32 accumulation-order differences, so it is
// held to 2^-8 of the output's largest magnitude. Chains of several bf16 roundings (SwiGLU, MoE) get 2^-6.
#define TOL_BF16 (1.0 / 256)
#define TOL_CHAIN (1.0 / 64)
#define TOL_F32 1e-5  // fp32 outputs of the same fp32 inputs, different summation order (statistics, softmax)

// One result line: "  pass  name  detail" or "  FAIL  name  detail"; counts failures.
void check(const char *name, int ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
// One benchmark line: "  bench name  detail".
void bench_line(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int check_failures(void);

// bf16 round-to-nearest-even and back.
Bf16 to_bf16(float f);
float from_bf16(Bf16 h);
// n normal values * scale, rounded to bf16 (so the CPU twin sees exactly the GPU's inputs); bits too if non-NULL.
void random_bf16(float *x, Bf16 *bits, size_t n, double scale, uint64_t seed);
void random_f32(float *x, size_t n, double scale, uint64_t seed);
// bf16 bits of n floats.
Bf16 *bf16_of(const float *x, size_t n);

// Device memory (aborts with a message on failure: the program has nothing to recover).
void *dalloc(size_t bytes);
void *dupload(const void *host, size_t bytes);
void ddownload(void *host, const void *dev, size_t bytes);
void dfree(void *p);
void dsync(void);
// A device copy of n floats as bf16, and n bf16 device values back as floats.
Bf16 *dupload_bf16(const float *x, size_t n);
void ddownload_bf16(float *x, const Bf16 *dev, size_t n);
// Aborts with the message when an ops.h call failed.
void ok_or_die(int rc, const Err *e, const char *what);

// max_i |a_i - b_i| / max_i |b_i| (norm-wise relative error; |diff| if b is all zero).
double rel_err(const float *a, const float *b, size_t n);
// Positions where the bits of a and b differ.
size_t bits_differ(const void *a, const void *b, size_t n_bytes, size_t elem);

// Milliseconds per call of fn(ctx), median of `rounds` timed rounds of `reps` calls after one warm-up call.
double time_ms(void (*fn)(void *), void *ctx, int reps, int rounds);

void check_kernels(void);     // tests/gpu_check_ops.c
void check_fixed_point(void); // tests/gpu_check_fixed.c
void check_sample(void);      // tests/gpu_check_sample.c
void check_moe(void);         // tests/gpu_check_moe.c
void check_invariance(void);  // tests/gpu_check_invariance.c
void check_model(void);       // tests/gpu_check_model.c
void run_benchmarks(int quick);  // tests/gpu_bench.c

#endif

// OpenBLAS as Debian ships it (a DYNAMIC_ARCH build) picks its kernels once, when it is loaded, from the CPU models it
// knows, and gives a newer CPU an older model's kernels: 0.3.21 reads Zen 4 and Zen 5 as Haswell (AVX2) and Sapphire
// Rapids as Prescott (SSE3), whose sgemm runs at half the AVX-512 kernel's speed or less there (results/cpu-bench.md,
// "OpenBLAS's kernel for the CPU"). It takes another kernel from OPENBLAS_CORETYPE, read at load time, so src/cli/rlvr.c
// names the kernel this CPU runs there before it starts itself again; a user's own setting wins.
#ifndef RLVR_BLAS_KERNEL_H
#define RLVR_BLAS_KERNEL_H

// The widest vectors an OpenBLAS x86 kernel uses, narrowest first.
typedef enum { VEC_UNKNOWN = -1, VEC_SSE, VEC_AVX, VEC_AVX2, VEC_AVX512 } VecLevel;

// What this CPU and its operating system run (AVX-512: the F, CD, DQ, BW and VL subsets SkylakeX's kernels use).
VecLevel blas_cpu_level(void);
// The vectors of the OpenBLAS kernel named `core` (openblas_get_corename()); VEC_UNKNOWN for a name not listed here.
VecLevel blas_core_level(const char *core);
// The kernel to ask for where `core` uses narrower vectors than `cpu` runs (SkylakeX, Haswell or Sandybridge), else
// NULL: also for a name not listed here, which is left as the library chose it.
const char *blas_better_kernel(const char *core, VecLevel cpu);
// The kernel OpenBLAS runs in this process (fast mode's backward: checkpoints record it).
const char *blas_kernel(void);

#endif

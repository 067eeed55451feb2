#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "base/blas_kernel.h"

// The kernels OpenBLAS 0.3.21 gives CPUs it does not know, and what their sgemm uses (its kernel/x86_64 sources).
Test(blas_kernel, older_kernels_give_way_to_the_widest_the_cpu_runs) {
    cr_expect_str_eq(blas_better_kernel("Prescott", VEC_AVX512), "SkylakeX", "Emerald Rapids under 0.3.21");
    cr_expect_str_eq(blas_better_kernel("Haswell", VEC_AVX512), "SkylakeX", "Zen 4 under 0.3.20");
    cr_expect_str_eq(blas_better_kernel("Zen", VEC_AVX512), "SkylakeX");
    cr_expect_str_eq(blas_better_kernel("Nehalem", VEC_AVX2), "Haswell");
    cr_expect_str_eq(blas_better_kernel("Core2", VEC_AVX), "Sandybridge");
    cr_expect_str_eq(blas_better_kernel("prescott", VEC_AVX2), "Haswell", "OpenBLAS's names in any case");
}

Test(blas_kernel, a_kernel_as_wide_as_the_cpu_or_unknown_is_kept) {
    cr_expect_null(blas_better_kernel("Cooperlake", VEC_AVX512), "Zen 5 under 0.3.21");
    cr_expect_null(blas_better_kernel("SkylakeX", VEC_AVX512));
    cr_expect_null(blas_better_kernel("Haswell", VEC_AVX2));
    cr_expect_null(blas_better_kernel("SkylakeX", VEC_AVX2), "never a narrower one");
    cr_expect_null(blas_better_kernel("Prescott", VEC_SSE));
    cr_expect_null(blas_better_kernel("Excavator", VEC_AVX2), "not listed: left as the library chose");
    cr_expect_null(blas_better_kernel("NEOVERSEN1", VEC_AVX512));
    cr_expect_null(blas_better_kernel(NULL, VEC_AVX512));
}

Test(blas_kernel, levels_of_named_kernels) {
    cr_expect_eq(blas_core_level("Steamroller"), VEC_AVX);
    cr_expect_eq(blas_core_level("SapphireRapids"), VEC_AVX512);
    cr_expect_eq(blas_core_level("Opteron_SSE3"), VEC_SSE);
    cr_expect_eq(blas_core_level("Opteron_SSE"), VEC_UNKNOWN, "whole names only");
}

// Whether /proc/cpuinfo's first flags line lists flag (the whole word); -1 without such a line.
static int cpuinfo_flag(const char *flag) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[8192];
    int found = -1;
    while (f && found < 0 && fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5)) continue;
        found = 0;
        for (char *w = strtok(strchr(line, ':'), ": \n"); w; w = strtok(NULL, " \n")) found |= !strcmp(w, flag);
    }
    if (f) fclose(f);
    return found;
}

// This CPU's level against the flags of /proc/cpuinfo.
Test(blas_kernel, cpu_level_matches_proc_cpuinfo) {
    if (cpuinfo_flag("fpu") < 0) cr_skip_test("/proc/cpuinfo has no flags line (not x86 Linux)");
    bool avx512 = cpuinfo_flag("avx512f") && cpuinfo_flag("avx512cd") && cpuinfo_flag("avx512dq") &&
                  cpuinfo_flag("avx512bw") && cpuinfo_flag("avx512vl");
    VecLevel want = avx512 ? VEC_AVX512 : cpuinfo_flag("avx2") && cpuinfo_flag("fma") ? VEC_AVX2
                    : cpuinfo_flag("avx")                                             ? VEC_AVX
                                                                                      : VEC_SSE;
    cr_expect_eq(blas_cpu_level(), want);
}

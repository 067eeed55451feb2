#include "base/blas_kernel.h"

#include <cblas.h>
#include <stddef.h>
#include <strings.h>

VecLevel blas_cpu_level(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        return VEC_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return VEC_AVX2;
    return __builtin_cpu_supports("avx") ? VEC_AVX : VEC_SSE;
}

// OpenBLAS 0.3.21's x86-64 kernel names by the vectors their sgemm uses. Excavator is left out: an AVX2 CPU whose
// kernels are not Haswell's, and nothing here says Haswell's would be faster on it.
static const struct {
    const char *name;
    VecLevel level;
} CORES[] = {
    {"Katmai", VEC_SSE},        {"Coppermine", VEC_SSE},   {"Northwood", VEC_SSE},    {"Prescott", VEC_SSE},
    {"Banias", VEC_SSE},        {"Atom", VEC_SSE},         {"Core2", VEC_SSE},        {"Penryn", VEC_SSE},
    {"Dunnington", VEC_SSE},    {"Nehalem", VEC_SSE},      {"Athlon", VEC_SSE},       {"Opteron", VEC_SSE},
    {"Opteron_SSE3", VEC_SSE},  {"Barcelona", VEC_SSE},    {"Nano", VEC_SSE},         {"Bobcat", VEC_SSE},
    {"Sandybridge", VEC_AVX},   {"Bulldozer", VEC_AVX},    {"Piledriver", VEC_AVX},   {"Steamroller", VEC_AVX},
    {"Haswell", VEC_AVX2},      {"Zen", VEC_AVX2},         {"SkylakeX", VEC_AVX512},  {"Cooperlake", VEC_AVX512},
    {"SapphireRapids", VEC_AVX512},
};

VecLevel blas_core_level(const char *core) {
    for (size_t i = 0; core && i < sizeof CORES / sizeof CORES[0]; i++)
        if (!strcasecmp(core, CORES[i].name)) return CORES[i].level;
    return VEC_UNKNOWN;
}

const char *blas_better_kernel(const char *core, VecLevel cpu) {
    VecLevel own = blas_core_level(core);
    if (own == VEC_UNKNOWN || own >= cpu) return NULL;
    return cpu == VEC_AVX512 ? "SkylakeX" : cpu == VEC_AVX2 ? "Haswell" : cpu == VEC_AVX ? "Sandybridge" : NULL;
}

const char *blas_kernel(void) { return openblas_get_corename(); }

// Tile shapes of the batch-invariant matrix product, timed side by side (tests/gpu_bench.c prints them). Every shape
// runs kernels/matmul_tile.cuh's matmul_block, so each output is still acc = 0 then one 16x16x16 mma step per k0 in
// order: a tile only chooses which outputs a block computes. Each variant's bf16 output is compared bit for bit with
// gpu_matmul's, which makes the sweep a check of that claim too.
#include "gpu_bench_tiles.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matmul_tile.cuh"

template <typename Cfg>
__global__ void __launch_bounds__(Cfg::THREADS) tile_kernel(const bf16 *x, const bf16 *w, void *y, int M, int N, int K) {
    matmul_block<Cfg, true>(x, w, nullptr, y, 1, M, N, K, 0, blockIdx.y * Cfg::BM, blockIdx.x * Cfg::BN);
}

template <typename Cfg>
static cudaError_t launch_tile(const bf16 *x, const bf16 *w, bf16 *y, int M, int N, int K) {
    static bool smem_set = false;
    if (!smem_set) {
        cudaError_t rc = cudaFuncSetAttribute(tile_kernel<Cfg>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)Cfg::SMEM);
        if (rc != cudaSuccess) return rc;
        smem_set = true;
    }
    dim3 grid((unsigned)((N + Cfg::BN - 1) / Cfg::BN), (unsigned)((M + Cfg::BM - 1) / Cfg::BM));
    tile_kernel<Cfg><<<grid, Cfg::THREADS, Cfg::SMEM>>>(x, w, y, M, N, K);
    return cudaGetLastError();
}

typedef cudaError_t (*Launch)(const bf16 *, const bf16 *, bf16 *, int, int, int);
typedef struct {
    const char *name;
    Launch launch;
    int small;  // 1: a tile for M <= 16 (decode)
} Variant;

static const Variant VARIANTS[] = {
    {"128x128x32 w64x32 s3 (Large before)", launch_tile<Tiles<128, 128, 32, 64, 32, 3>>, 0},
    {"128x128x64 w64x32 s3", launch_tile<Tiles<128, 128, 64, 64, 32, 3>>, 0},
    {"128x128x32 w64x32 s4", launch_tile<Tiles<128, 128, 32, 64, 32, 4>>, 0},
    {"128x256x32 w64x64 s3", launch_tile<Tiles<128, 256, 32, 64, 64, 3>>, 0},
    {"256x128x32 w64x64 s3", launch_tile<Tiles<256, 128, 32, 64, 64, 3>>, 0},
    {"128x128x32 w64x64 s4 (Large)", launch_tile<Tiles<128, 128, 32, 64, 64, 4>>, 0},
    {"128x256x64 w64x64 s3", launch_tile<Tiles<128, 256, 64, 64, 64, 3>>, 0},
    {"16x64x64 w16x16 s4 (Small before)", launch_tile<Tiles<16, 64, 64, 16, 16, 4>>, 1},
    {"16x32x64 w16x16 s6", launch_tile<Tiles<16, 32, 64, 16, 16, 6>>, 1},
    {"16x64x128 w16x16 s4 (Small)", launch_tile<Tiles<16, 64, 128, 16, 16, 4>>, 1},
    {"16x128x64 w16x16 s4", launch_tile<Tiles<16, 128, 64, 16, 16, 4>>, 1},
    {"16x32x128 w16x16 s4", launch_tile<Tiles<16, 32, 128, 16, 16, 4>>, 1},
    {"16x16x128 w16x16 s6", launch_tile<Tiles<16, 16, 128, 16, 16, 6>>, 1},
};

int tile_variants(int small) {
    int n = 0;
    for (size_t i = 0; i < sizeof VARIANTS / sizeof VARIANTS[0]; i++) n += VARIANTS[i].small == small;
    return n;
}

static const Variant *variant(int small, int k) {
    for (size_t i = 0; i < sizeof VARIANTS / sizeof VARIANTS[0]; i++)
        if (VARIANTS[i].small == small && k-- == 0) return &VARIANTS[i];
    return NULL;
}

const char *tile_variant_name(int small, int k) { return variant(small, k)->name; }

int tile_variant_run(int small, int k, const Bf16 *x, const Bf16 *w, Bf16 *y, int M, int N, int K) {
    const Variant *v = variant(small, k);
    if (!v || (small && M > 16)) return -1;
    return v->launch(dev(x), dev(w), dev(y), M, N, K) == cudaSuccess ? 0 : -1;
}

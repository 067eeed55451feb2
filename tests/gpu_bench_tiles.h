// Tile shapes of the batch-invariant matrix product for tests/gpu_bench.c to time (tests/gpu_bench_tiles.cu).
#ifndef RLVR_GPU_BENCH_TILES_H
#define RLVR_GPU_BENCH_TILES_H

#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

// Variants for M > 16 (small 0) or M <= 16 (small 1): their number, names, and one run of variant k on the
// default stream (y = x w^T in bf16, no bias; 0, or -1 on a launch error or M too large for a small tile).
int tile_variants(int small);
const char *tile_variant_name(int small, int k);
int tile_variant_run(int small, int k, const Bf16 *x, const Bf16 *w, Bf16 *y, int M, int N, int K);

#ifdef __cplusplus
}
#endif

#endif

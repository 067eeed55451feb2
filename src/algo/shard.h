// Who owns what under ZeRO (Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion
// Parameter Models"): each data-parallel rank owns one contiguous run of whole tensors of the table, so a shard
// boundary never splits a tensor a kernel needs. Stage 1 keeps the Adam moments of the owned run only; stage 2
// also sums each gradient onto its owner alone (a reduce-scatter). The optimizer, the gradient reduction,
// checkpoint gathering and `rlvr config` all read this one map (src/README.md "Folders").
#ifndef RLVR_SHARD_H
#define RLVR_SHARD_H

#include <stddef.h>
#include <stdio.h>

#include "model/model.h"

typedef struct {
    int tensor_begin, tensor_end;  // tensors [tensor_begin, tensor_end) of the table
    size_t begin, end;             // their elements [begin, end) of the parameter buffer
} Shard;

// The ownership map: out[r] for each of `world` ranks, in rank order, covering the table once. Rank r's run
// ends at the tensor boundary nearest to (r + 1)·n_params/world (never before rank r-1's end).
void shard_map(const ModelTensor *tensors, int n_tensors, int world, Shard *out);

// Prints the map for zero stage `stage` as INI comment lines ("; ..."), one per rank.
void shard_map_print(FILE *f, const ModelTensor *tensors, int n_tensors, int world, int stage);

#endif

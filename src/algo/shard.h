// Who owns what under ZeRO (Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion
// Parameter Models"): each data-parallel rank owns one contiguous run of whole tensors of the table, so a shard
// boundary never splits a tensor a kernel needs. Stage 1 keeps the Adam moments of the owned run only; stage 2
// also sums each gradient onto its owner alone (a reduce-scatter). The optimizer, the gradient reduction,
// checkpoint gathering and `rlvr config` all read this one map (src/README.md "Folders").
#ifndef RLVR_SHARD_H
#define RLVR_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "model/expert_map.h"
#include "model/model.h"

typedef struct {
    int tensor_begin, tensor_end;  // tensors [tensor_begin, tensor_end) of the table
    size_t begin, end;             // their elements [begin, end) of the parameter buffer
} Shard;

// The ownership map: out[r] for each of `world` ranks, in rank order, covering the table once. Rank r's run
// ends at the tensor boundary nearest to (r + 1)·n_params/world (never before rank r-1's end).
void shard_map(const ModelTensor *tensors, int n_tensors, int world, Shard *out);

// Prints the map for zero stage `stage` as INI comment lines ("; ..."), one per rank. sample_by_layer: at stage 3
// the rollouts gather one layer at a time for each decode step (train/rl_step.c), else all weights at once.
void shard_map_print(FILE *f, const ModelTensor *tensors, int n_tensors, int world, int stage, bool sample_by_layer);

// Zero stage >= 1 with expert parallelism over groups of k (model/expert_map.h): who owns each piece (its Adam
// moments, its update; at stages 2-3 its gradient sum; at stage 3 its resident weights). A non-expert tensor is
// owned whole by its ZeRO owner, as without expert parallelism; an expert tensor's slice of place q by the rank at
// place q of the group of the tensor's ZeRO owner. So every rank of that group owns one slice, and each expert's state is spread over the
// data-parallel ranks that hold the expert (one per group) tensor by tensor, as ZeRO spreads the others.
// The rank owning table entry `tensor` whole (map from shard_map over `world` ranks).
int shard_owner(const Shard *map, int world, int tensor);
// The rank owning tensor `tensor`'s piece of place q (non-expert tensors: q is ignored).
int shard_piece_owner(const Model *m, const Shard *map, int world, int k, int tensor, int q);
// The pieces `rank` owns, in table order (expert tensors: its place's slice). Returns the count (*out malloc'd).
int shard_expert_pieces(const Model *m, const Shard *map, int world, int k, int rank, TensorPiece **out);
// Prints what each rank owns under zero stage `stage` >= 1 with expert parallelism k as INI comment lines.
void shard_expert_print(FILE *f, const Model *m, int world, int stage, int k);

#endif

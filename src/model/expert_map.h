// Expert parallelism (dist.expert_parallel = K; Lepikhin et al. 2020, GShard): the ranks form groups of K
// consecutive ranks, and the rank at place q of its group owns the routed experts [q·E/K, (q+1)·E/K) of every
// MoE layer: it computes them for the whole group's tokens in the training forward and backward (model/moe_ep.c),
// and at zero stage 0 it alone in its group holds their gradients and Adam moments and updates them
// (train/update.c), then hands the new weights to the rest of its group (at zero stages 1-3 the owner of each
// slice is one rank among those at place q, algo/shard.h). Data parallelism runs across groups. The optimizer,
// checkpoints and `rlvr config` read this one map.
#ifndef RLVR_EXPERT_MAP_H
#define RLVR_EXPERT_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/dist.h"
#include "base/error.h"
#include "model/model.h"

// Experts [*begin, *end) owned by place q of a group of k (k divides n_experts).
void expert_range(int n_experts, int k, int q, int *begin, int *end);
// The place in its group of expert e's owner.
int expert_owner(int n_experts, int k, int e);
// Whether tensor t stacks a MoE layer's routed experts ([E, ...], expert e at leading index e).
bool expert_tensor(const ModelTensor *t);
// Elements [*begin, *end) of expert tensor t (flattened) that place q of a group of k owns.
void expert_slice(const ModelTensor *t, int k, int q, size_t *begin, size_t *end);

// Elements [begin, end) of table entry `tensor` (flattened, row-major).
typedef struct {
    int tensor;
    size_t begin, end;
} TensorPiece;
// What place q of a group of k keeps Adam moments for and updates: every tensor whole except the expert tensors,
// of which its slices; in table order. Returns the count (*out malloc'd).
int expert_held_pieces(const Model *m, int k, int q, TensorPiece **out);

// Prints the map as INI comment lines ("; ..."): the groups over `world` ranks and each place's experts.
void expert_map_print(FILE *f, const Model *layout, int k, int world);


// Collective: this rank's group and place (ExpertParallel: model/model.h). k = 1 is a group of one; errors when k
// divides neither the model's experts nor the number of ranks. exact (dist.deterministic): the gradients from each
// other rank's micro-batch are kept apart (peer_grads) for the exact sum; else they are added to the rank's own.
int expert_parallel_init(ExpertParallel *ep, const Model *m, int k, bool exact, Err *e);
void expert_parallel_free(ExpertParallel *ep);
// Where expert tensor `tensor`'s owned slice starts in a packed buffer.
size_t expert_packed_offset(const ExpertParallel *ep, const Model *m, int tensor);

#endif

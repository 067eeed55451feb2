// Gradient reduction over micro-batches and ranks (src/README.md invariant 1; results/objectives.md §2: summed,
// never averaged). Two modes:
//  fast           the backward of every micro-batch adds into one float32 buffer (gradient accumulation as in
//                 PyTorch), then the ranks sum it in float64, bucket by bucket; the result depends on the
//                 reduction order in the last bits (splits agree to ~1e-7 relative). With grad_reducer_layers
//                 (dist.overlap), each layer's gradient is instead summed in float32, in place, by a non-blocking
//                 all-reduce started as soon as the rank's last backward of the update has finished that layer
//                 (as PyTorch DDP's buckets), so the reduction runs while the backward goes on.
//  deterministic  (dist.deterministic) every micro-batch gradient is converted exactly to a fixed-point
//                 integer on a fixed grid (three int64 limbs of 42 bits: unit 2^-86, |g| < 2^40) and summed
//                 as integers, locally and with dist_allreduce_sum_i64. Integer addition is associative, so
//                 the sum has the same bits for any order and any number of ranks, provided micro-batches
//                 are fixed by global index. Values below 2^-86 round to the grid (deterministically).
// Per layer (grad_reducer_layers): during the rank's last backward of the update, each layer is summed over ranks
// as soon as the backward has finished it (fast with dist.overlap and no shard map: a non-blocking float32
// all-reduce; otherwise a blocking sum, float64 or fixed-point), and what that layer no longer needs is handed back
// to the operating system at once (base/pages.h); the embedding, final norm and LM head follow the backward.
// Memory (results/sharding.md): the fast mode needs the float gradient alone (4 bytes per parameter). The
// deterministic mode keeps a rank's first GRAD_HELD + 1 micro-batch gradients as floats (exact) and converts
// them to limbs one bucket at a time while summing over ranks; per layer, each held layer is handed back as the
// last backward reduces it, so the float gradients cost 4 bytes per parameter at the end of the update instead of
// 4 per micro-batch. Only a rank with more micro-batches per update accumulates in full-size limbs (24 bytes per
// parameter). ZeRO stage 2 (grad_reducer_shard): a reduced layer keeps only the elements this rank owns, so after
// its last backward a rank holds its gradient shard (4/N bytes per parameter) and the layers not yet reduced. At
// stage 3 (grad_reducer_schedule) the same per-layer sums run at points of the weight gathers' schedule instead,
// which every rank reaches in the same order whatever its number of micro-batches.
#ifndef RLVR_GRAD_REDUCE_H
#define RLVR_GRAD_REDUCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "algo/shard.h"
#include "model/model.h"
#include "model/update_ops.h"  // the fixed-point codec, fixed_add and fixed_value

// Earlier micro-batch gradients a rank holds as floats (besides the current one) before it switches to
// full-size limbs: with GRAD_HELD = 1, two micro-batches per rank cost 8 bytes per parameter instead of 24.
#define GRAD_HELD 1
// Elements summed over ranks per collective (the bucket's limbs: 24 bytes each).
#define GRAD_BUCKET ((size_t)1 << 18)
// Overlapped fast reduction: layers summed at once at most (each holds a layer-sized copy inside MPI).
#define GRAD_IN_FLIGHT 2

typedef struct {
    size_t n;
    bool deterministic;
    float *grad;      // the backward adds into it (fast: the whole update; deterministic: the current micro-batch);
                      // n floats of base/pages.h
    float *held[GRAD_HELD];  // deterministic: earlier micro-batch gradients of this update, exact as floats (pages)
    int n_held;
    int n_micro;      // micro-batches of this update so far
    bool pending;     // deterministic: grad holds a micro-batch not yet held or folded
    bool populating;  // grad's pages made resident a layer ahead of this micro-batch's backward (not resident yet)
    size_t head_begin, head_end;  // the LM head's elements, the first the backward writes (grad_reducer_head)
    int64_t *limbs;   // deterministic, past GRAD_HELD + 1 micro-batches: [3 * n] (hi, mid, lo per element; pages);
                      // every micro-batch ended since is folded in at once
    // Deterministic, where every rank keeps the whole sum: the held buffers and limbs of an earlier update that needed
    // limbs, left to the kernel to take back when it needs the memory (pages_lazy_release) and zeroed in place for
    // the next update that needs them, instead of mapped and faulted in again (grad_reduce.c pooled).
    float *spare[GRAD_HELD];
    int n_spare;
    int64_t *spare_limbs;
    int64_t overflow; // deterministic: elements that were non-finite or out of range
    const ModelTensor *tensors;  // table naming the offending tensor (may be NULL)
    int n_tensors;
    int bad_tensor;   // after finish: lowest table index with an element out of range on any rank, or -1
    const Shard *map; // ZeRO stage 2: each element's sum goes to its owner only (NULL: to every rank)
    // Expert parallelism: per expert tensor, its elements [begin, end) and this rank's slice [begin, end) of them
    // (4 values each, in buffer order); each slice summed only over peers, the rest of the tensor not at all.
    const size_t *expert_ranges;
    int n_expert_ranges;
    const struct DistGroup *peers;
    int64_t *slice_limbs;  // deterministic: the other ranks' micro-batch parts in this rank's slices, as limbs
    int world;
    // Buckets are the layers (L-1 down to 0), then what precedes and follows them (with no layers: everything).
    int n_layers;
    size_t *layer_begin, *layer_end;
    bool by_layer;    // the last backward's hook sums each layer as it is done
    bool scheduled;   // ZeRO stage 3: layers are summed when grad_reducer_sum_layer says, not by the backward's hook
    bool posting;     // this micro-batch is the rank's last of the update: sum each layer when it is done
                      // (deterministic: its values are range-checked as they are folded)
    int n_posted;     // buckets started, in bucket order
    bool settled;     // every bucket started and finished
    struct DistPending **req;  // overlapped fast reduction (dist.overlap): [n_layers + 2]
} GradReducer;

void grad_reducer_init(GradReducer *r, size_t n, bool deterministic, const ModelTensor *tensors, int n_tensors);
void grad_reducer_free(GradReducer *r);
// Sums each layer as the last backward of an update finishes it (layer l's tensors are the elements
// [begin[l], end[l]), contiguous in the table); call after grad_reducer_shard. overlap: in fast mode on several
// ranks without a shard map, with a non-blocking float32 all-reduce (dist.overlap).
void grad_reducer_layers(GradReducer *r, int n_layers, const size_t *begin, const size_t *end, bool overlap);
// The LM head weight's elements [begin, end) (the embedding's when tied), which the backward writes before any layer:
// a fresh gradient buffer is made resident in the backward's order (grad_reduce.c populate_first).
void grad_reducer_head(GradReducer *r, size_t begin, size_t end);
// After grad_reducer_micro_begin, before the backward of the rank's last micro-batch of the update: its layers are
// summed as they finish.
void grad_reducer_micro_last(GradReducer *r);
// The per-layer callback of seqbatch_backward_hooked (ctx: the GradReducer).
void grad_reducer_layer_done(void *ctx, int layer);
// ZeRO stage 3 (after grad_reducer_layers): layers are summed only through grad_reducer_sum_layer, which the weight
// gathers' common schedule calls on every rank at the same point (algo/param_gather.h), whatever each rank's number
// of micro-batches; a rank sums what it has then (its partial gradient, or zeros).
void grad_reducer_schedule(GradReducer *r);
// Collective (scheduled): sums layers L-1 down to `layer` that are not summed yet (ctx: the GradReducer).
void grad_reducer_sum_layer(void *ctx, int layer);
// Collective: sums the buckets not yet summed (overlapped: starts them and waits for all). Every rank calls it once
// per update, before agreeing on a failure, so no collective is left open; grad_reducer_finish calls it too.
void grad_reducer_settle(GradReducer *r);
// ZeRO stage 2: from now on, finish leaves the sum of each element only on the rank that owns it (map[world],
// from shard_map; it must outlive the reducer); the rest of r->grad is unspecified (mostly handed back: zeros).
void grad_reducer_shard(GradReducer *r, const Shard *map, int world);

// Expert parallelism (model/expert_map.h): from now on, finish sums each expert tensor's slice this rank owns
// only over peers (the ranks owning the same experts) and leaves zeros in the other slices; ranges as
// GradReducer.expert_ranges (n tensors; it and peers must outlive the reducer).
void grad_reducer_experts(GradReducer *r, const size_t *ranges, int n, const struct DistGroup *peers);

// Deterministic, expert parallelism: one micro-batch's part that touches only this rank's expert slices (packed:
// the slices of expert_ranges back to back), summed exactly with the rest at finish; full-size memory only for
// the slices.
void grad_reducer_add_slices(GradReducer *r, const float *packed);

// Starts an update: zeroes the gradient and forgets the previous update's micro-batches.
void grad_reducer_begin(GradReducer *r);
// The buffer the next micro-batch's backward ADDS into (fast: the running sum; deterministic: zeroed).
float *grad_reducer_micro_begin(GradReducer *r);
// Ends the micro-batch (deterministic: range-checks it and holds or folds it).
void grad_reducer_micro_end(GradReducer *r);
// Settles, and leaves the total in r->grad (sharded: in the owned elements only). Returns false when an element
// was non-finite or out of the fixed-point range on some rank (deterministic mode; r->bad_tensor then names the
// lowest such tensor); fast mode leaves non-finite values in r->grad for the norm check to find.
bool grad_reducer_finish(GradReducer *r);


#endif

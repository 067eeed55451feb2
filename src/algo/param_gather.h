// ZeRO stage 3 (Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models"):
// a rank keeps resident only the weights of the tensors it owns (algo/shard.h). Model.params stays one full-size
// address range; the whole pages of the tensors other ranks own are released (madvise MADV_DONTNEED), and a unit's
// weights (one layer, the embedding, or the final norm with the LM head; a group of a MoE layer's routed experts
// apart, with param_gather_split_experts) are all-gathered from their owners just
// before the model reads them (Model.before_unit), then released when the next unit is gathered. On a backend with a
// weight copy of its own (a device, model/device.h) the units are gathered into windows of that copy instead, in its
// memory (bf16 over NCCL on a GPU); the host keeps only this rank's weights.
//
// The gathers are collectives, yet ranks run different numbers of micro-batches, or stop at a failure. So every
// rank gathers along one fixed cycle (embedding, layers 0..L-1, head: a forward; layers L-1..0: a backward; each
// split layer followed by its expert groups in order),
// moving along it until the unit asked for is resident, and the ranks agree beforehand on the number of passes
// (param_gather_plan): at the end (param_gather_release, param_gather_all) a rank that made fewer goes on along the
// cycle, joining the gathers of the busier ranks, until it has made as many. Nothing but gathers may happen on
// any rank between the plan and that end, except the per-layer gradient sums this schedule itself makes: in the
// plan's last pass, stepping from the backward of layer l to layer l-1 (l >= 1) first calls sum_layer(l) on every
// rank (param_gather_sum_layers), so a rank with fewer micro-batches sums its partial gradient at the same point.
//
// Sampling (param_gather_stream): decode steps differ from rank to rank and are not known beforehand, so each unit
// is gathered when asked for along a forward-only cycle (embedding, layers 0..L-1, head), and at each start of that
// cycle the ranks agree whether any of them still decodes; a rank that is done (param_gather_stream_end, through
// Model.units_done) joins the others' gathers until none is left. Nothing but gathers may happen in between.
#ifndef RLVR_PARAM_GATHER_H
#define RLVR_PARAM_GATHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "algo/shard.h"
#include "model/model.h"

typedef struct {
    size_t begin, end;  // elements of Model.params
} ParamRange;

// Routed experts of a MoE layer gathered apart in at most this many groups of consecutive experts during training
// (param_gather_split_experts): a layer's experts are most of its weights.
#define PARAM_GATHER_GROUPS 4

typedef struct {
    Model *model;          // NULL: inactive (zero stage < 3), every call returns at once
    const Shard *map;      // the ownership map, one entry per rank (outlives this)
    int world, rank;
    int n_units;           // L layers (split: without their routed experts), the embedding, the head, then
                           // n_groups expert groups per layer
    int n_groups;          // 0: each layer is one unit
    ParamRange **ranges;   // [n_units]: the unit's tensors (or expert slices), adjacent ones merged
    int *n_ranges;
    bool *has_groups;      // [L]: the layer's routed experts are groups of their own
    size_t *layer_begin, *layer_end;  // [L]: each layer's elements (sampling gathers the span at once)
    int *tensor_unit;      // [n_tensors]: the unit each tensor belongs to (the tied LM head: the embedding's)
    bool tied_head;        // the LM head is the embedding, read by the head unit too
    int *cycle, *sum_at;   // [n_cycle]: the unit at each position of the training cycle; the layer whose gradient
    int n_cycle;           //  sum comes before that gather in the plan's last pass (-1: none)
    int resident;          // the layer, embedding or head gathered now, or -1
    int resident_group;    // the expert group gathered now (its layer stays resident), or -1
    bool whole;            // every weight resident (param_gather_all)
    int64_t gathers;       // along the cycle since the last plan
    int64_t planned;       // gathers every rank makes before the next release (param_gather_plan)
    bool stream;           // sampling: whole layers gathered along the forward-only cycle (param_gather_stream)
    void (*sum_layer)(void *ctx, int layer);  // the plan's last backward: layer's gradient summed (may be NULL)
    void *sum_ctx;
    int ep_k;              // expert parallelism (param_gather_experts): groups of ep_k ranks, else 0
    const struct DistGroup *ep_peers;  // the ranks at this rank's place in every group
} ParamGather;

// Installs the hook in m (whose weights are all resident until the first release).
void param_gather_init(ParamGather *g, Model *m, const Shard *map, int world, int rank);
void param_gather_free(ParamGather *g);
// Training gathers each MoE layer's routed experts in groups apart (the model asks for each expert before it reads
// it, model_expert_unit); not with expert parallelism, whose MoE code does not ask, nor on a backend that reads a
// layer's experts at once (split false: whole layers again). Only while nothing is gathered (before the release).
void param_gather_split_experts(ParamGather *g, bool split);
// Collective: every rank will make as many gathers as `passes` forwards (each followed by its backward or not) on
// the busiest rank.
void param_gather_plan(ParamGather *g, int64_t passes);
// Expert parallelism over groups of k (model/expert_map.h): pieces are owned as algo/shard.h's shard_piece_owner
// says; a unit's gather brings its non-expert tensors from their owners and, of its expert tensors, only this
// rank's place's slices, from their owners among peers (the ranks at this place; it outlives g); param_gather_all
// brings every piece.
void param_gather_experts(ParamGather *g, int k, const struct DistGroup *peers);
// Collective: once this rank has made the planned gathers, releases the pages of every weight it does not own.
void param_gather_release(ParamGather *g);
// Collective: the planned gathers, then every weight (sampling reads each layer once per token, so it gathers them all
// once before the rollout, as DeepSpeed's hybrid engine does); param_gather_release ends it.
void param_gather_all(ParamGather *g);

// Sampling: from now until param_gather_release, each unit is gathered when the model asks for it, one decode step
// after another; every rank reaches Model.units_done (param_gather_stream_end) together after the rollout. Under
// expert parallelism it is param_gather_all.
void param_gather_stream(ParamGather *g);
// Collective: this rank is done decoding; it joins the others' gathers until no rank decodes, then drops the
// resident unit. Installed as Model.units_done (a no-op outside param_gather_stream).
void param_gather_stream_end(void *ctx);
// The plan's last pass calls sum_layer(ctx, l) for l = L-1..1 as the backward leaves layer l, on every rank
// (layer 0 and the rest follow the release).
void param_gather_sum_layers(ParamGather *g, void (*sum_layer)(void *ctx, int layer), void *ctx);

// Gives the whole pages inside elements [begin, end) of x back to the kernel (they read as zeros until written);
// the pages at either edge may hold other data and stay.
void param_gather_drop_pages(float *x, size_t begin, size_t end);

#endif

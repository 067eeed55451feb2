// ZeRO stage 3 (Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models"):
// a rank keeps resident only the weights of the tensors it owns (algo/shard.h). Model.params stays one full-size
// address range; the whole pages of the tensors other ranks own are released (madvise MADV_DONTNEED), and a unit's
// weights (one layer, the embedding, or the final norm with the LM head) are all-gathered from their owners just
// before the model reads them (Model.before_unit), then released when the next unit is gathered.
//
// The gathers are collectives, yet ranks run different numbers of micro-batches, or stop at a failure. So every
// rank gathers along one fixed cycle (embedding, layers 0..L-1, head: a forward; layers L-1..0: a backward),
// moving along it until the unit asked for is resident, and the ranks agree beforehand on the number of passes
// (param_gather_plan): at the end (param_gather_release, param_gather_all) a rank that made fewer goes on along the
// cycle, joining the gathers of the busier ranks, until it has made as many. Nothing but gathers may happen on
// any rank between the plan and that end.
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

typedef struct {
    Model *model;          // NULL: inactive (zero stage < 3), every call returns at once
    const Shard *map;      // the ownership map, one entry per rank (outlives this)
    int world, rank;
    int n_units;           // L layers, then the embedding, then the head
    ParamRange **ranges;   // [n_units]: the unit's tensors, adjacent ones merged
    int *n_ranges;
    int resident;          // the unit gathered now, or -1
    bool whole;            // every weight resident (param_gather_all)
    int64_t gathers;       // along the cycle since the last plan
    int64_t planned;       // gathers every rank makes before the next release (param_gather_plan)
    int ep_k;              // expert parallelism (param_gather_experts): groups of ep_k ranks, else 0
    const struct DistGroup *ep_peers;  // the ranks at this rank's place in every group
} ParamGather;

// Installs the hook in m (whose weights are all resident until the first release).
void param_gather_init(ParamGather *g, Model *m, const Shard *map, int world, int rank);
void param_gather_free(ParamGather *g);
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

// Gives the whole pages inside elements [begin, end) of x back to the kernel (they read as zeros until written);
// the pages at either edge may hold other data and stay.
void param_gather_drop_pages(float *x, size_t begin, size_t end);

#endif

// ZeRO stage 3 (Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models"):
// a rank keeps resident only the weights of the tensors it owns (algo/shard.h). Model.params stays one full-size
// address range; the whole pages of the tensors other ranks own are released (madvise MADV_DONTNEED), and a unit's
// weights (one layer, the embedding, or the final norm with the LM head) are all-gathered from their owners just
// before the model reads them (Model.before_unit), then released when the next unit is gathered.
//
// The gathers are collectives, yet ranks run different numbers of micro-batches, or stop at a failure. So every
// rank gathers along one fixed cycle (embedding, layers 0..L-1, head: a forward; layers L-1..0: a backward),
// moving along it until the unit asked for is resident; at each sync point (param_gather_release,
// param_gather_all) the ranks that gathered fewer go on along the cycle until all have gathered as many.
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
    int64_t gathers;       // along the cycle since the last sync point
} ParamGather;

// Installs the hook in m (whose weights are all resident until the first release).
void param_gather_init(ParamGather *g, Model *m, const Shard *map, int world, int rank);
void param_gather_free(ParamGather *g);
// Collective: after a sync, releases the pages of every weight this rank does not own.
void param_gather_release(ParamGather *g);
// Collective: after a sync, gathers every weight (sampling reads each layer once per token, so it gathers them all
// once before the rollout, as DeepSpeed's hybrid engine does); param_gather_release ends it.
void param_gather_all(ParamGather *g);

#endif

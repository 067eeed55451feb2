#include "algo/shard.h"

#include <stdlib.h>

#include "base/error.h"

// Offset of tensor k's first element (n_params past the last tensor).
static size_t start_of(const ModelTensor *tensors, int n_tensors, int k) {
    return k < n_tensors ? tensors[k].offset : (n_tensors ? tensors[n_tensors - 1].offset + tensors[n_tensors - 1].numel : 0);
}

void shard_map(const ModelTensor *tensors, int n_tensors, int world, Shard *out) {
    size_t n = start_of(tensors, n_tensors, n_tensors);
    int k = 0;
    for (int r = 0; r < world; r++) {
        int end = k;
        if (r == world - 1) end = n_tensors;
        else {
            double target = (double)n * (r + 1) / world;
            // Advance while the next boundary is at least as near to the target as the current one.
            while (end < n_tensors && (double)start_of(tensors, n_tensors, end + 1) - target <=
                                          target - (double)start_of(tensors, n_tensors, end))
                end++;
        }
        out[r] = (Shard){k, end, start_of(tensors, n_tensors, k), start_of(tensors, n_tensors, end)};
        k = end;
    }
}

void shard_map_print(FILE *f, const ModelTensor *tensors, int n_tensors, int world, int stage, bool sample_by_layer) {
    Shard *map = xmalloc((size_t)world * sizeof *map);
    shard_map(tensors, n_tensors, world, map);
    static const char *what[] = {"nothing sharded: every rank holds all weights, gradients and moments",
                                 "Adam moments sharded", "Adam moments sharded, gradients reduce-scattered",
                                 "Adam moments, gradients and weights sharded; each layer's weights all-gathered "
                                 "before its forward and backward"};
    const char *sampling = stage < 3        ? ""
                           : sample_by_layer ? ", and again for each decode step while sampling (evaluation gathers "
                                               "all of them)"
                                             : ", and all of them while sampling";
    fprintf(f, "; zero stage %d over %d rank(s): %s%s\n", stage, world, what[stage], sampling);
    for (int r = 0; r < world && stage > 0; r++) {
        const Shard *s = &map[r];
        if (s->tensor_begin == s->tensor_end) {
            fprintf(f, "; rank %d owns no tensor\n", r);
            continue;
        }
        fprintf(f, "; rank %d owns tensors %d..%d (%s .. %s), elements [%zu, %zu): %zu\n", r, s->tensor_begin,
                s->tensor_end - 1, tensors[s->tensor_begin].name, tensors[s->tensor_end - 1].name, s->begin, s->end,
                s->end - s->begin);
    }
    free(map);
}

int shard_owner(const Shard *map, int world, int tensor) {
    int r = 0;
    while (r < world - 1 && tensor >= map[r].tensor_end) r++;
    return r;
}

int shard_piece_owner(const Model *m, const Shard *map, int world, int k, int tensor, int q) {
    int r = shard_owner(map, world, tensor);
    return expert_tensor(&m->tensors[tensor]) ? r / k * k + q : r;
}

int shard_expert_pieces(const Model *m, const Shard *map, int world, int k, int rank, TensorPiece **out) {
    TensorPiece *all;
    int n_all = expert_held_pieces(m, k, rank % k, &all), n = 0;
    for (int i = 0; i < n_all; i++)
        if (shard_piece_owner(m, map, world, k, all[i].tensor, rank % k) == rank) all[n++] = all[i];
    *out = all;
    return n;
}

void shard_expert_print(FILE *f, const Model *m, int world, int stage, int k) {
    Shard *map = xmalloc((size_t)world * sizeof *map);
    shard_map(m->tensors, m->n_tensors, world, map);
    fprintf(f, "; zero stage %d with expert parallelism %d: a non-expert tensor is owned by its rank above, an expert "
               "tensor's slice of place q by place q of that rank's group\n", stage, k);
    for (int r = 0; r < world; r++) {
        TensorPiece *p;
        int n = shard_expert_pieces(m, map, world, k, r, &p), n_slices = 0;
        size_t elems = 0, expert_elems = 0;
        for (int i = 0; i < n; i++) {
            elems += p[i].end - p[i].begin;
            if (!expert_tensor(&m->tensors[p[i].tensor])) continue;
            n_slices++;
            expert_elems += p[i].end - p[i].begin;
        }
        fprintf(f, "; rank %d (place %d) owns %d non-expert tensor(s) and %d expert slice(s) of place %d: %zu "
                   "elements, %zu of them expert\n", r, r % k, n - n_slices, n_slices, r % k, elems, expert_elems);
        free(p);
    }
    free(map);
}

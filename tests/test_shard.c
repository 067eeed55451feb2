// The ZeRO ownership map (algo/shard.h): whole tensors, contiguous runs in rank order covering the table once,
// balanced to within one tensor of the even share.
#include <criterion/criterion.h>
#include <stdio.h>

#include "algo/shard.h"

// A table of n tensors with the given sizes, laid out back to back.
static void table(ModelTensor *t, const size_t *numel, int n) {
    size_t off = 0;
    for (int k = 0; k < n; k++) {
        t[k] = (ModelTensor){.ndim = 1, .shape = {(int64_t)numel[k]}, .offset = off, .numel = numel[k]};
        snprintf(t[k].name, sizeof t[k].name, "t%d", k);
        off += numel[k];
    }
}

static void check_cover(const ModelTensor *t, int n, const Shard *map, int world) {
    size_t total = t[n - 1].offset + t[n - 1].numel;
    cr_expect(map[0].tensor_begin == 0 && map[0].begin == 0);
    cr_expect(map[world - 1].tensor_end == n && map[world - 1].end == total);
    for (int r = 0; r < world; r++) {
        const Shard *s = &map[r];
        if (r > 0) cr_expect(s->tensor_begin == map[r - 1].tensor_end && s->begin == map[r - 1].end, "rank %d", r);
        cr_expect(s->tensor_begin <= s->tensor_end);
        // Whole tensors: the element range is exactly that of its tensors.
        size_t b = s->tensor_begin < n ? t[s->tensor_begin].offset : total;
        size_t e = s->tensor_end < n ? t[s->tensor_end].offset : total;
        cr_expect(s->begin == b && s->end == e, "rank %d: [%zu, %zu) vs tensors' [%zu, %zu)", r, s->begin, s->end, b, e);
    }
}

Test(shard, even_tensors_split_evenly) {
    size_t sizes[8] = {10, 10, 10, 10, 10, 10, 10, 10};
    ModelTensor t[8];
    table(t, sizes, 8);
    for (int world = 1; world <= 8; world *= 2) {
        Shard map[8];
        shard_map(t, 8, world, map);
        check_cover(t, 8, map, world);
        for (int r = 0; r < world; r++) cr_expect(map[r].end - map[r].begin == 80u / world, "world %d rank %d", world, r);
    }
}

Test(shard, uneven_tensors_within_one_tensor_of_the_share) {
    // By hand for 3 ranks (total 120, shares at 40 and 80): boundaries 0|5,30,5 (offset 40)|50 (90)|30 -> 40, 50, 30.
    size_t sizes[5] = {5, 30, 5, 50, 30};
    ModelTensor t[5];
    table(t, sizes, 5);
    Shard map[3];
    shard_map(t, 5, 3, map);
    check_cover(t, 5, map, 3);
    cr_expect(map[0].tensor_end == 3 && map[1].tensor_end == 4, "boundaries after tensors %d, %d", map[0].tensor_end,
              map[1].tensor_end);
}

Test(shard, more_ranks_than_tensors_leaves_some_empty) {
    size_t sizes[2] = {100, 100};
    ModelTensor t[2];
    table(t, sizes, 2);
    Shard map[4];
    shard_map(t, 2, 4, map);
    check_cover(t, 2, map, 4);
    int owners = 0;
    for (int r = 0; r < 4; r++) owners += map[r].end > map[r].begin;
    cr_expect(owners == 2, "%d ranks own something", owners);
}

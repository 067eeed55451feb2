// The expert-parallel map (model/expert_map.h) on a real MoE table (Qwen2-MoE with a shared expert): contiguous
// equal expert ranges in place order; each expert tensor's slices, over the places, tile it once and hold exactly
// the owned experts' rows; the held pieces are every other tensor whole plus the place's slices.
#include <criterion/criterion.h>
#include <string.h>

#include "model/expert_map.h"
#include "model_testutil.h"

Test(expert_map, ranges_are_contiguous_equal_and_owned) {
    for (int k = 1; k <= 8; k *= 2) {
        int next = 0;
        for (int q = 0; q < k; q++) {
            int b, e;
            expert_range(8, k, q, &b, &e);
            cr_expect(b == next && e - b == 8 / k, "k %d place %d: [%d, %d)", k, q, b, e);
            for (int x = b; x < e; x++) cr_expect_eq(expert_owner(8, k, x), q, "k %d expert %d", k, x);
            next = e;
        }
        cr_expect_eq(next, 8);
    }
}

Test(expert_map, slices_tile_each_expert_tensor_and_pieces_hold_the_rest) {
    Model m;
    tiny_model(&m, TINY_QWEN2_MOE, sizeof TINY_QWEN2_MOE / sizeof *TINY_QWEN2_MOE, 3);
    int n_expert_tensors = 0;
    for (int i = 0; i < m.n_tensors; i++) {
        const ModelTensor *t = &m.tensors[i];
        bool stacked = strstr(t->name, ".mlp.experts.") != NULL;
        cr_expect_eq(expert_tensor(t), stacked, "%s", t->name);
        n_expert_tensors += stacked;
        if (!stacked) continue;
        cr_expect(t->ndim == 3 && t->shape[0] == 4, "%s", t->name);
        for (int k = 1; k <= 4; k *= 2) {
            size_t end_prev = 0;
            for (int q = 0; q < k; q++) {
                size_t b, e;
                expert_slice(t, k, q, &b, &e);
                size_t row = t->numel / 4;  // one expert
                cr_expect(b == end_prev && b == (size_t)q * (4 / k) * row && e - b == (size_t)(4 / k) * row,
                          "%s k %d place %d: [%zu, %zu)", t->name, k, q, b, e);
                end_prev = e;
            }
            cr_expect_eq(end_prev, t->numel, "%s k %d", t->name, k);
        }
    }
    cr_expect_eq(n_expert_tensors, 3 * 2, "gate, up and down of both layers");
    TensorPiece *p;
    int n = expert_held_pieces(&m, 2, 1, &p);
    cr_assert_eq(n, m.n_tensors);
    for (int i = 0; i < n; i++) {
        const ModelTensor *t = &m.tensors[i];
        size_t b = 0, e = t->numel;
        if (expert_tensor(t)) b = t->numel / 2, e = t->numel;  // place 1 of 2: experts 2 and 3
        cr_expect(p[i].tensor == i && p[i].begin == b && p[i].end == e, "%s: [%zu, %zu)", t->name, p[i].begin,
                  p[i].end);
    }
    free(p);
    model_free(&m);
}

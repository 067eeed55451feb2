// The order in which moe.c adds a token's K expert slots: by expert index (it loops over experts, then slots).
#ifndef RLVR_MOE_ORDER_CUH
#define RLVR_MOE_ORDER_CUH

#include <stdint.h>

#define MAX_K 64  // MODEL_MAX_EXPERTS_PER_TOK (src/base/config.h)

// order[0..K) = token t's slots sorted by their expert (top_e distinct within a token); one thread calls it.
__device__ __forceinline__ void moe_slot_order(const int32_t *top_e, int t, int K, int *order) {
    int last = -1;
    for (int k = 0; k < K; k++) {
        int best = -1;
        for (int j = 0; j < K; j++) {
            int ej = top_e[(size_t)t * K + j];
            if (ej > last && (best < 0 || ej < top_e[(size_t)t * K + best])) best = j;
        }
        order[k] = best;
        last = top_e[(size_t)t * K + best];
    }
}

#endif

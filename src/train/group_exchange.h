// Moving selected groups between ranks: a dynamic rollout schedule hands each group back to the rank that
// owns it in the static schedule, and token-balanced training (train.balance = tokens) sends each group to
// the ranks that train its micro-batches. A group travels whole: prompt, G responses (tokens, log-probs,
// entropies, experts, finish), rewards and, when given, its advantages.
#ifndef RLVR_GROUP_EXCHANGE_H
#define RLVR_GROUP_EXCHANGE_H

#include <stdint.h>

#include "train/group_set.h"

// Collective. Sends g[0 .. n) (whose responses carry stride expert ids per token) to the ranks marked in dest
// (dest[i * world size + r] != 0 sends group i to rank r, this rank included) and appends what this rank
// receives to into, in ascending candidate order (their responses in new Rollouts of into). With adv
// (adv[i * G + j] for g[i]), *adv_into (aligned with into->g, G per group) is grown to hold the received
// groups' advantages.
void group_exchange(const Group *g, int n, int G, int stride, const double *adv, const uint8_t *dest, Groups *into,
                    double **adv_into);

#endif

// Moving groups between ranks (train/group_exchange.h) in a world of one: what this rank sends itself comes back
// whole, and an exchange in which it receives nothing leaves its groups as they were.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "train/group_exchange.h"

enum { G = 2 };

// One group of G responses of 3 tokens, candidate 5, without expert ids.
static Group one_group(Response resp[G], RewardResult rr[G], int32_t prompt[2], int32_t tokens[3], double v[3]) {
    for (int j = 0; j < G; j++) {
        resp[j] = (Response){.prompt_index = 9, .sample_index = j, .n_tokens = 3, .tokens = tokens, .logp = v,
                             .entropy = v, .finish = FINISH_EOS};
        rr[j] = (RewardResult){.correct = j == 0, .total = j == 0 ? 1.0 : 0.0};
    }
    return (Group){.cand = 5, .pos = 0, .prompt = prompt, .prompt_len = 2, .resp = resp, .rr = rr};
}

Test(group_exchange, a_group_sent_to_itself_comes_back_whole) {
    Response resp[G];
    RewardResult rr[G];
    int32_t prompt[2] = {7, 8}, tokens[3] = {1, 2, 3};
    double v[3] = {-0.5, -1.25, -2.0}, adv[G] = {0.5, -0.5}, *adv_into = NULL;
    Group g = one_group(resp, rr, prompt, tokens, v);
    uint8_t dest[1] = {1};
    Groups into = {0};
    group_exchange(&g, 1, G, 0, adv, dest, &into, &adv_into);
    cr_assert_eq(into.n, 1);
    cr_expect_eq(into.g[0].cand, 5);
    cr_expect_eq(into.g[0].prompt_len, 2);
    cr_expect_eq(into.g[0].prompt[1], 8);
    cr_expect_eq(into.g[0].resp[1].sample_index, 1);
    cr_expect_eq(into.g[0].resp[1].tokens[2], 3);
    cr_expect_eq(into.g[0].resp[1].logp[1], -1.25);
    cr_expect(into.g[0].rr[0].correct && !into.g[0].rr[1].correct);
    cr_expect_eq(adv_into[0], 0.5);
    cr_expect_eq(adv_into[1], -0.5);
    groups_free(&into), free(adv_into);
}

// A rank that receives no group (dynamic sampling on 2 ranks where every kept group stays with the other rank):
// the received list is empty, never sorted as a null array (UndefinedBehaviorSanitizer, make test SAN=1, stopped
// rlvr train with rollout.schedule=dynamic, train.balance=tokens and algo.dynamic_sampling=true there).
Test(group_exchange, receiving_nothing_leaves_the_groups_as_they_were) {
    Response resp[G];
    RewardResult rr[G];
    int32_t prompt[2] = {7, 8}, tokens[3] = {1, 2, 3};
    double v[3] = {-0.5, -1.25, -2.0}, adv[G] = {0.5, -0.5}, *adv_into = NULL;
    Group g = one_group(resp, rr, prompt, tokens, v);
    uint8_t dest[1] = {0};
    Groups into = {0};
    group_exchange(&g, 1, G, 0, adv, dest, &into, &adv_into);
    cr_expect_eq(into.n, 0);
    cr_expect_eq(into.n_rollouts, 0);
    group_exchange(NULL, 0, G, 0, NULL, dest, &into, NULL);
    cr_expect_eq(into.n, 0);
    groups_free(&into), free(adv_into);
}

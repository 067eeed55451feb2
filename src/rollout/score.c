#include "rollout/score.h"

#include <stdlib.h>

int score_response(const RewardConfig *rc, const Task *task, const Tokenizer *tok, const char *answer,
                   const Response *r, int max_new_tokens, RewardResult *out, Err *e) {
    int n = r->n_tokens - (r->finish == FINISH_EOS && r->n_tokens > 0);
    size_t len;
    char *text = tokenizer_decode(tok, r->tokens, n, &len);
    int ret = reward_compute(rc, task, answer, text, r->n_tokens, r->finish == FINISH_LENGTH, max_new_tokens, out, e);
    free(text);
    return ret;
}

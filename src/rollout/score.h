// The reward of one sampled response (results/objectives.md §4): the text of its tokens without the final EOS,
// judged by the task's verifier, with truncation and length taken from the response itself.
#ifndef RLVR_SCORE_H
#define RLVR_SCORE_H

#include "base/config.h"
#include "base/error.h"
#include "rollout/sampler.h"
#include "task/reward.h"
#include "task/task.h"
#include "text/tokenizer.h"

int score_response(const RewardConfig *rc, const Task *task, const Tokenizer *tok, const char *answer,
                   const Response *r, int max_new_tokens, RewardResult *out, Err *e);

#endif

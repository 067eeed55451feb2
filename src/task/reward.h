// Rewards from verdicts: accuracy, format and DAPO overlong punishment (results/objectives.md §4).
#ifndef RLVR_REWARD_H
#define RLVR_REWARD_H

#include <stdbool.h>

#include "base/config.h"
#include "base/error.h"
#include "task/task.h"
#include "text/verify.h"

typedef struct {
    bool correct;       // the task's verifier accepted the extracted answer
    bool format_ok;     // reward.format_pattern (PCRE2) matches the response
    bool loss_masked;   // truncated and reward.overlong_filter: exclude this response from the loss
    char extracted[VERIFY_MAX_ANSWER];
    double r_acc, r_format, r_overlong, total;  // total = r_acc + r_format + r_overlong
} RewardResult;

// Checks reward.format_pattern compiles (call once at start-up for a clear config error).
int reward_check_config(const RewardConfig *rc, Err *e);

// results/objectives.md §4: R = R_acc + R_format + R_overlong for one response of response_len_tokens tokens.
//   R_acc      = 1 / 0 (binary) or +1 / -1 (pm1) from task_verify(task, answer, response_text)
//   R_format   = reward.format_reward when format_pattern matches, else 0
//   R_overlong = min(0, ((L_max - L_buf) - |y|) / L_buf) * f with L_max = max_new_tokens,
//                L_buf = reward.overlong_buffer (0 disables), f = reward.overlong_factor
// truncated: the response hit max_new_tokens without EOS. max_new_tokens is the limit the response was sampled
// under, rollout.max_new_tokens in training (evaluation scores without the term, src/eval/evaluate.c). Fails on a
// bad format_pattern, or on L_buf > L_max, which the config check rules out for rollout.max_new_tokens only.
int reward_compute(const RewardConfig *rc, const Task *task, const char *answer, const char *response_text,
                   int response_len_tokens, bool truncated, int max_new_tokens, RewardResult *out, Err *e);

#endif

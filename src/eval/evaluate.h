// Evaluation of a model on prompts with verifiable answers: K samples per prompt, each verified by the task,
// and the numbers the papers report (results/objectives.md §5 "Evaluation"). Ranks take whole prompts;
// every statistic is computed from all-gathered per-prompt arrays in prompt order, so it has the same bits
// on every rank and for any number of ranks.
#ifndef RLVR_EVALUATE_H
#define RLVR_EVALUATE_H

#include <stdint.h>

#include "base/config.h"
#include "base/error.h"
#include "model/model.h"
#include "task/prompts.h"
#include "task/task.h"
#include "text/tokenizer.h"

#define EVAL_MAX_PASS 24  // pass@1, 2, 4, ... up to 2^22, then pass@K

typedef struct {
    int64_t prompts;
    int samples;               // K per prompt
    double avg, avg_stderr;    // avg@K: mean accuracy over all samples, and its standard error over prompts
    double maj;                // maj@K: share of prompts whose majority answer is correct
    int n_pass;
    int pass_k[EVAL_MAX_PASS];  // 1, 2, 4, ..., and K itself
    double pass[EVAL_MAX_PASS];  // unbiased pass@k averaged over prompts
    double length_mean, length_median, length_p90;  // response tokens
    double truncated;          // share of responses that hit max_new_tokens
    int64_t skipped_lines;     // eval data records data.skip_bad_lines left out (evaluate_benchmark)
    char skip_note[1200];      // their count and the first one's error for the log, "" when none (task_skip_note)
} EvalResult;

// Evaluations draw with their own RNG step coordinate, EVAL_RNG_STEP + the checkpoint's step, apart from any
// training step's: the held-out evaluation during training and `rlvr eval` of its checkpoint draw the same.
#define EVAL_RNG_STEP (INT64_C(1) << 31)

// Samples rc->n responses for each prompt of this rank's share ps (contiguous, in global prompt order) with
// the draws of step rng_step, verifies them, and fills out on every rank. With lines != NULL rank 0 gets
// every response as a JSON line (benchmark = label, prompt_index, sample_index, prompt, answer, response,
// extracted, correct, reward, tokens, finish_reason) in prompt order, malloc'd; other ranks get NULL. Its reward is
// R_acc + R_format: the overlong punishment is a training term at rollout.max_new_tokens (results/objectives.md §4).
int evaluate(Model *m, const Tokenizer *tok, const Task *task, const RewardConfig *reward, const RolloutConfig *rc,
             const PromptSet *ps, int64_t rng_step, EvalResult *out, const char *label, char **lines, Err *e);

#endif

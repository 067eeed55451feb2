#include "train/eval.h"

#include <stdlib.h>

#include "base/dist.h"
#include "rollout/score.h"
#include "task/prompts.h"

#define EVAL_RNG_STEP (INT64_C(1) << 31)

// Generates with rc and adds (correct, tokens, responses) to sums.
static int eval_pass(Model *m, const Tokenizer *tok, const Task *task, const Config *cfg, const PromptSet *ps,
                     const RolloutConfig *rc, int64_t step, double sums[3], Err *e) {
    Rollout r = {0};
    TRY(sampler_generate(m, tok, rc, EVAL_RNG_STEP + step, ps->n, ps->index, (const int32_t *const *)ps->tokens, ps->len,
                         &r, e));
    int ret = 0;
    for (int i = 0; i < r.n_responses && !ret; i++) {
        const Response *resp = &r.responses[i];
        RewardResult rr;
        ret = score_response(&cfg->reward, task, tok, ps->answer[i / rc->n], resp, rc->max_new_tokens, &rr, e);
        sums[0] += rr.correct, sums[1] += resp->n_tokens, sums[2] += 1;
    }
    rollout_free(&r);
    return ret;
}

int eval_heldout(Model *m, const Tokenizer *tok, const Task *task, const Config *cfg, int64_t step, EvalMetrics *out,
                 Err *e) {
    int64_t n_total = task_split_size(task, SPLIT_EVAL), lo, hi;
    if (n_total > cfg->eval.n_prompts) n_total = cfg->eval.n_prompts;
    dist_share(n_total, &lo, &hi);
    PromptSet ps = {0};
    double sums[6] = {0};  // greedy: correct, tokens, responses; sampled: the same
    RolloutConfig greedy = cfg->rollout;
    greedy.temperature = 0, greedy.n = 1;
    int rc = prompts_from_task(&ps, task, SPLIT_EVAL, lo, hi - lo, false, tok, e);
    if (!rc) rc = eval_pass(m, tok, task, cfg, &ps, &greedy, step, sums, e);
    if (!rc) rc = eval_pass(m, tok, task, cfg, &ps, &cfg->rollout, step, sums + 3, e);
    prompts_free(&ps);
    TRY(dist_agree(rc, e));
    dist_allreduce_sum_f64(sums, 6);
    *out = (EvalMetrics){.step = step, .prompts = n_total, .samples_per_prompt = cfg->rollout.n,
                         .greedy_accuracy = sums[2] > 0 ? sums[0] / sums[2] : 0,
                         .greedy_length_mean = sums[2] > 0 ? sums[1] / sums[2] : 0,
                         .sampled_accuracy = sums[5] > 0 ? sums[3] / sums[5] : 0,
                         .sampled_length_mean = sums[5] > 0 ? sums[4] / sums[5] : 0};
    return 0;
}

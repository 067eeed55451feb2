#include "train/eval.h"

#include "base/dist.h"
#include "eval/benchmark.h"
#include "eval/evaluate.h"
#include "task/prompts.h"

int eval_heldout(Model *m, const Tokenizer *tok, const Task *task, const Config *cfg, int64_t step, EvalMetrics *out,
                 Err *e) {
    int64_t n_total = task_split_size(task, SPLIT_EVAL), lo, hi;
    if (n_total > cfg->eval.n_prompts) n_total = cfg->eval.n_prompts;
    dist_share(n_total, &lo, &hi);
    PromptSet ps = {0};
    EvalResult g, s;
    RolloutConfig sampled = eval_sampling(cfg), greedy = sampled;
    greedy.temperature = 0, greedy.n = 1;
    int rc = prompts_from_task(&ps, task, SPLIT_EVAL, lo, hi - lo, false, tok, e);
    TRY(dist_agree(rc, e));
    rc = evaluate(m, tok, task, &cfg->reward, &greedy, &ps, EVAL_RNG_STEP + step, &g, NULL, NULL, e);
    if (!rc) rc = evaluate(m, tok, task, &cfg->reward, &sampled, &ps, EVAL_RNG_STEP + step, &s, NULL, NULL, e);
    prompts_free(&ps);
    TRY(rc);
    *out = (EvalMetrics){.step = step, .prompts = n_total, .samples_per_prompt = sampled.n,
                         .greedy_accuracy = g.avg, .greedy_length_mean = g.length_mean,
                         .sampled_accuracy = s.avg, .sampled_length_mean = s.length_mean};
    return 0;
}

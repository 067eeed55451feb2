#include "train/eval.h"

#include "base/dist.h"
#include "eval/benchmark.h"
#include "eval/evaluate.h"

int eval_heldout(Model *m, const Tokenizer *tok, const Task *task, const Config *cfg, int64_t step, EvalMetrics *out,
                 Err *e) {
    PromptSet ps = {0};
    EvalResult g, s;
    RolloutConfig sampled = eval_sampling(cfg), greedy = sampled;
    greedy.temperature = 0, greedy.n = 1;
    int rc = benchmark_prompts(cfg, task, true, tok, &ps, e);
    TRY(dist_agree(rc, e));
    rc = evaluate(m, tok, task, &cfg->reward, &greedy, &ps, EVAL_RNG_STEP + step, &g, NULL, NULL, e);
    if (!rc) rc = evaluate(m, tok, task, &cfg->reward, &sampled, &ps, EVAL_RNG_STEP + step, &s, NULL, NULL, e);
    prompts_free(&ps);
    TRY(rc);
    *out = (EvalMetrics){.step = step, .prompts = g.prompts, .samples_per_prompt = sampled.n,
                         .greedy_accuracy = g.avg, .greedy_length_mean = g.length_mean,
                         .sampled_accuracy = s.avg, .sampled_length_mean = s.length_mean};
    return 0;
}

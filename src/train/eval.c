// Held-out evaluation: greedy and sampled accuracy and mean response length on the first eval.n_prompts
// problems of the task's eval split, each rank taking a share of the prompts; sums are global.
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "task/reward.h"
#include "rollout/sampler.h"
#include "train/trainer.h"

// Evaluation draws use their own RNG step coordinate, apart from any training step's.
#define EVAL_RNG_STEP (INT64_C(1) << 31)

typedef struct {
    int n;
    int64_t *idx;
    int32_t **prompts;
    int *lens;
    char **answers;
} EvalSet;

static void eval_set_free(EvalSet *s) {
    for (int i = 0; i < s->n; i++) free(s->prompts[i]), free(s->answers[i]);
    free(s->idx), free(s->prompts), free(s->lens), free(s->answers);
}

static int eval_set(Trainer *t, int64_t n_total, EvalSet *s, Err *e) {
    int64_t lo, hi;
    dist_share(n_total, &lo, &hi);
    s->n = (int)(hi - lo);
    size_t n = (size_t)(s->n ? s->n : 1);
    s->idx = xmalloc(n * sizeof *s->idx), s->prompts = xcalloc(n, sizeof *s->prompts);
    s->lens = xcalloc(n, sizeof *s->lens), s->answers = xcalloc(n, sizeof *s->answers);
    for (int i = 0; i < s->n; i++) {
        TaskItem item;
        s->idx[i] = lo + i;
        TRY(task_item(t->task, SPLIT_EVAL, lo + i, &item, e));
        int rc = encode_prompt(t->tok, item.prompt, &s->prompts[i], &s->lens[i], e);
        s->answers[i] = item.answer, item.answer = NULL;
        task_item_free(&item);
        TRY(rc);
    }
    return 0;
}

// Generates with rc and adds (correct, tokens, responses) to sums.
static int eval_pass(Trainer *t, const EvalSet *s, const RolloutConfig *rc, int64_t step, double sums[3], Err *e) {
    Rollout r;
    memset(&r, 0, sizeof r);
    TRY(sampler_generate(&t->model, t->tok, rc, EVAL_RNG_STEP + step, s->n, s->idx, (const int32_t *const *)s->prompts,
                         s->lens, &r, e));
    int ret = 0;
    for (int i = 0; i < r.n_responses && !ret; i++) {
        const Response *resp = &r.responses[i];
        int n = resp->n_tokens - (resp->finish == FINISH_EOS && resp->n_tokens > 0);
        size_t len;
        char *text = tokenizer_decode(t->tok, resp->tokens, n, &len);
        RewardResult rr;
        ret = reward_compute(&t->cfg.reward, t->task, s->answers[i / rc->n], text, resp->n_tokens,
                             resp->finish == FINISH_LENGTH, rc->max_new_tokens, &rr, e);
        free(text);
        sums[0] += rr.correct, sums[1] += resp->n_tokens, sums[2] += 1;
    }
    rollout_free(&r);
    return ret;
}

int trainer_eval(Trainer *t, int64_t step, cJSON *out, Err *e) {
    int64_t n_total = task_split_size(t->task, SPLIT_EVAL);
    if (n_total > t->cfg.eval.n_prompts) n_total = t->cfg.eval.n_prompts;
    EvalSet s = {0};
    double sums[6] = {0};  // greedy: correct, tokens, responses; sampled: the same
    RolloutConfig greedy = t->cfg.rollout;
    greedy.temperature = 0, greedy.n = 1;
    int rc = eval_set(t, n_total, &s, e);
    if (!rc) rc = eval_pass(t, &s, &greedy, step, sums, e);
    if (!rc) rc = eval_pass(t, &s, &t->cfg.rollout, step, sums + 3, e);
    eval_set_free(&s);
    TRY(trainer_agree(rc, e));
    dist_allreduce_sum_f64(sums, 6);
    cJSON_AddNumberToObject(out, "prompts", (double)n_total);
    cJSON_AddNumberToObject(out, "greedy_accuracy", sums[2] > 0 ? sums[0] / sums[2] : 0);
    cJSON_AddNumberToObject(out, "greedy_length_mean", sums[2] > 0 ? sums[1] / sums[2] : 0);
    cJSON_AddNumberToObject(out, "sampled_accuracy", sums[5] > 0 ? sums[3] / sums[5] : 0);
    cJSON_AddNumberToObject(out, "sampled_length_mean", sums[5] > 0 ? sums[4] / sums[5] : 0);
    cJSON_AddNumberToObject(out, "samples_per_prompt", t->cfg.rollout.n);
    return 0;
}

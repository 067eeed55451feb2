#include "train/rl_step.h"

#include <math.h>
#include <stdlib.h>

#include "base/dist.h"
#include "base/walltime.h"
#include "train/groups.h"
#include "train/rl_update.h"

// results/objectives.md §1: advantages of this rank's selected responses (adv[i * G + j]) from global group statistics.
static int advantages(const Groups *gs, const Config *cfg, double *adv, AdvStats *st, Err *e) {
    int G = cfg->rollout.n;
    int64_t n = (int64_t)gs->n * G;
    double *reward = xmalloc((size_t)(n + 1) * sizeof *reward);
    uint8_t *correct = xmalloc((size_t)(n + 1));
    int64_t *length = xmalloc((size_t)(n + 1) * sizeof *length), *group = xmalloc((size_t)(n + 1) * sizeof *group);
    for (int i = 0; i < gs->n; i++)
        for (int j = 0; j < G; j++) {
            int64_t q = (int64_t)i * G + j;
            reward[q] = gs->g[i].rr[j].total, correct[q] = gs->g[i].rr[j].correct;
            // GRPO-λ's L = |y_i|, the response's loss tokens: none when the overlong filter masks it.
            length[q] = gs->g[i].rr[j].loss_masked ? 0 : gs->g[i].resp[j].n_tokens, group[q] = gs->g[i].cand;
        }
    AdvParams p = adv_params(cfg);
    int rc = adv_compute_dist(&p, reward, correct, length, group, n, NULL, adv, st, e);
    free(reward), free(correct), free(length), free(group);
    return rc;
}

// results/objectives.md §5 rollout metrics: global sums over the selected responses; returns their tokens.
static double rollout_metrics(const Groups *gs, int G, RolloutMetrics *m) {
    double s[6] = {0}, lmin = INFINITY, lmax = 0;  // responses, correct, format, tokens, truncated, masked
    for (int i = 0; i < gs->n; i++)
        for (int j = 0; j < G; j++) {
            const Response *r = &gs->g[i].resp[j];
            const RewardResult *rr = &gs->g[i].rr[j];
            s[0] += 1, s[1] += rr->correct, s[2] += rr->format_ok, s[3] += r->n_tokens;
            s[4] += r->finish == FINISH_LENGTH, s[5] += rr->loss_masked;
            lmin = fmin(lmin, r->n_tokens), lmax = fmax(lmax, r->n_tokens);
        }
    dist_allreduce_sum_f64(s, 6);
    dist_allreduce_min_f64(&lmin, 1);
    dist_allreduce_max_f64(&lmax, 1);
    double n = s[0] > 0 ? s[0] : 1;
    *m = (RolloutMetrics){.sequences = s[0], .accuracy = s[1] / n, .format_rate = s[2] / n, .length_mean = s[3] / n,
                          .truncation_rate = s[4] / n, .masked_rate = s[5] / n,
                          .length_min = s[0] > 0 ? lmin : 0, .length_max = lmax};
    return s[3];
}

// Throughput and the slowest rank's times; trained_tokens is the selected responses' global token count.
static void timing_metrics(const Groups *gs, double train_s, double trained_tokens, int ppo_epochs, StepMetrics *m) {
    double times[3] = {gs->sample_s, gs->score_s, train_s}, sampled_tokens = gs->rollout_tokens;
    dist_allreduce_max_f64(times, 3);
    dist_allreduce_sum_f64(&sampled_tokens, 1);
    m->rollout.time_sampling_s = times[0], m->rollout.time_scoring_s = times[1], m->time_training_s = times[2];
    m->rollout.tokens_per_s_rollout = times[0] > 0 ? sampled_tokens / times[0] : 0;
    m->tokens_per_s_train = times[2] > 0 ? trained_tokens * ppo_epochs / times[2] : 0;
}

int rl_step(Run *r, int64_t step, StepMetrics *m, Err *e) {
    const Config *c = &r->cfg;
    Groups gs = {0};
    *m = (StepMetrics){.kind = STEP_RL, .step = step, .grpo_lambda = c->algo.name == ALGO_GRPO_LAMBDA};
    int rc = groups_sample(&gs, &r->model, r->tok, r->task, c, step, &r->st.data_cursor, e);
    double *adv = xmalloc(((size_t)gs.n * (size_t)c->rollout.n + 1) * sizeof *adv);
    double t0 = walltime_s();
    if (!rc) rc = dist_agree(advantages(&gs, c, adv, &m->adv, e), e);
    gs.score_s += walltime_s() - t0;
    double t1 = walltime_s();
    double lr = lr_at(step, r->total_steps, c->train.lr, c->train.warmup_steps, c->train.schedule, c->train.min_lr_ratio);
    if (!rc) rc = rl_update(r, &gs, adv, lr, &m->loss, &m->update, e);
    if (!rc) {
        double train_s = walltime_s() - t1, tokens = rollout_metrics(&gs, c->rollout.n, &m->rollout);
        m->rollout.gen_batches = gs.gen_batches, m->rollout.groups_selected = gs.n_selected;
        timing_metrics(&gs, train_s, tokens, c->train.ppo_epochs, m);
        r->st.tokens_total += (int64_t)tokens;
    }
    free(adv);
    groups_free(&gs);
    return rc;
}

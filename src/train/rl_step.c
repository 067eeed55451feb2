#include "train/rl_step.h"

#include <math.h>
#include <stdlib.h>

#include "base/dist.h"
#include "base/walltime.h"
#include "train/groups.h"
#include "train/packing.h"
#include "train/rl_update.h"

int rl_step_advantages(const Groups *gs, const Config *cfg, int64_t step, double *adv, AdvStats *st, Err *e) {
    int G = cfg->rollout.n;
    int64_t n = (int64_t)gs->n * G;
    double *reward = xmalloc((size_t)(n + 1) * sizeof *reward);
    uint8_t *correct = xmalloc((size_t)(n + 1));
    int64_t *length = xmalloc((size_t)(n + 1) * sizeof *length), *group = xmalloc((size_t)(n + 1) * sizeof *group);
    for (int i = 0; i < gs->n; i++)
        for (int j = 0; j < G; j++) {
            int64_t q = (int64_t)i * G + j;
            reward[q] = gs->g[i].rr[j].total, correct[q] = gs->g[i].rr[j].correct;
            // GRPO-λ's L: the tokens generated, as the overlong term counts them, also where the overlong filter
            // masks the response (as its loss tokens, 0, the longest response would rank as the shortest).
            length[q] = gs->g[i].resp[j].n_tokens, group[q] = gs->g[i].cand;
        }
    AdvParams p = adv_params(cfg);
    p.step = step;
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

static RankSpread spread(const double *all, int world, int stride, int field) {
    RankSpread s = {all[field], all[field], 0, 0};
    for (int r = 1; r < world; r++) {
        double v = all[(size_t)r * stride + field];
        if (v > s.max) s.max = v, s.max_rank = r;
        if (v < s.min) s.min = v, s.min_rank = r;
    }
    return s;
}

// Throughput, the slowest rank's phase times, and every rank's busy and waiting times (RankTimes).
static void timing_metrics(const Groups *gs, double train_s, double train_wait_s, double trained_tokens,
                           int ppo_epochs, StepMetrics *m) {
    double mine[6] = {gs->sample_s, gs->score_s, train_s - train_wait_s, gs->wait_s + train_wait_s,
                      (double)gs->n_sampled, train_s};
    size_t n;
    double *all = dist_allgatherv_f64(mine, 6, &n, NULL), sampled_tokens = gs->rollout_tokens;
    int world = (int)(n / 6);
    RankTimes *t = &m->ranks;
    *t = (RankTimes){.world = world, .sampling_s = spread(all, world, 6, 0), .scoring_s = spread(all, world, 6, 1),
                     .training_s = spread(all, world, 6, 2), .waiting_s = spread(all, world, 6, 3),
                     .groups_sampled = spread(all, world, 6, 4)};
    double train_wall = spread(all, world, 6, 5).max;
    free(all);
    dist_allreduce_sum_f64(&sampled_tokens, 1);
    m->rollout.time_sampling_s = t->sampling_s.max, m->rollout.time_scoring_s = t->scoring_s.max;
    m->time_training_s = train_wall;
    m->rollout.tokens_per_s_rollout = t->sampling_s.max > 0 ? sampled_tokens / t->sampling_s.max : 0;
    m->tokens_per_s_train = train_wall > 0 ? trained_tokens * ppo_epochs / train_wall : 0;
}

// The learning half on this rank's own groups (train.balance = sequences) or on its token-balanced share.
static int update(Run *r, const Groups *gs, const double *adv, double lr, StepMetrics *m, double *wait_s, Err *e) {
    if (r->cfg.train.balance == BALANCE_SEQUENCES)
        return rl_update(r, gs, adv, NULL, 0, lr, &m->loss, &m->update, wait_s, e);
    TrainShare share;
    packing_share(gs, adv, &r->cfg, &share);
    int rc = rl_update(r, &share.gs, share.adv, share.micro, share.n_micro, lr, &m->loss, &m->update, wait_s, e);
    train_share_free(&share);
    return rc;
}

int rl_step(Run *r, int64_t step, StepMetrics *m, Err *e) {
    const Config *c = &r->cfg;
    Groups gs = {0};
    *m = (StepMetrics){.kind = STEP_RL, .step = step, .grpo_lambda = c->algo.name == ALGO_GRPO_LAMBDA};
    // Zero stage 3: each decode step gathers the layers one at a time (the static schedule calls Model.units_done
    // on every rank together); the dynamic queue's collectives would meet those gathers, so it gathers every weight,
    // as dist.sample_gather = whole asks (faster where the whole model fits).
    if (c->rollout.schedule == ROLLOUT_STATIC && c->dist.sample_gather == SAMPLE_GATHER_LAYER)
        param_gather_stream(&r->up.gather);
    else param_gather_all(&r->up.gather);
    int rc = groups_sample(&gs, &r->model, r->tok, r->task, c, step, &r->st.data_cursor, e);
    param_gather_release(&r->up.gather);
    double *adv = xmalloc(((size_t)gs.n * (size_t)c->rollout.n + 1) * sizeof *adv);
    double t0 = walltime_s();
    if (!rc) rc = dist_agree(rl_step_advantages(&gs, c, step, adv, &m->adv, e), e);
    gs.score_s += walltime_s() - t0;
    double t1 = walltime_s(), train_wait = 0;
    double lr = lr_at(step, r->total_steps, c->train.lr, c->train.warmup_steps, c->train.schedule, c->train.min_lr_ratio);
    if (!rc) rc = update(r, &gs, adv, lr, m, &train_wait, e);
    if (!rc) {
        double train_s = walltime_s() - t1, tokens = rollout_metrics(&gs, c->rollout.n, &m->rollout);
        m->rollout.gen_batches = gs.gen_batches, m->rollout.groups_selected = gs.n_selected;
        timing_metrics(&gs, train_s, train_wait, tokens, c->train.ppo_epochs, m);
        r->st.tokens_total += (int64_t)tokens;
    }
    free(adv);
    groups_free(&gs);
    return rc;
}

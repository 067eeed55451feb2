#include "train/groups.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "algo/advantage.h"
#include "base/dist.h"
#include "base/walltime.h"
#include "rollout/score.h"
#include "task/prompts.h"

void groups_free(Groups *gs) {
    for (int i = 0; i < gs->n; i++) free(gs->g[i].prompt), free(gs->g[i].rr);
    for (int i = 0; i < gs->n_rollouts; i++) rollout_free(&gs->rollouts[i]);
    free(gs->g), free(gs->rollouts);
    memset(gs, 0, sizeof *gs);
}

static Group *add_group(Groups *gs) {
    if (gs->n == gs->cap) gs->g = xrealloc(gs->g, (size_t)(gs->cap = gs->cap ? 2 * gs->cap : 16) * sizeof *gs->g);
    return &gs->g[gs->n++];
}

static int score_group(const Config *cfg, const Task *task, const Tokenizer *tok, const char *answer, Group *g,
                       Err *e) {
    int G = cfg->rollout.n;
    g->rr = xcalloc((size_t)G, sizeof *g->rr);
    for (int j = 0; j < G; j++)
        TRY(score_response(&cfg->reward, task, tok, answer, &g->resp[j], cfg->rollout.max_new_tokens, &g->rr[j], e));
    return 0;
}

// Samples and scores generation batch b: this rank's share of the P prompts at cursor; appends its groups.
static int generate_batch(Groups *gs, Model *m, const Tokenizer *tok, const Task *task, const Config *cfg,
                          int64_t step, int b, int64_t cursor, Err *e) {
    int64_t P = cfg->train.prompts_per_step, lo, hi;
    int G = cfg->rollout.n;
    dist_share(P, &lo, &hi);
    PromptSet ps = {0};
    Rollout r = {0};
    int rc = prompts_from_task(&ps, task, SPLIT_TRAIN, cursor + lo, hi - lo, false, tok, e);
    double t0 = walltime_s();
    if (!rc) rc = sampler_generate(m, tok, &cfg->rollout, step, ps.n, ps.index, (const int32_t *const *)ps.tokens,
                                   ps.len, &r, e);
    double t1 = walltime_s();
    if (!rc) {
        gs->rollouts = xrealloc(gs->rollouts, (size_t)(gs->n_rollouts + 1) * sizeof *gs->rollouts);
        gs->rollouts[gs->n_rollouts++] = r;
    }
    for (int p = 0; p < ps.n && !rc; p++) {
        Group *g = add_group(gs);
        *g = (Group){.cand = (int64_t)b * P + lo + p, .prompt = ps.tokens[p], .prompt_len = ps.len[p],
                     .resp = &r.responses[p * G]};
        ps.tokens[p] = NULL;  // the group owns it now
        rc = score_group(cfg, task, tok, ps.answer[p], g, e);
        for (int j = 0; j < G; j++) gs->rollout_tokens += g->resp[j].n_tokens;
    }
    gs->sample_s += t1 - t0;
    gs->score_s += walltime_s() - t1;
    prompts_free(&ps);
    return rc;
}

// DAPO dynamic sampling: keep[c] for every candidate group of batch b, from all-gathered rewards.
static void update_keep(const Groups *gs, int first_group, int G, int64_t P, int b, uint8_t *keep) {
    int n_local = gs->n - first_group;
    double *rew = xmalloc((size_t)(n_local * G + 1) * sizeof *rew);
    int64_t *grp = xmalloc((size_t)(n_local * G + 1) * sizeof *grp);
    for (int i = 0; i < n_local; i++)
        for (int j = 0; j < G; j++)
            rew[i * G + j] = gs->g[first_group + i].rr[j].total, grp[i * G + j] = gs->g[first_group + i].cand;
    size_t n_all, n_all2;
    double *rew_all = dist_allgatherv_f64(rew, (size_t)(n_local * G), &n_all, NULL);
    int64_t *grp_all = dist_allgatherv_i64(grp, (size_t)(n_local * G), &n_all2, NULL);
    dynamic_sampling_keep(rew_all, grp_all, (int64_t)n_all, keep + (int64_t)b * P);
    free(rew), free(grp), free(rew_all), free(grp_all);
}

// Keeps the chosen candidates (ascending candidate order), each with its global position among them.
static void select_groups(Groups *gs, const uint8_t *take, int64_t n_cands) {
    int64_t *pos_of = xmalloc((size_t)(n_cands ? n_cands : 1) * sizeof *pos_of), k = 0;
    for (int64_t c = 0; c < n_cands; c++) pos_of[c] = take[c] ? k++ : -1;
    int m = 0;
    for (int i = 0; i < gs->n; i++) {
        if (pos_of[gs->g[i].cand] < 0) {
            free(gs->g[i].prompt), free(gs->g[i].rr);
            continue;
        }
        gs->g[i].pos = pos_of[gs->g[i].cand];
        gs->g[m++] = gs->g[i];
    }
    gs->n = m;
    gs->n_selected = k;
    free(pos_of);
}

// Test hooks of the preemption tests (tests/it_slurm.sh): RLVR_TEST_SAMPLE_SLEEP_MS=N lengthens sampling by N ms
// a step, so that a signal from outside lands mid-run; RLVR_TEST_SIGNAL_AT=K makes the last rank alone raise
// SIGTERM while it samples step K.
static void test_hooks(int64_t step) {
    const char *s = getenv("RLVR_TEST_SIGNAL_AT");
    if (s && atoll(s) == step && dist_rank() == dist_size() - 1) raise(SIGTERM);
    long ms = (s = getenv("RLVR_TEST_SAMPLE_SLEEP_MS")) ? atol(s) : 0;
    if (ms > 0) nanosleep(&(struct timespec){ms / 1000, ms % 1000 * 1000000}, NULL);
}

int groups_sample(Groups *gs, Model *m, const Tokenizer *tok, const Task *task, const Config *cfg, int64_t step,
                  int64_t *data_cursor, Err *e) {
    test_hooks(step);
    int64_t P = cfg->train.prompts_per_step;
    bool dynamic = cfg->algo.dynamic_sampling;
    int max_b = dynamic ? cfg->algo.max_gen_batches : 1, G = cfg->rollout.n, rc = 0;
    uint8_t *keep = xcalloc((size_t)(P * max_b), 1), *take = xcalloc((size_t)(P * max_b), 1);
    int64_t taken = 0;
    while (gs->gen_batches < max_b && taken < P) {
        int b = gs->gen_batches++, first = gs->n;
        rc = dist_agree(generate_batch(gs, m, tok, task, cfg, step, b, *data_cursor, e), e);
        *data_cursor += P;
        if (rc) break;
        if (!dynamic) memset(take, 1, (size_t)P), taken = P;
        else update_keep(gs, first, G, P, b, keep), taken = dynamic_sampling_take(keep, (b + 1) * P, P, take);
    }
    if (!rc) select_groups(gs, take, (int64_t)gs->gen_batches * P);
    free(keep), free(take);
    return rc;
}

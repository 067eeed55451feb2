#include "train/groups.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "algo/advantage.h"
#include "base/dist.h"
#include "base/walltime.h"
#include "rollout/schedule.h"
#include "rollout/score.h"
#include "task/prompts.h"
#include "train/group_exchange.h"

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

// Test hook of the scheduling tests (tests/it_sched.sh): RLVR_TEST_SLOW_RANK=R:MS makes rank R sleep MS ms per
// group it samples, as if it had drawn long responses.
static void slow_rank_hook(int groups) {
    const char *s = getenv("RLVR_TEST_SLOW_RANK");
    int rank, ms;
    if (!s || sscanf(s, "%d:%d", &rank, &ms) != 2 || rank != dist_rank() || ms <= 0) return;
    long total = (long)ms * groups;
    nanosleep(&(struct timespec){total / 1000, total % 1000 * 1000000}, NULL);
}

// Measurement hook of results/scaling.sh: RLVR_GROUP_TIMES=FILE appends one line per sampler call, "step rank
// first_candidate groups prompt_tokens response_tokens seconds"; a 1-rank run with train.prompts_per_step = 1
// makes one call per group, so its lines are per-group costs.
static void log_group_times(int64_t step, int64_t cand, int n, const PromptSet *ps, int p0, const Rollout *r,
                            double seconds) {
    const char *path = getenv("RLVR_GROUP_TIMES");
    FILE *f = path && *path ? fopen(path, "a") : NULL;
    if (!f) return;
    long prompt = 0, resp = 0;
    for (int p = 0; p < n; p++) prompt += ps->len[p0 + p];
    for (int i = 0; i < r->n_responses; i++) resp += r->responses[i].n_tokens;
    fprintf(f, "%lld %d %lld %d %ld %ld %.6f\n", (long long)step, dist_rank(), (long long)cand, n, prompt, resp, seconds);
    fclose(f);
}

// Samples and scores prompts [p0, p1) of ps as new groups; prompt p is candidate cand0 + ps->index[p].
static int sample_prompts(Groups *gs, Model *m, const Tokenizer *tok, const Task *task, const Config *cfg,
                          int64_t step, PromptSet *ps, int p0, int p1, int64_t cand0, Err *e) {
    int G = cfg->rollout.n;
    Rollout r = {0};
    double t0 = walltime_s();
    int rc = sampler_generate(m, tok, &cfg->rollout, step, p1 - p0, ps->index + p0,
                              (const int32_t *const *)ps->tokens + p0, ps->len + p0, &r, e);
    slow_rank_hook(p1 - p0);
    double t1 = walltime_s();
    if (!rc && p1 > p0) log_group_times(step, cand0 + ps->index[p0], p1 - p0, ps, p0, &r, t1 - t0);  // none: no index
    if (!rc) {
        gs->rollouts = xrealloc(gs->rollouts, (size_t)(gs->n_rollouts + 1) * sizeof *gs->rollouts);
        gs->rollouts[gs->n_rollouts++] = r;
    }
    for (int p = p0; p < p1 && !rc; p++) {
        Group *g = add_group(gs);
        *g = (Group){.cand = cand0 + ps->index[p], .prompt = ps->tokens[p], .prompt_len = ps->len[p],
                     .resp = &r.responses[(p - p0) * G]};
        ps->tokens[p] = NULL;  // the group owns it now
        rc = score_group(cfg, task, tok, ps->answer[p], g, e);
        gs->n_sampled++;
        for (int j = 0; j < G; j++) gs->rollout_tokens += g->resp[j].n_tokens;
    }
    gs->sample_s += t1 - t0;
    gs->score_s += walltime_s() - t1;
    return rc;
}

// Static schedule: this rank samples its contiguous share of generation batch b's P prompts at cursor.
static int generate_static(Groups *gs, Model *m, const Tokenizer *tok, const Task *task, const Config *cfg,
                           int64_t step, int b, int64_t cursor, Err *e) {
    int64_t P = cfg->train.prompts_per_step, lo, hi;
    dist_share(P, &lo, &hi);
    PromptSet ps = {0};
    int rc = prompts_from_task(&ps, task, SPLIT_TRAIN, cursor + lo, hi - lo, false, tok, e);
    if (!rc) rc = sample_prompts(gs, m, tok, task, cfg, step, &ps, 0, ps.n, (int64_t)b * P - cursor, e);
    prompts_free(&ps);
    return rc;
}

// Puts the prompts of ps in the order `order` (ps->n entries).
static void reorder(PromptSet *ps, const int *order) {
    PromptSet was = *ps;
    ps->index = xmalloc((size_t)ps->cap * sizeof *ps->index), ps->tokens = xmalloc((size_t)ps->cap * sizeof *ps->tokens);
    ps->len = xmalloc((size_t)ps->cap * sizeof *ps->len), ps->answer = xmalloc((size_t)ps->cap * sizeof *ps->answer);
    for (int k = 0; k < ps->n; k++) {
        int p = order[k];
        ps->index[k] = was.index[p], ps->tokens[k] = was.tokens[p], ps->len[k] = was.len[p], ps->answer[k] = was.answer[p];
    }
    free(was.index), free(was.tokens), free(was.len), free(was.answer);
}

// Dynamic schedule: every rank encodes all P prompts, puts them longest first, and takes chunks of them from a
// shared queue until it is empty (rollout/schedule.h). A rank that fails stops taking; the others finish.
static int generate_dynamic(Groups *gs, Model *m, const Tokenizer *tok, const Task *task, const Config *cfg,
                            int64_t step, int b, int64_t cursor, Err *e) {
    int64_t P = cfg->train.prompts_per_step, k;
    PromptSet ps = {0};
    int rc = prompts_from_task(&ps, task, SPLIT_TRAIN, cursor, P, false, tok, e);
    int *order = xmalloc((size_t)(P + 1) * sizeof *order), *start = xmalloc((size_t)(P + 1) * sizeof *start);
    int n_chunks = schedule_chunks((int)P, dist_size(), start);
    if (!rc) schedule_longest_first(ps.len, ps.n, order), reorder(&ps, order);
    DistQueue *q = dist_queue_create();
    while (!rc && (k = dist_queue_next(q)) < n_chunks)
        rc = sample_prompts(gs, m, tok, task, cfg, step, &ps, start[k], start[k + 1], (int64_t)b * P - cursor, e);
    dist_queue_free(q);
    free(order), free(start);
    prompts_free(&ps);
    return rc;
}

// Hands the groups [first, n) sampled by a dynamic schedule to the ranks that own them in the static one, so
// that everything after sampling sees exactly the static schedule's groups, in ascending candidate order.
static void send_home(Groups *gs, int first, int64_t P, int G) {
    int R = dist_size(), n = gs->n - first;
    uint8_t *dest = xcalloc((size_t)n * R + 1, 1);
    for (int i = 0; i < n; i++) {
        int64_t p = gs->g[first + i].cand % P, lo, hi;
        for (int r = 0; r < R; r++) {
            dist_share_of(P, r, &lo, &hi);
            if (p >= lo && p < hi) dest[(size_t)i * R + r] = 1;
        }
    }
    Group *sent = xmalloc((size_t)(n + 1) * sizeof *sent);
    if (n > 0) memcpy(sent, gs->g + first, (size_t)n * sizeof *sent);  // a rank that sampled nothing may have no g
    gs->n = first;
    group_exchange(sent, n, G, gs->experts_per_token, NULL, dest, gs, NULL);
    for (int i = 0; i < n; i++) free(sent[i].prompt), free(sent[i].rr);
    free(sent), free(dest);
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
    bool queue = cfg->rollout.schedule == ROLLOUT_DYNAMIC;
    gs->experts_per_token = m->moe ? m->cfg.num_hidden_layers * m->cfg.num_experts_per_tok : 0;
    while (gs->gen_batches < max_b && taken < P) {
        int b = gs->gen_batches++, first = gs->n;
        rc = (queue ? generate_dynamic : generate_static)(gs, m, tok, task, cfg, step, b, *data_cursor, e);
        model_units_done(m);  // zero stage 3: the ranks' per-layer gathers line up before the next collective
        double t0 = walltime_s();
        rc = dist_agree(rc, e);
        gs->wait_s += walltime_s() - t0;
        *data_cursor += P;
        if (rc) break;
        if (queue) send_home(gs, first, P, G);
        if (!dynamic) memset(take, 1, (size_t)P), taken = P;
        else update_keep(gs, first, G, P, b, keep), taken = dynamic_sampling_take(keep, (b + 1) * P, P, take);
    }
    if (!rc) select_groups(gs, take, (int64_t)gs->gen_batches * P);
    free(keep), free(take);
    return rc;
}

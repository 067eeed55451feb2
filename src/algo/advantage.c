#include "algo/advantage.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "base/rng.h"

AdvParams adv_params(const Config *c) {
    AdvParams p = {
        .std = c->adv.std,
        .eps_std = c->adv.eps_std,
        .grpo_lambda = c->algo.name == ALGO_GRPO_LAMBDA,
        .lambda = c->algo.lambda,
        .alpha = c->algo.alpha,
        .lambda_count = c->algo.lambda_count,
        .lambda_ties = c->algo.lambda_ties,
        .lambda_few_correct = c->algo.lambda_few_correct,
        .seed = (uint64_t)c->rollout.seed,
    };
    return p;
}

typedef struct {
    int64_t id, pos;
} IdPos;

static int cmp_id_pos(const void *a, const void *b) {
    const IdPos *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

void adv_group_index(const int64_t *group, int64_t n, int64_t *gidx, int64_t *n_groups) {
    IdPos *s = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *s);
    for (int64_t i = 0; i < n; i++) s[i] = (IdPos){group[i], i};
    qsort(s, (size_t)n, sizeof *s, cmp_id_pos);
    int64_t k = -1;
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || s[i].id != s[i - 1].id) k++;
        gidx[s[i].pos] = k;
    }
    *n_groups = k + 1;
    free(s);
}

// Per-group mean and std of x over the members selected by `use` (NULL = all); count in cnt.
static void group_moments(const double *x, const uint8_t *use, const int64_t *gidx, int64_t n, int64_t ng,
                          double *mean, double *m2, int64_t *cnt) {
    memset(mean, 0, (size_t)ng * sizeof *mean);
    memset(m2, 0, (size_t)ng * sizeof *m2);
    memset(cnt, 0, (size_t)ng * sizeof *cnt);
    for (int64_t i = 0; i < n; i++)
        if (!use || use[i]) mean[gidx[i]] += x[i], cnt[gidx[i]]++;
    for (int64_t g = 0; g < ng; g++) mean[g] = cnt[g] ? mean[g] / (double)cnt[g] : 0;
    // Two-pass sum of squared deviations: exact zero for equal values.
    for (int64_t i = 0; i < n; i++)
        if (!use || use[i]) m2[gidx[i]] += (x[i] - mean[gidx[i]]) * (x[i] - mean[gidx[i]]);
}

typedef struct {
    double acc;
    uint64_t tie;  // lambda_ties = random: the group's random key; index: 0
    int64_t g;
} GroupAcc;

// Higher accuracy first; ties by the lower key, then the lower group index (results/objectives.md §3 GRPO-λ
// [reading]: algo.lambda_ties).
static int cmp_group_acc(const void *a, const void *b) {
    const GroupAcc *x = a, *y = b;
    if (x->acc != y->acc) return x->acc > y->acc ? -1 : 1;
    if (x->tie != y->tie) return x->tie < y->tie ? -1 : 1;
    return x->g < y->g ? -1 : x->g > y->g;
}

// A group's random tie key: Philox at (rollout.seed; step, low word of the group id, 2^32 - 1 - high word), a
// position no sampled token reaches (< 2^22) for ids in [0, 2^62), so the key is no sampling draw. It depends on
// the id alone, never on ranks or batch order.
static uint64_t tie_key(uint64_t seed, int64_t step, int64_t id) {
    uint64_t u = (uint64_t)id;
    Rng r = rng_at(seed, (uint32_t)step, (uint32_t)u, UINT32_MAX - (uint32_t)(u >> 32));
    uint64_t hi = rng_u32(&r);
    return hi << 32 | rng_u32(&r);
}

int64_t grpo_lambda_count(LambdaCount how, double lambda, int64_t n_groups) {
    // λ·n_groups of a decimal λ may miss an integer by about an ulp of the product, more than 1e-12 from some 8192
    // groups on (0.56·34150 = 19124.000000000004): that is no fraction of a group.
    double x = lambda * (double)n_groups, tol = fmax(1e-12, 4 * DBL_EPSILON * x);
    double k = how == LAMBDA_COUNT_FLOOR ? floor(x + tol) : how == LAMBDA_COUNT_ROUND ? floor(x + 0.5 + tol)
                                                                                      : ceil(x - tol);
    return k < 0 ? 0 : k > (double)n_groups ? n_groups : (int64_t)k;
}

void grpo_lambda_rewards(const AdvParams *p, const double *reward_in, const uint8_t *correct, const int64_t *length,
                         const int64_t *group, int64_t n, double *reward_out, AdvStats *st) {
    int64_t *gidx = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *gidx), ng = 0;
    adv_group_index(group, n, gidx, &ng);
    size_t sz = (size_t)(ng > 0 ? ng : 1);
    double *len = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *len);
    double *acc = xcalloc(sz, sizeof *acc), *mu = xmalloc(sz * sizeof *mu), *m2 = xmalloc(sz * sizeof *m2);
    int64_t *size = xcalloc(sz, sizeof *size), *n_ok = xmalloc(sz * sizeof *n_ok);
    uint8_t *eff = xcalloc(sz, 1);
    uint64_t *tie = xcalloc(sz, sizeof *tie);
    for (int64_t i = 0; i < n; i++) {
        len[i] = (double)length[i];
        size[gidx[i]]++;
        acc[gidx[i]] += correct[i] != 0;
        if (p->lambda_ties == LAMBDA_TIES_RANDOM) tie[gidx[i]] = tie_key(p->seed, p->step, group[i]);
    }
    // results/objectives.md §3 GRPO-λ step 1-2: the top ceil(λ·n_groups) groups by accuracy (algo.lambda_count).
    GroupAcc *order = xmalloc(sz * sizeof *order);
    for (int64_t g = 0; g < ng; g++) order[g] = (GroupAcc){acc[g] / (double)size[g], tie[g], g};
    qsort(order, (size_t)ng, sizeof *order, cmp_group_acc);
    int64_t n_eff = grpo_lambda_count(p->lambda_count, p->lambda, ng);
    for (int64_t k = 0; k < n_eff; k++) eff[order[k].g] = 1;
    // results/objectives.md §3 GRPO-λ step 3: length statistics of the correct responses (unbiased std).
    group_moments(len, correct, gidx, n, ng, mu, m2, n_ok);
    double eff_sum = 0;
    int64_t eff_cnt = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t g = gidx[i];
        double sigma = n_ok[g] >= 2 ? sqrt(m2[g] / (double)(n_ok[g] - 1)) : 0;
        // [reading] algo.lambda_few_correct: with fewer than 2 correct or σ_c = 0 the group keeps its rewards, or
        // (center) takes z = 0.
        if (eff[g] && (sigma > 0 || p->lambda_few_correct == LAMBDA_FEW_CENTER)) {
            double z = sigma > 0 ? (len[i] - mu[g]) / sigma : 0;
            reward_out[i] = correct[i] ? 1.0 - p->alpha / (1.0 + exp(-z)) : 0.0;
        } else {
            reward_out[i] = reward_in[i];
        }
        if (eff[g]) eff_sum += reward_out[i], eff_cnt++;
    }
    st->n_efficiency_groups = n_eff;
    st->efficiency_reward_mean = eff_cnt ? eff_sum / (double)eff_cnt : 0;
    free(gidx), free(len), free(acc), free(mu), free(m2), free(size), free(n_ok), free(eff), free(order), free(tie);
}

void adv_compute(const AdvParams *p, const double *reward, const int64_t *group, int64_t n, double *adv, AdvStats *st) {
    int64_t *gidx = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *gidx), ng = 0;
    adv_group_index(group, n, gidx, &ng);
    size_t sz = (size_t)(ng > 0 ? ng : 1);
    double *mean = xmalloc(sz * sizeof *mean), *m2 = xmalloc(sz * sizeof *m2);
    double *lo = xmalloc(sz * sizeof *lo), *hi = xmalloc(sz * sizeof *hi);
    int64_t *cnt = xmalloc(sz * sizeof *cnt);
    group_moments(reward, NULL, gidx, n, ng, mean, m2, cnt);
    for (int64_t g = 0; g < ng; g++) lo[g] = INFINITY, hi[g] = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        lo[gidx[i]] = fmin(lo[gidx[i]], reward[i]);
        hi[gidx[i]] = fmax(hi[gidx[i]], reward[i]);
    }
    // results/objectives.md §1: A = (R - mean) / (std + eps); equal rewards give A = 0 exactly.
    for (int64_t i = 0; i < n; i++) {
        int64_t g = gidx[i];
        if (lo[g] == hi[g]) {
            adv[i] = 0;
            continue;
        }
        double sd = p->std == ADV_STD_UNBIASED ? sqrt(m2[g] / (double)(cnt[g] - 1))
                    : p->std == ADV_STD_BIASED ? sqrt(m2[g] / (double)cnt[g])
                                               : 0;
        adv[i] = p->std == ADV_STD_NONE ? reward[i] - mean[g] : (reward[i] - mean[g]) / (sd + p->eps_std);
    }
    int64_t zero = 0;
    for (int64_t g = 0; g < ng; g++) zero += lo[g] == hi[g];
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; i++) sum += reward[i];
    double rm = n ? sum / (double)n : 0;
    for (int64_t i = 0; i < n; i++) sq += (reward[i] - rm) * (reward[i] - rm);
    st->n_seq = n;
    st->n_groups = ng;
    st->n_zero_std_groups = zero;
    st->reward_mean = rm;
    st->reward_std = n ? sqrt(sq / (double)n) : 0;
    free(gidx), free(mean), free(m2), free(lo), free(hi), free(cnt);
}

int adv_compute_dist(const AdvParams *p, const double *reward_local, const uint8_t *correct_local,
                     const int64_t *length_local, const int64_t *group_local, int64_t n_local, double *reward_used_local,
                     double *adv_local, AdvStats *st, Err *e) {
    if (p->grpo_lambda && (!correct_local || !length_local))
        return err_set(e, "GRPO-λ advantages need per-sequence correct flags and lengths");
    size_t n = 0, n2 = 0;
    int64_t counts[dist_size()];
    double *reward = dist_allgatherv_f64(reward_local, (size_t)n_local, &n, counts);
    int64_t *group = dist_allgatherv_i64(group_local, (size_t)n_local, &n2, NULL);
    int64_t offset = 0;
    for (int r = 0; r < dist_rank(); r++) offset += counts[r];
    double *used = reward, *adv = xmalloc((n ? n : 1) * sizeof *adv);
    memset(st, 0, sizeof *st);
    if (p->grpo_lambda) {
        uint8_t *correct = dist_allgatherv_bytes(correct_local, (size_t)n_local, &n2, NULL);
        int64_t *length = dist_allgatherv_i64(length_local, (size_t)n_local, &n2, NULL);
        used = xmalloc((n ? n : 1) * sizeof *used);
        grpo_lambda_rewards(p, reward, correct, length, group, (int64_t)n, used, st);
        free(correct), free(length);
    }
    AdvStats lambda_stats = *st;
    adv_compute(p, used, group, (int64_t)n, adv, st);
    st->n_efficiency_groups = lambda_stats.n_efficiency_groups;
    st->efficiency_reward_mean = lambda_stats.efficiency_reward_mean;
    memcpy(adv_local, adv + offset, (size_t)n_local * sizeof *adv);
    if (reward_used_local) memcpy(reward_used_local, used + offset, (size_t)n_local * sizeof *used);
    if (used != reward) free(used);
    free(reward), free(group), free(adv);
    return 0;
}

int64_t dynamic_sampling_keep(const double *reward, const int64_t *group, int64_t n, uint8_t *group_keep) {
    int64_t *gidx = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *gidx), ng = 0;
    adv_group_index(group, n, gidx, &ng);
    double *first = xmalloc((size_t)(ng > 0 ? ng : 1) * sizeof *first);
    uint8_t *seen = xcalloc((size_t)(ng > 0 ? ng : 1), 1);
    for (int64_t g = 0; g < ng; g++) group_keep[g] = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t g = gidx[i];
        if (!seen[g]) seen[g] = 1, first[g] = reward[i];
        else if (reward[i] != first[g]) group_keep[g] = 1;  // results/objectives.md §4: drop all-equal groups
    }
    int64_t kept = 0;
    for (int64_t g = 0; g < ng; g++) kept += group_keep[g];
    free(gidx), free(first), free(seen);
    return kept;
}

int64_t dynamic_sampling_take(const uint8_t *group_keep, int64_t n_groups, int64_t need, uint8_t *take) {
    int64_t taken = 0;
    for (int64_t g = 0; g < n_groups; g++) {
        take[g] = group_keep[g] && taken < need;
        taken += take[g];
    }
    return taken;
}

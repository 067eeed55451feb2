// Objectives: results/objectives.md §6 hand values, float64 finite differences of ∂L/∂logp (and ∂L/∂H) for every
// algorithm × aggregation in clipped and unclipped regions, partition sums, and the GSPO/LUSPO/SSPO
// gradient statements of §3.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "algo/advantage.h"
#include "algo/loss.h"
#include "base/rng.h"

static LossParams params_for(const char *algo, const char *const *extra, int n_extra) {
    const char *sets[8] = {algo};
    for (int k = 0; k < n_extra; k++) sets[1 + k] = extra[k];
    Config c;
    Err e = {{0}};
    cr_assert_eq(config_resolve(&c, NULL, sets, 1 + n_extra, &e), 0, "%s", e.msg);
    return loss_params(&c);
}

// Whole-batch loss with its own denominators (one rank, one micro-batch).
static double full_loss(const LossParams *p, const LossBatch *b, double *grad, double *grad_h, LossMetrics *m) {
    LossDenoms d = {0};
    loss_denoms_add(p, b, &d);
    double loss = 0;
    Err e = {{0}};
    cr_assert_eq(loss_eval(p, b, &d, &loss, grad, grad_h, m, &e), 0, "%s", e.msg);
    return loss;
}

// results/objectives.md §6: 2 prompts × G = 2, rewards (1,0), (1,0); logp_old = 0 so δ = logp.
static const int64_t HAND_OFF[5] = {0, 3, 8, 10, 14};
static const double HAND_DELTA[14] = {0.10, -0.05, 0.02, 0.01, 0, -0.02, 0.03, 0, -0.01, 0.02, 0.05, 0.05, 0.05, -0.30};

static double hand_loss(const char *algo, const char *const *extra, int n_extra) {
    static const double reward[4] = {1, 0, 1, 0};
    static const int64_t group[4] = {0, 0, 1, 1};
    double adv[4], zeros[14] = {0};
    Config c;
    Err e = {{0}};
    const char *sets[8] = {algo};
    for (int k = 0; k < n_extra; k++) sets[1 + k] = extra[k];
    cr_assert_eq(config_resolve(&c, NULL, sets, 1 + n_extra, &e), 0, "%s", e.msg);
    AdvParams ap = adv_params(&c);
    AdvStats st;
    adv_compute(&ap, reward, group, 4, adv, &st);
    LossParams p = loss_params(&c);
    LossBatch b = {.n_seq = 4, .seq_offsets = HAND_OFF, .logp = HAND_DELTA, .logp_old = zeros, .logp_ref = HAND_DELTA,
                   .advantage = adv};
    double grad[14];
    return full_loss(&p, &b, grad, NULL, NULL);
}

Test(loss, hand_values_of_objectives_section_6) {
    const char *grpo[] = {"algo.eps_high=0.28", "algo.beta=0"};
    cr_expect(fabs(hand_loss("algo.name=grpo", grpo, 2) - -0.0067290809) < 1e-9);
    cr_expect(fabs(hand_loss("algo.name=dapo", NULL, 0) - 0.1963563967) < 1e-9);
    const char *dr[] = {"algo.l_c=8"};
    cr_expect(fabs(hand_loss("algo.name=drgrpo", dr, 1) - 0.0607447470) < 1e-9);
    cr_expect(fabs(hand_loss("algo.name=gspo", NULL, 0) - 0.0005140678) < 1e-9);
    cr_expect(fabs(hand_loss("algo.name=luspo", NULL, 0) - 0.7070244735) < 1e-9);
}

// A random batch: lengths 0..7 (an empty and a one-token response included), some masked tokens, one
// response fully masked, random segment ends and entropies. δ per response has one sign and magnitude
// u·eps with u in [0.05, 0.2] (never clipped) or [4.5, 5.5] (clipped when the advantage's sign says so),
// so every ratio stays far from a clip kink even with SSPO's bounds scaled by up to 2.
typedef struct {
    int64_t n_seq, n_tok, off[16];
    double logp[128], logp_old[128], logp_ref[128], ent[128], ent_old[128], adv[16];
    uint8_t mask[128], seg_end[128];
} RandBatch;

static double uniform(Rng *s, double lo, double hi) { return lo + (hi - lo) * rng_uniform(s); }

static void random_batch(RandBatch *r, uint64_t seed, double eps, int clipped) {
    static const int LENS[12] = {3, 0, 1, 5, 7, 2, 4, 1, 6, 3, 5, 2};
    Rng s = rng_at(seed, 0, 0, 0);
    r->n_seq = 12;
    r->off[0] = 0;
    for (int i = 0; i < 12; i++) r->off[i + 1] = r->off[i] + LENS[i];
    r->n_tok = r->off[12];
    for (int i = 0; i < 12; i++) {
        r->adv[i] = uniform(&s, 0.2, 1.5) * (i % 3 == 0 ? -1 : 1) * (i % 2 ? 1 : -1);
        double sign = rng_uniform(&s) < 0.5 ? -1 : 1;
        for (int64_t t = r->off[i]; t < r->off[i + 1]; t++) {
            double u = clipped ? uniform(&s, 4.5, 5.5) : uniform(&s, 0.05, 0.2);
            r->logp_old[t] = uniform(&s, -3, -0.1);
            r->logp[t] = r->logp_old[t] + sign * u * eps;
            r->logp_ref[t] = r->logp[t] + uniform(&s, -0.3, 0.3);
            r->ent[t] = uniform(&s, 0.1, 2);
            r->ent_old[t] = uniform(&s, 0.05, 3);
            r->mask[t] = i == 9 ? 0 : rng_uniform(&s) < 0.85;
            r->seg_end[t] = rng_uniform(&s) < 0.35;
        }
    }
}

static LossBatch batch_of(RandBatch *r) {
    return (LossBatch){.n_seq = r->n_seq, .seq_offsets = r->off, .logp = r->logp, .logp_old = r->logp_old,
                       .logp_ref = r->logp_ref, .entropy = r->ent, .entropy_old = r->ent_old, .mask = r->mask,
                       .seg_end = r->seg_end, .advantage = r->adv};
}

// Central differences of the loss in logp and entropy against the analytic gradients.
static void check_gradients(const LossParams *p, RandBatch *r, const char *what) {
    LossBatch b = batch_of(r);
    LossDenoms d = {0};
    loss_denoms_add(p, &b, &d);
    double grad[128], grad_h[128], g2[128], g3[128], lp, lm;
    Err e = {{0}};
    cr_assert_eq(loss_eval(p, &b, &d, &lp, grad, grad_h, NULL, &e), 0, "%s", e.msg);
    const double h = 1e-6;
    for (int64_t t = 0; t < r->n_tok; t++) {
        double *vars[2] = {&r->logp[t], &r->ent[t]}, an[2] = {grad[t], grad_h[t]};
        for (int v = 0; v < 2; v++) {
            double x = *vars[v];
            *vars[v] = x + h;
            loss_eval(p, &b, &d, &lp, g2, g3, NULL, &e);
            *vars[v] = x - h;
            loss_eval(p, &b, &d, &lm, g2, g3, NULL, &e);
            *vars[v] = x;
            double fd = (lp - lm) / (2 * h);
            cr_expect(fabs(fd - an[v]) <= 1e-8 * fmax(1, fabs(an[v])), "%s: d/d%s[%lld]: analytic %.12g, fd %.12g", what,
                      v ? "H" : "logp", (long long)t, an[v], fd);
        }
        if (!r->mask[t]) cr_expect_eq(grad[t], 0, "%s: masked token %lld has a gradient", what, (long long)t);
    }
}

Test(loss, finite_differences_every_algorithm_and_aggregation) {
    static const char *const ALGOS[] = {"algo.name=grpo", "algo.name=dapo", "algo.name=drgrpo", "algo.name=gspo",
                                        "algo.name=luspo", "algo.name=grpo_lambda", "algo.name=sspo"};
    static const char *const AGGS[] = {"algo.agg=seq-mean-token-mean", "algo.agg=token-mean",
                                       "algo.agg=seq-mean-token-sum", "algo.agg=seq-mean-token-sum-norm"};
    for (int a = 0; a < 7; a++)
        for (int g = 0; g < 4; g++)
            for (int clipped = 0; clipped < 2; clipped++) {
                const char *extra[] = {AGGS[g], "algo.entropy_coef=0.01", "algo.beta=0.05", "algo.l_c=9"};
                LossParams p = params_for(ALGOS[a], extra, 4);
                RandBatch r;
                random_batch(&r, 100 + (uint64_t)(a * 8 + g * 2 + clipped), fmax(p.eps_low, p.eps_high), clipped);
                char what[160];
                snprintf(what, sizeof what, "%s %s %s", ALGOS[a], AGGS[g], clipped ? "clipped" : "unclipped");
                check_gradients(&p, &r, what);
                LossMetrics m = {0};
                double grad[128], gh[128];
                int64_t no_offsets[1] = {0};
                cr_expect_eq(full_loss(&p, &(LossBatch){.seq_offsets = no_offsets}, grad, gh, NULL), 0, "empty batch");
                LossBatch b = batch_of(&r);
                full_loss(&p, &b, grad, gh, &m);
                if (clipped) cr_expect(m.clip_low_tokens + m.clip_high_tokens > 0, "%s: nothing clipped", what);
                else cr_expect_eq(m.clip_low_tokens + m.clip_high_tokens, 0, "%s: something clipped", what);
            }
}

// The sum of loss_eval over any split into micro-batches equals the whole (global denominators).
Test(loss, micro_batch_parts_sum_to_the_whole) {
    const char *extra[] = {"algo.beta=0.05"};
    for (int algo = 0; algo < 3; algo++) {
        LossParams p = params_for(algo == 0 ? "algo.name=grpo" : algo == 1 ? "algo.name=luspo" : "algo.name=sspo", extra, 1);
        RandBatch r;
        random_batch(&r, 7, p.eps_high, algo);
        LossBatch whole = batch_of(&r);
        double grad[128], part_grad[128], gh[128];
        double expect = full_loss(&p, &whole, grad, gh, NULL);
        LossDenoms d = {0};
        loss_denoms_add(&p, &whole, &d);
        double sum = 0;
        Err e = {{0}};
        for (int64_t i = 0; i < r.n_seq; i += 5) {  // micro-batches of 5 sequences
            LossBatch mb = whole;
            mb.n_seq = i + 5 <= r.n_seq ? 5 : r.n_seq - i;
            mb.seq_offsets = r.off + i;
            int64_t t0 = r.off[i];
            mb.logp += t0, mb.logp_old += t0, mb.logp_ref += t0, mb.entropy += t0, mb.entropy_old += t0;
            mb.mask += t0, mb.seg_end += t0, mb.advantage += i;
            double part;
            cr_assert_eq(loss_eval(&p, &mb, &d, &part, part_grad + t0, gh, NULL, &e), 0, "%s", e.msg);
            sum += part;
        }
        cr_expect(fabs(sum - expect) <= 1e-14 * fmax(1, fabs(expect)), "algo %d: %.17g vs %.17g", algo, sum, expect);
        for (int64_t t = 0; t < r.n_tok; t++) cr_expect_eq(part_grad[t], grad[t]);
    }
}

// results/objectives.md §3 LUSPO vs GSPO: the per-token gradient coefficient of an unclipped response is −A s/N_seq
// for LUSPO whatever |y|, and −A s/(|y| N_seq) for GSPO.
Test(loss, luspo_coefficient_is_length_independent_gspo_scales_as_one_over_length) {
    int64_t off[3] = {0, 2, 10};
    double logp_old[10] = {0}, logp[10], adv[2] = {0.8, 0.8}, grad[10];
    for (int t = 0; t < 10; t++) logp[t] = 1e-4;  // the same s = exp(1e-4) for both responses, unclipped
    LossBatch b = {.n_seq = 2, .seq_offsets = off, .logp = logp, .logp_old = logp_old, .advantage = adv};
    double s = exp(1e-4);
    LossParams luspo = params_for("algo.name=luspo", NULL, 0);
    full_loss(&luspo, &b, grad, NULL, NULL);
    for (int t = 0; t < 10; t++) cr_expect(fabs(grad[t] - -0.8 * s / 2) < 1e-15, "LUSPO token %d: %.17g", t, grad[t]);
    cr_expect_eq(grad[0], grad[9], "LUSPO: a 2-token and an 8-token response get the same coefficient");
    LossParams gspo = params_for("algo.name=gspo", NULL, 0);
    full_loss(&gspo, &b, grad, NULL, NULL);
    cr_expect(fabs(grad[0] - -0.8 * s / (2 * 2)) < 1e-15, "GSPO |y|=2: %.17g", grad[0]);
    cr_expect(fabs(grad[9] - -0.8 * s / (8 * 2)) < 1e-15, "GSPO |y|=8: %.17g", grad[9]);
    cr_expect(fabs(grad[0] / grad[9] - 4) < 1e-12, "GSPO: coefficient ratio 8/2 = 4 (1/|y|)");
}

// results/objectives.md §3 SSPO: an unclipped segment's tokens each get −A ρ_{i,k}/(|y_i| N_seq); a segment of masked
// tokens only contributes nothing; masked tokens are excluded from the segment mean.
Test(loss, sspo_segment_gradient_and_masking) {
    int64_t off[2] = {0, 6};
    double logp_old[6] = {0}, logp[6] = {0.01, 0.03, 5.0, 0.02, -0.02, 0.04}, ent[6] = {1, 1, 1, 1, 1, 1}, adv[1] = {0.5};
    uint8_t mask[6] = {1, 1, 0, 1, 1, 1}, seg_end[6] = {0, 0, 1, 0, 1, 0};
    LossBatch b = {.n_seq = 1, .seq_offsets = off, .logp = logp, .logp_old = logp_old, .entropy_old = ent,
                   .mask = mask, .seg_end = seg_end, .advantage = adv};
    LossParams p = params_for("algo.name=sspo", NULL, 0);
    double grad[6];
    double loss = full_loss(&p, &b, grad, NULL, NULL);
    double rho1 = exp(0.02), rho2 = exp(0.0), rho3 = exp(0.04);  // segments {0,1,(2 masked)}, {3,4}, {5}
    for (int t = 0; t < 2; t++) cr_expect(fabs(grad[t] - -0.5 * rho1 / 5) < 1e-15, "token %d: %.17g", t, grad[t]);
    cr_expect_eq(grad[2], 0);
    for (int t = 3; t < 5; t++) cr_expect(fabs(grad[t] - -0.5 * rho2 / 5) < 1e-15);
    cr_expect(fabs(grad[5] - -0.5 * rho3 / 5) < 1e-15);
    cr_expect(fabs(loss - -0.5 * (2 * rho1 + 2 * rho2 + rho3) / 5) < 1e-15, "loss %.17g", loss);
}

// results/objectives.md §3 SSPO step 4: the bounds scale with clamp(H_seg/H̄, c_min, c_max).
Test(loss, sspo_entropy_adaptive_bounds) {
    int64_t off[2] = {0, 4};
    // Two segments of 2 tokens, δ = 0.3 each (ρ = e^0.3 = 1.35): H̄ = 1; segment 1 H = 1.8 → ε_h = 0.36, not
    // clipped; segment 2 H = 0.2 → scale clamped to 0.5, ε_h = 0.1, clipped.
    double logp_old[4] = {0}, logp[4] = {0.3, 0.3, 0.3, 0.3}, ent[4] = {1.8, 1.8, 0.2, 0.2}, adv[1] = {1};
    uint8_t seg_end[4] = {0, 1, 0, 1};
    LossBatch b = {.n_seq = 1, .seq_offsets = off, .logp = logp, .logp_old = logp_old, .entropy_old = ent,
                   .seg_end = seg_end, .advantage = adv};
    LossParams p = params_for("algo.name=sspo", NULL, 0);
    double grad[4];
    LossMetrics m = {0};
    double loss = full_loss(&p, &b, grad, NULL, &m);
    cr_expect(fabs(loss - -(2 * exp(0.3) + 2 * 1.1) / 4) < 1e-15, "loss %.17g", loss);
    cr_expect(grad[0] != 0 && grad[2] == 0 && grad[3] == 0);
    cr_expect_eq(m.units, 2);
    cr_expect_eq(m.clip_high_units, 1);
    cr_expect_eq(m.clip_high_tokens, 2);
}

// GSPO/LUSPO: log s is clamped at algo.log_ratio_clamp before exp (value finite, gradient 0 there).
Test(loss, sequence_log_ratio_clamp) {
    int64_t off[2] = {0, 2};
    double logp_old[2] = {0, 0}, logp[2] = {900, 900}, adv[1] = {-1}, grad[2];
    LossBatch b = {.n_seq = 1, .seq_offsets = off, .logp = logp, .logp_old = logp_old, .advantage = adv};
    LossParams p = params_for("algo.name=gspo", NULL, 0);
    double loss = full_loss(&p, &b, grad, NULL, NULL);
    cr_expect(fabs(loss - exp(10)) < 1e-9, "loss %.17g", loss);
    cr_expect_eq(grad[0], 0);
}

Test(loss, missing_inputs_are_errors) {
    int64_t off[2] = {0, 1};
    double x[1] = {0}, adv[1] = {1}, loss, grad[1];
    LossBatch b = {.n_seq = 1, .seq_offsets = off, .logp = x, .logp_old = x, .advantage = adv};
    LossParams p = params_for("algo.name=grpo", NULL, 0);  // beta 0.04
    LossDenoms d = {1, 1, 0, 0};
    Err e = {{0}};
    cr_expect_eq(loss_eval(&p, &b, &d, &loss, grad, NULL, NULL, &e), -1);
    cr_expect(strstr(e.msg, "logp_ref") != NULL, "%s", e.msg);
    LossParams s = params_for("algo.name=sspo", NULL, 0);
    cr_expect_eq(loss_eval(&s, &b, &d, &loss, grad, NULL, NULL, &e), -1);
    cr_expect(strstr(e.msg, "entropy_old") != NULL, "%s", e.msg);
}

// results/objectives.md §0, §2 and §5 by hand, GRPO (token ratio, ε 0.2/0.2, seq-mean-token-mean, β = 0 with logp_ref
// given for the kl metric). Five responses, logp_old = 0 so δ = logp:
//   0: A = +1, δ 0.3 (r 1.35 > 1.2: clipped high), 0
//   1: A = −1, δ −0.3 (r 0.74 < 0.8: clipped low), 0.1, −0.05
//   2: A = +1, its one token masked: |y| = 0
//   3: A = −1, no token
//   4: A = 0.5, δ 0.1, then a masked token δ −9
// N_seq = 3 and N_tok = 6 (responses 2 and 3 leave both); the metrics pool tokens and sequences over the parts.
Test(loss, section_5_metrics_and_empty_responses_by_hand) {
    int64_t off[6] = {0, 2, 5, 6, 6, 8};
    double logp[8] = {0.3, 0, -0.3, 0.1, -0.05, 5.0, 0.1, -9}, zeros[8] = {0};
    double dref[8] = {0.1, -0.2, 0.3, 0, 0.05, 7, 0.1, 3}, ref[8], ent[8] = {1, 2, 0.5, 0.25, 1.5, 9, 3, 9};
    uint8_t mask[8] = {1, 1, 1, 1, 1, 0, 1, 0};
    double adv[5] = {1, -1, 1, -1, 0.5};
    for (int t = 0; t < 8; t++) ref[t] = logp[t] + dref[t];
    LossBatch whole = {.n_seq = 5, .seq_offsets = off, .logp = logp, .logp_old = zeros, .logp_ref = ref,
                       .entropy = ent, .mask = mask, .advantage = adv};
    const char *extra[] = {"algo.beta=0"};
    LossParams p = params_for("algo.name=grpo", extra, 1);
    LossDenoms d = {0};
    loss_denoms_add(&p, &whole, &d);
    cr_expect(d.n_seq == 3 && d.n_tok == 6, "N_seq %g, N_tok %g", d.n_seq, d.n_tok);
    // Two parts, as two ranks would hold them: responses 0-1 and 2-4.
    LossBatch part1 = whole, part2 = whole;
    part1.n_seq = 2;
    part2.n_seq = 3, part2.seq_offsets = off + 2, part2.advantage = adv + 2;
    part2.logp += 5, part2.logp_old += 5, part2.logp_ref += 5, part2.entropy += 5, part2.mask += 5;
    LossMetrics m = {0};
    double l1, l2, grad[8];
    Err e = {{0}};
    cr_assert_eq(loss_eval(&p, &part1, &d, &l1, grad, NULL, &m, &e), 0, "%s", e.msg);
    cr_assert_eq(loss_eval(&p, &part2, &d, &l2, grad + 5, NULL, &m, &e), 0, "%s", e.msg);
    double s0 = (-1.2 - 1.0) / 2, s1 = (0.8 + exp(0.1) + exp(-0.05)) / 3, s4 = -0.5 * exp(0.1);
    cr_expect(fabs(l1 + l2 - (s0 + s1 + s4) / 3) < 1e-15, "loss %.17g", l1 + l2);
    const double expect_grad[8] = {0, -1.0 / 6, 0, exp(0.1) / 9, exp(-0.05) / 9, 0, -0.5 * exp(0.1) / 3, 0};
    for (int t = 0; t < 8; t++) cr_expect(fabs(grad[t] - expect_grad[t]) < 1e-15, "grad[%d] %.17g", t, grad[t]);
    LossSummary s = loss_summary(&m);
    cr_expect_eq(s.tokens, 6);
    cr_expect(fabs(s.ppo_kl - -(0.3 + 0 - 0.3 + 0.1 - 0.05 + 0.1) / 6) < 1e-15, "ppo_kl = mean of −δ: %.17g", s.ppo_kl);
    double kl = 0;
    for (int t = 0; t < 8; t++)
        if (mask[t]) kl += exp(dref[t]) - dref[t] - 1;
    cr_expect(fabs(s.kl - kl / 6) < 1e-15, "kl %.17g", s.kl);
    cr_expect(fabs(s.entropy - (1 + 2 + 0.5 + 0.25 + 1.5 + 3) / 6) < 1e-15, "entropy %.17g", s.entropy);
    cr_expect(fabs(s.clip_frac_low - 1.0 / 6) < 1e-15 && fabs(s.clip_frac_high - 1.0 / 6) < 1e-15 &&
                  fabs(s.clip_frac - 2.0 / 6) < 1e-15,
              "token clip fractions %g %g %g", s.clip_frac, s.clip_frac_low, s.clip_frac_high);
    cr_expect(fabs(s.clip_frac_unit_low - 1.0 / 3) < 1e-15 && fabs(s.clip_frac_unit_high - 1.0 / 3) < 1e-15 &&
                  fabs(s.clip_frac_unit - 2.0 / 3) < 1e-15,
              "sequence clip fractions %g %g %g", s.clip_frac_unit, s.clip_frac_unit_low, s.clip_frac_unit_high);
    cr_expect(fabs(s.loss - (l1 + l2)) < 1e-15 && fabs(s.pg_loss - (l1 + l2)) < 1e-15);
}

// results/objectives.md §3 SSPO steps 3-5 with a segment whose tokens are all masked: it contributes nothing, counts
// as no segment, and neither H̄ nor a segment's entropy or ratio takes a masked token. One response (A = 1), segments
// {0,1} {2,3} {4,5}, tokens 2, 3 and 5 masked (entropy 100, δ 5 or 3, which would move every bound if taken):
//   H̄ = (1 + 1 + 0.25)/3 = 0.75;
//   {0,1}: H 1, scale 4/3, ε_h 0.2667, ρ = e^0.2 = 1.2214: unclipped;
//   {4}:   H 0.25, scale clamped to 0.5, ε_h 0.1, ρ = e^0.15 = 1.1618: clipped high, ψ = 1.1.
// |y| = 3, N_seq = 1.
Test(loss, sspo_all_masked_segment_and_masked_entropies) {
    int64_t off[2] = {0, 6};
    double logp_old[6] = {0}, logp[6] = {0.2, 0.2, 5, 5, 0.15, 3}, ent[6] = {1, 1, 100, 100, 0.25, 100}, adv[1] = {1};
    uint8_t mask[6] = {1, 1, 0, 0, 1, 0}, seg_end[6] = {0, 1, 0, 1, 0, 1};
    LossBatch b = {.n_seq = 1, .seq_offsets = off, .logp = logp, .logp_old = logp_old, .entropy_old = ent,
                   .mask = mask, .seg_end = seg_end, .advantage = adv};
    LossParams p = params_for("algo.name=sspo", NULL, 0);
    LossDenoms d = {0};
    loss_denoms_add(&p, &b, &d);
    cr_expect(d.n_seq == 1 && d.n_tok == 3 && d.entropy_count == 3 && fabs(d.entropy_sum - 2.25) < 1e-15,
              "N_seq %g N_tok %g H sum %g count %g", d.n_seq, d.n_tok, d.entropy_sum, d.entropy_count);
    double grad[6];
    LossMetrics m = {0};
    double loss = full_loss(&p, &b, grad, NULL, &m);
    cr_expect(fabs(loss - (-2 * exp(0.2) - 1.1) / 3) < 1e-15, "loss %.17g", loss);
    const double expect_grad[6] = {-exp(0.2) / 3, -exp(0.2) / 3, 0, 0, 0, 0};
    for (int t = 0; t < 6; t++) cr_expect(fabs(grad[t] - expect_grad[t]) < 1e-15, "grad[%d] %.17g", t, grad[t]);
    cr_expect(m.units == 2 && m.clip_high_units == 1 && m.clip_low_units == 0, "segments %g, clipped high %g, low %g",
              m.units, m.clip_high_units, m.clip_low_units);
    cr_expect(m.tokens == 3 && m.clip_high_tokens == 1 && m.clip_low_tokens == 0);
}

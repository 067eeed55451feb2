// Policy objectives of results/objectives.md §2-§3 on arrays: loss value and ∂L/∂logp per token in float64, with
// GLOBAL denominators so that summing loss_eval over any split of the step's sequences into micro-batches
// and ranks gives exactly the loss and gradient of the whole step. Usage in one optimizer mini-batch:
//   LossDenoms d = {0};
//   for each local micro-batch b: loss_denoms_add(&p, &b, &d);     // local counts
//   loss_denoms_reduce(&d);                                          // ONE allreduce(sum) over ranks
//   for each local micro-batch b: loss_eval(&p, &b, &d, &part, grad, grad_entropy, &metrics, e);  -> backward
//   loss_metrics_reduce(&metrics); loss_summary(&metrics)              // global sums / global counts
#ifndef RLVR_LOSS_H
#define RLVR_LOSS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/error.h"

// Level at which the importance ratio is formed.
typedef enum { RATIO_TOKEN, RATIO_SEQUENCE, RATIO_SEGMENT } RatioLevel;

typedef struct {
    RatioLevel level;          // grpo/dapo/drgrpo/grpo_lambda: token; gspo/luspo: sequence; sspo: segment
    AggMode agg;               // §2; LUSPO = sequence ratio with seq-mean-token-sum (its preset)
    double eps_low, eps_high;  // clip bounds (SSPO: base bounds, scaled per segment)
    double beta;               // k3 KL weight (needs logp_ref when > 0)
    double entropy_coef;       // entropy bonus: loss -= coef · H per token (needs entropy when != 0)
    double l_c;                // L_c of seq-mean-token-sum-norm
    double log_ratio_clamp;    // sequence/segment log-ratio cap before exp
    double sspo_c_min, sspo_c_max;
} LossParams;

// From algo.* (after presets) and rollout.max_new_tokens (L_c when algo.l_c = 0).
LossParams loss_params(const Config *c);

// One micro-batch: whole responses, concatenated. Token arrays have seq_offsets[n_seq] - seq_offsets[0]
// items (token t of the batch is index t - seq_offsets[0]); sequence arrays have n_seq items.
typedef struct {
    int64_t n_seq;
    const int64_t *seq_offsets;   // [n_seq + 1], non-decreasing
    const double *logp;           // current policy log π_θ
    const double *logp_old;       // log π_old recorded at sampling
    const double *logp_ref;       // reference policy; required iff beta > 0
    const double *entropy;        // current policy entropy; required iff entropy_coef != 0 (bonus, metric)
    const double *entropy_old;    // π_old entropy at sampling; required for SSPO (segment bounds, H̄)
    const uint8_t *mask;          // loss mask; NULL = every token carries loss
    const uint8_t *seg_end;       // SSPO: 1 on a segment's last token; NULL = one segment per response
    const double *advantage;      // [n_seq]
} LossBatch;

// Global denominators of one optimizer mini-batch (float64 sums of integers are exact below 2^53).
typedef struct {
    double n_seq;                 // sequences with |y| > 0
    double n_tok;                 // Σ |y|
    double entropy_sum, entropy_count;  // Σ and count of entropy_old over loss tokens: SSPO's H̄ over the same B
} LossDenoms;

// Sum/count accumulators of the §5 loss metrics (reduce with loss_metrics_reduce, then read the values).
typedef struct {
    double loss, pg_loss;                  // Σ of loss parts (already globally normalised) and the ψ part of it
    double tokens;                         // loss tokens seen
    double kl_sum, kl_count;               // k3 KL over loss tokens (when logp_ref given)
    double entropy_sum, entropy_count;     // entropy over loss tokens (current policy, else π_old)
    double neg_delta_sum;                  // Σ −δ over loss tokens (ppo_kl)
    double clip_low_tokens, clip_high_tokens;
    double units, clip_low_units, clip_high_units;  // sequences (token/sequence ratio) or segments (SSPO)
} LossMetrics;

// Adds the batch's local counts to d (call once per micro-batch of the mini-batch).
void loss_denoms_add(const LossParams *p, const LossBatch *b, LossDenoms *d);
// One dist_allreduce_sum_f64 over ranks (no-op on one rank).
void loss_denoms_reduce(LossDenoms *d);

// Evaluates the batch with global denominators: *loss_part = its share of the step's loss (sum the parts over
// micro-batches and ranks); grad_logp[t] = ∂L/∂logp for every token (overwritten; 0 on masked tokens);
// grad_entropy (may be NULL when entropy_coef = 0) = ∂L/∂H. Metrics are added to m (may be NULL).
// Fails (message in e) on missing required inputs or malformed offsets.
int loss_eval(const LossParams *p, const LossBatch *b, const LossDenoms *d, double *loss_part, double *grad_logp,
              double *grad_entropy, LossMetrics *m, Err *e);

// Sums every accumulator over ranks (one allreduce).
void loss_metrics_reduce(LossMetrics *m);

// Final metric values: global means and fractions, 0 where the count is 0.
typedef struct {
    double loss, pg_loss, kl, entropy, ppo_kl;
    double clip_frac, clip_frac_low, clip_frac_high;                // tokens
    double clip_frac_unit, clip_frac_unit_low, clip_frac_unit_high;  // sequences or SSPO segments
    double tokens;                                                  // loss tokens
} LossSummary;
LossSummary loss_summary(const LossMetrics *m);

// Every LossSummary field's stable name (metrics.jsonl keys, `rlvr loss` attributes) and offset.
typedef struct {
    const char *name;
    size_t offset;
} LossField;
#define LOSS_N_FIELDS 12
extern const LossField LOSS_FIELDS[LOSS_N_FIELDS];
static inline double loss_field(const LossSummary *s, int k) {
    return *(const double *)((const char *)s + LOSS_FIELDS[k].offset);
}

#endif

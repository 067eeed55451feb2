#include "algo/loss.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "base/dist.h"

LossParams loss_params(const Config *c) {
    const AlgoConfig *a = &c->algo;
    RatioLevel level = a->name == ALGO_GSPO || a->name == ALGO_LUSPO ? RATIO_SEQUENCE
                       : a->name == ALGO_SSPO                        ? RATIO_SEGMENT
                                                                     : RATIO_TOKEN;
    LossParams p = {
        .level = level,
        .agg = a->agg,
        .eps_low = a->eps_low,
        .eps_high = a->eps_high,
        .beta = a->beta,
        .entropy_coef = a->entropy_coef,
        .l_c = a->l_c ? a->l_c : c->rollout.max_new_tokens,
        .log_ratio_clamp = a->log_ratio_clamp,
        .sspo_c_min = a->sspo_c_min,
        .sspo_c_max = a->sspo_c_max,
    };
    return p;
}

static int carries_loss(const LossBatch *b, int64_t t) { return !b->mask || b->mask[t]; }

// |y_i| = Σ_t m_{i,t} (results/objectives.md §0), tokens [a, b) relative to the batch.
static int64_t response_length(const LossBatch *b, int64_t a, int64_t e) {
    int64_t n = 0;
    for (int64_t t = a; t < e; t++) n += carries_loss(b, t);
    return n;
}

void loss_denoms_add(const LossParams *p, const LossBatch *b, LossDenoms *d) {
    (void)p;
    int64_t base = b->seq_offsets[0];
    for (int64_t i = 0; i < b->n_seq; i++) {
        int64_t a = b->seq_offsets[i] - base, e = b->seq_offsets[i + 1] - base;
        int64_t len = response_length(b, a, e);
        d->n_seq += len > 0;
        d->n_tok += (double)len;
        if (!b->entropy_old) continue;
        for (int64_t t = a; t < e; t++)
            if (carries_loss(b, t)) d->entropy_sum += b->entropy_old[t], d->entropy_count += 1;
    }
}

void loss_denoms_reduce(LossDenoms *d) {
    double x[4] = {d->n_seq, d->n_tok, d->entropy_sum, d->entropy_count};
    dist_allreduce_sum_f64(x, 4);
    *d = (LossDenoms){x[0], x[1], x[2], x[3]};
}

void loss_metrics_reduce(LossMetrics *m) {
    _Static_assert(sizeof(LossMetrics) % sizeof(double) == 0, "LossMetrics holds doubles only");
    dist_allreduce_sum_f64((double *)m, sizeof *m / sizeof(double));
}

static double ratio_of(double num, double den) { return den > 0 ? num / den : 0; }

LossSummary loss_summary(const LossMetrics *m) {
    return (LossSummary){
        .loss = m->loss,
        .pg_loss = m->pg_loss,
        .kl = ratio_of(m->kl_sum, m->kl_count),
        .entropy = ratio_of(m->entropy_sum, m->entropy_count),
        .ppo_kl = ratio_of(m->neg_delta_sum, m->tokens),
        .clip_frac = ratio_of(m->clip_low_tokens + m->clip_high_tokens, m->tokens),
        .clip_frac_low = ratio_of(m->clip_low_tokens, m->tokens),
        .clip_frac_high = ratio_of(m->clip_high_tokens, m->tokens),
        .clip_frac_unit = ratio_of(m->clip_low_units + m->clip_high_units, m->units),
        .clip_frac_unit_low = ratio_of(m->clip_low_units, m->units),
        .clip_frac_unit_high = ratio_of(m->clip_high_units, m->units),
        .tokens = m->tokens,
    };
}

#define FIELD(x) {#x, offsetof(LossSummary, x)}
const LossField LOSS_FIELDS[LOSS_N_FIELDS] = {
    FIELD(loss),           FIELD(pg_loss),       FIELD(kl),
    FIELD(entropy),        FIELD(ppo_kl),        FIELD(clip_frac),
    FIELD(clip_frac_low),  FIELD(clip_frac_high), FIELD(clip_frac_unit),
    FIELD(clip_frac_unit_low), FIELD(clip_frac_unit_high), FIELD(tokens),
};
#undef FIELD

// Per-token weight of sequence i under the aggregation (results/objectives.md §2), global denominators.
static double agg_weight(const LossParams *p, const LossDenoms *d, int64_t len) {
    switch (p->agg) {
    case AGG_SEQ_MEAN_TOKEN_MEAN: return 1.0 / ((double)len * d->n_seq);
    case AGG_TOKEN_MEAN: return 1.0 / d->n_tok;
    case AGG_SEQ_MEAN_TOKEN_SUM: return 1.0 / d->n_seq;
    case AGG_SEQ_MEAN_TOKEN_SUM_NORM: return 1.0 / (d->n_seq * p->l_c);
    }
    return 0;
}

// One ratio unit (a token, a sequence or an SSPO segment) after evaluation.
typedef struct {
    double rho;        // the ratio applied to each of its tokens
    double loss;       // −ψ(ρ, A; εl, εh) per token
    double dloss;      // Σ over the unit's tokens of ∂(−ψ)/∂logp_t for each member token t
    int clip_low, clip_high;
} UnitEval;

// results/objectives.md §0 clipped surrogate ψ: value per token, and the summed gradient n·∂(−ψ)/∂logp for a unit of
// n tokens whose log-ratio is their mean δ (so each token's share is −Aρ/n, times n tokens = −Aρ).
static UnitEval eval_unit(double log_rho, double clamp, double adv, double el, double eh) {
    int clamped = log_rho > clamp;
    UnitEval u = {.rho = exp(clamped ? clamp : log_rho)};
    u.clip_high = adv > 0 && u.rho > 1 + eh;
    u.clip_low = adv < 0 && u.rho < 1 - el;
    if (u.clip_high) u.loss = -(1 + eh) * adv;
    else if (u.clip_low) u.loss = -(1 - el) * adv;
    else u.loss = -u.rho * adv;
    u.dloss = u.clip_high || u.clip_low || clamped ? 0 : -adv * u.rho;
    return u;
}

// SSPO bound scale clamp(H_{i,k}/H̄, c_min, c_max) (results/objectives.md §3 SSPO step 4); 1 when H̄ = 0 [reading].
static double sspo_scale(const LossParams *p, const LossDenoms *d, double h_seg) {
    double hbar = ratio_of(d->entropy_sum, d->entropy_count);
    if (hbar <= 0) return 1;
    return fmin(fmax(h_seg / hbar, p->sspo_c_min), p->sspo_c_max);
}

// Ratio units of sequence [a, e): the end (exclusive) of the unit starting at t.
static int64_t unit_end(const LossParams *p, const LossBatch *b, int64_t t, int64_t e) {
    if (p->level == RATIO_TOKEN) return t + 1;
    if (p->level == RATIO_SEQUENCE || !b->seg_end) return e;
    while (t < e - 1 && !b->seg_end[t]) t++;
    return t + 1;
}

typedef struct {
    double pg, clip_low_tokens, clip_high_tokens, clip_low_units, clip_high_units, units;
} SeqAcc;

// The clipped-surrogate part of one sequence: adds w·ℓ to acc->pg and w·∂ℓ/∂logp to grad.
static void surrogate_sequence(const LossParams *p, const LossBatch *b, const LossDenoms *d, int64_t a, int64_t e,
                               double adv, double w, double *grad, SeqAcc *acc) {
    int any_low = 0, any_high = 0;
    for (int64_t s = a; s < e;) {
        int64_t s_end = unit_end(p, b, s, e), n = 0;
        double sum_delta = 0, sum_h = 0;
        for (int64_t t = s; t < s_end; t++)
            if (carries_loss(b, t)) {
                n++;
                sum_delta += b->logp[t] - b->logp_old[t];
                if (p->level == RATIO_SEGMENT) sum_h += b->entropy_old[t];
            }
        if (n > 0) {  // a unit without loss tokens contributes nothing (results/objectives.md §3 SSPO step 5)
            double scale = p->level == RATIO_SEGMENT ? sspo_scale(p, d, sum_h / (double)n) : 1;
            double clamp = p->level == RATIO_TOKEN ? INFINITY : p->log_ratio_clamp;
            UnitEval u = eval_unit(sum_delta / (double)n, clamp, adv, p->eps_low * scale, p->eps_high * scale);
            acc->pg += w * (double)n * u.loss;
            for (int64_t t = s; t < s_end; t++)
                if (carries_loss(b, t)) grad[t] = w * u.dloss;
            acc->clip_low_tokens += u.clip_low ? (double)n : 0;
            acc->clip_high_tokens += u.clip_high ? (double)n : 0;
            any_low |= u.clip_low, any_high |= u.clip_high;
            if (p->level == RATIO_SEGMENT) acc->units++, acc->clip_low_units += u.clip_low, acc->clip_high_units += u.clip_high;
        }
        s = s_end;
    }
    if (p->level != RATIO_SEGMENT) acc->units++, acc->clip_low_units += any_low, acc->clip_high_units += any_high;
}

static int check_batch(const LossParams *p, const LossBatch *b, Err *e) {
    if (b->n_seq < 0 || !b->seq_offsets) return err_set(e, "loss: batch has no sequence offsets");
    for (int64_t i = 0; i < b->n_seq; i++)
        if (b->seq_offsets[i + 1] < b->seq_offsets[i])
            return err_set(e, "loss: seq_offsets decrease at sequence %lld", (long long)i);
    if (b->n_seq == 0 || b->seq_offsets[b->n_seq] == b->seq_offsets[0]) return 0;  // no tokens: nothing needed
    if (!b->logp || !b->logp_old || !b->advantage)
        return err_set(e, "loss: logp, logp_old and advantage are required");
    if (p->beta > 0 && !b->logp_ref) return err_set(e, "loss: beta = %g needs reference log-probs (logp_ref)", p->beta);
    if (p->entropy_coef != 0 && !b->entropy)
        return err_set(e, "loss: entropy_coef = %g needs the current policy's entropy", p->entropy_coef);
    if (p->level == RATIO_SEGMENT && !b->entropy_old) return err_set(e, "loss: SSPO needs entropy_old");
    if (p->agg == AGG_SEQ_MEAN_TOKEN_SUM_NORM && !(p->l_c > 0)) return err_set(e, "loss: L_c must be positive");
    return 0;
}

int loss_eval(const LossParams *p, const LossBatch *b, const LossDenoms *d, double *loss_part, double *grad_logp,
              double *grad_entropy, LossMetrics *m, Err *e) {
    TRY(check_batch(p, b, e));
    if (p->entropy_coef != 0 && !grad_entropy) return err_set(e, "loss: entropy_coef != 0 needs a grad_entropy output");
    int64_t base = b->seq_offsets[0], n_tok = b->seq_offsets[b->n_seq] - base;
    memset(grad_logp, 0, (size_t)n_tok * sizeof *grad_logp);
    if (grad_entropy) memset(grad_entropy, 0, (size_t)n_tok * sizeof *grad_entropy);
    LossMetrics local = {0};
    double total = 0;
    for (int64_t i = 0; i < b->n_seq; i++) {
        int64_t a = b->seq_offsets[i] - base, end = b->seq_offsets[i + 1] - base;
        int64_t len = response_length(b, a, end);
        if (len == 0) continue;  // |y| = 0: not in N_seq, no loss
        double w = agg_weight(p, d, len), adv = b->advantage[i];
        SeqAcc acc = {0};
        surrogate_sequence(p, b, d, a, end, adv, w, grad_logp, &acc);
        double extra = 0;
        for (int64_t t = a; t < end; t++) {
            if (!carries_loss(b, t)) continue;
            local.tokens++;
            local.neg_delta_sum -= b->logp[t] - b->logp_old[t];
            if (b->logp_ref) {  // results/objectives.md §3 GRPO: k3 KL, d = log π_ref − log π_θ
                double dd = b->logp_ref[t] - b->logp[t], kl = exp(dd) - dd - 1;
                local.kl_sum += kl, local.kl_count++;
                if (p->beta > 0) extra += w * p->beta * kl, grad_logp[t] += w * p->beta * (1 - exp(dd));
            }
            const double *h = b->entropy ? b->entropy : b->entropy_old;
            if (h) local.entropy_sum += h[t], local.entropy_count++;
            if (p->entropy_coef != 0) {  // entropy bonus: maximise H, so the loss subtracts it
                extra -= w * p->entropy_coef * b->entropy[t];
                if (grad_entropy) grad_entropy[t] = -w * p->entropy_coef;
            }
        }
        total += acc.pg + extra;
        local.pg_loss += acc.pg;
        local.clip_low_tokens += acc.clip_low_tokens, local.clip_high_tokens += acc.clip_high_tokens;
        local.units += acc.units, local.clip_low_units += acc.clip_low_units, local.clip_high_units += acc.clip_high_units;
    }
    local.loss = total;
    *loss_part = total;
    if (m) {
        double *dst = (double *)m;
        const double *src = (const double *)&local;
        for (size_t k = 0; k < sizeof local / sizeof(double); k++) dst[k] += src[k];
    }
    return 0;
}

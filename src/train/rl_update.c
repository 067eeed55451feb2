#include "train/rl_update.h"

#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "base/keyed_sum.h"
#include "base/walltime.h"
#include "model/seqbatch.h"
#include "train/ep_step.h"
#include "text/segment.h"

// One micro-batch: responses [j0, j1) of selected group i.
typedef struct {
    const Group *g;
    int i, j0, j1;
} Micro;

// A micro-batch's sequences and the arrays loss_eval reads (response tokens concatenated).
typedef struct {
    SeqBatch sb;
    int64_t *offsets;
    double *logp_old, *entropy_old, *adv, *logp, *entropy, *logp_ref, *glogp, *gent;
    uint8_t *mask, *seg_end;
    LossBatch lb;
} MicroData;

static void micro_data_free(MicroData *d) {
    seqbatch_free(&d->sb);
    free(d->offsets), free(d->logp_old), free(d->entropy_old), free(d->adv), free(d->logp), free(d->entropy);
    free(d->logp_ref), free(d->glogp), free(d->gent), free(d->mask), free(d->seg_end);
}

// SSPO segment ends of one response, from its tokens' bytes.
static void mark_segments(const Tokenizer *tok, const SegDelims *delims, const Response *r, uint8_t *seg_end) {
    size_t cap = (size_t)r->n_tokens * 16 + 1, used = 0;
    char *bytes = xmalloc(cap);
    int64_t *tok_end = xmalloc((size_t)(r->n_tokens ? r->n_tokens : 1) * sizeof *tok_end);
    for (int k = 0; k < r->n_tokens; k++) {
        if (used + 256 > cap) bytes = xrealloc(bytes, cap *= 2);
        int nb = tokenizer_token_bytes(tok, r->tokens[k], bytes + used, cap - used);
        if (nb > 0 && used + (size_t)nb > cap) {  // a BPE token longer than the room left: grow, copy again
            while (used + (size_t)nb > cap) cap *= 2;
            bytes = xrealloc(bytes, cap);
            tokenizer_token_bytes(tok, r->tokens[k], bytes + used, cap - used);
        }
        used += nb > 0 ? (size_t)nb : 0;
        tok_end[k] = (int64_t)used;
    }
    segment_ends(delims, bytes, tok_end, r->n_tokens, seg_end);
    free(bytes), free(tok_end);
}

static void micro_build(const Micro *mc, int G, const double *adv, bool with_ref, const Tokenizer *tok,
                        const SegDelims *delims, MicroData *d) {
    memset(d, 0, sizeof *d);
    int n = mc->j1 - mc->j0;
    int64_t T = 0;
    for (int j = mc->j0; j < mc->j1; j++) T += mc->g->resp[j].n_tokens;
    size_t tn = (size_t)(T ? T : 1);
    d->offsets = xmalloc((size_t)(n + 1) * sizeof *d->offsets);
    d->logp_old = xmalloc(tn * sizeof(double)), d->entropy_old = xmalloc(tn * sizeof(double));
    d->logp = xmalloc(tn * sizeof(double)), d->entropy = xmalloc(tn * sizeof(double));
    d->glogp = xmalloc(tn * sizeof(double)), d->gent = xmalloc(tn * sizeof(double));
    d->logp_ref = with_ref ? xmalloc(tn * sizeof(double)) : NULL;
    d->mask = xmalloc(tn), d->seg_end = delims ? xcalloc(tn, 1) : NULL;
    d->adv = xmalloc((size_t)n * sizeof *d->adv);
    d->offsets[0] = 0;
    for (int j = mc->j0, i = 0; j < mc->j1; j++, i++) {
        const Response *r = &mc->g->resp[j];
        int64_t o = d->offsets[i];
        memcpy(d->logp_old + o, r->logp, (size_t)r->n_tokens * sizeof(double));
        memcpy(d->entropy_old + o, r->entropy, (size_t)r->n_tokens * sizeof(double));
        memset(d->mask + o, mc->g->rr[j].loss_masked ? 0 : 1, (size_t)r->n_tokens);
        if (delims && r->n_tokens) mark_segments(tok, delims, r, d->seg_end + o);
        d->adv[i] = adv[(int64_t)mc->i * G + j];
        d->offsets[i + 1] = o + r->n_tokens;
        seqbatch_add(&d->sb, mc->g->prompt, mc->g->prompt_len, r->tokens, r->n_tokens);
    }
    d->lb = (LossBatch){.n_seq = n, .seq_offsets = d->offsets, .logp = d->logp, .logp_old = d->logp_old,
                        .logp_ref = d->logp_ref, .entropy = d->entropy, .entropy_old = d->entropy_old, .mask = d->mask,
                        .seg_end = d->seg_end, .advantage = d->adv};
}

// The passes a micro-batch ran: both; the forward only, its backward adding only zeros; or neither, its forward
// giving the sampler's log-probs again (micro_step).
typedef enum { RAN_BOTH, RAN_FORWARD, RAN_NONE } PassesRun;

// The micro-batch's response rows with a loss coefficient other than 0.
static int64_t live_rows(const MicroData *d) {
    int64_t live = 0;
    for (int64_t k = 0; k < seqbatch_resp_tokens(&d->sb); k++) live += d->glogp[k] != 0 || d->gent[k] != 0;
    return live;
}

// What `rlvr bench train` sets beside the pass times: the FLOPs and rows of the passes that ran, those skipped, and
// the response rows whose loss coefficients are not 0 (live of them).
static void count_pass(const Model *m, const MicroData *d, int64_t live, PassesRun ran, PassTimes *pt) {
    double flop = seqbatch_forward_flops(m, &d->sb);
    if (ran == RAN_NONE) pt->forwards_skipped++;
    else pt->forward_flop += flop;
    if (ran == RAN_BOTH) pt->backward_flop += 2 * flop;
    else pt->backwards_skipped++;
    pt->tokens += d->sb.seq_offsets[d->sb.n_seq], pt->micro_batches++;
    pt->live_rows += live, pt->response_rows += seqbatch_resp_tokens(&d->sb);
}

// The backward of f into the reducer, or (f NULL) none. A micro-batch that adds nothing (zeros) needs no step of
// the host reducer either, unless it is the rank's last of the update, whose step sums the layers: the reducer goes
// on from the micro-batch before, and deterministic mode neither sets aside nor checks a gradient of zeros. The
// device update (train/device_update.h) still takes every micro-batch.
static int backward(Run *r, MicroData *d, SeqForward *f, bool zeros, double T, double aux_w, bool last, PassTimes *pt,
                    Err *e) {
    if (zeros && f) seqforward_free(f), f = NULL;
    if (zeros && !last && !r->stage.dev) return 0;
    GradReducer *red = &r->up.reducer;
    float *grad = grad_stage_begin(&r->stage, grad_reducer_micro_begin(red), last);
    double t0 = walltime_s(), c0 = cputime_s();
    if (f)
        TRY(seqbatch_backward_hooked(&r->model, &d->sb, f, T, d->glogp, d->gent, aux_w, grad, grad_stage_layer_done,
                                     &r->stage, e));
    else model_backward_skipped(&r->model, grad_stage_layer_done, &r->stage);
    grad_stage_end(&r->stage);
    pt->backward_s += walltime_s() - t0, pt->backward_cpu_s += cputime_s() - c0;
    grad_reducer_micro_end(red);
    return 0;
}

// Forward, loss with global denominators, backward into the reducer (results/objectives.md §2: local numerator over
// the global denominator; gradients summed afterwards). lm: this micro-batch's metrics, zero on entry.
// Before the step's first update (sampled: the weights that sampled the responses) a forward would give the sampler's
// log-probs and entropies again, bit for bit (src/README.md invariant 2). Where with those no row has a loss
// coefficient and nothing else reaches the gradient (no reference model, no load-balancing loss), the micro-batch
// skips both passes, its loss and metrics taken on the sampler's values (train.skip_zero_backward).
static int micro_step(Run *r, const LossParams *lp, MicroData *d, const LossDenoms *den, double mb_seqs, bool last,
                      bool sampled, double *loss_sum, LossMetrics *lm, PassTimes *pt, Err *e) {
    double T = r->cfg.rollout.temperature > 0 ? r->cfg.rollout.temperature : 1.0;
    // The load-balancing loss is weighted by this micro-batch's share of the mini-batch's sequences.
    double aux_w = r->cfg.model.router_aux_loss_coef * (double)d->sb.n_seq / mb_seqs, part;
    // Where true, the gradient comes from the rows' coefficients alone: none, and the backward adds only zeros.
    bool rows_only = r->model.skip_zero_backward && model_backward_rows_only(&r->model, aux_w);
    if (sampled && rows_only && !r->has_ref) {
        size_t bytes = (size_t)seqbatch_resp_tokens(&d->sb) * sizeof(double);
        memcpy(d->logp, d->logp_old, bytes), memcpy(d->entropy, d->entropy_old, bytes);
        TRY(loss_eval(lp, &d->lb, den, &part, d->glogp, d->gent, lm, e));
        if (live_rows(d) == 0) {
            *loss_sum += part;
            count_pass(&r->model, d, 0, RAN_NONE, pt);
            return backward(r, d, NULL, true, T, aux_w, last, pt, e);
        }
        *lm = (LossMetrics){0};  // taken again after the forward
    }
    SeqForward f, fr;
    double t0 = walltime_s(), c0 = cputime_s();
    TRY(seqbatch_forward(&r->model, &d->sb, T, true, d->logp, d->entropy, &f, e));
    pt->forward_s += walltime_s() - t0, pt->forward_cpu_s += cputime_s() - c0;
    if (r->has_ref) {
        t0 = walltime_s(), c0 = cputime_s();
        if (seqbatch_forward(&r->ref, &d->sb, T, false, d->logp_ref, NULL, &fr, e)) return seqforward_free(&f), -1;
        seqforward_free(&fr);
        pt->reference_s += walltime_s() - t0, pt->reference_cpu_s += cputime_s() - c0;
    }
    if (loss_eval(lp, &d->lb, den, &part, d->glogp, d->gent, lm, e)) return seqforward_free(&f), -1;
    *loss_sum += part;
    int64_t live = live_rows(d);
    bool zeros = rows_only && live == 0;
    count_pass(&r->model, d, live, zeros ? RAN_FORWARD : RAN_BOTH, pt);
    return backward(r, d, &f, zeros, T, aux_w, last, pt, e);
}

// The global key of a micro-batch, or of its first sequence: its place among the step's responses.
static int64_t micro_key(const Micro *mc, int G) { return mc->g->pos * G + mc->j0; }

// Deterministic mode: SSPO's H̄ numerator summed per sequence in global sequence order, so it does not depend on
// how MPI orders the reduction for a given number of ranks.
static double ordered_entropy_sum(const Micro *mcs, const MicroData *ds, int n_mc, int G) {
    int n_local = 0;
    for (int k = 0; k < n_mc; k++) n_local += mcs[k].j1 - mcs[k].j0;
    int64_t *keys = xmalloc((size_t)(n_local ? n_local : 1) * sizeof *keys);
    double *sums = xcalloc((size_t)(n_local ? n_local : 1), sizeof *sums), total;
    int q = 0;
    for (int k = 0; k < n_mc; k++)
        for (int i = 0; i < mcs[k].j1 - mcs[k].j0; i++, q++) {
            keys[q] = micro_key(&mcs[k], G) + i;
            for (int64_t x = ds[k].offsets[i]; x < ds[k].offsets[i + 1]; x++)
                if (ds[k].mask[x]) sums[q] += ds[k].entropy_old[x];
        }
    keyed_sum_f64(keys, sums, n_local, 1, &total);
    free(keys), free(sums);
    return total;
}

// The mini-batch's loss metrics added to lm: each micro-batch's, summed in global micro-batch order, so the logged
// values have the same bits on any number of ranks (micro-batches are fixed by global index).
static void add_metrics(const Micro *mcs, const LossMetrics *per_micro, int n_mc, int G, LossMetrics *lm) {
    enum { W = sizeof(LossMetrics) / sizeof(double) };
    _Static_assert(sizeof(LossMetrics) % sizeof(double) == 0, "LossMetrics holds doubles only");
    int64_t *keys = xmalloc((size_t)(n_mc ? n_mc : 1) * sizeof *keys);
    for (int k = 0; k < n_mc; k++) keys[k] = micro_key(&mcs[k], G);
    double sum[W], *acc = (double *)lm;
    keyed_sum_f64(keys, (const double *)per_micro, n_mc, W, sum);
    for (int c = 0; c < W; c++) acc[c] += sum[c];
    free(keys);
}

// This rank's micro-batches of the mini-batch of global group positions [lo, hi): those of micro (token-balanced
// packing), or else up to mb responses of each of its own groups in turn.
static Micro *split_micro(const Groups *gs, const MicroRef *micro, int n_micro, int64_t lo, int64_t hi, int G, int mb,
                          int *n_out) {
    Micro *mcs = xmalloc((size_t)(gs->n * ((G + mb - 1) / mb) + n_micro + 1) * sizeof *mcs);
    int n = 0;
    for (int k = 0; micro && k < n_micro; k++) {
        const Group *g = &gs->g[micro[k].i];
        if (g->pos >= lo && g->pos < hi) mcs[n++] = (Micro){g, micro[k].i, micro[k].j0, micro[k].j1};
    }
    for (int i = 0; !micro && i < gs->n; i++) {
        if (gs->g[i].pos < lo || gs->g[i].pos >= hi) continue;
        for (int j = 0; j < G; j += mb) mcs[n++] = (Micro){&gs->g[i], i, j, j + mb < G ? j + mb : G};
    }
    *n_out = n;
    return mcs;
}

// One optimizer update over the selected groups at global positions [lo, hi).
static int minibatch_update(Run *r, const LossParams *lp, const Groups *gs, const double *adv, const MicroRef *micro,
                            int n_micro, int64_t lo, int64_t hi, const SegDelims *delims, bool sampled, double lr,
                            LossMetrics *lm, UpdateStats *u, double *wait_s, Err *e) {
    int G = r->cfg.rollout.n, n_mc;
    Micro *mcs = split_micro(gs, micro, n_micro, lo, hi, G, r->cfg.train.micro_batch, &n_mc);
    MicroData *ds = xcalloc((size_t)(n_mc ? n_mc : 1), sizeof *ds);
    LossDenoms den = {0};
    for (int k = 0; k < n_mc; k++) {
        micro_build(&mcs[k], G, adv, r->has_ref, r->tok, delims, &ds[k]);
        loss_denoms_add(lp, &ds[k].lb, &den);
    }
    loss_denoms_reduce(&den);
    if (delims && r->cfg.dist.deterministic) den.entropy_sum = ordered_entropy_sum(mcs, ds, n_mc, G);
    param_gather_plan(&r->up.gather, n_mc);  // zero stage 3: each micro-batch gathers every layer's weights twice
    grad_reducer_begin(&r->up.reducer);
    double loss_sum = 0, mb_seqs = (double)(hi - lo) * G;
    int rc = 0;
    LossMetrics *per_micro = xcalloc((size_t)(n_mc ? n_mc : 1), sizeof *per_micro);
    int rounds = ep_begin(&r->model, &r->up, n_mc);  // n_mc unless expert-parallel (train/ep_step.h)
    for (int k = 0; k < rounds && !rc; k++) {
        rc = k < n_mc ? micro_step(r, lp, &ds[k], &den, mb_seqs, k == n_mc - 1, sampled, &loss_sum, &per_micro[k],
                                   &u->passes, e)
                      : ep_idle_round(&r->model, &r->up, &r->stage, e);
        ep_round_end(&r->up, rc, e);
    }
    ep_end(&r->model);
    for (int k = 0; k < n_mc; k++) micro_data_free(&ds[k]);
    free(ds);
    param_gather_release(&r->up.gather);  // zero stage 3: the ranks' gathers line up again, even after a failure
    grad_stage_settle(&r->stage);  // no collective left open, even when this rank failed
    double t0 = walltime_s();
    rc = dist_agree(rc, e);
    *wait_s += walltime_s() - t0;
    if (!rc) add_metrics(mcs, per_micro, n_mc, G, lm);
    free(per_micro), free(mcs);
    TRY(rc);
    t0 = walltime_s();
    double c0 = cputime_s();
    updater_apply(&r->up, loss_sum, lr, u);
    u->passes.optimizer_s += walltime_s() - t0, u->passes.optimizer_cpu_s += cputime_s() - c0;
    return 0;
}

int rl_update(Run *r, const Groups *gs, const double *adv, const MicroRef *micro, int n_micro, double lr,
              LossSummary *loss, UpdateStats *u, double *wait_s, Err *e) {
    SegDelims delims;
    bool sspo = r->cfg.algo.name == ALGO_SSPO;
    if (sspo) TRY(segment_delims(r->cfg.algo.sspo_delimiters, &delims, e));
    LossParams lp = loss_params(&r->cfg);
    LossMetrics lm = {0};
    int64_t K = gs->n_selected;
    int n_mb = r->cfg.train.n_minibatches, n_updates = 0;
    u->lr = lr;
    for (int epoch = 0; epoch < r->cfg.train.ppo_epochs; epoch++)
        for (int j = 0; j < n_mb; j++) {
            int64_t lo = j * K / n_mb, hi = (j + 1) * K / n_mb;
            if (hi == lo) continue;  // fewer groups than mini-batches (dynamic sampling ran short)
            // Before the first update the weights are those that sampled the responses.
            TRY(minibatch_update(r, &lp, gs, adv, micro, n_micro, lo, hi, sspo ? &delims : NULL, n_updates == 0, lr,
                                 &lm, u, wait_s, e));
            n_updates++;
        }
    *loss = loss_summary(&lm);  // lm is already global (add_metrics)
    if (n_updates > 0) loss->loss /= n_updates, loss->pg_loss /= n_updates;  // sums over the updates: per update
    return 0;
}

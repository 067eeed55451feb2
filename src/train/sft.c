#include "train/sft.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "base/keyed_sum.h"
#include "base/walltime.h"
#include "model/seqbatch.h"
#include "train/ep_step.h"
#include "task/prompts.h"

// Appends [BOS] prompt | solution [EOS] of prompt i to b.
static void add_example(const PromptSet *ps, int i, int32_t eos, SeqBatch *b) {
    int n = ps->solution_len[i];
    int32_t *resp = xmalloc((size_t)(n + 1) * sizeof *resp);
    memcpy(resp, ps->solution[i], (size_t)n * sizeof *resp);
    resp[n] = eos;
    seqbatch_add(b, ps->tokens[i], ps->len[i], resp, n + 1);
    free(resp);
}

// This rank's micro-batches, the first being global micro-batch *first_out: global micro-batch k holds examples [k·mb, (k+1)·mb) of the step, so the
// composition of every micro-batch is the same for any number of ranks.
static int build_batches(const Run *r, int64_t *first_out, int64_t *n_out, SeqBatch **out, Err *e) {
    int64_t B = r->cfg.sft.batch_size, mb = r->cfg.train.micro_batch, n_mb = (B + mb - 1) / mb, lo, hi;
    dist_share(n_mb, &lo, &hi);
    *first_out = lo;
    int64_t first = lo * mb, last = hi * mb < B ? hi * mb : B;
    PromptSet ps = {0};
    int rc = prompts_from_task(&ps, r->task, SPLIT_TRAIN, r->st.data_cursor + first, last - first, true, r->tok, e);
    SeqBatch *bs = xcalloc((size_t)(hi - lo > 0 ? hi - lo : 1), sizeof *bs);
    for (int i = 0; i < ps.n && !rc; i++) add_example(&ps, i, tokenizer_eos(r->tok), &bs[(first + i) / mb - lo]);
    prompts_free(&ps);
    *n_out = hi - lo;
    *out = bs;
    return rc;
}

// Forward and backward of one micro-batch of the token-mean cross-entropy L = −(1/N_tok) Σ log p over the
// global batch; adds Σ log p and the count of tokens with p > 1/2 to sums.
static int micro_step(Run *r, SeqBatch *b, double n_tok, bool last, double sums[2], Err *e) {
    int64_t nt = seqbatch_resp_tokens(b);
    double *logp = xmalloc((size_t)(nt ? nt : 1) * sizeof *logp), *dlogp = xmalloc((size_t)(nt ? nt : 1) * sizeof *dlogp);
    SeqForward f;
    int rc = seqbatch_forward(&r->model, b, 1.0, true, logp, NULL, &f, e);
    if (!rc) {
        for (int64_t j = 0; j < nt; j++) sums[0] += logp[j], dlogp[j] = -1.0 / n_tok, sums[1] += logp[j] > log(0.5);
        double aux_w = r->cfg.model.router_aux_loss_coef * (double)b->n_seq / (double)r->cfg.sft.batch_size;
        GradReducer *red = &r->up.reducer;
        float *grad = grad_stage_begin(&r->stage, grad_reducer_micro_begin(red), last);
        rc = seqbatch_backward_hooked(&r->model, b, &f, 1.0, dlogp, NULL, aux_w, grad, grad_stage_layer_done, &r->stage,
                                      e);
        grad_stage_end(&r->stage);
        grad_reducer_micro_end(red);
    }
    free(logp), free(dlogp);
    return rc;
}

int sft_step(Run *r, int64_t step, StepMetrics *m, Err *e) {
    double t0 = walltime_s();
    *m = (StepMetrics){.kind = STEP_SFT, .step = step};
    int64_t first = 0, n = 0;
    SeqBatch *bs = NULL;
    int rc = dist_agree(build_batches(r, &first, &n, &bs, e), e);
    double n_tok = 0, sums[2];  // Σ log p, tokens with p > 1/2
    double *per_micro = xcalloc((size_t)(2 * n + 1), sizeof *per_micro);  // each micro-batch's sums
    for (int64_t k = 0; k < n; k++) n_tok += (double)seqbatch_resp_tokens(&bs[k]);
    dist_allreduce_sum_f64(&n_tok, 1);
    param_gather_plan(&r->up.gather, n);  // zero stage 3: each micro-batch gathers every layer's weights twice
    grad_reducer_begin(&r->up.reducer);
    int64_t rounds = rc ? n : ep_begin(&r->model, &r->up, (int)n);  // n unless expert-parallel (train/ep_step.h)
    for (int64_t k = 0; k < rounds && !rc; k++) {
        rc = k < n ? micro_step(r, &bs[k], n_tok, k == n - 1, &per_micro[2 * k], e)
                   : ep_idle_round(&r->model, &r->up, &r->stage, e);
        ep_round_end(&r->up, rc, e);
    }
    ep_end(&r->model);
    for (int64_t k = 0; k < n; k++) seqbatch_free(&bs[k]);
    free(bs);
    param_gather_release(&r->up.gather);  // zero stage 3: the ranks' gathers line up again, even after a failure
    grad_stage_settle(&r->stage);  // no collective left open, even when this rank failed
    if (dist_agree(rc, e)) return free(per_micro), -1;
    double local_loss = 0;
    for (int64_t k = 0; k < n; k++) local_loss -= per_micro[2 * k] / n_tok;
    int64_t *keys = xmalloc((size_t)(n + 1) * sizeof *keys);
    for (int64_t k = 0; k < n; k++) keys[k] = first + k;
    keyed_sum_f64(keys, per_micro, (int)n, 2, sums);  // in global micro-batch order: the same bits on any rank count
    free(keys), free(per_micro);
    const Config *c = &r->cfg;
    double lr = lr_at(step, r->total_steps, c->sft.lr, c->train.warmup_steps, c->train.schedule, c->train.min_lr_ratio);
    updater_apply(&r->up, local_loss, lr, &m->update);
    r->st.data_cursor += c->sft.batch_size;
    r->st.tokens_total += (int64_t)n_tok;
    m->loss.loss = -sums[0] / n_tok, m->loss.tokens = n_tok, m->token_accuracy = sums[1] / n_tok;
    double dt = walltime_s() - t0;
    dist_allreduce_max_f64(&dt, 1);
    m->tokens_per_s_train = dt > 0 ? n_tok / dt : 0;
    return 0;
}

// Supervised warm start: token-mean cross-entropy on the reference solutions' tokens (+ EOS), with the
// RL step's micro-batching, exact reduction and optimizer.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "model/seqbatch.h"
#include "train/trainer.h"

// Adds training problem i as [BOS] prompt | solution [EOS] to b.
static int add_example(Trainer *t, int64_t i, SeqBatch *b, Err *e) {
    TaskItem item;
    char *solution = NULL;
    int32_t *prompt = NULL, *resp = NULL;
    int np = 0, nr = 0;
    TRY(task_item(t->task, SPLIT_TRAIN, i, &item, e));
    int rc = task_reference(t->task, SPLIT_TRAIN, i, &solution, e);
    if (!rc) rc = encode_prompt(t->tok, item.prompt, &prompt, &np, e);
    if (!rc) rc = tokenizer_encode(t->tok, solution, strlen(solution), &resp, &nr, e);
    if (!rc) {
        resp = xrealloc(resp, (size_t)(nr + 1) * sizeof *resp);
        resp[nr++] = tokenizer_eos(t->tok);
        seqbatch_add(b, prompt, np, resp, nr);
    }
    task_item_free(&item);
    free(solution), free(prompt), free(resp);
    return rc;
}

// Builds the micro-batches this rank owns: global micro-batch k holds examples [k·mb, (k+1)·mb) of the step,
// so the composition of every micro-batch is the same for any number of ranks.
static int build_batches(Trainer *t, int64_t *n_out, SeqBatch **out, Err *e) {
    int64_t B = t->cfg.sft.batch_size, mb = t->cfg.train.micro_batch, n_mb = (B + mb - 1) / mb, lo, hi;
    dist_share(n_mb, &lo, &hi);
    SeqBatch *bs = xcalloc((size_t)(hi - lo > 0 ? hi - lo : 1), sizeof *bs);
    for (int64_t k = lo; k < hi; k++)
        for (int64_t j = k * mb; j < (k + 1) * mb && j < B; j++)
            if (add_example(t, t->st.data_cursor + j, &bs[k - lo], e)) {
                for (int64_t q = lo; q <= k; q++) seqbatch_free(&bs[q - lo]);
                free(bs);
                return -1;
            }
    *n_out = hi - lo;
    *out = bs;
    return 0;
}

int sft_step(Trainer *t, int64_t step, cJSON *out, UpdateStats *u, Err *e) {
    double t0 = trainer_now_s();
    int64_t n = 0;
    SeqBatch *bs = NULL;
    int built = build_batches(t, &n, &bs, e);
    if (trainer_agree(built, e)) {
        for (int64_t k = 0; !built && k < n; k++) seqbatch_free(&bs[k]);
        if (!built) free(bs);
        return -1;
    }
    double counts[3] = {0};  // response tokens, Σ log p, argmax hits
    for (int64_t k = 0; k < n; k++) counts[0] += (double)seqbatch_resp_tokens(&bs[k]);
    dist_allreduce_sum_f64(counts, 1);
    double n_tok = counts[0];
    grad_reducer_begin(&t->reducer);
    int rc = 0;
    for (int64_t k = 0; k < n && !rc; k++) {
        int64_t nt = seqbatch_resp_tokens(&bs[k]);
        double *logp = xmalloc((size_t)(nt ? nt : 1) * sizeof *logp), *dlogp = xmalloc((size_t)(nt ? nt : 1) * sizeof *dlogp);
        SeqForward f;
        rc = seqbatch_forward(&t->model, &bs[k], 1.0, true, logp, NULL, &f, e);
        if (!rc) {
            // Token-mean cross-entropy over the global batch: L = −(1/N_tok) Σ log p.
            for (int64_t j = 0; j < nt; j++) counts[1] += logp[j], dlogp[j] = -1.0 / n_tok, counts[2] += logp[j] > log(0.5);
            double aux_w = t->cfg.model.router_aux_loss_coef * (double)bs[k].n_seq / (double)t->cfg.sft.batch_size;
            rc = seqbatch_backward(&t->model, &bs[k], &f, 1.0, dlogp, NULL, aux_w,
                                   grad_reducer_micro_begin(&t->reducer), e);
            grad_reducer_micro_end(&t->reducer);
        }
        free(logp), free(dlogp);
    }
    for (int64_t k = 0; k < n; k++) seqbatch_free(&bs[k]);
    free(bs);
    TRY(trainer_agree(rc, e));
    double sums[2] = {counts[1], counts[2]};
    dist_allreduce_sum_f64(sums, 2);
    double lr = lr_at(step, t->total_steps, t->cfg.sft.lr, t->cfg.train.warmup_steps, t->cfg.train.schedule,
                      t->cfg.train.min_lr_ratio);
    trainer_apply_update(t, -counts[1] / n_tok, lr, u);
    t->st.data_cursor += t->cfg.sft.batch_size;
    t->st.tokens_total += (int64_t)n_tok;
    cJSON_AddNumberToObject(out, "loss", -sums[0] / n_tok);
    cJSON_AddNumberToObject(out, "token_accuracy", sums[1] / n_tok);
    cJSON_AddNumberToObject(out, "tokens", n_tok);
    double dt = trainer_now_s() - t0;
    dist_allreduce_max_f64(&dt, 1);
    cJSON_AddNumberToObject(out, "tokens_per_s_train", dt > 0 ? n_tok / dt : 0);
    return 0;
}

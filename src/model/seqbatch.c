#include "model/seqbatch.h"

#include <stdlib.h>
#include <string.h>

void seqbatch_free(SeqBatch *b) {
    free(b->seq_offsets), free(b->tokens), free(b->resp_offsets), free(b->prompt_len);
    memset(b, 0, sizeof *b);
}

void seqbatch_add(SeqBatch *b, const int32_t *prompt, int prompt_len, const int32_t *resp, int resp_len) {
    if (b->n_seq + 1 >= b->cap_seq) {
        b->cap_seq = b->cap_seq ? 2 * b->cap_seq : 16;
        b->seq_offsets = xrealloc(b->seq_offsets, (size_t)(b->cap_seq + 1) * sizeof *b->seq_offsets);
        b->resp_offsets = xrealloc(b->resp_offsets, (size_t)(b->cap_seq + 1) * sizeof *b->resp_offsets);
        b->prompt_len = xrealloc(b->prompt_len, (size_t)b->cap_seq * sizeof *b->prompt_len);
        if (b->n_seq == 0) b->seq_offsets[0] = 0, b->resp_offsets[0] = 0;
    }
    int64_t at = b->seq_offsets[b->n_seq], need = at + prompt_len + resp_len;
    if (need > b->cap_tok) {
        while (b->cap_tok < need) b->cap_tok = b->cap_tok ? 2 * b->cap_tok : 1024;
        b->tokens = xrealloc(b->tokens, (size_t)b->cap_tok * sizeof *b->tokens);
    }
    memcpy(b->tokens + at, prompt, (size_t)prompt_len * sizeof *prompt);
    memcpy(b->tokens + at + prompt_len, resp, (size_t)resp_len * sizeof *resp);
    b->prompt_len[b->n_seq] = prompt_len;
    b->seq_offsets[b->n_seq + 1] = need;
    b->resp_offsets[b->n_seq + 1] = b->resp_offsets[b->n_seq] + resp_len;
    b->n_seq++;
}

double seqbatch_forward_flops(const Model *m, const SeqBatch *b) {
    double head = model_head_flops_per_row(m), flops = head * (double)seqbatch_resp_tokens(b);
    for (int s = 0; s < b->n_seq; s++) {
        double len = (double)(b->seq_offsets[s + 1] - b->seq_offsets[s]);
        flops += (model_flops_per_token(m, (len + 1) / 2) - head) * len;
    }
    return flops;
}

// Logit row predicting response token j of sequence s: the position before it.
static int64_t row_of(const SeqBatch *b, int s, int64_t j) { return b->seq_offsets[s] + b->prompt_len[s] + j - 1; }

// What each row predicts: the next token on a response's rows, -1 elsewhere (model.h HeadLogprob). Response rows come
// in row order, sequence after sequence, as resp_offsets orders logp.
static int32_t *head_targets(const SeqBatch *b) {
    int64_t T = b->seq_offsets[b->n_seq];
    int32_t *tg = xmalloc((size_t)T * sizeof *tg + 1);
    for (int64_t t = 0; t < T; t++) tg[t] = -1;
    for (int s = 0; s < b->n_seq; s++)
        for (int64_t j = 0; j < b->resp_offsets[s + 1] - b->resp_offsets[s]; j++) {
            int64_t row = row_of(b, s, j);
            tg[row] = b->tokens[row + 1];
        }
    return tg;
}

int seqbatch_forward(Model *m, const SeqBatch *b, double temperature, bool keep, double *logp, double *entropy,
                     SeqForward *f, Err *e) {
    memset(f, 0, sizeof *f);
    for (int s = 0; s < b->n_seq; s++)
        if (b->prompt_len[s] < 1 && b->resp_offsets[s + 1] > b->resp_offsets[s])
            return err_set(e, "seqbatch: sequence %d has a response but no prompt token to predict it from", s);
    int32_t *tg = head_targets(b);
    HeadLogprob h = {.targets = tg, .temperature = temperature, .logp = logp, .entropy = entropy};
    int rc = model_forward_logprob(m, b->n_seq, b->seq_offsets, b->tokens, &h, NULL, &f->aux_loss,
                                   keep ? &f->acts : NULL, e);
    free(tg);
    if (rc) seqforward_free(f);
    return rc;
}

int seqbatch_backward(Model *m, const SeqBatch *b, SeqForward *f, double temperature, const double *dlogp,
                      const double *dentropy, double aux_weight, float *grads, Err *e) {
    return seqbatch_backward_hooked(m, b, f, temperature, dlogp, dentropy, aux_weight, grads, NULL, NULL, e);
}

int seqbatch_backward_hooked(Model *m, const SeqBatch *b, SeqForward *f, double temperature, const double *dlogp,
                             const double *dentropy, double aux_weight, float *grads, LayerDone done, void *ctx,
                             Err *e) {
    (void)b, (void)temperature;  // the forward kept both
    int rc = model_backward_logprob_hooked(m, f->acts, dlogp, dentropy, aux_weight, grads, done, ctx, e);
    seqforward_free(f);
    return rc;
}

void seqforward_free(SeqForward *f) {
    if (f->acts) model_acts_free(f->acts);
    memset(f, 0, sizeof *f);
}

#include "model/seqbatch.h"

#include <stdlib.h>
#include <string.h>

#include "model/backend.h"

void seqbatch_clear(SeqBatch *b) {
    b->n_seq = 0;
    if (b->seq_offsets) b->seq_offsets[0] = 0, b->resp_offsets[0] = 0;
}

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

// Logit row predicting response token j of sequence s: the position before it.
static int64_t row_of(const SeqBatch *b, int s, int64_t j) { return b->seq_offsets[s] + b->prompt_len[s] + j - 1; }

// The backend's views of sequence s's response rows: logits [n, V] from row_of(s, 0), the targets after them.
typedef struct {
    size_t n_logits;
    float *logits;
    int32_t *targets;
    void *logits_b, *targets_b;
} RespRows;

static RespRows resp_rows(const Backend *be, const SeqBatch *b, int s, int64_t n, int V, float *logits) {
    RespRows r = {.n_logits = (size_t)n * (size_t)V};
    int64_t row = row_of(b, s, 0);
    r.logits = logits + (size_t)row * (size_t)V, r.targets = b->tokens + row + 1;
    r.logits_b = be->view(be, r.logits, r.n_logits, BUF_ACT, VIEW_IN);
    r.targets_b = be->view(be, r.targets, (size_t)n, BUF_I32, VIEW_IN);
    return r;
}

static void resp_rows_end(const Backend *be, RespRows *r, int64_t n) {
    be->view_end(be, r->logits_b, r->logits, r->n_logits, BUF_ACT, VIEW_IN);
    be->view_end(be, r->targets_b, r->targets, (size_t)n, BUF_I32, VIEW_IN);
}

// logp/entropy of sequence s's response tokens (entropy may be NULL).
static void seq_logprob(Model *m, const SeqBatch *b, int s, float *logits, double temperature, double *logp,
                        double *entropy) {
    const Backend *be = m->backend;
    int64_t r0 = b->resp_offsets[s], n = b->resp_offsets[s + 1] - r0;
    if (n <= 0) return;
    RespRows r = resp_rows(be, b, s, n, m->cfg.vocab_size, logits);
    void *lp = be->view(be, logp + r0, (size_t)n, BUF_F64, VIEW_OUT);
    void *h = entropy ? be->view(be, entropy + r0, (size_t)n, BUF_F64, VIEW_OUT) : NULL;
    be->logprob(be, r.logits_b, n, m->cfg.vocab_size, r.targets_b, temperature, lp, h);
    be->view_end(be, lp, logp + r0, (size_t)n, BUF_F64, VIEW_OUT);
    if (entropy) be->view_end(be, h, entropy + r0, (size_t)n, BUF_F64, VIEW_OUT);
    resp_rows_end(be, &r, n);
}

// Adds sequence s's rows of the loss gradient with respect to the logits to dlogits [T, V].
static void seq_logprob_back(Model *m, const SeqBatch *b, int s, float *logits, double temperature,
                             const double *dlogp, const double *dentropy, float *dlogits) {
    const Backend *be = m->backend;
    int64_t r0 = b->resp_offsets[s], n = b->resp_offsets[s + 1] - r0;
    if (n <= 0) return;
    int V = m->cfg.vocab_size;
    RespRows r = resp_rows(be, b, s, n, V, logits);
    void *dlp = be->view(be, (double *)dlogp + r0, (size_t)n, BUF_F64, VIEW_IN);
    void *dh = dentropy ? be->view(be, (double *)dentropy + r0, (size_t)n, BUF_F64, VIEW_IN) : NULL;
    float *dl = dlogits + (size_t)row_of(b, s, 0) * (size_t)V;
    void *dl_b = be->view(be, dl, r.n_logits, BUF_GRAD, VIEW_IN | VIEW_OUT);
    be->logprob_back(be, r.logits_b, n, V, r.targets_b, temperature, dlp, dh, dl_b);
    be->view_end(be, dl_b, dl, r.n_logits, BUF_GRAD, VIEW_IN | VIEW_OUT);
    be->view_end(be, dlp, (double *)dlogp + r0, (size_t)n, BUF_F64, VIEW_IN);
    if (dentropy) be->view_end(be, dh, (double *)dentropy + r0, (size_t)n, BUF_F64, VIEW_IN);
    resp_rows_end(be, &r, n);
}

int seqbatch_forward(Model *m, const SeqBatch *b, double temperature, bool keep, double *logp, double *entropy,
                     SeqForward *f, Err *e) {
    memset(f, 0, sizeof *f);
    int64_t T = b->seq_offsets[b->n_seq];
    int V = m->cfg.vocab_size;
    f->logits = xmalloc((size_t)T * (size_t)V * sizeof *f->logits);
    if (model_forward(m, b->n_seq, b->seq_offsets, b->tokens, f->logits, NULL, &f->aux_loss, keep ? &f->acts : NULL, e)) {
        seqforward_free(f);
        return -1;
    }
    for (int s = 0; s < b->n_seq; s++)
        seq_logprob(m, b, s, f->logits, temperature, logp, entropy);
    return 0;
}

int seqbatch_backward(Model *m, const SeqBatch *b, SeqForward *f, double temperature, const double *dlogp,
                      const double *dentropy, double aux_weight, float *grads, Err *e) {
    return seqbatch_backward_hooked(m, b, f, temperature, dlogp, dentropy, aux_weight, grads, NULL, NULL, e);
}

int seqbatch_backward_hooked(Model *m, const SeqBatch *b, SeqForward *f, double temperature, const double *dlogp,
                             const double *dentropy, double aux_weight, float *grads, LayerDone done, void *ctx,
                             Err *e) {
    int64_t T = b->seq_offsets[b->n_seq];
    int V = m->cfg.vocab_size;
    float *dlogits = xcalloc((size_t)T * (size_t)V, sizeof *dlogits);
    for (int s = 0; s < b->n_seq; s++) seq_logprob_back(m, b, s, f->logits, temperature, dlogp, dentropy, dlogits);
    int rc = model_backward_hooked(m, f->acts, dlogits, aux_weight, grads, done, ctx, e);
    free(dlogits);
    seqforward_free(f);
    return rc;
}

void seqforward_free(SeqForward *f) {
    free(f->logits);
    if (f->acts) model_acts_free(f->acts);
    memset(f, 0, sizeof *f);
}

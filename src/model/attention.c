// Causal scaled dot-product attention over a sequence's keys in key order (forward for training, prefill and decode
// alike, so their outputs agree bit for bit) and its backward from the saved log-sum-exp.
#include <math.h>
#include <string.h>

#include "model/matmul.h"
#include "model/model_internal.h"

// Scaled dot-product attention (Vaswani et al. 2017) of one query over keys 0..n-1 of its sequence, in key
// order; softmax sums in float64; e: n doubles of scratch. out is updated eight dimensions at a time: each out[d]
// still sees the same multiply and add in key order.
static void attend(const float *q, const float *k, const float *restrict v, int n, int stride, int hd, float scale,
                   double *e, float *restrict out, double *lse) {
    double mx = -INFINITY;
    for (int j = 0; j < n; j++) {
        e[j] = matmul_dot(q, k + (size_t)j * stride, hd) * scale;
        if (e[j] > mx) mx = e[j];
    }
    double sum = 0;
    for (int j = 0; j < n; j++) sum += e[j] = exp(e[j] - mx);
    for (int d = 0; d < hd; d++) out[d] = 0;
    for (int j = 0; j < n; j++) {
        float p = (float)(e[j] / sum);
        axpy(out, p, v + (size_t)j * stride, hd);
    }
    *lse = mx + log(sum);
}

void attention_forward(const Dims *d, int T, const int *pos, const int64_t *row0, const float *kbuf, const float *vbuf,
                      const float *qr, float *att, double *lse) {
    float scale = (float)(1.0 / sqrt((double)d->hd));
    int group = d->Hq / d->Hk, max_n = 0;
    for (int t = 0; t < T; t++) max_n = pos[t] + 1 > max_n ? pos[t] + 1 : max_n;
#pragma omp parallel if ((long)T * max_n > 256)
    {
        double *e = xmalloc((size_t)max_n * sizeof *e);
#pragma omp for schedule(dynamic, 4) collapse(2)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < d->Hq; h++) {
                size_t kv = (size_t)row0[t] * d->KD + (size_t)(h / group) * d->hd;
                attend(qr + (size_t)t * d->QD + (size_t)h * d->hd, kbuf + kv, vbuf + kv, pos[t] + 1, d->KD, d->hd,
                       scale, e, att + (size_t)t * d->QD + (size_t)h * d->hd, &lse[(size_t)t * d->Hq + h]);
            }
        free(e);
    }
}

// Attention backward (softmax recomputed from the saved log-sum-exp), in float with vectorised dot products and
// updates. One task per (sequence, kv head) owns every write to that head's dk/dv rows, so threads never share an
// output and the bits do not depend on the thread count.
void attention_backward(const Dims *d, const ModelActs *A, const LayerActs *a, const float *datt, float *dq,
                           float *dk, float *dv) {
    float scale = (float)(1.0 / sqrt((double)d->hd));
    int group = d->Hq / d->Hk, hd = d->hd;
#pragma omp parallel for collapse(2) schedule(dynamic)
    for (int s = 0; s < A->n_seqs; s++)
        for (int kh = 0; kh < d->Hk; kh++) {
            int64_t s0 = A->seq_offsets[s], s1 = A->seq_offsets[s + 1];
            for (int64_t t = s0; t < s1; t++)
                for (int h = kh * group; h < (kh + 1) * group; h++) {
                    const float *q = a->qr + t * d->QD + (size_t)h * hd, *go = datt + t * d->QD + (size_t)h * hd;
                    const float *o = a->att + t * d->QD + (size_t)h * hd;
                    float *gq = dq + t * d->QD + (size_t)h * hd;
                    float delta = matmul_dot(go, o, hd);
                    double lse = a->lse[t * d->Hq + h];
                    for (int64_t j = s0; j <= t; j++) {
                        size_t kv = (size_t)j * d->KD + (size_t)kh * hd;
                        const float *k = a->kr + kv, *v = a->v + kv;
                        float p = expf((float)(matmul_dot(q, k, hd) * scale - lse));
                        float ds = p * (matmul_dot(go, v, hd) - delta) * scale;
                        axpy(dv + kv, p, go, hd);
                        axpy(gq, ds, k, hd);
                        axpy(dk + kv, ds, q, hd);
                    }
                }
        }
}

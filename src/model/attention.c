// Causal scaled dot-product attention over a sequence's keys in key order (forward for training, prefill and decode
// alike, so their outputs agree bit for bit) and its backward from the saved log-sum-exp. Softmax in float, exp
// eight lanes at a time; the scores are matmul_dots (one fixed order per score, matmul.h).
#include <math.h>
#include <string.h>

#include "model/matmul.h"
#include "model/model_internal.h"

typedef int32_t v8i __attribute__((vector_size(32)));

// exp(x) lane by lane for x <= 0 (Cephes expf: x = n ln2 + r, |r| <= ln2/2, degree-5 polynomial, then 2^n from
// the exponent bits); relative error about 2e-7. Below -87 the result is clamped to exp(-87) ~ 1.6e-38.
static inline __attribute__((always_inline)) void exp8(const float *in, float *out) {
    v8f x;
    memcpy(&x, in, sizeof x);
    const v8f lo = {-87.0f, -87.0f, -87.0f, -87.0f, -87.0f, -87.0f, -87.0f, -87.0f};
    v8i below = x < lo;  // all ones where x < -87
    x = (v8f)((below & (v8i)lo) | (~below & (v8i)x));
    const float shift = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer in the low mantissa bits
    v8f t = x * 1.44269504088896341f + shift, n = t - shift;
    v8f r = x - n * 0.693359375f - n * -2.12194440e-4f;  // ln2 in two parts, so n ln2 is exact enough
    v8f p = 1.9875691500e-4f * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    v8i bits;
    memcpy(&bits, &t, sizeof bits);
    v8i scale = (bits - 0x4B400000 + 127) << 23;  // 2^n
    v8f s2;
    memcpy(&s2, &scale, sizeof s2);
    p = p * s2;
    memcpy(out, &p, sizeof p);
}

// e[j] = exp(e[j] - shift) for j < n (e holds n rounded up to 8 floats).
static void exp_shifted(float *e, int n, float shift) {
    for (int j = n; j < ((n + 7) & ~7); j++) e[j] = shift;
    for (int j = 0; j < n; j += 8) {
        v8f v;
        memcpy(&v, e + j, sizeof v);
        v -= shift;
        memcpy(e + j, &v, sizeof v);
        exp8(e + j, e + j);
    }
}

// Scaled dot-product attention (Vaswani et al. 2017) of one query over keys 0..n-1 of its sequence: scores in key
// order, softmax in float (max, exp, a sum in key order), then out = sum_j p_j v_j in key order, each out[d] a
// multiply and an add per key. e: scratch of n rounded up to 8 floats.
static void attend(const float *q, const float *k, const float *restrict v, int n, int stride, int hd, float scale,
                   float *e, float *restrict out, double *lse) {
    matmul_dots(q, k, (size_t)stride, n, hd, e);
    float mx = -INFINITY;
    for (int j = 0; j < n; j++) mx = (e[j] *= scale) > mx ? e[j] : mx;
    exp_shifted(e, n, mx);
    float sum = 0;
    for (int j = 0; j < n; j++) sum += e[j];
    float inv = 1.0f / sum;
    for (int d = 0; d < hd; d++) out[d] = 0;
    for (int j = 0; j < n; j++) axpy(out, e[j] * inv, v + (size_t)j * stride, hd);
    *lse = (double)mx + log((double)sum);
}

void attention_forward(const Dims *d, int T, const int *pos, const int64_t *row0, const float *kbuf, const float *vbuf,
                      const float *qr, float *att, double *lse) {
    float scale = (float)(1.0 / sqrt((double)d->hd));
    int group = d->Hq / d->Hk, max_n = 0;
    for (int t = 0; t < T; t++) max_n = pos[t] + 1 > max_n ? pos[t] + 1 : max_n;
#pragma omp parallel if ((long)T * max_n > 256)
    {
        float *e = xmalloc(((size_t)max_n + 8) * sizeof *e);
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

// Gradients of one query head over keys j0..j1-1 (rows kv + j * KD of the record): p_j = exp(s_j - lse) from the
// saved log-sum-exp, ds_j = p_j (go . v_j - go . o) scale. p, dp: scratch of n rounded up to 8 floats.
static void attend_back(const float *q, const float *go, const float *o, const float *k, const float *v, int n,
                        int stride, int hd, float scale, double lse, float *p, float *dp, float *gq, float *dk,
                        float *dv) {
    float delta = matmul_dot(go, o, hd);
    matmul_dots(q, k, (size_t)stride, n, hd, p);
    matmul_dots(go, v, (size_t)stride, n, hd, dp);
    for (int j = 0; j < n; j++) p[j] *= scale;
    exp_shifted(p, n, (float)lse);
    for (int j = 0; j < n; j++) {
        float ds = p[j] * (dp[j] - delta) * scale;
        size_t kv = (size_t)j * stride;
        axpy(dv + kv, p[j], go, hd);
        axpy(gq, ds, k + kv, hd);
        axpy(dk + kv, ds, q, hd);
    }
}

// Attention backward (softmax recomputed from the saved log-sum-exp). One task per (sequence, kv head) owns every
// write to that head's dk/dv rows, so threads never share an output and the bits do not depend on the thread count.
void attention_backward(const Dims *d, const ModelActs *A, const LayerActs *a, const float *datt, float *dq,
                           float *dk, float *dv) {
    float scale = (float)(1.0 / sqrt((double)d->hd));
    int group = d->Hq / d->Hk, hd = d->hd, max_n = 0;
    for (int s = 0; s < A->n_seqs; s++)
        if (A->seq_offsets[s + 1] - A->seq_offsets[s] > max_n) max_n = (int)(A->seq_offsets[s + 1] - A->seq_offsets[s]);
#pragma omp parallel
    {
        float *p = xmalloc(((size_t)max_n + 8) * sizeof *p), *dp = xmalloc(((size_t)max_n + 8) * sizeof *dp);
#pragma omp for collapse(2) schedule(dynamic)
        for (int s = 0; s < A->n_seqs; s++)
            for (int kh = 0; kh < d->Hk; kh++) {
                int64_t s0 = A->seq_offsets[s], s1 = A->seq_offsets[s + 1];
                size_t kv0 = (size_t)s0 * d->KD + (size_t)kh * hd;
                for (int64_t t = s0; t < s1; t++)
                    for (int h = kh * group; h < (kh + 1) * group; h++) {
                        size_t qo = t * d->QD + (size_t)h * hd;
                        attend_back(a->qr + qo, datt + qo, a->att + qo, a->kr + kv0, a->v + kv0, (int)(t - s0 + 1),
                                    d->KD, hd, scale, a->lse[t * d->Hq + h], p, dp, dq + qo, dk + kv0, dv + kv0);
                    }
            }
        free(p), free(dp);
    }
}

// Forward matrix product with a fixed per-output summation order (DESIGN.md invariant 2: batch invariance).
// Every output y[i][j] is computed the same way whatever M, the blocking and the thread count: four float
// lanes over k (lane l sums k = l, l+4, ... in order), lanes reduced as (l0 + l1) + (l2 + l3), then the
// remaining k in order, then the bias. So a row's result never depends on the other rows of the batch.
#ifndef RLVR_MATMUL_H
#define RLVR_MATMUL_H

// y[M, N] = x[M, K] · w[N, K]^T (+ bias[N] if non-NULL); w in Hugging Face [out, in] layout.
void matmul_xwt(const float *x, const float *w, const float *bias, float *y, int M, int N, int K);

// The same product for one output: dot(x, w) over K in the order above.
float matmul_dot(const float *x, const float *w, int K);

#endif

// What build/gpu_check's model section links in place of the parts of src/ that need OpenBLAS or Open MPI, which
// the device machine lacks: a plain sgemm (row-major; tests/gpu_check_shim/cblas.h) and the expert-parallel MoE
// entry points of both backends, which only run when Model.ep is set (never in gpu_check: one process, every expert
// local).
#include <stdio.h>
#include <stdlib.h>

#include "cblas.h"
#include "model/model_internal.h"

void cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int M, int N, int K,
                 float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (order != CblasRowMajor) {
        fprintf(stderr, "gpu_check: cblas_sgemm: only row-major products are linked here\n");
        abort();
    }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++) {
                float a = ta == CblasTrans ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = tb == CblasTrans ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                acc += (double)a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * *c));
        }
}

static void no_ep(const char *what) {
    fprintf(stderr, "gpu_check: %s: expert parallelism needs Open MPI, which build/gpu_check does not link\n", what);
    abort();
}

void moe_ep_forward(const Model *m, const LayerOffsets *o, const Dims *d, const float *x, LayerActs *a, int T) {
    (void)m, (void)o, (void)d, (void)x, (void)a, (void)T;
    no_ep("moe_ep_forward");
}

void moe_ep_backward(const Model *m, const LayerOffsets *o, const Dims *d, const LayerActs *a, const float *dy, int T,
                     float *grads, float *da2) {
    (void)m, (void)o, (void)d, (void)a, (void)dy, (void)T, (void)grads, (void)da2;
    no_ep("moe_ep_backward");
}

void moe_ep_rows_forward(const Model *m, const LayerOffsets *o, const Dims *d, const void *xs, const int32_t *cnt,
                         void *out) {
    (void)m, (void)o, (void)d, (void)xs, (void)cnt, (void)out;
    no_ep("moe_ep_rows_forward");
}

void moe_ep_rows_backward(const Model *m, const LayerOffsets *o, const Dims *d, const void *xs, const void *gy,
                          const int32_t *cnt, float *grads, void *dxs) {
    (void)m, (void)o, (void)d, (void)xs, (void)gy, (void)cnt, (void)grads, (void)dxs;
    no_ep("moe_ep_rows_backward");
}

// The part of the CBLAS interface that src/model/model_backward.c names, for build/gpu_check only: the device
// machine that runs it has no OpenBLAS. tests/gpu_check_link.c defines cblas_sgemm as a plain triple loop; the
// model section sets Model.fixed_order_backward, so the backward takes the fixed-order kernels and never calls it.
#ifndef RLVR_GPU_CHECK_CBLAS_H
#define RLVR_GPU_CHECK_CBLAS_H

enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112 };

void cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int M, int N, int K,
                 float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

#endif

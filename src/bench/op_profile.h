// Wall time per operation of the model's layer loop (`rlvr bench model --ops`): the CPU backend's table with each
// compute operation timed, installed on a model in place of its backend. The time goes to the bucket chosen last
// (one per thread count in bench_model.c), keyed by operation and, for the matrix products, by the weight's shape
// [N, K], so that a layer's projections of one shape add up together. Only the CPU backend: a device's operations
// return before their work is done, so timing them from the host would need a synchronisation after each.
#ifndef RLVR_OP_PROFILE_H
#define RLVR_OP_PROFILE_H

#include "base/error.h"
#include "model/model.h"

typedef struct OpProfile OpProfile;

// One operation (and weight shape) in one bucket: calls, seconds, FLOPs (2 per multiply-add; 0 when the operation
// is not a matrix product) and, for attention, the bytes of cached keys and values it reads.
typedef struct {
    const char *op;  // the Backend field's name: "matmul", "matmul_dw", "attention", ...
    int n, k;        // the weight's shape [N, K] for matmul, matmul_dw and matmul_dx; 0 otherwise
    long calls;
    double seconds, flops;
    double kv_bytes;  // attention: each token's key and value rows 0..pos, fp32; 0 otherwise
} OpStat;

// Times m's operations from now on (m must run on the CPU backend: an error otherwise), into n_buckets buckets; the
// bucket is -1 (nothing counted) until op_profile_bucket.
OpProfile *op_profile_start(Model *m, int n_buckets, Err *e);
void op_profile_bucket(OpProfile *p, int bucket);
// The operations met so far, in the order they were first called; *stat gets the totals of entry i in bucket b.
int op_profile_count(const OpProfile *p);
void op_profile_get(const OpProfile *p, int i, int b, OpStat *stat);
// Puts m back on the backend it ran on before and frees p.
void op_profile_stop(OpProfile *p, Model *m);

#endif

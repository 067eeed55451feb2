// The per-operation profile (bench/op_profile.h): with it installed, the training forward and backward give the CPU
// backend's bits, every matrix product is counted under its weight's shape as many times as the architecture has
// such weights, only in the bucket chosen, and stopping it puts the model back on the CPU backend.
#include <criterion/criterion.h>
#include <string.h>

#include "bench/op_profile.h"
#include "model/backend.h"
#include "model_testutil.h"

enum { SEQS = 2, LEN = 9, T = SEQS * LEN };

// The log-prob forward and backward of two sequences: each row's log-prob, and the gradient, into logp and grads.
static void step(Model *m, double *logp, float *grads) {
    int64_t off[SEQS + 1] = {0, LEN, T};
    int32_t tok[T], target[T];
    double dlogp[T];
    for (int t = 0; t < T; t++) tok[t] = (int32_t)((t * 37 + 5) % m->cfg.vocab_size);
    for (int t = 0; t < T; t++) target[t] = t % LEN == LEN - 1 ? -1 : tok[t + 1];
    for (int t = 0; t < T; t++) dlogp[t] = 0.1 * ((t % 5) - 2);
    HeadLogprob h = {.targets = target, .temperature = 1.0, .logp = logp};
    ModelActs *acts = NULL;
    Err e = {{0}};
    cr_assert_eq(model_forward_logprob(m, SEQS, off, tok, &h, NULL, NULL, &acts, &e), 0, "%s", e.msg);
    cr_assert_eq(model_backward_logprob_hooked(m, acts, dlogp, NULL, 0.0, grads, NULL, NULL, &e), 0, "%s", e.msg);
    model_acts_free(acts);
}

// Entry's calls in bucket b for op on weight [n, k] (0 when absent).
static long calls_of(const OpProfile *p, int b, const char *op, int n, int k) {
    for (int i = 0; i < op_profile_count(p); i++) {
        OpStat s;
        op_profile_get(p, i, b, &s);
        if (!strcmp(s.op, op) && s.n == n && s.k == k) return s.calls;
    }
    return 0;
}

Test(op_profile, same_bits_and_every_product_counted_by_shape) {
    Model m;
    tiny_model(&m, TINY_QWEN3, N_OF(TINY_QWEN3), 7);  // D 16, q 4 x 6 = 24, k/v 2 x 6 = 12, F 24, L 2, V 61
    double want_logp[T] = {0}, got_logp[T] = {0};  // the last T - targets entries stay 0
    float *want = calloc(m.n_params, sizeof(float)), *got = calloc(m.n_params, sizeof(float));
    step(&m, want_logp, want);
    Err e = {{0}};
    OpProfile *p = op_profile_start(&m, 2, &e);
    cr_assert(p, "%s", e.msg);
    cr_assert_neq(m.backend, backend_cpu());
    step(&m, got_logp, got);  // bucket -1: not counted
    cr_assert_eq(op_profile_count(p), 0);
    memset(got, 0, m.n_params * sizeof(float));
    op_profile_bucket(p, 1);
    step(&m, got_logp, got);
    cr_assert_eq(memcmp(want_logp, got_logp, sizeof want_logp), 0, "log-probs differ under the profile");
    cr_assert_eq(memcmp(want, got, m.n_params * sizeof(float)), 0, "gradients differ under the profile");
    // Per layer: q [24, 16], k and v [12, 16], o [16, 24], gate and up [24, 16], down [16, 24]; 2 layers. The
    // forward runs q, k and v as one matmul_parts call ([48, 16] stacked), and gate and up with SwiGLU as one
    // gate_up_act call ([48, 16] too).
    const struct { int n, k; long calls; } w[] = {{24, 16, 2 * 3}, {12, 16, 2 * 2}, {16, 24, 2 * 2}};
    for (int i = 0; i < 3; i++)
        for (int b = 0; b < 2; b++) {
            long scale = b == 1;  // bucket 0 never chosen: nothing there
            cr_expect_eq(calls_of(p, b, "matmul", w[i].n, w[i].k), scale * (w[i].k == 24 ? w[i].calls : 0),
                         "matmul %dx%d bucket %d", w[i].n, w[i].k, b);
            cr_expect_eq(calls_of(p, b, "matmul_dw", w[i].n, w[i].k), scale * w[i].calls);
            cr_expect_eq(calls_of(p, b, "matmul_dx", w[i].n, w[i].k), scale * w[i].calls);
        }
    cr_expect_eq(calls_of(p, 1, "matmul_parts", 48, 16), 2);
    cr_expect_eq(calls_of(p, 1, "gate_up_act", 48, 16), 2);
    cr_expect_eq(calls_of(p, 1, "swiglu", 0, 0), 0);  // inside gate_up_act
    cr_expect_eq(calls_of(p, 1, "attention", 0, 0), 2);
    cr_expect_eq(calls_of(p, 1, "attention_back", 0, 0), 2);
    cr_expect_eq(calls_of(p, 1, "residual_norm", 0, 0), 2 * 2);  // each layer's two norms with their residual steps
    cr_expect_eq(calls_of(p, 1, "add", 0, 0), 2);                  // each layer's last residual step
    cr_expect_eq(calls_of(p, 1, "rms_norm", 0, 0), 1);             // the final norm
    for (int i = 0; i < op_profile_count(p); i++) {
        OpStat s;
        op_profile_get(p, i, 1, &s);
        cr_expect(s.seconds >= 0);
        double flops = s.n ? 2.0 * T * s.n * s.k * (double)s.calls : 0;  // every product here runs over all T rows
        if (strcmp(s.op, "matmul") || s.n != m.cfg.vocab_size) cr_expect_eq(s.flops, flops, "%s", s.op);
    }
    op_profile_stop(p, &m);
    cr_assert_eq(m.backend, backend_cpu());
    free(want), free(got);
    model_free(&m);
}

Test(op_profile, refuses_another_backend) {
    Model m;
    tiny_model(&m, TINY_QWEN2, N_OF(TINY_QWEN2), 3);
    Backend other = *backend_cpu();
    other.name = "other";
    m.backend = &other;
    Err e = {{0}};
    cr_assert_null(op_profile_start(&m, 1, &e));
    cr_assert_str_eq(e.msg, "the per-operation profile times the CPU backend only (the model runs on 'other')");
    m.backend = backend_cpu();
    model_free(&m);
}

// Each kernel of kernels/ops.h against its CPU twin on fresh random inputs (never zeros) at odd shapes. The twin
// sees exactly the GPU's inputs (bf16 values as floats). Where the twin is a static function of src/model
// (model_forward.c embed, model_backward.c rms_norm_back, swiglu_act.c silu and its backward), its
// expression is repeated here and named.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/optim.h"
#include "base/rng.h"
#include "gpu_check.h"
#include "logits_loss.h"
#include "model/logprob.h"
#include "model/matmul.h"
#include "model/model_internal.h"

static Err err;
#define OK(call) ok_or_die((call), &err, #call)

static float *fmalloc(size_t n) { return calloc(n + 1, sizeof(float)); }

static void check_embed(void) {
    int V = 13, D = 67, T = 37;  // V small: tokens repeat, so the gradient sums several rows
    float *table = fmalloc((size_t)V * D), *x = fmalloc((size_t)T * D), *dx = fmalloc((size_t)T * D);
    float *dt = fmalloc((size_t)V * D), *dt_gpu = fmalloc((size_t)V * D);
    int32_t tok[37];
    Rng r = rng_at(5, 1, 2, 3);
    for (int t = 0; t < T; t++) tok[t] = (int32_t)rng_below(&r, (uint64_t)V);
    random_bf16(table, NULL, (size_t)V * D, 1.0, 11);
    random_f32(dx, (size_t)T * D, 1.0, 12);
    random_f32(dt, (size_t)V * D, 1.0, 13);
    Bf16 *d_table = dupload_bf16(table, (size_t)V * D), *d_x = dalloc((size_t)T * D * 2);
    int32_t *d_tok = dupload(tok, sizeof tok);
    float *d_dx = dupload(dx, (size_t)T * D * 4), *d_dt = dupload(dt, (size_t)V * D * 4);
    OK(gpu_embed(d_table, d_tok, T, D, d_x, NULL, &err));
    OK(gpu_embed_backward(d_dx, d_tok, T, D, d_dt, NULL, &err));
    ddownload_bf16(x, d_x, (size_t)T * D);
    ddownload(dt_gpu, d_dt, (size_t)V * D * 4);
    size_t bad = 0;
    for (int t = 0; t < T; t++) bad += bits_differ(x + (size_t)t * D, table + (size_t)tok[t] * D, (size_t)D * 4, 4);
    check("embed (model_forward.c embed)", bad == 0, "%zu of %d values differ (limit 0: a copy)", bad, T * D);
    for (int i = 0; i < D; i++)  // model_backward.c: each column summed over t in order
        for (int t = 0; t < T; t++) dt[(size_t)tok[t] * D + i] += dx[(size_t)t * D + i];
    bad = bits_differ(dt, dt_gpu, (size_t)V * D * 4, 4);
    check("embed backward (model_backward.c)", bad == 0, "%zu of %d values differ (limit 0: same sums, same order)",
          bad, V * D);
    dfree(d_table), dfree(d_x), dfree(d_tok), dfree(d_dx), dfree(d_dt);
    free(table), free(x), free(dx), free(dt), free(dt_gpu);
}

// model_backward.c rms_norm_back (static there): dx += r w dy - r^3 x dot / D; dw += dy x r.
static void rms_norm_back_ref(const float *x, const float *w, const float *inv, const float *dy, float *dx, float *dw,
                              int T, int D) {
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * D, *g = dy + (size_t)t * D;
        double r = inv[t], dot = 0;
        for (int i = 0; i < D; i++) dot += (double)w[i] * g[i] * xr[i];
        for (int i = 0; i < D; i++) dx[(size_t)t * D + i] += (float)(r * w[i] * g[i] - r * r * r * xr[i] * dot / D);
    }
    for (int i = 0; i < D; i++)
        for (int t = 0; t < T; t++) dw[i] += (float)(dy[(size_t)t * D + i] * x[(size_t)t * D + i] * (double)inv[t]);
}

static void check_norm_case(const char *label, int rows, int D, int per_head_T, int per_head_H) {
    size_t n = (size_t)rows * D;
    float *x = fmalloc(n), *w = fmalloc(D), *y = fmalloc(n), *y_gpu = fmalloc(n), *inv = fmalloc(rows),
          *inv_gpu = fmalloc(rows);
    float *dy = fmalloc(n), *dx = fmalloc(n), *dx_gpu = fmalloc(n), *dw = fmalloc(D), *dw_gpu = fmalloc(D);
    random_bf16(x, NULL, n, 2.0, 21 + D);
    random_bf16(w, NULL, D, 1.0, 22 + D);
    random_f32(dy, n, 1.0, 23 + D);
    random_f32(dx, n, 1.0, 24 + D);
    random_f32(dw, D, 1.0, 25 + D);
    float eps = 1e-6f;
    Bf16 *d_x = dupload_bf16(x, n), *d_w = dupload_bf16(w, D), *d_y = dalloc(n * 2);
    float *d_inv = dalloc((size_t)rows * 4), *d_dy = dupload(dy, n * 4), *d_dx = dupload(dx, n * 4),
          *d_dw = dupload(dw, (size_t)D * 4);
    if (per_head_H) {
        OK(gpu_head_norm(d_x, d_w, d_y, d_inv, per_head_T, per_head_H, D, eps, NULL, &err));
        OK(gpu_head_norm_backward(d_x, d_w, d_inv, d_dy, d_dx, d_dw, per_head_T, per_head_H, D, NULL, &err));
    } else {
        OK(gpu_rms_norm(d_x, d_w, d_y, d_inv, rows, D, eps, NULL, &err));
        OK(gpu_rms_norm_backward(d_x, d_w, d_inv, d_dy, d_dx, d_dw, rows, D, NULL, &err));
    }
    ddownload_bf16(y_gpu, d_y, n);
    ddownload(inv_gpu, d_inv, (size_t)rows * 4);
    ddownload(dx_gpu, d_dx, n * 4);
    ddownload(dw_gpu, d_dw, (size_t)D * 4);
    rms_norm_rows(x, w, y, inv, rows, D, eps);
    rms_norm_back_ref(x, w, inv_gpu, dy, dx, dw, rows, D);  // the GPU's 1/rms: the backward checked on its own
    char name[96];
    double ey = rel_err(y_gpu, y, n), ei = rel_err(inv_gpu, inv, rows), edx = rel_err(dx_gpu, dx, n),
           edw = rel_err(dw_gpu, dw, D);
    snprintf(name, sizeof name, "%s forward [%d x %d]", label, rows, D);
    check(name, ey <= TOL_BF16 && ei <= TOL_F32, "y err %.2e (limit %.2e), 1/rms err %.2e (limit %.0e)", ey, TOL_BF16, ei,
          TOL_F32);
    snprintf(name, sizeof name, "%s backward [%d x %d]", label, rows, D);
    check(name, edx <= 10 * TOL_F32 && edw <= 10 * TOL_F32, "dx err %.2e, dw err %.2e (limit %.0e: fp32 vs fp64 sums)",
          edx, edw, 10 * TOL_F32);
    dfree(d_x), dfree(d_w), dfree(d_y), dfree(d_inv), dfree(d_dy), dfree(d_dx), dfree(d_dw);
    free(x), free(w), free(y), free(y_gpu), free(inv), free(inv_gpu), free(dy), free(dx), free(dx_gpu), free(dw),
        free(dw_gpu);
}

static void check_rope(void) {
    int T = 19, H = 3, hd = 72;
    size_t n = (size_t)T * H * hd;
    float *x = fmalloc(n), *x_gpu = fmalloc(n), *g = fmalloc(n), *g_gpu = fmalloc(n), *xi = fmalloc(n), *xi_gpu = fmalloc(n);
    int32_t pos[19];
    Rng r = rng_at(7, 0, 0, 0);
    for (int t = 0; t < T; t++) pos[t] = (int32_t)rng_below(&r, 40000);
    random_bf16(x, NULL, n, 1.0, 31);
    random_f32(g, n, 1.0, 32);
    memcpy(xi, x, n * sizeof *x);
    Bf16 *d_x = dupload_bf16(x, n), *d_xi = dupload_bf16(xi, n);
    float *d_g = dupload(g, n * 4);
    int32_t *d_pos = dupload(pos, sizeof pos);
    OK(gpu_rope_bf16(d_x, d_pos, T, H, hd, 1e6, 0, NULL, &err));
    OK(gpu_rope_bf16(d_xi, d_pos, T, H, hd, 1e6, 1, NULL, &err));
    OK(gpu_rope_f32(d_g, d_pos, T, H, hd, 1e6, 1, NULL, &err));
    ddownload_bf16(x_gpu, d_x, n);
    ddownload_bf16(xi_gpu, d_xi, n);
    ddownload(g_gpu, d_g, n * 4);
    rope_rows(x, pos, T, H, hd, 1e6, 0);
    rope_rows(xi, pos, T, H, hd, 1e6, 1);
    rope_rows(g, pos, T, H, hd, 1e6, 1);
    double ex = rel_err(x_gpu, x, n), exi = rel_err(xi_gpu, xi, n), eg = rel_err(g_gpu, g, n);
    check("rope bf16 (model_layers.c rope_rows)", ex <= TOL_BF16 && exi <= TOL_BF16,
          "err %.2e, inverse %.2e (limit %.2e: one bf16 rounding)", ex, exi, TOL_BF16);
    check("rope inverse fp32 (rope_rows inverse)", eg <= TOL_F32, "err %.2e (limit %.0e; cos/sin in fp64 as the CPU)", eg,
          TOL_F32);
    dfree(d_x), dfree(d_xi), dfree(d_g), dfree(d_pos);
    free(x), free(x_gpu), free(g), free(g_gpu), free(xi), free(xi_gpu);
}

// |gpu - cpu| <= 2 K 2^-24 sum_k |x_k w_k| (+ 2^-8 |cpu| for a bf16 output): the fp32 accumulation-order bound of
// both sums (Higham, gamma_K) and one bf16 rounding. Returns how many elements break it.
static size_t outside_bound(const float *gpu, const float *cpu, const float *abs_sum, size_t n, int K, int bf16_out) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double lim = 2.0 * K * ldexp(1.0, -24) * abs_sum[i] + (bf16_out ? TOL_BF16 * fabs(cpu[i]) : 0) + 1e-30;
        bad += !(fabs((double)gpu[i] - cpu[i]) <= lim);
    }
    return bad;
}

static float *absolute(const float *x, size_t n) {
    float *a = fmalloc(n);
    for (size_t i = 0; i < n; i++) a[i] = fabsf(x[i]);
    return a;
}

static void check_matmul_case(int M, int N, int K, int with_bias, uint64_t seed) {
    float *x = fmalloc((size_t)M * K), *w = fmalloc((size_t)N * K), *b = fmalloc(N), *y = fmalloc((size_t)M * N);
    float *ya = fmalloc((size_t)M * N), *yg = fmalloc((size_t)M * N), *yb = fmalloc((size_t)M * N),
          *y0 = fmalloc((size_t)M * N);
    random_bf16(x, NULL, (size_t)M * K, 1.0, seed);
    random_bf16(w, NULL, (size_t)N * K, 1.0, seed + 1);
    random_f32(b, N, 1.0, seed + 2);
    random_f32(y0, (size_t)M * N, 1.0, seed + 3);
    Bf16 *d_x = dupload_bf16(x, (size_t)M * K), *d_w = dupload_bf16(w, (size_t)N * K), *d_yb = dalloc((size_t)M * N * 2);
    float *d_b = dupload(b, (size_t)N * 4), *d_y = dupload(y0, (size_t)M * N * 4);
    const float *bias = with_bias ? d_b : NULL;
    OK(gpu_matmul(d_x, d_w, bias, d_yb, GPU_BF16, M, N, K, 0, NULL, &err));
    OK(gpu_matmul(d_x, d_w, bias, d_y, GPU_F32, M, N, K, 1, NULL, &err));  // accumulate onto y0
    ddownload_bf16(yb, d_yb, (size_t)M * N);
    ddownload(yg, d_y, (size_t)M * N * 4);
    float *xa = absolute(x, (size_t)M * K), *wa = absolute(w, (size_t)N * K);
    matmul_xwt(x, w, with_bias ? b : NULL, y, M, N, K);
    matmul_xwt(xa, wa, NULL, ya, M, N, K);
    for (size_t i = 0; i < (size_t)M * N; i++) yg[i] -= y0[i];  // the accumulated product (one more rounding)
    for (size_t i = 0; i < (size_t)M * N; i++) ya[i] += fabsf(y0[i]) * 2 + (with_bias ? fabsf(b[i % N]) : 0);
    size_t bad_b = outside_bound(yb, y, ya, (size_t)M * N, K, 1), bad_f = outside_bound(yg, y, ya, (size_t)M * N, K, 0);
    char name[96];
    snprintf(name, sizeof name, "matmul M=%d N=%d K=%d%s (matmul_xwt)", M, N, K, with_bias ? " +bias" : "");
    check(name, !bad_b && !bad_f, "bf16 out: %zu, fp32 accumulate: %zu of %d outside 2K*2^-24*sum|xw| (+2^-8|y| bf16)",
          bad_b, bad_f, M * N);
    dfree(d_x), dfree(d_w), dfree(d_yb), dfree(d_b), dfree(d_y);
    free(x), free(w), free(b), free(y), free(ya), free(yg), free(yb), free(y0), free(xa), free(wa);
}

// The backward's products: y = x w (matmul_xw) and dw += dy^T x (matmul_xtx_acc), fp32 outputs; the bias gradient.
static void check_matmul_backward(int T, int N, int K, uint64_t seed) {
    float *dy = fmalloc((size_t)T * N), *w = fmalloc((size_t)N * K), *x = fmalloc((size_t)T * K);
    float *dx = fmalloc((size_t)T * K), *dx_g = fmalloc((size_t)T * K), *dxa = fmalloc((size_t)T * K);
    float *dw = fmalloc((size_t)N * K), *dw_g = fmalloc((size_t)N * K), *dwa = fmalloc((size_t)N * K);
    random_bf16(dy, NULL, (size_t)T * N, 1.0, seed);
    random_bf16(w, NULL, (size_t)N * K, 1.0, seed + 1);
    random_bf16(x, NULL, (size_t)T * K, 1.0, seed + 2);
    Bf16 *d_dy = dupload_bf16(dy, (size_t)T * N), *d_w = dupload_bf16(w, (size_t)N * K), *d_x = dupload_bf16(x, (size_t)T * K);
    float *d_dx = dalloc((size_t)T * K * 4), *d_dw = dalloc((size_t)N * K * 4);
    OK(gpu_matmul_xw(d_dy, d_w, d_dx, T, N, K, 0, NULL, &err));
    OK(gpu_matmul_xtx_acc(d_dy, d_x, d_dw, T, N, K, NULL, &err));
    ddownload(dx_g, d_dx, (size_t)T * K * 4);
    ddownload(dw_g, d_dw, (size_t)N * K * 4);
    float *dya = absolute(dy, (size_t)T * N), *wa = absolute(w, (size_t)N * K), *xa = absolute(x, (size_t)T * K);
    matmul_xw(dy, w, dx, T, N, K, false);
    matmul_xw(dya, wa, dxa, T, N, K, false);
    matmul_xtx_acc(dy, x, dw, T, N, K);
    matmul_xtx_acc(dya, xa, dwa, T, N, K);
    size_t bad_x = outside_bound(dx_g, dx, dxa, (size_t)T * K, N, 0), bad_w = outside_bound(dw_g, dw, dwa, (size_t)N * K, T, 0);
    char name[96];
    snprintf(name, sizeof name, "matmul backward T=%d N=%d K=%d (matmul_xw, _xtx_acc)", T, N, K);
    check(name, !bad_x && !bad_w, "dx: %zu of %d, dw: %zu of %d outside the fp32 order bound", bad_x, T * K, bad_w, N * K);
    float *db = fmalloc(N), *db_g = fmalloc(N), *d_db;
    random_f32(db, N, 1.0, seed + 3);
    d_db = dupload(db, (size_t)N * 4);
    float *d_dyf = dupload(dy, (size_t)T * N * 4);
    OK(gpu_bias_grad(d_dyf, T, N, d_db, NULL, &err));
    ddownload(db_g, d_db, (size_t)N * 4);
    for (int t = 0; t < T; t++)  // model_backward.c linear_back
        for (int j = 0; j < N; j++) db[j] += dy[(size_t)t * N + j];
    size_t bad_b = bits_differ(db_g, db, (size_t)N * 4, 4);
    snprintf(name, sizeof name, "bias gradient T=%d N=%d (model_backward.c linear_back)", T, N);
    check(name, bad_b == 0, "%zu of %d differ (limit 0: same sums, same order)", bad_b, N);
    dfree(d_db), dfree(d_dyf);
    free(db), free(db_g);
    dfree(d_dy), dfree(d_w), dfree(d_x), dfree(d_dx), dfree(d_dw);
    free(dy), free(w), free(x), free(dx), free(dx_g), free(dxa), free(dw), free(dw_g), free(dwa), free(dya), free(wa),
        free(xa);
}

// Two packed sequences (training layout) through gpu_attention and gpu_attention_backward against attention.c.
static void check_attention_case(int len0, int len1, int Hq, int Hk, int hd, uint64_t seed) {
    int T = len0 + len1, QD = Hq * hd, KD = Hk * hd;
    int32_t *pos = malloc((size_t)T * 4);
    int64_t *row0 = malloc((size_t)T * 8), off[3] = {0, len0, T};
    for (int t = 0; t < T; t++) row0[t] = t < len0 ? 0 : len0, pos[t] = (int32_t)(t - row0[t]);
    float *q = fmalloc((size_t)T * QD), *k = fmalloc((size_t)T * KD), *v = fmalloc((size_t)T * KD);
    float *att = fmalloc((size_t)T * QD), *att_g = fmalloc((size_t)T * QD);
    double *lse = calloc((size_t)T * Hq, sizeof *lse), *lse_g = calloc((size_t)T * Hq, sizeof *lse_g);
    random_bf16(q, NULL, (size_t)T * QD, 1.5, seed);
    random_bf16(k, NULL, (size_t)T * KD, 1.5, seed + 1);
    random_bf16(v, NULL, (size_t)T * KD, 1.0, seed + 2);
    Bf16 *d_q = dupload_bf16(q, (size_t)T * QD), *d_k = dupload_bf16(k, (size_t)T * KD), *d_v = dupload_bf16(v, (size_t)T * KD);
    Bf16 *d_att = dalloc((size_t)T * QD * 2);
    double *d_lse = dalloc((size_t)T * Hq * 8);
    int32_t *d_pos = dupload(pos, (size_t)T * 4);
    int64_t *d_row0 = dupload(row0, (size_t)T * 8), *d_off = dupload(off, sizeof off);
    OK(gpu_attention(d_q, d_k, d_v, d_pos, d_row0, T, Hq, Hk, hd, d_att, d_lse, NULL, &err));
    ddownload_bf16(att_g, d_att, (size_t)T * QD);
    ddownload(lse_g, d_lse, (size_t)T * Hq * 8);
    Dims d = {0};
    d.Hq = Hq, d.Hk = Hk, d.hd = hd, d.QD = QD, d.KD = KD;
    attention_forward(&d, T, pos, row0, NULL, k, v, q, att, lse);
    double lse_err = 0;
    for (int i = 0; i < T * Hq; i++) lse_err = fmax(lse_err, fabs(lse_g[i] - lse[i]) / fmax(1, fabs(lse[i])));
    double ea = rel_err(att_g, att, (size_t)T * QD);
    char name[96];
    snprintf(name, sizeof name, "attention T=%d+%d Hq=%d Hk=%d hd=%d (attention.c)", len0, len1, Hq, Hk, hd);
    check(name, ea <= TOL_BF16 && lse_err <= TOL_F32, "out err %.2e (limit %.2e), lse err %.2e (limit %.0e)", ea, TOL_BF16,
          lse_err, TOL_F32);
    // Backward from the GPU's forward record (its rounded output and lse), as the training step will use it.
    float *dout = fmalloc((size_t)T * QD), *dq = fmalloc((size_t)T * QD), *dk = fmalloc((size_t)T * KD),
          *dv = fmalloc((size_t)T * KD), *dq_g = fmalloc((size_t)T * QD), *dk_g = fmalloc((size_t)T * KD),
          *dv_g = fmalloc((size_t)T * KD);
    random_f32(dout, (size_t)T * QD, 1.0, seed + 3);
    float *d_dout = dupload(dout, (size_t)T * QD * 4), *d_dq = dalloc((size_t)T * QD * 4), *d_dk = dalloc((size_t)T * KD * 4),
          *d_dv = dalloc((size_t)T * KD * 4);
    OK(gpu_attention_backward(d_q, d_k, d_v, d_att, d_lse, d_dout, d_off, 2, T, Hq, Hk, hd, d_dq, d_dk, d_dv, NULL, &err));
    ddownload(dq_g, d_dq, (size_t)T * QD * 4);
    ddownload(dk_g, d_dk, (size_t)T * KD * 4);
    ddownload(dv_g, d_dv, (size_t)T * KD * 4);
    LayerActs a = {0};
    a.qr = q, a.kr = k, a.v = v, a.att = att_g, a.lse = lse_g;
    ModelActs A = {0};
    A.T = T, A.n_seqs = 2, A.seq_offsets = off;
    attention_backward(&d, &A, &a, dout, dq, dk, dv);
    double eq = rel_err(dq_g, dq, (size_t)T * QD), ek = rel_err(dk_g, dk, (size_t)T * KD), ev = rel_err(dv_g, dv, (size_t)T * KD);
    snprintf(name, sizeof name, "attention backward T=%d+%d Hq=%d Hk=%d hd=%d", len0, len1, Hq, Hk, hd);
    check(name, eq <= 10 * TOL_F32 && ek <= 10 * TOL_F32 && ev <= 10 * TOL_F32,
          "dq %.2e, dk %.2e, dv %.2e (limit %.0e: fp32 sums in another order)", eq, ek, ev, 10 * TOL_F32);
    dfree(d_q), dfree(d_k), dfree(d_v), dfree(d_att), dfree(d_lse), dfree(d_pos), dfree(d_row0), dfree(d_off);
    dfree(d_dout), dfree(d_dq), dfree(d_dk), dfree(d_dv);
    free(pos), free(row0), free(q), free(k), free(v), free(att), free(att_g), free(lse_g), free(lse);
    free(dout), free(dq), free(dk), free(dv), free(dq_g), free(dk_g), free(dv_g);
}

// swiglu_act.c: silu and the backward's element loop, as scalar float64 formulas with libm exp.
static float silu_ref(float g) { return (float)(g / (1.0 + exp(-(double)g))); }

static void check_swiglu(void) {
    int T = 23, D = 200, F = 301;
    size_t nf = (size_t)T * F;
    float *x = fmalloc((size_t)T * D), *wg = fmalloc((size_t)F * D), *wu = fmalloc((size_t)F * D), *wd = fmalloc((size_t)D * F);
    random_bf16(x, NULL, (size_t)T * D, 1.0, 41);
    random_bf16(wg, NULL, (size_t)F * D, 0.1, 42);
    random_bf16(wu, NULL, (size_t)F * D, 0.1, 43);
    random_bf16(wd, NULL, (size_t)D * F, 0.1, 44);
    Bf16 *d_x = dupload_bf16(x, (size_t)T * D), *d_wg = dupload_bf16(wg, (size_t)F * D), *d_wu = dupload_bf16(wu, (size_t)F * D),
         *d_wd = dupload_bf16(wd, (size_t)D * F);
    Bf16 *d_g = dalloc(nf * 2), *d_u = dalloc(nf * 2), *d_act = dalloc(nf * 2);
    float *d_y = dalloc((size_t)T * D * 4);
    OK(gpu_matmul(d_x, d_wg, NULL, d_g, GPU_BF16, T, F, D, 0, NULL, &err));
    OK(gpu_matmul(d_x, d_wu, NULL, d_u, GPU_BF16, T, F, D, 0, NULL, &err));
    OK(gpu_swiglu(d_g, d_u, d_act, nf, NULL, &err));
    OK(gpu_matmul(d_act, d_wd, NULL, d_y, GPU_F32, T, D, F, 0, NULL, &err));
    float *g = fmalloc(nf), *u = fmalloc(nf), *act = fmalloc(nf), *y = fmalloc((size_t)T * D);
    float *gg = fmalloc(nf), *ug = fmalloc(nf), *actg = fmalloc(nf), *yg = fmalloc((size_t)T * D), *act_ref = fmalloc(nf);
    ddownload_bf16(gg, d_g, nf), ddownload_bf16(ug, d_u, nf), ddownload_bf16(actg, d_act, nf);
    ddownload(yg, d_y, (size_t)T * D * 4);
    swiglu(x, wg, wu, wd, T, D, F, g, u, act, y);
    for (size_t i = 0; i < nf; i++) act_ref[i] = from_bf16(to_bf16(silu_ref(gg[i]) * ug[i]));
    size_t bad = bits_differ(actg, act_ref, nf * 4, 4);
    check("swiglu act (swiglu_act.c silu(g) * u)", bad <= nf / 1000, "%zu of %zu differ from the CPU expression "
          "(limit 0.1%%: fp64 exp may differ in the last bit)", bad, nf);
    double ey = rel_err(yg, y, (size_t)T * D);
    check("swiglu MLP T=23 D=200 F=301 (model_layers.c swiglu)", ey <= TOL_CHAIN,
          "err %.2e (limit %.2e: g, u, act rounded to bf16 on the GPU)", ey, TOL_CHAIN);
    // Backward of the element step.
    float *dact = fmalloc(nf), *dg = fmalloc(nf), *du = fmalloc(nf), *dg_g = fmalloc(nf), *du_g = fmalloc(nf);
    random_f32(dact, nf, 1.0, 45);
    float *d_dact = dupload(dact, nf * 4), *d_dg = dalloc(nf * 4), *d_du = dalloc(nf * 4);
    OK(gpu_swiglu_backward(d_dact, d_g, d_u, d_dg, d_du, nf, NULL, &err));
    ddownload(dg_g, d_dg, nf * 4), ddownload(du_g, d_du, nf * 4);
    for (size_t i = 0; i < nf; i++) {  // swiglu_act.c swiglu_act_back
        float s = sigmoid(gg[i]);
        du[i] = dact[i] * gg[i] * s;
        dg[i] = dact[i] * ug[i] * s * (1.0f + gg[i] * (1.0f - s));
    }
    double edg = rel_err(dg_g, dg, nf), edu = rel_err(du_g, du, nf);
    check("swiglu backward (swiglu_act.c swiglu_act_back)", edg <= TOL_F32 && edu <= TOL_F32,
          "dg err %.2e, du err %.2e (limit %.0e; same expression)", edg, edu, TOL_F32);
    // Residual add: x + y in fp32, rounded.
    float *res = fmalloc(nf), *res_ref = fmalloc(nf);
    OK(gpu_add(d_g, d_u, nf, NULL, &err));
    ddownload_bf16(res, d_g, nf);
    for (size_t i = 0; i < nf; i++) res_ref[i] = from_bf16(to_bf16(gg[i] + ug[i]));
    bad = bits_differ(res, res_ref, nf * 4, 4);
    check("residual add (model_layers.c x += y)", bad == 0, "%zu of %zu differ (limit 0)", bad, nf);
    dfree(d_x), dfree(d_wg), dfree(d_wu), dfree(d_wd), dfree(d_g), dfree(d_u), dfree(d_act), dfree(d_y);
    dfree(d_dact), dfree(d_dg), dfree(d_du);
    free(x), free(wg), free(wu), free(wd), free(g), free(u), free(act), free(y), free(gg), free(ug), free(actg), free(yg),
        free(act_ref), free(dact), free(dg), free(du), free(dg_g), free(du_g), free(res), free(res_ref);
}

static void check_adamw(void) {
    size_t n = 10007;
    float *p = fmalloc(n), *m = fmalloc(n), *v = fmalloc(n), *g = fmalloc(n);
    random_f32(p, n, 0.05, 51);
    random_f32(m, n, 0.01, 52);
    random_f32(v, n, 1e-3, 53);
    random_f32(g, n, 0.02, 54);
    for (size_t i = 0; i < n; i++) v[i] = v[i] * v[i];
    float *d_p = dupload(p, n * 4), *d_m = dupload(m, n * 4), *d_v = dupload(v, n * 4), *d_g = dupload(g, n * 4);
    Bf16 *d_pb = dalloc(n * 2);
    AdamWHyper h = {0.9, 0.95, 1e-8, 0.1};
    double lr = 3e-4;
    int64_t step = 3;
    double c1 = 1.0 - pow(h.beta1, (double)step), c2 = 1.0 - pow(h.beta2, (double)step);
    OK(gpu_adamw(d_p, d_m, d_v, d_g, d_pb, n, lr, lr * h.weight_decay, h.beta1, h.beta2, h.eps, c1, c2, NULL, &err));
    float *pg = fmalloc(n), *mg = fmalloc(n), *vg = fmalloc(n);
    Bf16 *pb = malloc(n * 2);
    ddownload(pg, d_p, n * 4), ddownload(mg, d_m, n * 4), ddownload(vg, d_v, n * 4), ddownload(pb, d_pb, n * 2);
    AdamW o = {.n = n, .begin = 0, .m = m, .v = v, .step = step - 1};
    ModelTensor t = {.name = "w", .ndim = 2, .shape = {1, (int64_t)n}, .offset = 0, .numel = n};
    adamw_update(&o, p, g, &t, 1, lr, &h);
    size_t bad = bits_differ(pg, p, n * 4, 4) + bits_differ(mg, m, n * 4, 4) + bits_differ(vg, v, n * 4, 4), bad_b = 0;
    for (size_t i = 0; i < n; i++) bad_b += pb[i] != to_bf16(p[i]);
    check("adamw (algo/optim.c adamw_update)", bad == 0 && bad_b == 0,
          "%zu of %zu weights/moments differ, %zu bf16 copies (limit 0: same fp64 operations)", bad, 3 * n, bad_b);
    dfree(d_p), dfree(d_m), dfree(d_v), dfree(d_g), dfree(d_pb);
    free(p), free(m), free(v), free(g), free(pg), free(mg), free(vg), free(pb);
}

static void check_loss(void) {
    int T = 17, V = 32003;
    size_t n = (size_t)T * V;
    float *x = fmalloc(n);
    random_bf16(x, NULL, n, 3.0, 61);
    int32_t y[17];
    Rng r = rng_at(8, 0, 0, 0);
    for (int t = 0; t < T; t++) y[t] = (int32_t)rng_below(&r, (uint64_t)V);
    Bf16 *d_x = dupload_bf16(x, n);
    int32_t *d_y = dupload(y, sizeof y);
    double *d_out = dalloc((size_t)T * 24), out[17 * 3];
    OK(cuda_logits_forward(d_x, LOGITS_BF16, T, V, d_y, 0.7, d_out, d_out + T, d_out + 2 * T, &err));
    ddownload(out, d_out, sizeof out);
    double worst = 0;
    for (int t = 0; t < T; t++) {
        double lp, h;
        logprob_entropy(x + (size_t)t * V, V, 0.7, y[t], &lp, &h);
        worst = fmax(worst, fmax(fabs(out[t] - lp) / fmax(1, fabs(lp)), fabs(out[T + t] - h) / fmax(1, fabs(h))));
    }
    check("loss log-prob/entropy bf16 (model/logprob.c)", worst <= 1e-6, "err %.2e (limit 1e-6, as test_cuda_logits.c)",
          worst);
    dfree(d_x), dfree(d_y), dfree(d_out);
    free(x);
}

// The chunked LM head's pair (model/model_head.c): cuda_head_forward's log-prob, entropy and stats against
// logprob_entropy_stats, and cuda_head_backward on vocabulary slices against logprob_entropy_backward of whole rows.
// The slices must also reassemble, bit for bit, cuda_logits_backward of the whole rows (the same arithmetic per
// element), and rows whose dlogp and dentropy are 0 must be exact zeros. The log-prob limit is check_loss's; the
// gradient's, 1e-5 norm-wise per row, covers fp32 arithmetic with __expf on the same bf16 inputs, while a wrong column
// offset or target errs by O(1).
static void check_head_loss(void) {
    enum { T = 13, V = 5003, SLICE = 1237 };
    size_t n = (size_t)T * V;
    float *x = fmalloc(n), *slice = fmalloc(n), *g_cpu = fmalloc(n), *g_gpu = fmalloc(n), *g_whole = fmalloc(n);
    random_bf16(x, NULL, n, 3.0, 63);
    int32_t y[T];
    double dlogp[T], dh[T];
    Rng r = rng_at(9, 0, 0, 0);
    for (int t = 0; t < T; t++) {
        y[t] = (int32_t)rng_below(&r, (uint64_t)V);
        dlogp[t] = t == 4 ? 0 : rng_normal(&r);
        dh[t] = t == 4 || t % 3 == 1 ? 0 : rng_normal(&r);
    }
    Bf16 *d_x = dupload_bf16(x, n);
    int32_t *d_y = dupload(y, sizeof y);
    double *d_dlogp = dupload(dlogp, sizeof dlogp), *d_dh = dupload(dh, sizeof dh);
    double *d_out = dalloc((size_t)T * 5 * sizeof(double)), out[T * 5];  // logp, entropy, stats [T, 3]
    OK(cuda_head_forward(d_x, LOGITS_BF16, T, V, d_y, 0.7, d_out, d_out + T, d_out + 2 * T, &err));
    ddownload(out, d_out, sizeof out);
    double worst = 0;
    for (int t = 0; t < T; t++) {
        double lp, h, st[LOGPROB_STATS];
        logprob_entropy_stats(x + (size_t)t * V, V, 0.7, y[t], &lp, &h, st);
        const double *gs = out + 2 * T + 3 * t;  // (lse, H, 0)
        double e1 = fabs(out[t] - lp) / fmax(1, fabs(lp)), e2 = fabs(out[T + t] - h) / fmax(1, fabs(h));
        double e3 = fabs(gs[0] - (st[0] + st[1])) / fmax(1, fabs(st[0] + st[1])), e4 = fabs(gs[1] - h) / fmax(1, h);
        worst = fmax(worst, fmax(fmax(e1, e2), fmax(e3, e4)));
        if (dlogp[t] != 0 || dh[t] != 0)
            logprob_entropy_backward(x + (size_t)t * V, V, 0.7, y[t], dlogp[t], dh[t], g_cpu + (size_t)t * V);
    }
    check("head forward: log-prob/entropy/stats bf16 (model/logprob.c)", worst <= 1e-6, "err %.2e (limit 1e-6)", worst);
    // The slices: columns v0 .. v0 + nv of every row, contiguous [T, nv] as the head's matmul writes them.
    for (int v0 = 0; v0 < V; v0 += SLICE) {
        int nv = V - v0 < SLICE ? V - v0 : SLICE;
        for (int t = 0; t < T; t++) memcpy(slice + (size_t)t * nv, x + (size_t)t * V + v0, (size_t)nv * sizeof *x);
        Bf16 *d_s = dupload_bf16(slice, (size_t)T * nv);
        float *d_g = dalloc((size_t)T * nv * sizeof(float)), *part = fmalloc((size_t)T * nv);
        OK(cuda_head_backward(d_s, LOGITS_BF16, T, v0, nv, d_y, 0.7, d_out + 2 * T, d_dlogp, d_dh, d_g, LOGITS_F32,
                              &err));
        ddownload(part, d_g, (size_t)T * nv * sizeof(float));
        for (int t = 0; t < T; t++) memcpy(g_gpu + (size_t)t * V + v0, part + (size_t)t * nv, (size_t)nv * sizeof *part);
        dfree(d_s), dfree(d_g), free(part);
    }
    float *d_w = dalloc(n * sizeof(float));
    double *d_lse = dalloc((size_t)T * 3 * sizeof(double));
    OK(cuda_logits_forward(d_x, LOGITS_BF16, T, V, d_y, 0.7, d_lse + 2 * T, d_lse + T, d_lse, &err));
    OK(cuda_logits_backward(d_x, LOGITS_BF16, T, V, d_y, 0.7, d_lse, d_lse + T, d_dlogp, d_dh, d_w, LOGITS_F32, &err));
    ddownload(g_whole, d_w, n * sizeof(float));
    double gworst = 0;
    size_t nonzero = 0;
    for (int t = 0; t < T; t++) {
        int zero_row = dlogp[t] == 0 && dh[t] == 0;
        for (int v = 0; zero_row && v < V; v++) nonzero += g_gpu[(size_t)t * V + v] != 0;  // -0 counts as a zero
        if (!zero_row) gworst = fmax(gworst, rel_err(g_gpu + (size_t)t * V, g_cpu + (size_t)t * V, V));
    }
    check("head backward: vocabulary slices vs whole rows (model/logprob.c)", gworst <= 1e-5 && nonzero == 0,
          "row error %.2e (limit 1e-5); %zu non-zeros in rows with zero coefficients (limit 0)", gworst, nonzero);
    size_t differ = bits_differ(g_gpu, g_whole, n * sizeof(float), sizeof(float));
    check("head backward: slices = cuda_logits_backward, bit for bit", differ == 0, "%zu of %zu elements differ",
          differ, n);
    dfree(d_x), dfree(d_y), dfree(d_dlogp), dfree(d_dh), dfree(d_out), dfree(d_w), dfree(d_lse);
    free(x), free(slice), free(g_cpu), free(g_gpu), free(g_whole);
}

void check_kernels(void) {
    printf("kernels against their CPU twins\n");
    check_embed();
    check_norm_case("rms_norm", 37, 1001, 0, 0);
    check_norm_case("rms_norm", 5, 4096, 0, 0);
    check_norm_case("head_norm", 13 * 5, 128, 13, 5);
    check_rope();
    check_matmul_case(1, 37, 64, 1, 71);
    check_matmul_case(7, 129, 200, 0, 72);
    check_matmul_case(33, 515, 1000, 1, 73);
    check_matmul_case(130, 257, 1001, 0, 74);  // K % 8 != 0: the element-wise load path
    check_matmul_case(257, 1031, 512, 1, 75);
    check_matmul_backward(37, 129, 200, 76);
    check_matmul_backward(130, 67, 515, 77);
    check_attention_case(45, 70, 6, 2, 64, 81);
    check_attention_case(33, 1, 4, 4, 40, 82);
    check_attention_case(100, 37, 8, 1, 128, 83);
    check_swiglu();
    check_adamw();
    check_fixed_point();
    check_loss();
    check_head_loss();
    check_sample();
}

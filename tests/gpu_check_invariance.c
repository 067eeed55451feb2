// Batch invariance on the GPU (src/README.md invariant 2): a matmul row's bits do not depend on M or on its place in
// the batch; a query's attention output is the same in the training layout, a prefill and a one-token decode.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_check.h"

static Err err;
#define OK(call) ok_or_die((call), &err, #call)

// Rows of x [Mmax, K] at `first`.. through gpu_matmul with M rows: row i's outputs equal the full batch's bit for bit.
static void check_matmul_rows(int N, int K) {
    const int Ms[] = {1, 7, 256, 4096}, Mmax = 4096, firsts[] = {0, 1000};
    float *x = malloc((size_t)Mmax * K * 4), *w = malloc((size_t)N * K * 4);
    random_bf16(x, NULL, (size_t)Mmax * K, 1.0, 101 + K);
    random_bf16(w, NULL, (size_t)N * K, 0.05, 102 + K);
    Bf16 *d_x = dupload_bf16(x, (size_t)Mmax * K), *d_w = dupload_bf16(w, (size_t)N * K);
    for (int out = 0; out < 2; out++) {
        size_t es = out ? 2 : 4;
        GpuDtype dt = out ? GPU_BF16 : GPU_F32;
        void *d_full = dalloc((size_t)Mmax * N * es), *d_part = dalloc((size_t)Mmax * N * es);
        char *full = malloc((size_t)Mmax * N * es), *part = malloc((size_t)Mmax * N * es);
        OK(gpu_matmul(d_x, d_w, NULL, d_full, dt, Mmax, N, K, 0, NULL, &err));
        ddownload(full, d_full, (size_t)Mmax * N * es);
        size_t bad = 0, per_m[4] = {0};  // per M, so a failure shows which tile shape disagrees (M <= 16: small)
        for (int mi = 0; mi < 4; mi++)
            for (int fi = 0; fi < 2; fi++) {
                int M = Ms[mi], first = firsts[fi];
                if (first + M > Mmax) continue;
                OK(gpu_matmul(d_x + (size_t)first * K, d_w, NULL, d_part, dt, M, N, K, 0, NULL, &err));
                ddownload(part, d_part, (size_t)M * N * es);
                per_m[mi] += bits_differ(part, full + (size_t)first * N * es, (size_t)M * N * es, es);
            }
        for (int mi = 0; mi < 4; mi++) bad += per_m[mi];
        char name[96];
        snprintf(name, sizeof name, "matmul rows, M = 1, 7, 256, 4096 (N=%d K=%d %s)", N, K, out ? "bf16" : "fp32");
        check(name, bad == 0, "outputs differing from the M=4096 batch: M=1 %zu, M=7 %zu, M=256 %zu, M=4096 %zu (limit 0)",
              per_m[0], per_m[1], per_m[2], per_m[3]);
        dfree(d_full), dfree(d_part);
        free(full), free(part);
    }
    dfree(d_x), dfree(d_w);
    free(x), free(w);
}

// One sequence of L tokens (q, k, v given): attention outputs and lse in three layouts.
static void check_attention_layouts(int L, int Hq, int Hk, int hd) {
    int QD = Hq * hd, KD = Hk * hd, other = 57, T = other + L, max_len = 1024, slot = 3;
    float *q = malloc((size_t)T * QD * 4), *k = malloc((size_t)T * KD * 4), *v = malloc((size_t)T * KD * 4);
    random_bf16(q, NULL, (size_t)T * QD, 1.5, 111);
    random_bf16(k, NULL, (size_t)T * KD, 1.5, 112);
    random_bf16(v, NULL, (size_t)T * KD, 1.0, 113);
    Bf16 *d_q = dupload_bf16(q, (size_t)T * QD), *d_k = dupload_bf16(k, (size_t)T * KD), *d_v = dupload_bf16(v, (size_t)T * KD);
    int32_t *pos = malloc((size_t)T * 4);
    int64_t *row0 = malloc((size_t)T * 8);
    // Training: another sequence of `other` tokens packed first, then ours; keys are the packed k rows.
    for (int t = 0; t < T; t++) row0[t] = t < other ? 0 : other, pos[t] = (int32_t)(t - row0[t]);
    int32_t *d_pos = dupload(pos, (size_t)T * 4);
    int64_t *d_row0 = dupload(row0, (size_t)T * 8);
    Bf16 *d_out = dalloc((size_t)T * QD * 2);
    double *d_lse = dalloc((size_t)T * Hq * 8);
    OK(gpu_attention(d_q, d_k, d_v, d_pos, d_row0, T, Hq, Hk, hd, d_out, d_lse, NULL, &err));
    Bf16 *train = malloc((size_t)L * QD * 2), *got = malloc((size_t)L * QD * 2);
    double *train_lse = malloc((size_t)L * Hq * 8), *got_lse = malloc((size_t)L * Hq * 8);
    ddownload(train, d_out + (size_t)other * QD, (size_t)L * QD * 2);
    ddownload(train_lse, d_lse + (size_t)other * Hq, (size_t)L * Hq * 8);
    // A KV cache of slots of max_len rows; our sequence in slot 3.
    Bf16 *kc = dalloc((size_t)(slot + 1) * max_len * KD * 2), *vc = dalloc((size_t)(slot + 1) * max_len * KD * 2);
    for (int t = 0; t < L; t++) row0[t] = (int64_t)slot * max_len, pos[t] = t;
    int32_t *d_pos2 = dupload(pos, (size_t)L * 4);
    int64_t *d_row2 = dupload(row0, (size_t)L * 8);
    const Bf16 *qs = d_q + (size_t)other * QD, *ks = d_k + (size_t)other * KD, *vs = d_v + (size_t)other * KD;
    size_t bad_prefill = 0, bad_decode = 0, bad_mixed = 0;
    // Prefill of all L tokens at once.
    OK(gpu_kv_store(ks, vs, d_pos2, d_row2, L, KD, kc, vc, NULL, &err));
    OK(gpu_attention(qs, kc, vc, d_pos2, d_row2, L, Hq, Hk, hd, d_out, d_lse, NULL, &err));
    ddownload(got, d_out, (size_t)L * QD * 2);
    ddownload(got_lse, d_lse, (size_t)L * Hq * 8);
    bad_prefill = bits_differ(got, train, (size_t)L * QD * 2, 2) + bits_differ(got_lse, train_lse, (size_t)L * Hq * 8, 8);
    // Decode one token at a time, and a prefill of the first third followed by decode.
    for (int mode = 0; mode < 2; mode++) {
        dfree(kc), dfree(vc);
        kc = dalloc((size_t)(slot + 1) * max_len * KD * 2), vc = dalloc((size_t)(slot + 1) * max_len * KD * 2);
        int start = mode ? L / 3 : 0;
        if (start) {
            OK(gpu_kv_store(ks, vs, d_pos2, d_row2, start, KD, kc, vc, NULL, &err));
            OK(gpu_attention(qs, kc, vc, d_pos2, d_row2, start, Hq, Hk, hd, d_out, d_lse, NULL, &err));
        }
        for (int t = start; t < L; t++) {
            OK(gpu_kv_store(ks + (size_t)t * KD, vs + (size_t)t * KD, d_pos2 + t, d_row2 + t, 1, KD, kc, vc, NULL, &err));
            OK(gpu_attention(qs + (size_t)t * QD, kc, vc, d_pos2 + t, d_row2 + t, 1, Hq, Hk, hd, d_out + (size_t)t * QD,
                             d_lse + (size_t)t * Hq, NULL, &err));
        }
        ddownload(got, d_out, (size_t)L * QD * 2);
        ddownload(got_lse, d_lse, (size_t)L * Hq * 8);
        size_t bad = bits_differ(got, train, (size_t)L * QD * 2, 2) + bits_differ(got_lse, train_lse, (size_t)L * Hq * 8, 8);
        if (mode) bad_mixed = bad;
        else bad_decode = bad;
    }
    char name[96];
    snprintf(name, sizeof name, "attention L=%d Hq=%d Hk=%d hd=%d: training = prefill", L, Hq, Hk, hd);
    check(name, bad_prefill == 0, "%zu outputs/lse differ (limit 0)", bad_prefill);
    snprintf(name, sizeof name, "attention L=%d: training = decode one at a time", L);
    check(name, bad_decode == 0, "%zu outputs/lse differ (limit 0)", bad_decode);
    snprintf(name, sizeof name, "attention L=%d: training = prefill %d + decode", L, L / 3);
    check(name, bad_mixed == 0, "%zu outputs/lse differ (limit 0)", bad_mixed);
    dfree(d_q), dfree(d_k), dfree(d_v), dfree(d_pos), dfree(d_row0), dfree(d_out), dfree(d_lse), dfree(kc), dfree(vc);
    dfree(d_pos2), dfree(d_row2);
    free(q), free(k), free(v), free(pos), free(row0), free(train), free(got), free(train_lse), free(got_lse);
}

void check_invariance(void) {
    printf("batch invariance\n");
    check_matmul_rows(1536, 1536);
    check_matmul_rows(259, 1001);  // odd N, K % 8 != 0
    check_attention_layouts(300, 8, 2, 128);
    check_attention_layouts(77, 4, 4, 64);
}

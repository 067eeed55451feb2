// Log-prob and entropy of softmax(logits / T) in float64 with fixed-order sums (src/README.md invariant 2).
#include "model/logprob.h"

#include <math.h>
#include <string.h>

// Eight float64 lanes in two halves of four (a width that AVX2 holds in one register and every target lowers
// well); each lane does the same IEEE operations in the same order on every target (no contraction into fused
// multiply-adds: -ffp-contract=off), so the bits do not depend on whether the AVX2 or the baseline code runs
// (by construction, as for model/matmul.c; no test runs the baseline code apart).
typedef double v4d __attribute__((vector_size(32)));
typedef long long v4l __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
enum { L = 8, H = 4 };

// exp(x) lane by lane, to about 1 ulp: x = n ln2 + r with |r| <= ln2/2 (ln2 in two parts, the first exact times
// any n in range), exp(r) by its Taylor series to degree 13 (truncation below 1e-17), then 2^n from exponent bits.
// Below -708 it returns 0 (libm's exp is subnormal or 0 there, under 1e-307: nothing against the sum's 1).
static inline __attribute__((always_inline)) void exp4d(const v4d *in, v4d *out) {
    const v4d lo = (v4d){0} - 708.0, shift = (v4d){0} + 6755399441055744.0;  // 1.5 * 2^52: rounds to an integer
    v4l under = *in < lo;
    v4d x = (v4d)((under & (v4l)lo) | (~under & (v4l)*in));
    v4d t = x * 1.4426950408889634 + shift, n = t - shift;
    v4d r = x - n * 6.93147180369123816490e-01 - n * 1.90821492927058770002e-10;
    v4d p = (v4d){0} + 1.0 / 6227020800.0;  // 1/13!, then Horner down to 1/0!
    p = p * r + 1.0 / 479001600.0, p = p * r + 1.0 / 39916800.0, p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0, p = p * r + 1.0 / 40320.0, p = p * r + 1.0 / 5040.0, p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0, p = p * r + 1.0 / 24.0, p = p * r + 1.0 / 6.0, p = p * r + 0.5;
    p = p * r + 1.0, p = p * r + 1.0;
    v4l scale = ((v4l)t - (v4l)shift + 1023) << 52;  // 2^n
    p = p * (v4d)scale;
    *out = (v4d)(~under & (v4l)p);
}

// Lanes logits[0..H) as float64 divided by T; lanes from n on (a row's tail) read as `fill`.
static inline __attribute__((always_inline)) void scaled4(const float *logits, int n, double temperature, double fill,
                                                          v4d *z) {
    if (n >= H) {
        v4f f;
        memcpy(&f, logits, sizeof f);
        *z = __builtin_convertvector(f, v4d) / temperature;
        return;
    }
    double d[H] = {fill, fill, fill, fill};
    for (int l = 0; l < n; l++) d[l] = logits[l] / temperature;
    memcpy(z, d, sizeof d);
}

// ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)) of lanes 0-3 in a, 4-7 in b.
static inline __attribute__((always_inline)) double lane_sum(const v4d *a, const v4d *b) {
    return (((*a)[0] + (*a)[1]) + ((*a)[2] + (*a)[3])) + (((*b)[0] + (*b)[1]) + ((*b)[2] + (*b)[3]));
}

// z = logits / T: max = max_i z_i, S = sum_i exp(z_i - max) and W = sum_i exp(z_i - max) (z_i - max) in one pass:
// lane l of L sums i = l, l + L, ... in order (a row's tail as lanes that add zeros), then lane_sum.
static inline __attribute__((always_inline)) void softmax_stats_body(const float *logits, int vocab,
                                                                     double temperature, double *max, double *sum,
                                                                     double *weighted) {
    v4d m4 = (v4d){0} - INFINITY;
    for (int i = 0; i < vocab; i += H) {
        v4d z;
        scaled4(logits + i, vocab - i, temperature, -INFINITY, &z);
        v4l gt = z > m4;
        m4 = (v4d)((gt & (v4l)z) | (~gt & (v4l)m4));
    }
    double m = m4[0];
    for (int l = 1; l < H; l++) m = m4[l] > m ? m4[l] : m;
    v4d s[2] = {{0}, {0}}, w[2] = {{0}, {0}};
    for (int i = 0; i < vocab; i += H) {
        int half = (i / H) & 1;  // lanes 0-3 or 4-7 of the eight
        v4d d, p;
        scaled4(logits + i, vocab - i, temperature, m, &d);
        d -= m;
        exp4d(&d, &p);
        for (int l = vocab - i; l < H; l++) p[l] = 0;  // a row's tail: these lanes add nothing
        s[half] += p;
        w[half] += p * d;
    }
    *max = m, *sum = lane_sum(&s[0], &s[1]), *weighted = lane_sum(&w[0], &w[1]);
}

// The same operations compiled for AVX2 and for the build's baseline: the same bits, AVX2's where the CPU has it.
__attribute__((target("avx2"))) static void softmax_stats_avx2(const float *logits, int vocab, double temperature,
                                                               double *max, double *sum, double *weighted) {
    softmax_stats_body(logits, vocab, temperature, max, sum, weighted);
}
static void softmax_stats_base(const float *logits, int vocab, double temperature, double *max, double *sum,
                               double *weighted) {
    softmax_stats_body(logits, vocab, temperature, max, sum, weighted);
}
static void softmax_stats(const float *logits, int vocab, double temperature, double *max, double *sum,
                          double *weighted) {
    (__builtin_cpu_supports("avx2") ? softmax_stats_avx2 : softmax_stats_base)(logits, vocab, temperature, max, sum,
                                                                              weighted);
}

// log p_t = z_t - logsumexp(z); H = -sum_i p_i log p_i = log S - sum_i p_i (z_i - max).
static void from_stats(const float *logits, double temperature, int32_t target, double m, double s, double w,
                       double *logp, double *entropy) {
    double log_s = log(s);
    *logp = logits[target] / temperature - m - log_s;
    *entropy = log_s - w / s;
}

void logprob_entropy(const float *logits, int vocab, double temperature, int32_t target, double *logp,
                     double *entropy) {
    double m, s, w;
    softmax_stats(logits, vocab, temperature, &m, &s, &w);
    from_stats(logits, temperature, target, m, s, w, logp, entropy);
}

void logprob_entropy_stats(const float *logits, int vocab, double temperature, int32_t target, double *logp,
                           double *entropy, double stats[LOGPROB_STATS]) {
    double m, s, w;
    softmax_stats(logits, vocab, temperature, &m, &s, &w);
    from_stats(logits, temperature, target, m, s, w, logp, entropy);
    stats[0] = m, stats[1] = log(s), stats[2] = *entropy;
}

// d log p_t / dz_i = [i = t] - p_i;  dH / dz_i = -p_i (log p_i + H);  dz_i / dlogit_i = 1 / T. Each element's
// arithmetic is the same in every lane, so its bits do not depend on where a vocabulary slice starts.
static inline __attribute__((always_inline)) void backward_cols_body(const float *logits, int v0, int nv,
                                                                     double temperature, int32_t target,
                                                                     const double *stats, double dlogp,
                                                                     double dentropy, float *dlogits) {
    double m = stats[0], log_s = stats[1], entropy = stats[2];
    for (int j = 0; j < nv; j += H) {
        int n = nv - j < H ? nv - j : H, hit_lane = target - v0 - j;
        v4d log_p, p, hit = {0};
        scaled4(logits + j, n, temperature, 0, &log_p);
        log_p = log_p - m - log_s;
        exp4d(&log_p, &p);
        if (hit_lane >= 0 && hit_lane < H) hit[hit_lane] = 1;
        v4d g = (dlogp * (hit - p) - dentropy * p * (log_p + entropy)) / temperature;
        for (int l = 0; l < n; l++) dlogits[j + l] += (float)g[l];
    }
}

__attribute__((target("avx2"))) static void backward_cols_avx2(const float *logits, int v0, int nv, double temperature,
                                                               int32_t target, const double *stats, double dlogp,
                                                               double dentropy, float *dlogits) {
    backward_cols_body(logits, v0, nv, temperature, target, stats, dlogp, dentropy, dlogits);
}
static void backward_cols_base(const float *logits, int v0, int nv, double temperature, int32_t target,
                               const double *stats, double dlogp, double dentropy, float *dlogits) {
    backward_cols_body(logits, v0, nv, temperature, target, stats, dlogp, dentropy, dlogits);
}
void logprob_entropy_backward_cols(const float *logits, int v0, int nv, double temperature, int32_t target,
                                   const double stats[LOGPROB_STATS], double dlogp, double dentropy, float *dlogits) {
    (__builtin_cpu_supports("avx2") ? backward_cols_avx2 : backward_cols_base)(logits, v0, nv, temperature, target,
                                                                              stats, dlogp, dentropy, dlogits);
}

void logprob_entropy_backward(const float *logits, int vocab, double temperature, int32_t target, double dlogp,
                              double dentropy, float *dlogits) {
    double logp, entropy, stats[LOGPROB_STATS];
    logprob_entropy_stats(logits, vocab, temperature, target, &logp, &entropy, stats);
    logprob_entropy_backward_cols(logits, 0, vocab, temperature, target, stats, dlogp, dentropy, dlogits);
}

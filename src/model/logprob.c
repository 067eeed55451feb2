// Log-prob and entropy of softmax(logits / T) in float64 with fixed-order sums (src/README.md invariant 2).
#include "model/logprob.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "model/vec_f64.h"

// Eight float64 lanes per sum, in vectors of VW (model/vec_f64.h): one of eight where the build targets AVX-512, else
// two of four. The bits depend neither on VW nor on whether the AVX2 or the baseline code runs (by construction, as for
// model/matmul.c; no test runs the baseline code apart).
enum { L = 8 };

// Lanes logits[0..VW) as float64 divided by T (unit: T is 1, and the division, exact then, is left out); lanes from n
// on (a row's tail) read as `fill`.
static inline __attribute__((always_inline)) void scaledvd(const float *logits, int n, double temperature, bool unit,
                                                          double fill, vd *z) {
    if (n >= VW) {
        vf f;
        memcpy(&f, logits, sizeof f);
        *z = __builtin_convertvector(f, vd);
        if (!unit) *z /= temperature;
        return;
    }
    double d[VW];
    for (int l = 0; l < VW; l++) d[l] = l >= n ? fill : unit ? logits[l] : logits[l] / temperature;
    memcpy(z, d, sizeof d);
}

// The largest logit in float, NaNs passed over (-inf for a row of NaNs), 2 VW at a time (one register's worth).
static inline __attribute__((always_inline)) float max_logit(const float *logits, int vocab) {
    typedef float vmf __attribute__((vector_size(2 * VW * sizeof(float))));
    typedef int vmi __attribute__((vector_size(2 * VW * sizeof(int))));
    vmf mv = (vmf){0} - INFINITY;
    int i = 0;
    for (; i + 2 * VW <= vocab; i += 2 * VW) {
        vmf f;
        memcpy(&f, logits + i, sizeof f);
        vmi gt = f > mv;
        mv = (vmf)((gt & (vmi)f) | (~gt & (vmi)mv));
    }
    float m = -INFINITY;
    for (int l = 0; l < 2 * VW; l++) m = mv[l] > m ? mv[l] : m;
    for (; i < vocab; i++) m = logits[i] > m ? logits[i] : m;
    return m;
}

// ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)) of the lanes held in L / VW vectors.
static inline __attribute__((always_inline)) double lane_sum(const vd v[L / VW]) {
    double a[L];
    memcpy(a, v, sizeof a);
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

// One vector of softmax_stats_body: lanes i..i+VW of z into s and w (the lanes from n on, a row's tail, add nothing).
static inline __attribute__((always_inline)) void stats_step(const float *logits, const double *given, int n,
                                                             double temperature, bool unit, double m, vd *s, vd *w) {
    vd d, p = {0};
    scaledvd(logits, n, temperature, unit, m, &d);
    d -= m;
    if (!given) expvd(&d, &p);
    else if (n >= VW) memcpy(&p, given, sizeof p);
    else for (int l = 0; l < n; l++) p[l] = given[l];
    for (int l = n; l < VW; l++) p[l] = 0;
    *s += p;
    *w += p * d;
}

// z = logits / T: max = max_i z_i, S = sum_i exp(z_i - max) and W = sum_i exp(z_i - max) (z_i - max) in one pass:
// lane l of L sums i = l, l + L, ... in order (a row's tail as lanes that add zeros), then lane_sum. The max is the
// largest logit divided by T: dividing by T > 0 keeps the order (rounding is monotone), so it is max_i z_i exactly.
// With `given` (T = 1 only) the exps are read from given[i] instead of computed.
static inline __attribute__((always_inline)) void softmax_stats_body(const float *logits, int vocab,
                                                                     double temperature, const double *given,
                                                                     double *max, double *sum, double *weighted) {
    bool unit = temperature == 1.0;
    double m = max_logit(logits, vocab);
    if (!unit) m /= temperature;
    vd s[L / VW] = {{0}}, w[L / VW] = {{0}};
    int i = 0;
    if (!given)  // EXPVD_MAX vectors a step, their exps interleaved, each added in its turn
        for (; i + EXPVD_MAX * VW <= vocab; i += EXPVD_MAX * VW) {
            vd d[EXPVD_MAX], p[EXPVD_MAX];
#pragma GCC unroll 4
            for (int k = 0; k < EXPVD_MAX; k++) {
                scaledvd(logits + i + k * VW, VW, temperature, unit, m, &d[k]);
                d[k] -= m;
            }
            expvd_n(d, p, EXPVD_MAX);
#pragma GCC unroll 4
            for (int k = 0; k < EXPVD_MAX; k++) s[k % (L / VW)] += p[k], w[k % (L / VW)] += p[k] * d[k];
        }
    for (; i + L <= vocab; i += L)  // whole rounds of the L lanes, with no tail to test
        for (int v = 0; v < L / VW; v++)
            stats_step(logits + i + v * VW, given ? given + i + v * VW : NULL, VW, temperature, unit, m, &s[v], &w[v]);
    for (; i < vocab; i += VW) {  // the tail, lane by lane as if the rounds went on
        int v = (i / VW) % (L / VW);
        stats_step(logits + i, given ? given + i : NULL, vocab - i, temperature, unit, m, &s[v], &w[v]);
    }
    *max = m, *sum = lane_sum(s), *weighted = lane_sum(w);
}

// The same operations compiled for AVX2 and for the build's baseline: the same bits, AVX2's where the CPU has it.
__attribute__((target("avx2"))) static void softmax_stats_avx2(const float *logits, int vocab, double temperature,
                                                               const double *given, double *max, double *sum,
                                                               double *weighted) {
    softmax_stats_body(logits, vocab, temperature, given, max, sum, weighted);
}
static void softmax_stats_base(const float *logits, int vocab, double temperature, const double *given, double *max,
                               double *sum, double *weighted) {
    softmax_stats_body(logits, vocab, temperature, given, max, sum, weighted);
}
static void softmax_stats(const float *logits, int vocab, double temperature, const double *given, double *max,
                          double *sum, double *weighted) {
    (__builtin_cpu_supports("avx2") ? softmax_stats_avx2 : softmax_stats_base)(logits, vocab, temperature, given, max,
                                                                              sum, weighted);
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
    softmax_stats(logits, vocab, temperature, NULL, &m, &s, &w);
    from_stats(logits, temperature, target, m, s, w, logp, entropy);
}

void logprob_entropy_from_exp(const float *logits, int vocab, const double *e, int32_t target, double *logp,
                              double *entropy) {
    double m, s, w;
    softmax_stats(logits, vocab, 1.0, e, &m, &s, &w);
    from_stats(logits, 1.0, target, m, s, w, logp, entropy);
}

void logprob_entropy_stats(const float *logits, int vocab, double temperature, int32_t target, double *logp,
                           double *entropy, double stats[LOGPROB_STATS]) {
    double m, s, w;
    softmax_stats(logits, vocab, temperature, NULL, &m, &s, &w);
    from_stats(logits, temperature, target, m, s, w, logp, entropy);
    stats[0] = m, stats[1] = log(s), stats[2] = *entropy;
}

// dlogits[0..n) += the gradient of one vector of lanes, from log p and p (hit_lane: the target's lane, if any).
// Vectors pass by pointer: no 32-byte vector crosses a function boundary (ABI independent of AVX).
static inline __attribute__((always_inline)) void add_grad(float *dlogits, int n, int hit_lane, double temperature,
                                                           bool unit, const vd *log_p, const vd *p, double dlogp,
                                                           double dentropy, double entropy) {
    vd hit = {0};
    if (hit_lane >= 0 && hit_lane < VW) hit[hit_lane] = 1;
    vd g = dlogp * (hit - *p) - dentropy * *p * (*log_p + entropy);
    if (!unit) g /= temperature;
    vf gf = __builtin_convertvector(g, vf), y;
    if (n < VW) {
        for (int l = 0; l < n; l++) dlogits[l] += gf[l];
        return;
    }
    memcpy(&y, dlogits, sizeof y);
    y += gf;
    memcpy(dlogits, &y, sizeof y);
}

// d log p_t / dz_i = [i = t] - p_i;  dH / dz_i = -p_i (log p_i + H);  dz_i / dlogit_i = 1 / T. Each element's
// arithmetic is the same in every lane, so its bits do not depend on where a vocabulary slice starts.
static inline __attribute__((always_inline)) void backward_cols_body(const float *logits, int v0, int nv,
                                                                     double temperature, int32_t target,
                                                                     const double *stats, double dlogp,
                                                                     double dentropy, float *dlogits) {
    double m = stats[0], log_s = stats[1], entropy = stats[2];
    bool unit = temperature == 1.0;
    int j = 0;
    for (; j + EXPVD_MAX * VW <= nv; j += EXPVD_MAX * VW) {  // EXPVD_MAX vectors a step, their exps interleaved
        vd log_p[EXPVD_MAX], p[EXPVD_MAX];
#pragma GCC unroll 4
        for (int k = 0; k < EXPVD_MAX; k++) {
            scaledvd(logits + j + k * VW, VW, temperature, unit, 0, &log_p[k]);
            log_p[k] = log_p[k] - m - log_s;
        }
        expvd_n(log_p, p, EXPVD_MAX);
#pragma GCC unroll 4
        for (int k = 0; k < EXPVD_MAX; k++)
            add_grad(dlogits + j + k * VW, VW, target - v0 - j - k * VW, temperature, unit, &log_p[k], &p[k], dlogp,
                     dentropy, entropy);
    }
    for (; j < nv; j += VW) {
        int n = nv - j < VW ? nv - j : VW, hit_lane = target - v0 - j;
        vd log_p, p;
        scaledvd(logits + j, n, temperature, unit, 0, &log_p);
        log_p = log_p - m - log_s;
        expvd(&log_p, &p);
        add_grad(dlogits + j, n, hit_lane, temperature, unit, &log_p, &p, dlogp, dentropy, entropy);
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

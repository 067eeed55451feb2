#include "model/sample_filter.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "model/vec_f64.h"

void sample_work_init(SampleWork *w, int vocab) {
    w->vocab = vocab;
    w->w = xmalloc((size_t)vocab * sizeof *w->w);
}

void sample_work_free(SampleWork *w) {
    free(w->w);
    w->w = NULL;
}

// A token and its weight, ranked by weight (descending) then id.
typedef struct {
    double w;
    int id;
} Ranked;

static int by_weight_desc(const void *a, const void *b) {
    const Ranked *x = a, *y = b;
    if (x->w != y->w) return x->w > y->w ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

// The weight threshold above which the tokens hold the top_k largest and (top_k = 0) top_p of the total mass,
// so that only those candidates need sorting: they are exactly the head of the full ranking.
static double candidate_threshold(const SampleWork *w, int keep, double top_p, double total) {
    for (double thr = 0x1p-4; thr > 0x1p-64; thr *= 0x1p-4) {
        double mass = 0;
        int count = 0;
        for (int i = 0; i < w->vocab; i++)
            if (w->w[i] >= thr) mass += w->w[i], count++;
        if (keep < w->vocab ? count >= keep : mass >= top_p * total) return thr;
    }
    return 0;
}

// Zeroes every weight outside the top_k largest and the smallest prefix (by rank) holding top_p of their mass
// (of the whole mass, summed in id order, when top_k is off).
static void keep_nucleus(SampleWork *w, int top_k, double top_p) {
    int V = w->vocab, keep = top_k > 0 && top_k < V ? top_k : V, n = 0;
    double total = 0;
    for (int i = 0; i < V; i++) total += w->w[i];
    double thr = candidate_threshold(w, keep, top_p, total);
    Ranked *r = xmalloc((size_t)V * sizeof *r);
    for (int i = 0; i < V; i++)
        if (w->w[i] >= thr) r[n++] = (Ranked){w->w[i], i};
    qsort(r, (size_t)n, sizeof *r, by_weight_desc);
    if (keep < V) {  // top-p within the top-k: their mass
        total = 0;
        for (int i = 0; i < keep; i++) total += r[i].w;
    }
    if (keep > n) keep = n;  // top-p alone: the candidates hold at least top_p of the mass
    if (top_p < 1) {
        double cum = 0;
        int m = 0;
        while (m < keep) {
            cum += r[m++].w;
            if (cum >= top_p * total) break;
        }
        keep = m;
    }
    // Every token outside the kept head: candidates past it and all non-candidates.
    for (int i = keep; i < n; i++) w->w[r[i].id] = -1;
    for (int i = 0; i < V; i++) w->w[i] = w->w[i] >= thr && w->w[i] >= 0 ? w->w[i] : 0;
    free(r);
}

// w[i] = exp((l_i - mx) / T) for i < V, EXPVD_MAX vectors of VW at a time through expvd_n (model/vec_f64.h), then VW
// at a time, the tail in a padded vector whose spare lanes are dropped, so every weight takes the same operations
// wherever it lies; each is within about an ulp of libm's exp. At T = 1 the division, exact there, is left out (as
// model/logprob.c leaves it out).
static inline __attribute__((always_inline)) void weights_span(const float *l, float mx, double T, double *w, int V) {
    bool unit = T == 1.0;
    enum { N = EXPVD_MAX };  // vectors a step, whose exps interleave (expvd_n)
    int i = 0;
    for (; i + N * VW <= V; i += N * VW) {
        vd x[N], e[N];
        load_vd_n(l + i, x, N);
#pragma GCC unroll 4
        for (int k = 0; k < N; k++) {
            x[k] -= (double)mx;
            if (!unit) x[k] /= T;
        }
        expvd_n(x, e, N);
        memcpy(w + i, e, sizeof e);
    }
    for (; i < V; i += VW) {
        size_t n = (size_t)(V - i);
        vf lf;
        load_vf(l + i, n, &lf);
        vd x = __builtin_convertvector(lf, vd) - (double)mx, e;
        if (!unit) x /= T;
        expvd(&x, &e);
        if (n >= VW) memcpy(w + i, &e, sizeof e);
        else for (size_t k = 0; k < n; k++) w[i + k] = e[k];
    }
}

__attribute__((target("avx2"))) static void weights_avx2(const float *l, float mx, double T, double *w, int V) {
    weights_span(l, mx, T, w, V);
}
static void weights_base(const float *l, float mx, double T, double *w, int V) { weights_span(l, mx, T, w, V); }

typedef int32_t vi __attribute__((vector_size(VW * sizeof(int32_t))));

// The largest of l[0..V) into *mx, and whether all are finite (x - x is 0 for those, NaN for the others), VW lanes
// at a time, then the lanes' maxima: max is exact in any order, so *mx is the id-order loop's value (the sign of a
// zero maximum aside, which no weight (l - max) / T sees).
static inline __attribute__((always_inline)) bool finite_max_span(const float *l, int V, float *mx) {
    vf m = (vf){0} - INFINITY, nan = {0};
    int i = 0;
    for (; i + VW <= V; i += VW) {
        vf x;
        memcpy(&x, l + i, sizeof x);
        nan += x - x;
        vi up = x > m;
        m = (vf)((up & (vi)x) | (~up & (vi)m));
    }
    bool finite = true;
    float best = -INFINITY;
    for (int k = 0; k < VW; k++) finite &= nan[k] == 0, best = m[k] > best ? m[k] : best;
    for (; i < V; i++) finite &= isfinite(l[i]) != 0, best = l[i] > best ? l[i] : best;
    *mx = best;
    return finite;
}

__attribute__((target("avx2"))) static bool finite_max_avx2(const float *l, int V, float *mx) {
    return finite_max_span(l, V, mx);
}
static bool finite_max_base(const float *l, int V, float *mx) { return finite_max_span(l, V, mx); }

static bool filters(int top_k, double top_p, int vocab) { return (top_k > 0 && top_k < vocab) || top_p < 1; }

int sample_filter(const float *logits, double temperature, int top_k, double top_p, SampleWork *w) {
    int V = w->vocab;
    bool avx2 = __builtin_cpu_supports("avx2");
    float mx;
    if (!(avx2 ? finite_max_avx2 : finite_max_base)(logits, V, &mx)) return -1;
    (avx2 ? weights_avx2 : weights_base)(logits, mx, temperature, w->w, V);
    if (filters(top_k, top_p, V)) keep_nucleus(w, top_k, top_p);
    return 0;
}

bool sample_weights_are_exps(const SampleSpec *sp, int vocab) {
    return sp->temperature == 1 && sp->record_temperature == 1 && !filters(sp->top_k, sp->top_p, vocab);
}

// The argmax, lowest id on ties; -1 when a logit is not finite.
static int32_t greedy(const float *logits, int V) {
    int best = 0;
    for (int i = 0; i < V; i++) {
        if (!isfinite(logits[i])) return -1;
        if (logits[i] > logits[best]) best = i;
    }
    return best;
}

int32_t sample_draw(const float *logits, double temperature, int top_k, double top_p, Rng *rng, SampleWork *w) {
    if (temperature == 0) return greedy(logits, w->vocab);
    if (sample_filter(logits, temperature, top_k, top_p, w) != 0) return -1;
    return rng_categorical(rng, w->w, w->vocab);
}

int32_t sample_pick(const float *logits, const SampleSpec *sp, double uniform, SampleWork *w) {
    if (sp->temperature == 0) return greedy(logits, w->vocab);
    if (sample_filter(logits, sp->temperature, sp->top_k, sp->top_p, w) != 0) return -1;
    return categorical_pick(uniform, w->w, w->vocab);
}

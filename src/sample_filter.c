#include "sample_filter.h"

#include <math.h>
#include <stdlib.h>

#include "error.h"

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

// Zeroes every weight outside the top_k largest and the smallest prefix holding top_p of their mass.
static void keep_nucleus(SampleWork *w, int top_k, double top_p) {
    int V = w->vocab;
    Ranked *r = xmalloc((size_t)V * sizeof *r);
    for (int i = 0; i < V; i++) r[i] = (Ranked){w->w[i], i};
    qsort(r, (size_t)V, sizeof *r, by_weight_desc);
    int keep = top_k > 0 && top_k < V ? top_k : V;
    if (top_p < 1) {
        double total = 0, cum = 0;
        for (int i = 0; i < keep; i++) total += r[i].w;
        int m = 0;
        while (m < keep) {
            cum += r[m++].w;
            if (cum >= top_p * total) break;
        }
        keep = m;
    }
    for (int i = keep; i < V; i++) w->w[r[i].id] = 0;
    free(r);
}

int sample_filter(const float *logits, double temperature, int top_k, double top_p, SampleWork *w) {
    int V = w->vocab;
    float mx = -INFINITY;
    for (int i = 0; i < V; i++) {
        if (!isfinite(logits[i])) return -1;
        if (logits[i] > mx) mx = logits[i];
    }
    for (int i = 0; i < V; i++) w->w[i] = exp(((double)logits[i] - mx) / temperature);
    if ((top_k > 0 && top_k < V) || top_p < 1) keep_nucleus(w, top_k, top_p);
    return 0;
}

int32_t sample_draw(const float *logits, double temperature, int top_k, double top_p, Rng *rng, SampleWork *w) {
    if (temperature == 0) {
        int best = 0;
        for (int i = 0; i < w->vocab; i++) {
            if (!isfinite(logits[i])) return -1;
            if (logits[i] > logits[best]) best = i;
        }
        return best;
    }
    if (sample_filter(logits, temperature, top_k, top_p, w) != 0) return -1;
    return rng_categorical(rng, w->w, w->vocab);
}

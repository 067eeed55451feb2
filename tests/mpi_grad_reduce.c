// The gradient reducer over ranks (algo/grad_reduce.h), run by tests/it_grad_reduce.sh under mpirun -np 1/2/4.
// Rank r trains (r + 1) % 3 micro-batches (none, one, or one held and the current one), the last written as
// model_backward_hooked writes it (LM head, layers L-1..0 each followed by the hook, embedding). Every rank can
// generate every rank's micro-batches, so the expected sums are computed here independently: deterministic mode
// gives the exact sum (fixed_add over all micro-batches, by hand) bit for bit, fast mode the sum within float
// rounding. At zero stage 2 each rank checks its owned elements only, and that the whole pages of the gradient
// it does not own are no longer resident (mincore) while those it owns are.
// Rank 0 prints one line per check; the exit status is 1 when any failed.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "algo/grad_reduce.h"
#include "algo/shard.h"
#include "base/dist.h"
#include "base/rng.h"

enum { H = 1000, S = 16384, L = 4, T = 3000, N = H + L * S + T, NT = 2 * L + 2 };

static int failures;

// A check holds only when it holds on every rank.
static void check(int ok, const char *what) {
    int64_t bad = !ok;
    dist_allreduce_sum_i64(&bad, 1);
    if (dist_is_root()) printf("%s %d rank(s): %s\n", bad ? "FAIL" : "ok  ", dist_size(), what);
    failures += bad != 0;
}

// embed, two tensors per layer, lm_head.
static void make_table(ModelTensor *t) {
    size_t off = 0;
    for (int k = 0; k < NT; k++) {
        size_t n = k == 0 ? H : k == NT - 1 ? T : S / 2;
        t[k] = (ModelTensor){.ndim = 1, .shape = {(int64_t)n}, .offset = off, .numel = n};
        snprintf(t[k].name, sizeof t[k].name, "t%d", k);
        off += n;
    }
}

static int n_micro_of(int rank) { return (rank + 1) % 3; }

// Micro-batch b of rank r: values over 11 decades, so that the order of a float sum matters.
static void micro_values(int rank, int b, float *g) {
    Rng r = rng_at(23, (uint64_t)rank, (uint64_t)b, 0);
    for (size_t i = 0; i < N; i++) g[i] = (float)(rng_normal(&r) * pow(10.0, (double)(i % 11) - 7));
}

static void last_backward(GradReducer *red, const float *g) {
    float *out = grad_reducer_micro_begin(red);
    grad_reducer_micro_last(red);
    for (size_t i = H + L * S; i < N; i++) out[i] += g[i];
    for (int l = L - 1; l >= 0; l--) {
        for (size_t i = H + (size_t)l * S; i < H + (size_t)(l + 1) * S; i++) out[i] += g[i];
        grad_reducer_layer_done(red, l);
    }
    for (size_t i = 0; i < H; i++) out[i] += g[i];
    grad_reducer_micro_end(red);
}

// Whole pages of r->grad inside [b, e): counted into *total, the resident ones into *res.
static void count_pages(const float *grad, size_t b, size_t e, size_t *total, size_t *res) {
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)(grad + b) + ps - 1) / ps * ps, hi = (uintptr_t)(grad + e) / ps * ps;
    if (hi <= lo) return;
    size_t n = (hi - lo) / ps;
    unsigned char *vec = malloc(n);
    if (mincore((void *)lo, hi - lo, vec) != 0) n = 0, *res += 1u << 30;  // an error fails the check
    for (size_t i = 0; i < n; i++) *res += vec[i] & 1;
    *total += n;
    free(vec);
}

static void run(bool deterministic, int stage, const ModelTensor *table, const Shard *map) {
    int world = dist_size(), me = dist_rank();
    GradReducer red;
    grad_reducer_init(&red, N, deterministic, table, NT);
    if (stage >= 2) grad_reducer_shard(&red, map, world);
    size_t begin[L], end[L];
    for (int l = 0; l < L; l++) begin[l] = H + (size_t)l * S, end[l] = begin[l] + S;
    grad_reducer_layers(&red, L, begin, end, true);
    float *g = malloc(N * sizeof *g), *local = calloc(N, sizeof *local);
    int64_t *limbs = calloc(3 * (size_t)N, sizeof *limbs);
    double *exact = calloc(N, sizeof *exact), *scale = calloc(N, sizeof *scale);
    for (int step = 0; step < 2; step++) {  // a second update: the reducer starts clean
        grad_reducer_begin(&red);
        int m = n_micro_of(me);
        for (int b = 0; b < m; b++) {
            micro_values(me, b + 10 * step, g);
            if (b < m - 1) {
                memcpy(grad_reducer_micro_begin(&red), g, N * sizeof *g);
                grad_reducer_micro_end(&red);
            } else {
                last_backward(&red, g);
            }
        }
        grad_reducer_settle(&red);
        int ok = grad_reducer_finish(&red);
        // By hand: each rank's micro-batches (fast: added in float32 as the backward does, then summed in double).
        memset(limbs, 0, 3 * (size_t)N * sizeof *limbs);
        memset(exact, 0, N * sizeof *exact), memset(scale, 0, N * sizeof *scale);
        for (int q = 0; q < world; q++) {
            memset(local, 0, N * sizeof *local);
            for (int b = 0; b < n_micro_of(q); b++) {
                micro_values(q, b + 10 * step, g);
                for (size_t i = 0; i < N; i++)
                    fixed_add(limbs + 3 * i, g[i]), local[i] += g[i], scale[i] += fabsf(g[i]);
            }
            for (size_t i = 0; i < N; i++) exact[i] += local[i];
        }
        size_t lo = stage >= 2 ? map[me].begin : 0, hi = stage >= 2 ? map[me].end : N, wrong = 0;
        for (size_t i = lo; i < hi; i++) {
            if (deterministic) wrong += red.grad[i] != (float)fixed_value(limbs + 3 * i);
            else wrong += fabs(red.grad[i] - exact[i]) > 0x1p-22 * scale[i];
        }
        char what[200];
        snprintf(what, sizeof what, "%s, zero %d, update %d: the %s hold the %s",
                 deterministic ? "deterministic" : "fast", stage, step + 1, stage >= 2 ? "owned elements" : "elements",
                 deterministic ? "exact sum, bit for bit" : "sum within float rounding");
        check(ok && wrong == 0, what);
        if (stage < 2 || world < 2) continue;
        size_t other = 0, other_res = 0, own = 0, own_res = 0;
        count_pages(red.grad, 0, map[me].begin, &other, &other_res);
        count_pages(red.grad, map[me].end, N, &other, &other_res);
        count_pages(red.grad, map[me].begin, map[me].end, &own, &own_res);
        snprintf(what, sizeof what, "%s, zero 2, update %d: only the owned gradient pages are resident",
                 deterministic ? "deterministic" : "fast", step + 1);
        check(other > 0 && other_res == 0 && own_res == own, what);
    }
    free(g), free(local), free(limbs), free(exact), free(scale);
    grad_reducer_free(&red);
}

int main(int argc, char **argv) {
    dist_init(&argc, &argv);
    ModelTensor table[NT];
    make_table(table);
    Shard *map = malloc((size_t)dist_size() * sizeof *map);
    shard_map(table, NT, dist_size(), map);
    for (int det = 1; det >= 0; det--)
        for (int stage = 0; stage <= 2; stage += 2) run(det, stage, table, map);
    free(map);
    dist_finalize();
    return failures != 0;
}

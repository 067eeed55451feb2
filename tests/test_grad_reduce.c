// The deterministic fixed-point gradient sum: exact, order-independent, range-checked.
// Expectations are exact integers in units of the grid (2^-86), computed from each float's mantissa and
// exponent with __int128 arithmetic, independently of the limb code under test.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "algo/grad_reduce.h"
#include "base/pages.h"
#include "base/rng.h"

// x·2^86 as an integer; x must lie on the grid (its lowest mantissa bit at or above 2^-86).
static __int128 grid_units(float x) {
    int e;
    float m = frexpf(x, &e);  // x = m·2^e, 0.5 <= |m| < 1
    int64_t mant = (int64_t)ldexpf(m, 24);
    int shift = e - 24 + 86;
    if (shift >= 0) return (__int128)mant * ((__int128)1 << shift);
    cr_assert(mant % ((int64_t)1 << -shift) == 0, "%a is not on the 2^-86 grid", (double)x);
    return mant / ((int64_t)1 << -shift);
}

// The exact value the limbs hold, in grid units (hi·2^84 + mid·2^42 + lo).
static __int128 limbs_units(const int64_t l[3]) {
    return (__int128)l[0] * ((__int128)1 << 84) + (__int128)l[1] * ((__int128)1 << 42) + l[2];
}

Test(grad_reduce, fixed_point_is_exact_for_grid_values) {
    // From the top of the range (-1e10 = -9765625·2^10, exact in float) to its bottom (2^-86).
    const float xs[] = {1.5f, -0.25f, 0x1.8p-70f, -1e10f, 7.0f, 0x1p-80f, 0x1.fffffep39f, 0x1p-86f};
    int64_t l[3] = {0};
    __int128 want = 0;
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        cr_assert(fixed_add(l, xs[i]));
        want += grid_units(xs[i]);
    }
    cr_expect(limbs_units(l) == want, "the limbs do not hold the exact sum");
    // A sum that fits a double's 53 bits comes back exactly: -999991.75 + 13·2^-20 (by hand).
    const float ys[] = {1.5f, -0.25f, 0x1p-20f, -1e6f, 7.0f, 0x3p-18f};
    int64_t s[3] = {0};
    for (size_t i = 0; i < sizeof ys / sizeof ys[0]; i++) cr_assert(fixed_add(s, ys[i]));
    cr_expect(fixed_value(s) == -999991.75 + 13 * 0x1p-20, "%a", fixed_value(s));
    // A single value comes back exactly; so does a difference at the bottom of the grid.
    int64_t one[3] = {0};
    fixed_add(one, -123.456f);
    cr_expect(fixed_value(one) == (double)-123.456f);
    int64_t tiny[3] = {0};
    fixed_add(tiny, 0x1p-86f);
    fixed_add(tiny, -0x1p-84f);
    cr_expect(fixed_value(tiny) == 0x1p-86 - 0x1p-84);
}

Test(grad_reduce, below_the_grid_rounds_half_to_even) {
    // In grid units: 0.5 -> 0, 1.5 -> 2, 1.25 -> 1, -2.5 -> -2 (the sign is applied to the rounded magnitude).
    const float xs[] = {0x1p-87f, 0x3p-87f, 0x5p-88f, -0x5p-87f};
    const int64_t want[] = {0, 2, 1, -2};
    for (int i = 0; i < 4; i++) {
        int64_t l[3] = {0};
        cr_assert(fixed_add(l, xs[i]));
        cr_expect(limbs_units(l) == want[i], "%a: %lld units, expected %lld", (double)xs[i],
                  (long long)limbs_units(l), (long long)want[i]);
    }
}

// |x|·2^86 rounded half to even, with x's sign: what the limbs must gain from x (|x| < 2^40).
static __int128 rounded_units(float x) {
    int e;
    float m = frexpf(fabsf(x), &e);
    if (m == 0) return 0;
    __int128 mant = (int64_t)ldexpf(m, 24), q;
    int shift = e - 24 + 86;
    if (shift >= 0) {
        q = mant << shift;
    } else if (shift <= -26) {  // below half a unit
        q = 0;
    } else {
        __int128 unit = (__int128)1 << -shift, rem = mant % unit;
        q = mant / unit;
        if (2 * rem > unit || (2 * rem == unit && (q & 1))) q++;
    }
    return x < 0 ? -q : q;
}

// fixed_add_n, the vector and threaded fold of the deterministic sums, against the exact rounded units of every
// element: floats of every bit pattern (NaN, infinities, subnormals, out of range), values near the grid's bottom
// and top, and lengths that end inside a vector and span several threads' chunks.
Test(grad_reduce, vector_fold_adds_each_element_exactly) {
    enum { N = 20011 };
    float *x = malloc(N * sizeof *x);
    int64_t *l = calloc(3 * (size_t)N, sizeof *l);
    Rng r = rng_at(5, 0, 0, 0);
    for (int i = 0; i < N; i++) {
        uint32_t bits = (uint32_t)rng_u32(&r);
        memcpy(&x[i], &bits, sizeof bits);
        if (i % 3 == 0) x[i] = ldexpf((float)((int)(rng_u32(&r) % 2000001) - 1000000), (int)(rng_u32(&r) % 150) - 112);
    }
    const float edge[] = {0x1p-87f, 0x3p-87f, 0x5p-88f, -0x5p-87f, 0x1p40f, -0x1.fffffep39f, -0.0f, INFINITY, NAN,
                          0x1p-149f, -0x1p-126f, 0x1.fffffep-87f};
    memcpy(x + 100, edge, sizeof edge);
    for (int i = 0; i < N; i++) l[3 * i] = (int64_t)rng_u32(&r) - ((int64_t)1 << 31);  // limbs already holding sums
    int64_t *before = malloc(3 * (size_t)N * sizeof *before);
    memcpy(before, l, 3 * (size_t)N * sizeof *l);
    int lengths[] = {1, 7, 8, 9, 17, 37, N};
    int64_t bad = 0, want_bad = 0;
    for (int k = 0, at = 0; k < 7 && at < N; at += lengths[k++]) {
        int n = at + lengths[k] <= N ? lengths[k] : N - at;
        bad += fixed_add_n(l + 3 * at, x + at, (size_t)n);
    }
    int wrong = 0;
    for (int i = 0; i < N; i++) {
        bool ok = isfinite(x[i]) && fabsf(x[i]) < 0x1p40f;
        want_bad += !ok;
        __int128 got = limbs_units(l + 3 * i) - limbs_units(before + 3 * i), want = ok ? rounded_units(x[i]) : 0;
        if (got != want && wrong++ < 5) cr_log_error("element %d (%a): %.17g units, expected %.17g", i, (double)x[i],
                                                     (double)got, (double)want);
    }
    cr_expect_eq(wrong, 0, "%d elements gained the wrong units", wrong);
    cr_expect_eq(bad, want_bad, "%lld left out, expected %lld", (long long)bad, (long long)want_bad);
    cr_expect(want_bad > 1000, "the data has values the grid cannot take");
    free(x), free(l), free(before);
}

Test(grad_reduce, sum_is_exact_and_order_independent) {
    enum { N = 1000 };
    float x[N];
    Rng r = rng_at(7, 0, 0, 0);
    for (int i = 0; i < N; i++) x[i] = (float)(rng_normal(&r) * pow(10.0, (double)(i % 13) - 9));
    __int128 want = 0;
    for (int i = 0; i < N; i++) want += grid_units(x[i]);
    int64_t fwd[3] = {0}, rev[3] = {0}, split_a[3] = {0}, split_b[3] = {0};
    for (int i = 0; i < N; i++) fixed_add(fwd, x[i]);
    for (int i = N - 1; i >= 0; i--) fixed_add(rev, x[i]);
    for (int i = 0; i < N; i += 2) fixed_add(split_a, x[i]);
    for (int i = 1; i < N; i += 2) fixed_add(split_b, x[i]);
    for (int k = 0; k < 3; k++) split_a[k] += split_b[k];  // "two ranks", all-reduced
    cr_expect(limbs_units(fwd) == want, "forward sum is not the exact sum");
    cr_expect(memcmp(fwd, rev, sizeof fwd) == 0, "reverse order changed the bits");
    cr_expect(memcmp(fwd, split_a, sizeof fwd) == 0, "a split over two ranks changed the bits");
    // The data makes the order matter for a plain float sum, so the identities above are not vacuous.
    float f = 0, b = 0;
    for (int i = 0; i < N; i++) f += x[i];
    for (int i = N - 1; i >= 0; i--) b += x[i];
    cr_expect(f != b, "float sums agree in both orders (%a): the data does not exercise the order", (double)f);
}

// The reducer in deterministic mode: micro-batches added in reverse order, or split between two "ranks" whose
// limbs are then summed, give the same bits; the float result is the exact sum rounded (within one float ulp:
// fixed_value rounds the limbs to double first). MB micro-batches: past GRAD_HELD + 1, the limbs are full-size.
Test(grad_reduce, deterministic_reducer_is_partition_independent) {
    enum { N = 3, MB = 64 };
    float g[MB][N];
    Rng r = rng_at(11, 0, 0, 0);
    for (int b = 0; b < MB; b++)
        for (int i = 0; i < N; i++) g[b][i] = (float)(rng_normal(&r) * pow(10.0, (double)((b + i) % 9) - 4));
    GradReducer fwd, rev, half[2];
    grad_reducer_init(&fwd, N, true, NULL, 0);
    grad_reducer_init(&rev, N, true, NULL, 0);
    grad_reducer_begin(&fwd);
    grad_reducer_begin(&rev);
    for (int h = 0; h < 2; h++) {
        grad_reducer_init(&half[h], N, true, NULL, 0);
        grad_reducer_begin(&half[h]);
    }
    for (int b = 0; b < MB; b++) {
        GradReducer *order[3] = {&fwd, &rev, &half[b % 2]};
        const float *src[3] = {g[b], g[MB - 1 - b], g[b]};
        for (int k = 0; k < 3; k++) {
            memcpy(grad_reducer_micro_begin(order[k]), src[k], sizeof g[b]);
            grad_reducer_micro_end(order[k]);
        }
    }
    cr_assert(fwd.limbs && half[0].limbs && half[1].limbs, "%d micro-batches did not switch to limbs", MB / 2);
    __int128 want[N] = {0};
    for (int i = 0; i < N; i++) {
        for (int b = 0; b < MB; b++) want[i] += grid_units(g[b][i]);
        cr_expect(limbs_units(fwd.limbs + 3 * i) == want[i], "element %d: limbs are not the exact sum", i);
    }
    for (size_t k = 0; k < 3 * N; k++) half[0].limbs[k] += half[1].limbs[k];  // the all-reduce of two ranks
    cr_assert(grad_reducer_finish(&fwd));
    cr_assert(grad_reducer_finish(&rev));
    cr_assert(grad_reducer_finish(&half[0]));
    cr_expect(memcmp(fwd.grad, rev.grad, N * sizeof(float)) == 0, "reverse micro-batch order changed the bits");
    cr_expect(memcmp(fwd.grad, half[0].grad, N * sizeof(float)) == 0, "two ranks changed the bits");
    for (int i = 0; i < N; i++) {
        float exact = (float)ldexp((double)want[i], -86);
        cr_expect(fabsf(fwd.grad[i] - exact) <= nextafterf(fabsf(exact), INFINITY) - fabsf(exact),
                  "element %d: %a vs %a", i, (double)fwd.grad[i], (double)exact);
    }
    grad_reducer_free(&fwd);
    grad_reducer_free(&rev);
    grad_reducer_free(&half[0]);
    grad_reducer_free(&half[1]);
}

// Held as floats or accumulated in limbs, bucket by bucket or not: 1 to 5 micro-batches on one "rank" give the
// bits of the same micro-batches summed in limbs by hand (fixed_add, fixed_value), over more than one bucket.
Test(grad_reduce, held_floats_and_limbs_give_the_same_bits) {
    const size_t n = GRAD_BUCKET + 5;
    float *g = malloc(5 * n * sizeof *g);
    int64_t *l = malloc(3 * n * sizeof *l);
    Rng r = rng_at(13, 0, 0, 0);
    for (size_t i = 0; i < 5 * n; i++) g[i] = (float)(rng_normal(&r) * pow(10.0, (double)(i % 11) - 7));
    for (int mb = 1; mb <= 5; mb++) {
        GradReducer red;
        grad_reducer_init(&red, n, true, NULL, 0);
        grad_reducer_begin(&red);
        memset(l, 0, 3 * n * sizeof *l);
        for (int b = 0; b < mb; b++) {
            memcpy(grad_reducer_micro_begin(&red), g + b * n, n * sizeof *g);
            grad_reducer_micro_end(&red);
            for (size_t i = 0; i < n; i++) fixed_add(l + 3 * i, g[b * n + i]);
        }
        cr_assert(grad_reducer_finish(&red));
        size_t differ = 0;
        for (size_t i = 0; i < n; i++) differ += red.grad[i] != (float)fixed_value(l + 3 * i);
        cr_expect(differ == 0, "%d micro-batches: %zu elements differ", mb, differ);
        grad_reducer_free(&red);
    }
    free(g), free(l);
}

Test(grad_reduce, rejects_non_finite_and_out_of_range) {
    int64_t l[3] = {0};
    cr_expect(!fixed_add(l, NAN));
    cr_expect(!fixed_add(l, INFINITY));
    cr_expect(!fixed_add(l, 0x1p40f));
    cr_expect(l[0] == 0 && l[1] == 0 && l[2] == 0);
}

Test(grad_reduce, reducer_modes_agree_on_one_rank) {
    GradReducer fast, det;
    grad_reducer_init(&fast, 4, false, NULL, 0);
    ModelTensor table[2] = {{.name = "a", .ndim = 1, .shape = {2}, .offset = 0, .numel = 2},
                            {.name = "b", .ndim = 1, .shape = {2}, .offset = 2, .numel = 2}};
    grad_reducer_init(&det, 4, true, table, 2);
    grad_reducer_begin(&fast);
    grad_reducer_begin(&det);
    float mb[2][4] = {{1, 2, 0.5f, -3}, {0.25f, -2, 4, 0x1p-10f}};
    const float want[4] = {1.25f, 0, 4.5f, -3 + 0x1p-10f};  // by hand; each exact in float
    for (int b = 0; b < 2; b++) {
        float *g = grad_reducer_micro_begin(&fast), *h = grad_reducer_micro_begin(&det);
        for (int i = 0; i < 4; i++) g[i] += mb[b][i], h[i] += mb[b][i];
        grad_reducer_micro_end(&fast);
        grad_reducer_micro_end(&det);
    }
    cr_assert(grad_reducer_finish(&fast));
    cr_assert(grad_reducer_finish(&det));
    for (int i = 0; i < 4; i++) {
        cr_expect(fast.grad[i] == want[i], "fast [%d]: %a", i, (double)fast.grad[i]);
        cr_expect(det.grad[i] == want[i], "deterministic [%d]: %a", i, (double)det.grad[i]);
    }
    // A NaN in a deterministic micro-batch is reported by finish.
    grad_reducer_begin(&det);
    grad_reducer_micro_begin(&det)[2] = NAN;
    grad_reducer_micro_end(&det);
    cr_expect(!grad_reducer_finish(&det));
    cr_expect_eq(det.bad_tensor, 1);
    grad_reducer_free(&fast);
    grad_reducer_free(&det);
}

// A layered table for the per-layer reduction: "embed" [0, H), three layers of S elements, "lm_head" after them.
enum { LH = 1000, LS = 8192, LL = 3, LT = 3000, LN = LH + LL * LS + LT };
static const ModelTensor layered_table[LL + 2] = {
    {.name = "embed", .ndim = 1, .shape = {LH}, .offset = 0, .numel = LH},
    {.name = "layer0", .ndim = 1, .shape = {LS}, .offset = LH, .numel = LS},
    {.name = "layer1", .ndim = 1, .shape = {LS}, .offset = LH + LS, .numel = LS},
    {.name = "layer2", .ndim = 1, .shape = {LS}, .offset = LH + 2 * LS, .numel = LS},
    {.name = "lm_head", .ndim = 1, .shape = {LT}, .offset = LH + LL * LS, .numel = LT},
};

static void layered_init(GradReducer *r) {
    grad_reducer_init(r, LN, true, layered_table, LL + 2);
    size_t begin[LL], end[LL];
    for (int l = 0; l < LL; l++) begin[l] = LH + (size_t)l * LS, end[l] = begin[l] + LS;
    grad_reducer_layers(r, LL, begin, end, true);
}

// Whole pages of buf inside elements [b, e) of 4 bytes: how many, and how many of them are resident.
static void layer_pages(const void *buf, size_t b, size_t e, size_t *total, size_t *res) {
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)buf + 4 * b + ps - 1) / ps * ps, hi = ((uintptr_t)buf + 4 * e) / ps * ps;
    *total = (hi - lo) / ps, *res = 0;
    unsigned char vec[LS * 4 / 4096 + 2];
    cr_assert(*total <= sizeof vec && mincore((void *)lo, hi - lo, vec) == 0);
    for (size_t i = 0; i < *total; i++) *res += vec[i] & 1;
}

// Whether this kernel makes pages resident on request (base/pages.h pages_populate: Linux 5.14 on).
static bool populate_works(void) {
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    void *p = pages_alloc(ps);
    bool works = pages_populate(p, ps);
    pages_free(p, ps);
    return works;
}

// Whether the whole pages of layer l are all resident (1), none (0), or some (-1).
static int layer_resident(const float *buf, int l) {
    size_t total, res;
    layer_pages(buf, LH + (size_t)l * LS, LH + (size_t)(l + 1) * LS, &total, &res);
    return res == total ? 1 : res == 0 ? 0 : -1;
}

// The last backward of an update as model_backward_hooked writes it: the LM head first, then layers L-1 down to 0,
// each followed by the hook, then the embedding. After layer L-1's hook, `held` (if any) must have handed back
// that layer's pages and kept layer 0's. A fresh gradient buffer (the second micro-batch's, where the whole sum is
// kept) is resident a layer ahead of the backward: the last layer before it starts, layer l - 1 after layer l's hook.
static void last_backward(GradReducer *r, const float *g) {
    float *out = grad_reducer_micro_begin(r);
    const float *held = r->n_held ? r->held[0] : NULL;
    bool ahead = r->populating && populate_works();
    if (ahead)
        cr_expect(layer_resident(out, LL - 1) == 1 && layer_resident(out, LL - 2) == 0 && layer_resident(out, 0) == 0,
                  "a fresh gradient: only the last layer's pages should be resident before the backward");
    grad_reducer_micro_last(r);
    memcpy(out + LH + LL * LS, g + LH + LL * LS, LT * sizeof *g);
    for (int l = LL - 1; l >= 0; l--) {
        size_t b = LH + (size_t)l * LS;
        memcpy(out + b, g + b, LS * sizeof *g);
        grad_reducer_layer_done(r, l);
        if (ahead && l > 0)
            cr_expect(layer_resident(out, l - 1) == 1 && (l < 2 || layer_resident(out, l - 2) == 0),
                      "after layer %d's hook: layer %d's pages only should have become resident", l, l - 1);
        if (l == LL - 1 && held) {
            // Handed back, except in an update with full-size limbs where the reducer keeps the whole sum: there the
            // pages are left to the kernel to take when it needs memory (MADV_FREE), which no counter shows at once
            // (the kernel moves such pages in per-CPU batches), and kept for the next update (updates_reusing_...).
            size_t total, res0, res_top;
            layer_pages(held, b, b + LS, &total, &res_top);
            layer_pages(held, LH, LH + LS, &total, &res0);
            if (r->map || !r->limbs)
                cr_expect(total > 0 && res_top == 0, "layer %d: %zu of %zu held pages still resident", l, res_top,
                          total);
            cr_expect(res0 == total, "layer 0 not yet reduced: %zu of %zu held pages resident", res0, total);
        }
    }
    memcpy(out, g, LH * sizeof *g);
    grad_reducer_micro_end(r);
}

// ZeRO 2/3 without expert parallelism: each layer of "attention" (SA elements) then an expert tensor (SE), the
// gradient's pages handed back between updates. They are made resident a layer ahead of the backward, experts left
// out: an expert no token reaches is never written and must not hold pages.
enum { SA = 4096, SE = 8192, SL = SA + SE, SN = LH + LL * SL + LT };
#define SHARDED_LAYER(l)                                                                              \
    {.name = "model.layers." #l ".self_attn.w", .ndim = 1, .shape = {SA}, .offset = LH + l * SL, .numel = SA}, \
    {.name = "model.layers." #l ".mlp.experts.w", .ndim = 3, .shape = {4, 8, SE / 32}, .offset = LH + l * SL + SA, \
     .numel = SE}
static const ModelTensor sharded_table[2 * LL + 2] = {
    {.name = "embed", .ndim = 1, .shape = {LH}, .offset = 0, .numel = LH},
    SHARDED_LAYER(0), SHARDED_LAYER(1), SHARDED_LAYER(2),
    {.name = "lm_head", .ndim = 1, .shape = {LT}, .offset = LH + LL * SL, .numel = LT},
};

// Whether the whole pages of elements [b, b + n) are all resident (1), none (0), or some (-1).
static int range_resident(const float *buf, size_t b, size_t n) {
    size_t total, res;
    layer_pages(buf, b, b + n, &total, &res);
    cr_assert(total > 0);
    return res == total ? 1 : res == 0 ? 0 : -1;
}

Test(grad_reduce, sharded_pages_resident_a_layer_ahead_without_experts) {
    if (!populate_works()) cr_skip_test("this kernel cannot make pages resident on request (before Linux 5.14)");
    Shard map = {0, 2 * LL + 2, 0, SN};
    for (int det = 0; det < 2; det++) {
        GradReducer r;
        grad_reducer_init(&r, SN, det, sharded_table, 2 * LL + 2);
        size_t begin[LL], end[LL];
        for (int l = 0; l < LL; l++) begin[l] = LH + (size_t)l * SL, end[l] = begin[l] + SL;
        grad_reducer_layers(&r, LL, begin, end, false);
        grad_reducer_shard(&r, &map, 1);
        for (int update = 0; update < 2; update++) {
            grad_reducer_begin(&r);
            float *g = grad_reducer_micro_begin(&r);
            cr_expect(range_resident(g, LH + (LL - 1) * SL, SA) == 1 && range_resident(g, LH + (LL - 1) * SL + SA, SE) == 0,
                      "mode %d, update %d: before the backward, the last layer's attention only", det, update);
            cr_expect(range_resident(g, LH + (LL - 2) * SL, SA) == 0, "mode %d: layer %d not yet", det, LL - 2);
            grad_reducer_micro_last(&r);
            for (int l = LL - 1; l >= 0; l--) {
                for (size_t i = 0; i < SA; i++) g[LH + l * SL + i] += 1.0f;  // no token reached the experts
                grad_reducer_layer_done(&r, l);
                if (l > 0)
                    cr_expect(range_resident(g, LH + (l - 1) * SL, SA) == 1 &&
                                  range_resident(g, LH + (l - 1) * SL + SA, SE) == 0,
                              "mode %d, after layer %d's hook: layer %d's attention, not its experts", det, l, l - 1);
            }
            grad_reducer_micro_end(&r);
            cr_assert(grad_reducer_finish(&r));
            for (int l = 0; l < LL && !det; l++)  // deterministic: the sum writes every element this rank owns
                cr_expect(range_resident(r.grad, LH + l * SL + SA, SE) == 0, "update %d: layer %d's experts", update, l);
            cr_expect(r.grad[LH + SL + 5] == 1.0f && r.grad[LH + SL + SA + 5] == 0.0f);
        }
        grad_reducer_free(&r);
    }
}

// Summed layer by layer during the last backward, 1 to 4 micro-batches (the current one alone, a held one, then
// full-size limbs) give the bits of the whole-buffer reduction and of the same sums by hand; keeping the whole sum,
// and sharded (ZeRO stage 2 on one rank: the held pages handed back layer by layer, last_backward).
Test(grad_reduce, per_layer_sums_give_the_bits_of_the_whole_update) {
    static const Shard ALL = {0, LL + 2, 0, LN};
    float *g = malloc(4 * (size_t)LN * sizeof *g);
    int64_t *l = malloc(3 * (size_t)LN * sizeof *l);
    Rng rng = rng_at(17, 0, 0, 0);
    for (size_t i = 0; i < 4 * (size_t)LN; i++) g[i] = (float)(rng_normal(&rng) * pow(10.0, (double)(i % 11) - 7));
    for (int run = 0; run < 8; run++) {
        int mb = 1 + run % 4;
        GradReducer layered, whole;
        layered_init(&layered);
        if (run >= 4) grad_reducer_shard(&layered, &ALL, 1);
        grad_reducer_init(&whole, LN, true, layered_table, LL + 2);
        grad_reducer_begin(&layered);
        grad_reducer_begin(&whole);
        memset(l, 0, 3 * (size_t)LN * sizeof *l);
        for (int b = 0; b < mb; b++) {
            const float *gb = g + (size_t)b * LN;
            if (b < mb - 1) {
                memcpy(grad_reducer_micro_begin(&layered), gb, LN * sizeof *g);
                grad_reducer_micro_end(&layered);
            } else {
                last_backward(&layered, gb);
            }
            memcpy(grad_reducer_micro_begin(&whole), gb, LN * sizeof *g);
            grad_reducer_micro_end(&whole);
            for (size_t i = 0; i < LN; i++) fixed_add(l + 3 * i, gb[i]);
        }
        cr_assert(grad_reducer_finish(&layered));
        cr_assert(grad_reducer_finish(&whole));
        size_t differ_whole = 0, differ_hand = 0;
        for (size_t i = 0; i < LN; i++) {
            differ_whole += memcmp(&layered.grad[i], &whole.grad[i], sizeof(float)) != 0;
            differ_hand += layered.grad[i] != (float)fixed_value(l + 3 * i);
        }
        cr_expect(differ_whole == 0, "%d micro-batches: %zu elements differ from the whole-buffer reduction", mb,
                  differ_whole);
        cr_expect(differ_hand == 0, "%d micro-batches: %zu elements differ from the sums by hand", mb, differ_hand);
        grad_reducer_free(&layered);
        grad_reducer_free(&whole);
    }
    free(g), free(l);
}

// One reducer over updates of 4, 2, 3, 1 and 4 micro-batches: where it keeps the whole sum, each update after the
// first reuses the held buffer and limbs of an earlier one (GradReducer.spare), zeroed in place; every update's sum
// has the bits of a fresh reducer's.
Test(grad_reduce, updates_reusing_buffers_give_the_bits_of_fresh_ones) {
    static const int MB[] = {4, 2, 3, 1, 4};
    float *g = malloc(4 * (size_t)LN * sizeof *g);
    Rng rng = rng_at(18, 0, 0, 0);
    GradReducer kept;
    layered_init(&kept);
    bool reused = false;
    for (size_t u = 0; u < sizeof MB / sizeof MB[0]; u++) {
        for (size_t i = 0; i < 4 * (size_t)LN; i++) g[i] = (float)(rng_normal(&rng) * pow(10.0, (double)(i % 9) - 6));
        GradReducer fresh;
        layered_init(&fresh);
        grad_reducer_begin(&kept);
        grad_reducer_begin(&fresh);
        reused |= kept.n_spare > 0 || kept.spare_limbs;
        for (int b = 0; b < MB[u]; b++) {
            const float *gb = g + (size_t)b * LN;
            if (b < MB[u] - 1) {  // added, as a backward adds: a buffer reused without zeroing shows
                for (GradReducer *r = &kept; r; r = r == &kept ? &fresh : NULL) {
                    float *out = grad_reducer_micro_begin(r);
                    for (size_t i = 0; i < LN; i++) out[i] += gb[i];
                    grad_reducer_micro_end(r);
                }
            } else {
                last_backward(&kept, gb);
                last_backward(&fresh, gb);
            }
        }
        cr_assert(grad_reducer_finish(&kept));
        cr_assert(grad_reducer_finish(&fresh));
        cr_expect(!memcmp(kept.grad, fresh.grad, LN * sizeof *g), "update %zu (%d micro-batches): other bits", u,
                  MB[u]);
        grad_reducer_free(&fresh);
    }
    cr_expect(reused, "no update reused an earlier one's buffers");
    grad_reducer_free(&kept);
    free(g);
}

// Values out of range in the last micro-batch are found whether their bucket is summed by the hook (a layer) or
// afterwards (the LM head), and the lowest tensor index is named.
Test(grad_reduce, per_layer_sums_find_values_out_of_range) {
    float *g = calloc(LN, sizeof *g);
    const struct {
        size_t at[2];
        int n, want;
    } cases[] = {{{LH + LL * LS + 5}, 1, 4}, {{LH + LS + 7, LH + LL * LS + 5}, 2, 2}, {{LH + 2 * LS + 1, 3}, 2, 0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        GradReducer r;
        layered_init(&r);
        grad_reducer_begin(&r);
        memset(g, 0, LN * sizeof *g);
        for (int k = 0; k < cases[c].n; k++) g[cases[c].at[k]] = k ? INFINITY : 0x1p41f;
        float *first = grad_reducer_micro_begin(&r);  // a first micro-batch, in range
        memcpy(first, g, LN * sizeof *g);
        for (int k = 0; k < cases[c].n; k++) first[cases[c].at[k]] = 0;
        grad_reducer_micro_end(&r);
        last_backward(&r, g);
        cr_expect(!grad_reducer_finish(&r), "case %zu: out-of-range values not reported", c);
        cr_expect_eq(r.bad_tensor, cases[c].want, "case %zu: tensor %d named, expected %d", c, r.bad_tensor,
                     cases[c].want);
        grad_reducer_free(&r);
    }
    free(g);
}

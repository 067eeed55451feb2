// The device update's kernels against their CPU twins (model/update_ops.c), bit for bit: the fixed-point conversion
// (kernels/fixed_point.cu) on gradients of every scale, signs, values below the grid, subnormals, and the values the
// grid refuses, and back from limbs summed over several "ranks"; the norm's per-tensor sums and clipping
// (kernels/grad_norm.cu) at odd lengths; and the CUDA backend's optimizer entries (model/backend.h: AdamW writing the
// bf16 weight copy and the fp32 bias copies, the codec and the sums through the table) against the CPU backend's.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "algo/grad_reduce.h"
#include "algo/optim.h"
#include "fixed_point.h"
#include "gpu_check.h"
#include "grad_norm.h"
#include "model/backend.h"
#include "model/backend_cuda.h"
#include "model/model.h"

static void check_update_kernels(void);

void check_fixed_point(void) {
    size_t n = 100003;
    float *g = malloc(n * sizeof *g);
    random_f32(g, n, 1.0, 91);
    // Scales from 2^-100 (below the grid: rounded) to 2^39, and the edges: 0, -0, a subnormal, 2^40 (refused), NaN, inf.
    for (size_t i = 0; i < n; i++) g[i] = ldexpf(g[i], (int)(i % 140) - 100);
    float edges[] = {0.0f, -0.0f, 1e-45f, -0x1p-87f, 0x1p-86f, 0x1.fffffep39f, 0x1p40f, -0x1p41f, NAN, INFINITY};
    for (size_t k = 0; k < sizeof edges / sizeof edges[0]; k++) g[k] = edges[k];
    int64_t *limbs = calloc(3 * n, sizeof *limbs), *limbs_gpu = malloc(3 * n * sizeof *limbs);
    // Twice into the same limbs: the second add starts from non-zero limbs, as in a sum over micro-batches.
    size_t bad_cpu = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) bad_cpu += !fixed_add(limbs + 3 * i, g[i]);
    int64_t *zeros = calloc(3 * n, sizeof *zeros);
    int64_t *d_limbs = dupload(zeros, 3 * n * sizeof *zeros);
    unsigned long long zero_bad = 0, bad_gpu = 0, *d_bad = dupload(&zero_bad, sizeof zero_bad);
    float *d_g = dupload(g, n * sizeof *g);
    Err err;
    for (int pass = 0; pass < 2; pass++) ok_or_die(gpu_fixed_add(d_limbs, d_g, n, d_bad, NULL, &err), &err, "gpu_fixed_add");
    ddownload(limbs_gpu, d_limbs, 3 * n * sizeof *limbs_gpu);
    ddownload(&bad_gpu, d_bad, sizeof bad_gpu);
    size_t differ = bits_differ(limbs_gpu, limbs, 3 * n * sizeof *limbs, sizeof *limbs);
    check("fixed-point limbs (update_ops.c fixed_add)", differ == 0 && bad_gpu == bad_cpu,
          "%zu of %zu limbs differ, %llu refused (CPU %zu; limit 0: the same double operations)", differ, 3 * n, bad_gpu,
          bad_cpu);
    dfree(d_limbs), dfree(d_bad), dfree(d_g);
    free(g), free(limbs), free(limbs_gpu), free(zeros);
    check_update_kernels();
}

// Limbs of five gradients of mixed scales and signs (five ranks' parts) back to floats.
static void check_fixed_value(void) {
    size_t n = 70001;
    float *g = malloc(n * sizeof *g), *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
    int64_t *limbs = calloc(3 * n, sizeof *limbs);
    for (int part = 0; part < 5; part++) {
        random_f32(g, n, 1.0, 101 + part);
        for (size_t i = 0; i < n; i++) fixed_add(limbs + 3 * i, ldexpf(g[i], (int)((i * 7 + part) % 120) - 90));
    }
    for (size_t i = 0; i < n; i++) want[i] = (float)fixed_value(limbs + 3 * i);
    int64_t *d_limbs = dupload(limbs, 3 * n * sizeof *limbs);
    float *d_g = dalloc(n * sizeof *d_g);
    Err err;
    ok_or_die(gpu_fixed_value(d_g, d_limbs, n, NULL, &err), &err, "gpu_fixed_value");
    ddownload(got, d_g, n * sizeof *got);
    size_t differ = bits_differ(got, want, n * sizeof *got, sizeof *got);
    check("fixed-point limbs -> float (fixed_value)", differ == 0, "%zu of %zu differ (limit 0: the same double operations)",
          differ, n);
    dfree(d_limbs), dfree(d_g);
    free(g), free(want), free(got), free(limbs);
}

// The norm's per-tensor sums over ranges of odd lengths (one empty) and clipping's scale.
static void check_grad_norm(void) {
    size_t n = 300007, begin[] = {0, 1, 1, 38, 1037, 100003}, len[] = {1, 0, 37, 999, 98966, 200004};
    int k = (int)(sizeof begin / sizeof *begin);
    float *g = malloc(n * sizeof *g), *got = malloc(n * sizeof *got);
    random_f32(g, n, 0.03, 111);
    double want[6], sums[6];
    for (int i = 0; i < k; i++) want[i] = update_sumsq(g + begin[i], len[i]);
    float *d_g = dupload(g, n * sizeof *g);
    size_t *d_b = dupload(begin, sizeof begin), *d_l = dupload(len, sizeof len);
    double *d_s = dalloc(sizeof sums);
    Err err;
    ok_or_die(gpu_sumsq_ranges(d_g, d_b, d_l, k, d_s, NULL, &err), &err, "gpu_sumsq_ranges");
    ddownload(sums, d_s, sizeof sums);
    size_t differ = bits_differ(sums, want, sizeof sums, sizeof *sums);
    check("sums of squares per tensor (update_sumsq)", differ == 0, "%zu of %d differ (limit 0: one thread in element order)",
          differ, k);
    double scale = 0.3712345678901;
    ok_or_die(gpu_scale(d_g, n, scale, NULL, &err), &err, "gpu_scale");
    update_scale(g, n, scale);
    ddownload(got, d_g, n * sizeof *got);
    differ = bits_differ(got, g, n * sizeof *got, sizeof *got);
    check("clipping scale (update_scale)", differ == 0, "%zu of %zu differ (limit 0: one double product, one rounding)",
          differ, n);
    dfree(d_g), dfree(d_b), dfree(d_l), dfree(d_s);
    free(g), free(got);
}

// A tiny Qwen2 model (q/k/v biases: the CUDA backend's fp32 copies) with random weights.
static void bias_model(Model *m) {
    ModelConfig c;
    memset(&c, 0, sizeof c);
    c.type = MODEL_QWEN2, c.vocab_size = 97, c.hidden_size = 32, c.intermediate_size = 40, c.num_hidden_layers = 2;
    c.num_attention_heads = 4, c.num_key_value_heads = 2, c.max_position_embeddings = 64, c.rope_theta = 1e6;
    c.rms_norm_eps = 1e-6, c.init_std = 0.1, c.init_seed = 1, c.decoder_sparse_step = 1, c.attention_bias = true;
    Err err;
    ok_or_die(model_create(m, &c, &err), &err, "model_create");
    random_f32(m->params, m->n_params, 0.1, 121);
}

static float *dev_copy(const Backend *be, const float *host, size_t n) {
    float *d = be->alloc(be, n, BUF_F32);
    if (!d) ok_or_die(-1, &(Err){"backend alloc failed"}, "alloc");
    be->to_dev(be, d, host, n, BUF_F32);
    return d;
}

// Every tensor's AdamW step through the CUDA table against the CPU's (model/update_ops.c), then the bf16 weight copy,
// the bias copies, the fixed-point count and the sums through the table.
static void check_backend_update(void) {
    Model m;
    bias_model(&m);
    size_t n = m.n_params;
    Err err;
    Backend *be = backend_cuda_create(0, &err);
    if (!be) ok_or_die(-1, &err, "backend_cuda_create");
    ok_or_die(model_set_backend(&m, be, &err), &err, "model_set_backend");
    float *p = malloc(n * 4), *mo = malloc(n * 4), *v = malloc(n * 4), *g = malloc(n * 4), *got = malloc(n * 4);
    memcpy(p, m.params, n * 4);
    random_f32(mo, n, 0.01, 122), random_f32(v, n, 0.03, 123), random_f32(g, n, 0.02, 124);
    for (size_t i = 0; i < n; i++) v[i] *= v[i];
    float *dp = dev_copy(be, p, n), *dm = dev_copy(be, mo, n), *dv = dev_copy(be, v, n), *dg = dev_copy(be, g, n);
    AdamWHyper h = {0.9, 0.95, 1e-8, 0.1};
    for (int k = 0; k < m.n_tensors; k++) {
        const ModelTensor *t = &m.tensors[k];
        AdamWStep st = adamw_step(&h, 2, 3e-4, t);
        be->adamw(be, &m, t->offset, dp + t->offset, dm + t->offset, dv + t->offset, dg + t->offset, t->numel, &st);
        update_adamw(p + t->offset, mo + t->offset, v + t->offset, g + t->offset, t->numel, &st);
    }
    be->to_host(be, got, dp, n, BUF_F32);
    size_t bad = bits_differ(got, p, n * 4, 4);
    Bf16 *w = malloc(n * sizeof *w);
    ddownload(w, be->param(be, &m, 0), n * sizeof *w);
    size_t bad_w = 0, bad_bias = 0, biases = 0;
    for (size_t i = 0; i < n; i++) bad_w += w[i] != to_bf16(p[i]);
    for (int k = 0; k < m.n_tensors; k++) {
        const ModelTensor *t = &m.tensors[k];
        float *b = be->param_f32(be, &m, t->offset);
        if (!strstr(t->name, ".bias")) continue;
        biases++;
        if (!b) {
            bad_bias += t->numel;
            continue;
        }
        be->to_host(be, got, b, t->numel, BUF_F32);
        bad_bias += bits_differ(got, p + t->offset, t->numel * 4, 4);
    }
    check("backend adamw: fp32 master, bf16 copy, bias copies", bad == 0 && bad_w == 0 && bad_bias == 0 && biases > 0,
          "%zu weights, %zu bf16 copies, %zu bias values of %zu biases differ (limit 0)", bad, bad_w, bad_bias, biases);
    // The codec's refused count and the sums through the table (g with a NaN and an out-of-range value).
    g[5] = NAN, g[77] = 0x1p41f;
    be->to_dev(be, dg, g, n, BUF_F32);
    int64_t *dl = be->alloc(be, 3 * n, BUF_I64), *l = calloc(3 * n, sizeof *l);
    int64_t refused = be->fixed_add(be, dl, dg, n), want_refused = backend_cpu()->fixed_add(backend_cpu(), l, g, n);
    int64_t *lg = malloc(3 * n * sizeof *lg);
    be->to_host(be, lg, dl, 3 * n, BUF_I64);
    size_t bad_l = bits_differ(lg, l, 3 * n * sizeof *l, sizeof *l);
    size_t begin[] = {0, 6, 1000}, len[] = {5, 994, n - 1000};
    double sums[3], want[3];
    be->sumsq(be, dg, begin, len, 3, sums);
    backend_cpu()->sumsq(backend_cpu(), g, begin, len, 3, want);
    size_t bad_s = bits_differ(sums, want, sizeof sums, sizeof *sums);
    check("backend fixed_add and sumsq", refused == want_refused && refused == 2 && bad_l == 0 && bad_s == 0,
          "%lld refused (CPU %lld), %zu limbs and %zu sums differ (limit 0)", (long long)refused,
          (long long)want_refused, bad_l, bad_s);
    be->free(be, dp), be->free(be, dm), be->free(be, dv), be->free(be, dg), be->free(be, dl);
    m.backend = backend_cpu();
    backend_cuda_destroy(be);
    model_free(&m);
    free(p), free(mo), free(v), free(g), free(got), free(w), free(l), free(lg);
}

static void check_update_kernels(void) {
    check_fixed_value();
    check_grad_norm();
    check_backend_update();
}

// The device update (train/device_update.h) on the staged backend, one rank: AdamW in backend memory gives the host
// optimizer's bits (algo/optim.h) in the backend's weight copy, and the host weights and moments stay as they were
// until device_update_sync_host refreshes them (what a checkpoint's save calls first).
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "algo/grad_reduce.h"
#include "algo/optim.h"
#include "model/backend_staged.h"
#include "model/device.h"
#include "model_testutil.h"
#include "train/device_update.h"

static void random_gradient(float *g, size_t n, uint64_t seed) {
    Rng r = rng_at(seed, 2, 0, 0);
    for (size_t i = 0; i < n; i++) g[i] = (float)(0.01 * rng_normal(&r));
}

static size_t bits_differ(const float *a, const float *b, size_t n) {
    size_t d = 0;
    for (size_t i = 0; i < n; i++) d += memcmp(a + i, b + i, sizeof *a) != 0;
    return d;
}

static void one_update(bool deterministic, double clip) {
    Model m;
    Err e = {{0}};
    tiny_model(&m, TINY_QWEN3, sizeof TINY_QWEN3 / sizeof *TINY_QWEN3, 7);
    Backend *be = backend_staged_create();
    cr_assert_eq(model_set_backend(&m, be, &e), 0, "%s", e.msg);
    size_t n = m.n_params;
    float *before = malloc(n * sizeof *before), *want = malloc(n * sizeof *want), *g = malloc(n * sizeof *g);
    memcpy(before, m.params, n * sizeof *before);
    memcpy(want, m.params, n * sizeof *want);
    AdamW opt, host;
    adamw_init(&opt, n), adamw_init(&host, n);
    AdamWHyper h = {0.9, 0.95, 1e-8, 0.1};
    DeviceUpdate d;
    cr_assert_eq(device_update_init(&d, &m, NULL, 0, deterministic, &opt, 0, NULL, NULL, &e), 0, "%s", e.msg);
    random_gradient(g, n, 3);
    // Two micro-batches: the first adds g, the last g again (the staged backend's buffers are host memory).
    float *buf = device_update_micro_begin(&d, false);
    for (size_t i = 0; i < n; i++) buf[i] += g[i];
    device_update_micro_end(&d);
    buf = device_update_micro_begin(&d, true);
    for (size_t i = 0; i < n; i++) buf[i] += g[i];
    device_update_micro_end(&d);
    cr_assert(device_update_finish(&d));
    int bad;
    double norm = device_update_norm(&d, &bad);
    device_update_step(&d, norm, clip, 1e-2, &h, &opt);
    // The host's update of the same sum (g + g is exact in float and on the fixed-point grid).
    for (size_t i = 0; i < n; i++) g[i] += g[i];
    double host_norm = grad_global_norm(g, m.tensors, m.n_tensors, NULL);
    cr_assert_eq(memcmp(&norm, &host_norm, sizeof norm), 0, "norm %.17g, host %.17g", norm, host_norm);
    grad_clip(g, n, host_norm, clip);
    adamw_update(&host, want, g, m.tensors, m.n_tensors, 1e-2, &h);
    cr_assert_eq(bits_differ(device_weights_at(&m, 0), want, n), 0, "the backend's weights differ from the host step");
    cr_assert_eq(bits_differ(m.params, before, n), 0, "the host weights changed before the sync");
    device_update_sync_host(&d, &opt);
    cr_assert_eq(bits_differ(m.params, want, n), 0, "host weights after the sync");
    cr_assert_eq(bits_differ(opt.m, host.m, n) + bits_differ(opt.v, host.v, n), 0, "host moments after the sync");
    cr_assert_eq(opt.step, 1);
    device_update_free(&d);
    device_detach(&m);  // frees the staged backend
    model_free(&m);
    adamw_free(&opt), adamw_free(&host);
    free(before), free(want), free(g);
}

Test(device_update, fast_matches_host_and_host_is_refreshed_only_by_sync) { one_update(false, 0.0); }
Test(device_update, deterministic_clipped_matches_host) { one_update(true, 1e-3); }

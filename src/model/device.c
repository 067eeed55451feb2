#include "model/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/backend.h"
#include "model/backend_staged.h"

#ifdef RLVR_CUDA
#include "model/backend_cuda.h"
#endif

int device_open(DistDeviceWant want, Device *d, Err *e) {
    *d = (Device){0};
    int rc = dist_device_choose(want, &d->where, e);
    const char *hook = getenv("RLVR_TEST_DEVICE");
    if (!rc && hook && strcmp(hook, "staged")) rc = err_set(e, "RLVR_TEST_DEVICE = '%s': expected staged", hook);
    d->staged = !rc && hook && want != DIST_DEVICE_CPU && d->where.ordinal < 0;
    if (!rc) {
        char line[600];
        dist_device_describe(&d->where, line, sizeof line);
        fprintf(stderr, "rlvr: %s%s\n", line, d->staged ? " (staged test backend)" : "");
        fflush(stderr);
    }
    TRY(dist_agree(rc, e));
    // A GPU on every rank: the NCCL communicator the device update's sums and broadcasts use (base/dist.h).
    if (d->where.ordinal >= 0) TRY(dist_agree(dist_gpu_init(e) < 0 ? -1 : 0, e));
    return 0;
}

int device_attach(const Device *d, Model *m, Err *e) {
    if (d->staged) return model_set_backend(m, backend_staged_create(), e);
    if (d->where.ordinal < 0) return 0;
#ifdef RLVR_CUDA
    Backend *be = backend_cuda_create(d->where.ordinal, e);
    if (!be) return -1;
    if (model_set_backend(m, be, e)) return backend_cuda_destroy(be), -1;
    return 0;
#else
    (void)m;  // dist_device_choose picks no GPU without CUDA
    return err_set(e, "[dist] device = cuda (GPU %d on %s): this rlvr was built without CUDA", d->where.ordinal,
                   d->where.host);
#endif
}

void device_detach(Model *m) {
    Backend *be = (Backend *)m->backend;
    if (!be || be == backend_cpu()) return;
    m->backend = backend_cpu();
    if (!strcmp(be->name, "staged")) return backend_staged_destroy(be);
#ifdef RLVR_CUDA
    backend_cuda_destroy(be);
#endif
}

void device_label(const Device *d, char *out, size_t size) {
    if (d->where.ordinal >= 0) snprintf(out, size, "cuda:%d %s", d->where.ordinal, d->where.name);
    else snprintf(out, size, "%s", d->staged ? "cpu-staged" : "cpu");
}

int device_load_weights(Model *m, Err *e) { return m->backend->load_params(m->backend, m, e); }

float *device_grad_alloc(const Model *m, size_t n) {
    return m->backend == backend_cpu() ? NULL : bk_alloc(m->backend, n, BUF_F32);
}

void device_grad_free(const Model *m, float *g) {
    if (g) m->backend->free(m->backend, g);
}

void device_grad_put(const Model *m, float *dev, const float *host, size_t n) {
    m->backend->to_dev(m->backend, dev, host, n, BUF_F32);
}

void device_grad_get(const Model *m, float *host, const float *dev, size_t n) {
    m->backend->to_host(m->backend, host, dev, n, BUF_F32);
}

size_t device_weight_bytes(const Model *m) { return m->backend->act_bytes; }

bool device_own_weights(const Model *m) { return m->backend && m->backend != backend_cpu(); }

bool device_on_gpu(const Model *m) { return m->backend && !strcmp(m->backend->name, "cuda"); }
bool device_whole_moe_layers(const Model *m) { return m->backend && m->backend->whole_moe_layers; }

void device_weights_windowed(Model *m, bool on) { m->backend->windowed(m->backend, m, on); }

int device_window_open(Model *m, size_t begin, size_t end, size_t own_begin, size_t own_end,
                       void (*fill)(void *ctx, void *buf, size_t elem_bytes, size_t first, size_t n), void *ctx,
                       Err *e) {
    return m->backend->window_open(m->backend, m, begin, end, own_begin, own_end, fill, ctx, e);
}

void device_window_close(Model *m, size_t begin, size_t end) { m->backend->window_close(m->backend, m, begin, end); }
bool device_on_cpu(const Model *m) { return m->backend == backend_cpu(); }

int64_t *device_limbs_alloc(const Model *m, size_t n) { return bk_alloc(m->backend, 3 * n, BUF_I64); }

void device_adamw(const Model *m, size_t off, float *p, float *mom, float *v, const float *g, size_t n,
                  const AdamWStep *s) {
    m->backend->adamw(m->backend, m, off, p, mom, v, g, n, s);
}

int64_t device_fixed_add(const Model *m, int64_t *limbs, const float *g, size_t n) {
    return m->backend->fixed_add(m->backend, limbs, g, n);
}

void device_fixed_value(const Model *m, float *g, const int64_t *limbs, size_t n) {
    m->backend->fixed_value(m->backend, g, limbs, n);
}

void device_sumsq(const Model *m, const float *g, const size_t *begin, const size_t *len, int n_ranges, double *sums) {
    m->backend->sumsq(m->backend, g, begin, len, n_ranges, sums);
}

void device_scale(const Model *m, float *g, size_t n, double scale) { m->backend->scale(m->backend, g, n, scale); }

void *device_weights_at(const Model *m, size_t off) { return (void *)m->backend->param(m->backend, m, off); }

float *device_weights_f32_at(const Model *m, size_t off) { return m->backend->param_f32(m->backend, m, off); }

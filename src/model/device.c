#include "model/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/backend.h"
#include "model/backend_staged.h"

// The CUDA backend (model/backend_cuda.c, CUDA=1 builds), declared weak: a build without it links, and then
// dist.device = cuda reports that it has none.
#ifdef RLVR_CUDA
__attribute__((weak)) Backend *backend_cuda_create(int device, Err *e);
__attribute__((weak)) void backend_cuda_destroy(Backend *be);
#define HAVE_CUDA_BACKEND (backend_cuda_create != NULL)
#else
#define HAVE_CUDA_BACKEND 0
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
    return dist_agree(rc, e);
}

int device_attach(const Device *d, Model *m, Err *e) {
    if (d->staged) return model_set_backend(m, backend_staged_create(), e);
    if (d->where.ordinal < 0) return 0;
#ifdef RLVR_CUDA
    if (HAVE_CUDA_BACKEND) {
        Backend *be = backend_cuda_create(d->where.ordinal, e);
        if (!be) return -1;
        if (model_set_backend(m, be, e)) return backend_cuda_destroy(be), -1;
        return 0;
    }
#endif
    (void)m;
    return err_set(e, "[dist] device = cuda (GPU %d on %s): this rlvr has no CUDA backend (src/model/backend_cuda.c)",
                   d->where.ordinal, d->where.host);
}

void device_detach(Model *m) {
    Backend *be = (Backend *)m->backend;
    if (!be || be == backend_cpu()) return;
    m->backend = backend_cpu();
    if (!strcmp(be->name, "staged")) return backend_staged_destroy(be);
#ifdef RLVR_CUDA
    if (HAVE_CUDA_BACKEND) backend_cuda_destroy(be);
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

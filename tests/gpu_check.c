// GPU check program: kernels against their CPU twins, batch invariance, micro-benchmarks (tests/gpu.sh builds and
// runs it: make gpu-check). Exits GPU_CHECK_NO_GPU, with a message, where no GPU is present.
// Usage: gpu_check [--section kernels|moe|invariance|model|bench]... [--quick]   (no --section: all five)
#include "gpu_check.h"

#include <cuda_runtime_api.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "logits_loss.h"

static int failures;

void check(const char *name, int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("  %s  %-52s\t", ok ? "pass" : "FAIL", name);  // the tab: tests/gpu.sh splits name from detail there
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
    failures += !ok;
}

void bench_line(const char *name, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("  bench %-51s\t", name);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
}

int check_failures(void) { return failures; }

Bf16 to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fff + ((u >> 16) & 1);
    return (Bf16)(u >> 16);
}

float from_bf16(Bf16 h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

void random_bf16(float *x, Bf16 *bits, size_t n, double scale, uint64_t seed) {
    Rng r = rng_at(seed, 17, 0, 0);
    for (size_t i = 0; i < n; i++) {
        Bf16 b = to_bf16((float)(scale * rng_normal(&r)));
        x[i] = from_bf16(b);
        if (bits) bits[i] = b;
    }
}

void random_f32(float *x, size_t n, double scale, uint64_t seed) {
    Rng r = rng_at(seed, 19, 0, 0);
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * rng_normal(&r));
}

Bf16 *bf16_of(const float *x, size_t n) {
    Bf16 *b = malloc(n * sizeof *b + 2);
    for (size_t i = 0; i < n; i++) b[i] = to_bf16(x[i]);
    return b;
}

static void die_cuda(cudaError_t rc, const char *what) {
    if (rc == cudaSuccess) return;
    fprintf(stderr, "gpu_check: %s: %s\n", what, cudaGetErrorString(rc));
    exit(GPU_CHECK_FAIL);
}

void *dalloc(size_t bytes) {
    void *p = NULL;
    die_cuda(cudaMalloc(&p, bytes ? bytes : 1), "cudaMalloc");
    die_cuda(cudaMemset(p, 0, bytes ? bytes : 1), "cudaMemset");
    return p;
}

void *dupload(const void *host, size_t bytes) {
    void *p = dalloc(bytes);
    die_cuda(cudaMemcpy(p, host, bytes, cudaMemcpyHostToDevice), "upload");
    return p;
}

void ddownload(void *host, const void *dev, size_t bytes) {
    die_cuda(cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost), "download (a kernel failed)");
}

void dfree(void *p) { cudaFree(p); }
void dsync(void) { die_cuda(cudaDeviceSynchronize(), "synchronize (a kernel failed)"); }

Bf16 *dupload_bf16(const float *x, size_t n) {
    Bf16 *b = bf16_of(x, n);
    Bf16 *d = dupload(b, n * sizeof *b);
    free(b);
    return d;
}

void ddownload_bf16(float *x, const Bf16 *dev, size_t n) {
    Bf16 *b = malloc(n * sizeof *b + 2);
    ddownload(b, dev, n * sizeof *b);
    for (size_t i = 0; i < n; i++) x[i] = from_bf16(b[i]);
    free(b);
}

void ok_or_die(int rc, const Err *e, const char *what) {
    if (!rc) return;
    fprintf(stderr, "gpu_check: %s: %s\n", what, e->msg);
    exit(GPU_CHECK_FAIL);
}

double rel_err(const float *a, const float *b, size_t n) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= diff)) diff = d;  // a NaN makes the error NaN (and the check fail)
        scale = fmax(scale, fabs((double)b[i]));
    }
    return scale > 0 ? diff / scale : diff;
}

size_t bits_differ(const void *a, const void *b, size_t n_bytes, size_t elem) {
    size_t n = 0;
    for (size_t i = 0; i < n_bytes; i += elem) n += memcmp((const char *)a + i, (const char *)b + i, elem) != 0;
    return n;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double time_ms(void (*fn)(void *), void *ctx, int reps, int rounds) {
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0), cudaEventCreate(&e1);
    fn(ctx);
    dsync();
    double t[32];
    if (rounds > 32) rounds = 32;
    for (int r = 0; r < rounds; r++) {
        cudaEventRecord(e0, 0);
        for (int i = 0; i < reps; i++) fn(ctx);
        cudaEventRecord(e1, 0);
        die_cuda(cudaEventSynchronize(e1), "timing");
        float ms = 0;
        cudaEventElapsedTime(&ms, e0, e1);
        t[r] = ms / reps;
    }
    cudaEventDestroy(e0), cudaEventDestroy(e1);
    qsort(t, (size_t)rounds, sizeof t[0], cmp_double);
    return t[rounds / 2];
}

int main(int argc, char **argv) {
    static const char *names[] = {"kernels", "moe", "invariance", "model", "bench"};
    enum { N_SECTIONS = 5, BENCH = 4 };
    void (*sections[])(void) = {check_kernels, check_moe, check_invariance, check_model, NULL};
    int run[N_SECTIONS] = {0}, any = 0, quick = 0;
    for (int i = 1; i < argc; i++) {
        int known = 0;
        if (!strcmp(argv[i], "--quick")) quick = known = 1;
        for (int s = 0; s < N_SECTIONS && !strcmp(argv[i], "--section") && i + 1 < argc; s++)
            if (!strcmp(argv[i + 1], names[s])) run[s] = any = known = 1;
        if (!known) {
            fprintf(stderr, "gpu_check: bad option '%s%s%s' (expected --section kernels|moe|invariance|model|bench, --quick)\n",
                    argv[i], i + 1 < argc ? " " : "", i + 1 < argc ? argv[i + 1] : "");
            return 2;
        }
        if (!strcmp(argv[i], "--section")) i++;
    }
    for (int s = 0; s < N_SECTIONS && !any; s++) run[s] = 1;
    if (cuda_device_count() == 0) {
        printf("gpu_check: no GPU present (no CUDA device visible): nothing checked\n");
        return GPU_CHECK_NO_GPU;
    }
    char name[256];
    cuda_device_name(name, sizeof name);
    printf("gpu_check: device 0: %s\n", name);
    for (int s = 0; s < BENCH; s++)
        if (run[s]) sections[s]();
    if (run[BENCH]) run_benchmarks(quick);
    printf("gpu_check: %d check(s) failed\n", failures);
    return failures ? GPU_CHECK_FAIL : GPU_CHECK_PASS;
}

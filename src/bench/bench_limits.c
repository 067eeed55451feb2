#include "bench/bench_limits.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "base/walltime.h"

double bench_sgemm_gflops(int M, int N, int K, int repeat, double min_seconds) {
    float *a = xmalloc((size_t)M * K * sizeof *a), *b = xmalloc((size_t)K * N * sizeof *b),
          *c = xmalloc((size_t)M * N * sizeof *c);
    for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 17) * 0.01f;
    for (size_t i = 0; i < (size_t)K * N; i++) b[i] = (float)(i % 13) * 0.01f;
    enum { WARM_UP = 3 };
    double best = 0, start = walltime_s();
    for (int r = 0; r < WARM_UP + repeat || walltime_s() - start < min_seconds; r++) {
        double t0 = walltime_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
        double g = 2.0 * M * N * K / (walltime_s() - t0) / 1e9;
        if (r >= WARM_UP && g > best) best = g;
        if (r == WARM_UP - 1) start = walltime_s();
    }
    free(a), free(b), free(c);
    return best;
}

typedef float v8f __attribute__((vector_size(32)));

// Four vectors of eight floats per step, loaded unaligned (memcpy) like the matmul's.
ReadBuffer bench_read_buffer(size_t bytes) {
    size_t n = bytes / sizeof(float) / 32 * 32;
    float *x = xmalloc(n * sizeof *x);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) x[i] = 0;  // first touch by the thread that reads it
    return (ReadBuffer){x, n};
}

void bench_read_buffer_free(ReadBuffer *b) {
    free(b->x);
    *b = (ReadBuffer){0};
}

double bench_read_gbps(const ReadBuffer *b, int repeat) {
    const float *x = b->x;
    size_t n = b->n;
    float sink = 0;
    double best = 0;
    for (int r = 0; r < repeat; r++) {
        double t0 = walltime_s();
        float s = 0;
#pragma omp parallel reduction(+ : s)
        {
            v8f a = {0}, c = {0};
#pragma omp for schedule(static)
            for (size_t i = 0; i < n; i += 32) {
                v8f p, q, u, v;
                memcpy(&p, x + i, sizeof p), memcpy(&q, x + i + 8, sizeof q);
                memcpy(&u, x + i + 16, sizeof u), memcpy(&v, x + i + 24, sizeof v);
                a += p + q, c += u + v;
            }
            for (int l = 0; l < 8; l++) s += a[l] + c[l];
        }
        double g = (double)(n * sizeof *x) / (walltime_s() - t0) / 1e9;
        sink += s;
        if (g > best) best = g;
    }
    return sink < 0 ? -1 : best;  // sink keeps the sums alive
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(const double *v, int n) {
    double *c = xmalloc((size_t)n * sizeof *c);
    memcpy(c, v, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, by_value);
    double m = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
    free(c);
    return m;
}

double bench_min(const double *v, int n) {
    double m = v[0];
    for (int i = 1; i < n; i++) m = v[i] < m ? v[i] : m;
    return m;
}

double bench_max(const double *v, int n) {
    double m = v[0];
    for (int i = 1; i < n; i++) m = v[i] > m ? v[i] : m;
    return m;
}

// NVIDIA's data sheets (SXM parts; dense, without sparsity). Longer names first: "H100 NVL" before "H100".
void bench_gpu_peaks(const char *name, double *bf16_tflops, double *hbm_tbps) {
    static const struct {
        const char *part;
        double tflops, tbps;
    } PEAKS[] = {{"H200", 989.4, 4.8}, {"H100 NVL", 835.0, 3.9}, {"H100 PCIe", 756.0, 2.0}, {"H100", 989.4, 3.35},
                 {"GH200", 989.4, 4.0}, {"A100", 312.0, 2.039}, {"L40S", 362.1, 0.864}};
    *bf16_tflops = 0, *hbm_tbps = 0;
    for (size_t i = 0; i < sizeof PEAKS / sizeof PEAKS[0]; i++)
        if (strstr(name, PEAKS[i].part)) {
            *bf16_tflops = PEAKS[i].tflops, *hbm_tbps = PEAKS[i].tbps;
            return;
        }
}

// The "cpu" line: user nice system idle iowait irq softirq steal guest guest_nice. Guest time is already counted in
// user and nice, so the total is the first eight fields.
CpuTicks bench_cpu_ticks(void) {
    CpuTicks t = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return t;
    unsigned long long v[8];
    t.ok = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                  &v[7]) == 8;
    fclose(f);
    for (int i = 0; t.ok && i < 8; i++) t.total += v[i];
    t.steal = t.ok ? v[7] : 0;
    return t;
}

double bench_steal_fraction(CpuTicks a, CpuTicks b) {
    if (!a.ok || !b.ok || b.total <= a.total || b.steal < a.steal) return -1;
    return (double)(b.steal - a.steal) / (double)(b.total - a.total);
}

const char *bench_steal_json(double fraction, char buf[16]) {
    if (fraction < 0) return "null";
    snprintf(buf, 16, "%.3f", fraction);
    return buf;
}

const char *bench_json_or_null(bool known, double x, char buf[32]) {
    if (!known) return "null";
    snprintf(buf, 32, "%.3f", x);
    return buf;
}

double bench_pass_peak_gflops(const ModelConfig *c, int tokens) {
    int F = c->intermediate_size > c->moe_intermediate_size ? c->intermediate_size : c->moe_intermediate_size;
    return bench_sgemm_gflops(tokens, F, c->hidden_size, 10, 0.25);
}

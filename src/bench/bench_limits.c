#include "bench/bench_limits.h"

#include <cblas.h>
#include <immintrin.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/blas_kernel.h"
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

// Chains of multiply-adds, each on its own accumulator: more than the FMA units' latency times their count (4 x 2 on
// current x86 cores), so they never wait on each other.
#define CHAINS 12
// One thread's `steps` steps of CHAINS multiply-adds of LANES-wide vectors; the sum of its accumulators, which the
// caller keeps so the compiler cannot drop the loop. ACC(acc, a, b) is acc = acc * a + b. Not instrumented by a
// sanitizer build (make SAN=1), whose checks kept the accumulators in memory: a fifth of the peak on a Zen 5 VM.
#define FMA_LOOP(name, isa, vec, LANES, ACC)                                                                 \
    __attribute__((target(isa), no_sanitize("address", "undefined"))) static float name(long steps) {        \
        typedef float vec __attribute__((vector_size(LANES * sizeof(float))));                              \
        vec acc[CHAINS], a, b;                                                                               \
        for (int l = 0; l < LANES; l++) a[l] = 0.999f, b[l] = 1e-3f;                                         \
        for (int c = 0; c < CHAINS; c++)                                                                     \
            for (int l = 0; l < LANES; l++) acc[c][l] = (float)(c + l);                                      \
        for (long i = 0; i < steps; i++)                                                                     \
            _Pragma("GCC unroll 12") for (int c = 0; c < CHAINS; c++) ACC(acc[c], a, b);                     \
        float s = 0;                                                                                         \
        for (int c = 0; c < CHAINS; c++)                                                                     \
            for (int l = 0; l < LANES; l++) s += acc[c][l];                                                  \
        return s;                                                                                            \
    }
#define FUSED512(acc, a, b) ((acc) = (__typeof__(acc))_mm512_fmadd_ps((__m512)(acc), (__m512)(a), (__m512)(b)))
#define FUSED256(acc, a, b) ((acc) = (__typeof__(acc))_mm256_fmadd_ps((__m256)(acc), (__m256)(a), (__m256)(b)))
#define SEPARATE(acc, a, b) ((acc) = (acc) * (a) + (b))
FMA_LOOP(fma_avx512, "avx512f", v16, 16, FUSED512)
FMA_LOOP(fma_avx2, "avx2,fma", v8, 8, FUSED256)
FMA_LOOP(mul_add_avx, "avx", v8, 8, SEPARATE)
FMA_LOOP(mul_add_sse, "sse2", v4, 4, SEPARATE)

double bench_fma_peak_gflops(double min_seconds) {
    VecLevel level = blas_cpu_level();  // the vectors OpenBLAS's kernels are chosen by (base/blas_kernel.h)
    float (*loop)(long) = level == VEC_AVX512 ? fma_avx512
                          : level == VEC_AVX2 ? fma_avx2
                          : level == VEC_AVX  ? mul_add_avx
                                              : mul_add_sse;
    int lanes = level == VEC_AVX512 ? 16 : level >= VEC_AVX ? 8 : 4;
    enum { STEPS = 1 << 20 };  // about a millisecond a thread
    double best = 0, start = walltime_s();
    volatile float sink = 0;
    for (int r = 0; r < 3 || walltime_s() - start < min_seconds; r++) {
        int threads = 1;
        double t0 = walltime_s();
#pragma omp parallel
        {
            float s = loop(STEPS);
#pragma omp atomic
            sink += s;
#pragma omp single
            threads = omp_get_num_threads();
        }
        double g = 2.0 * STEPS * CHAINS * lanes * threads / (walltime_s() - t0) / 1e9;
        if (r > 0 && g > best) best = g;  // the first call wakes the threads
        if (r == 0) start = walltime_s();
    }
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

// The ball of the round-trip test: 2i when thread 0 is to serve the i-th trip, 2i + 1 when the last thread is to
// return it, STOP once thread 0 gave up waiting (a partner that does not run: more threads than free cores).
enum { STOP = -1 };
typedef struct {
    _Alignas(64) atomic_long ball;  // alone on its cache line, so each pass moves that line and nothing else
} Ball;

// Thread 0's side of `trips` round trips from trip `first`: serve, then wait for the return until `deadline`.
// Returns the trips completed.
static long serve(Ball *b, long first, long trips, double deadline) {
    for (long i = first; i < first + trips; i++) {
        atomic_store_explicit(&b->ball, 2 * i + 1, memory_order_release);
        for (long spins = 0; atomic_load_explicit(&b->ball, memory_order_acquire) != 2 * i + 2; spins++) {
            long served = 2 * i + 1;
            if ((spins & 1023) == 1023 && walltime_s() > deadline &&
                atomic_compare_exchange_strong(&b->ball, &served, STOP))
                return i - first;
        }
    }
    return trips;
}

// The last thread's side: return each serve until thread 0 stops.
static void return_ball(Ball *b) {
    for (long i = 0;; i++) {
        long v, served = 2 * i + 1;
        while ((v = atomic_load_explicit(&b->ball, memory_order_acquire)) != served)
            if (v == STOP) return;
        if (!atomic_compare_exchange_strong(&b->ball, &served, 2 * i + 2)) return;  // thread 0 stopped meanwhile
    }
}

double bench_thread_round_trip_ns(void) {
    enum { WARM_UP = 1000, TRIPS = 2000, BATCHES = 3 };
    if (omp_get_max_threads() < 2) return -1;
    Ball *ball = aligned_alloc(64, sizeof *ball);
    if (!ball) return -1;
    atomic_init(&ball->ball, 0);
    double best = -1;
#pragma omp parallel
    {
        int me = omp_get_thread_num(), last = omp_get_num_threads() - 1;
        if (me == last && last > 0) return_ball(ball);
        if (me == 0 && last > 0) {
            double t0 = walltime_s(), deadline = t0 + 0.25;  // a stalled partner costs a quarter second, not a hang
            long done = serve(ball, 0, WARM_UP, deadline);
            if (done < WARM_UP) best = (walltime_s() - t0) / (double)(done + 1) * 1e9;
            for (int r = 0; r < BATCHES && done == WARM_UP + r * TRIPS; r++) {
                double t1 = walltime_s();
                long n = serve(ball, done, TRIPS, deadline);
                double ns = (walltime_s() - t1) / (double)(n < TRIPS ? n + 1 : n) * 1e9;  // cut short: a bound
                if (best < 0 || ns < best) best = ns;
                done += n;
            }
            atomic_store(&ball->ball, STOP);  // releases the partner (already released where thread 0 gave up)
        }
    }
    free(ball);
    return best;
}

const char *bench_placement(double before_ns, double after_ns) {
    if (before_ns < 0 || after_ns < 0) return NULL;
    double lo = before_ns < after_ns ? before_ns : after_ns, hi = before_ns + after_ns - lo;
    return hi > 2 * lo ? "moved" : "held";
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

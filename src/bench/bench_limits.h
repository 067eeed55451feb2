// The machine limits a benchmark's figures are printed next to, measured in the same run: the sgemm peak
// (OpenBLAS, the compute bound of a forward+backward) and the memory read bandwidth (the bound of decoding,
// which reads every weight once per step).
#ifndef RLVR_BENCH_LIMITS_H
#define RLVR_BENCH_LIMITS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/config.h"

// Best GFLOP/s of OpenBLAS sgemm C[M,N] = A[M,K] B[K,N] over at least `repeat` timed calls and `min_seconds` of
// them, after untimed warm-up calls (threads woken, pages and OpenBLAS buffers touched), on the current thread
// count. The best of many is the machine's figure; a single short call measures whatever else was running.
double bench_sgemm_gflops(int M, int N, int K, int repeat, double min_seconds);

// Best GFLOP/s of independent multiply-adds on the current thread count, in the widest vectors this CPU runs
// (AVX-512 or AVX2 fused, else SSE multiplies and adds), for at least min_seconds after a warm-up: the compute bound no
// kernel passes, whatever OpenBLAS kernel runs or the build's -march (a multiply-add counts as 2 FLOPs).
double bench_fma_peak_gflops(double min_seconds);

// The sgemm peak a training pass of `tokens` rows of model c is set beside: bench_sgemm_gflops at [tokens x hidden]
// x [hidden x MLP width], 10 calls and 0.25 s at least (a burst short enough to run around every pass).
double bench_pass_peak_gflops(const ModelConfig *c, int tokens);

// A buffer for the read test, of about `bytes` (larger than the caches), its pages first touched by the threads that
// will read them; kept across measurements so that each is the passes alone.
typedef struct {
    float *x;
    size_t n;  // floats, a multiple of 32
} ReadBuffer;
ReadBuffer bench_read_buffer(size_t bytes);
void bench_read_buffer_free(ReadBuffer *b);

// Best GB/s of reading b over `repeat` passes, every thread summing its share with independent vector accumulators
// so the adds keep up with memory.
double bench_read_gbps(const ReadBuffer *b, int repeat);

// The best mean time, in ns, over batches of round trips of one cache line between OpenMP threads 0 and the last
// (each writes it when the other has), or -1 with one thread. It tells where the two run: tens of ns between cores
// that share a last-level cache, several times that across chiplets, where each core also reaches memory by its own
// link, so the read bandwidth grows and every hand-over between threads (a parallel region's start and end, a row
// written by one and read by the other) costs more. A partner that does not run (more threads than free cores) ends
// the test after a quarter of a second, with a lower bound.
double bench_thread_round_trip_ns(void);

// Whether the threads stayed where they were between two round trips measured before and after a timed run: "held",
// "moved" where one is more than twice the other (the VM put its cores on one chiplet for one and two for the other,
// so the run's figures mix two machines), NULL where either was not measured (negative).
const char *bench_placement(double before_ns, double after_ns);

// The published peaks of a GPU named name (CUDA's device name): dense bf16 tensor-core TFLOP/s and HBM TB/s, the
// bounds of a training step and of decoding; 0 for a GPU the table does not know.
void bench_gpu_peaks(const char *name, double *bf16_tflops, double *hbm_tbps);

// The whole machine's CPU time so far from /proc/stat (Linux, in clock ticks): all of it, and the part a hypervisor
// gave to other guests ("steal"). ok is false where the file cannot be read.
typedef struct {
    unsigned long long total, steal;
    bool ok;
} CpuTicks;
CpuTicks bench_cpu_ticks(void);

// The share of the machine's CPU time stolen between a and b (0..1), or -1 where it is unknown: on a VM, the figures
// timed in between are slower by about that share through no fault of the code.
double bench_steal_fraction(CpuTicks a, CpuTicks b);
// A steal fraction as a JSON value in buf: "0.123", or null where it is unknown.
const char *bench_steal_json(double fraction, char buf[16]);

// x as a JSON number in buf (3 decimals), or null where it is not known.
const char *bench_json_or_null(bool known, double x, char buf[32]);

// Median, minimum and maximum of n values.
double bench_median(const double *v, int n);
double bench_min(const double *v, int n);
double bench_max(const double *v, int n);

#endif

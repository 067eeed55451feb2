// `rlvr dist-selftest`: every dist collective with rank-dependent data, checked against closed forms.
// Used by the integration tests (mpirun -np 1/2/4); prints one line per check on rank 0.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "base/error.h"
#include "cli/cli.h"
#include "cli/commands.h"

#ifdef RLVR_CUDA
#include <cuda_runtime_api.h>
#endif

typedef struct {
    bool gpu;
    int64_t fail_on_rank;  // -1 = not given
} SelftestArgs;

static const CliOpt OPTS[] = {
    CLI_OPT_FLAG("--gpu", SelftestArgs, gpu, 0, "NCCL all-reduce of a device buffer instead (skips without GPUs)"),
    CLI_OPT_INT("--fail-on-rank", "R", SelftestArgs, fail_on_rank, 0, 1 << 24, 0,
                "rank R dies while the others wait in a collective: all must be aborted"),
};

static const CliSpec SPEC = CLI_SPEC(
    "rlvr dist-selftest",
    "Runs every dist collective with rank-dependent data and checks the results (one line per check on rank 0).",
    OPTS, NULL);

// One check on every rank: counts a failure in *failures when any rank's `ok` is false.
static void check(int ok, const char *what, int *failures) {
    int64_t bad = !ok;
    dist_allreduce_sum_i64(&bad, 1);
    if (dist_is_root()) printf("%s %s\n", bad ? "FAIL" : "ok  ", what);
    *failures += bad != 0;
}

// --gpu: NCCL all-reduce of a device gradient-sized buffer (one rank per GPU); skips without GPUs.
static int gpu_selftest(void) {
    int failures = 0;
    Err e = {{0}};
    int active = dist_gpu_init(&e);
    if (active < 0) dist_fatal("%s", e.msg);
    if (!active) {
        if (dist_is_root()) printf("dist-selftest --gpu: skipped: no GPU on every rank (CPU fallback in use)\n");
        return 0;
    }
#ifdef RLVR_CUDA
    size_t n = (size_t)1 << 22;
    float *host = xmalloc(n * sizeof *host), *dev = NULL;
    // Small integers, so that every partial sum stays below 2^24 and is exact in any order up to 4096 ranks:
    // (rank + 1) * (i % 97) summed over 1024 ranks passed 2^24 and rounded in the last bit (a false FAIL).
    for (size_t i = 0; i < n; i++) host[i] = (float)(dist_rank() % 8 + 1) * (float)(i % 97);
    if (cudaMalloc((void **)&dev, n * sizeof *dev) != cudaSuccess) dist_fatal("cudaMalloc of %zu floats failed", n);
    cudaMemcpy(dev, host, n * sizeof *dev, cudaMemcpyHostToDevice);
    dist_allreduce_sum_device_f32(dev, n);
    cudaMemcpy(host, dev, n * sizeof *dev, cudaMemcpyDeviceToHost);
    cudaFree(dev);
    int64_t total = 0;
    for (int q = 0; q < dist_size(); q++) total += q % 8 + 1;
    float factor = (float)total;
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) ok = host[i] == factor * (float)(i % 97);
    free(host);
    check(ok, "NCCL all-reduce of a 16 MiB device buffer", &failures);
#endif
    return failures ? 1 : 0;
}

// The all-reduces: sums and extrema of rank-dependent values, in every type dist offers.
static void check_allreduces(int r, int n, int *failures) {
    double s[3] = {r + 1.0, 0.5 * r, -(double)r};
    dist_allreduce_sum_f64(s, 3);
    check(s[0] == n * (n + 1) / 2.0 && s[1] == 0.25 * n * (n - 1) && s[2] == -n * (n - 1) / 2.0, "allreduce sum f64",
          failures);

    double mx = r * 1.5 - 2, mn = r * 1.5 - 2;
    dist_allreduce_max_f64(&mx, 1);
    dist_allreduce_min_f64(&mn, 1);
    check(mx == (n - 1) * 1.5 - 2 && mn == -2, "allreduce max/min f64", failures);

    int64_t si[2] = {(int64_t)1 << 40, r}, mi = 100 - r;
    dist_allreduce_sum_i64(si, 2);
    dist_allreduce_max_i64(&mi, 1);
    check(si[0] == ((int64_t)n << 40) && si[1] == (int64_t)n * (n - 1) / 2 && mi == 100, "allreduce sum/max i64",
          failures);

    float sf = 0.25f * (r + 1);
    dist_allreduce_sum_f32(&sf, 1);
    check(sf == 0.125f * n * (n + 1), "allreduce sum f32", failures);
}

// The all-gathers of variable lengths: rank r contributes r items (rank 0 none), values 1000 r + j.
static void check_allgathers(int r, int n, int *failures) {
    double *local = xmalloc(((size_t)r + 1) * sizeof *local);
    int64_t *locali = xmalloc(((size_t)r + 1) * sizeof *locali), *counts = xmalloc((size_t)n * sizeof *counts);
    for (int j = 0; j < r; j++) local[j] = 1000.0 * r + j, locali[j] = 1000 * r + j;
    size_t total = 0, totali = 0;
    double *all = dist_allgatherv_f64(local, (size_t)r, &total, counts);
    int64_t *alli = dist_allgatherv_i64(locali, (size_t)r, &totali, NULL);
    int ok = total == (size_t)n * (size_t)(n - 1) / 2 && totali == total;
    size_t k = 0;
    for (int q = 0; q < n && ok; q++) {
        ok &= counts[q] == q;
        for (int j = 0; j < q; j++, k++) ok &= all[k] == 1000.0 * q + j && alli[k] == 1000 * q + j;
    }
    check(ok, "allgatherv f64/i64 (variable lengths, an empty rank)", failures);
    free(all), free(alli), free(local), free(locali), free(counts);
}

// The gather to root: "rank<r>;" from every rank, concatenated in rank order.
static void check_gather(int r, int n, int *failures) {
    char text[32];
    int len = snprintf(text, sizeof text, "rank%d;", r);
    size_t total = 0;
    char *joined = dist_gatherv_bytes(text, (size_t)len, &total, NULL);
    int ok = 1;
    if (dist_is_root()) {
        size_t off = 0;
        for (int q = 0; q < n; q++) {
            int l = snprintf(text, sizeof text, "rank%d;", q);
            ok &= off + (size_t)l <= total && !memcmp(joined + off, text, (size_t)l);
            off += (size_t)l;
        }
        ok &= off == total;
    }
    check(ok, "gatherv bytes to root", failures);
    free(joined);
}

// A broadcast from the last rank, and the split of 10 items between the ranks.
static void check_bcast_share(int r, int n, int *failures) {
    double b[2] = {0, 0};
    if (r == n - 1) b[0] = 3.25, b[1] = -7;
    dist_bcast(b, sizeof b, n - 1);
    check(b[0] == 3.25 && b[1] == -7, "bcast from the last rank", failures);

    int64_t begin, end, covered;
    dist_share(10, &begin, &end);
    covered = end - begin;
    dist_allreduce_sum_i64(&covered, 1);
    check(covered == 10 && end - begin >= 10 / n && end - begin <= 10 / n + 1, "share of 10 items", failures);
}

// Stop signals (preemption): none raised -> 0 everywhere; the last rank alone gets SIGUSR1 -> every rank learns it
// from dist_stop_requested, while only that rank's local flag is set.
static void check_stop_signals(int r, int n, int *failures) {
    dist_install_stop_signals();
    int none = dist_stop_requested();
    if (r == n - 1) raise(SIGUSR1);
    int mine = dist_stop_signal(), agreed = dist_stop_requested();
    check(none == 0 && agreed == SIGUSR1 && mine == (r == n - 1 ? SIGUSR1 : 0),
          "stop signal on the last rank only: every rank agrees to stop", failures);
}

int cmd_dist_selftest(int argc, char **argv) {
    SelftestArgs a = {.fail_on_rank = -1};
    int rc;
    if (!cli_parse(&SPEC, argc, argv, &a, &rc)) return rc;
    if (a.gpu) return gpu_selftest();
    int r = dist_rank(), n = dist_size(), failures = 0;
    if (a.fail_on_rank >= 0) {
        if (r == a.fail_on_rank) dist_fatal("deliberate failure for the abort test");
        dist_barrier();
        return 0;
    }
    check_allreduces(r, n, &failures);
    check_allgathers(r, n, &failures);
    check_gather(r, n, &failures);
    check_bcast_share(r, n, &failures);
    check_stop_signals(r, n, &failures);
    dist_barrier();
    if (dist_is_root()) printf("dist-selftest: %d ranks, %d failed\n", n, failures);
    return failures ? 1 : 0;
}

#include "bench/bench_ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/dist.h"
#include "base/walltime.h"
#include "io/checkpoint.h"

// The measurements of one round, in the order of their JSON lines.
enum { DISK_WRITE, DISK_READ, WRITE_PARALLEL, WRITE_RANK0, READ_PIECES, READ_ALL_RANKS, READ_RANK0, N_KINDS };
static const char *const KINDS[N_KINDS] = {
    "disk_write",       // one process, write() + fsync of as many bytes as the checkpoint holds
    "disk_read",        // one process, read() of that file back (from the page cache when it fits)
    "write_parallel",   // checkpoint_save_parallel: every rank writes its share
    "write_rank0",      // checkpoint_save on rank 0 alone (how rlvr saved before)
    "read_pieces",      // checkpoint_load_pieces: every rank reads only its even share (a sharded resume)
    "read_all_ranks",   // checkpoint_load on every rank (a ZeRO stage 0 resume: each rank needs everything)
    "read_rank0",       // checkpoint_load on rank 0 alone
};

// Raw file bandwidth: the n bytes of buf written `times` times in 8 MiB blocks and fsync'ed, then read back.
static int disk_round(const char *path, const char *buf, size_t n, int times, double *w, double *r, Err *e) {
    const size_t block = (size_t)8 << 20;
    double t0 = walltime_s();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return err_set(e, "%s: cannot create: %s", path, strerror(errno));
    for (int i = 0; i < times; i++)
        for (size_t at = 0; at < n;) {
            ssize_t k = write(fd, buf + at, n - at < block ? n - at : block);
            if (k <= 0) return close(fd), err_set(e, "%s: write failed: %s", path, strerror(errno));
            at += (size_t)k;
        }
    int bad = fsync(fd) != 0;
    close(fd);
    *w = walltime_s() - t0;
    if (bad) return err_set(e, "%s: fsync failed: %s", path, strerror(errno));
    char *back = xmalloc(block);
    t0 = walltime_s();
    fd = open(path, O_RDONLY);
    for (ssize_t k = 1; fd >= 0 && k > 0;) k = read(fd, back, block);
    if (fd >= 0) close(fd);
    *r = walltime_s() - t0;
    free(back);
    unlink(path);
    return fd < 0 ? err_set(e, "%s: cannot read back", path) : 0;
}

static double median(double *x, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && x[j - 1] > x[j]; j--) {
            double t = x[j];
            x[j] = x[j - 1], x[j - 1] = t;
        }
    return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

typedef struct {
    Model m;
    AdamW opt;
    TrainState st;
    CheckpointMeta meta;
    char path[4096], raw[4096];
} Bench;

// Seconds of the slowest rank for one collective step that starts together.
static double slowest(double t0) {
    double t = walltime_s() - t0;
    dist_allreduce_max_f64(&t, 1);
    return t;
}

static int one_round(Bench *b, double *t, Err *e) {
    int rc = 0;  // the checkpoint's bytes: weights and two moments
    if (dist_is_root())
        rc = disk_round(b->raw, (const char *)b->m.params, b->m.n_params * sizeof(float), 3, &t[DISK_WRITE], &t[DISK_READ], e);
    TRY(dist_root_outcome(rc, e));
    dist_barrier();
    double t0 = walltime_s();
    rc = dist_is_root() ? checkpoint_save(b->path, &b->m, &b->opt, &b->st, &b->meta, e) : 0;
    TRY(dist_root_outcome(rc, e));
    t[WRITE_RANK0] = slowest(t0);
    if (dist_is_root()) unlink(b->path);
    dist_barrier();
    t0 = walltime_s();
    TRY(checkpoint_save_parallel(b->path, &b->m, &b->opt, &b->st, &b->meta, e));
    t[WRITE_PARALLEL] = slowest(t0);
    CkptPiece *mine;
    int n = checkpoint_even_pieces(&b->m, &b->opt, dist_rank(), dist_size(), &mine);
    int64_t step;
    dist_barrier();
    t0 = walltime_s();
    TRY(dist_agree(checkpoint_load_pieces(b->path, &b->m, mine, n, &step, NULL, e), e));
    t[READ_PIECES] = slowest(t0);
    free(mine);
    dist_barrier();
    t0 = walltime_s();
    TRY(dist_agree(checkpoint_load(b->path, &b->m, &b->opt, NULL, e), e));
    t[READ_ALL_RANKS] = slowest(t0);
    t0 = walltime_s();
    rc = dist_is_root() ? checkpoint_load(b->path, &b->m, &b->opt, NULL, e) : 0;
    TRY(dist_root_outcome(rc, e));
    t[READ_RANK0] = slowest(t0);
    if (dist_is_root()) unlink(b->path);
    return 0;
}

static void report(const BenchCkptOptions *o, const Bench *b, double *t, int rounds) {
    double bytes = 3.0 * (double)b->m.n_params * sizeof(float);
    for (int k = 0; k < N_KINDS; k++) {
        double s = median(t + (size_t)k * (size_t)rounds, rounds);
        printf("{\"bench\":\"ckpt\",\"config\":\"%s\",\"params\":%zu,\"ranks\":%d,\"what\":\"%s\",\"bytes\":%.0f,"
               "\"seconds\":%.4f,\"gb_per_s\":%.3f,\"rounds\":%d}\n",
               o->config_name, b->m.n_params, dist_size(), KINDS[k], bytes, s, bytes / s / 1e9, rounds);
    }
    fflush(stdout);
}

int bench_ckpt(const BenchCkptOptions *o, Err *e) {
    Bench b;
    memset(&b, 0, sizeof b);
    TRY(model_create(&b.m, &o->config->model, e));
    model_init_random(&b.m, (uint64_t)o->config->model.init_seed);
    adamw_init(&b.opt, b.m.n_params);
    for (size_t i = 0; i < b.m.n_params; i++) b.opt.m[i] = 0.5f * b.m.params[i], b.opt.v[i] = b.m.params[i] * b.m.params[i];
    b.st = (TrainState){.step = 1};
    b.meta = (CheckpointMeta){"train", "", "bench", dist_size(), NULL};
    snprintf(b.path, sizeof b.path, "%s/rlvr-bench-ckpt-%d.h5", o->dir, dist_size());
    snprintf(b.raw, sizeof b.raw, "%s/rlvr-bench-ckpt-%d.raw", o->dir, dist_size());
    int rounds = (int)o->rounds, rc = 0;
    double *t = xcalloc((size_t)N_KINDS * (size_t)rounds, sizeof *t), round_t[N_KINDS];
    for (int r = 0; r < rounds && !rc; r++) {
        rc = one_round(&b, round_t, e);
        for (int k = 0; k < N_KINDS; k++) t[(size_t)k * (size_t)rounds + (size_t)r] = round_t[k];
    }
    if (!rc && dist_is_root()) report(o, &b, t, rounds);
    free(t);
    adamw_free(&b.opt);
    model_free(&b.m);
    return rc;
}

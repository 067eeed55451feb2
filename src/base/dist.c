#include "base/dist.h"

#include <limits.h>
#include <mpi.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"

#ifdef RLVR_CUDA
#include <cuda_runtime_api.h>
#include <nccl.h>
#endif

// The process-wide context (the only global mutable state, src/README.md "Conventions").
static struct {
    int rank, size, initialized;
    int gpu;  // device ordinal in use, -1 = none
    int chosen;  // the GPU dist_device_choose made current, -1 = none
#ifdef RLVR_CUDA
    ncclComm_t nccl;
#endif
} ctx = {.rank = 0, .size = 1, .initialized = 0, .gpu = -1, .chosen = -1};

// Part of the process-wide context: the stop signal received (0 = none), written only by the handler.
static volatile sig_atomic_t stop_signal;

#define MPI_CHECK(call)                                                                            \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != MPI_SUCCESS) {                                                                  \
            char msg_[MPI_MAX_ERROR_STRING];                                                       \
            int len_ = 0;                                                                          \
            MPI_Error_string(rc_, msg_, &len_);                                                    \
            dist_fatal("%s:%d: %s failed: %s", __FILE__, __LINE__, #call, msg_);                   \
        }                                                                                          \
    } while (0)

// Whether an MPI launcher started this process: mpirun (Open MPI's own variable, or PMIx), srun's PMI2 or PMIx,
// MPICH's and Intel MPI's PMI, or a Slurm step. Any other process is a world of one.
static bool launched_by_mpi(void) {
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "PMI_FD", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i])) return true;
    return false;
}

void dist_init(int *argc, char ***argv) {
    // A process no launcher started would be an MPI singleton: a world of one, which this file already runs
    // without MPI. Skipping MPI_Init saves its start-up (about 0.4 s: Open MPI forks a daemon for a singleton).
    if (ctx.initialized || !launched_by_mpi()) return;
    MPI_CHECK(MPI_Init(argc, argv));
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &ctx.rank));
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &ctx.size));
    ctx.initialized = 1;
}

void dist_finalize(void) {
    if (!ctx.initialized) return;
#ifdef RLVR_CUDA
    if (ctx.gpu >= 0) ncclCommDestroy(ctx.nccl);
    ctx.gpu = -1;
#endif
    MPI_Finalize();
    ctx.initialized = 0;
}

int dist_rank(void) { return ctx.rank; }
int dist_size(void) { return ctx.size; }
int dist_is_root(void) { return ctx.rank == 0; }

int dist_node_size(void) {
    if (!ctx.initialized || ctx.size == 1) return 1;
    MPI_Comm node;
    int n;
    MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, ctx.rank, MPI_INFO_NULL, &node));
    MPI_CHECK(MPI_Comm_size(node, &n));
    MPI_Comm_free(&node);
    return n;
}

void dist_fatal(const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ctx.size > 1) fprintf(stderr, "rlvr: rank %d: %s\n", ctx.rank, msg);
    else fprintf(stderr, "rlvr: %s\n", msg);
    fflush(stderr);
    if (ctx.initialized && ctx.size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}

// MPI counts are int: split large buffers so any size_t length works.
#define CHUNK ((size_t)1 << 30)

static void allreduce(void *x, size_t n, MPI_Datatype type, size_t item, MPI_Op op) {
    if (!ctx.initialized || ctx.size == 1) return;
    for (size_t off = 0; off < n; off += CHUNK) {
        size_t len = n - off < CHUNK ? n - off : CHUNK;
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, (char *)x + off * item, (int)len, type, op, MPI_COMM_WORLD));
    }
}

void dist_allreduce_sum_f64(double *x, size_t n) { allreduce(x, n, MPI_DOUBLE, sizeof *x, MPI_SUM); }
void dist_allreduce_max_f64(double *x, size_t n) { allreduce(x, n, MPI_DOUBLE, sizeof *x, MPI_MAX); }
void dist_allreduce_min_f64(double *x, size_t n) { allreduce(x, n, MPI_DOUBLE, sizeof *x, MPI_MIN); }
void dist_allreduce_sum_i64(int64_t *x, size_t n) { allreduce(x, n, MPI_INT64_T, sizeof *x, MPI_SUM); }
void dist_allreduce_max_i64(int64_t *x, size_t n) { allreduce(x, n, MPI_INT64_T, sizeof *x, MPI_MAX); }
void dist_allreduce_sum_f32(float *x, size_t n) { allreduce(x, n, MPI_FLOAT, sizeof *x, MPI_SUM); }

// The sum lands on root only (the other ranks' x is left as it was): one piece of a reduce-scatter.
static void reduce_to(void *x, size_t n, MPI_Datatype type, size_t item, int root) {
    if (!ctx.initialized || ctx.size == 1) return;
    for (size_t off = 0; off < n; off += CHUNK) {
        size_t len = n - off < CHUNK ? n - off : CHUNK;
        char *p = (char *)x + off * item;
        MPI_CHECK(MPI_Reduce(ctx.rank == root ? MPI_IN_PLACE : p, p, (int)len, type, MPI_SUM, root, MPI_COMM_WORLD));
    }
}

void dist_reduce_sum_f64(double *x, size_t n, int root) { reduce_to(x, n, MPI_DOUBLE, sizeof *x, root); }

struct DistPending {
    int n;
    MPI_Request req[];
};

DistPending *dist_iallreduce_sum_f32(float *x, size_t n) {
    int chunks = ctx.initialized && ctx.size > 1 ? (int)((n + CHUNK - 1) / CHUNK) : 0;
    DistPending *p = xmalloc(sizeof *p + (size_t)chunks * sizeof p->req[0]);
    p->n = chunks;
    for (int c = 0; c < chunks; c++) {
        size_t off = (size_t)c * CHUNK, len = n - off < CHUNK ? n - off : CHUNK;
        MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, x + off, (int)len, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &p->req[c]));
    }
    return p;
}

void dist_wait(DistPending *p) {
    if (!p) return;
    if (p->n) MPI_CHECK(MPI_Waitall(p->n, p->req, MPI_STATUSES_IGNORE));
    free(p);
}
void dist_reduce_sum_i64(int64_t *x, size_t n, int root) { reduce_to(x, n, MPI_INT64_T, sizeof *x, root); }

// The most bytes one v-collective moves with its int counts and displacements; RLVR_TEST_MPI_LIMIT=N lowers it,
// so that tests/mpi_queue.c runs the point-to-point path below on small buffers.
static int64_t int_limit(void) {
    const char *s = getenv("RLVR_TEST_MPI_LIMIT");
    long long v = s ? atoll(s) : 0;
    return v > 0 && v < INT_MAX ? v : INT_MAX;
}

// A v-collective past the int limit as point-to-point messages of at most CHUNK bytes (and the limit), all in flight
// at once: this rank sends send_bytes[r] bytes at send + send_at[r] to rank r of comm and receives recv_bytes[r]
// bytes from it at recv + recv_at[r]; its own part is copied.
static void exchange_p2p(MPI_Comm comm, int size, int me, const char *send, const int64_t *send_bytes,
                         const int64_t *send_at, char *recv, const int64_t *recv_bytes, const int64_t *recv_at) {
    int64_t piece = int_limit() < (int64_t)CHUNK ? int_limit() : (int64_t)CHUNK;
    size_t n = 0, k = 0;
    for (int r = 0; r < size; r++)
        n += (size_t)((send_bytes[r] + piece - 1) / piece + (recv_bytes[r] + piece - 1) / piece);
    MPI_Request *req = xmalloc((n + 1) * sizeof *req);
    for (int r = 0; r < size; r++) {
        if (r == me) {
            if (recv_bytes[r]) memcpy(recv + recv_at[r], send + send_at[r], (size_t)recv_bytes[r]);
            continue;
        }
        for (int64_t o = 0; o < recv_bytes[r]; o += piece)
            MPI_CHECK(MPI_Irecv(recv + recv_at[r] + o, (int)(recv_bytes[r] - o < piece ? recv_bytes[r] - o : piece),
                                MPI_BYTE, r, 0, comm, &req[k++]));
        for (int64_t o = 0; o < send_bytes[r]; o += piece)
            MPI_CHECK(MPI_Isend(send + send_at[r] + o, (int)(send_bytes[r] - o < piece ? send_bytes[r] - o : piece),
                                MPI_BYTE, r, 0, comm, &req[k++]));
    }
    MPI_CHECK(MPI_Waitall((int)k, req, MPI_STATUSES_IGNORE));
    free(req);
}

// Gathers to every rank (all) or to rank 0: one MPI_Allgatherv or MPI_Gatherv within the int limit, else
// exchange_p2p (every rank knows the total, so all take the same path).
static void *gather(const void *local, size_t n_local, size_t item, size_t *n_total, int64_t *counts, int all) {
    if (!ctx.initialized || ctx.size == 1) {
        void *out = xmalloc(n_local * item);
        if (n_local) memcpy(out, local, n_local * item);
        *n_total = n_local;
        if (counts) counts[0] = (int64_t)n_local;
        return out;
    }
    int size = ctx.size, me = ctx.rank;
    int64_t mine = (int64_t)(n_local * item), bytes[size], at[size], total = 0;
    MPI_CHECK(MPI_Allgather(&mine, 1, MPI_INT64_T, bytes, 1, MPI_INT64_T, MPI_COMM_WORLD));
    for (int r = 0; r < size; r++) at[r] = total, total += bytes[r];
    char *out = (all || me == 0) ? xmalloc((size_t)total + 1) : NULL;
    if (total > int_limit()) {
        int64_t sb[size], zero[size], rb[size];
        for (int r = 0; r < size; r++)
            sb[r] = all || r == 0 ? mine : 0, zero[r] = 0, rb[r] = all || me == 0 ? bytes[r] : 0;
        exchange_p2p(MPI_COMM_WORLD, size, me, local, sb, zero, out, rb, at);
    } else {
        int icount[size], idispl[size];
        for (int r = 0; r < size; r++) icount[r] = (int)bytes[r], idispl[r] = (int)at[r];
        if (all) MPI_CHECK(MPI_Allgatherv(local, (int)mine, MPI_BYTE, out, icount, idispl, MPI_BYTE, MPI_COMM_WORLD));
        else MPI_CHECK(MPI_Gatherv(local, (int)mine, MPI_BYTE, out, icount, idispl, MPI_BYTE, 0, MPI_COMM_WORLD));
    }
    *n_total = (size_t)total / item;
    if (counts)
        for (int r = 0; r < size; r++) counts[r] = bytes[r] / (int64_t)item;
    return out;
}

double *dist_allgatherv_f64(const double *local, size_t n_local, size_t *n_total, int64_t *counts) {
    return gather(local, n_local, sizeof *local, n_total, counts, 1);
}

int64_t *dist_allgatherv_i64(const int64_t *local, size_t n_local, size_t *n_total, int64_t *counts) {
    return gather(local, n_local, sizeof *local, n_total, counts, 1);
}

void *dist_allgatherv_bytes(const void *local, size_t n_local, size_t *n_total, int64_t *counts) {
    return gather(local, n_local, 1, n_total, counts, 1);
}

void *dist_gatherv_bytes(const void *local, size_t n_local, size_t *n_total, int64_t *counts) {
    return gather(local, n_local, 1, n_total, counts, 0);
}

void dist_bcast(void *buf, size_t bytes, int root) {
    if (!ctx.initialized || ctx.size == 1) return;
    for (size_t off = 0; off < bytes; off += CHUNK) {
        size_t len = bytes - off < CHUNK ? bytes - off : CHUNK;
        MPI_CHECK(MPI_Bcast((char *)buf + off, (int)len, MPI_BYTE, root, MPI_COMM_WORLD));
    }
}

// ZeRO stage 3's per-layer gather: one MPI_Allgatherv in place, displacements from the first piece; a range
// too long for MPI's int counts and displacements goes owner by owner instead.
void dist_allgather_pieces_f32(float *x, const size_t *begin, const size_t *end) {
    if (!ctx.initialized || ctx.size == 1) return;
    int counts[ctx.size], displs[ctx.size];
    size_t base = begin[0];
    int fits = end[ctx.size - 1] - base <= INT_MAX;
    for (int q = 0; q < ctx.size && fits; q++) counts[q] = (int)(end[q] - begin[q]), displs[q] = (int)(begin[q] - base);
    if (fits) {
        MPI_CHECK(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x + base, counts, displs, MPI_FLOAT,
                                 MPI_COMM_WORLD));
        return;
    }
    for (int q = 0; q < ctx.size; q++) dist_bcast(x + begin[q], (end[q] - begin[q]) * sizeof *x, q);
}

// ---- ZeRO stage 3 on the device: in-place all-gather of byte pieces (host memory over MPI, GPU memory over NCCL)

static void allgather_pieces_host(char *x, const size_t *begin, const size_t *end) {
    int counts[ctx.size], displs[ctx.size];
    size_t base = begin[0];
    int fits = end[ctx.size - 1] - base <= INT_MAX;
    for (int q = 0; q < ctx.size && fits; q++) counts[q] = (int)(end[q] - begin[q]), displs[q] = (int)(begin[q] - base);
    if (fits) {
        MPI_CHECK(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x + base, counts, displs, MPI_BYTE,
                                 MPI_COMM_WORLD));
        return;
    }
    for (int q = 0; q < ctx.size; q++) dist_bcast(x + begin[q], end[q] - begin[q], q);
}

#ifdef RLVR_CUDA
#define NCCL_CHECK(call)                                                                                      \
    do {                                                                                                      \
        ncclResult_t nr_ = (call);                                                                            \
        if (nr_ != ncclSuccess) dist_fatal("%s:%d: %s failed: %s", __FILE__, __LINE__, #call, ncclGetErrorString(nr_)); \
    } while (0)

// After an NCCL call on the legacy default stream: waits for it, so the buffer is ready when the call returns.
static void nccl_sync(const char *what) {
    cudaError_t rc = cudaStreamSynchronize(0);
    if (rc != cudaSuccess) dist_fatal("cudaStreamSynchronize after the NCCL %s: %s", what, cudaGetErrorString(rc));
}

// The NCCL communicator, created by the first device collective (every rank reaches it together).
static void nccl_ready(void) {
    if (ctx.gpu >= 0) return;
    Err e;
    int rc = dist_gpu_init(&e);
    if (rc < 0) dist_fatal("NCCL communicator: %s", e.msg);
    if (rc == 0) dist_fatal("a collective on GPU memory, but not every rank has a GPU");
}

// A group of broadcasts, one from each owner of a non-empty piece: NCCL's all-gather wants equal pieces.
static void allgather_pieces_nccl(char *x, const size_t *begin, const size_t *end) {
    nccl_ready();
    NCCL_CHECK(ncclGroupStart());
    for (int q = 0; q < ctx.size; q++)
        if (end[q] > begin[q])
            NCCL_CHECK(ncclBroadcast(x + begin[q], x + begin[q], end[q] - begin[q], ncclUint8, q, ctx.nccl, 0));
    NCCL_CHECK(ncclGroupEnd());
    cudaError_t rc = cudaStreamSynchronize(0);
    if (rc != cudaSuccess) dist_fatal("cudaStreamSynchronize after the NCCL broadcasts: %s", cudaGetErrorString(rc));
}
#endif

void dist_allgather_pieces_bytes(void *x, const size_t *begin, const size_t *end, bool device) {
    if (!ctx.initialized || ctx.size == 1) return;
#ifdef RLVR_CUDA
    if (device) return allgather_pieces_nccl(x, begin, end);
#else
    if (device) dist_fatal("a collective on GPU memory in a build without CUDA");
#endif
    allgather_pieces_host(x, begin, end);
}

void dist_barrier(void) {
    if (ctx.initialized && ctx.size > 1) MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
}

const void *dist_mpi_comm(void) {
    static const MPI_Comm world = MPI_COMM_WORLD;
    return ctx.initialized ? &world : NULL;
}

// This rank's place among the processes of its node and their number (the ranks sharing its memory).
static void node_place(int *rank, int *size) {
    *rank = 0, *size = 1;
    if (!ctx.initialized) return;
    MPI_Comm node;
    MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, ctx.rank, MPI_INFO_NULL, &node));
    MPI_CHECK(MPI_Comm_rank(node, rank));
    MPI_CHECK(MPI_Comm_size(node, size));
    MPI_Comm_free(&node);
}

// The launcher's local rank (Open MPI's, else Slurm's), else the place among the ranks sharing memory.
static int launcher_local_rank(int fallback, Err *e) {
    const char *vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"};
    for (int i = 0; i < 2; i++) {
        const char *v = getenv(vars[i]);
        if (!v || !*v) continue;
        char *end;
        long r = strtol(v, &end, 10);
        if (*end || r < 0 || r > INT_MAX)
            return err_set(e, "environment %s = '%s': expected a local rank (an integer >= 0)", vars[i], v);
        return (int)r;
    }
    return fallback;
}

#ifdef RLVR_CUDA
static int local_rank(void) {
    int r, n;
    node_place(&r, &n);
    return r;
}

// GPUs visible to this process (0 when the driver or runtime cannot be used).
static int gpu_count(void) {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

static int use_gpu(DistDevice *d, Err *e) {
    cudaError_t rc = cudaSetDevice(d->ordinal);
    if (rc != cudaSuccess) return err_set(e, "cudaSetDevice(%d) on %s: %s", d->ordinal, d->host, cudaGetErrorString(rc));
    struct cudaDeviceProp prop;
    rc = cudaGetDeviceProperties(&prop, d->ordinal);
    if (rc != cudaSuccess)
        return err_set(e, "cudaGetDeviceProperties(%d) on %s: %s", d->ordinal, d->host, cudaGetErrorString(rc));
    snprintf(d->name, sizeof d->name, "%s", prop.name);
    return 0;
}
#else
static int gpu_count(void) { return 0; }
#endif

int dist_device_choose(DistDeviceWant want, DistDevice *d, Err *e) {
    *d = (DistDevice){.ordinal = -1};
    if (gethostname(d->host, sizeof d->host - 1)) snprintf(d->host, sizeof d->host, "?");
    int place;
    node_place(&place, &d->local_size);
    int rc = launcher_local_rank(place, e);
    d->local_rank = rc < 0 ? place : rc;
    d->gpus = gpu_count();
    // One rank per GPU: as many GPUs as ranks on the node (and this rank's among them).
    int64_t fits = rc >= 0 && d->gpus >= d->local_size && d->local_rank < d->gpus;
    if (ctx.initialized && ctx.size > 1) MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &fits, 1, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD));
    if (want == DIST_DEVICE_CPU) return 0;
    if (rc < 0) return -1;
    if (want == DIST_DEVICE_AUTO && !fits) return 0;
#ifndef RLVR_CUDA
    return err_set(e, "[dist] device = cuda: this rlvr was built without CUDA (build with make CUDA=1)");
#else
    if (d->gpus == 0) return err_set(e, "[dist] device = cuda: rank %d on %s sees no CUDA device", ctx.rank, d->host);
    if (d->local_size > d->gpus || d->local_rank >= d->gpus)
        return err_set(e, "[dist] device = cuda: %d ranks on %s (this one local rank %d) but %d GPU%s (one rank per GPU)",
                       d->local_size, d->host, d->local_rank, d->gpus, d->gpus == 1 ? "" : "s");
    d->ordinal = d->local_rank;
    TRY(use_gpu(d, e));
    ctx.chosen = d->ordinal;
    return 0;
#endif
}

void dist_device_describe(const DistDevice *d, char *out, size_t size) {
    if (d->ordinal < 0) snprintf(out, size, "rank %d on %s: cpu", ctx.rank, d->host);
    else snprintf(out, size, "rank %d on %s: cuda:%d (%s)", ctx.rank, d->host, d->ordinal, d->name);
}

#ifdef RLVR_CUDA

int dist_gpu_init(Err *e) {
    if (ctx.gpu >= 0) return 1;
    int n = 0;
    int64_t have = cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
    int64_t all = have;
    if (ctx.initialized && ctx.size > 1) MPI_CHECK(MPI_Allreduce(&have, &all, 1, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD));
    if (!all) return 0;  // some rank has no GPU: everyone stays on the CPU path
    int dev = ctx.chosen >= 0 ? ctx.chosen : local_rank() % n;  // dist_device_choose's GPU where it picked one
    cudaError_t rc = cudaSetDevice(dev);
    if (rc != cudaSuccess) return err_set(e, "cudaSetDevice(%d): %s", dev, cudaGetErrorString(rc));
    ncclUniqueId id;
    if (ctx.rank == 0 && ncclGetUniqueId(&id) != ncclSuccess) dist_fatal("ncclGetUniqueId failed");
    dist_bcast(&id, sizeof id, 0);
    ncclResult_t nr = ncclCommInitRank(&ctx.nccl, ctx.size, id, ctx.rank);
    if (nr != ncclSuccess) return err_set(e, "ncclCommInitRank: %s", ncclGetErrorString(nr));
    ctx.gpu = dev;
    return 1;
}

int dist_gpu_active(void) { return ctx.gpu >= 0; }

void dist_allreduce_sum_device_f32(float *x, size_t n) {
    if (ctx.gpu < 0) {
        dist_allreduce_sum_f32(x, n);
        return;
    }
    ncclResult_t nr = ncclAllReduce(x, x, n, ncclFloat32, ncclSum, ctx.nccl, 0);
    if (nr != ncclSuccess) dist_fatal("ncclAllReduce of %zu floats: %s", n, ncclGetErrorString(nr));
    cudaError_t rc = cudaStreamSynchronize(0);
    if (rc != cudaSuccess) dist_fatal("cudaStreamSynchronize after ncclAllReduce: %s", cudaGetErrorString(rc));
}

// ---- the device update's collectives (one NCCL call each on the legacy default stream, which waits for the
// backends' blocking streams, then synchronised so the buffer is ready when the call returns) ----

static void nccl_done(ncclResult_t nr, const char *what, size_t n) {
    if (nr != ncclSuccess) dist_fatal("%s of %zu elements: %s", what, n, ncclGetErrorString(nr));
    nccl_sync(what);
}

void dist_allreduce_sum_device_i64(int64_t *x, size_t n) {
    if (ctx.gpu < 0) return dist_allreduce_sum_i64(x, n);
    nccl_done(ncclAllReduce(x, x, n, ncclInt64, ncclSum, ctx.nccl, 0), "ncclAllReduce (int64)", n);
}

void dist_reduce_sum_device_f32(float *x, size_t n, int root) {
    if (ctx.gpu < 0) return reduce_to(x, n, MPI_FLOAT, sizeof *x, root);
    nccl_done(ncclReduce(x, x, n, ncclFloat32, ncclSum, root, ctx.nccl, 0), "ncclReduce (float)", n);
}

void dist_reduce_sum_device_i64(int64_t *x, size_t n, int root) {
    if (ctx.gpu < 0) return dist_reduce_sum_i64(x, n, root);
    nccl_done(ncclReduce(x, x, n, ncclInt64, ncclSum, root, ctx.nccl, 0), "ncclReduce (int64)", n);
}

void dist_bcast_device(void *x, size_t bytes, int root) {
    if (ctx.gpu < 0) return dist_bcast(x, bytes, root);
    nccl_done(ncclBroadcast(x, x, bytes, ncclUint8, root, ctx.nccl, 0), "ncclBroadcast", bytes);
}
#else
int dist_gpu_init(Err *e) {
    (void)e;
    return 0;
}
int dist_gpu_active(void) { return 0; }
void dist_allreduce_sum_device_f32(float *x, size_t n) { dist_allreduce_sum_f32(x, n); }
void dist_allreduce_sum_device_i64(int64_t *x, size_t n) { dist_allreduce_sum_i64(x, n); }
void dist_reduce_sum_device_f32(float *x, size_t n, int root) { reduce_to(x, n, MPI_FLOAT, sizeof *x, root); }
void dist_reduce_sum_device_i64(int64_t *x, size_t n, int root) { dist_reduce_sum_i64(x, n, root); }
void dist_bcast_device(void *x, size_t bytes, int root) { dist_bcast(x, bytes, root); }
#endif

void dist_share(int64_t n, int64_t *begin, int64_t *end) { dist_share_of(n, ctx.rank, begin, end); }

void dist_share_of(int64_t n, int rank, int64_t *begin, int64_t *end) {
    int64_t q = n / ctx.size, r = n % ctx.size;
    *begin = rank * q + (rank < r ? rank : r);
    *end = *begin + q + (rank < r);
}

// MPI_Alltoallv of bytes over comm (size ranks) into recv, which the caller sized; past the int limit on any rank
// (the ranks agree), exchange_p2p instead.
static void alltoallv_host(MPI_Comm comm, int size, const void *send, const int64_t *send_bytes, void *recv,
                           const int64_t *recv_bytes) {
    int scount[size], sdispl[size], rcount[size], rdispl[size], me;
    int64_t soff[size], roff[size], s = 0, r = 0;
    for (int p = 0; p < size; p++) soff[p] = s, s += send_bytes[p], roff[p] = r, r += recv_bytes[p];
    int64_t big = s > int_limit() || r > int_limit();
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &big, 1, MPI_INT64_T, MPI_MAX, comm));
    MPI_CHECK(MPI_Comm_rank(comm, &me));
    if (big) return exchange_p2p(comm, size, me, send, send_bytes, soff, recv, recv_bytes, roff);
    for (int p = 0; p < size; p++)
        scount[p] = (int)send_bytes[p], sdispl[p] = (int)soff[p], rcount[p] = (int)recv_bytes[p], rdispl[p] = (int)roff[p];
    MPI_CHECK(MPI_Alltoallv(send, scount, sdispl, MPI_BYTE, recv, rcount, rdispl, MPI_BYTE, comm));
}

// Personalised all-to-all of bytes over comm (size ranks, this one `rank`).
static void *alltoallv(MPI_Comm comm, int size, const void *send, const int64_t *send_bytes, size_t *n_recv,
                       int64_t *recv_bytes) {
    if (!ctx.initialized || size == 1) {
        void *out = xmalloc((size_t)send_bytes[0] + 1);
        if (send_bytes[0]) memcpy(out, send, (size_t)send_bytes[0]);
        *n_recv = (size_t)send_bytes[0];
        if (recv_bytes) recv_bytes[0] = send_bytes[0];
        return out;
    }
    int64_t got[size];
    MPI_CHECK(MPI_Alltoall(send_bytes, 1, MPI_INT64_T, got, 1, MPI_INT64_T, comm));
    if (recv_bytes) memcpy(recv_bytes, got, sizeof got);
    int64_t roff = 0;
    for (int r = 0; r < size; r++) roff += got[r];
    void *out = xmalloc((size_t)roff + 1);
    alltoallv_host(comm, size, send, send_bytes, out, got);
    *n_recv = (size_t)roff;
    return out;
}

void *dist_alltoallv_bytes(const void *send, const int64_t *send_bytes, size_t *n_recv, int64_t *recv_bytes) {
    return alltoallv(MPI_COMM_WORLD, ctx.size, send, send_bytes, n_recv, recv_bytes);
}

struct DistGroup {
    MPI_Comm comm;  // unset on a single process (size 1: no call uses it)
    int rank, size;
};

DistGroup *dist_group_create(int color) {
    DistGroup *g = xcalloc(1, sizeof *g);
    g->size = 1;
    if (!ctx.initialized || ctx.size == 1) return g;
    MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, color, ctx.rank, &g->comm));
    MPI_Comm_set_errhandler(g->comm, MPI_ERRORS_RETURN);
    MPI_CHECK(MPI_Comm_rank(g->comm, &g->rank));
    MPI_CHECK(MPI_Comm_size(g->comm, &g->size));
    return g;
}

void dist_group_free(DistGroup *g) {
    if (!g) return;
    if (ctx.initialized && ctx.size > 1) MPI_Comm_free(&g->comm);
    free(g);
}

int dist_group_rank(const DistGroup *g) { return g->rank; }
int dist_group_size(const DistGroup *g) { return g->size; }

void *dist_group_alltoallv_bytes(const DistGroup *g, const void *send, const int64_t *send_bytes, size_t *n_recv,
                                 int64_t *recv_bytes) {
    return alltoallv(g->comm, g->size, send, send_bytes, n_recv, recv_bytes);
}

// ---- Expert parallelism on the device: all-to-all among a group into buffers the caller sized ----

#ifdef RLVR_CUDA
// The world rank of each place of g (NCCL runs on the world communicator).
static void world_ranks(const DistGroup *g, int *world) {
    int places[g->size];
    MPI_Group mine, all;
    MPI_CHECK(MPI_Comm_group(g->comm, &mine));
    MPI_CHECK(MPI_Comm_group(MPI_COMM_WORLD, &all));
    for (int p = 0; p < g->size; p++) places[p] = p;
    MPI_CHECK(MPI_Group_translate_ranks(mine, g->size, places, all, world));
    MPI_Group_free(&mine), MPI_Group_free(&all);
}

// Sends and receives in one NCCL group on the world communicator (the group's places named by their world ranks);
// this rank's own part is a device copy.
static void alltoallv_into_nccl(const DistGroup *g, const char *send, const int64_t *send_bytes, char *recv,
                                const int64_t *recv_bytes) {
    nccl_ready();
    int n = g->size, world[n];
    world_ranks(g, world);
    int64_t soff = 0, roff = 0;
    NCCL_CHECK(ncclGroupStart());
    for (int p = 0; p < n; p++) {
        if (p == g->rank && send_bytes[p]) {
            cudaError_t rc = cudaMemcpyAsync(recv + roff, send + soff, (size_t)send_bytes[p], cudaMemcpyDeviceToDevice, 0);
            if (rc != cudaSuccess) dist_fatal("all-to-all: the rank's own rows: %s", cudaGetErrorString(rc));
        } else {
            if (send_bytes[p]) NCCL_CHECK(ncclSend(send + soff, (size_t)send_bytes[p], ncclUint8, world[p], ctx.nccl, 0));
            if (recv_bytes[p]) NCCL_CHECK(ncclRecv(recv + roff, (size_t)recv_bytes[p], ncclUint8, world[p], ctx.nccl, 0));
        }
        soff += send_bytes[p], roff += recv_bytes[p];
    }
    NCCL_CHECK(ncclGroupEnd());
    nccl_sync("all-to-all");
}

// Every rank (g NULL) or g's ranks: root's bytes to the others; within a group, root's sends in one NCCL group.
static void bcast_nccl(const DistGroup *g, void *buf, size_t bytes, int root) {
    nccl_ready();
    if (!g) {
        NCCL_CHECK(ncclBroadcast(buf, buf, bytes, ncclUint8, root, ctx.nccl, 0));
        return nccl_sync("broadcast");
    }
    int world[g->size];
    world_ranks(g, world);
    NCCL_CHECK(ncclGroupStart());
    for (int p = 0; p < g->size; p++) {
        if (p == root) continue;
        if (g->rank == root) NCCL_CHECK(ncclSend(buf, bytes, ncclUint8, world[p], ctx.nccl, 0));
        else if (g->rank == p) NCCL_CHECK(ncclRecv(buf, bytes, ncclUint8, world[root], ctx.nccl, 0));
    }
    NCCL_CHECK(ncclGroupEnd());
    nccl_sync("group broadcast");
}
#endif

void dist_group_bcast_into(const DistGroup *g, void *buf, size_t bytes, int root, bool device) {
    if (!ctx.initialized || ctx.size == 1 || (g && g->size == 1) || !bytes) return;
#ifdef RLVR_CUDA
    if (device) return bcast_nccl(g, buf, bytes, root);
#else
    if (device) dist_fatal("a collective on GPU memory in a build without CUDA");
#endif
    if (g) dist_group_bcast(g, buf, bytes, root);
    else dist_bcast(buf, bytes, root);
}

void dist_group_alltoallv_into(const DistGroup *g, const void *send, const int64_t *send_bytes, void *recv,
                               const int64_t *recv_bytes, bool device) {
    if (g->size == 1 || !ctx.initialized || ctx.size == 1) {
        if (send_bytes[0] != recv_bytes[0]) dist_fatal("all-to-all on one rank: %lld bytes sent, %lld expected",
                                                       (long long)send_bytes[0], (long long)recv_bytes[0]);
        if (!send_bytes[0]) return;
#ifdef RLVR_CUDA
        if (device) {
            cudaError_t rc = cudaMemcpy(recv, send, (size_t)send_bytes[0], cudaMemcpyDeviceToDevice);
            if (rc != cudaSuccess) dist_fatal("all-to-all on one rank: %s", cudaGetErrorString(rc));
            return;
        }
#endif
        memcpy(recv, send, (size_t)send_bytes[0]);
        return;
    }
#ifdef RLVR_CUDA
    if (device) return alltoallv_into_nccl(g, send, send_bytes, recv, recv_bytes);
#else
    if (device) dist_fatal("a collective on GPU memory in a build without CUDA");
#endif
    alltoallv_host(g->comm, g->size, send, send_bytes, recv, recv_bytes);
}

static void group_allreduce(const DistGroup *g, void *x, size_t n, MPI_Datatype type, size_t item, MPI_Op op) {
    if (g->size == 1) return;
    for (size_t off = 0; off < n; off += CHUNK) {
        size_t len = n - off < CHUNK ? n - off : CHUNK;
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, (char *)x + off * item, (int)len, type, op, g->comm));
    }
}

void dist_group_allreduce_max_i64(const DistGroup *g, int64_t *x, size_t n) {
    group_allreduce(g, x, n, MPI_INT64_T, sizeof *x, MPI_MAX);
}
void dist_group_allreduce_sum_i64(const DistGroup *g, int64_t *x, size_t n) {
    group_allreduce(g, x, n, MPI_INT64_T, sizeof *x, MPI_SUM);
}
void dist_group_allreduce_sum_f64(const DistGroup *g, double *x, size_t n) {
    group_allreduce(g, x, n, MPI_DOUBLE, sizeof *x, MPI_SUM);
}

// The sum lands on the group's rank at place root only (the others' x is left as it was).
static void group_reduce_to(const DistGroup *g, void *x, size_t n, MPI_Datatype type, size_t item, int root) {
    if (g->size == 1) return;
    for (size_t off = 0; off < n; off += CHUNK) {
        size_t len = n - off < CHUNK ? n - off : CHUNK;
        char *p = (char *)x + off * item;
        MPI_CHECK(MPI_Reduce(g->rank == root ? MPI_IN_PLACE : p, p, (int)len, type, MPI_SUM, root, g->comm));
    }
}

void dist_group_reduce_sum_i64(const DistGroup *g, int64_t *x, size_t n, int root) {
    group_reduce_to(g, x, n, MPI_INT64_T, sizeof *x, root);
}
void dist_group_reduce_sum_f64(const DistGroup *g, double *x, size_t n, int root) {
    group_reduce_to(g, x, n, MPI_DOUBLE, sizeof *x, root);
}

void dist_group_bcast(const DistGroup *g, void *buf, size_t bytes, int root) {
    if (g->size == 1) return;
    for (size_t off = 0; off < bytes; off += CHUNK) {
        size_t len = bytes - off < CHUNK ? bytes - off : CHUNK;
        MPI_CHECK(MPI_Bcast((char *)buf + off, (int)len, MPI_BYTE, root, g->comm));
    }
}

struct DistQueue {
    MPI_Win win;
    int64_t *counter;  // rank 0's window; on one process the counter itself
    int64_t local;
};

DistQueue *dist_queue_create(void) {
    DistQueue *q = xcalloc(1, sizeof *q);
    if (!ctx.initialized || ctx.size == 1) return q;
    MPI_Aint bytes = ctx.rank == 0 ? (MPI_Aint)sizeof(int64_t) : 0;
    MPI_CHECK(MPI_Win_allocate(bytes, sizeof(int64_t), MPI_INFO_NULL, MPI_COMM_WORLD, &q->counter, &q->win));
    if (ctx.rank == 0) *q->counter = 0;
    MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));  // the counter is zero before anyone takes from it
    MPI_CHECK(MPI_Win_lock_all(0, q->win));
    return q;
}

int64_t dist_queue_next(DistQueue *q) {
    if (!ctx.initialized || ctx.size == 1) return q->local++;
    int64_t one = 1, got = 0;
    MPI_CHECK(MPI_Fetch_and_op(&one, &got, MPI_INT64_T, 0, 0, MPI_SUM, q->win));
    MPI_CHECK(MPI_Win_flush(0, q->win));
    return got;
}

void dist_queue_free(DistQueue *q) {
    if (!q) return;
    if (ctx.initialized && ctx.size > 1) {
        MPI_CHECK(MPI_Win_unlock_all(q->win));
        MPI_CHECK(MPI_Win_free(&q->win));
    }
    free(q);
}

int dist_agree(int rc, Err *e) {
    int64_t lowest = rc ? -(int64_t)ctx.rank : INT64_MIN;
    dist_allreduce_max_i64(&lowest, 1);
    if (lowest == INT64_MIN) return 0;
    int failed = (int)-lowest;
    dist_bcast(e->msg, sizeof e->msg, failed);
    if (failed != 0) err_prefix(e, "rank %d", failed);
    return -1;
}

int dist_root_outcome(int rc, Err *e) {
    int flag = rc;
    dist_bcast(&flag, sizeof flag, 0);
    if (flag) dist_bcast(e->msg, sizeof e->msg, 0);
    return flag ? -1 : 0;
}

static void on_stop_signal(int sig) {
    if (!stop_signal) stop_signal = sig;
}

void dist_install_stop_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART;  // a checkpoint write in progress goes on
    sigemptyset(&sa.sa_mask);
    sigset_t unblock;
    sigemptyset(&unblock);
    int sigs[] = {SIGTERM, SIGUSR1};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        sigaction(sigs[i], &sa, NULL);
        sigaddset(&unblock, sigs[i]);
    }
    sigprocmask(SIG_UNBLOCK, &unblock, NULL);
}

int dist_stop_signal(void) { return stop_signal; }

int dist_stop_requested(void) {
    int64_t sig = stop_signal;
    dist_allreduce_max_i64(&sig, 1);
    return (int)sig;
}

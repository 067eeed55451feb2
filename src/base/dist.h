// The only module that talks to MPI (and, with CUDA, NCCL). One process-wide context.
#ifndef RLVR_DIST_H
#define RLVR_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

// Initialises MPI when a launcher (mpirun, srun) started the process; one started alone is a world of one
// without MPI (the collectives below then return at once).
void dist_init(int *argc, char ***argv);
void dist_finalize(void);
int dist_rank(void);
int dist_size(void);
int dist_is_root(void);
// Collective: the number of ranks on this rank's node (those sharing its memory, MPI_COMM_TYPE_SHARED); 1 without MPI.
int dist_node_size(void);

// In-place all-reduce over all ranks.
void dist_allreduce_sum_f64(double *x, size_t n);
void dist_allreduce_max_f64(double *x, size_t n);
void dist_allreduce_min_f64(double *x, size_t n);
void dist_allreduce_sum_i64(int64_t *x, size_t n);
void dist_allreduce_max_i64(int64_t *x, size_t n);
void dist_allreduce_sum_f32(float *x, size_t n);
// In-place sum over all ranks that only root receives (ZeRO's reduce-scatter, one owner's piece at a time).
void dist_reduce_sum_f64(double *x, size_t n, int root);
void dist_reduce_sum_i64(int64_t *x, size_t n, int root);
// Non-blocking in-place float sum over all ranks (every rank starts the same ones in the same order); x must not
// be touched until dist_wait returns, which also frees the handle.
typedef struct DistPending DistPending;
DistPending *dist_iallreduce_sum_f32(float *x, size_t n);
void dist_wait(DistPending *p);

// All-gather of variable-length arrays: rank r contributes n_local items; returns a malloc'd
// concatenation in rank order and the total count in *n_total (counts[r] per rank if counts != NULL).
double *dist_allgatherv_f64(const double *local, size_t n_local, size_t *n_total, int64_t *counts);
int64_t *dist_allgatherv_i64(const int64_t *local, size_t n_local, size_t *n_total, int64_t *counts);
void *dist_allgatherv_bytes(const void *local, size_t n_local, size_t *n_total, int64_t *counts);

// Gathers variable-length byte arrays to root only (others get NULL).
void *dist_gatherv_bytes(const void *local, size_t n_local, size_t *n_total, int64_t *counts);

// In-place all-gather of float pieces: rank q holds x[begin[q], end[q]) (ranges in rank order, each starting
// where the previous ended, possibly empty); afterwards every rank holds all of them.
void dist_allgather_pieces_f32(float *x, const size_t *begin, const size_t *end);

void dist_bcast(void *buf, size_t bytes, int root);
void dist_barrier(void);

// The communicator of all ranks, as the address of an MPI_Comm, for a library that takes one and does its own
// MPI (parallel HDF5 in io/h5io.c); NULL before dist_init.
const void *dist_mpi_comm(void);

// Prints "rlvr: rank R: message" to stderr and aborts every rank (never returns).
void dist_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

// GPU data parallelism (CUDA builds): one rank per GPU of its node, NCCL communicator created from a
// unique id broadcast over MPI. Returns 1 when active, 0 when no GPU/CUDA (CPU fallback), -1 on error.
int dist_gpu_init(Err *e);
int dist_gpu_active(void);
// Sums a device buffer over all ranks in place (NCCL); without an active GPU context, x is host memory
// and the MPI path is used. Same call either way, so single-GPU and CPU runs share the code.
void dist_allreduce_sum_device_f32(float *x, size_t n);
// ZeRO stage 3 on the device: in-place all-gather of byte pieces, rank q holding x[begin[q], end[q]) (bytes, in rank
// order, each starting where the previous ended, possibly empty). device: x is memory of this rank's GPU, gathered
// over NCCL (one broadcast from each owner, in a group; the communicator is created by the first such call, which
// every rank makes together); else host memory over MPI (a CPU or staged run: the same call, the same bytes).
void dist_allgather_pieces_bytes(void *x, const size_t *begin, const size_t *end, bool device);
// The device update's other collectives (train/device_update.h), in place on device memory with NCCL, or on host
// memory through MPI without an active GPU context (the staged test backend), like dist_allreduce_sum_device_f32.
// Integer sums (the deterministic mode's fixed-point limbs) are exact, so any reduction order gives the same bits.
void dist_allreduce_sum_device_i64(int64_t *x, size_t n);
// Sums that only root receives (ZeRO stage 2: each owner's run of the gradient; the others' x is left unspecified).
void dist_reduce_sum_device_f32(float *x, size_t n, int root);
void dist_reduce_sum_device_i64(int64_t *x, size_t n, int root);
// root's bytes to every rank (ZeRO stages 1-2: an owner's new weights).
void dist_bcast_device(void *x, size_t bytes, int root);

// The device a rank computes on (dist.device): one rank per GPU of its node, picked by the rank's place among the
// node's ranks (OMPI_COMM_WORLD_LOCAL_RANK, else SLURM_LOCALID, else the ranks sharing its memory).
typedef enum { DIST_DEVICE_AUTO, DIST_DEVICE_CPU, DIST_DEVICE_CUDA } DistDeviceWant;  // dist.device's order
typedef struct {
    int ordinal;       // the GPU this rank uses, -1: the CPU
    char name[256];    // the GPU's name ("" on the CPU)
    char host[256];
    int local_rank, local_size;  // place among the ranks of this node, and their number
    int gpus;          // GPUs this rank sees
} DistDevice;
// Collective. cpu: the CPU. cuda: GPU local_rank (made current), an error when the build has no CUDA, the rank sees
// no GPU, or the node runs more ranks than it has GPUs. auto: cuda when every rank could have one, else the CPU.
int dist_device_choose(DistDeviceWant want, DistDevice *d, Err *e);
// "rank R on HOST: cuda:N (NAME)" or "rank R on HOST: cpu".
void dist_device_describe(const DistDevice *d, char *out, size_t size);

// The contiguous share [*begin, *end) of n items owned by this rank (balanced, rank order).
void dist_share(int64_t n, int64_t *begin, int64_t *end);
// The same share of rank `rank`.
void dist_share_of(int64_t n, int rank, int64_t *begin, int64_t *end);

// Personalised all-to-all of bytes: send holds, in rank order, send_bytes[r] bytes for each rank r. Returns a
// malloc'd concatenation, in rank order, of what every rank sent to this one (recv_bytes[r] from rank r, when
// recv_bytes != NULL) and its size in *n_recv.
void *dist_alltoallv_bytes(const void *send, const int64_t *send_bytes, size_t *n_recv, int64_t *recv_bytes);

// A subset of the ranks with its own communicator (the expert-parallel groups of model/expert_map.h).
typedef struct DistGroup DistGroup;
// Collective over all ranks: the ranks passing the same color form one group, ordered by their rank.
DistGroup *dist_group_create(int color);
void dist_group_free(DistGroup *g);
int dist_group_rank(const DistGroup *g);  // place in the group
int dist_group_size(const DistGroup *g);
// dist_alltoallv_bytes among the ranks of g (send_bytes and recv_bytes indexed by place in the group).
void *dist_group_alltoallv_bytes(const DistGroup *g, const void *send, const int64_t *send_bytes, size_t *n_recv,
                                 int64_t *recv_bytes);
// Expert parallelism on the device: dist_group_alltoallv_bytes into a buffer the caller sized (the counts went
// first): send_bytes[p] bytes of send to the rank at place p and recv_bytes[p] from it into recv, in place order.
// device: send and recv are memory of this rank's GPU (NCCL sends and receives in a group); else host memory over MPI
// (a CPU or staged run: the same call, the same bytes).
void dist_group_alltoallv_into(const DistGroup *g, const void *send, const int64_t *send_bytes, void *recv,
                               const int64_t *recv_bytes, bool device);
// Expert parallelism at ZeRO stage 3 on the device: buf of the rank at place root of g (g NULL: of rank root, to every
// rank) to the others. device: GPU memory over NCCL; else host memory over MPI (dist_group_bcast, dist_bcast).
void dist_group_bcast_into(const DistGroup *g, void *buf, size_t bytes, int root, bool device);
// In-place maximum or sum over the group's ranks.
void dist_group_allreduce_max_i64(const DistGroup *g, int64_t *x, size_t n);
void dist_group_allreduce_sum_i64(const DistGroup *g, int64_t *x, size_t n);
void dist_group_allreduce_sum_f64(const DistGroup *g, double *x, size_t n);
// In-place sum over the group's ranks that only the rank at place root receives.
void dist_group_reduce_sum_i64(const DistGroup *g, int64_t *x, size_t n, int root);
void dist_group_reduce_sum_f64(const DistGroup *g, double *x, size_t n, int root);
// buf of the group's rank at place root to the others of the group.
void dist_group_bcast(const DistGroup *g, void *buf, size_t bytes, int root);

// A shared work queue: one counter, held by rank 0, that every rank advances atomically with MPI one-sided
// MPI_Fetch_and_op, so items go to ranks in the order they ask, each exactly once. With osc/sm (one node) or
// hardware atomics (osc/ucx, osc/rdma) no rank has to take part in another's request.
typedef struct DistQueue DistQueue;
// Collective: a queue whose first item is 0.
DistQueue *dist_queue_create(void);
// The next item index (0, 1, 2, ... over all ranks); the caller stops at its item count.
int64_t dist_queue_next(DistQueue *q);
// Collective.
void dist_queue_free(DistQueue *q);

// Every rank learns whether any rank failed (rc != 0) before the next collective: returns -1 on all ranks
// if so, each holding the message of the lowest failing rank (prefixed "rank R: " unless R = 0).
int dist_agree(int rc, Err *e);

// The outcome (and message) of an action only rank 0 performed, shared with every rank.
int dist_root_outcome(int rc, Err *e);

// Preemption (`rlvr sft|train`): after dist_install_stop_signals, SIGTERM and SIGUSR1 only record the signal
// in a process-wide flag (the handler does nothing else, and interrupted system calls restart). Slurm and
// mpirun signal the ranks at slightly different moments, or only some of them, so the flag becomes a decision
// only through dist_stop_requested, which every rank calls at the same point.
void dist_install_stop_signals(void);
// The first stop signal this process received, 0 if none (local: no communication).
int dist_stop_signal(void);
// Collective: the signal received by any rank (the highest number if several), 0 if none; every rank returns
// the same value.
int dist_stop_requested(void);

#endif

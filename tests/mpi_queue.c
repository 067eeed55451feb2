// The shared work queue and the all-to-all of base/dist, run by tests/it_sched.sh under mpirun -np 1/2/4.
// Queue: every rank takes items until the count is reached, at uneven speeds (rank r sleeps r·50 µs per item,
// so fast ranks take more); the items gathered from all ranks must be 0..n-1, each exactly once, for several
// queues in a row. All-to-all: rank s sends rank r (s + r) % 3 + s bytes of value 16·s + r; each rank checks
// what it got against the same formula. Gathers and group all-to-alls: the same kind of pattern. Under
// RLVR_TEST_MPI_LIMIT=N (tests/it_sched.sh) every one of them passes N bytes at most per MPI message, as a transfer
// past 2 GiB does. Rank 0 prints one line per check; the exit status is 1 when any failed.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/dist.h"

static int failures;

static void check(int ok, const char *what) {
    int64_t bad = !ok;
    dist_allreduce_sum_i64(&bad, 1);
    if (dist_is_root()) printf("%s %s\n", bad ? "FAIL" : "ok  ", what);
    failures += bad != 0;
}

static int queue_hands_out_each_item_once(int64_t n) {
    DistQueue *q = dist_queue_create();
    int64_t *mine = malloc((size_t)(n + 1) * sizeof *mine), k = 0, i;
    while ((i = dist_queue_next(q)) < n) {
        mine[k++] = i;
        nanosleep(&(struct timespec){0, 50000L * dist_rank()}, NULL);
    }
    dist_queue_free(q);
    size_t total;
    int64_t *all = dist_allgatherv_i64(mine, (size_t)k, &total, NULL);
    int ok = total == (size_t)n;
    char *seen = calloc((size_t)n + 1, 1);
    for (size_t j = 0; j < total && ok; j++) ok = all[j] >= 0 && all[j] < n && !seen[all[j]]++;
    free(mine), free(all), free(seen);
    return ok;
}

static int alltoall_delivers(void) {
    int R = dist_size(), me = dist_rank();
    int64_t send_bytes[R], recv_bytes[R], off = 0;
    for (int r = 0; r < R; r++) send_bytes[r] = (me + r) % 3 + me, off += send_bytes[r];
    unsigned char *send = malloc((size_t)off + 1), *p = send;
    for (int r = 0; r < R; r++) memset(p, 16 * me + r, (size_t)send_bytes[r]), p += send_bytes[r];
    size_t n;
    unsigned char *got = dist_alltoallv_bytes(send, send_bytes, &n, recv_bytes);
    int ok = 1;
    size_t at = 0;
    for (int s = 0; s < R; s++) {
        ok &= recv_bytes[s] == (s + me) % 3 + s;
        for (int64_t b = 0; b < recv_bytes[s] && ok; b++) ok = got[at + (size_t)b] == (unsigned char)(16 * s + me);
        at += (size_t)recv_bytes[s];
    }
    ok &= at == n;
    free(send), free(got);
    return ok;
}

// Rank r gathers (r % 3) * 3 bytes of value r + 1 (rank 0 none): to every rank, then to rank 0 only.
static int gathers_deliver(void) {
    int R = dist_size(), me = dist_rank(), ok = 1;
    unsigned char mine[8];
    size_t n = (size_t)(me % 3) * 3, total, at = 0;
    memset(mine, me + 1, sizeof mine);
    for (int root_only = 0; root_only < 2; root_only++) {
        unsigned char *all = root_only ? dist_gatherv_bytes(mine, n, &total, NULL) : dist_allgatherv_bytes(mine, n, &total, NULL);
        if (root_only && me != 0) continue;
        at = 0;
        for (int r = 0; r < R; r++)
            for (int b = 0; b < r % 3 * 3 && ok; b++, at++) ok = at < total && all[at] == (unsigned char)(r + 1);
        ok &= at == total;
        free(all);
    }
    return ok;
}

// Within groups of the ranks of one parity, the place-p rank gets (s + p) % 3 + 2 bytes of value 16 s + p from the
// place-s rank, through both group all-to-alls (the second into a buffer sized from the first's counts).
static int group_alltoall_delivers(void) {
    DistGroup *g = dist_group_create(dist_rank() % 2);
    int P = dist_group_size(g), me = dist_group_rank(g), ok = 1;
    int64_t send_bytes[P], recv_bytes[P], off = 0;
    for (int p = 0; p < P; p++) send_bytes[p] = (me + p) % 3 + 2, off += send_bytes[p];
    unsigned char *send = malloc((size_t)off), *q = send;
    for (int p = 0; p < P; p++) memset(q, 16 * me + p, (size_t)send_bytes[p]), q += send_bytes[p];
    size_t n;
    unsigned char *got = dist_group_alltoallv_bytes(g, send, send_bytes, &n, recv_bytes);
    unsigned char *into = malloc(n + 1);
    dist_group_alltoallv_into(g, send, send_bytes, into, recv_bytes, false);
    size_t at = 0;
    for (int s = 0; s < P; s++) {
        ok &= recv_bytes[s] == (s + me) % 3 + 2;
        for (int64_t b = 0; b < recv_bytes[s] && ok; b++, at++) ok = got[at] == (unsigned char)(16 * s + me) && into[at] == got[at];
    }
    ok &= at == n;
    free(send), free(got), free(into);
    dist_group_free(g);
    return ok;
}

int main(int argc, char **argv) {
    dist_init(&argc, &argv);
    check(queue_hands_out_each_item_once(0), "queue: no items, nobody gets one");
    check(queue_hands_out_each_item_once(1), "queue: one item goes to exactly one rank");
    check(queue_hands_out_each_item_once(257), "queue: 257 items, each exactly once over the ranks");
    check(queue_hands_out_each_item_once(40), "queue: a second queue starts again at 0");
    check(alltoall_delivers(), "all-to-all: every rank gets each sender's bytes, in rank order");
    check(gathers_deliver(), "all-gather and gather to rank 0: each rank's bytes, in rank order");
    check(group_alltoall_delivers(), "group all-to-alls: every place gets each sender's bytes, in place order");
    dist_finalize();
    return failures != 0;
}

// The shared work queue and the all-to-all of base/dist, run by tests/it_sched.sh under mpirun -np 1/2/4.
// Queue: every rank takes items until the count is reached, at uneven speeds (rank r sleeps r·50 µs per item,
// so fast ranks take more); the items gathered from all ranks must be 0..n-1, each exactly once, for several
// queues in a row. All-to-all: rank s sends rank r (s + r) % 3 + s bytes of value 16·s + r; each rank checks
// what it got against the same formula. Rank 0 prints one line per check; the exit status is 1 when any failed.
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

int main(int argc, char **argv) {
    dist_init(&argc, &argv);
    check(queue_hands_out_each_item_once(0), "queue: no items, nobody gets one");
    check(queue_hands_out_each_item_once(1), "queue: one item goes to exactly one rank");
    check(queue_hands_out_each_item_once(257), "queue: 257 items, each exactly once over the ranks");
    check(queue_hands_out_each_item_once(40), "queue: a second queue starts again at 0");
    check(alltoall_delivers(), "all-to-all: every rank gets each sender's bytes, in rank order");
    dist_finalize();
    return failures != 0;
}

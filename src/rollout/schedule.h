// The order in which a dynamic schedule (rollout.schedule = dynamic) hands out a generation batch's groups:
// largest expected work first, so that the long groups start early and the short ones fill the gaps at the
// end (longest-processing-time-first list scheduling). The expected work of a group is its prompt length, the
// one cost every rank knows before sampling. Groups go out in chunks that shrink as the queue empties.
#ifndef RLVR_SCHEDULE_H
#define RLVR_SCHEDULE_H

// Guided self-scheduling of n items over `world` ranks: chunk k is items [start[k], start[k + 1]) of the order
// above, of max(1, floor(remaining / (2 world))) items, so a rank's early takes batch several groups into one
// sampler call and the last ones, single groups, fill the gaps at the end. Returns the number of chunks; start
// needs n + 1 entries.
int schedule_chunks(int n, int world, int *start);

// order[k] = the position (0 .. n-1) of the k-th group to hand out: prompt_len descending, ties by position.
void schedule_longest_first(const int *prompt_len, int n, int *order);

#endif

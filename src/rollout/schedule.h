// The order in which a dynamic schedule (rollout.schedule = dynamic) hands out a generation batch's groups:
// largest expected work first, so that the long groups start early and the short ones fill the gaps at the
// end (longest-processing-time-first list scheduling). The expected work of a group is its prompt length, the
// one cost every rank knows before sampling.
#ifndef RLVR_SCHEDULE_H
#define RLVR_SCHEDULE_H

// order[k] = the position (0 .. n-1) of the k-th group to hand out: prompt_len descending, ties by position.
void schedule_longest_first(const int *prompt_len, int n, int *order);

#endif

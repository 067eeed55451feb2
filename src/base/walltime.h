// Monotonic wall clock and process CPU time for step timing and benchmarks.
#ifndef RLVR_WALLTIME_H
#define RLVR_WALLTIME_H

// Seconds since an arbitrary fixed point (CLOCK_MONOTONIC).
double walltime_s(void);

// CPU seconds of every thread of this process (CLOCK_PROCESS_CPUTIME_ID): on a shared machine it leaves out
// other processes.
double cputime_s(void);
// Minor page faults of the process so far (getrusage): a steady state that reuses its memory adds none.
long minor_faults(void);

#endif

// Monotonic wall clock for step timing and benchmarks.
#ifndef RLVR_WALLTIME_H
#define RLVR_WALLTIME_H

// Seconds since an arbitrary fixed point (CLOCK_MONOTONIC).
double walltime_s(void);

#endif

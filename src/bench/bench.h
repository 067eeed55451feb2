// Benchmarks behind `rlvr bench NAME`: each prints one JSON line per measurement (DESIGN.md Conventions).
#ifndef RLVR_BENCH_H
#define RLVR_BENCH_H

// Model forward and forward+backward throughput (src/bench/bench_model.c).
int bench_model(int argc, char **argv);

#endif

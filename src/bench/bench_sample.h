// `rlvr bench sample`: decoding throughput against the memory-bandwidth limit (JSON lines).
#ifndef RLVR_BENCH_SAMPLE_H
#define RLVR_BENCH_SAMPLE_H

// argv[0] is "sample"; returns the process exit code like the subcommands.
int bench_sample(int argc, char **argv);

#endif

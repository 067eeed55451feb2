// `rlvr bench loss` (dispatched from cmd_bench.c).
#ifndef RLVR_BENCH_LOSS_H
#define RLVR_BENCH_LOSS_H

int bench_loss(int argc, char **argv);

#endif

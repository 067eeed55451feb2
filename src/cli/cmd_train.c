// `rlvr train`: RL training under mpirun (src/README.md "One RL step").
#include "cli/commands.h"
#include "cli/train_cli.h"

static const char ABOUT[] =
    "RL training (algo.name: grpo, dapo, drgrpo, gspo, luspo, grpo_lambda, sspo) for train.steps steps; run under\n"
    "mpirun -np N for data parallelism (each rank samples whole groups; gradients are summed over ranks).";

static const char NOTES[] =
    "D gets config.ini, metrics.jsonl (one JSON line per step), eval.jsonl (held-out greedy/sampled accuracy),\n"
    "log.txt and ckpt/step-NNNNNN.h5 (every checkpoint.every steps and at the end; the newest checkpoint.keep).\n"
    "dist.deterministic=true makes the weights bit-identical for any number of ranks.\n"
    "SIGTERM or SIGUSR1 (any rank) ends the run after the current step with a checkpoint; exit status 75.";

int cmd_train(int argc, char **argv) { return train_cli_main(TRAIN_RL, ABOUT, NOTES, argc, argv); }

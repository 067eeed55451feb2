// `rlvr train`: RL training under mpirun (DESIGN.md "One RL step").
#include "cli/commands.h"
#include "cli/train_cli.h"

static const char USAGE[] =
    "usage: rlvr train --config F --run-dir D [--init CKPT] [--resume[=auto]] [--set section.key=value ...]\n"
    "RL training (algo.name: grpo, dapo, drgrpo, gspo, luspo, grpo_lambda, sspo) for train.steps steps; run under\n"
    "mpirun -np N for data parallelism (each rank samples whole groups; gradients are summed over ranks).\n"
    "  --init CKPT   start from the weights of CKPT (e.g. the last checkpoint of `rlvr sft`); default random init\n"
    "  --resume      continue from the highest D/ckpt/step-NNNNNN.h5 (any number of ranks); the config is\n"
    "                D/config.ini unless --config is given\n"
    "  --resume=auto --resume when D has a checkpoint, else a fresh start (with --init if given): the same\n"
    "                command starts a run and continues it after a preemption (launch/slurm.sbatch, local.sh)\n"
    "SIGTERM or SIGUSR1 (any rank) ends the run after the current step with a checkpoint; exit status 75.\n"
    "D gets config.ini, metrics.jsonl (one JSON line per step), eval.jsonl (held-out greedy/sampled accuracy),\n"
    "log.txt and ckpt/step-NNNNNN.h5 (every checkpoint.every steps and at the end; the newest checkpoint.keep).\n"
    "dist.deterministic=true makes the weights bit-identical for any number of ranks.\n";

int cmd_train(int argc, char **argv) { return train_cli_main(TRAIN_RL, USAGE, argc, argv); }

// `rlvr sft`: supervised warm start on the task's reference solutions.
#include "cli/commands.h"
#include "cli/train_cli.h"

static const char USAGE[] =
    "usage: rlvr sft --config F --run-dir D [--init CKPT] [--resume[=auto]] [--set section.key=value ...]\n"
    "Supervised warm start: token-mean cross-entropy on reference solutions (embedded tasks) for sft.steps steps\n"
    "of sft.batch_size sequences at peak learning rate sft.lr, with the optimizer, schedule, micro-batching,\n"
    "checkpoints, run directory, --resume[=auto] and stop signals of `rlvr train`. Pass D/ckpt/step-NNNNNN.h5\n"
    "to `rlvr train --init`.\n";

int cmd_sft(int argc, char **argv) { return train_cli_main(TRAIN_SFT, USAGE, argc, argv); }

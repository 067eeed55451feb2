// `rlvr sft`: supervised warm start on the task's reference solutions.
#include "cli/commands.h"
#include "cli/train_cli.h"

static const char ABOUT[] =
    "Supervised warm start: token-mean cross-entropy on reference solutions (embedded tasks) for sft.steps steps\n"
    "of sft.batch_size sequences at peak learning rate sft.lr, with the optimizer, schedule, micro-batching,\n"
    "checkpoints, run directory, --resume[=auto] and stop signals of `rlvr train`. Pass D/ckpt/step-NNNNNN.h5\n"
    "to `rlvr train --init`.";

int cmd_sft(int argc, char **argv) { return train_cli_main(TRAIN_SFT, ABOUT, NULL, argc, argv); }

// Command line shared by `rlvr sft` and `rlvr train` (src/cli/cmd_sft.c, src/cli/cmd_train.c).
#ifndef RLVR_TRAIN_CLI_H
#define RLVR_TRAIN_CLI_H

#include "train/trainer.h"

// Parses --config/--set/--run-dir/--init/--resume (and the hidden --stop-after N of the tests) and runs;
// `about` and `notes` are the command's help text around the options.
int train_cli_main(TrainKind kind, const char *about, const char *notes, int argc, char **argv);

#endif

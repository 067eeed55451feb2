// `rlvr train`: placeholder until its issue lands; prints its planned usage.
#include <stdio.h>

#include "cli.h"
#include "commands.h"

static const char USAGE[] = "usage: rlvr train --config F --run-dir D [--init CKPT] [--resume] [--set section.key=value ...]\nRL training under mpirun (issue: training).\n";

int cmd_train(int argc, char **argv) {
    if (argc > 1 && cli_is_help(argv[1])) {
        fputs(USAGE, stdout);
        return 0;
    }
    fputs(USAGE, stderr);
    fprintf(stderr, "rlvr train: not implemented yet\n");
    return 1;
}

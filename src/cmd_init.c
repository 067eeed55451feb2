// `rlvr init`: placeholder until its issue lands; prints its planned usage.
#include <stdio.h>

#include "cli.h"
#include "commands.h"

static const char USAGE[] = "usage: rlvr init --config F --out CKPT.h5 [--set ...]\nWrite a seeded random model as an HDF5 checkpoint.\n";

int cmd_init(int argc, char **argv) {
    if (argc > 1 && cli_is_help(argv[1])) {
        fputs(USAGE, stdout);
        return 0;
    }
    fputs(USAGE, stderr);
    fprintf(stderr, "rlvr init: not implemented yet\n");
    return 1;
}

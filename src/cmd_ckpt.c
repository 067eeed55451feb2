// `rlvr ckpt`: placeholder until its issue lands; prints its planned usage.
#include <stdio.h>

#include "cli.h"
#include "commands.h"

static const char USAGE[] = "usage: rlvr ckpt info|stats C | diff A B\nInspect checkpoints.\n";

int cmd_ckpt(int argc, char **argv) {
    if (argc > 1 && cli_is_help(argv[1])) {
        fputs(USAGE, stdout);
        return 0;
    }
    fputs(USAGE, stderr);
    fprintf(stderr, "rlvr ckpt: not implemented yet\n");
    return 1;
}

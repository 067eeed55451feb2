// `rlvr loss`: placeholder until its issue lands; prints its planned usage.
#include <stdio.h>

#include "cli.h"
#include "commands.h"

static const char USAGE[] = "usage: rlvr loss --algo A --in X.h5 --out Y.h5 [--set ...]\nEvaluate an objective and its gradient on arrays.\n";

int cmd_loss(int argc, char **argv) {
    if (argc > 1 && cli_is_help(argv[1])) {
        fputs(USAGE, stdout);
        return 0;
    }
    fputs(USAGE, stderr);
    fprintf(stderr, "rlvr loss: not implemented yet\n");
    return 1;
}

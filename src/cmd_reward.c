// `rlvr reward`: placeholder until its issue lands; prints its planned usage.
#include <stdio.h>

#include "cli.h"
#include "commands.h"

static const char USAGE[] = "usage: rlvr reward --task T --in R.jsonl --out S.jsonl [--config F] [--set ...]\nVerify responses and compute rewards.\n";

int cmd_reward(int argc, char **argv) {
    if (argc > 1 && cli_is_help(argv[1])) {
        fputs(USAGE, stdout);
        return 0;
    }
    fputs(USAGE, stderr);
    fprintf(stderr, "rlvr reward: not implemented yet\n");
    return 1;
}

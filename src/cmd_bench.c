// `rlvr bench`: placeholder until its issue lands; prints its planned usage.
#include <stdio.h>

#include "cli.h"
#include "commands.h"

static const char USAGE[] = "usage: rlvr bench model|sample|loss [--set ...]\nBenchmarks as JSON lines.\n";

int cmd_bench(int argc, char **argv) {
    if (argc > 1 && cli_is_help(argv[1])) {
        fputs(USAGE, stdout);
        return 0;
    }
    fputs(USAGE, stderr);
    fprintf(stderr, "rlvr bench: not implemented yet\n");
    return 1;
}

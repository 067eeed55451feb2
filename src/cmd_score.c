// `rlvr score`: placeholder until its issue lands; prints its planned usage.
#include <stdio.h>

#include "cli.h"
#include "commands.h"

static const char USAGE[] = "usage: rlvr score --ckpt C --in SEQS.jsonl --out OUT.h5 [--set rollout.temperature=T]\nLog-probs and entropies of given responses.\n";

int cmd_score(int argc, char **argv) {
    if (argc > 1 && cli_is_help(argv[1])) {
        fputs(USAGE, stdout);
        return 0;
    }
    fputs(USAGE, stderr);
    fprintf(stderr, "rlvr score: not implemented yet\n");
    return 1;
}

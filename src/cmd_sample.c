// `rlvr sample`: placeholder until its issue lands; prints its planned usage.
#include <stdio.h>

#include "cli.h"
#include "commands.h"

static const char USAGE[] = "usage: rlvr sample --ckpt C --prompts P.jsonl --n G --out R.jsonl [--set rollout.KEY=VALUE ...]\nGenerate G responses per prompt with log-probs and entropies.\n";

int cmd_sample(int argc, char **argv) {
    if (argc > 1 && cli_is_help(argv[1])) {
        fputs(USAGE, stdout);
        return 0;
    }
    fputs(USAGE, stderr);
    fprintf(stderr, "rlvr sample: not implemented yet\n");
    return 1;
}

// `rlvr config`: resolve a config file plus overrides and print every key.
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "base/dist.h"

static const char USAGE[] =
    "usage: rlvr config [--config F] [--set section.key=value ...]\n"
    "Prints the resolved configuration (defaults, then F, then each --set, then presets) as INI.\n"
    "Errors name the file and line or the --set and what was expected.\n";

int cmd_config(int argc, char **argv) {
    ConfigArgs args = {0};
    Err e = {{0}};
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) return fputs(USAGE, stdout), 0;
        int r = cli_config_arg(&args, argc, argv, &i, &e);
        if (r < 0) return fprintf(stderr, "rlvr config: %s\n", e.msg), 2;
        if (r == 0) return fprintf(stderr, "rlvr config: unknown option '%s'\n%s", argv[i], USAGE), 2;
    }
    Config c;
    if (cli_resolve_config(&args, &c, 0, &e)) return fprintf(stderr, "rlvr: %s\n", e.msg), 1;
    if (dist_is_root()) config_print(stdout, &c);
    return 0;
}

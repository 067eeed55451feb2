// `rlvr config`: resolve a config file plus overrides and print every key.
#include <stdio.h>

#include "base/dist.h"
#include "cli/cli.h"
#include "cli/commands.h"

typedef struct {
    ConfigArgs cfg;
} ConfigCmdArgs;

static const CliOpt OPTS[] = {
    CLI_CONFIG_OPTS(ConfigCmdArgs, cfg, 0),
};

static const CliSpec SPEC = CLI_SPEC(
    "rlvr config",
    "Prints the resolved configuration (defaults, then F, then each --set, then presets) as INI.\n"
    "Errors name the file and line or the --set and what was expected.",
    OPTS, NULL);

int cmd_config(int argc, char **argv) {
    ConfigCmdArgs a = {0};
    int rc;
    if (!cli_parse(&SPEC, argc, argv, &a, &rc)) return rc;
    Config c;
    Err e = {{0}};
    if (cli_resolve_config(&a.cfg, &c, &e)) return fprintf(stderr, "rlvr: %s\n", e.msg), 1;
    if (dist_is_root()) config_print(stdout, &c);
    return 0;
}

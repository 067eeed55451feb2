// Shared command-line handling for the subcommands: --config/--set collection, usage, errors.
#ifndef RLVR_CLI_H
#define RLVR_CLI_H

#include "base/config.h"

#define CLI_MAX_SETS 256

// Options every config-driven subcommand accepts.
typedef struct {
    const char *config;               // --config F
    const char *sets[CLI_MAX_SETS];   // --set section.key=value, in order
    int n_sets;
} ConfigArgs;

// If argv[*i] is --config/--set (as "--opt V" or "--opt=V"), consumes it (advancing *i) and returns 1;
// returns 0 for other arguments and -1 with a message in e for a malformed one.
int cli_config_arg(ConfigArgs *a, int argc, char **argv, int *i, Err *e);

// Value of option `name` at argv[*i] ("--name V" or "--name=V"): returns it and advances *i, or NULL.
const char *cli_value(const char *name, int argc, char **argv, int *i, Err *e);

// True for -h / --help.
int cli_is_help(const char *arg);

// Resolves the config of a ConfigArgs (file optional unless required).
int cli_resolve_config(const ConfigArgs *a, Config *c, int require_file, Err *e);

// Parses a whole number option value; errors name the option.
int cli_parse_int(const char *option, const char *value, long long min, long long max, long long *out, Err *e);

#endif

#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int cli_is_help(const char *arg) { return !strcmp(arg, "-h") || !strcmp(arg, "--help"); }

const char *cli_value(const char *name, int argc, char **argv, int *i, Err *e) {
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n)) return NULL;
    if (arg[n] == '=') return arg + n + 1;
    if (arg[n]) return NULL;
    if (*i + 1 >= argc) {
        err_set(e, "%s needs a value", name);
        return NULL;
    }
    return argv[++*i];
}

int cli_config_arg(ConfigArgs *a, int argc, char **argv, int *i, Err *e) {
    e->msg[0] = 0;
    const char *v;
    if ((v = cli_value("--config", argc, argv, i, e))) {
        a->config = v;
        return 1;
    }
    if (e->msg[0]) return -1;
    if ((v = cli_value("--set", argc, argv, i, e))) {
        if (a->n_sets == CLI_MAX_SETS) return err_set(e, "more than %d --set options", CLI_MAX_SETS);
        a->sets[a->n_sets++] = v;
        return 1;
    }
    return e->msg[0] ? -1 : 0;
}

int cli_resolve_config(const ConfigArgs *a, Config *c, int require_file, Err *e) {
    if (require_file && !a->config) return err_set(e, "--config FILE is required");
    return config_resolve(c, a->config, a->sets, a->n_sets, e);
}

int cli_parse_int(const char *option, const char *value, long long min, long long max, long long *out, Err *e) {
    char *end = NULL;
    errno = 0;
    long long x = strtoll(value, &end, 10);
    if (!*value || *end || errno || x < min || x > max)
        return err_set(e, "%s '%s': expected an integer in [%lld, %lld]", option, value, min, max);
    *out = x;
    return 0;
}

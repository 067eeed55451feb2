// One table-driven command-line parser for every subcommand: each declares a static table of its options
// and gets parsing, the error messages (with "did you mean" hints) and its --help text from that table.
#ifndef RLVR_CLI_H
#define RLVR_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/config.h"

#define CLI_MAX_LIST 256  // values of one repeated option
#define CLI_MAX_OPTS 32   // rows of one table

typedef enum {
    CLI_FLAG,        // --name: sets a bool
    CLI_STRING,      // --name V or --name=V: sets a const char * (the last one given wins)
    CLI_INT,         // --name N, a whole number in [min, max] (decimal, no spaces): sets an int64_t
    CLI_LIST,        // --name V, repeatable: appends to a CliList in order
    CLI_INT_LIST,    // --name N, repeatable, each a whole number in [min, max]: appends to a CliIntList in order
    CLI_POSITIONAL,  // a bare argument; positionals are filled in table order: sets a const char *
    CLI_OPTIONAL,    // --name or --name=V (never the next argument; V not empty): sets a const char *, "" when bare
} CliKind;

enum { CLI_REQUIRED = 1, CLI_HIDDEN = 2 };  // CliOpt.flags; hidden options (for tests) stay out of help and hints

typedef struct {
    const char *name;   // "--run-dir"; for a positional, its placeholder ("CKPT")
    CliKind kind;
    const char *value;  // placeholder of the value in usage ("D"); NULL for flags and positionals
    size_t offset;      // of the field in the command's options struct
    int64_t min, max;   // CLI_INT range
    int flags;          // CLI_REQUIRED | CLI_HIDDEN
    const char *help;   // one line of --help (wrapped when printed)
} CliOpt;

typedef struct {
    const char *items[CLI_MAX_LIST];
    int n;
} CliList;

typedef struct {
    int64_t items[CLI_MAX_LIST];
    int n;
} CliIntList;

typedef struct {
    const char *prog;   // "rlvr train": starts the usage line and every message
    const char *about;  // what the command does, printed after the usage line
    const CliOpt *opts;
    size_t n_opts;
    const char *notes;  // printed after the options, or NULL
} CliSpec;

// Table rows. The field's type is checked at compile time against the kind (bool, const char *, int64_t,
// CliList, CliIntList), so a row can never write the wrong type.
#define CLI_FIELD_(type, field, ctype) (offsetof(type, field) + 0 * sizeof(_Generic(((type *)0)->field, ctype: 1)))
#define CLI_OPT_FLAG(name, type, field, flags, help) \
    {name, CLI_FLAG, NULL, CLI_FIELD_(type, field, bool), 0, 0, flags, help}
#define CLI_OPT_STRING(name, value, type, field, flags, help) \
    {name, CLI_STRING, value, CLI_FIELD_(type, field, const char *), 0, 0, flags, help}
#define CLI_OPT_INT(name, value, type, field, lo, hi, flags, help) \
    {name, CLI_INT, value, CLI_FIELD_(type, field, int64_t), lo, hi, flags, help}
#define CLI_OPT_LIST(name, value, type, field, flags, help) \
    {name, CLI_LIST, value, CLI_FIELD_(type, field, CliList), 0, 0, flags, help}
#define CLI_OPT_INT_LIST(name, value, type, field, lo, hi, flags, help) \
    {name, CLI_INT_LIST, value, CLI_FIELD_(type, field, CliIntList), lo, hi, flags, help}
#define CLI_OPT_OPTIONAL(name, value, type, field, flags, help) \
    {name, CLI_OPTIONAL, value, CLI_FIELD_(type, field, const char *), 0, 0, flags, help}
#define CLI_ARG(name, type, field, flags, help) \
    {name, CLI_POSITIONAL, NULL, CLI_FIELD_(type, field, const char *), 0, 0, flags, help}
#define CLI_SPEC(prog, about, opts, notes) {prog, about, opts, sizeof opts / sizeof opts[0], notes}

// Options of every config-driven command.
typedef struct {
    const char *config;  // --config F
    CliList sets;        // --set section.key=value, in order
} ConfigArgs;

// The --config and --set rows for a ConfigArgs member `field` of `type`.
#define CLI_CONFIG_OPTS(type, field, config_flags)                                                          \
    CLI_OPT_STRING("--config", "F", type, field.config, config_flags,                                       \
                   "configuration file (INI); keys it does not set keep their defaults (rlvr config shows all)"), \
    CLI_OPT_LIST("--set", "section.key=value", type, field.sets, 0,                                         \
                 "override one key after the file; repeatable, applied in order")

// Parses argv[1..argc) (argv[0] names the command) into out, in order; `--` ends the options. Returns 1 to
// run the command, 0 for -h/--help, or -1 with one message in e: an unknown option (with a hint), a missing
// value, a bad number (option, value, range), an unexpected argument, or a missing required option.
int cli_parse_args(const CliSpec *s, int argc, char **argv, void *out, Err *e);

// For commands: cli_parse_args, then true to run; otherwise *exit_code is 0 after the help (stdout) or 2
// after "PROG: message" and the usage line (stderr).
bool cli_parse(const CliSpec *s, int argc, char **argv, void *out, int *exit_code);

// A usage error found after parsing (options that exclude each other): printed like cli_parse's; returns 2.
int cli_usage_error(const CliSpec *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// The usage line, and the whole --help text (usage, about, every option but the hidden ones, notes).
void cli_print_usage(FILE *f, const CliSpec *s);
void cli_print_help(FILE *f, const CliSpec *s);

// Appends item (or puts it first); fails when the list is full.
int cli_list_add(CliList *l, const char *item, Err *e);
int cli_list_prepend(CliList *l, const char *item, Err *e);

// Defaults, then the --config file (when given), then the --sets, then presets and checks.
int cli_resolve_config(const ConfigArgs *a, Config *c, Err *e);
// The same with the checkpoint's stored config in place of the defaults when there is no --config (as rlvr eval):
// its tokenizer, prompt template and sampling settings are the ones the model was trained with.
int cli_resolve_config_ckpt(const ConfigArgs *a, const char *ckpt, Config *c, Err *e);

// A command of a group ("rlvr SUBCOMMAND", "rlvr bench NAME"), run with argv[0] = its name.
typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    const CliSpec *spec;  // shown in the group's help next to the name; NULL = name only
    bool hidden;          // for tests: not listed or suggested
} CliCommand;

typedef struct {
    const char *prog;     // "rlvr bench"
    const char *metavar;  // "NAME" in the usage line
    const char *what;     // "benchmark": "unknown benchmark 'x'", "benchmarks:"
    const char *about;    // after the usage line, or NULL
    const CliCommand *cmds;
    size_t n;
    const char *notes;    // after the list, or NULL
} CliGroup;

// The command argv[1] names; NULL after -h/--help/help (*exit_code 0, help on stdout) or a missing or
// unknown name (*exit_code 2; the message with a hint and the group's help on stderr). "help NAME" is rewritten in
// argv as "NAME --help".
const CliCommand *cli_find_command(const CliGroup *g, int argc, char **argv, int *exit_code);
void cli_print_group_help(FILE *f, const CliGroup *g);

#endif

// The table-driven command-line parser (src/cli/cli.c): both value forms, repeats, positionals, `--`, and
// exactly one message for each kind of mistake.
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

typedef struct {
    ConfigArgs cfg;
    const char *out, *in;
    bool resume;
    int64_t n, secret;
} Args;

static const CliOpt OPTS[] = {
    CLI_OPT_STRING("--out", "F", Args, out, CLI_REQUIRED, "where the output goes"),
    CLI_OPT_STRING("--in", "F", Args, in, 0, "input"),
    CLI_OPT_FLAG("--resume", Args, resume, 0, "continue"),
    CLI_OPT_INT("--n", "G", Args, n, 1, 64, 0, "group size"),
    CLI_OPT_INT("--stop-after", "N", Args, secret, 1, 9, CLI_HIDDEN, "tests only"),
    CLI_CONFIG_OPTS(Args, cfg, 0),
};
static const CliSpec SPEC = CLI_SPEC("rlvr demo", "Does a demo.", OPTS, "A note.");

typedef struct {
    const char *a, *b;
    bool exact;
} PosArgs;

static const CliOpt POS_OPTS[] = {
    CLI_ARG("A", PosArgs, a, CLI_REQUIRED, "first"),
    CLI_ARG("B", PosArgs, b, CLI_REQUIRED, "second"),
    CLI_OPT_FLAG("--exact", PosArgs, exact, 0, "bit for bit"),
};
static const CliSpec POS = CLI_SPEC("rlvr pair", NULL, POS_OPTS, NULL);

typedef struct {
    const char *x, *y, *z;
} ReqArgs;

static const CliOpt REQ_OPTS[] = {
    CLI_OPT_STRING("--x", "X", ReqArgs, x, CLI_REQUIRED, "x"),
    CLI_OPT_STRING("--y", "Y", ReqArgs, y, CLI_REQUIRED, "y"),
    CLI_OPT_STRING("--z", "Z", ReqArgs, z, CLI_REQUIRED, "z"),
};
static const CliSpec REQ = CLI_SPEC("rlvr req", NULL, REQ_OPTS, NULL);

// Parses the NULL-terminated words (argv[0] = "cmd") against spec into out.
static int parse_words(const CliSpec *spec, void *out, Err *e, const char **words) {
    char *argv[64] = {"cmd"};
    int argc = 1;
    while (words[argc - 1]) argv[argc] = (char *)words[argc - 1], argc++;
    return cli_parse_args(spec, argc, argv, out, e);
}
#define PARSE(spec, out, e, ...) parse_words(spec, out, e, (const char *[]){__VA_ARGS__, NULL})

// The words fail with exactly `want`.
#define EXPECT_ERROR(spec, want, ...)                                                                   \
    do {                                                                                                \
        union {                                                                                         \
            Args a;                                                                                     \
            PosArgs p;                                                                                  \
            ReqArgs r;                                                                                  \
        } out_ = {0};                                                                                   \
        Err e_ = {{0}};                                                                                 \
        cr_expect_eq(PARSE(spec, &out_, &e_, __VA_ARGS__), -1, "accepted: " #__VA_ARGS__);              \
        cr_expect_str_eq(e_.msg, want);                                                                 \
    } while (0)

Test(cli, both_value_forms_and_every_kind) {
    Args a = {0};
    Err e = {{0}};
    cr_assert_eq(PARSE(&SPEC, &a, &e, "--out", "o.h5", "--in=i.h5", "--resume", "--n=3", "--stop-after", "2"), 1,
                 "%s", e.msg);
    cr_expect_str_eq(a.out, "o.h5");
    cr_expect_str_eq(a.in, "i.h5");
    cr_expect(a.resume);
    cr_expect_eq(a.n, 3);
    cr_expect_eq(a.secret, 2, "hidden options are accepted");
    cr_expect_eq(a.cfg.config, NULL);
    cr_expect_eq(a.cfg.sets.n, 0);
}

Test(cli, repeated_options) {
    Args a = {0};
    Err e = {{0}};
    cr_assert_eq(PARSE(&SPEC, &a, &e, "--set", "a.b=1", "--out", "x", "--set=c.d=2", "--set", "a.b=3"), 1, "%s", e.msg);
    cr_expect_eq(a.cfg.sets.n, 3);
    cr_expect_str_eq(a.cfg.sets.items[0], "a.b=1");
    cr_expect_str_eq(a.cfg.sets.items[1], "c.d=2", "--set=V keeps everything after the first '='");
    cr_expect_str_eq(a.cfg.sets.items[2], "a.b=3");
    cr_expect_str_eq(a.out, "x");
}

// Only lists repeat: a second value of any other option is a slip the later value would silently hide.
Test(cli, single_options_given_twice_are_refused) {
    EXPECT_ERROR(&SPEC, "--out given twice: give it once", "--out", "x", "--out=y");
    EXPECT_ERROR(&SPEC, "--n given twice: give it once", "--n=3", "--in", "i", "--n", "3");
    EXPECT_ERROR(&SPEC, "--resume given twice: give it once", "--resume", "--resume");
    EXPECT_ERROR(&SPEC, "--config given twice: give it once", "--config", "a.ini", "--config", "b.ini");
}

Test(cli, list_limit_and_prepend) {
    CliList l = {0};
    Err e = {{0}};
    for (int i = 0; i < CLI_MAX_LIST; i++) cr_assert_eq(cli_list_add(&l, i ? "b" : "a", &e), 0);
    cr_expect_eq(cli_list_add(&l, "c", &e), -1);
    cr_expect_str_eq(e.msg, "more than 256 values");
    l.n = 2;
    cr_assert_eq(cli_list_prepend(&l, "first", &e), 0);
    cr_expect_eq(l.n, 3);
    cr_expect_str_eq(l.items[0], "first");
    cr_expect_str_eq(l.items[1], "a");
    cr_expect_str_eq(l.items[2], "b");
}

Test(cli, too_many_repeats_name_the_option) {
    static const char *words[CLI_MAX_LIST * 2 + 4];
    int n = 0;
    words[n++] = "--out", words[n++] = "x";
    for (int i = 0; i <= CLI_MAX_LIST; i++) words[n++] = "--set", words[n++] = "a.b=1";
    char *argv[CLI_MAX_LIST * 2 + 8] = {"cmd"};
    for (int i = 0; i < n; i++) argv[i + 1] = (char *)words[i];
    Args a = {0};
    Err e = {{0}};
    cr_expect_eq(cli_parse_args(&SPEC, n + 1, argv, &a, &e), -1);
    cr_expect_str_eq(e.msg, "--set: more than 256 values");
}

Test(cli, unknown_option_with_and_without_hint) {
    EXPECT_ERROR(&SPEC, "unknown option '--ot' (did you mean '--out'?)", "--ot", "x");
    EXPECT_ERROR(&SPEC, "unknown option '--resum' (did you mean '--resume'?)", "--out", "x", "--resum=1");
    EXPECT_ERROR(&SPEC, "unknown option '--frobnicate'", "--frobnicate");
    EXPECT_ERROR(&SPEC, "unknown option '-x'", "-x");
    EXPECT_ERROR(&SPEC, "unknown option '--hlep' (did you mean '--help'?)", "--hlep");
    EXPECT_ERROR(&SPEC, "unknown option '--stop-aftr'", "--stop-aftr", "2");  // hidden: never suggested
}

Test(cli, missing_values) {
    EXPECT_ERROR(&SPEC, "--out needs a value: --out F", "--out");
    EXPECT_ERROR(&SPEC, "--out needs a value: --out F (found option '--resume'; write --out=VALUE for a value "
                        "starting with --)",
                 "--out", "--resume");
    Args a = {0};
    Err e = {{0}};
    cr_assert_eq(PARSE(&SPEC, &a, &e, "--out=--odd", "--in", "-"), 1, "%s", e.msg);
    cr_expect_str_eq(a.out, "--odd");
    cr_expect_str_eq(a.in, "-", "a single dash is a value");
}

// An empty path would mean none at all: `--run-dir ''` wrote the run into /, `--init ''` started from random weights.
Test(cli, empty_string_values_are_refused) {
    EXPECT_ERROR(&SPEC, "--out '': expected F, not an empty string", "--out", "");
    EXPECT_ERROR(&SPEC, "--in '': expected F, not an empty string", "--out", "o", "--in=");
}

Test(cli, bad_numbers_name_option_value_and_range) {
    EXPECT_ERROR(&SPEC, "--n 'x': expected an integer in [1, 64]", "--out", "o", "--n", "x");
    EXPECT_ERROR(&SPEC, "--n '0': expected an integer in [1, 64]", "--out", "o", "--n=0");
    EXPECT_ERROR(&SPEC, "--n '65': expected an integer in [1, 64]", "--n", "65");
    EXPECT_ERROR(&SPEC, "--n '': expected an integer in [1, 64]", "--n=");
    EXPECT_ERROR(&SPEC, "--n '3.0': expected an integer in [1, 64]", "--n", "3.0");
    EXPECT_ERROR(&SPEC, "--n '99999999999999999999999': expected an integer in [1, 64]", "--n",
                 "99999999999999999999999");
    EXPECT_ERROR(&SPEC, "--n '1234567890123456789012345678901234567890...': expected an integer in [1, 64]", "--n",
                 "12345678901234567890123456789012345678901234567890");
    EXPECT_ERROR(&SPEC, "--resume takes no value", "--resume=yes");
}

// strtoll skips leading white space and stops at anything else: each of these would read as 3, 16 or 0 unless the
// parser refuses it (trailing space and trailing text always were).
Test(cli, numbers_are_plain_decimals_without_spaces) {
    EXPECT_ERROR(&SPEC, "--n ' 3': expected an integer in [1, 64]", "--n", " 3");
    EXPECT_ERROR(&SPEC, "--n '\\t3': expected an integer in [1, 64]", "--n=\t3");
    EXPECT_ERROR(&SPEC, "--n '\\n3': expected an integer in [1, 64]", "--n", "\n3");
    EXPECT_ERROR(&SPEC, "--n '3 ': expected an integer in [1, 64]", "--n", "3 ");
    EXPECT_ERROR(&SPEC, "--n '3abc': expected an integer in [1, 64]", "--n", "3abc");
    EXPECT_ERROR(&SPEC, "--n '0x10': expected an integer in [1, 64]", "--n", "0x10");
    EXPECT_ERROR(&SPEC, "--n '1e1': expected an integer in [1, 64]", "--n", "1e1");
    EXPECT_ERROR(&SPEC, "--n 'nan': expected an integer in [1, 64]", "--n", "nan");
    EXPECT_ERROR(&SPEC, "--n '-1': expected an integer in [1, 64]", "--n=-1");
    EXPECT_ERROR(&SPEC, "--n '18446744073709551617': expected an integer in [1, 64]", "--n", "18446744073709551617");
    Args a = {0};
    Err e = {{0}};
    cr_assert_eq(PARSE(&SPEC, &a, &e, "--out", "o", "--n", "+7"), 1, "%s", e.msg);
    cr_expect_eq(a.n, 7, "a sign is part of a decimal");
}

// A value quoted in a message shows its control bytes escaped: a newline would make the one message line two, a
// carriage return or an escape sequence would overwrite or recolour it on a terminal.
Test(cli, quoted_values_stay_on_one_line) {
    EXPECT_ERROR(&SPEC, "--n '3\\n4': expected an integer in [1, 64]", "--n", "3\n4");
    EXPECT_ERROR(&SPEC, "--n '\\x1B[31m\\r\\x7F': expected an integer in [1, 64]", "--n", "\x1b[31m\r\x7f");
    EXPECT_ERROR(&SPEC, "unknown option '--a\\nb'", "--a\nb");
    EXPECT_ERROR(&SPEC, "unexpected argument 'x\\ty'", "--out", "o", "x\ty");
    EXPECT_ERROR(&SPEC, "--n '\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n"
                        "\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n...': expected an integer in [1, 64]",
                 "--n", "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n");
    char buf[ERR_ABBREV_SIZE];
    cr_expect_str_eq(err_abbrev("caf\xc3\xa9", buf), "caf\xc3\xa9", "UTF-8 text is not escaped");
}

// No path is longer than PATH_MAX - 1 bytes (open fails with ENAMETOOLONG), and a message quoting it whole would
// be cut before what was expected: such a value is refused while parsing.
Test(cli, string_values_longer_than_a_path_are_refused) {
    static char v[PATH_MAX + 1];
    memset(v, 'a', PATH_MAX - 1);
    Args a = {0};
    Err e = {{0}};
    cr_expect_eq(PARSE(&SPEC, &a, &e, "--out", v), 1, "PATH_MAX - 1 bytes are a path: %s", e.msg);
    v[PATH_MAX - 1] = 'a';
    char want[200];
    const char *cut = "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'";
    snprintf(want, sizeof want, "--out %s: expected F of at most %d bytes, not %d", cut, PATH_MAX - 1, PATH_MAX);
    EXPECT_ERROR(&SPEC, want, "--out", v);
    snprintf(want, sizeof want, "argument %s: expected B of at most %d bytes, not %d", cut, PATH_MAX - 1, PATH_MAX);
    EXPECT_ERROR(&POS, want, "a.h5", v);
}

Test(cli, missing_required_options) {
    EXPECT_ERROR(&SPEC, "--out is required", "--in", "x");
    ReqArgs r = {0};
    Err e = {{0}};
    cr_expect_eq(parse_words(&REQ, &r, &e, (const char *[]){NULL}), -1);
    cr_expect_str_eq(e.msg, "--x, --y and --z are required");
    EXPECT_ERROR(&REQ, "--x, --y and --z are required (missing --x and --z)", "--y", "1");
    EXPECT_ERROR(&REQ, "--x, --y and --z are required (missing --z)", "--y", "1", "--x", "2");
}

Test(cli, positionals_in_order_and_after_double_dash) {
    PosArgs p = {0};
    Err e = {{0}};
    cr_assert_eq(PARSE(&POS, &p, &e, "a.h5", "--exact", "b.h5"), 1, "%s", e.msg);
    cr_expect_str_eq(p.a, "a.h5");
    cr_expect_str_eq(p.b, "b.h5");
    cr_expect(p.exact);
    memset(&p, 0, sizeof p);
    cr_assert_eq(PARSE(&POS, &p, &e, "--", "-a.h5", "--help"), 1, "%s", e.msg);
    cr_expect_str_eq(p.a, "-a.h5");
    cr_expect_str_eq(p.b, "--help");
    cr_expect(!p.exact);
    EXPECT_ERROR(&POS, "missing argument B", "a.h5");
    EXPECT_ERROR(&POS, "missing argument A", "--exact");
    EXPECT_ERROR(&POS, "unexpected argument 'c'", "a", "b", "c");
    EXPECT_ERROR(&SPEC, "unexpected argument 'resume' (did you mean '--resume'?)", "--out", "x", "resume");
    // After "--" an option's name is an argument: no hint that names the argument itself.
    EXPECT_ERROR(&SPEC, "unexpected argument '--resume' (after --, which ends the options)", "--out", "x", "--",
                 "--resume");
    EXPECT_ERROR(&POS, "unknown option '-x'", "a", "-x");
}

Test(cli, help_anywhere_but_errors_first_and_values_stay_values) {
    Args a = {0};
    Err e = {{0}};
    cr_expect_eq(PARSE(&SPEC, &a, &e, "--help"), 0, "help needs no required option");
    cr_expect_eq(PARSE(&SPEC, &a, &e, "--n", "2", "-h", "--bogus"), 0);
    cr_expect_eq(PARSE(&SPEC, &a, &e, "--bogus", "-h"), -1);
    cr_expect_str_eq(e.msg, "unknown option '--bogus'");
    cr_expect_eq(PARSE(&SPEC, &a, &e, "--out", "-h"), 1, "%s", e.msg);
    cr_expect_str_eq(a.out, "-h");
}

// The help text of spec, malloc'd.
static char *help_text(const CliSpec *spec) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cli_print_help(f, spec);
    fclose(f);
    return buf;
}

Test(cli, help_is_generated_from_the_table) {
    char *h = help_text(&SPEC);
    cr_expect_str_eq(h, "usage: rlvr demo --out F [--in F] [--resume] [--n G] [--config F] "
                        "[--set section.key=value ...]\n"
                        "Does a demo.\n"
                        "\n"
                        "options:\n"
                        "  --out F               where the output goes\n"
                        "  --in F                input\n"
                        "  --resume              continue\n"
                        "  --n G                 group size\n"
                        "  --config F            configuration file (INI); keys it does not set keep their defaults "
                        "(rlvr config shows\n"
                        "                        all)\n"
                        "  --set section.key=value\n"
                        "                        override one key after the file; repeatable, applied in order\n"
                        "  -h, --help            print this help\n"
                        "\n"
                        "A note.\n");
    free(h);
    h = help_text(&POS);
    cr_expect(strstr(h, "usage: rlvr pair A B [--exact]\n\noptions:\n  A  "), "%s", h);
    free(h);
}

// An about or notes line longer than the help's width is wrapped like the options' help, together with the lines
// that continue its paragraph (no word left alone on a line); other written lines stay as they are.
static const CliSpec LONG = CLI_SPEC("rlvr long",
                                     "per-tensor L2 norm, mean, std, max |x| and non-finite count of /model; for "
                                     "MoE, per-expert router row norms, expert weight norms, and each layer's expert "
                                     "usage on 64 held-out\nproblems of the task.\n- a list item\nShort line.\n\nAfter a blank one.",
                                     POS_OPTS, "note");

Test(cli, long_about_lines_are_wrapped) {
    char *h = help_text(&LONG);
    cr_expect(strstr(h, "\nper-tensor L2 norm, mean, std, max |x| and non-finite count of /model; for MoE, per-expert "
                        "router row norms,\nexpert weight norms, and each layer's expert usage on 64 held-out problems of the task.\n"
                        "- a list item\nShort line.\n\n"
                        "After a blank one.\n\noptions:\n"), "%s", h);
    for (const char *p = h; *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] != 0))
        cr_expect_leq(strcspn(p, "\n"), 110, "%.*s", (int)strcspn(p, "\n"), p);
    cr_expect(strstr(h, "\nnote\n"), "%s", h);
    free(h);
}

typedef struct {
    CliIntList threads;
} IntListArgs;

static const CliOpt INT_LIST_OPTS[] = {
    CLI_OPT_INT_LIST("--threads", "N", IntListArgs, threads, 1, 8, 0, "thread counts, in turn"),
};
static const CliSpec INT_LIST = CLI_SPEC("rlvr bench", NULL, INT_LIST_OPTS, NULL);

Test(cli, int_lists_keep_order_and_check_every_value) {
    IntListArgs a = {0};
    Err e = {{0}};
    cr_assert_eq(PARSE(&INT_LIST, &a, &e, "--threads", "2", "--threads=1", "--threads", "8"), 1, "%s", e.msg);
    cr_expect_eq(a.threads.n, 3);
    cr_expect_eq(a.threads.items[0], 2);
    cr_expect_eq(a.threads.items[1], 1);
    cr_expect_eq(a.threads.items[2], 8);
    a = (IntListArgs){0};
    cr_expect_eq(PARSE(&INT_LIST, &a, &e, "--threads", "1", "--threads", "9"), -1);
    cr_expect_str_eq(e.msg, "--threads '9': expected an integer in [1, 8]");
    cr_expect_eq(PARSE(&INT_LIST, &a, &e, "--threads=two"), -1);
    cr_expect_str_eq(e.msg, "--threads 'two': expected an integer in [1, 8]");
    cr_expect_eq(PARSE(&INT_LIST, &a, &e, "--threads", "2", "--threads", " 4"), -1);
    cr_expect_str_eq(e.msg, "--threads ' 4': expected an integer in [1, 8]");
    char *argv[2 * CLI_MAX_LIST + 4] = {"cmd"};
    for (int i = 0; i <= CLI_MAX_LIST; i++) argv[1 + 2 * i] = "--threads", argv[2 + 2 * i] = "1";
    a = (IntListArgs){0};
    cr_expect_eq(cli_parse_args(&INT_LIST, 2 * CLI_MAX_LIST + 3, argv, &a, &e), -1);
    cr_expect_str_eq(e.msg, "--threads: more than 256 values");
    char *h = help_text(&INT_LIST);
    cr_expect(strstr(h, "usage: rlvr bench [--threads N ...]\n"), "%s", h);
    free(h);
}

Test(cli, parse_prints_one_error_and_the_usage_line_then_exit_2, .init = cr_redirect_stderr) {
    Args a = {0};
    char *argv[] = {"cmd", "--ot", "x"};
    int rc = -1;
    cr_expect(!cli_parse(&SPEC, 3, argv, &a, &rc));
    cr_expect_eq(rc, 2);
    fflush(stderr);
    cr_expect_stderr_eq_str("rlvr demo: unknown option '--ot' (did you mean '--out'?)\n"
                            "usage: rlvr demo --out F [--in F] [--resume] [--n G] [--config F] "
                            "[--set section.key=value ...]\n");
}

Test(cli, parse_prints_help_on_stdout_then_exit_0, .init = cr_redirect_stdout) {
    Args a = {0};
    char *argv[] = {"cmd", "-h"};
    int rc = -1;
    cr_expect(!cli_parse(&SPEC, 2, argv, &a, &rc));
    cr_expect_eq(rc, 0);
    fflush(stdout);
    char *h = help_text(&SPEC);
    cr_expect_stdout_eq_str(h);
    free(h);
}

Test(cli, usage_error_after_parsing, .init = cr_redirect_stderr) {
    cr_expect_eq(cli_usage_error(&POS, "%s and %s exclude each other", "--a", "--b"), 2);
    fflush(stderr);
    cr_expect_stderr_eq_str("rlvr pair: --a and --b exclude each other\nusage: rlvr pair A B [--exact]\n");
}

static int run_one(int argc, char **argv) { return argc == 2 && !strcmp(argv[1], "ok") ? 7 : 8; }

static const CliCommand CMDS[] = {
    {"alpha", run_one, "the first", &POS, false},
    {"beta", run_one, "the second", NULL, false},
    {"secret", run_one, "for tests", NULL, true},
};
static const CliGroup GROUP = {"rlvr grp", "NAME", "widget", "Widgets.", CMDS, 3, "The end."};

Test(cli, group_finds_commands_hidden_ones_too) {
    char *argv[] = {"grp", "secret", "ok"};
    int rc = -1;
    const CliCommand *c = cli_find_command(&GROUP, 3, argv, &rc);
    cr_assert(c);
    cr_expect_eq(c->run(2, argv + 1), 7);
}

Test(cli, group_unknown_name_gets_a_hint_and_the_list, .init = cr_redirect_stderr) {
    char *argv[] = {"grp", "alpah"};
    int rc = -1;
    cr_expect_null(cli_find_command(&GROUP, 2, argv, &rc));
    cr_expect_eq(rc, 2);
    fflush(stderr);
    cr_expect_stderr_eq_str("rlvr grp: unknown widget 'alpah' (did you mean 'alpha'?)\n"
                            "usage: rlvr grp NAME [options]   (rlvr grp NAME --help for its options)\n"
                            "Widgets.\n"
                            "\n"
                            "widgets:\n"
                            "  alpha A B  the first\n"
                            "  beta       the second\n"
                            "\n"
                            "The end.\n");
}

Test(cli, group_hidden_names_are_not_suggested, .init = cr_redirect_stderr) {
    char *argv[] = {"grp", "secrte"};
    int rc = -1;
    cr_expect_null(cli_find_command(&GROUP, 2, argv, &rc));
    fflush(stderr);
    cr_expect_stderr_eq_str("rlvr grp: unknown widget 'secrte'\n"
                            "usage: rlvr grp NAME [options]   (rlvr grp NAME --help for its options)\n"
                            "Widgets.\n\nwidgets:\n  alpha A B  the first\n  beta       the second\n\nThe end.\n");
}

static void redirect_both(void) {
    cr_redirect_stdout();
    cr_redirect_stderr();
}

Test(cli, group_help_and_missing_name, .init = redirect_both) {
    char *help[] = {"grp", "help"}, *none[] = {"grp"};
    int rc = -1;
    cr_expect_null(cli_find_command(&GROUP, 2, help, &rc));
    cr_expect_eq(rc, 0);
    rc = -1;
    cr_expect_null(cli_find_command(&GROUP, 1, none, &rc));
    cr_expect_eq(rc, 2);
    fflush(stdout);
    const char *want = "usage: rlvr grp NAME [options]   (rlvr grp NAME --help for its options)\nWidgets.\n\n"
                       "widgets:\n  alpha A B  the first\n  beta       the second\n\nThe end.\n";
    cr_expect_stdout_eq_str(want);
    fflush(stderr);
    cr_expect_stderr_eq_str(want, "no name: the help on stderr");
}

typedef struct {
    const char *resume, *out;
} OptArgs;

static const CliOpt OPT_OPTS[] = {
    CLI_OPT_OPTIONAL("--resume", "auto", OptArgs, resume, 0, "continue; =auto: only when possible"),
    CLI_OPT_STRING("--out", "F", OptArgs, out, 0, "output"),
};
static const CliSpec OPT = CLI_SPEC("rlvr opt", NULL, OPT_OPTS, NULL);

// An optional value is only ever written --name=V: a bare --name never takes the next word.
Test(cli, optional_value_bare_or_inline_never_the_next_word) {
    Err e = {{0}};
    OptArgs a = {0};
    cr_assert_eq(PARSE(&OPT, &a, &e, "--resume", "--out", "x"), 1, "%s", e.msg);
    cr_expect_str_eq(a.resume, "");
    cr_expect_str_eq(a.out, "x");
    OptArgs b = {0};
    cr_assert_eq(PARSE(&OPT, &b, &e, "--resume=auto"), 1, "%s", e.msg);
    cr_expect_str_eq(b.resume, "auto");
    OptArgs c = {0};
    cr_assert_eq(parse_words(&OPT, &c, &e, (const char *[]){NULL}), 1, "%s", e.msg);
    cr_expect_null(c.resume);
    OptArgs d = {0};
    cr_expect_eq(PARSE(&OPT, &d, &e, "--resume", "auto"), -1, "'auto' alone is an unexpected argument");
    OptArgs g = {0};
    cr_expect_eq(PARSE(&OPT, &g, &e, "--resume="), -1, "an empty value is not the bare form");
    cr_expect_str_eq(e.msg, "--resume=: expected --resume or --resume=auto, not an empty value");
    cr_expect_null(g.resume);
    char buf[512] = "";
    FILE *f = fmemopen(buf, sizeof buf, "w");
    cli_print_help(f, &OPT);
    fclose(f);
    cr_expect(strstr(buf, "usage: rlvr opt [--resume[=auto]] [--out F]"), "%s", buf);
    cr_expect(strstr(buf, "  --resume[=auto]"), "%s", buf);
}

#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/suggest.h"
#include "io/checkpoint.h"

#define WIDTH 110        // help text is wrapped to this many columns
#define HELP_COLUMN 24   // option help starts here unless the option's form is longer

static bool is_help(const char *arg) { return !strcmp(arg, "-h") || !strcmp(arg, "--help"); }

static bool visible(const CliOpt *o) { return !(o->flags & CLI_HIDDEN); }

static void *field(const CliOpt *o, void *out) { return (char *)out + o->offset; }

// ---- parsing ----

typedef struct {
    const CliSpec *s;
    void *out;
    uint8_t given[CLI_MAX_OPTS];
    size_t n_positional;  // positionals taken so far
    Err *e;
} Parse;

static const CliOpt *find_option(const CliSpec *s, const char *arg, size_t len) {
    for (size_t i = 0; i < s->n_opts; i++) {
        const CliOpt *o = &s->opts[i];
        if (o->kind != CLI_POSITIONAL && strlen(o->name) == len && !strncmp(o->name, arg, len)) return o;
    }
    return NULL;
}

// " (did you mean '--x'?)" for the visible option closest to word (leading dashes ignored), else "".
static void option_hint(const CliSpec *s, const char *word, char *buf, size_t len) {
    Suggest sg;
    suggest_init(&sg, word + strspn(word, "-"));
    for (size_t i = 0; i < s->n_opts; i++)
        if (s->opts[i].kind != CLI_POSITIONAL && visible(&s->opts[i])) suggest_add(&sg, s->opts[i].name + 2);
    suggest_add(&sg, "help");
    if (suggest_best(&sg)) snprintf(buf, len, " (did you mean '--%s'?)", suggest_best(&sg));
    else buf[0] = 0;
}

static int unknown_option(Parse *p, const char *arg, size_t len) {
    char name[128], hint[96], q[ERR_ABBREV_SIZE];
    snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), arg);
    option_hint(p->s, name, hint, sizeof hint);
    return err_set(p->e, "unknown option '%s'%s", err_abbrev(name, q), hint);
}

static int parse_int(Parse *p, const CliOpt *o, const char *v, int64_t *x) {
    char *end = NULL, q[ERR_ABBREV_SIZE];
    errno = 0;
    long long n = strtoll(v, &end, 10);
    // strtoll skips leading white space but stops at trailing: " 3" and "3 " are both refused, as a typo each.
    if (!*v || isspace((unsigned char)*v) || *end || errno || n < o->min || n > o->max)
        return err_set(p->e, "%s '%s': expected an integer in [%lld, %lld]", o->name, err_abbrev(v, q),
                       (long long)o->min, (long long)o->max);
    *x = n;
    return 0;
}

static int store_int(Parse *p, const CliOpt *o, const char *v) { return parse_int(p, o, v, field(o, p->out)); }

static int append_int(Parse *p, const CliOpt *o, const char *v) {
    CliIntList *l = field(o, p->out);
    if (l->n == CLI_MAX_LIST) return err_set(p->e, "%s: more than %d values", o->name, CLI_MAX_LIST);
    TRY(parse_int(p, o, v, &l->items[l->n]));
    l->n++;
    return 0;
}

// A file name or choice longer than a path can be (PATH_MAX) is a mistake, and messages that quote a path whole
// would lose what was expected past their 1 KB.
static bool too_long(Parse *p, const char *name, const char *placeholder, const char *v) {
    char q[ERR_ABBREV_SIZE];
    size_t n = strlen(v);
    if (n < PATH_MAX) return false;
    err_set(p->e, "%s '%s': expected %s of at most %d bytes, not %zu", name, err_abbrev(v, q), placeholder,
            PATH_MAX - 1, n);
    return true;
}

static int store_value(Parse *p, const CliOpt *o, const char *v) {
    switch (o->kind) {
    case CLI_STRING:  // every string option names a file, directory or choice: "" would silently mean none
        if (!*v) return err_set(p->e, "%s '': expected %s, not an empty string", o->name, o->value);
        if (too_long(p, o->name, o->value, v)) return -1;
        *(const char **)field(o, p->out) = v;
        return 0;
    case CLI_INT: return store_int(p, o, v);
    case CLI_INT_LIST: return append_int(p, o, v);
    case CLI_LIST: return cli_list_add(field(o, p->out), v, p->e) ? err_prefix(p->e, "%s", o->name) : 0;
    case CLI_FLAG:
    case CLI_OPTIONAL:
    case CLI_POSITIONAL: break;
    }
    return err_set(p->e, "internal: %s takes no value", o->name);
}

// argv[*i] starts with '-': the option and its value ("--opt V" or "--opt=V").
static int take_option(Parse *p, int argc, char **argv, int *i) {
    const char *arg = argv[*i], *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    const CliOpt *o = find_option(p->s, arg, len);
    if (!o) return unknown_option(p, arg, len);
    // Only a list takes a second value; for any other option the later one silently winning hides a slip.
    bool repeatable = o->kind == CLI_LIST || o->kind == CLI_INT_LIST;
    if (p->given[o - p->s->opts] && !repeatable) return err_set(p->e, "%s given twice: give it once", o->name);
    p->given[o - p->s->opts] = 1;
    if (o->kind == CLI_FLAG) {
        if (eq) return err_set(p->e, "%s takes no value", o->name);
        *(bool *)field(o, p->out) = true;
        return 0;
    }
    if (o->kind == CLI_OPTIONAL) {  // "" stands for the bare form, so "--name=" must not pass for it
        if (eq && !eq[1])
            return err_set(p->e, "%s=: expected %s or %s=%s, not an empty value", o->name, o->name, o->name, o->value);
        *(const char **)field(o, p->out) = eq ? eq + 1 : "";
        return 0;
    }
    if (eq) return store_value(p, o, eq + 1);
    // A value never starts with "--" in this form, so "--out --resume" is an error, not a file "--resume".
    if (*i + 1 >= argc) return err_set(p->e, "%s needs a value: %s %s", o->name, o->name, o->value);
    const char *v = argv[*i + 1];
    char q[ERR_ABBREV_SIZE];
    if (!strncmp(v, "--", 2))
        return err_set(p->e, "%s needs a value: %s %s (found option '%s'; write %s=VALUE for a value starting with --)",
                       o->name, o->name, o->value, err_abbrev(v, q), o->name);
    ++*i;
    return store_value(p, o, v);
}

static int take_positional(Parse *p, const char *arg) {
    size_t k = 0;
    for (size_t i = 0; i < p->s->n_opts; i++) {
        const CliOpt *o = &p->s->opts[i];
        if (o->kind != CLI_POSITIONAL || k++ < p->n_positional) continue;
        if (too_long(p, "argument", o->name, arg)) return -1;
        *(const char **)field(o, p->out) = arg;
        p->given[i] = 1;
        p->n_positional++;
        return 0;
    }
    char q[ERR_ABBREV_SIZE], hint[96];
    // An argument with a dash comes here only after "--": the option it names would be the argument itself.
    if (arg[0] == '-' && arg[1]) snprintf(hint, sizeof hint, " (after --, which ends the options)");
    else option_hint(p->s, arg, hint, sizeof hint);  // "resume" for "--resume"
    return err_set(p->e, "unexpected argument '%s'%s", err_abbrev(arg, q), hint);
}

static bool required_option(const CliOpt *o) { return o->kind != CLI_POSITIONAL && (o->flags & CLI_REQUIRED); }

// "A", "A and B" or "A, B and C": the required options, or only those not given.
static void name_list(const Parse *p, bool only_missing, char *buf, size_t len) {
    size_t total = 0, n = 0, used = 0;
    for (size_t i = 0; i < p->s->n_opts; i++)
        total += required_option(&p->s->opts[i]) && !(only_missing && p->given[i]);
    buf[0] = 0;
    for (size_t i = 0; i < p->s->n_opts && used < len; i++) {
        if (!required_option(&p->s->opts[i]) || (only_missing && p->given[i])) continue;
        const char *sep = n == 0 ? "" : n + 1 == total ? " and " : ", ";
        used += (size_t)snprintf(buf + used, len - used, "%s%s", sep, p->s->opts[i].name);
        n++;
    }
}

// Missing positionals first ("missing argument B"), then options: "--in and --out are required (missing --out)".
static int check_required(Parse *p) {
    size_t n_required = 0, n_missing = 0;
    for (size_t i = 0; i < p->s->n_opts; i++) {
        const CliOpt *o = &p->s->opts[i];
        if (!(o->flags & CLI_REQUIRED)) continue;
        if (o->kind == CLI_POSITIONAL && !p->given[i]) return err_set(p->e, "missing argument %s", o->name);
        if (required_option(o)) n_required++, n_missing += !p->given[i];
    }
    if (!n_missing) return 0;
    char all[512], missing[512];
    name_list(p, false, all, sizeof all);
    if (n_required == 1) return err_set(p->e, "%s is required", all);
    if (n_missing == n_required) return err_set(p->e, "%s are required", all);
    name_list(p, true, missing, sizeof missing);
    return err_set(p->e, "%s are required (missing %s)", all, missing);
}

int cli_parse_args(const CliSpec *s, int argc, char **argv, void *out, Err *e) {
    if (s->n_opts > CLI_MAX_OPTS) return err_set(e, "internal: %s has more than %d options", s->prog, CLI_MAX_OPTS);
    Parse p = {.s = s, .out = out, .e = e};
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && !strcmp(arg, "--")) options_done = true;
        else if (!options_done && is_help(arg)) return 0;
        else if (options_done || arg[0] != '-' || !arg[1]) TRY(take_positional(&p, arg));
        else TRY(take_option(&p, argc, argv, &i));
    }
    return check_required(&p) ? -1 : 1;
}

static void print_error(const CliSpec *s, const char *msg) {
    fprintf(stderr, "%s: %s\n", s->prog, msg);
    cli_print_usage(stderr, s);
}

bool cli_parse(const CliSpec *s, int argc, char **argv, void *out, int *exit_code) {
    Err e = {{0}};
    int r = cli_parse_args(s, argc, argv, out, &e);
    if (r == 0) cli_print_help(stdout, s), *exit_code = 0;
    if (r < 0) print_error(s, e.msg), *exit_code = 2;
    return r == 1;
}

int cli_usage_error(const CliSpec *s, const char *fmt, ...) {
    char msg[sizeof(Err)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    print_error(s, msg);
    return 2;
}

int cli_list_add(CliList *l, const char *item, Err *e) {
    if (l->n == CLI_MAX_LIST) return err_set(e, "more than %d values", CLI_MAX_LIST);
    l->items[l->n++] = item;
    return 0;
}

int cli_list_prepend(CliList *l, const char *item, Err *e) {
    TRY(cli_list_add(l, item, e));
    memmove(l->items + 1, l->items, (size_t)(l->n - 1) * sizeof l->items[0]);
    l->items[0] = item;
    return 0;
}

int cli_resolve_config(const ConfigArgs *a, Config *c, Err *e) {
    return config_resolve(c, a->config, a->sets.items, a->sets.n, e);
}

int cli_resolve_config_ckpt(const ConfigArgs *a, const char *ckpt, Config *c, Err *e) {
    return checkpoint_config_or_file(a->config, ckpt, a->sets.items, a->sets.n, c, e);
}

// ---- help ----

// "--name VALUE", "[--name VALUE ...]", "NAME": an option as the usage line shows it.
static void synopsis_item(const CliOpt *o, char *buf, size_t len) {
    bool req = o->flags & CLI_REQUIRED;
    const char *more = o->kind == CLI_LIST || o->kind == CLI_INT_LIST ? " ..." : "";
    if (o->kind == CLI_FLAG || o->kind == CLI_POSITIONAL) snprintf(buf, len, req ? "%s" : "[%s]", o->name);
    else if (o->kind == CLI_OPTIONAL) snprintf(buf, len, req ? "%s[=%s]" : "[%s[=%s]]", o->name, o->value);
    else snprintf(buf, len, req ? "%s %s%s" : "[%s %s%s]", o->name, o->value, more);
}

// Writes the words of text from column col (>= indent), wrapping before WIDTH to lines that start at indent.
static void put_wrapped(FILE *f, const char *text, int col, int indent) {
    int start = col;
    for (const char *p = text + strspn(text, " "); *p; p += strspn(p, " ")) {
        int word = (int)strcspn(p, " ");
        if (col > start && col + 1 + word > WIDTH) fprintf(f, "\n%*s", indent, ""), col = start = indent;
        else if (col > start) fputc(' ', f), col++;
        fwrite(p, 1, (size_t)word, f);
        col += word, p += word;
    }
    fputc('\n', f);
}

// The options part of the usage line (after "usage: PROG"), wrapped under its start.
static void put_synopsis(FILE *f, const CliSpec *s, int col) {
    int indent = col;
    for (size_t i = 0; i < s->n_opts; i++) {
        if (!visible(&s->opts[i])) continue;
        char item[160];
        synopsis_item(&s->opts[i], item, sizeof item);
        int len = (int)strlen(item);
        if (col > indent && col + 1 + len > WIDTH) fprintf(f, "\n%*s", indent, ""), col = indent;
        else fputc(' ', f), col++;
        fputs(item, f);
        col += len;
    }
    fputc('\n', f);
}

void cli_print_usage(FILE *f, const CliSpec *s) {
    fprintf(f, "usage: %s", s->prog);
    put_synopsis(f, s, (int)strlen("usage: ") + (int)strlen(s->prog));
}

// Whether a line of an about or notes text goes on with the paragraph before it: not blank, not a list item or an
// indented line.
static bool continues_paragraph(const char *line) { return *line && *line != '\n' && *line != ' ' && *line != '-'; }

// text as written, each line ended, except that a line longer than WIDTH is wrapped together with the lines that
// continue its paragraph, so no word is left alone on a line of its own (rlvr ckpt stats's about is one line, as
// the action list wraps it on its own).
static void put_text(FILE *f, const char *text) {
    if (!text || !*text) return;
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        if (n <= WIDTH) {
            fwrite(p, 1, n, f), fputc('\n', f);
            p += n + (p[n] == '\n');
            continue;
        }
        while (p[n] == '\n' && continues_paragraph(p + n + 1)) n += 1 + strcspn(p + n + 1, "\n");
        char *para = strndup(p, n);
        for (char *c = para; *c; c++) *c = *c == '\n' ? ' ' : *c;
        put_wrapped(f, para, 0, 0);
        free(para);
        p += n + (p[n] == '\n');
    }
}

// "  FORM   help", the help starting at column `column` (on the next line when FORM is longer).
static void put_row(FILE *f, const char *form, const char *help, int column) {
    int n = fprintf(f, "  %s", form);
    if (n + 2 > column) fprintf(f, "\n%*s", column, "");
    else fprintf(f, "%*s", column - n, "");
    put_wrapped(f, help, column, column);
}

void cli_print_help(FILE *f, const CliSpec *s) {
    cli_print_usage(f, s);
    put_text(f, s->about);
    fprintf(f, "\noptions:\n");
    for (size_t i = 0; i < s->n_opts; i++) {
        const CliOpt *o = &s->opts[i];
        if (!visible(o)) continue;
        char form[160];
        if (o->kind == CLI_FLAG || o->kind == CLI_POSITIONAL) snprintf(form, sizeof form, "%s", o->name);
        else if (o->kind == CLI_OPTIONAL) snprintf(form, sizeof form, "%s[=%s]", o->name, o->value);
        else snprintf(form, sizeof form, "%s %s", o->name, o->value);
        put_row(f, form, o->help, HELP_COLUMN);
    }
    put_row(f, "-h, --help", "print this help", HELP_COLUMN);
    if (s->notes) fputc('\n', f);
    put_text(f, s->notes);
}

// ---- command groups ----

// "diff A B": a command's name and, when it has a table, its positional arguments (the options are in its
// own --help).
static void command_form(const CliCommand *c, char *buf, size_t len) {
    size_t used = (size_t)snprintf(buf, len, "%s", c->name);
    for (size_t i = 0; c->spec && i < c->spec->n_opts && used < len; i++) {
        const CliOpt *o = &c->spec->opts[i];
        if (o->kind != CLI_POSITIONAL || !visible(o)) continue;
        char item[160];
        synopsis_item(o, item, sizeof item);
        used += (size_t)snprintf(buf + used, len - used, " %s", item);
    }
}

void cli_print_group_help(FILE *f, const CliGroup *g) {
    fprintf(f, "usage: %s %s [options]   (%s %s --help for its options)\n", g->prog, g->metavar, g->prog, g->metavar);
    put_text(f, g->about);
    int column = 0;
    char form[512];
    for (size_t i = 0; i < g->n; i++) {
        command_form(&g->cmds[i], form, sizeof form);
        if (!g->cmds[i].hidden && (int)strlen(form) + 4 > column) column = (int)strlen(form) + 4;
    }
    fprintf(f, "\n%ss:\n", g->what);
    for (size_t i = 0; i < g->n; i++) {
        if (g->cmds[i].hidden) continue;
        command_form(&g->cmds[i], form, sizeof form);
        put_row(f, form, g->cmds[i].summary, column);
    }
    if (g->notes) fputc('\n', f);
    put_text(f, g->notes);
}

const CliCommand *cli_find_command(const CliGroup *g, int argc, char **argv, int *exit_code) {
    *exit_code = 2;
    if (argc < 2) return cli_print_group_help(stderr, g), NULL;
    if (is_help(argv[1]) || (!strcmp(argv[1], "help") && argc == 2))
        return cli_print_group_help(stdout, g), *exit_code = 0, NULL;
    if (!strcmp(argv[1], "help")) {  // "help NAME" is "NAME --help"
        if (argc > 3) return fprintf(stderr, "%s: usage: %s help [%s]\n", g->prog, g->prog, g->metavar), NULL;
        argv[1] = argv[2], argv[2] = (char *)"--help";
    }
    Suggest sg;
    suggest_init(&sg, argv[1]);
    for (size_t i = 0; i < g->n; i++) {
        if (!strcmp(argv[1], g->cmds[i].name)) return &g->cmds[i];
        if (!g->cmds[i].hidden) suggest_add(&sg, g->cmds[i].name);
    }
    char q[ERR_ABBREV_SIZE], hint[96] = "";
    if (suggest_best(&sg)) snprintf(hint, sizeof hint, " (did you mean '%s'?)", suggest_best(&sg));
    fprintf(stderr, "%s: unknown %s '%s'%s\n", g->prog, g->what, err_abbrev(argv[1], q), hint);
    cli_print_group_help(stderr, g);
    return NULL;
}

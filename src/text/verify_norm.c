// Text normalisation of extracted answers (spaces, LaTeX wrappers, units, ...), on a bounded buffer.
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "text/verify_norm.h"

#define NORM_CAP (2 * VERIFY_MAX_ANSWER)

typedef struct {
    const char *from, *to;
    bool command;  // a LaTeX command word: must not be followed by a letter
} Rewrite;

// Order matters: longer spellings first.
static const Rewrite REWRITES[] = {
    {"\\left", "", true},     {"\\right", "", true},     {"\\bigl", "", true},      {"\\bigr", "", true},
    {"\\big", "", true},      {"\\Big", "", true},       {"\\displaystyle", "", true},
    {"\\dfrac", "\\frac", true}, {"\\tfrac", "\\frac", true}, {"\\cfrac", "\\frac", true},
    {"^{\\circ}", "", false}, {"^\\circ", "", false},    {"\\circ", "", true},      {"\u00b0", "", false},
    {"\\degree", "", true},   {"\\%", "%", false},       {"\\$", "", false},        {"$", "", false},
    {"\\!", "", false},       {"\\,", "", false},        {"\\;", "", false},        {"\\:", "", false},
    {"\\ ", " ", false},      {"~", " ", false},         {"\\quad", " ", true},     {"\\qquad", " ", true},
    {"\\(", "", false},       {"\\)", "", false},        {"\\[", "", false},        {"\\]", "", false},
    {"{,}", "", false},       {"\\infinity", "\\infty", true}, {"\\dots", "", true}, {"\\ldots", "", true},
    {"\u2212", "-", false},   {"\\colon", ":", true},
};

// Wrappers whose argument is kept: \text{cm} -> cm.
static const char *const UNWRAP[] = {"\\text", "\\textbf", "\\textrm", "\\textit", "\\mathrm", "\\mathbf",
                                     "\\mathit", "\\mbox", "\\boxed", "\\fbox", "\\mathsf", "\\operatorname"};

// Units and filler words dropped from answers that contain a digit.
static const char *const UNITS[] = {
    "units", "unit", "sq", "square", "cubic", "cm", "mm", "km", "m", "meters", "meter", "metres", "inches", "inch",
    "in", "feet", "foot", "ft", "yards", "yard", "miles", "mile", "mph", "kg", "g", "grams", "gram", "pounds",
    "pound", "lbs", "lb", "ounces", "ounce", "oz", "dollars", "dollar", "cents", "cent", "hours", "hour", "hrs",
    "minutes", "minute", "min", "seconds", "second", "sec", "days", "day", "weeks", "week", "months", "month",
    "years", "year", "degrees", "degree", "liters", "liter", "litres", "ml", "gallons", "gallon", "cups", "cup",
    "people", "students", "apples", "eggs", "cookies", "pages", "points", "marbles", "boxes", "times"};

static bool replace_all(char *buf, const Rewrite *rw) {
    size_t lf = strlen(rw->from), lt = strlen(rw->to);
    bool changed = false;
    char *p = buf;
    while ((p = strstr(p, rw->from))) {
        // "\\ " is a line break, not "\ "; a command word must end here.
        if ((rw->command && isalpha((unsigned char)p[lf])) || (p > buf && p[-1] == '\\' && rw->from[0] == '\\')) {
            p += lf;
            continue;
        }
        memmove(p + lt, p + lf, strlen(p + lf) + 1);  // lt <= lf for every rewrite: never grows
        memcpy(p, rw->to, lt);
        p += lt;
        changed = true;
    }
    return changed;
}

// End of the brace group starting at open ('{'), or NULL when unbalanced.
static char *match_brace(char *open) {
    int depth = 0;
    for (char *c = open; *c; c++) {
        if (*c == '{') depth++;
        else if (*c == '}' && --depth == 0) return c;
    }
    return NULL;
}

static void unwrap_commands(char *buf) {
    for (size_t i = 0; i < sizeof UNWRAP / sizeof UNWRAP[0]; i++) {
        size_t n = strlen(UNWRAP[i]);
        char *p = buf;
        while ((p = strstr(p, UNWRAP[i]))) {
            char *open = p + n;
            while (*open == ' ') open++;
            char *close = *open == '{' ? match_brace(open) : NULL;
            if (isalpha((unsigned char)p[n]) || !close) {
                p += n;
                continue;
            }
            // "\text{ cm}" -> " cm " keeps words apart; "\text{cm}^2" -> " cm^2".
            if (close[1] == '^') memmove(close, close + 1, strlen(close + 1) + 1);
            else *close = ' ';
            memmove(p + 1, open + 1, strlen(open + 1) + 1);
            *p = ' ';
        }
    }
}

static bool has_digit(const char *s) {
    for (; *s; s++)
        if (isdigit((unsigned char)*s)) return true;
    return false;
}

static bool is_unit(const char *w, size_t n) {
    // A unit may carry a power: cm^2, m^{3}.
    const char *caret = memchr(w, '^', n);
    if (caret) n = (size_t)(caret - w);
    for (size_t i = 0; i < sizeof UNITS / sizeof UNITS[0]; i++)
        if (strlen(UNITS[i]) == n && !strncasecmp(UNITS[i], w, n)) return true;
    return false;
}

// True when out[0, o) ends with a LaTeX command word (\le, \pm, \pi).
static bool ends_with_command(const char *out, size_t o) {
    size_t i = o;
    while (i > 0 && isalpha((unsigned char)out[i - 1])) i--;
    return i < o && i > 0 && out[i - 1] == '\\';
}

// Removes whitespace-separated unit words (only when the answer has a number to keep), then all spaces but one
// between a command word and a letter: "x \le y" -> "x\le y", as "x\ley" would read as the command \ley.
static void drop_units_and_spaces(char *buf) {
    bool numeric = has_digit(buf);
    char out[NORM_CAP];
    size_t o = 0;
    for (char *p = buf; *p;) {
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        char *w = p;
        while (*p && !isspace((unsigned char)*p)) p++;
        size_t n = (size_t)(p - w);
        if (numeric && n && isalpha((unsigned char)*w) && is_unit(w, n) && o > 0) continue;
        if (!strncasecmp(w, "percent", n) && n == 7) w = "%", n = 1;
        if (isalpha((unsigned char)*w) && ends_with_command(out, o)) out[o++] = ' ';  // a space went: o < strlen(buf)
        memcpy(out + o, w, n);
        o += n;
    }
    out[o] = 0;
    memcpy(buf, out, o + 1);
}

// End of a name at v: a letter or a command word (\\alpha), with an optional subscript (x_1, x_{12}); v when none.
static const char *skip_name(const char *v) {
    const char *start = v;
    if (*v == '\\') {
        while (isalpha((unsigned char)*++v)) {}
        if (v == start + 1) return start;
    } else if (isalpha((unsigned char)*v)) {
        v++;
    } else {
        return start;
    }
    if (*v == '_') {
        v++;
        if (*v == '{') {
            while (*v && *v != '}') v++;
            if (*v) v++;
        } else if (*v) {
            v++;
        }
    }
    return v;
}

// End of a function's argument list "(x)", "(x,y)", "(-1)", "(2.5)" at v (variables or numbers only: x(x+1) is a
// product); v when none.
static const char *skip_arguments(const char *v) {
    if (*v != '(') return v;
    const char *p = v + 1;
    for (;;) {
        if (*p == '-') p++;
        const char *end = skip_name(p);
        if (end == p)
            while (isdigit((unsigned char)*end) || (*end == '.' && isdigit((unsigned char)end[1]))) end++;
        if (end == p) return v;
        p = end;
        if (*p == ')') return p + 1;
        if (*p++ != ',') return v;
    }
}

#define MAX_TUPLE 32

// A tuple assignment "(x,y)=(1,2)": the names and the values, each as a span of the text.
typedef struct {
    int n;
    const char *name[MAX_TUPLE], *name_end[MAX_TUPLE], *value[MAX_TUPLE], *value_end[MAX_TUPLE];
} Tuple;

// Reads the names "(x,y)" at s, two or more distinct (skip_name), up to the ')' that must end right before end.
static bool tuple_names(const char *s, const char *end, Tuple *t) {
    t->n = 0;
    for (const char *p = s + 1;; p++) {
        const char *e = skip_name(p);
        if (e == p || t->n == MAX_TUPLE) return false;
        for (int i = 0; i < t->n; i++)
            if (t->name_end[i] - t->name[i] == e - p && !strncmp(t->name[i], p, (size_t)(e - p))) return false;
        t->name[t->n] = p, t->name_end[t->n++] = e;
        p = e;
        if (*p == ')') return p + 1 == end && t->n >= 2;
        if (*p != ',') return false;
    }
}

// Reads the values "(1,(2,3))" at s, split at top-level commas, none empty: exactly t->n of them, up to the closing
// ')' that ends s.
static bool tuple_values(const char *s, Tuple *t) {
    int depth = 0, k = 0;
    const char *start = s + 1;
    for (const char *c = s + 1; *c; c++) {
        bool close = *c == ')' || *c == ']' || *c == '}';
        if (*c == '(' || *c == '[' || *c == '{') {
            depth++;
        } else if (close && depth > 0) {
            depth--;
        } else if (depth == 0 && (*c == ',' || *c == ')')) {
            if (c == start || k == t->n) return false;
            t->value[k] = start, t->value_end[k++] = c;
            start = c + 1;
            if (*c == ')') return !c[1] && k == t->n;
        } else if (close) {
            return false;  // ] or } with nothing open
        }
    }
    return false;
}

// buf as a tuple assignment "(x,y)=(1,2)": its only '=' between the names and a parenthesised tuple of as many values.
static bool tuple_assignment(const char *buf, Tuple *t) {
    const char *eq = strchr(buf, '=');
    return *buf == '(' && eq && !strchr(eq + 1, '=') && eq[1] == '(' && tuple_names(buf, eq, t) &&
           tuple_values(eq + 1, t);
}

bool norm_expand_tuple(char *buf) {
    Tuple t;
    if (!tuple_assignment(buf, &t)) return false;
    char out[VERIFY_MAX_ANSWER];
    size_t used = 0;
    for (int i = 0; i < t.n && used < sizeof out; i++)
        used += (size_t)snprintf(out + used, sizeof out - used, "%s%.*s=%.*s", i ? "," : "",
                                 (int)(t.name_end[i] - t.name[i]), t.name[i], (int)(t.value_end[i] - t.value[i]),
                                 t.value[i]);
    if (used >= sizeof out || used > strlen(buf)) return false;  // never: the list is 5 bytes shorter than buf
    memcpy(buf, out, used + 1);
    return true;
}

// Bytes of the plain name (a letter with an optional subscript: x, y_1, x_{12}) at v, or 0 when none is there.
static size_t plain_name(const char *v) {
    return isalpha((unsigned char)*v) ? (size_t)(skip_name(v) - v) : 0;
}

// Whether name a sorts before name b, bytewise, the shorter first on a tie: x before y, x_1 before x_2.
static bool name_before(const char *a, size_t na, const char *b, size_t nb) {
    int c = memcmp(a, b, na < nb ? na : nb);
    return c < 0 || (c == 0 && na < nb);
}

// Adds the item "name=value" at [item, end) to t in name order; false when it is none or its name is there already.
static bool add_assignment(Tuple *t, const char *item, const char *end) {
    size_t n = plain_name(item);
    const char *value = item + n + 1;
    if (!n || item[n] != '=' || value >= end || memchr(value, '=', (size_t)(end - value)) || t->n == MAX_TUPLE)
        return false;
    int at = t->n++;
    while (at > 0 && name_before(item, n, t->name[at - 1], (size_t)(t->name_end[at - 1] - t->name[at - 1]))) {
        t->name[at] = t->name[at - 1], t->name_end[at] = t->name_end[at - 1];
        t->value[at] = t->value[at - 1], t->value_end[at] = t->value_end[at - 1];
        at--;
    }
    if (at > 0 && !name_before(t->name[at - 1], (size_t)(t->name_end[at - 1] - t->name[at - 1]), item, n)) return false;
    t->name[at] = item, t->name_end[at] = item + n, t->value[at] = value, t->value_end[at] = end;
    return true;
}

bool norm_collect_tuple(char *buf) {
    Tuple t = {0};
    int depth = 0;
    const char *item = buf;
    for (const char *c = buf;; c++) {
        if (*c == '(' || *c == '[' || *c == '{') depth++;
        else if ((*c == ')' || *c == ']' || *c == '}') && depth > 0) depth--;
        else if (!*c || (*c == ',' && depth == 0)) {  // the end of an item
            if (depth || !add_assignment(&t, item, c)) return false;
            if (!*c) break;
            item = c + 1;
        }
    }
    if (t.n < 2) return false;
    char out[VERIFY_MAX_ANSWER];
    size_t used = (size_t)snprintf(out, sizeof out, "(");
    for (int i = 0; i < t.n && used < sizeof out; i++)
        used += (size_t)snprintf(out + used, sizeof out - used, "%s%.*s", i ? "," : "",
                                 (int)(t.value_end[i] - t.value[i]), t.value[i]);
    if (used + 1 > strlen(buf)) return false;  // never: each item loses its "x=", the tuple adds 2 bytes in all
    memcpy(out + used, ")", 2);
    memcpy(buf, out, used + 2);
    return true;
}

bool norm_drop_prefix(char *buf) {
    char *eq = strchr(buf, '=');
    Tuple t;
    if (tuple_assignment(buf, &t)) {  // (x,y)=(1,2) names the tuple (1,2)
        memmove(buf, eq + 1, strlen(eq + 1) + 1);
        return true;
    }
    if (!eq || strchr(eq + 1, '=') || !eq[1]) return false;
    const char *v = skip_name(buf);
    if (v == buf) return false;
    while (*v == '\'') v++;                    // f'(x), f''(x)
    if (!strncmp(v, "^{-1}", 5)) v += 5;       // f^{-1}(x)
    v = skip_arguments(v);
    if (v != eq) return false;
    memmove(buf, eq + 1, strlen(eq + 1) + 1);
    return true;
}

// "1,234,567.5" -> "1234567.5" when the whole answer is one such number.
static void drop_thousands_separators(char *buf) {
    const char *p = buf;
    if (*p == '-' || *p == '+') p++;
    int lead = 0;
    while (isdigit((unsigned char)p[lead])) lead++;
    if (lead < 1 || lead > 3 || p[lead] != ',') return;
    const char *q = p + lead;
    while (*q == ',') {
        for (int i = 1; i <= 3; i++)
            if (!isdigit((unsigned char)q[i])) return;
        q += 4;
    }
    if (*q == '.') {
        q++;
        while (isdigit((unsigned char)*q)) q++;
    }
    if (*q) return;
    char *w = buf;
    for (const char *r = buf; *r; r++)
        if (*r != ',') *w++ = *r;
    *w = 0;
}

static void strip_trailing(char *buf) {
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '.' || isspace((unsigned char)buf[n - 1]))) buf[--n] = 0;
}

// "{5}" -> "5", "(B)" -> "B" for a lone choice letter.
static void strip_outer(char *buf) {
    for (;;) {
        size_t n = strlen(buf);
        if (n >= 2 && buf[0] == '{' && match_brace(buf) == buf + n - 1) {
            memmove(buf, buf + 1, n - 2);
            buf[n - 2] = 0;
            continue;
        }
        if (n == 3 && buf[0] == '(' && buf[2] == ')' && isalpha((unsigned char)buf[1])) {
            buf[0] = buf[1], buf[1] = 0;
        }
        return;
    }
}

// "x_{1}" -> "x_1": a subscript of one letter or digit reads the same without braces, so x_{1}=3 names x_1.
static void drop_subscript_braces(char *buf) {
    char *w = buf;
    for (const char *r = buf; *r;) {
        if (r[0] == '_' && r[1] == '{' && isalnum((unsigned char)r[2]) && r[3] == '}') {
            *w++ = '_', *w++ = r[2];
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
}

void norm_text(const char *s, char *out, size_t cap) {
    char buf[NORM_CAP];
    snprintf(buf, sizeof buf, "%.*s", VERIFY_MAX_ANSWER - 1, s ? s : "");
    for (char *c = buf; *c; c++)
        if (*c == '\n' || *c == '\t' || *c == '\r') *c = ' ';
    for (size_t i = 0; i < sizeof REWRITES / sizeof REWRITES[0]; i++) replace_all(buf, &REWRITES[i]);
    unwrap_commands(buf);
    strip_trailing(buf);
    drop_units_and_spaces(buf);
    drop_subscript_braces(buf);
    strip_trailing(buf);
    strip_outer(buf);
    if (cap) snprintf(out, cap, "%s", buf);
}

void norm_finish(char *buf) {
    drop_thousands_separators(buf);
    strip_outer(buf);
}

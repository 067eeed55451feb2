#include "text/verify.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/verify_norm.h"
#include "text/verify_num.h"
#include "text/verify_poly.h"

#define MAX_BRACE_DEPTH 64
#define MAX_ITEMS 32

// Copies [from, from+n) into out (cap bytes) with surrounding whitespace trimmed.
static void copy_trimmed(const char *from, size_t n, char *out, size_t cap) {
    while (n && isspace((unsigned char)*from)) from++, n--;
    while (n && isspace((unsigned char)from[n - 1])) n--;
    if (!cap) return;
    if (n >= cap) n = cap - 1;
    memcpy(out, from, n);
    out[n] = 0;
}

// Start of the last occurrence of needle in s (case-insensitive when fold), or NULL.
static const char *find_last(const char *s, const char *needle, bool fold) {
    const char *last = NULL;
    size_t n = strlen(needle);
    for (const char *p = s; (p = fold ? strcasestr(p, needle) : strstr(p, needle)); p += n) last = p;
    return last;
}

#define MAX_BOXED 16              // boxed answers considered (the last ones)
#define MAX_BOXED_SCAN (8 * VERIFY_MAX_ANSWER)  // a longer \boxed{...} argument counts as unbalanced

// Length of the \boxed / \fbox command at p, or 0.
static size_t box_command(const char *p) {
    if (!strncmp(p, "\\boxed", 6)) return 6;
    if (!strncmp(p, "\\fbox", 5)) return 5;
    return 0;
}

// Argument of the box command at cmd: "{...}" with nested braces, or one token after a space.
static bool box_argument(const char *cmd, char *out, size_t cap) {
    const char *after = cmd + box_command(cmd), *p = after;
    while (*p == ' ') p++;
    if (*p != '{') {
        if (p == after) return false;  // \boxedfoo is another command
        size_t n = strcspn(p, " \t\n$");
        copy_trimmed(p, n, out, cap);
        return n > 0;
    }
    int depth = 0;
    for (const char *c = p; *c && c - p < MAX_BOXED_SCAN; c++) {
        if (*c == '\\' && c[1]) {  // \{ and \} do not nest
            c++;
            continue;
        }
        if (*c == '{' && ++depth > MAX_BRACE_DEPTH) return false;
        if (*c == '}' && --depth == 0) {
            copy_trimmed(p + 1, (size_t)(c - p - 1), out, cap);
            return true;
        }
    }
    return false;  // unbalanced
}

// The boxed answer: the last \boxed{...}; several different boxed answers form the list "a,b" (a hedge
// that only matches a list answer); an empty \boxed{} is found but empty.
static bool extract_boxed(const char *s, char *out, size_t cap) {
    const char *at[MAX_BOXED];
    int n_at = 0;
    for (const char *p = s; (p = strchr(p, '\\')); p++)
        if (box_command(p)) at[n_at++ % MAX_BOXED] = p;
    if (!n_at) return false;
    int first = n_at > MAX_BOXED ? n_at % MAX_BOXED : 0, count = n_at > MAX_BOXED ? MAX_BOXED : n_at;
    char item[VERIFY_MAX_ANSWER], seen[MAX_BOXED][VERIFY_MAX_ANSWER];
    int n_seen = 0;
    bool found = false;
    size_t used = 0;
    if (cap) out[0] = 0;
    for (int k = 0; k < count; k++) {
        if (!box_argument(at[(first + k) % MAX_BOXED], item, sizeof item)) continue;
        found = true;
        if (!item[0]) continue;
        bool dup = false;
        for (int j = 0; j < n_seen && !dup; j++) dup = verify_equivalent(item, seen[j]) || !strcmp(item, seen[j]);
        if (dup) continue;
        memcpy(seen[n_seen++], item, sizeof item);
        if (cap > used) used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? "," : "", item);
        if (used >= cap) used = cap;
    }
    return found;
}

// Rest of the line after the last marker, markdown emphasis stripped ("**Answer:** 5").
static bool extract_after(const char *s, const char *marker, bool fold, char *out, size_t cap) {
    const char *m = find_last(s, marker, fold);
    if (!m) return false;
    const char *p = m + strlen(marker);
    while (*p == '*' || *p == ' ' || *p == '\t') p++;
    copy_trimmed(p, strcspn(p, "\n"), out, cap);
    return true;
}

bool verify_last_boxed(const char *s, char *out, size_t cap) {
    const char *last = NULL;
    for (const char *p = s; (p = strchr(p, '\\')); p++)
        if (box_command(p)) last = p;
    if (cap) out[0] = 0;
    return last && box_argument(last, out, cap);
}

bool verify_extract(const char *response, char *out, size_t cap) {
    if (cap) out[0] = 0;
    if (!response) return false;
    return extract_boxed(response, out, cap) || extract_after(response, "Answer:", true, out, cap) ||
           extract_after(response, "####", false, out, cap);
}

void verify_truth(const char *answer, char *out, size_t cap) {
    if (cap) out[0] = 0;
    if (!answer) return;
    if (extract_boxed(answer, out, cap) || extract_after(answer, "####", false, out, cap)) return;
    copy_trimmed(answer, strlen(answer), out, cap);
}

typedef struct {
    char open, close;  // bracket pair around the list, 0 for a bare comma list
    int n;
    char item[MAX_ITEMS][VERIFY_MAX_ANSWER];
} List;

// Splits "a,b,c" at top-level commas; false when there are too many items.
static bool split_commas(const char *s, size_t len, List *l) {
    int depth = 0;
    size_t start = 0;
    l->n = 0;
    for (size_t i = 0; i <= len; i++) {
        char c = i < len ? s[i] : ',';
        if (c == '(' || c == '[' || c == '{') depth++;
        else if ((c == ')' || c == ']' || c == '}') && depth > 0) depth--;
        else if (c == ',' && depth == 0) {
            if (l->n == MAX_ITEMS) return false;
            snprintf(l->item[l->n++], VERIFY_MAX_ANSWER, "%.*s", (int)(i - start), s + start);
            start = i + 1;
        }
    }
    return true;
}

// Reads s as a tuple/interval "(a,b]", a set "\{a,b\}" or a bare list "a,b"; false for one scalar.
static bool parse_list(const char *s, List *l) {
    size_t n = strlen(s);
    l->open = l->close = 0;
    if (n >= 4 && !strncmp(s, "\\{", 2) && !strcmp(s + n - 2, "\\}")) {
        l->open = '{', l->close = '}';
        return split_commas(s + 2, n - 4, l) && l->n >= 1;
    }
    if (n >= 2 && strchr("([", s[0]) && strchr(")]", s[n - 1])) {
        // Only when the outer brackets enclose everything: "(1)+(2)" is not a tuple.
        int depth = 0;
        for (size_t i = 0; i < n; i++) {
            if (strchr("([{", s[i])) depth++;
            else if (strchr(")]}", s[i])) depth--;
            if (depth == 0 && i + 1 < n) goto bare;
        }
        l->open = s[0], l->close = s[n - 1];
        return split_commas(s + 1, n - 2, l) && l->n >= 2;
    }
bare:
    return split_commas(s, n, l) && l->n >= 2;
}

typedef struct {
    int n;
    char term[MAX_ITEMS][VERIFY_MAX_ANSWER];  // each with its sign: "+4x^2", "-7"
} Sum;

// Relations written as LaTeX commands or Unicode symbols; a command counts only as a whole word (\le, not \lambda).
static const char *const RELATION_COMMANDS[] = {
    "le", "leq", "leqq", "leqslant", "ge", "geq", "geqq", "geqslant", "lt", "gt", "ne", "neq", "ll", "gg",
    "approx", "equiv", "sim", "simeq", "cong", "propto", "in", "notin", "ni", "subset", "subseteq", "supset",
    "supseteq", "to", "mapsto", "implies", "impliedby", "iff", "Rightarrow", "Leftarrow", "Leftrightarrow",
    "rightarrow", "leftarrow", "leftrightarrow", "Longrightarrow", "Longleftrightarrow", "coloneqq", "doteq"};
static const char *const RELATION_SYMBOLS[] = {"\u2264", "\u2265", "\u2260", "\u2248", "\u2261", "\u2192", "\u21d2",
                                               "\u21d4", "\u2208"};

// A relation whose sides must not be mixed: =, <, >, a relation command or symbol.
static bool has_relation(const char *s) {
    if (strpbrk(s, "=<>")) return true;
    for (size_t i = 0; i < sizeof RELATION_SYMBOLS / sizeof RELATION_SYMBOLS[0]; i++)
        if (strstr(s, RELATION_SYMBOLS[i])) return true;
    for (const char *p = s; (p = strchr(p, '\\')); ) {
        size_t n = 0;
        while (isalpha((unsigned char)p[1 + n])) n++;
        for (size_t i = 0; i < sizeof RELATION_COMMANDS / sizeof RELATION_COMMANDS[0]; i++)
            if (strlen(RELATION_COMMANDS[i]) == n && !strncmp(p + 1, RELATION_COMMANDS[i], n)) return true;
        p += 1 + (n ? n : p[1] != 0);  // past the word, or past an escaped character ("\\", "\{")
    }
    return false;
}

// Length of the \pm or \mp command word at t, or 0: it signs the term it begins (1\pm\sqrt2 has terms +1, \pm\sqrt2).
static size_t plus_minus(const char *t) {
    return (!strncmp(t, "\\pm", 3) || !strncmp(t, "\\mp", 3)) && !isalpha((unsigned char)t[3]) ? 3 : 0;
}

// Splits a normalised expression at top-level +, -, \pm and \mp that separate terms (not the signs num_sign_in_term
// keeps inside a term: 2*-3, 1.5e-2); false for one term without \pm or \mp, too many terms, or a relation
// (has_relation) whose sides must not be mixed.
static bool split_sum(const char *s, Sum *sum) {
    if (has_relation(s)) return false;
    int depth = 0;
    size_t start = 0, n = strlen(s);
    bool signed_by_command = false;
    sum->n = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? s[i] : 0;
        if (c == '(' || c == '[' || c == '{') depth++;
        else if ((c == ')' || c == ']' || c == '}') && depth > 0) depth--;
        bool split = !c || (depth == 0 && (((c == '+' || c == '-') && !num_sign_in_term(s, i)) || plus_minus(s + i)));
        if (!split || i == start) continue;
        if (sum->n == MAX_ITEMS) return false;
        const char *t = s + start;
        bool sign = *t == '+' || *t == '-' || plus_minus(t);
        signed_by_command |= plus_minus(t) > 0;
        snprintf(sum->term[sum->n++], VERIFY_MAX_ANSWER, "%s%.*s", sign ? "" : "+", (int)(i - start), t);
        start = i;
    }
    return sum->n >= 2 || (sum->n == 1 && signed_by_command);
}

static bool number_equal(const char *a, const char *b) {
    Num x, y;
    return num_parse(a, &x) && num_parse(b, &y) && num_equal(&x, &y);
}

// Two terms equal as text or as numbers ("+0.5", "+\frac12"); one signed by \pm or \mp only one after the same command
// whose rest has the same value ("\pm0.5", "\pm\frac12").
static bool terms_equal(const char *x, const char *y) {
    if (!strcmp(x, y)) return true;
    size_t nx = plus_minus(x), ny = plus_minus(y);
    if (nx || ny) return nx == ny && !strncmp(x, y, nx) && number_equal(x + nx, y + ny);
    return number_equal(x, y);
}

// Addition commutes: the same multiset of terms (terms_equal) in any order.
static bool sums_equal(const char *a, const char *b) {
    Sum *x = malloc(2 * sizeof *x), *y = x + 1;
    bool equal = split_sum(a, x) && split_sum(b, y) && x->n == y->n;
    bool used[MAX_ITEMS] = {0};
    for (int i = 0; equal && i < x->n; i++) {
        int j = 0;
        while (j < y->n && (used[j] || !terms_equal(x->term[i], y->term[j]))) j++;
        equal = j < y->n;
        if (equal) used[j] = true;
    }
    free(x);
    return equal;
}

static bool scalar_equal(const char *a, const char *b) {
    if (!strcmp(a, b)) return true;
    Num x, y;
    bool px = num_parse(a, &x), py = num_parse(b, &y);
    if (px && py) return num_equal(&x, &y);
    return sums_equal(a, b) || poly_texts_equal(a, b);  // 2(x+1) = 2x+2: both whole polynomials (verify_poly.h)
}

static bool items_equal(const char *a, const char *b, int depth);
static bool answers_equal(const char *a, const char *b, int depth);

// Unordered comparison for sets and bare lists (answers like "x = 1, 2", "x=1, y=2").
static bool lists_equal_unordered(const List *x, const List *y, int depth) {
    bool used[MAX_ITEMS] = {0};
    for (int i = 0; i < x->n; i++) {
        int j = 0;
        while (j < y->n && (used[j] || !items_equal(x->item[i], y->item[j], depth + 1))) j++;
        if (j == y->n) return false;
        used[j] = true;
    }
    return true;
}

typedef struct {
    char lhs[VERIFY_MAX_ANSWER], rhs[VERIFY_MAX_ANSWER];
} Equation;

// Reads s as an equation "lhs=rhs": its only '=' outside brackets, not part of <=, >=, !=, :=, and sides that are
// not empty and hold no other relation (has_relation); false otherwise.
static bool split_equation(const char *s, Equation *eq) {
    const char *at = strchr(s, '=');
    if (!at || at == s || !at[1] || strchr(at + 1, '=') || strchr("<>!:", at[-1])) return false;
    int depth = 0;
    for (const char *c = s; c < at; c++) depth += !!strchr("([{", *c) - !!strchr(")]}", *c);
    if (depth) return false;
    snprintf(eq->lhs, sizeof eq->lhs, "%.*s", (int)(at - s), s);
    snprintf(eq->rhs, sizeof eq->rhs, "%s", at + 1);
    return !has_relation(eq->lhs) && !has_relation(eq->rhs);
}

// A list item or union piece: an equation (x=\frac12, 2x+1=0) compares as answers do, else as a scalar. No depth is
// added: what answers_equal compares further holds no '=' that it splits again.
static bool scalars_equal(const char *a, const char *b, int depth) {
    Equation eq;
    if (split_equation(a, &eq) || split_equation(b, &eq)) return answers_equal(a, b, depth);
    return scalar_equal(a, b);
}

static bool items_equal(const char *a, const char *b, int depth) {
    if (depth > 3) return !strcmp(a, b);
    List x, y;
    bool lx = parse_list(a, &x), ly = parse_list(b, &y);
    if (!lx && !ly) return scalars_equal(a, b, depth);
    if (lx != ly || x.n != y.n || x.open != y.open || x.close != y.close) return false;
    if (!x.open || x.open == '{') return lists_equal_unordered(&x, &y, depth);
    for (int i = 0; i < x.n; i++)
        if (!items_equal(x.item[i], y.item[i], depth + 1)) return false;
    return true;
}

// Splits at "\cup" and compares the pieces in order (unions of intervals).
static bool unions_equal(const char *a, const char *b, int depth) {
    const char *ca = strstr(a, "\\cup"), *cb = strstr(b, "\\cup");
    if (!ca && !cb) return items_equal(a, b, depth);
    if (!ca || !cb) return false;
    char ha[VERIFY_MAX_ANSWER], hb[VERIFY_MAX_ANSWER];
    snprintf(ha, sizeof ha, "%.*s", (int)(ca - a), a);
    snprintf(hb, sizeof hb, "%.*s", (int)(cb - b), b);
    return items_equal(ha, hb, depth) && unions_equal(ca + 4, cb + 4, depth);
}

static bool strip_percent(char *s) {
    size_t n = strlen(s);
    if (n < 2 || s[n - 1] != '%') return false;
    s[n - 1] = 0;
    return true;
}

// Two finished values (norm_finish), each changed in place: equal text, unions, lists, sums, numbers, percentages.
static bool values_equal(char *a, char *b, int depth) {
    if (!*a || !*b) return false;
    if (!strcmp(a, b)) return true;
    size_t na = strlen(a), nb = strlen(b);
    if ((a[na - 1] == '%' || b[nb - 1] == '%') && unions_equal(a, b, depth)) return true;  // x=1, y=50% vs y=0.5, x=1
    bool pa = strip_percent(a), pb = strip_percent(b);
    if (unions_equal(a, b, depth)) return true;  // 50% vs 50
    if (pa == pb) return false;
    // 50% vs 0.5: the percentage divided by 100.
    Num x, y, scaled;
    if (!num_parse(a, &x) || !num_parse(b, &y)) return false;
    return pa ? num_div100(&x, &scaled) && num_equal(&scaled, &y) : num_div100(&y, &scaled) && num_equal(&x, &scaled);
}

// Two texts as values once finished (norm_finish): an equation's sides, or answers after their prefixes.
static bool finished_equal(const char *a, const char *b, int depth) {
    char x[VERIFY_MAX_ANSWER], y[VERIFY_MAX_ANSWER];
    snprintf(x, sizeof x, "%s", a);
    snprintf(y, sizeof y, "%s", b);
    norm_finish(x);
    norm_finish(y);
    return values_equal(x, y, depth);
}

// (x,y)=(1,2) states x=1, y=2: a tuple assignment (norm_expand_tuple) compares as that list of equations with another
// list in any order (y=2, x=1) or another tuple assignment in another order ((y,x)=(2,1)); against a value without '='
// it is the tuple (1,2) (norm_drop_prefix), never the unordered list 1, 2. Expanded texts start with a name, so no
// second expansion follows.
static bool tuples_equal(const char *a, const char *b, int depth) {
    if (!strchr(a, '=') || !strchr(b, '=')) return false;
    char x[VERIFY_MAX_ANSWER], y[VERIFY_MAX_ANSWER];
    snprintf(x, sizeof x, "%s", a);
    snprintf(y, sizeof y, "%s", b);
    bool ex = norm_expand_tuple(x), ey = norm_expand_tuple(y);
    return (ex || ey) && answers_equal(x, y, depth);
}

// x=1, y=2 (or y=2, x=1) against a value without '=' is the tuple (1,2) of its values with the names in alphabetical
// order (norm_collect_tuple), the order of the ordered pair (x,y) that such a list answers, as (x,y)=(1,2) is (1,2).
// math-verify 0.9.0 accepts these, and (2,1) too (it compares the values unordered), which stays wrong here.
static bool collected_equal(const char *a, const char *b, int depth) {
    if (!strchr(a, '=') || strchr(b, '=')) return false;
    char x[VERIFY_MAX_ANSWER];
    snprintf(x, sizeof x, "%s", a);
    return norm_collect_tuple(x) && finished_equal(x, b, depth);
}

// Two normalised answers (norm_text, "x =" prefixes kept). Two equations compare side by side, left with left and
// right with right, or each with the other's mirror side: a=b states what b=a states (math-verify agrees). An equation
// against a bare value counts only when its left side names what the value is (norm_drop_prefix: x = 3, f(x) = x+1);
// 2x+1=0 is not 0.
static bool answers_equal(const char *a, const char *b, int depth) {
    if (!strcmp(a, b) || tuples_equal(a, b, depth) || collected_equal(a, b, depth) || collected_equal(b, a, depth))
        return true;
    Equation *e = malloc(2 * sizeof *e);
    bool qa = split_equation(a, &e[0]), qb = split_equation(b, &e[1]), equal;
    if (qa && qb) {
        equal = (finished_equal(e[0].lhs, e[1].lhs, depth) && finished_equal(e[0].rhs, e[1].rhs, depth)) ||
                (finished_equal(e[0].lhs, e[1].rhs, depth) && finished_equal(e[0].rhs, e[1].lhs, depth)) ||
                poly_equations_equal(e[0].lhs, e[0].rhs, e[1].lhs, e[1].rhs);  // y-3=2x is y=2x+3
    } else {
        char x[VERIFY_MAX_ANSWER], y[VERIFY_MAX_ANSWER];
        snprintf(x, sizeof x, "%s", a);
        snprintf(y, sizeof y, "%s", b);
        equal = (!qa || norm_drop_prefix(x)) && (!qb || norm_drop_prefix(y)) && finished_equal(x, y, depth);
    }
    free(e);
    return equal;
}

void verify_normalize(const char *s, char *out, size_t cap) {
    char buf[VERIFY_MAX_ANSWER];
    norm_text(s, buf, sizeof buf);
    norm_drop_prefix(buf);
    norm_finish(buf);
    if (cap) snprintf(out, cap, "%s", buf);
}

bool verify_equivalent(const char *predicted, const char *truth) {
    char a[VERIFY_MAX_ANSWER], b[VERIFY_MAX_ANSWER];
    norm_text(predicted, a, sizeof a);
    norm_text(truth, b, sizeof b);
    return *a && *b && answers_equal(a, b, 0);
}

// A text that fills its buffer may have been cut there: a wrong answer sharing its first bytes would compare equal.
static bool whole(const char *s) { return strlen(s) < VERIFY_MAX_ANSWER - 1; }

void verify_math(const char *response, const char *answer, Verdict *v) {
    char truth[VERIFY_MAX_ANSWER];
    v->found = verify_extract(response, v->extracted, sizeof v->extracted);
    verify_truth(answer, truth, sizeof truth);
    v->correct = v->found && whole(v->extracted) && whole(truth) && verify_equivalent(v->extracted, truth);
}

// Sign and digits of an integer with leading zeros dropped ("-007" -> '-', "7"); false if not an integer.
static bool integer_digits(const char *s, size_t n, bool *neg, const char **digits, size_t *len) {
    *neg = false;
    if (n && (*s == '-' || *s == '+')) *neg = *s == '-', s++, n--;
    if (!n) return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return false;
    while (n > 1 && *s == '0') s++, n--;
    if (n == 1 && *s == '0') *neg = false;
    *digits = s, *len = n;
    return true;
}

void verify_integer_answer(const char *response, const char *answer, Verdict *v) {
    v->correct = false;
    v->extracted[0] = 0;
    v->found = extract_after(response ? response : "", "Answer:", false, v->extracted, sizeof v->extracted);
    if (!v->found || !answer) return;
    bool n1, n2;
    const char *d1, *d2;
    size_t l1, l2;
    char truth[VERIFY_MAX_ANSWER];
    copy_trimmed(answer, strlen(answer), truth, sizeof truth);
    if (!whole(v->extracted) || !whole(truth)) return;
    if (!integer_digits(v->extracted, strlen(v->extracted), &n1, &d1, &l1) ||
        !integer_digits(truth, strlen(truth), &n2, &d2, &l2))
        return;
    v->correct = n1 == n2 && l1 == l2 && !memcmp(d1, d2, l1);
}

#include "text/verify_poly.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "text/verify_num.h"

#define MAX_DEPTH 24             // nesting of brackets, \frac arguments and unary signs
#define MAX_CONST_EXPONENT 64    // as num_parse bounds a power of a number
#define MAX_NAME 16              // a variable's spelling: "x", "x_{12}", "\theta"
#define WORK_BUDGET 4096         // monomial products per comparison: (x+y+z)^4 takes 57, (x+1)^{16} about 270
#define MAX_ROOT 1000000000000LL // a product's radicand, as rat_sqrt bounds one read (src/text/verify_num.h)

typedef struct {
    Rat c;
    int64_t root;              // c·√root: root square-free, 1 for none
    uint8_t e[POLY_MAX_VARS];  // exponent of each variable of the Reader
} Mono;

// Canonical form: no zero coefficient, no two terms with the same exponents and root (order free). The √r of distinct
// square-free r are linearly independent over the rationals and π is transcendental, so two forms of one value are
// the same form (and equal forms are equal values in any case: every step is exact).
typedef struct {
    int n;
    Mono t[POLY_MAX_TERMS];
} Poly;

// One comparison's state: the texts compared share the variables, so that x is the same symbol in each.
typedef struct {
    const char *s;
    int depth, work;
    int n_vars;
    char var[POLY_MAX_VARS][MAX_NAME];
} Reader;

// Greek letters read as variables (\pi among them: one symbol, never 3.14...).
static const char *const GREEK[] = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi", "omega",
    "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega"};

// The symbols that are atoms, not variables, where poly_equations_equal counts variables: \pi, Euler's e and the
// imaginary unit i, so x=\pi, x=e and x=i state a value, as x=1 does (math-verify 0.9.0 reads e and i so too).
static bool is_atom(const char *name) { return !strcmp(name, "\\pi") || !strcmp(name, "e") || !strcmp(name, "i"); }

static bool rat_is_zero(Rat x) { return x.n == 0; }
static bool rat_same(Rat x, Rat y) { return x.n == y.n && x.d == y.d; }
// 1/(n/d) = d/n for n != 0, the denominator kept positive (|n| <= INT64_MAX: negating it cannot overflow).
static Rat rat_inverse(Rat x) { return (Rat){x.n < 0 ? -x.d : x.d, x.n < 0 ? -x.n : x.n}; }

static void poly_constant(Rat c, Poly *out) {
    out->n = 0;
    if (rat_is_zero(c)) return;
    memset(&out->t[0], 0, sizeof out->t[0]);
    out->t[0].c = c;
    out->t[0].root = 1;
    out->n = 1;
}

// Same exponents and same root: terms that merge.
static bool same_term(const Mono *a, const Mono *b) { return a->root == b->root && !memcmp(a->e, b->e, sizeof a->e); }

// Adds the monomial m to p, merging a term with the same exponents; false when p would pass POLY_MAX_TERMS or a
// coefficient would overflow.
static bool poly_add_mono(Poly *p, const Mono *m) {
    for (int i = 0; i < p->n; i++) {
        if (!same_term(&p->t[i], m)) continue;
        if (!rat_add(p->t[i].c, m->c, &p->t[i].c)) return false;
        if (rat_is_zero(p->t[i].c)) p->t[i] = p->t[--p->n];
        return true;
    }
    if (rat_is_zero(m->c)) return true;
    if (p->n == POLY_MAX_TERMS) return false;
    p->t[p->n++] = *m;
    return true;
}

// a += sign·b (sign is +1 or -1).
static bool poly_add(Poly *a, const Poly *b, int sign) {
    for (int i = 0; i < b->n; i++) {
        Mono m = b->t[i];
        if (sign < 0) m.c.n = -m.c.n;
        if (!poly_add_mono(a, &m)) return false;
    }
    return true;
}

static bool poly_scale(Poly *p, Rat k) {
    if (rat_is_zero(k)) return p->n = 0, true;
    for (int i = 0; i < p->n; i++)
        if (!rat_mul(p->t[i].c, k, &p->t[i].c)) return false;
    return true;
}

static bool no_symbol(const Mono *m) {
    static const uint8_t none[POLY_MAX_VARS] = {0};
    return !memcmp(m->e, none, sizeof none);
}

// The value of a rational constant (no variable, \pi or root), in *value.
static bool poly_is_constant(const Poly *p, Rat *value) {
    if (p->n == 0) return *value = (Rat){0, 1}, true;
    if (p->n > 1 || !no_symbol(&p->t[0]) || p->t[0].root != 1) return false;
    *value = p->t[0].c;
    return true;
}

// A number: no variable or \pi in any term (roots allowed: 1+\sqrt2).
static bool poly_is_number(const Poly *p) {
    for (int i = 0; i < p->n; i++)
        if (!no_symbol(&p->t[i])) return false;
    return true;
}

// √r·√s for square-free r and s: with g = gcd(r, s), r·s = g²·(r/g)(s/g), where (r/g)(s/g) is square-free (a prime
// in both would divide g, so its square r or s); writes g and (r/g)(s/g). False past MAX_ROOT.
static bool root_mul(int64_t r, int64_t s, int64_t *g, int64_t *root) {
    int64_t a = r, b = s;
    while (b) {
        int64_t t = a % b;
        a = b, b = t;
    }
    __int128 rest = (__int128)(r / a) * (s / a);
    if (rest > MAX_ROOT) return false;
    *g = a, *root = (int64_t)rest;
    return true;
}

// The product of two terms, exactly: exponents added, roots multiplied (√2·√2 = 2, √2·√3 = √6).
static bool mono_mul(const Mono *a, const Mono *b, Mono *m) {
    for (int v = 0; v < POLY_MAX_VARS; v++) {
        int e = a->e[v] + b->e[v];
        if (e > POLY_MAX_DEGREE) return false;
        m->e[v] = (uint8_t)e;
    }
    int64_t g;
    return root_mul(a->root, b->root, &g, &m->root) && rat_mul(a->c, b->c, &m->c) && rat_mul(m->c, (Rat){g, 1}, &m->c);
}

// a *= b, each monomial product spending the reader's budget; false past POLY_MAX_DEGREE or a bound.
static bool poly_mul(Poly *a, const Poly *b, Reader *r) {
    Poly product = {0};
    for (int i = 0; i < a->n; i++) {
        for (int j = 0; j < b->n; j++) {
            if (--r->work < 0) return false;
            Mono m;
            if (!mono_mul(&a->t[i], &b->t[j], &m) || !poly_add_mono(&product, &m)) return false;
        }
    }
    *a = product;
    return true;
}

static bool poly_equal(const Poly *a, const Poly *b) {
    if (a->n != b->n) return false;
    for (int i = 0; i < a->n; i++) {
        int j = 0;
        while (j < b->n && !same_term(&a->t[i], &b->t[j])) j++;
        if (j == b->n || !rat_same(a->t[i].c, b->t[j].c)) return false;
    }
    return true;
}

// p / den for a nonzero number of one term c·√r: p·√r/(c·r). False for a variable, \pi, a sum (1+\sqrt2) or zero.
static bool poly_divide(Poly *p, const Poly *den, Reader *r) {
    if (den->n != 1 || !no_symbol(&den->t[0])) return false;
    if (den->t[0].root == 1) return poly_scale(p, rat_inverse(den->t[0].c));
    Poly inverse = *den;
    Rat cr;
    if (!rat_mul(den->t[0].c, (Rat){den->t[0].root, 1}, &cr)) return false;
    inverse.t[0].c = rat_inverse(cr);
    return poly_mul(p, &inverse, r);
}

// base^k: 0..POLY_MAX_DEGREE for a polynomial with a variable or \pi, |k| <= MAX_CONST_EXPONENT for a number (k < 0
// only for one poly_divide takes).
static bool poly_pow(Poly *base, int k, Reader *r) {
    bool number = poly_is_number(base);
    if (k < 0) {
        if (!number || k < -MAX_CONST_EXPONENT) return false;
        Poly one;
        poly_constant((Rat){1, 1}, &one);
        if (!poly_divide(&one, base, r)) return false;
        *base = one;
        k = -k;
    }
    if (k > (number ? MAX_CONST_EXPONENT : POLY_MAX_DEGREE)) return false;
    if (base->n == 0 && k == 0) return false;  // 0^0 has no agreed value
    Poly power;
    poly_constant((Rat){1, 1}, &power);
    for (int i = 0; i < k; i++)
        if (!poly_mul(&power, base, r)) return false;
    *base = power;
    return true;
}

// A LaTeX command word at r->s (a whole word: \pi but not \pir), and the one space normalisation keeps after it.
static bool take_command(Reader *r, const char *cmd) {
    size_t n = strlen(cmd);
    if (strncmp(r->s, cmd, n) || isalpha((unsigned char)r->s[n])) return false;
    r->s += n;
    if (*r->s == ' ') r->s++;
    return true;
}

static bool read_expr(Reader *r, Poly *out);
static bool read_factor(Reader *r, Poly *out);

// The polynomial of the variable spelled name[0..n), added to the reader's variables when new.
static bool variable(Reader *r, const char *name, size_t n, Poly *out) {
    if (n >= MAX_NAME) return false;
    int v = 0;
    while (v < r->n_vars && (strlen(r->var[v]) != n || strncmp(r->var[v], name, n))) v++;
    if (v == r->n_vars) {
        if (v == POLY_MAX_VARS) return false;
        memcpy(r->var[v], name, n);
        r->var[v][n] = 0;
        r->n_vars++;
    }
    poly_constant((Rat){1, 1}, out);
    out->t[0].e[v] = 1;
    return true;
}

// Length of a subscript "_1", "_n", "_{12}" at s, or 0 when none.
static size_t subscript(const char *s) {
    if (*s != '_') return 0;
    if (isalnum((unsigned char)s[1])) return 2;
    if (s[1] != '{') return 0;
    size_t n = 2;
    while (isalnum((unsigned char)s[n])) n++;
    return n > 2 && s[n] == '}' ? n + 1 : 0;
}

// A letter with its subscript, or a Greek letter command.
static bool read_variable(Reader *r, Poly *out) {
    const char *at = r->s;
    if (*at == '\\') {
        for (size_t i = 0; i < sizeof GREEK / sizeof GREEK[0]; i++) {
            size_t n = strlen(GREEK[i]);
            if (strncmp(at + 1, GREEK[i], n) || isalpha((unsigned char)at[1 + n])) continue;
            r->s = at + 1 + n;
            if (*r->s == ' ') r->s++;
            return variable(r, at, n + 1, out);
        }
        return false;
    }
    if (!isalpha((unsigned char)*at)) return false;
    size_t n = 1 + subscript(at + 1);
    if (at[n] == '(' && strchr("fghpqFGHPQ", *at)) return false;  // f(x+1) applies f
    r->s = at + n;
    return variable(r, at, n, out);
}

// Argument of \frac: "{expr}" or one digit (\frac12).
static bool read_arg(Reader *r, Poly *out) {
    if (isdigit((unsigned char)*r->s)) {
        poly_constant((Rat){*r->s++ - '0', 1}, out);
        return true;
    }
    if (*r->s != '{') return false;
    r->s++;
    if (!read_expr(r, out) || *r->s != '}') return false;
    r->s++;
    return true;
}

// The argument of \sqrt, a rational number >= 0, as c·√root (rat_sqrt: \sqrt{12} = 2√3, \sqrt{\frac34} = ½√3);
// \sqrt{x}, \sqrt{\sqrt2}, \sqrt{-1} and \sqrt[3]{2} are refused.
static bool read_root(Reader *r, Poly *out) {
    Poly arg;
    Rat value, coef;
    int64_t root;
    if (!read_arg(r, &arg) || !poly_is_constant(&arg, &value) || !rat_sqrt(value, &coef, &root)) return false;
    poly_constant(coef, out);
    if (out->n) out->t[0].root = root;
    return true;
}

static bool read_base(Reader *r, Poly *out) {
    if (++r->depth > MAX_DEPTH) return false;
    bool ok;
    char c = *r->s;
    if (c == '+' || c == '-') {  // unary sign inside a term: 2*-x, as num_parse reads 2*-3
        r->s++;
        ok = read_factor(r, out) && (c == '+' || poly_scale(out, (Rat){-1, 1}));
    } else if (c == '(' || c == '{') {
        char close = c == '(' ? ')' : '}';
        r->s++;
        ok = read_expr(r, out) && *r->s == close;
        if (ok) r->s++;
    } else if (take_command(r, "\\frac")) {
        Poly den;
        ok = read_arg(r, out) && read_arg(r, &den) && poly_divide(out, &den, r);
    } else if (take_command(r, "\\sqrt")) {
        ok = read_root(r, out);
    } else if (isdigit((unsigned char)c) || c == '.') {
        Rat value;
        ok = num_literal(&r->s, &value);
        if (ok) poly_constant(value, out);
    } else {
        ok = read_variable(r, out);
    }
    r->depth--;
    return ok;
}

static bool read_factor(Reader *r, Poly *out) {
    if (!read_base(r, out)) return false;
    if (*r->s != '^') return true;
    r->s++;
    int k;
    return num_exponent(&r->s, &k) && poly_pow(out, k, r);
}

// A factor that may follow another without an operator: 2x, xy, 3(x+1), \frac12x, 2\pi; never a digit (x2).
static bool implicit_factor(const Reader *r) {
    return isalpha((unsigned char)*r->s) || *r->s == '(' || *r->s == '\\';
}

static bool all_digits(const char *from, const char *to) {
    for (const char *c = from; c < to; c++)
        if (!isdigit((unsigned char)*c)) return false;
    return from < to;
}

static bool read_term(Reader *r, Poly *out) {
    const char *first = r->s;
    if (!read_factor(r, out)) return false;
    if (all_digits(first, r->s) && !strncmp(r->s, "\\frac", 5)) return false;  // 2\frac12 is num_parse's 5/2
    for (bool divided = false;;) {
        Poly rhs;
        bool divide = false;
        if (*r->s == '*') r->s++;
        else if (take_command(r, "\\cdot") || take_command(r, "\\times")) {
        } else if (*r->s == '/') divide = true, r->s++;
        else if (take_command(r, "\\div")) divide = true;
        else if (!implicit_factor(r)) return true;
        else if (divided) return false;  // 1/2x: (1/2)x to num_parse's reading, 1/(2x) to many readers
        if (!read_factor(r, &rhs)) return false;
        if (!(divide ? poly_divide(out, &rhs, r) : poly_mul(out, &rhs, r))) return false;
        divided = divide;
    }
}

static bool read_expr(Reader *r, Poly *out) {
    if (++r->depth > MAX_DEPTH) return false;
    bool neg = false;
    if (*r->s == '+' || *r->s == '-') neg = *r->s++ == '-';
    bool ok = read_term(r, out) && (!neg || poly_scale(out, (Rat){-1, 1}));
    while (ok && (*r->s == '+' || *r->s == '-')) {
        int sign = *r->s++ == '-' ? -1 : 1;
        Poly rhs;
        ok = read_term(r, &rhs) && poly_add(out, &rhs, sign);
    }
    r->depth--;
    return ok;
}

// A run of three letters or more outside a command word: a word, not a product ("yes" is not y·e·s).
static bool has_word(const char *s) {
    for (const char *p = s; *p;) {
        if (*p == '\\') {
            p++;
            while (isalpha((unsigned char)*p)) p++;
            continue;
        }
        size_t run = 0;
        while (isalpha((unsigned char)p[run])) run++;
        if (run >= 3) return true;
        p += run ? run : 1;
    }
    return false;
}

// Letters alone ("no", "on", "ab"): a word, not a product; a product has something else too (2ab, a\cdot b).
static bool letters_only(const char *s) {
    for (; *s; s++)
        if (!isalpha((unsigned char)*s)) return false;
    return true;
}

// Reads the whole of s into out with the reader's variables.
static bool poly_read(Reader *r, const char *s, Poly *out) {
    if (!s || !*s || strlen(s) > 256 || has_word(s) || (letters_only(s) && s[1])) return false;
    r->s = s;
    r->depth = 0;
    return read_expr(r, out) && *r->s == 0;
}

bool poly_texts_equal(const char *a, const char *b) {
    Reader r = {.work = WORK_BUDGET};
    Poly x, y;
    return poly_read(&r, a, &x) && poly_read(&r, b, &y) && poly_equal(&x, &y);
}

// lhs − rhs of one equation.
static bool equation_poly(Reader *r, const char *lhs, const char *rhs, Poly *out) {
    Poly right;
    return poly_read(r, lhs, out) && poly_read(r, rhs, &right) && poly_add(out, &right, -1);
}

// Number of distinct variables in p, the atoms \pi, e and i not among them (x=\pi states a value, as x=1 does).
static int variables_in(const Reader *r, const Poly *p) {
    int count = 0;
    for (int v = 0; v < r->n_vars; v++) {
        if (is_atom(r->var[v])) continue;
        bool present = false;
        for (int i = 0; i < p->n && !present; i++) present = p->t[i].e[v] > 0;
        count += present;
    }
    return count;
}

// True when q = k·p for a rational k (written to *k); p and q not zero.
static bool poly_multiple(const Poly *p, const Poly *q, Rat *k) {
    int j = 0;
    while (j < q->n && !same_term(&q->t[j], &p->t[0])) j++;
    if (j == q->n) return false;
    Poly scaled = *p;
    return rat_mul(q->t[j].c, rat_inverse(p->t[0].c), k) && poly_scale(&scaled, *k) && poly_equal(&scaled, q);
}

bool poly_equations_equal(const char *l1, const char *r1, const char *l2, const char *r2) {
    Reader r = {.work = WORK_BUDGET};
    Poly p, q;
    Rat k;
    if (!equation_poly(&r, l1, r1, &p) || !equation_poly(&r, l2, r2, &q) || poly_is_constant(&p, &k) ||
        !poly_multiple(&p, &q, &k))
        return false;
    bool unit = k.d == 1 && (k.n == 1 || k.n == -1);
    return unit || variables_in(&r, &p) >= 2;  // 2x=2 is no answer to x=1; 2y=x+2 is the line y=\frac12x+1
}

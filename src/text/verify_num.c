#include "text/verify_num.h"

#include <ctype.h>
#include <string.h>

#define MAX_DEPTH 24
#define MAX_EXPONENT 64
#define MAX_RADICAND 1000000000000LL  // square-free reduction by trial division stays under 10^4 steps (rat_sqrt)

typedef struct {
    const char *s;
    int depth;
} Parser;

static int64_t gcd64(int64_t a, int64_t b) {
    if (a < 0) a = -a;
    if (b < 0) b = -b;
    while (b) {
        int64_t t = a % b;
        a = b, b = t;
    }
    return a;
}

static bool fits(__int128 x) { return x >= -(__int128)INT64_MAX && x <= (__int128)INT64_MAX; }

// n/d reduced with d > 0; false when the reduced value does not fit 64 bits or d == 0.
static bool rat_make(__int128 n, __int128 d, Rat *out) {
    if (d == 0) return false;
    if (d < 0) n = -n, d = -d;
    __int128 a = n < 0 ? -n : n, b = d;
    while (b) {
        __int128 t = a % b;
        a = b, b = t;
    }
    if (a > 1) n /= a, d /= a;
    if (!fits(n) || !fits(d)) return false;
    out->n = (int64_t)n, out->d = (int64_t)d;
    return true;
}

bool rat_add(Rat x, Rat y, Rat *o) {
    return rat_make((__int128)x.n * y.d + (__int128)y.n * x.d, (__int128)x.d * y.d, o);
}
bool rat_mul(Rat x, Rat y, Rat *o) {
    int64_t g1 = gcd64(x.n, y.d), g2 = gcd64(y.n, x.d);
    if (!g1) g1 = 1;
    if (!g2) g2 = 1;
    return rat_make((__int128)(x.n / g1) * (y.n / g2), (__int128)(x.d / g2) * (y.d / g1), o);
}
static Rat rat_int(int64_t v) { return (Rat){v, 1}; }
static Rat rat_neg(Rat x) { return (Rat){-x.n, x.d}; }
static bool rat_zero(Rat x) { return x.n == 0; }

static Num num_rat(Rat a) { return (Num){a, {0, 1}, 0, 0}; }

// Drops a zero surd part so that equal values have one representation.
static Num num_canon(Num x) {
    if (rat_zero(x.b)) x.b = rat_int(0), x.r = 0;
    return x;
}

static bool num_add(Num x, Num y, Num *o) {
    if (x.inf || y.inf) return false;
    if (x.r && y.r && x.r != y.r) return false;  // outside one field Q(√r)
    o->inf = 0;
    o->r = x.r ? x.r : y.r;
    if (!rat_add(x.a, y.a, &o->a) || !rat_add(x.b, y.b, &o->b)) return false;
    *o = num_canon(*o);
    return true;
}

static bool num_neg(Num x, Num *o) {
    if (x.inf) return *o = x, o->inf = -x.inf, true;
    *o = x;
    o->a = rat_neg(x.a), o->b = rat_neg(x.b);
    return true;
}

// (a1 + b1√r)(a2 + b2√r) = a1a2 + b1b2·r + (a1b2 + a2b1)√r
static bool num_mul(Num x, Num y, Num *o) {
    if (x.inf || y.inf) return false;
    if (x.r && y.r && x.r != y.r) return false;
    int64_t r = x.r ? x.r : y.r;
    Rat aa, bb, bbr, ab, ba;
    if (!rat_mul(x.a, y.a, &aa) || !rat_mul(x.b, y.b, &bb) || !rat_mul(bb, rat_int(r), &bbr)) return false;
    if (!rat_mul(x.a, y.b, &ab) || !rat_mul(x.b, y.a, &ba)) return false;
    o->inf = 0, o->r = r;
    if (!rat_add(aa, bbr, &o->a) || !rat_add(ab, ba, &o->b)) return false;
    *o = num_canon(*o);
    return true;
}

// 1 / (a + b√r) = (a − b√r) / (a² − b²r)
static bool num_inv(Num x, Num *o) {
    if (x.inf) return false;
    Rat a2, b2, b2r, den;
    if (!rat_mul(x.a, x.a, &a2) || !rat_mul(x.b, x.b, &b2) || !rat_mul(b2, rat_int(x.r), &b2r)) return false;
    if (!rat_add(a2, rat_neg(b2r), &den) || rat_zero(den)) return false;
    Rat inv = {den.d, den.n};
    if (!rat_make(inv.n, inv.d, &inv)) return false;
    o->inf = 0, o->r = x.r;
    if (!rat_mul(x.a, inv, &o->a) || !rat_mul(rat_neg(x.b), inv, &o->b)) return false;
    *o = num_canon(*o);
    return true;
}

// Largest s with s² <= m, for 0 <= m <= MAX_RADICAND.
static int64_t isqrt64(int64_t m) {
    int64_t lo = 0, hi = 1000001;  // hi² > MAX_RADICAND
    while (hi - lo > 1) {
        int64_t mid = (lo + hi) / 2;
        if (mid * mid <= m) lo = mid;
        else hi = mid;
    }
    return lo;
}

bool rat_sqrt(Rat x, Rat *coef, int64_t *rad) {
    if (x.n < 0) return false;
    __int128 pq = (__int128)x.n * x.d;
    if (pq > MAX_RADICAND) return false;
    if (pq == 0) return *coef = rat_int(0), *rad = 1, true;
    // Trial division up to the cube root of what is left: then m has no prime factor below f with f³ > m, so it is
    // 1, a prime, the product of two distinct primes or a prime's square (three factors would make m >= f³).
    int64_t m = (int64_t)pq, c = 1, free = 1;
    for (int64_t f = 2; f * f * f <= m; f++) {
        while (m % (f * f) == 0) m /= f * f, c *= f;
        if (m % f == 0) m /= f, free *= f;
    }
    int64_t s = isqrt64(m);
    if (s > 1 && s * s == m) c *= s, m = 1;
    *rad = free * m;
    return rat_make(c, x.d, coef);
}

static bool num_sqrt(Num x, Num *o) {
    if (x.inf || x.r) return false;
    Rat coef;
    int64_t rad;
    if (!rat_sqrt(x.a, &coef, &rad)) return false;
    *o = rad == 1 ? num_rat(coef) : (Num){rat_int(0), coef, rad, 0};
    return true;
}

static bool num_pow(Num x, int64_t k, Num *o) {
    if (k < 0) {
        Num inv;
        return num_inv(x, &inv) && num_pow(inv, -k, o);
    }
    Num acc = num_rat(rat_int(1));
    for (int64_t i = 0; i < k; i++)
        if (!num_mul(acc, x, &acc)) return false;
    *o = acc;
    return true;
}

static bool starts(const Parser *p, const char *word) { return !strncmp(p->s, word, strlen(word)); }

// A LaTeX command word ends at a non-letter (\frac12 but not \fraction).
static bool take_command(Parser *p, const char *cmd) {
    size_t n = strlen(cmd);
    if (strncmp(p->s, cmd, n) || isalpha((unsigned char)p->s[n])) return false;
    p->s += n;
    return true;
}

static bool parse_expr(Parser *p, Num *out);
static bool parse_factor(Parser *p, Num *out);

#define SCALE_BOUND ((__int128)1000000000000000000 * 1000000000000000000)  // 10^36: rat_make's products stay in 128 bits

// Decimal exponent after a mantissa, as verify_num.h states the rule: E[+-]K always, eK always, e+K / e-K only when
// euler_safe (a mantissa no one writes before Euler's number); not when '^' follows (2e3^2 has no one reading).
// Moves *at past it and sets *k (saturated at ±9999) when taken; leaves *at alone otherwise.
static bool take_exponent(const char **at, bool euler_safe, int *k) {
    const char *s = *at;
    if (*s != 'e' && *s != 'E') return false;
    bool upper = *s++ == 'E', signed_exp = *s == '+' || *s == '-', neg = *s == '-';
    if (signed_exp) s++;
    if ((signed_exp && !upper && !euler_safe) || !isdigit((unsigned char)*s)) return false;  // 2e-1 may be 2e − 1
    int v = 0;
    for (; isdigit((unsigned char)*s); s++) v = v < 1000 ? v * 10 + (*s - '0') : 9999;
    if (*s == '^') return false;
    *at = s;
    *k = neg ? -v : v;
    return true;
}

#define MAX_MANTISSA_DIGITS 18  // n < 10^18 fits int64 before reduction

// A decimal literal "12", "3.25", ".5", "1.5e-2" as the reader takes it: mantissa n/d with its digit count (its value
// kept up to MAX_MANTISSA_DIGITS digits) and exponent k (0 when none).
typedef struct {
    __int128 n, d;
    int digits, k;
} Literal;

// Reads the literal at *at and moves past it; false (leaving *at alone) when no mantissa digit starts there.
// The one scanner behind parse_number and exponent_sign: both see the same literal end.
static bool scan_literal(const char **at, Literal *lit) {
    const char *s = *at, *start = s;
    bool point = false;
    *lit = (Literal){0, 1, 0, 0};
    for (;; s++) {
        if (*s == '.' && !point && isdigit((unsigned char)s[1])) {
            point = true;
            continue;
        }
        if (!isdigit((unsigned char)*s)) break;
        if (++lit->digits > MAX_MANTISSA_DIGITS) continue;  // refused by parse_number; the scan still finds the end
        lit->n = lit->n * 10 + (*s - '0');
        if (point) lit->d *= 10;
    }
    if (!lit->digits) return false;
    bool euler_safe = point || (s - start == 1 && *start == '1');  // 1.5e-2, 1e-3; but 2e-1 may be 2e − 1
    take_exponent(&s, euler_safe, &lit->k);
    *at = s;
    return true;
}

// n/d times 10^k; false when a part would pass SCALE_BOUND (the value cannot fit a 64-bit rational anyway).
static bool scale_pow10(__int128 *n, __int128 *d, int k) {
    __int128 *part = k >= 0 ? n : d;
    for (int i = 0; i < (k >= 0 ? k : -k) && *part; i++) {
        if (*part > SCALE_BOUND / 10) return false;
        *part *= 10;
    }
    return true;
}

bool num_literal(const char **at, Rat *out) {
    const char *s = *at;
    Literal lit;
    if (!scan_literal(&s, &lit) || lit.digits > MAX_MANTISSA_DIGITS || !scale_pow10(&lit.n, &lit.d, lit.k) ||
        !rat_make(lit.n, lit.d, out))
        return false;
    *at = s;
    return true;
}

// Decimal literal as an exact rational: refused, never rounded, when it does not fit.
static bool parse_number(Parser *p, Num *out) {
    Rat r;
    if (!num_literal(&p->s, &r)) return false;
    *out = num_rat(r);
    return true;
}

// Argument of \frac / \sqrt: "{expr}" or one digit (\frac12).
static bool parse_arg(Parser *p, Num *out) {
    if (*p->s == '{') {
        p->s++;
        if (!parse_expr(p, out) || *p->s != '}') return false;
        p->s++;
        return true;
    }
    if (isdigit((unsigned char)*p->s)) return *out = num_rat(rat_int(*p->s++ - '0')), true;
    return false;
}

static bool parse_base(Parser *p, Num *out) {
    if (++p->depth > MAX_DEPTH) return false;
    bool ok = false;
    if (*p->s == '-' || *p->s == '+') {  // unary sign inside a term: 2*-3, --3
        bool neg = *p->s++ == '-';
        ok = parse_factor(p, out) && (!neg || num_neg(*out, out));
    } else if (*p->s == '(' || *p->s == '{') {
        char close = *p->s == '(' ? ')' : '}';
        p->s++;
        ok = parse_expr(p, out) && *p->s == close;
        if (ok) p->s++;
    } else if (take_command(p, "\\frac")) {
        Num num, den, inv;
        ok = parse_arg(p, &num) && parse_arg(p, &den) && num_inv(den, &inv) && num_mul(num, inv, out);
    } else if (take_command(p, "\\sqrt")) {
        Num arg;
        ok = parse_arg(p, &arg) && num_sqrt(arg, out);
    } else if (take_command(p, "\\infty") || take_command(p, "\\inf")) {
        *out = (Num){{0, 1}, {0, 1}, 0, 1};
        ok = true;
    } else {
        ok = parse_number(p, out);
    }
    p->depth--;
    return ok;
}

bool num_exponent(const char **s, int *k) {
    const char *c = *s;
    bool brace = *c == '{';
    if (brace) c++;
    bool neg = *c == '-';
    if (neg) c++;
    if (!isdigit((unsigned char)*c)) return false;
    int v = 0;
    while (isdigit((unsigned char)*c)) {
        v = v * 10 + (*c++ - '0');
        if (v > MAX_EXPONENT) return false;
        if (!brace) break;  // ^23 is (^2)3 in LaTeX
    }
    if (brace && *c++ != '}') return false;
    *k = neg ? -v : v, *s = c;
    return true;
}

static bool parse_factor(Parser *p, Num *out) {
    if (!parse_base(p, out)) return false;
    if (*p->s == '^') {
        p->s++;
        int k;
        if (!num_exponent(&p->s, &k) || !num_pow(*out, k, out)) return false;
    }
    return true;
}

static bool is_integer_literal(const char *from, const char *to) {
    if (from == to) return false;
    for (const char *c = from; c < to; c++)
        if (!isdigit((unsigned char)*c)) return false;
    return true;
}

// Starts of factors that may follow without an operator: 2\sqrt3, 3(4), (1)(2).
static bool implicit_factor(const Parser *p) {
    return starts(p, "\\sqrt") || starts(p, "\\frac") || *p->s == '(';
}

static bool parse_term(Parser *p, Num *out) {
    const char *first = p->s;
    if (!parse_factor(p, out)) return false;
    // Mixed number 2\frac{1}{2} = 5/2 (MATH convention), only right after a bare integer.
    if (is_integer_literal(first, p->s) && starts(p, "\\frac")) {
        const char *at = p->s;
        Num frac;
        if (parse_factor(p, &frac) && !frac.r && frac.a.n > 0 && frac.a.n < frac.a.d) return num_add(*out, frac, out);
        p->s = at;
    }
    for (;;) {
        Num rhs;
        if (*p->s == '*' || starts(p, "\\cdot") || starts(p, "\\times")) {
            p->s += *p->s == '*' ? 1 : (starts(p, "\\cdot") ? 5 : 6);
            if (!parse_factor(p, &rhs) || !num_mul(*out, rhs, out)) return false;
        } else if (*p->s == '/' || take_command(p, "\\div")) {
            if (*p->s == '/') p->s++;
            Num inv;
            if (!parse_factor(p, &rhs) || !num_inv(rhs, &inv) || !num_mul(*out, inv, out)) return false;
        } else if (implicit_factor(p)) {
            if (!parse_factor(p, &rhs) || !num_mul(*out, rhs, out)) return false;
        } else {
            return true;
        }
    }
}

static bool parse_expr(Parser *p, Num *out) {
    if (++p->depth > MAX_DEPTH) return false;
    bool neg = false;
    if (*p->s == '+' || *p->s == '-') neg = *p->s++ == '-';
    bool ok = parse_term(p, out) && (!neg || num_neg(*out, out));
    while (ok && (*p->s == '+' || *p->s == '-')) {
        bool minus = *p->s++ == '-';
        Num rhs;
        ok = parse_term(p, &rhs) && (!minus || num_neg(rhs, &rhs)) && num_add(*out, rhs, out);
    }
    p->depth--;
    return ok;
}

bool num_parse(const char *s, Num *out) {
    if (!s || !*s || strlen(s) > 256) return false;
    Parser p = {s, 0};
    return parse_expr(&p, out) && *p.s == 0;
}

// Right after an operator whose right operand parse_factor reads, sign included: the start, a sign, '(' or '{', a
// product or quotient (*, /, \cdot, \times, \div), or \pm / \mp, whose term's rest the verifier's sums read as a
// number (src/text/verify.c). A decimal literal may start here too.
static bool after_operator(const char *s, size_t at) {
    static const char *const commands[] = {"\\cdot", "\\times", "\\div", "\\pm", "\\mp"};
    if (at == 0 || strchr("+-*/({", s[at - 1])) return true;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        size_t n = strlen(commands[i]);
        if (at >= n && !strncmp(s + at - n, commands[i], n)) return true;
    }
    return false;
}

// The sign at s[at] ends "e"/"E" and the literal the reader would start at the mantissa's first digit reads past it.
static bool exponent_sign(const char *s, size_t at) {
    if (at < 2 || (s[at - 1] != 'e' && s[at - 1] != 'E')) return false;
    size_t start = at - 1;  // the mantissa's first character: the run of digits and points before the e
    while (start > 0 && (isdigit((unsigned char)s[start - 1]) || s[start - 1] == '.')) start--;
    if (!after_operator(s, start)) return false;
    const char *end = s + start;
    Literal lit;
    return scan_literal(&end, &lit) && end > s + at;
}

bool num_sign_in_term(const char *s, size_t at) {
    if (s[at] != '+' && s[at] != '-') return false;
    return after_operator(s, at) || s[at - 1] == '^' || exponent_sign(s, at);
}

bool num_equal(const Num *x, const Num *y) {
    if (x->inf || y->inf) return x->inf == y->inf;
    return x->a.n == y->a.n && x->a.d == y->a.d && x->b.n == y->b.n && x->b.d == y->b.d && x->r == y->r;
}

bool num_div100(const Num *x, Num *out) {
    if (x->inf) return false;
    return num_mul(*x, num_rat((Rat){1, 100}), out);
}

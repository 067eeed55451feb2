// The number reader's signs (src/text/verify_num.h num_sign_in_term): the '+' or '-' that a term splitter must leave
// inside a term is exactly one that num_parse reads there, an exponent's or a unary sign; expectations by hand.
#include <criterion/criterion.h>
#include <string.h>

#include "text/verify_num.h"

typedef struct {
    const char *s;
    bool inside;  // the text's only '+' or '-' after its first character stays inside its term
} SignCase;

static const SignCase SIGNS[] = {
    // Exponents as verify_num.h reads them: E with any sign, e with a sign after a point or a mantissa of 1.
    {"1.5e-2", true},       {"1.5e+2", true},      {"1e-3", true},       {"1E-3", true},
    {"2E+3", true},         {".5e-1", true},       {"x*1.5e-2", true},   {"2\\cdot1e-3", true},
    {"2\\times1.5e-2", true}, {"\\div1.5e-2", true}, {"(1.5e-2", true},  {"{1e-3", true},
    {"3/1.5e-2", true},     {"12E-3", true},       {"0.1e-3", true},     {"1\\pm1.5e-2", true},
    {"1\\mp1e-3", true},    {"\\pmod1e-3", false},
    // No exponent read: the sign separates terms (2e - 1, 3e + 2), or no number starts at the mantissa.
    {"2e-1", false},        {"3e+2", false},       {"12e-3", false},     {"01e-3", false},
    {"1.5e-x", false},      {"1.5e-2^2", false},   {"x1e-3", false},     {"\\sqrt1e-3", false},
    {"1e2e-3", false},      {"1..5e-3", false},    {"E-3", false},       {"e-3", false},
    {"x-1", false},         {"2x+3", false},       {"(1)-2", false},     {"\\frac12-1", false},
    // Unary signs: after an operator, '^' or an opening bracket.
    {"2*-3", true},         {"2/-3", true},        {"2\\times-3", true}, {"2\\cdot-3", true},
    {"6\\div-3", true},     {"x^-1", true},        {"(-1", true},        {"{-1", true},
    {"2+-3", true},         {"1\\pm-2", true},
};

// Index of the last '+' or '-' of s.
static size_t last_sign(const char *s) {
    size_t at = 0;
    for (size_t i = 0; s[i]; i++)
        if (s[i] == '+' || s[i] == '-') at = i;
    return at;
}

Test(verify_num, sign_in_term_table) {
    for (size_t i = 0; i < sizeof SIGNS / sizeof SIGNS[0]; i++) {
        size_t at = last_sign(SIGNS[i].s);
        cr_expect_eq(num_sign_in_term(SIGNS[i].s, at), SIGNS[i].inside, "\"%s\" at %zu: expected the sign %s its term",
                     SIGNS[i].s, at, SIGNS[i].inside ? "inside" : "between");
    }
}

Test(verify_num, a_leading_sign_and_other_characters) {
    cr_expect(num_sign_in_term("-3", 0), "a leading sign is the first term's");
    cr_expect(!num_sign_in_term("1.5e-2", 3), "'e' itself is no sign");
    cr_expect(!num_sign_in_term("1.5e-2", 5), "a digit is no sign");
}

// Where the sign stays inside, num_parse reads the same text as one number: the rule and the reader agree.
Test(verify_num, kept_exponents_are_read_as_numbers) {
    static const struct {
        const char *s;
        int64_t n, d;
    } cases[] = {{"1.5e-2", 3, 200}, {"1E-3", 1, 1000}, {"2E+3", 2000, 1}, {".5e-1", 1, 20}, {"2\\cdot1e-3", 1, 500}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Num x;
        cr_assert(num_parse(cases[i].s, &x), "\"%s\" is a number", cases[i].s);
        cr_expect(x.a.n == cases[i].n && x.a.d == cases[i].d && x.b.n == 0, "\"%s\" = %lld/%lld, got %lld/%lld",
                  cases[i].s, (long long)cases[i].n, (long long)cases[i].d, (long long)x.a.n, (long long)x.a.d);
    }
    Num x;
    cr_expect(!num_parse("2e-1", &x), "2e-1 is no number (2e - 1)");
}

// num_literal (src/text/verify_num.h): the literal alone, as num_parse reads it, with where it ends.
typedef struct {
    const char *s;
    bool read;
    int64_t n, d;
    size_t length;  // bytes taken
} LiteralCase;

static const LiteralCase LITERALS[] = {
    {"12x", true, 12, 1, 2},           {"3.25", true, 13, 4, 4},        {".5x", true, 1, 2, 2},
    {"1.5e-2x", true, 3, 200, 6},      {"1E3y", true, 1000, 1, 3},      {"12e3", true, 12000, 1, 4},
    {"2e-1", true, 2, 1, 1},           {"3e+2", true, 3, 1, 1},         {"2e3^2", true, 2, 1, 1},
    {"x", false, 0, 0, 0},             {"-1", false, 0, 0, 0},          {".", false, 0, 0, 0},
    {"1e19", false, 0, 0, 0},          {"1234567890123456789", false, 0, 0, 0},
};

Test(verify_num, literal_reads_one_number_and_says_where_it_ends) {
    for (size_t i = 0; i < sizeof LITERALS / sizeof LITERALS[0]; i++) {
        const LiteralCase *c = &LITERALS[i];
        const char *at = c->s;
        Rat r = {0, 1};
        bool read = num_literal(&at, &r);
        cr_expect_eq(read, c->read, "\"%s\": expected %s", c->s, c->read ? "a literal" : "none");
        if (!read) {
            cr_expect_eq(at, c->s, "\"%s\": refused but moved", c->s);
            continue;
        }
        cr_expect(r.n == c->n && r.d == c->d, "\"%s\": read %lld/%lld, expected %lld/%lld", c->s, (long long)r.n,
                  (long long)r.d, (long long)c->n, (long long)c->d);
        cr_expect_eq((size_t)(at - c->s), c->length, "\"%s\": took %zu bytes, expected %zu", c->s,
                     (size_t)(at - c->s), c->length);
    }
}

// √(n/d) as c·√r with r square-free, computed by hand: √12 = 2√3, √(3/4) = ½√3, √(1/2) = √2/2 (√(1·2)/2), √(4/9) = 2/3,
// √(50/3) = √150/3 = 5√6/3, √(1/p²) = 1/p, √(10^12) = 10^6; negative values and radicands n·d past 10^12 are refused.
typedef struct {
    Rat x;
    bool read;
    int64_t cn, cd, r;
} SqrtCase;

static const SqrtCase SQRTS[] = {
    {{12, 1}, true, 2, 1, 3},  {{3, 4}, true, 1, 2, 3},   {{1, 2}, true, 1, 2, 2},   {{4, 9}, true, 2, 3, 1},
    {{0, 1}, true, 0, 1, 1},   {{50, 3}, true, 5, 3, 6},  {{2, 1}, true, 1, 1, 2},   {{30, 1}, true, 1, 1, 30},
    {{72, 1}, true, 6, 1, 2},  {{-4, 1}, false, 0, 0, 0}, {{1000000000001LL, 1}, false, 0, 0, 0},
    // Factors past the cube root of 10^12 (10007 and 10009 are primes, and so is 999983): p², p·q, 2·p², 12·p.
    {{999966000289LL, 1}, true, 999983, 1, 1},  {{100160063, 1}, true, 1, 1, 100160063},
    {{200280098, 1}, true, 10007, 1, 2},        {{11999796, 1}, true, 2, 1, 2999949},
    {{1, 999966000289LL}, true, 1, 999983, 1},   {{1000000000000LL, 1}, true, 1000000, 1, 1},
};

Test(verify_num, rational_square_roots_are_reduced) {
    for (size_t i = 0; i < sizeof SQRTS / sizeof SQRTS[0]; i++) {
        const SqrtCase *c = &SQRTS[i];
        Rat coef = {0, 1};
        int64_t r = 0;
        bool read = rat_sqrt(c->x, &coef, &r);
        cr_expect_eq(read, c->read, "sqrt(%lld/%lld): expected %s", (long long)c->x.n, (long long)c->x.d,
                     c->read ? "a root" : "a refusal");
        if (read)
            cr_expect(coef.n == c->cn && coef.d == c->cd && r == c->r, "sqrt(%lld/%lld) = %lld/%lld sqrt(%lld), expected "
                      "%lld/%lld sqrt(%lld)", (long long)c->x.n, (long long)c->x.d, (long long)coef.n,
                      (long long)coef.d, (long long)r, (long long)c->cn, (long long)c->cd, (long long)c->r);
    }
}

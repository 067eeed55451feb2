// Exact numbers for the math verifier: values a + b·√r with a, b rational (64-bit numerator and
// denominator, overflow detected) and r square-free, parsed from normalised LaTeX-ish expressions.
#ifndef RLVR_VERIFY_NUM_H
#define RLVR_VERIFY_NUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t n, d;  // d > 0, gcd(n, d) = 1
} Rat;

typedef struct {
    Rat a, b;     // value = a + b·sqrt(r)
    int64_t r;    // square-free >= 2 when b != 0, else 0
    int inf;      // +1 / -1 for ±infinity (a, b unused), 0 for finite values
} Num;

// Parses the whole string s (no spaces) as one number expression: integers, decimals, +-*/, parentheses
// and braces, \frac{A}{B} / \frac12, \sqrt{A} / \sqrt3, small integer powers, mixed numbers 2\frac12,
// \infty. Returns false when s is not such an expression or a bound (size, depth, overflow) is hit.
// Scientific notation is exact: M\times10^{K}, M\cdot10^K and 10^{-K} are products and powers as above; a decimal
// literal M (digits, optional fraction) may carry an exponent written E or e right after it:
//   - ME[+-]K and MeK: 1E3 = 1e3 = 1000, 1.5E-2 = 3/200, 12e3 = 12000 (math-verify reads 1E3 alike but 1e3 as 3e;
//     no one writes the product 3e as 1e3);
//   - Me+K and Me-K only when M has a decimal point or is 1 (1.5e-2, 1e-3): 2e-1 and 3e+2 stay unread, as they may be
//     2e − 1 and 3e + 2 with Euler's number e; e alone, 2e, e^2 and 2e3^2 are never numbers.
// A value that does not fit 64-bit rationals (1e19, 2.5e-30) is refused, never rounded: the answers then compare
// as text only.
bool num_parse(const char *s, Num *out);

// True when num_parse reads the '+' or '-' at s[at] inside a term, so a pass splitting s into terms must not split
// there: a unary sign after an operator, '^' or an opening bracket (2*-3, 2\times-3, x^-1, (-1)), or the sign of an
// exponent the reader takes (1.5e-2, 1E+3, x+2\cdot1e-3; 1\pm1.5e-2, whose term \pm1.5e-2 is read after its \pm).
// False where it reads no exponent (2e-1, 3e+2: 2e − 1 and 3e + 2) or could start no number at the mantissa (x1e-3).
bool num_sign_in_term(const char *s, size_t at);

bool num_equal(const Num *x, const Num *y);

// The decimal literal at *at as num_parse reads one ("12", "3.25", ".5", "1.5e-2", "1E3"; the exponent rule above):
// moves *at past it and writes its exact value; false, leaving *at alone, when none starts there or it does not fit.
bool num_literal(const char **at, Rat *out);

// Reads the integer exponent after a '^' at *s as num_parse reads one: ^2, ^{12}, ^{-1}, ^-1 (one digit without
// braces: ^23 is (^2)3), of magnitude at most 64; advances *s past it. False, *s unchanged, on anything else.
bool num_exponent(const char **s, int *k);

// Exact rational arithmetic, reduced with d > 0; false (out unspecified) when the result does not fit 64 bits.
bool rat_add(Rat x, Rat y, Rat *out);
bool rat_mul(Rat x, Rat y, Rat *out);

// √x for a rational x >= 0 as coef·√rad with rad square-free (1 when √x is rational): √(p/q) = √(p·q)/q, √8 = 2√2,
// √(3/4) = ½√3. False for x < 0, or p·q past 10^12 (square factors are found by trial division up to its cube root).
bool rat_sqrt(Rat x, Rat *coef, int64_t *rad);

// x / 100 (percentages); false on overflow.
bool num_div100(const Num *x, Num *out);

#endif

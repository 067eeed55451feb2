// Exact numbers for the math verifier: values a + b·√r with a, b rational (64-bit numerator and
// denominator, overflow detected) and r square-free, parsed from normalised LaTeX-ish expressions.
#ifndef RLVR_VERIFY_NUM_H
#define RLVR_VERIFY_NUM_H

#include <stdbool.h>
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
bool num_parse(const char *s, Num *out);

bool num_equal(const Num *x, const Num *y);

// x / 100 (percentages); false on overflow.
bool num_div100(const Num *x, Num *out);

#endif

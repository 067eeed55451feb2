// Exact polynomial canonical forms for the math verifier: a normalised expression read as a polynomial in its
// variables with exact rational coefficients (Rat of src/text/verify_num.h), so that 2(x+1) = 2x+2,
// (x+1)^2 = x^2+2x+1 and \frac{x+1}{2} = \frac12x+\frac12.
//
// What reads as a polynomial, and nothing else (anything else makes the text "not a polynomial"):
//   - numbers as num_literal reads them (12, 3.25, 1.5e-2, 1E3), and \frac{A}{B} / \frac12 of such expressions;
//   - square roots \sqrt{A} / \sqrt3 of a rational A >= 0, reduced to c·√r with r square-free (\sqrt{12} = 2√3), each
//     √r an irrational atom in the terms' coefficients: √2·√2 = 2, √2·√3 = √6, 1.5\sqrt2 = \frac{3\sqrt2}{2};
//   - variables: one ASCII letter with an optional subscript (x, y_1, a_{12}, a_n), or a Greek letter command
//     (\alpha, \theta, \pi, ...). Each is an independent symbol: \pi, e and i are never evaluated, which is sound
//     (polynomials equal as polynomials are equal for every value of their symbols; i^2 is not -1 here). \pi, e
//     and i are atoms, not variables, where poly_equations_equal counts variables (x=\pi and x=e state a value, as
//     x=1 does);
//   - + and - (binary and unary), products written *, \cdot, \times or implicitly (2x, xy, 3(x+1), (x+1)(x-1),
//     \frac12x, 2\sqrt3x), division (/, \div, \frac) by a nonzero number of one term (3, \frac12, 2\sqrt3), integer
//     powers ^2, ^{3} (0..POLY_MAX_DEGREE for a base with a variable or \pi; -64..64 for a number, negative only for
//     one term, as num_parse reads them), parentheses and braces.
// Refused on purpose: a run of three letters or more (a word: "yes" is not y·e·s), a text of two letters and nothing
// else (a word again: "no" is not "on"; 2ab is 2ba, ab and ba compare as text), f, g, h, p, q, F, G, H, P or Q
// right before '(' (function application, f(x+1) is not f·x+f), a digit right after a factor (x2, (x+1)2, \sqrt{2}3),
// an integer right before \frac (2\frac12 is the mixed number 5/2 to num_parse), a factor right after a divisor
// without an operator (1/2x may be 1/(2x)), \sqrt of anything but a rational number >= 0 (\sqrt{x}, \sqrt[3]{2}),
// division by a variable, \pi or a sum (\frac{1}{1+\sqrt2}), and any bound hit: POLY_MAX_VARS variables,
// POLY_MAX_TERMS terms, POLY_MAX_DEGREE per variable, 64-bit coefficients (refused, never rounded), radicands past
// 10^12, nesting depth and a fixed budget of work per comparison.
#ifndef RLVR_VERIFY_POLY_H
#define RLVR_VERIFY_POLY_H

#include <stdbool.h>

#define POLY_MAX_VARS 8
#define POLY_MAX_TERMS 32
#define POLY_MAX_DEGREE 16

// True when a and b both read as polynomials and their canonical forms are equal.
bool poly_texts_equal(const char *a, const char *b);

// True when the equations l1 = r1 and l2 = r2 state the same thing as polynomials: all four sides read, l1 − r1 is
// not a rational constant (0 = 0 and 1 = 0 are no statement) and l2 − r2 = k·(l1 − r1) for a rational k that is ±1
// (2x+1=0 is -2x-1=0, y-3=2x is y=2x+3), or any when l1 − r1 has two variables or more (\pi, e and i are none):
// then the equation describes a curve, which scaling keeps (y=\frac12x+1 is 2y=x+2), where with one variable it
// states a value, which 2x=2 leaves unsolved (x=1 is not 2x=2, 2x+1=0 is not 4x+2=0, x=\pi is not 2x=2\pi, x=e is
// not 2x=2e). math-verify 0.9.0 decides these cases alike.
bool poly_equations_equal(const char *l1, const char *r1, const char *l2, const char *r2);

#endif

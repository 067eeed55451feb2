// Answer extraction, normalisation and equivalence for verifiable math answers (each rule has cases in
// tests/test_verify.c).
// Every function does bounded work on any byte string: inputs are scanned linearly, extracted answers
// are capped at VERIFY_MAX_ANSWER bytes and expression nesting at a fixed depth. An answer or ground truth of
// VERIFY_MAX_ANSWER - 1 bytes or more (after trimming) is never judged correct: only its first bytes were kept.
#ifndef RLVR_VERIFY_H
#define RLVR_VERIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "text/verify_norm.h"  // VERIFY_MAX_ANSWER

typedef struct {
    bool found;                          // an answer was extracted from the response
    bool correct;                        // found and equivalent to the ground truth
    char extracted[VERIFY_MAX_ANSWER];   // the extracted answer text (truncated to fit), "" if none
} Verdict;

// Final answer of a model response: the last \boxed{...} / \fbox{...} (nested braces), else the text after
// the last "Answer:" on its line, else after the last "####". Returns true and writes it into out
// (cap bytes, NUL-terminated) when one is present; an empty \boxed{} is present but empty.
bool verify_extract(const char *response, char *out, size_t cap);

// The argument of the last \boxed{...} / \fbox{...} of s alone (a MATH solution's answer, as verl's
// last_boxed_only_string takes it); false when there is none or it is unbalanced.
bool verify_last_boxed(const char *s, char *out, size_t cap);

// Ground truth as stored in a dataset: a bare answer, a MATH solution with \boxed{...}, or a GSM8K
// solution ending in "#### N". Writes the answer itself into out.
void verify_truth(const char *answer, char *out, size_t cap);

// Canonical text form used for the exact-match fallback (whitespace, $, \left/\right, \dfrac, \text{},
// units, degrees, thousands separators, trailing periods, braces of one-character subscripts, "x =" and "f(x) ="
// prefixes removed as src/text/verify_norm.h states; one space kept between a command word and a letter:
// "x \le y" -> "x\le y").
void verify_normalize(const char *s, char *out, size_t cap);

// True when two answers are equivalent: equal numbers (integers, decimals, fractions, \frac, simple
// roots a+b\sqrt{r}, percentages, scientific notation 1e3 / 2\times10^{3} as verify_num.h reads it (Euler's e
// kept apart), exact rational arithmetic), equal intervals / tuples element-wise, sums with the same terms in any
// order (split where num_sign_in_term of verify_num.h allows, so 1.5e-2+x = x+0.015; a \pm or \mp term matches one
// after the same command; an answer with a relation, = or \le, is never split), equal polynomials when both read
// whole as ones (src/text/verify_poly.h: 2(x+1) = 2x+2, (x+1)^2 = x^2+2x+1), else equal normalised text.
// Equations (one top-level '=', not part of <=, \le, \ne, ...) compare side by side, each side by all of the above:
// left with left and right with right, or mirrored (a=b states what b=a states), or as polynomials when lhs − rhs of
// one is ± that of the other, or any multiple with two variables or more (poly_equations_equal: 2x+1=0 is -2x-1=0,
// y-3=2x is y=2x+3, y=\frac12x+1 is 2y=x+2; x=1 is not 2x=2).
// Top-level comma lists of equations ("x=\frac12, y=2") compare item by item in any order, as bare lists of values do;
// a tuple assignment (x,y)=(1,2) is the list x=1, y=2 against another list or tuple assignment, and the tuple (1,2)
// against a bare value, as a list of assignments to plain names is the tuple of its values with the names in
// alphabetical order (x=1, y=2 and y=2, x=1 are (1,2); src/text/verify_norm.h).
// An equation against a bare value counts only when its left side names a variable or function (x = 3 is 3,
// f(x) = x+1 is x+1; 2x+1=0 is not 0).
bool verify_equivalent(const char *predicted, const char *truth);

// The general math verifier (`--task math`): extract from response, compare with verify_truth(answer).
void verify_math(const char *response, const char *answer, Verdict *v);

// The embedded arithmetic verifier: the integer after the last "Answer:" must equal answer exactly
// (optional sign, leading zeros ignored; nothing but whitespace may follow on that line).
void verify_integer_answer(const char *response, const char *answer, Verdict *v);

#endif

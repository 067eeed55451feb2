// The stages of verify_normalize (src/text/verify.h), apart: verify_equivalent normalises an answer with its "x ="
// prefix kept, so that two equations compare side by side, and drops the prefix and finishes the value itself.
#ifndef RLVR_VERIFY_NORM_H
#define RLVR_VERIFY_NORM_H

#include <stdbool.h>
#include <stddef.h>

// The longest answer text the verifier keeps, its NUL included (text/verify.h).
#define VERIFY_MAX_ANSWER 512

// Rewrites, LaTeX wrappers, units, spaces, single-character subscript braces (x_{1} -> x_1) and outer braces;
// an "x =" prefix stays.
void norm_text(const char *s, char *out, size_t cap);

// Drops the name before the only '=' of buf when it names what the answer is: a variable (x, \theta, x_1, x_{12}),
// a function of variables or numbers (f(x), g(x,y), f'(x), f^{-1}(x), P(A), f(-1), \phi(12)) or a tuple of
// variables as norm_expand_tuple reads one: "f(x)=x+1" -> "x+1", "(x,y)=(1,2)" -> "(1,2)". True when it dropped one;
// "2x+1=0", "x(x+1)=0" and "a=b=c" stay.
bool norm_drop_prefix(char *buf);

// Rewrites the tuple assignment "(x,y)=(1,2)" in buf as the list of equations "x=1,y=2" that it states: two or more
// distinct names (a letter or command word with an optional subscript) in parentheses, buf's only '=', and a
// parenthesised tuple of as many values, split at its top-level commas ("(p,q)=((1,2),3)" -> "p=(1,2),q=3"). True
// when it rewrote buf; anything else ("(x,y)=(1,2,3)", "(x,x)=(1,2)", "(x+1,y)=(1,2)") stays.
bool norm_expand_tuple(char *buf);

// Rewrites the list of assignments "y=2,x=1" in buf as the tuple "(1,2)" of its values with the names in alphabetical
// order (bytewise: x before y, a before b, x_1 before x_2), the order an ordered pair (x,y) or triple (a,b,c) lists
// its unknowns in: two or more items at buf's top-level commas, each a distinct plain name (a letter with an optional
// subscript), '=' and a value without '='. True when it rewrote buf; "x=1,2", "x+y=1,y=2", "x=1,x=2" and
// "\alpha=1,\beta=2" (command words, which do not sort with letters) stay.
bool norm_collect_tuple(char *buf);

// Finishes a value in place: thousands separators of a lone number (1,234 -> 1234) and outer braces.
void norm_finish(char *buf);

#endif

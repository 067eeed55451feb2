// Embedded multi-digit arithmetic task: problems generated from (seed, split, index), no files.
#ifndef RLVR_TASK_ARITH_H
#define RLVR_TASK_ARITH_H

#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "base/error.h"

typedef enum { ARITH_ADD, ARITH_SUB, ARITH_MUL } ArithOp;

// Reference styles: what a solution writes around its "Answer: N" line (arith_render shows each).
//   terse        "Answer: N"
//   restate      "We need A+B.\n" then the answer
//   steps        the column steps, then the answer (the verbose form of task.verbose_ratio)
//   check          restate, the answer, "Check: " the inverse operation, the answer again
//   restate_steps  restate, then the steps and the answer
//   steps_check    restate, the steps, the answer, the check, the answer again
typedef enum {
    STYLE_TERSE, STYLE_RESTATE, STYLE_STEPS, STYLE_CHECK, STYLE_RESTATE_STEPS, STYLE_STEPS_CHECK, ARITH_N_STYLES
} ArithStyle;

typedef struct {
    bool ops[3];  // enabled operations, indexed by ArithOp
    int digits_min, digits_max, eval_size;
    double verbose_ratio;
    uint64_t seed;
    int n_styles;  // task.styles entries; 0: steps or terse by verbose_ratio
    ArithStyle style[ARITH_N_STYLES];
    double weight[ARITH_N_STYLES];  // normalised mixture weights
    double wrong[ARITH_N_STYLES];   // share of this style's references whose stated answer is off by one
} Arith;

typedef struct {
    ArithOp op;
    uint64_t a, b;
} ArithProblem;

// Parses task.ops ("add,sub,mul"), the digit range and task.styles ("terse:1,check:2:0.1" = style:weight[:wrong]);
// errors name the [task] key.
int arith_init(Arith *a, const TaskConfig *tc, Err *e);

// Problem i of a split (split 0 = train, 1 = eval); a problem belongs to exactly one split.
int arith_problem(const Arith *a, int split, int64_t i, ArithProblem *out, Err *e);

char *arith_prompt(const ArithProblem *p);    // "Q: 47*83=?\n"
char *arith_answer(const ArithProblem *p);    // "3901"
char *arith_solution(const ArithProblem *p, bool verbose);  // steps + "Answer: N", or "Answer: N"
bool arith_pick_verbose(const Arith *a, int split, int64_t i);

// A solution in a style whose stated answer is the result plus delta (0: the correct one).
char *arith_render(const ArithProblem *p, ArithStyle style, int delta);
// The reference of problem i: its style and answer offset drawn from (task.seed, split, i) by task.styles,
// or by verbose_ratio when task.styles is empty (then exactly arith_solution's forms).
char *arith_reference(const Arith *a, const ArithProblem *p, int split, int64_t i);

const char *arith_style_name(ArithStyle style);
// The style a response is written in, read from its structure: a first line "We need ...", whole lines with
// an '=' before the line of the first "Answer:", a "\nCheck: " after it; -1 when it matches none.
// launch/style.jq is the same classifier for rlvr eval's samples.jsonl.
int arith_style_of(const char *response);

#endif

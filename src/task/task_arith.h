// Embedded multi-digit arithmetic task: problems generated from (seed, split, index), no files.
#ifndef RLVR_TASK_ARITH_H
#define RLVR_TASK_ARITH_H

#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "base/error.h"

typedef enum { ARITH_ADD, ARITH_SUB, ARITH_MUL } ArithOp;

typedef struct {
    bool ops[3];  // enabled operations, indexed by ArithOp
    int digits_min, digits_max, eval_size;
    double verbose_ratio;
    uint64_t seed;
} Arith;

typedef struct {
    ArithOp op;
    uint64_t a, b;
} ArithProblem;

// Parses task.ops ("add,sub,mul") and the digit range; errors name the [task] key.
int arith_init(Arith *a, const TaskConfig *tc, Err *e);

// Problem i of a split (split 0 = train, 1 = eval); a problem belongs to exactly one split.
int arith_problem(const Arith *a, int split, int64_t i, ArithProblem *out, Err *e);

char *arith_prompt(const ArithProblem *p);    // "Q: 47*83=?\n"
char *arith_answer(const ArithProblem *p);    // "3901"
char *arith_solution(const ArithProblem *p, bool verbose);  // steps + "Answer: N", or "Answer: N"
bool arith_pick_verbose(const Arith *a, int split, int64_t i);

#endif

#include "task/task_arith.h"

#include <stdio.h>
#include <string.h>

#include "base/rng.h"

#define EVAL_BUCKETS 10        // one problem in ten belongs to the eval split
#define MAX_DRAWS 4096         // rejection-sampling bound for a split's problems
#define STREAM_PROBLEM 0x41524900u  // rng_at step coordinates ("ARI" + purpose)
#define STREAM_BUCKET 0x41524901u
#define STREAM_VERBOSE 0x41524902u
#define STREAM_STYLE 0x41524903u
#define SOLUTION_CAP 2048

static const char OP_CHAR[] = {'+', '-', '*'};
static const char *const OP_NAME[] = {"add", "sub", "mul"};
static const char *const STYLE_NAME[] = {"terse", "restate", "steps", "check", "restate_steps", "steps_check"};
// What each style writes around the answer, indexed by ArithStyle.
static const struct { bool restate, steps, check; } STYLE_PARTS[] = {
    {false, false, false}, {true, false, false}, {false, true, false}, {true, false, true}, {true, true, false},
    {true, true, true}};

const char *arith_style_name(ArithStyle style) { return STYLE_NAME[style]; }

// One "style:weight[:wrong]" entry of task.styles.
static int parse_style(Arith *a, char *entry, Err *e) {
    char *name = strtok(entry, ":"), *w = strtok(NULL, ":"), *x = strtok(NULL, ":"), *end;
    int k = 0;
    while (name && k < ARITH_N_STYLES && strcmp(name, STYLE_NAME[k])) k++;
    if (!name || k == ARITH_N_STYLES)
        return err_set(e, "[task] styles: unknown style '%s'; expected terse, restate, steps, check, restate_steps or steps_check",
                       name ? name : "");
    for (int j = 0; j < a->n_styles; j++)
        if (a->style[j] == (ArithStyle)k) return err_set(e, "[task] styles: style '%s' is listed twice", name);
    double weight = w ? strtod(w, &end) : -1;
    if (!w || *end || !(weight > 0) || weight > 1e6)
        return err_set(e, "[task] styles: '%s' needs a weight in (0, 1e6] after it (style:weight[:wrong])", name);
    double wrong = x ? strtod(x, &end) : 0;
    if (x && (*end || !(wrong >= 0 && wrong <= 1) || strtok(NULL, ":")))
        return err_set(e, "[task] styles: '%s': the wrong-answer share after the weight must be in [0, 1]", name);
    a->style[a->n_styles] = (ArithStyle)k, a->weight[a->n_styles] = weight, a->wrong[a->n_styles++] = wrong;
    return 0;
}

static int parse_styles(Arith *a, const char *spec, Err *e) {
    char buf[sizeof ((TaskConfig *)0)->styles];
    snprintf(buf, sizeof buf, "%s", spec);
    char *entries[ARITH_N_STYLES + 1];
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        if (n == ARITH_N_STYLES) return err_set(e, "[task] styles: more than %d entries", ARITH_N_STYLES);
        entries[n++] = tok;
    }
    double total = 0;
    for (int j = 0; j < n; j++) TRY(parse_style(a, entries[j], e));
    for (int j = 0; j < n; j++) total += a->weight[j];
    for (int j = 0; j < n; j++) a->weight[j] /= total;
    return 0;
}

int arith_init(Arith *a, const TaskConfig *tc, Err *e) {
    memset(a, 0, sizeof *a);
    char ops[sizeof tc->ops];
    snprintf(ops, sizeof ops, "%s", tc->ops);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(ops, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        int k = 0;
        while (k < 3 && strcmp(tok, OP_NAME[k])) k++;
        if (k == 3) return err_set(e, "[task] ops: unknown operation '%s'; expected a comma list of add, sub, mul", tok);
        a->ops[k] = true, n++;
    }
    if (!n) return err_set(e, "[task] ops is empty; expected a comma list of add, sub, mul");
    if (tc->digits_min < 1 || tc->digits_max > 18 || tc->digits_min > tc->digits_max)
        return err_set(e, "[task] digits_min/digits_max (%d, %d): expected 1 <= digits_min <= digits_max <= 18",
                       tc->digits_min, tc->digits_max);
    a->digits_min = tc->digits_min, a->digits_max = tc->digits_max;
    a->eval_size = tc->eval_size, a->verbose_ratio = tc->verbose_ratio, a->seed = (uint64_t)tc->seed;
    return parse_styles(a, tc->styles, e);
}

static uint64_t pow10u(int k) {
    uint64_t p = 1;
    while (k-- > 0) p *= 10;
    return p;
}

// An operand with a uniformly drawn digit count, then a uniform value of that many digits.
static uint64_t draw_operand(const Arith *a, Rng *g) {
    int d = a->digits_min + (int)rng_below(g, (uint64_t)(a->digits_max - a->digits_min + 1));
    uint64_t lo = d == 1 ? 0 : pow10u(d - 1), hi = pow10u(d);
    return lo + rng_below(g, hi - lo);
}

// The split a problem belongs to: a keyed hash of (op, a, b) itself, so the splits are disjoint sets.
static int problem_split(const Arith *a, const ArithProblem *p) {
    Rng lo = rng_at(a->seed, STREAM_BUCKET + (uint32_t)p->op, (uint32_t)p->a, (uint32_t)p->b);
    Rng hi = rng_at(a->seed, STREAM_BUCKET + 8u, rng_u32(&lo) ^ (uint32_t)(p->a >> 32), (uint32_t)(p->b >> 32));
    return rng_below(&hi, EVAL_BUCKETS) == 0;
}

int arith_problem(const Arith *a, int split, int64_t i, ArithProblem *out, Err *e) {
    int n_ops = 0, ops[3];
    for (int k = 0; k < 3; k++)
        if (a->ops[k]) ops[n_ops++] = k;
    Rng g = rng_at(a->seed, STREAM_PROBLEM + 16u * (uint32_t)split, (uint32_t)i, (uint32_t)((uint64_t)i >> 32));
    for (int draw = 0; draw < MAX_DRAWS; draw++) {
        out->op = (ArithOp)ops[rng_below(&g, (uint64_t)n_ops)];
        out->a = draw_operand(a, &g);
        out->b = draw_operand(a, &g);
        if (problem_split(a, out) == split) return 0;
    }
    return err_set(e, "task arith: no %s problem found in %d draws; widen [task] digits_min..digits_max or ops",
                   split ? "eval" : "train", MAX_DRAWS);
}

// Decimal text of a signed 128-bit value.
static void i128_text(__int128 v, char *buf, size_t cap) {
    char tmp[48];
    int n = 0;
    bool neg = v < 0;
    unsigned __int128 u = neg ? (unsigned __int128)(-v) : (unsigned __int128)v;
    do tmp[n++] = (char)('0' + (int)(u % 10)), u /= 10;
    while (u);
    size_t o = 0;
    if (neg && o + 1 < cap) buf[o++] = '-';
    while (n && o + 1 < cap) buf[o++] = tmp[--n];
    buf[o] = 0;
}

static __int128 result_of(const ArithProblem *p) {
    __int128 a = p->a, b = p->b;
    return p->op == ARITH_ADD ? a + b : p->op == ARITH_SUB ? a - b : a * b;
}

char *arith_prompt(const ArithProblem *p) {
    char buf[64];
    snprintf(buf, sizeof buf, "Q: %llu%c%llu=?\n", (unsigned long long)p->a, OP_CHAR[p->op], (unsigned long long)p->b);
    return strdup(buf);
}

char *arith_answer(const ArithProblem *p) {
    char buf[48];
    i128_text(result_of(p), buf, sizeof buf);
    return strdup(buf);
}

static int digit_at(uint64_t x, int k) { return (int)(x / pow10u(k) % 10); }
static int n_digits(uint64_t x) {
    int n = 1;
    while (x >= 10) x /= 10, n++;
    return n;
}

// Column addition, least significant digit first: "7+5=12" then "4+8+1=13".
static int steps_add(uint64_t a, uint64_t b, char *buf, size_t cap) {
    int cols = n_digits(a > b ? a : b), carry = 0, o = 0;
    for (int k = 0; k < cols && o < (int)cap; k++) {
        int s = digit_at(a, k) + digit_at(b, k) + carry;
        o += carry ? snprintf(buf + o, cap - (size_t)o, "%d+%d+%d=%d\n", digit_at(a, k), digit_at(b, k), carry, s)
                   : snprintf(buf + o, cap - (size_t)o, "%d+%d=%d\n", digit_at(a, k), digit_at(b, k), s);
        carry = s / 10;
    }
    return o;
}

// Column subtraction of big - small with borrows: "5-7-0=8 b1" means 5-7-0+10 = 8, borrow 1.
static int steps_sub(uint64_t big, uint64_t small, char *buf, size_t cap) {
    int cols = n_digits(big), borrow = 0, o = 0;
    for (int k = 0; k < cols && o < (int)cap; k++) {
        int d = digit_at(big, k) - digit_at(small, k) - borrow, out = d < 0;
        o += snprintf(buf + o, cap - (size_t)o, "%d-%d-%d=%d b%d\n", digit_at(big, k), digit_at(small, k), borrow,
                      d + 10 * out, out);
        borrow = out;
    }
    return o;
}

// Partial products by the digits of the shorter factor, then their sum.
static int steps_mul(uint64_t a, uint64_t b, char *buf, size_t cap) {
    uint64_t x = n_digits(a) >= n_digits(b) ? a : b, y = x == a ? b : a;
    int o = snprintf(buf, cap, "%llu*%llu:\n", (unsigned long long)x, (unsigned long long)y);
    char sum[SOLUTION_CAP] = "";
    int so = 0, terms = 0;
    __int128 total = 0;
    for (int k = 0; k < n_digits(y) && o < (int)cap; k++) {
        if (!digit_at(y, k) && n_digits(y) > 1) continue;
        __int128 part = (__int128)x * digit_at(y, k) * (__int128)pow10u(k);
        char pt[48];
        i128_text(part, pt, sizeof pt);
        o += snprintf(buf + o, cap - (size_t)o, "%llu*%llu=%s\n", (unsigned long long)x,
                      (unsigned long long)(digit_at(y, k) * pow10u(k)), pt);
        so += snprintf(sum + so, sizeof sum - (size_t)so, "%s%s", terms ? "+" : "", pt);
        total += part, terms++;
    }
    if (terms > 1 && o < (int)cap) {
        char tt[48];
        i128_text(total, tt, sizeof tt);
        o += snprintf(buf + o, cap - (size_t)o, "%s=%s\n", sum, tt);
    }
    return o;
}

// The step lines of a problem (no answer line); returns their length.
static int steps_of(const ArithProblem *p, char *buf, size_t cap) {
    if (p->op == ARITH_ADD) return steps_add(p->a, p->b, buf, cap);
    if (p->op == ARITH_MUL) return steps_mul(p->a, p->b, buf, cap);
    if (p->a >= p->b) return steps_sub(p->a, p->b, buf, cap);
    int o = snprintf(buf, cap, "%llu<%llu so -(%llu-%llu)\n", (unsigned long long)p->a, (unsigned long long)p->b,
                     (unsigned long long)p->b, (unsigned long long)p->a);
    return o + steps_sub(p->b, p->a, buf + o, cap - (size_t)o);
}

// "Check: " the inverse of the operation applied to the stated answer r (for mul, the factors swapped).
static int check_line(const ArithProblem *p, __int128 r, char *buf, size_t cap) {
    char x[48], y[48];
    if (p->op == ARITH_MUL) {
        i128_text(r, x, sizeof x);
        return snprintf(buf, cap, "Check: %llu*%llu=%s\n", (unsigned long long)p->b, (unsigned long long)p->a, x);
    }
    __int128 back = p->op == ARITH_ADD ? r - (__int128)p->b : r + (__int128)p->b;
    i128_text(r, x, sizeof x), i128_text(back, y, sizeof y);
    return snprintf(buf, cap, "Check: %s%c%llu=%s\n", x, p->op == ARITH_ADD ? '-' : '+', (unsigned long long)p->b, y);
}

char *arith_render(const ArithProblem *p, ArithStyle style, int delta) {
    char buf[SOLUTION_CAP], ans[48];
    __int128 r = result_of(p) + delta;
    i128_text(r, ans, sizeof ans);
    int o = 0;
    if (STYLE_PARTS[style].restate)
        o += snprintf(buf, sizeof buf, "We need %llu%c%llu.\n", (unsigned long long)p->a, OP_CHAR[p->op],
                      (unsigned long long)p->b);
    if (STYLE_PARTS[style].steps) o += steps_of(p, buf + o, sizeof buf - (size_t)o);
    if (o > (int)sizeof buf - 256) o = (int)sizeof buf - 256;  // cannot happen for <= 18 digits; keeps the bound
    if (STYLE_PARTS[style].check) {
        o += snprintf(buf + o, sizeof buf - (size_t)o, "Answer: %s\n", ans);
        o += check_line(p, r, buf + o, sizeof buf - (size_t)o);
    }
    snprintf(buf + o, sizeof buf - (size_t)o, "Answer: %s", ans);
    return strdup(buf);
}

char *arith_solution(const ArithProblem *p, bool verbose) { return arith_render(p, verbose ? STYLE_STEPS : STYLE_TERSE, 0); }

char *arith_reference(const Arith *a, const ArithProblem *p, int split, int64_t i) {
    if (!a->n_styles) return arith_solution(p, arith_pick_verbose(a, split, i));
    Rng g = rng_at(a->seed, STREAM_STYLE + 16u * (uint32_t)split, (uint32_t)i, (uint32_t)((uint64_t)i >> 32));
    double u = rng_uniform(&g), acc = 0;
    int k = 0;
    while (k < a->n_styles - 1 && u >= (acc += a->weight[k])) k++;
    // A wrong reference states the result one off, +1 or -1 with equal odds (never below zero for add/mul).
    int delta = 0;
    if (rng_uniform(&g) < a->wrong[k]) delta = rng_below(&g, 2) || result_of(p) <= 0 ? 1 : -1;
    return arith_render(p, a->style[k], delta);
}

static bool starts_with(const char *s, const char *prefix) { return !strncmp(s, prefix, strlen(prefix)); }

int arith_style_of(const char *response) {
    if (!response) return -1;
    bool restate = starts_with(response, "We need "), steps = false;
    const char *first = strstr(response, "Answer:");
    if (!first) return -1;
    // Step lines: a whole line before the first answer's line, other than the restated problem, with an '='.
    for (const char *line = response, *nl; (nl = strchr(line, '\n')) && nl < first; line = nl + 1)
        if (memchr(line, '=', (size_t)(nl - line)) && !(line == response && restate)) steps = true;
    bool check = strstr(first, "\nCheck: ") != NULL;
    for (int k = 0; k < ARITH_N_STYLES; k++)
        if (STYLE_PARTS[k].restate == restate && STYLE_PARTS[k].steps == steps && STYLE_PARTS[k].check == check)
            return k;
    return -1;
}

bool arith_pick_verbose(const Arith *a, int split, int64_t i) {
    Rng g = rng_at(a->seed, STREAM_VERBOSE + 16u * (uint32_t)split, (uint32_t)i, (uint32_t)((uint64_t)i >> 32));
    return rng_uniform(&g) < a->verbose_ratio;
}

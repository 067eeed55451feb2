// The arith task's reference styles (task.styles): their exact text, the style classifier, the mixture and
// wrong-answer shares, and that an empty task.styles leaves study 1's references unchanged.
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "task/task.h"
#include "task/task_arith.h"

static Task *make_task(const char *const *sets, int n, Err *e) {
    Config c;
    cr_assert_eq(config_resolve(&c, NULL, sets, n, e), 0, "%s", e->msg);
    return task_create(&c, e);
}

static Arith make_arith(const char *styles, Err *e) {
    Config c;
    char set[300];
    snprintf(set, sizeof set, "task.styles=%s", styles);
    const char *sets[] = {"task.ops=add,sub,mul", "task.digits_max=4", set};
    cr_assert_eq(config_resolve(&c, NULL, sets, 3, e), 0, "%s", e->msg);
    Arith a;
    cr_assert_eq(arith_init(&a, &c.task, e), 0, "%s", e->msg);
    return a;
}

Test(task_styles, each_style_writes_its_text) {
    ArithProblem add = {ARITH_ADD, 47, 85}, sub = {ARITH_SUB, 9, 14}, mul = {ARITH_MUL, 12, 3};
    const struct { const ArithProblem *p; ArithStyle s; int delta; const char *want; } cases[] = {
        {&add, STYLE_TERSE, 0, "Answer: 132"},
        {&add, STYLE_RESTATE, 0, "We need 47+85.\nAnswer: 132"},
        {&add, STYLE_STEPS, 0, "7+5=12\n4+8+1=13\nAnswer: 132"},
        {&add, STYLE_CHECK, 0, "We need 47+85.\nAnswer: 132\nCheck: 132-85=47\nAnswer: 132"},
        {&add, STYLE_RESTATE_STEPS, 0, "We need 47+85.\n7+5=12\n4+8+1=13\nAnswer: 132"},
        {&add, STYLE_STEPS_CHECK, 0, "We need 47+85.\n7+5=12\n4+8+1=13\nAnswer: 132\nCheck: 132-85=47\nAnswer: 132"},
        {&add, STYLE_CHECK, 1, "We need 47+85.\nAnswer: 133\nCheck: 133-85=48\nAnswer: 133"},
        {&sub, STYLE_CHECK, -1, "We need 9-14.\nAnswer: -6\nCheck: -6+14=8\nAnswer: -6"},
        {&mul, STYLE_CHECK, 0, "We need 12*3.\nAnswer: 36\nCheck: 3*12=36\nAnswer: 36"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char *text = arith_render(cases[k].p, cases[k].s, cases[k].delta);
        cr_expect_str_eq(text, cases[k].want);
        free(text);
    }
}

Test(task_styles, classifier_reads_every_style_back) {
    Err e = {{0}};
    Arith a = make_arith("terse:1", &e);
    for (int64_t i = 0; i < 2000; i++) {
        ArithProblem p;
        cr_assert_eq(arith_problem(&a, 0, i, &p, &e), 0, "%s", e.msg);
        for (int s = 0; s < ARITH_N_STYLES; s++) {
            char *text = arith_render(&p, (ArithStyle)s, (int)(i % 3) - 1);
            cr_expect_eq(arith_style_of(text), s, "%s read as %d: \"%s\"", arith_style_name((ArithStyle)s),
                         arith_style_of(text), text);
            free(text);
        }
    }
    const struct { const char *text; int style; } other[] = {
        {"", -1}, {"130", -1}, {"We need 4+5.", -1}, {"x", -1},
        {"Answer: 9\nCheck: 9-5=4", -1},                           // a check without the restated problem
        {"4+5=9\nAnswer: 9\nCheck: 9-5=4\nAnswer: 9", -1},          // steps and a check, no restate
        {"Answer: 9 9 9", STYLE_TERSE}, {"so\nAnswer: 9", STYLE_TERSE},  // no '=' before the answer: terse
        {"1=1 Answer: 9", STYLE_TERSE},                                 // only whole lines count as steps
    };
    for (size_t k = 0; k < sizeof other / sizeof other[0]; k++)
        cr_expect_eq(arith_style_of(other[k].text), other[k].style, "\"%s\"", other[k].text);
    cr_expect_eq(arith_style_of(NULL), -1);
}

// Shares of styles and wrong answers over 6000 references, against the configured mixture (3 sigma bounds).
Test(task_styles, mixture_and_wrong_shares) {
    Err e = {{0}};
    const char *sets[] = {"task.ops=add", "task.styles=terse:1:0.3, check:3"};
    Task *t = make_task(sets, 2, &e);
    cr_assert(t, "%s", e.msg);
    int n = 6000, count[ARITH_N_STYLES] = {0}, wrong[ARITH_N_STYLES] = {0}, off_by_one = 0;
    for (int64_t i = 0; i < n; i++) {
        TaskItem item;
        char *sol;
        cr_assert_eq(task_item(t, SPLIT_TRAIN, i, &item, &e), 0, "%s", e.msg);
        cr_assert_eq(task_reference(t, SPLIT_TRAIN, i, &sol, &e), 0, "%s", e.msg);
        int s = arith_style_of(sol);
        cr_assert(s == STYLE_TERSE || s == STYLE_CHECK, "\"%s\"", sol);
        Verdict v;
        task_verify(t, item.answer, sol, &v);
        count[s]++, wrong[s] += !v.correct;
        long long got = atoll(strrchr(sol, ' ') + 1), truth = atoll(item.answer);
        off_by_one += !v.correct && (got == truth + 1 || got == truth - 1);
        free(sol);
        task_item_free(&item);
    }
    cr_expect(count[STYLE_TERSE] > 1500 - 100 && count[STYLE_TERSE] < 1500 + 100, "%d terse", count[STYLE_TERSE]);
    double share = (double)wrong[STYLE_TERSE] / count[STYLE_TERSE];
    cr_expect(share > 0.3 - 0.036 && share < 0.3 + 0.036, "terse wrong share %g", share);
    cr_expect_eq(wrong[STYLE_CHECK], 0);
    cr_expect_eq(off_by_one, wrong[STYLE_TERSE], "every wrong reference is one off");
    task_free(t);
}

// Without task.styles the references are study 1's: steps or terse by task.verbose_ratio, bit for bit.
Test(task_styles, empty_styles_keep_verbose_ratio_references) {
    Err e = {{0}};
    const char *sets[] = {"task.verbose_ratio=0.4"};
    Task *t = make_task(sets, 1, &e);
    cr_assert(t, "%s", e.msg);
    Config c;
    cr_assert_eq(config_resolve(&c, NULL, sets, 1, &e), 0, "%s", e.msg);
    Arith a;
    cr_assert_eq(arith_init(&a, &c.task, &e), 0, "%s", e.msg);
    for (int64_t i = 0; i < 500; i++) {
        ArithProblem p;
        char *sol, *want;
        cr_assert_eq(arith_problem(&a, 0, i, &p, &e), 0, "%s", e.msg);
        cr_assert_eq(task_reference(t, SPLIT_TRAIN, i, &sol, &e), 0, "%s", e.msg);
        cr_assert_eq(task_reference_form(t, SPLIT_TRAIN, i, arith_pick_verbose(&a, 0, i), &want, &e), 0, "%s", e.msg);
        cr_expect_str_eq(sol, want);
        free(sol), free(want);
    }
    task_free(t);
}

Test(task_styles, bad_styles_are_named) {
    const struct { const char *spec, *msg; } bad[] = {
        {"short:1", "[task] styles: unknown style 'short'; expected terse, restate, steps, check, restate_steps or steps_check"},
        {"terse", "[task] styles: 'terse' needs a weight in (0, 1e6] after it (style:weight[:wrong])"},
        {"terse:0", "'terse' needs a weight in (0, 1e6]"},
        {"terse:x", "'terse' needs a weight in (0, 1e6]"},
        {"terse:1:1.5", "[task] styles: 'terse': the wrong-answer share after the weight must be in [0, 1]"},
        {"terse:1:0.1:2", "the wrong-answer share after the weight must be in [0, 1]"},
        {"terse:1,terse:2", "[task] styles: style 'terse' is listed twice"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        Err e = {{0}};
        char set[300];
        snprintf(set, sizeof set, "task.styles=%s", bad[k].spec);
        const char *sets[] = {set};
        cr_expect_null(make_task(sets, 1, &e), "%s accepted", bad[k].spec);
        cr_expect(strstr(e.msg, bad[k].msg), "%s: %s", bad[k].spec, e.msg);
    }
}

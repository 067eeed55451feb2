// Tasks: the embedded arithmetic task (references verify, disjoint splits, determinism, difficulty knobs)
// and dataset-backed tasks (per-epoch shuffle, templates, verifier choice).
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "scratch_dir.h"
#include "task/task.h"

static Task *make_task(const char *const *sets, int n, Err *e) {
    Config c;
    cr_assert_eq(config_resolve(&c, NULL, sets, n, e), 0, "%s", e->msg);
    return task_create(&c, e);
}

// Independent check of a prompt "Q: A<op>B=?\n": the exact result as text.
static void expected_answer(const char *prompt, char *out, size_t cap) {
    unsigned long long a, b;
    char op;
    cr_assert_eq(sscanf(prompt, "Q: %llu%c%llu=?", &a, &op, &b), 3, "prompt \"%s\"", prompt);
    __int128 r = op == '+' ? (__int128)a + b : op == '-' ? (__int128)a - (__int128)b : (__int128)a * b;
    char tmp[48];
    int n = 0;
    bool neg = r < 0;
    if (neg) r = -r;
    do tmp[n++] = (char)('0' + (int)(r % 10)), r /= 10;
    while (r);
    size_t o = 0;
    if (neg) out[o++] = '-';
    while (n && o + 1 < cap) out[o++] = tmp[--n];
    out[o] = 0;
}

Test(task, arith_references_verify_for_10000_problems) {
    Err e = {{0}};
    const char *sets[] = {"task.ops=add,sub,mul", "task.digits_min=1", "task.digits_max=4"};
    Task *t = make_task(sets, 3, &e);
    cr_assert(t, "%s", e.msg);
    for (int64_t i = 0; i < 10000; i++) {
        Split split = i % 10 == 9 ? SPLIT_EVAL : SPLIT_TRAIN;
        TaskItem item;
        cr_assert_eq(task_item(t, split, i, &item, &e), 0, "%s", e.msg);
        char want[64];
        expected_answer(item.prompt, want, sizeof want);
        cr_assert_str_eq(item.answer, want, "problem %lld: %s", (long long)i, item.prompt);
        for (int verbose = 0; verbose < 2; verbose++) {
            char *sol;
            cr_assert_eq(task_reference_form(t, split, i, verbose, &sol, &e), 0, "%s", e.msg);
            Verdict v;
            task_verify(t, item.answer, sol, &v);
            cr_assert(v.correct, "problem %lld %s: %s reference \"%s\" does not verify", (long long)i, item.prompt,
                      verbose ? "verbose" : "terse", sol);
            free(sol);
        }
        task_item_free(&item);
    }
    task_free(t);
}

Test(task, arith_wrong_answers_fail) {
    Err e = {{0}};
    Task *t = make_task(NULL, 0, &e);
    cr_assert(t, "%s", e.msg);
    Verdict v;
    task_verify(t, "3901", "83*47:\n83*7=581\nAnswer: 3900", &v);
    cr_expect(!v.correct && v.found);
    task_verify(t, "3901", "no final line", &v);
    cr_expect(!v.correct && !v.found);
    task_free(t);
}

Test(task, arith_verbose_form_shows_steps_and_is_short) {
    Err e = {{0}};
    const char *sets[] = {"task.ops=mul", "task.digits_min=3", "task.digits_max=3"};
    Task *t = make_task(sets, 3, &e);
    cr_assert(t, "%s", e.msg);
    for (int64_t i = 0; i < 200; i++) {
        TaskItem item;
        char *verbose, *terse;
        cr_assert_eq(task_item(t, SPLIT_TRAIN, i, &item, &e), 0, "%s", e.msg);
        cr_assert_eq(task_reference_form(t, SPLIT_TRAIN, i, true, &verbose, &e), 0);
        cr_assert_eq(task_reference_form(t, SPLIT_TRAIN, i, false, &terse, &e), 0);
        cr_expect_lt(strlen(item.prompt), 32);
        cr_expect_lt(strlen(terse), 24);
        cr_expect_leq(strlen(verbose), 200, "%s", verbose);
        cr_expect_gt(strlen(verbose), strlen(terse) + 20, "%s", verbose);
        cr_expect(strstr(verbose, "\nAnswer: "), "%s", verbose);
        free(verbose), free(terse);
        task_item_free(&item);
    }
    task_free(t);
}

Test(task, arith_hand_examples) {
    Err e = {{0}};
    Task *t = make_task(NULL, 0, &e);
    cr_assert(t, "%s", e.msg);
    // Reach specific problems through the prompt: search the first problems for one of each operation.
    bool seen_add = false, seen_mul = false;
    for (int64_t i = 0; i < 500 && !(seen_add && seen_mul); i++) {
        TaskItem item;
        char *sol;
        cr_assert_eq(task_item(t, SPLIT_TRAIN, i, &item, &e), 0);
        cr_assert_eq(task_reference_form(t, SPLIT_TRAIN, i, true, &sol, &e), 0);
        unsigned long long a, b;
        char op;
        sscanf(item.prompt, "Q: %llu%c%llu", &a, &op, &b);
        if (op == '+' && a >= 10 && b >= 10 && !seen_add) {
            char first[32];
            snprintf(first, sizeof first, "%llu+%llu=%llu", a % 10, b % 10, a % 10 + b % 10);
            cr_expect(!strncmp(sol, first, strlen(first)), "add steps start with the units column: %s", sol);
            seen_add = true;
        }
        if (op == '*' && a >= 10 && b >= 10 && !seen_mul) {
            cr_expect(strchr(sol, ':') && strstr(sol, "Answer: "), "%s", sol);
            seen_mul = true;
        }
        free(sol);
        task_item_free(&item);
    }
    cr_expect(seen_add && seen_mul);
    task_free(t);
}

Test(task, arith_is_deterministic_and_seeded) {
    Err e = {{0}};
    const char *s1[] = {"task.seed=7"}, *s2[] = {"task.seed=8"};
    Task *a = make_task(s1, 1, &e), *b = make_task(s1, 1, &e), *c = make_task(s2, 1, &e);
    cr_assert(a && b && c, "%s", e.msg);
    int differ = 0;
    for (int64_t i = 0; i < 100; i++) {
        TaskItem x, y, z;
        cr_assert_eq(task_item(a, SPLIT_TRAIN, i, &x, &e), 0);
        cr_assert_eq(task_item(b, SPLIT_TRAIN, i, &y, &e), 0);
        cr_assert_eq(task_item(c, SPLIT_TRAIN, i, &z, &e), 0);
        cr_expect_str_eq(x.prompt, y.prompt);
        differ += strcmp(x.prompt, z.prompt) != 0;
        task_item_free(&x), task_item_free(&y), task_item_free(&z);
    }
    cr_expect_gt(differ, 80, "another task.seed gives other problems");
    task_free(a), task_free(b), task_free(c);
}

Test(task, arith_splits_are_disjoint) {
    Err e = {{0}};
    // 1-digit additions: only 100 distinct problems, so overlapping splits would collide at once.
    const char *sets[] = {"task.ops=add", "task.digits_min=1", "task.digits_max=1", "task.eval_size=50"};
    Task *t = make_task(sets, 4, &e);
    cr_assert(t, "%s", e.msg);
    cr_expect_eq(task_split_size(t, SPLIT_EVAL), 50);
    cr_expect_eq(task_split_size(t, SPLIT_TRAIN), INT64_MAX);
    bool in_eval[100] = {0}, in_train[100] = {0};
    for (int64_t i = 0; i < 2000; i++) {
        for (int s = 0; s < 2; s++) {
            TaskItem item;
            cr_assert_eq(task_item(t, (Split)s, i, &item, &e), 0, "%s", e.msg);
            unsigned a, b;
            sscanf(item.prompt, "Q: %u+%u", &a, &b);
            (s ? in_eval : in_train)[a * 10 + b] = true;
            task_item_free(&item);
        }
    }
    int n_eval = 0, n_train = 0;
    for (int k = 0; k < 100; k++) {
        cr_expect(!(in_eval[k] && in_train[k]), "problem %d+%d is in both splits", k / 10, k % 10);
        n_eval += in_eval[k], n_train += in_train[k];
    }
    cr_expect_gt(n_eval, 0);
    cr_expect_gt(n_train, 70);
    task_free(t);
}

Test(task, arith_digit_range_and_ops) {
    Err e = {{0}};
    const char *sets[] = {"task.ops=sub", "task.digits_min=5", "task.digits_max=6"};
    Task *t = make_task(sets, 3, &e);
    cr_assert(t, "%s", e.msg);
    bool negative = false;
    for (int64_t i = 0; i < 300; i++) {
        TaskItem item;
        cr_assert_eq(task_item(t, SPLIT_TRAIN, i, &item, &e), 0);
        unsigned long long a, b;
        char op;
        cr_assert_eq(sscanf(item.prompt, "Q: %llu%c%llu", &a, &op, &b), 3);
        cr_expect_eq(op, '-');
        cr_expect(a >= 10000 && a <= 999999 && b >= 10000 && b <= 999999, "%s", item.prompt);
        negative |= item.answer[0] == '-';
        task_item_free(&item);
    }
    cr_expect(negative, "subtraction produces negative results too");
    task_free(t);
}

Test(task, arith_verbose_ratio) {
    Err e = {{0}};
    const char *sets[] = {"task.verbose_ratio=0.3"};
    Task *t = make_task(sets, 1, &e);
    cr_assert(t, "%s", e.msg);
    int verbose = 0;
    for (int64_t i = 0; i < 4000; i++) {
        char *sol;
        cr_assert_eq(task_reference(t, SPLIT_TRAIN, i, &sol, &e), 0);
        verbose += strncmp(sol, "Answer: ", 8) != 0;
        free(sol);
    }
    cr_expect(verbose > 0.27 * 4000 && verbose < 0.33 * 4000, "%d of 4000 verbose", verbose);
    task_free(t);
}

Test(task, bad_task_configs) {
    Err e = {{0}};
    const char *bad_op[] = {"task.ops=add,div"};
    cr_expect_null(make_task(bad_op, 1, &e));
    cr_expect(strstr(e.msg, "[task] ops: unknown operation 'div'"), "%s", e.msg);
    const char *bad_name[] = {"task.name=chess"};
    cr_expect_null(make_task(bad_name, 1, &e));
    cr_expect(strstr(e.msg, "[task] name = 'chess': expected arith, math, gsm8k or dapo"), "%s", e.msg);
    const char *missing[] = {"task.name=gsm8k", "data.path=/nonexistent/train.jsonl"};
    cr_expect_null(make_task(missing, 2, &e));
    cr_expect(strstr(e.msg, "/nonexistent/train.jsonl: cannot open"), "%s", e.msg);
}

static const char *write_file(const char *name, const char *text) {
    static char path[4][200];
    static int k = 0;
    char *p = path[k++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", scratch_dir(), name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return p;
}

// What data.skip_bad_lines left out reaches the user: the count and the first skipped line, per split.
Test(task, skipped_lines_are_noted_per_split) {
    Err e = {{0}};
    char note[1200];
    const char *arith[] = {"task.name=arith"};
    Task *t = make_task(arith, 1, &e);
    cr_assert(t, "%s", e.msg);
    cr_expect(!task_skip_note(t, SPLIT_TRAIN, note, sizeof note) && !note[0], "arith skips nothing");
    task_free(t);
    const char *train = write_file("skip-train.jsonl", "{\"question\": \"q\", \"answer\": \"#### 1\"}\n"
                                                       "{\"question\": \"q\"}\nnot json\n");
    const char *eval = write_file("skip-eval.jsonl", "{\"question\": \"q\", \"answer\": \"#### 1\"}\n");
    char p_train[300], p_eval[300];
    snprintf(p_train, sizeof p_train, "data.path=%s", train);
    snprintf(p_eval, sizeof p_eval, "data.eval_path=%s", eval);
    const char *sets[] = {"task.name=gsm8k", p_train, p_eval, "data.skip_bad_lines=true"};
    cr_assert(t = make_task(sets, 4, &e), "%s", e.msg);
    cr_expect_eq(task_skipped_lines(t, SPLIT_TRAIN), 2);
    cr_expect_eq(task_skipped_lines(t, SPLIT_EVAL), 0);
    cr_expect(task_skip_note(t, SPLIT_TRAIN, note, sizeof note));
    char want[600];
    snprintf(want, sizeof want, "data.skip_bad_lines: 2 malformed line(s) of the training data skipped; the first: %s:2: ",
             train);
    cr_expect(strstr(note, want) == note, "got \"%s\", expected it to begin \"%s\"", note, want);
    cr_expect(!task_skip_note(t, SPLIT_EVAL, note, sizeof note) && !note[0], "the eval file had no bad line");
    task_free(t);
}

Test(task, dataset_epochs_are_shuffled_permutations) {
    Err e = {{0}};
    char text[4096] = "";
    for (int i = 0; i < 37; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "{\"question\": \"q%d\", \"answer\": \"#### %d\"}\n", i, i);
    char path_set[200];
    snprintf(path_set, sizeof path_set, "data.path=%s", write_file("gsm.jsonl", text));
    const char *sets[] = {"task.name=gsm8k", path_set, "data.template=Question: {question}\\nAnswer:"};
    Task *t = make_task(sets, 3, &e);
    cr_assert(t, "%s", e.msg);
    cr_expect_eq(task_split_size(t, SPLIT_TRAIN), 37);
    cr_expect_eq(task_split_size(t, SPLIT_EVAL), 0);
    cr_expect(!task_is_embedded(t));
    int order[2][37];
    for (int epoch = 0; epoch < 2; epoch++) {
        bool seen[37] = {0};
        for (int k = 0; k < 37; k++) {
            TaskItem item;
            cr_assert_eq(task_item(t, SPLIT_TRAIN, epoch * 37 + k, &item, &e), 0, "%s", e.msg);
            int q;
            cr_assert_eq(sscanf(item.prompt, "Question: q%d\nAnswer:", &q), 1, "%s", item.prompt);
            cr_expect(strstr(item.prompt, "\nAnswer:"), "template escapes decoded");
            char want[32];
            snprintf(want, sizeof want, "%d", q);
            cr_expect_str_eq(item.answer, want, "the gsm8k preset keeps the number after ####");
            cr_expect(!seen[q], "record %d twice in epoch %d", q, epoch);
            seen[q] = true, order[epoch][k] = q;
            task_item_free(&item);
        }
    }
    int same = 0, identity = 0;
    for (int k = 0; k < 37; k++) same += order[0][k] == order[1][k], identity += order[0][k] == k;
    cr_expect_lt(same, 10, "epochs are shuffled differently");
    cr_expect_lt(identity, 10, "epoch 0 is shuffled");
    TaskItem item;
    cr_expect_eq(task_item(t, SPLIT_EVAL, 0, &item, &e), -1);
    cr_expect(strstr(e.msg, "no eval data; set [data] eval_path"), "%s", e.msg);
    char *sol;
    cr_expect_eq(task_reference(t, SPLIT_TRAIN, 0, &sol, &e), -1);
    Verdict v;
    task_verify(t, "Natalia... #### 72", "so \\boxed{72}", &v);
    cr_expect(v.correct);
    task_free(t);
}

Test(task, dataset_eval_split_in_file_order_and_no_shuffle_option) {
    Err e = {{0}};
    const char *data = write_file("m.jsonl", "{\"problem\": \"p0\", \"solution\": \"\\\\boxed{0}\"}\n"
                                             "{\"problem\": \"p1\", \"solution\": \"\\\\boxed{1}\"}\n"
                                             "{\"problem\": \"p2\", \"solution\": \"\\\\boxed{2}\"}\n");
    char p1[200], p2[200];
    snprintf(p1, sizeof p1, "data.path=%s", data);
    snprintf(p2, sizeof p2, "data.eval_path=%s", data);
    const char *sets[] = {"task.name=math", p1, p2, "data.shuffle=false", "data.template={question}"};
    Task *t = make_task(sets, 5, &e);
    cr_assert(t, "%s", e.msg);
    for (int64_t i = 0; i < 6; i++) {
        TaskItem a, b;
        cr_assert_eq(task_item(t, SPLIT_TRAIN, i, &a, &e), 0);
        cr_assert_eq(task_item(t, SPLIT_EVAL, i, &b, &e), 0);
        char want[8];
        snprintf(want, sizeof want, "p%d", (int)(i % 3));
        cr_expect_str_eq(a.prompt, want);
        cr_expect_str_eq(b.prompt, want);
        task_item_free(&a), task_item_free(&b);
    }
    task_free(t);
}

Test(task, verifier_only_dataset_task) {
    Err e = {{0}};
    const char *sets[] = {"task.name=math"};
    Task *t = make_task(sets, 1, &e);
    cr_assert(t, "%s", e.msg);
    cr_expect_eq(task_split_size(t, SPLIT_TRAIN), 0);
    TaskItem item;
    cr_expect_eq(task_item(t, SPLIT_TRAIN, 0, &item, &e), -1);
    cr_expect(strstr(e.msg, "task math: no train data; set [data] path"), "%s", e.msg);
    task_free(t);
}

Test(task, dapo_records_as_exported_from_hugging_face) {
    Err e = {{0}};
    const char *data = write_file(
        "dapo.jsonl",
        "{\"data_source\": \"math_dapo\", \"prompt\": [{\"content\": \"Solve 2+2. The last line of your response should be "
        "of the form Answer: $Answer\", \"role\": \"user\"}], \"ability\": \"MATH\", "
        "\"reward_model\": {\"ground_truth\": \"4\", \"style\": \"rule-lighteval/MATH_v2\"}}\n");
    char path_set[200];
    snprintf(path_set, sizeof path_set, "data.path=%s", data);
    const char *sets[] = {"task.name=dapo", path_set};
    Config c;
    cr_assert_eq(config_resolve(&c, NULL, sets, 2, &e), 0, "%s", e.msg);
    cr_expect_str_eq(c.reward.format_pattern, "Answer:");
    Task *t = task_create(&c, &e);
    cr_assert(t, "%s", e.msg);
    TaskItem item;
    cr_assert_eq(task_item(t, SPLIT_TRAIN, 5, &item, &e), 0, "%s", e.msg);
    cr_expect(!strncmp(item.prompt, "Solve 2+2.", 10), "%s", item.prompt);
    cr_expect_str_eq(item.answer, "4");
    Verdict v;
    task_verify(t, item.answer, "2+2 = 4.\nAnswer: $4$", &v);
    cr_expect(v.correct);
    task_item_free(&item);
    task_free(t);
}

Test(task, dataset_presets_fit_gsm8k_and_math) {
    Err e = {{0}};
    Config c;
    const char *gsm[] = {"task.name=gsm8k"}, *math[] = {"task.name=math"}, *own[] = {"task.name=math", "data.answer_field=answer"};
    cr_assert_eq(config_resolve(&c, NULL, gsm, 1, &e), 0, "%s", e.msg);
    cr_expect_str_eq(c.data.prompt_field, "question");
    cr_expect_str_eq(c.data.answer_field, "answer");
    cr_assert_eq(config_resolve(&c, NULL, math, 1, &e), 0, "%s", e.msg);
    cr_expect_str_eq(c.data.prompt_field, "problem");
    cr_expect_str_eq(c.data.answer_field, "solution");
    cr_assert_eq(config_resolve(&c, NULL, own, 2, &e), 0, "%s", e.msg);
    cr_expect_str_eq(c.data.answer_field, "answer", "an explicit key beats the preset");
}

// A majority vote's notion of one answer: math answers by the verifier's equivalence, arith's by normalised text.
Test(task, same_answer_for_majority_votes) {
    Err e = {{0}};
    const char *math[] = {"task.name=math"};
    Task *t = make_task(math, 1, &e);
    cr_assert(t, "%s", e.msg);
    cr_expect(task_same_answer(t, "\\frac12", "0.5"));
    cr_expect(task_same_answer(t, "2(x+1)", "2x+2"));
    cr_expect(task_same_answer(t, "3", "3"));
    cr_expect(!task_same_answer(t, "\\frac12", "0.51"));
    cr_expect(!task_same_answer(t, "", ""), "no answer is no vote");
    task_free(t);
    Task *a = make_task(NULL, 0, &e);
    cr_assert(a, "%s", e.msg);
    cr_expect(task_same_answer(a, "42", " 42 "));
    cr_expect(!task_same_answer(a, "42", "43"));
    cr_expect(!task_same_answer(a, "", ""));
    task_free(a);
}

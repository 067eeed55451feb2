// Dataset presets (task.name = gsm8k, math, dapo) on committed records in each dataset's own layout
// (tests/fixtures/datasets): the question field, the ground truth as verl's preprocessing extracts it, the
// instruction it appends, and DAPO-Math-17k's prompts kept as they are by template = dapo.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "task/prompts.h"
#include "task/task.h"
#include "text/tokenizer.h"

#define DIR "tests/fixtures/datasets/"
#define DAPO_BEFORE                                                                                          \
    "Solve the following math problem step by step. The last line of your response should be of the form " \
    "Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n"
#define DAPO_AFTER "\n\nRemember to put your answer on its own line after \"Answer:\"."

static Task *preset_task(const char *name, const char *file, const char *extra, Config *c) {
    char task_set[64], path_set[128];
    snprintf(task_set, sizeof task_set, "task.name=%s", name);
    snprintf(path_set, sizeof path_set, "data.path=" DIR "%s", file);
    const char *sets[] = {task_set, path_set, "data.shuffle=false", extra ? extra : "data.shuffle=false"};
    Err e = {{0}};
    cr_assert_eq(config_resolve(c, NULL, sets, 4, &e), 0, "%s", e.msg);
    Task *t = task_create(c, &e);
    cr_assert(t, "%s", e.msg);
    return t;
}

static void expect_item(const Task *t, int64_t i, const char *prompt, const char *answer) {
    TaskItem item;
    Err e = {{0}};
    cr_assert_eq(task_item(t, SPLIT_TRAIN, i, &item, &e), 0, "%s", e.msg);
    cr_expect_str_eq(item.prompt, prompt);
    cr_expect_str_eq(item.answer, answer);
    task_item_free(&item);
}

Test(presets, gsm8k_as_verl_formats_it) {
    Config c;
    Task *t = preset_task("gsm8k", "gsm8k.jsonl", NULL, &c);
    cr_expect_str_eq(c.reward.format_pattern, "####");
    const char *ask = " Let's think step by step and output the final answer after \"####\".";
    char want[512];
    snprintf(want, sizeof want, "A baker makes 12 loaves a day. How many loaves does he make in 5 days?%s", ask);
    expect_item(t, 0, want, "60");
    snprintf(want, sizeof want, "Tom has 3 boxes of 450 nails each. How many nails does he have?%s", ask);
    expect_item(t, 1, want, "1350");
    task_free(t);
}

Test(presets, math_as_verl_formats_it) {
    Config c;
    Task *t = preset_task("math", "math.jsonl", NULL, &c);
    const char *ask = " Let's think step by step and output the final answer within \\boxed{}.";
    char want[512];
    snprintf(want, sizeof want, "What is $\\frac{1}{2} + \\frac{1}{4}$?%s", ask);
    expect_item(t, 0, want, "\\frac{3}{4}");
    snprintf(want, sizeof want, "Solve $2x + 3 = 11$.%s", ask);
    expect_item(t, 1, want, "4");  // the last \boxed{} only, as verl's last_boxed_only_string
    snprintf(want, sizeof want, "Find the interval where $x^2 < 4$.%s", ask);
    expect_item(t, 2, want, "(-2, 2)");
    task_free(t);
}

Test(presets, a_template_with_its_own_instruction_drops_the_datasets) {
    Config c;
    Task *t = preset_task("math", "math.jsonl", "prompt.template=qwen-boxed", &c);
    expect_item(t, 1, "Solve $2x + 3 = 11$.", "4");
    task_free(t);
    t = preset_task("gsm8k", "gsm8k.jsonl", "prompt.template=chatml", &c);
    cr_expect(strstr(c.data.template_, "after \"####\""), "chatml keeps the dataset's instruction");
    task_free(t);
}

// DAPO-Math-17k's prompts already have DAPO's instruction: template = dapo gives the same ids as chatml.
Test(presets, dapo_prompts_keep_their_instruction_once) {
    Config c, chat;
    Task *t = preset_task("dapo", "dapo.jsonl", "prompt.template=dapo", &c);
    Task *plain = preset_task("dapo", "dapo.jsonl", "prompt.template=chatml", &chat);
    expect_item(t, 0, DAPO_BEFORE "What is $7 \\cdot 8$?" DAPO_AFTER, "56");
    expect_item(t, 1, DAPO_BEFORE "How many primes are less than 20?" DAPO_AFTER, "8");
    Err e = {{0}};
    Tokenizer *tok = tokenizer_create(&c.tokenizer, &e);
    PromptSet a = {0}, b = {0};
    cr_assert_eq(prompts_from_task(&a, t, SPLIT_TRAIN, 0, 2, false, tok, &e), 0, "%s", e.msg);
    cr_assert_eq(prompts_from_task(&b, plain, SPLIT_TRAIN, 0, 2, false, tok, &e), 0, "%s", e.msg);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(a.len[i], b.len[i]);
        cr_expect(!memcmp(a.tokens[i], b.tokens[i], (size_t)a.len[i] * sizeof *a.tokens[i]));
    }
    // A raw question gets the instruction around it.
    int32_t *ids;
    int n;
    cr_assert_eq(prompt_encode(&c.prompt, tok, "What is $7 \\cdot 8$?", &ids, &n, &e), 0, "%s", e.msg);
    cr_expect_eq(n, a.len[0]);
    cr_expect(!memcmp(ids, a.tokens[0], (size_t)n * sizeof *ids));
    free(ids);
    prompts_free(&a), prompts_free(&b);
    tokenizer_free(tok);
    task_free(t), task_free(plain);
}

Test(presets, a_solution_without_its_answer_names_the_line) {
    char path[64], path_set[96];
    snprintf(path, sizeof path, "/tmp/rlvr-presets-%d.jsonl", getpid());
    snprintf(path_set, sizeof path_set, "data.path=%s", path);
    FILE *f = fopen(path, "w");
    fputs("{\"problem\": \"p\", \"solution\": \"\\\\boxed{1}\"}\n{\"problem\": \"q\", \"solution\": \"no box\"}\n", f);
    fclose(f);
    Config c;
    Err e = {{0}};
    const char *sets[] = {"task.name=math", path_set};
    cr_assert_eq(config_resolve(&c, NULL, sets, 2, &e), 0, "%s", e.msg);
    cr_expect_null(task_create(&c, &e));
    cr_expect(strstr(e.msg, ".jsonl:2: \"solution\" has no answer: expected a \\boxed{...} "
                            "(data.answer_format = boxed)"), "%s", e.msg);
    f = fopen(path, "w");
    fputs("{\"question\": \"q\", \"answer\": \"so 5\\n#### five\"}\n", f);
    fclose(f);
    const char *gsm[] = {"task.name=gsm8k", path_set};
    cr_assert_eq(config_resolve(&c, NULL, gsm, 2, &e), 0, "%s", e.msg);
    cr_expect_null(task_create(&c, &e));
    cr_expect(strstr(e.msg, ":1: \"answer\" has no answer: expected a \"#### N\" line"), "%s", e.msg);
    unlink(path);
}

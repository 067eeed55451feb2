// JSONL datasets: field forms, errors naming PATH:LINE, skip-and-count, the per-epoch permutation.
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "scratch_dir.h"
#include "task/dataset.h"

static const char *write_file(const char *text) {
    static char path[300];
    snprintf(path, sizeof path, "%s/data.jsonl", scratch_dir());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static DataConfig fields(const char *prompt, const char *answer, bool skip) {
    DataConfig dc = {0};
    snprintf(dc.prompt_field, sizeof dc.prompt_field, "%s", prompt);
    snprintf(dc.answer_field, sizeof dc.answer_field, "%s", answer);
    dc.skip_bad_lines = skip;
    return dc;
}

Test(dataset, field_forms) {
    const char *path = write_file(
        "{\"prompt\": \"plain\", \"answer\": \"7\"}\n"
        "\n"
        "{\"prompt\": [{\"role\": \"system\", \"content\": \"be brief\"}, {\"role\": \"user\", \"content\": \"chat\"}], \"answer\": 12}\n"
        "{\"prompt\": \"float\", \"answer\": 2.5}\n"
        "{\"prompt\": \"tenth\", \"answer\": 0.1}\n");
    Dataset d;
    Err e = {{0}};
    DataConfig dc = fields("prompt", "answer", false);
    cr_assert_eq(dataset_load(&d, path, &dc, &e), 0, "%s", e.msg);
    cr_assert_eq(d.n, 4);
    cr_expect_str_eq(d.questions[0], "plain");
    cr_expect_str_eq(d.questions[1], "chat");
    cr_expect_str_eq(d.answers[1], "12");
    cr_expect_str_eq(d.answers[2], "2.5");
    cr_expect_str_eq(d.answers[3], "0.1");  // the shortest text that reads back as the number: %.17g gave 0.10000000000000001
    cr_expect_eq(d.skipped, 0);
    dataset_free(&d);
}

Test(dataset, dotted_fields_reach_nested_objects) {
    const char *path = write_file("{\"prompt\": \"q\", \"reward_model\": {\"ground_truth\": \"34\", \"style\": \"rule\"}}\n");
    Dataset d;
    Err e = {{0}};
    DataConfig dc = fields("prompt", "reward_model.ground_truth", false);
    cr_assert_eq(dataset_load(&d, path, &dc, &e), 0, "%s", e.msg);
    cr_expect_str_eq(d.answers[0], "34");
    dataset_free(&d);
}

typedef struct {
    const char *text, *error;  // file contents, expected message after "PATH:"
} BadCase;

Test(dataset, malformed_records_name_the_line) {
    const BadCase cases[] = {
        {"{\"question\": \"q\", \"answer\": \"1\"}\n{\"question\": \"q\"}\n", ":2: missing key \"answer\" (data.answer_field)"},
        {"{\"problem\": \"q\", \"answer\": \"1\"}\n", ":1: missing key \"question\" (data.prompt_field)"},
        {"{\"question\": \"q\", \"answer\": \"1\"}\n\n{bad json\n", ":3: invalid JSON"},
        {"[1, 2]\n", ":1: expected a JSON object"},
        {"{\"question\": 5, \"answer\": \"1\"}\n", ":1: \"question\" must be a string or an array of chat messages"},
        {"{\"question\": \"\", \"answer\": \"1\"}\n", ":1: \"question\" is an empty string"},
        {"{\"question\": \"q\", \"answer\": [1]}\n", ":1: \"answer\" must be a string or a number"},
        {"{\"question\": [{\"role\": \"system\", \"content\": \"x\"}], \"answer\": \"1\"}\n",
         ":1: \"question\" is an array without a {\"role\": \"user\""},
        {"{\"question\": \"2+2=\\u0000 or 3+3=\", \"answer\": \"4\"}\n", ":1: \\u0000 in a string"},
        {"", ": no usable records (0 malformed lines skipped)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = write_file(cases[i].text);
        Dataset d;
        Err e = {{0}};
        DataConfig dc = fields("question", "answer", false);
        cr_expect_eq(dataset_load(&d, path, &dc, &e), -1, "case %zu loaded", i);
        char want[512];
        snprintf(want, sizeof want, "%s%s", path, cases[i].error);
        cr_expect(strstr(e.msg, want), "case %zu: got \"%s\", expected \"%s\"", i, e.msg, want);
    }
}

Test(dataset, skip_bad_lines_counts_them) {
    const char *path = write_file("{\"q\": \"a\", \"a\": \"1\"}\n"
                                  "not json\n"
                                  "{\"q\": \"b\"}\n"
                                  "{\"q\": \"c\", \"a\": \"3\"}\n"
                                  "[]\n");
    Dataset d;
    Err e = {{0}};
    DataConfig dc = fields("q", "a", true);
    cr_assert_eq(dataset_load(&d, path, &dc, &e), 0, "%s", e.msg);
    cr_expect_eq(d.n, 2);
    cr_expect_eq(d.skipped, 3);
    cr_expect_str_eq(d.questions[1], "c");
    char first[400];
    snprintf(first, sizeof first, "%s:2: invalid JSON", path);
    cr_expect(strstr(d.first_bad, first) == d.first_bad, "the first skipped line's error: \"%s\"", d.first_bad);
    dataset_free(&d);
    const char *all_bad = write_file("x\ny\n");
    cr_expect_eq(dataset_load(&d, all_bad, &dc, &e), -1);
    cr_expect(strstr(e.msg, "no usable records (2 malformed lines skipped)"), "%s", e.msg);
}

Test(dataset, permutation_is_a_bijection_for_every_size) {
    const int64_t sizes[] = {1, 2, 3, 5, 16, 17, 100, 1000, 4097};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int64_t n = sizes[s];
        bool *seen = calloc((size_t)n, 1);
        for (int64_t pos = 0; pos < n; pos++) {
            int64_t x = dataset_permute(n, 42, 3, pos);
            cr_assert(x >= 0 && x < n, "n=%lld pos=%lld -> %lld", (long long)n, (long long)pos, (long long)x);
            cr_assert(!seen[x], "n=%lld: %lld hit twice", (long long)n, (long long)x);
            seen[x] = true;
        }
        free(seen);
    }
}

Test(dataset, permutation_depends_on_seed_and_epoch) {
    int same_epoch = 0, same_seed = 0, fixed = 0;
    for (int64_t pos = 0; pos < 1000; pos++) {
        int64_t x = dataset_permute(1000, 1, 0, pos);
        cr_expect_eq(x, dataset_permute(1000, 1, 0, pos), "deterministic");
        same_epoch += x == dataset_permute(1000, 1, 1, pos);
        same_seed += x == dataset_permute(1000, 2, 0, pos);
        fixed += x == pos;
    }
    cr_expect_lt(same_epoch, 20);
    cr_expect_lt(same_seed, 20);
    cr_expect_lt(fixed, 20);
}

Test(dataset, render_prompt) {
    char *p = dataset_render_prompt("<|user|>\\n{question}\\t{question}\\\\n", "2+2?");
    cr_expect_str_eq(p, "<|user|>\n2+2?\t2+2?\\n");
    free(p);
    p = dataset_render_prompt("{question}", "");
    cr_expect_str_eq(p, "");
    free(p);
}

// The hash of the records as read (a resume checks its data cursor indexes the same ones): FNV-1a 64 over each
// question and answer with its NUL, in file order. Expected values from an independent Python FNV-1a:
//   x = 0xcbf29ce484222325; for each byte b: x = ((x ^ b) * 0x100000001b3) mod 2^64
Test(dataset, hash_of_the_records_in_order) {
    static const struct {
        const char *text;
        uint64_t hash;
    } cases[] = {
        {"{\"prompt\": \"a\", \"answer\": \"1\"}\n{\"prompt\": \"b\", \"answer\": \"23\"}\n", 0x847379b89526cb8cULL},
        {"{\"prompt\": \"b\", \"answer\": \"23\"}\n{\"prompt\": \"a\", \"answer\": 1, \"id\": 5}\n", 0xf2a08b261104e61cULL},
        {"{\"prompt\": \"a\", \"answer\": \"12\"}\n", 0xebbe70fe07fde665ULL},
        {"{\"prompt\": \"a1\", \"answer\": \"2\"}\n", 0x0d8eab96d2a3410fULL},  // same bytes, another split
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Dataset d;
        Err e = {{0}};
        DataConfig dc = fields("prompt", "answer", false);
        cr_assert_eq(dataset_load(&d, write_file(cases[i].text), &dc, &e), 0, "%s", e.msg);
        cr_expect_eq(d.hash, cases[i].hash, "case %zu: %016llx", i, (unsigned long long)d.hash);
        dataset_free(&d);
    }
}

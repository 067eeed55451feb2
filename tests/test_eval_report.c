// rlvr eval's benchmark presets, its eval.jsonl record and the Markdown table of several runs.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/jsonl.h"
#include "eval/benchmark.h"
#include "eval/report.h"

static Config base_config(void) {
    Config c;
    Err e;
    cr_assert_eq(config_resolve(&c, NULL, NULL, 0, &e), 0, "%s", e.msg);
    return c;
}

Test(eval_report, benchmark_from_file_stem_explicit_name_or_config) {
    Config base = base_config(), c;
    Err e;
    char name[64];
    cr_assert_eq(benchmark_config(&base, "--data", "data/aime24.jsonl", &c, name, sizeof name, &e), 0, "%s", e.msg);
    cr_expect_str_eq(name, "aime24");
    cr_expect_str_eq(c.task.name, "math");
    cr_expect_str_eq(c.data.prompt_field, "problem");
    cr_expect_str_eq(c.data.eval_path, "data/aime24.jsonl");
    cr_assert_eq(benchmark_config(&base, "--data", "gsm8k=/x/test.jsonl", &c, name, sizeof name, &e), 0, "%s", e.msg);
    cr_expect_str_eq(name, "gsm8k");
    cr_expect_str_eq(c.task.name, "gsm8k");
    cr_expect_str_eq(c.data.prompt_field, "question");
    cr_expect_str_eq(c.data.eval_path, "/x/test.jsonl");
    // An unknown stem keeps the config's own task and fields; the embedded arith (the default) reads no file, so
    // there it is refused rather than evaluating arith's own problems under the file's name.
    cr_assert_eq(benchmark_config(&base, "--data", "mine.v2.jsonl", &c, name, sizeof name, &e), -1);
    cr_expect(strstr(e.msg, "--data mine.v2.jsonl: task arith reads no files"), "%s", e.msg);
    const char *math = "task.name=math";
    Config dataset;
    cr_assert_eq(config_resolve(&dataset, NULL, &math, 1, &e), 0, "%s", e.msg);
    cr_assert_eq(benchmark_config(&dataset, "--data", "mine.v2.jsonl", &c, name, sizeof name, &e), 0, "%s", e.msg);
    cr_expect_str_eq(name, "mine");
    cr_expect_str_eq(c.task.name, "math");
    cr_expect_str_eq(c.data.prompt_field, dataset.data.prompt_field);
    cr_expect_str_eq(c.data.eval_path, "mine.v2.jsonl");
}

// eval.benchmarks: a bare NAME is eval.data_dir/NAME.jsonl, NAME.jsonl in the current directory when data_dir is empty
// (not /NAME.jsonl); a path or NAME=FILE is kept as given.
Test(eval_report, benchmark_names_read_from_data_dir) {
    Config c = base_config();
    Err e;
    char specs[4][BENCHMARK_SPEC_LEN];
    snprintf(c.eval.benchmarks, sizeof c.eval.benchmarks, "aime24, gsm8k=x/t.jsonl");
    cr_assert_eq(benchmark_specs(&c, specs, 4, &e), 2, "%s", e.msg);
    cr_expect_str_eq(specs[0], "data/aime24.jsonl");
    cr_expect_str_eq(specs[1], "gsm8k=x/t.jsonl");
    c.eval.data_dir[0] = 0;
    cr_assert_eq(benchmark_specs(&c, specs, 4, &e), 2, "%s", e.msg);
    cr_expect_str_eq(specs[0], "aime24.jsonl");
}

Test(eval_report, unknown_benchmark_name_is_one_error) {
    Config base = base_config(), c;
    Err e;
    char name[64];
    cr_assert_eq(benchmark_config(&base, "--data", "aime2024=x.jsonl", &c, name, sizeof name, &e), -1);
    cr_expect(strstr(e.msg, "--data aime2024=x.jsonl: unknown benchmark 'aime2024' (expected one of aime24, aime25"),
              "%s", e.msg);
    cr_assert_eq(benchmark_config(&base, "--data", "gpqa=", &c, name, sizeof name, &e), -1);
    cr_expect(strstr(e.msg, "expected a JSONL file"), "%s", e.msg);
    // In training the entry comes from [eval] benchmarks, which the error names instead of rlvr eval's option.
    cr_assert_eq(benchmark_config(&base, "[eval] benchmarks", "data/mine.jsonl", &c, name, sizeof name, &e), -1);
    cr_expect(strstr(e.msg, "[eval] benchmarks data/mine.jsonl: task arith reads no files"), "%s", e.msg);
}

// --data's value is quoted cut and on one line, so the message always ends with what was expected; a path too long
// for the config names --data, not the --set data.eval_path it becomes.
Test(eval_report, long_or_odd_data_values_keep_the_message_whole) {
    Config base = base_config(), dataset = base_config(), c;
    snprintf(dataset.task.name, sizeof dataset.task.name, "math");
    Err e;
    char name[64], spec[2000];
    memset(spec, 'a', sizeof spec - 1), spec[sizeof spec - 1] = 0;
    spec[1500] = '=';
    cr_assert_eq(benchmark_config(&base, "--data", spec, &c, name, sizeof name, &e), -1);
    cr_expect(strstr(e.msg, "--data aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...: unknown benchmark "
                            "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' (expected one of aime24"),
              "%s", e.msg);
    cr_assert_eq(benchmark_config(&base, "--data", "x\ny=f.jsonl", &c, name, sizeof name, &e), -1);
    cr_expect(strstr(e.msg, "--data x\\ny=f.jsonl: unknown benchmark 'x\\ny'"), "%s", e.msg);
    char path[300];  // a path a config holds is quoted whole: its file's name is at its end
    snprintf(path, sizeof path, "/%0200d/plain.jsonl", 0);
    cr_assert_eq(benchmark_config(&base, "--data", path, &c, name, sizeof name, &e), -1);
    cr_expect(strstr(e.msg, "00/plain.jsonl: task arith reads no files"), "%s", e.msg);
    spec[1500] = 'a';
    cr_assert_eq(benchmark_config(&dataset, "--data", spec, &c, name, sizeof name, &e), -1);
    cr_expect(strstr(e.msg, "--data aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...: expected a path of at most 255 bytes"),
              "%s", e.msg);
    // data.eval_path holds no line break (base/config.h): a path with one is refused as such, not as too long.
    cr_assert_eq(benchmark_config(&dataset, "--data", "math500=a\nb.jsonl", &c, name, sizeof name, &e), -1);
    cr_expect(strstr(e.msg, "--data math500=a\\nb.jsonl: expected a path without a line break"), "%s", e.msg);
}

static void write_record(const char *dir, const char *bench, double avg, double se, double len) {
    char path[256];
    snprintf(path, sizeof path, "%s/eval.jsonl", dir);
    FILE *f = fopen(path, "a");
    cr_assert(f);
    EvalSource src = {bench, "f.jsonl", "c.h5", 10, "abc"};
    RolloutConfig rc = {.temperature = 0.6, .top_p = 0.95, .max_new_tokens = 64, .n = 4};
    EvalResult r = {.prompts = 8, .samples = 4, .avg = avg, .avg_stderr = se, .length_mean = len, .n_pass = 2,
                    .pass_k = {1, 4}, .pass = {avg, 0.9}};
    cJSON *o = eval_record(&src, &rc, &r);
    Err e;
    cr_assert_eq(jsonl_write(f, o, &e), 0);
    cJSON_Delete(o);
    fclose(f);
}

Test(eval_report, record_keys_and_table_of_runs) {
    char root[] = "/tmp/rlvr-evalrep-XXXXXX", a[64], b[64], out_path[96];
    cr_assert(mkdtemp(root));
    snprintf(a, sizeof a, "%s/luspo", root), snprintf(b, sizeof b, "%s/gspo", root);
    cr_assert_eq(mkdir(a, 0700), 0);
    cr_assert_eq(mkdir(b, 0700), 0);
    char held_out[128];
    snprintf(held_out, sizeof held_out, "%s/eval.jsonl", a);
    FILE *h = fopen(held_out, "w");
    fputs("{\"step\":0,\"prompts\":8,\"greedy_accuracy\":0.5}\n", h);  // training's own record: skipped
    fclose(h);
    write_record(a, "aime24", 0.25, 0.05, 100);
    write_record(a, "aime24", 0.5, 0.1, 300);  // the last record of a benchmark counts
    write_record(a, "math500", 0.75, 0.02, 200);
    write_record(b, "math500", 0.5, 0.01, 50);
    snprintf(out_path, sizeof out_path, "%s/table.md", root);
    FILE *out = fopen(out_path, "w");
    const char *dirs[] = {a, b};
    Err e;
    cr_assert_eq(eval_table(dirs, 2, out, &e), 0, "%s", e.msg);
    fclose(out);
    char text[1024] = "";
    out = fopen(out_path, "r");
    size_t n = fread(text, 1, sizeof text - 1, out);
    text[n] = 0;
    fclose(out);
    cr_expect_str_eq(text, "| run | aime24 | math500 | avg | length |\n|---|---|---|---|---|\n"
                           "| luspo | 50.0 ± 10.0 | 75.0 ± 2.0 | 62.5 | 250 |\n"
                           "| gspo | – | 50.0 ± 1.0 | 50.0 | 50 |\n");
    char path[128];
    snprintf(path, sizeof path, "%s/eval.jsonl", b);
    FILE *f = fopen(path, "r");
    char line[1024];
    cr_assert(fgets(line, sizeof line, f));
    fclose(f);
    cr_expect(strstr(line, "\"benchmark\":\"math500\",\"file\":\"f.jsonl\",\"checkpoint\":\"c.h5\",\"step\":10,"
                           "\"revision\":\"abc\",\"temperature\":0.6,\"top_p\":0.95,\"top_k\":0,\"max_new_tokens\":64,"
                           "\"prompts\":8,\"samples\":4,\"avg\":0.5,\"avg_stderr\":0.01,\"maj\":0,\"pass@1\":0.5,"
                           "\"pass@4\":0.9,\"length_mean\":50,"), "%s", line);
    const char *missing[] = {root};
    cr_expect_eq(eval_table(missing, 1, stdout, &e), -1);
    cr_expect(strstr(e.msg, "eval.jsonl"), "%s", e.msg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    cr_expect_eq(system(cmd), 0);
}

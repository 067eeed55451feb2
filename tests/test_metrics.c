// Run-directory logs: JSONL records, resume truncation, and the console progress line.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/metrics.h"

static char *read_all(const char *path) {
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot open %s", path);
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void make_dir(char *dir, size_t len) {
    snprintf(dir, len, "/tmp/rlvr-metrics-XXXXXX");
    cr_assert(mkdtemp(dir));
}

#define EVAL_LINE                                                                                               \
    "{\"step\":%d,\"prompts\":8,\"greedy_accuracy\":%g,\"greedy_length_mean\":0,\"sampled_accuracy\":0,"             \
    "\"sampled_length_mean\":0,\"samples_per_prompt\":2}\n"

Test(metrics, write_and_resume_truncation) {
    char dir[64], path[128];
    make_dir(dir, sizeof dir);
    Metrics mt;
    Err e;
    cr_assert_eq(metrics_open(&mt, dir, -1, NULL, &e), 0, "%s", e.msg);
    for (int s = 1; s <= 4; s++) {
        EvalMetrics m = {.step = s, .prompts = 8, .samples_per_prompt = 2, .greedy_accuracy = s * 0.5};
        cr_assert_eq(metrics_write_eval(&mt, &m, &e), 0);
    }
    metrics_log(&mt, "hello %d", 7);
    metrics_close(&mt);
    snprintf(path, sizeof path, "%s/eval.jsonl", dir);
    char want[1024] = "";
    for (int s = 1; s <= 4; s++)
        snprintf(want + strlen(want), sizeof want - strlen(want), EVAL_LINE, s, s * 0.5);
    cr_expect_str_eq(read_all(path), want);
    // A torn line after a crash, then a resume from step 2: records 3, 4 and the torn line go.
    FILE *f = fopen(path, "a");
    fputs("{\"step\":5,\"rew", f);
    fclose(f);
    cr_assert_eq(metrics_open(&mt, dir, 2, NULL, &e), 0, "%s", e.msg);
    metrics_close(&mt);
    want[0] = 0;
    for (int s = 1; s <= 2; s++)
        snprintf(want + strlen(want), sizeof want - strlen(want), EVAL_LINE, s, s * 0.5);
    cr_expect_str_eq(read_all(path), want);
    snprintf(path, sizeof path, "%s/log.txt", dir);
    cr_expect(strstr(read_all(path), "Z hello 7\n"));
    // A fresh run in the same directory starts the JSONL files empty.
    cr_assert_eq(metrics_open(&mt, dir, -1, NULL, &e), 0, "%s", e.msg);
    metrics_close(&mt);
    snprintf(path, sizeof path, "%s/eval.jsonl", dir);
    cr_expect_str_eq(read_all(path), "");
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

Test(metrics, progress_line) {
    StepMetrics m = {.kind = STEP_RL, .step = 12, .adv.reward_mean = 0.41,
                     .rollout = {.sequences = 64, .accuracy = 0.38, .length_mean = 57.25}, .loss.clip_frac = 0.012,
                     .tokens_per_s_train = 1234.4};
    char buf[256];
    metrics_progress_line(&m, 200, 12.0, 12, buf, sizeof buf);
    // ETA = 188 remaining steps × 1 s.
    cr_expect_str_eq(buf, "step 12/200 | reward 0.410 | acc 38.0% | len 57.2 | clip 1.20% | 1234 tok/s | ETA 3m08s");
    // On several ranks the longest wait of a rank follows.
    m.ranks = (RankTimes){.world = 4, .waiting_s = {.max = 0.416, .max_rank = 2}};
    metrics_progress_line(&m, 200, 12.0, 12, buf, sizeof buf);
    cr_expect_str_eq(buf, "step 12/200 | reward 0.410 | acc 38.0% | len 57.2 | clip 1.20% | 1234 tok/s | ETA 3m08s | wait 0.42s");
    StepMetrics s = {.kind = STEP_SFT, .step = 30, .loss.loss = 0.81234, .token_accuracy = 0.71, .tokens_per_s_train = 99.6};
    metrics_progress_line(&s, 600, 60.0, 30, buf, sizeof buf);  // 570 steps × 2 s
    cr_expect_str_eq(buf, "step 30/600 | loss 0.8123 | token acc 71.0% | 100 tok/s | ETA 19m00s");
    // Dynamic sampling dropped every group: no reward or accuracy to show, rather than 0.
    StepMetrics none = {.kind = STEP_RL, .step = 12, .rollout.gen_batches = 4};
    metrics_progress_line(&none, 200, 12.0, 12, buf, sizeof buf);
    cr_expect_str_eq(buf, "step 12/200 | no response selected (4 generation batches) | ETA 3m08s");
}

// Every RL step record has the results/objectives.md §5 keys with the struct's values; GRPO-λ's only with grpo_lambda.
Test(metrics, rl_step_record) {
    char dir[64], path[128];
    make_dir(dir, sizeof dir);
    Metrics mt;
    Err e;
    cr_assert_eq(metrics_open(&mt, dir, -1, NULL, &e), 0, "%s", e.msg);
    StepMetrics m = {.kind = STEP_RL, .step = 3, .adv = {.n_groups = 8, .n_zero_std_groups = 2, .reward_mean = 0.25},
                     .loss = {.clip_frac = 0.125, .tokens = 640}, .rollout = {.sequences = 16, .length_max = 77, .gen_batches = 2},
                     .update = {.updates = 4, .lr = 1e-6},
                     .ranks = {.world = 2, .sampling_s = {.max = 1.5, .max_rank = 1, .min = 0.25, .min_rank = 0},
                               .groups_sampled = {.max = 3, .max_rank = 0, .min = 1, .min_rank = 1}}};
    cr_assert_eq(metrics_write_step(&mt, &m, &e), 0);
    m.grpo_lambda = true, m.adv.n_efficiency_groups = 3, m.step = 4;
    cr_assert_eq(metrics_write_step(&mt, &m, &e), 0);
    metrics_close(&mt);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    const char *text = read_all(path);
    const char *second = strchr(text, '\n') + 1;
    cr_expect(strstr(text, "\"step\":3,\"loss\":0,\"pg_loss\":0,\"kl\":0,\"entropy\":0,\"ppo_kl\":0,\"clip_frac\":0.125,"));
    cr_expect(strstr(text, "\"tokens\":640,\"accuracy\":0,"));
    cr_expect(strstr(text, "\"length_max\":77,"));
    cr_expect(strstr(text, "\"ranks\":{\"world\":2,\"sampling_s\":{\"max\":1.5,\"max_rank\":1,\"min\":0.25,\"min_rank\":0},"));
    cr_expect(strstr(text, "\"groups_sampled\":{\"max\":3,\"max_rank\":0,\"min\":1,\"min_rank\":1}}"));
    cr_expect(strstr(text, "\"groups\":8,\"frac_zero_std\":0.25,\"gen_batches\":2,"));
    cr_expect(strstr(text, "\"lr\":1e-06,\"grad_norm\":0,\"updates\":4,\"skipped_updates\":0,\"step_time_s\":0}\n"));
    cr_expect(!memmem(text, (size_t)(second - text), "efficiency", 10), "GRPO-λ fields only with grpo_lambda");
    cr_expect(strstr(second, "\"frac_zero_std\":0.25,\"efficiency_groups\":3,\"efficiency_reward_mean\":0,"));
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

// A step that selected no response (dynamic sampling dropped every group after algo.max_gen_batches) logs null for
// every mean or fraction over responses, loss tokens or groups, and for the gradient norm of an update it did not
// apply: 0 would read as "every response wrong". The counts stay numbers.
// metrics.jsonl of a fresh run directory after the n steps written (read_all's buffer); the directory removed.
static const char *steps_written(const StepMetrics *steps, int n) {
    char dir[64], path[128], cmd[160];
    make_dir(dir, sizeof dir);
    Metrics mt;
    Err e;
    cr_assert_eq(metrics_open(&mt, dir, -1, NULL, &e), 0, "%s", e.msg);
    for (int i = 0; i < n; i++) cr_assert_eq(metrics_write_step(&mt, &steps[i], &e), 0, "%s", e.msg);
    metrics_close(&mt);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    const char *text = read_all(path);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
    return text;
}

Test(metrics, rl_step_without_responses_logs_null) {
    StepMetrics m = {.kind = STEP_RL, .step = 5, .rollout = {.gen_batches = 4}, .update = {.lr = 1e-6}};
    const char *text = steps_written(&m, 1);
    cr_expect(strstr(text, "{\"step\":5,\"loss\":null,\"pg_loss\":null,\"kl\":null,\"entropy\":null,\"ppo_kl\":null,"
                           "\"clip_frac\":null,"), "%s", text);
    cr_expect(strstr(text, "\"clip_frac_unit_high\":null,\"tokens\":0,\"accuracy\":null,\"format_rate\":null,"
                           "\"length_mean\":null,\"length_min\":null,\"length_max\":null,\"truncation_rate\":null,"
                           "\"masked_rate\":null,\"sequences\":0,\"reward_mean\":null,\"reward_std\":null,\"groups\":0,"
                           "\"frac_zero_std\":null,\"gen_batches\":4,\"groups_selected\":0,"), "%s", text);
    cr_expect(strstr(text, "\"lr\":1e-06,\"grad_norm\":null,\"updates\":0,\"skipped_updates\":0,"), "%s", text);
}

// GRPO-λ's mean over its efficiency groups' members: null when it formed none (algo.lambda = 0), a number otherwise.
Test(metrics, grpo_lambda_without_efficiency_groups_logs_null) {
    StepMetrics m[2] = {{.kind = STEP_RL, .step = 1, .grpo_lambda = true, .adv = {.n_groups = 2}}};
    m[1] = m[0], m[1].step = 2, m[1].adv.n_efficiency_groups = 1, m[1].adv.efficiency_reward_mean = 0.75;
    const char *text = steps_written(m, 2);
    cr_expect(strstr(text, "\"efficiency_groups\":0,\"efficiency_reward_mean\":null,"), "%s", text);
    cr_expect(strstr(text, "\"efficiency_groups\":1,\"efficiency_reward_mean\":0.75,"), "%s", text);
}

Test(metrics, open_fails_with_path) {
    Metrics mt;
    Err e;
    cr_expect_eq(metrics_open(&mt, "/nonexistent/run", -1, NULL, &e), -1);
    cr_expect(strstr(e.msg, "/nonexistent/run/metrics.jsonl: cannot open for writing"), "%s", e.msg);
}

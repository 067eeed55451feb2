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

Test(metrics, write_and_resume_truncation) {
    char dir[64], path[128];
    make_dir(dir, sizeof dir);
    Metrics mt;
    Err e;
    cr_assert_eq(metrics_open(&mt, dir, -1, NULL, &e), 0, "%s", e.msg);
    for (int s = 1; s <= 4; s++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "step", s);
        cJSON_AddNumberToObject(o, "reward", s * 0.5);
        cr_assert_eq(metrics_write(&mt, o, &e), 0);
        cJSON_Delete(o);
    }
    metrics_log(&mt, "hello %d", 7);
    metrics_close(&mt);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    cr_expect_str_eq(read_all(path), "{\"step\":1,\"reward\":0.5}\n{\"step\":2,\"reward\":1}\n{\"step\":3,\"reward\":1.5}\n"
                                     "{\"step\":4,\"reward\":2}\n");
    // A torn line after a crash, then a resume from step 2: records 3, 4 and the torn line go.
    FILE *f = fopen(path, "a");
    fputs("{\"step\":5,\"rew", f);
    fclose(f);
    cr_assert_eq(metrics_open(&mt, dir, 2, NULL, &e), 0, "%s", e.msg);
    metrics_close(&mt);
    cr_expect_str_eq(read_all(path), "{\"step\":1,\"reward\":0.5}\n{\"step\":2,\"reward\":1}\n");
    snprintf(path, sizeof path, "%s/log.txt", dir);
    cr_expect(strstr(read_all(path), "Z hello 7\n"));
    // A fresh run in the same directory starts the JSONL files empty.
    cr_assert_eq(metrics_open(&mt, dir, -1, NULL, &e), 0, "%s", e.msg);
    metrics_close(&mt);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    cr_expect_str_eq(read_all(path), "");
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

Test(metrics, progress_line) {
    Progress p = {.step = 12, .total = 200, .reward = 0.41, .accuracy = 0.38, .length = 57.25, .clip_frac = 0.012,
                  .tokens_per_s = 1234.4, .elapsed_s = 12.0, .steps_done = 12};
    char buf[256];
    metrics_progress_line(&p, buf, sizeof buf);
    // ETA = 188 remaining steps × 1 s.
    cr_expect_str_eq(buf, "step 12/200 | reward 0.410 | acc 38.0% | len 57.2 | clip 1.20% | 1234 tok/s | ETA 3m08s");
}

Test(metrics, open_fails_with_path) {
    Metrics mt;
    Err e;
    cr_expect_eq(metrics_open(&mt, "/nonexistent/run", -1, NULL, &e), -1);
    cr_expect(strstr(e.msg, "/nonexistent/run/metrics.jsonl: cannot open for writing"), "%s", e.msg);
}

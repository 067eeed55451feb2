// libFuzzer target: the JSONL reader and dataset loader on arbitrary file contents.
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "task/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    // /dev/shm keeps the per-input file in memory where it exists.
    snprintf(path, sizeof path, "%s/rlvr-fuzz-dataset-%d.jsonl", access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm",
             (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    // Plain and dotted field names, strict and skipping, each answer format.
    const char *fields[][2] = {{"prompt", "answer"}, {"prompt", "reward_model.ground_truth"}};
    for (int k = 0; k < 12; k++) {
        DataConfig dc = {0};
        snprintf(dc.prompt_field, sizeof dc.prompt_field, "%s", fields[k % 2][0]);
        snprintf(dc.answer_field, sizeof dc.answer_field, "%s", fields[k % 2][1]);
        dc.skip_bad_lines = k / 2 % 2;
        dc.answer_format = (AnswerFormat)(k / 4);
        Dataset d;
        Err e = {{0}};
        if (dataset_load(&d, path, &dc, &e) == 0) {
            for (int64_t i = 0; i < d.n; i++) {
                char *p = dataset_render_prompt("Q: {question}\\n", d.questions[i]);
                free(p);
            }
            dataset_free(&d);
        }
    }
    return 0;
}

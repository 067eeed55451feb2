// JSONL datasets of (question, ground-truth answer) records and their per-epoch shuffle.
#ifndef RLVR_DATASET_H
#define RLVR_DATASET_H

#include <stdint.h>

#include "base/config.h"
#include "base/error.h"

typedef struct {
    char **questions, **answers;  // n records, malloc'd strings
    int64_t n;
    int64_t skipped;       // malformed lines skipped (data.skip_bad_lines)
    char first_bad[1024];  // the first skipped line's error, "PATH:LINE: ..." (empty when none)
    uint64_t hash;    // FNV-1a 64 of every record's question and answer, NUL-terminated, in file order
} Dataset;

// Reads every record of path. Fields are dc->prompt_field and dc->answer_field; a dotted name reaches into
// objects ("reward_model.ground_truth"); a value is a string, a number, or (prompt only) an array of chat
// messages whose last "user" content is taken. dc->answer_format takes the ground truth out of a solution (the
// number after "####", the last \boxed{}); a solution without it is malformed. A malformed line fails with "PATH:LINE: ..." unless
// dc->skip_bad_lines, which skips and counts it. A file without any record is an error.
int dataset_load(Dataset *d, const char *path, const DataConfig *dc, Err *e);
void dataset_free(Dataset *d);

// Record at position pos (0 <= pos < n) of the epoch's shuffled order: a bijection on [0, n) keyed by
// (seed, epoch) — a 4-round Feistel network on Philox with cycle walking, O(1) memory and time.
int64_t dataset_permute(int64_t n, uint64_t seed, uint32_t epoch, int64_t pos);

// Prompt text: template with every "{question}" replaced by question and the escapes \n \t \\ decoded.
char *dataset_render_prompt(const char *template_, const char *question);

#endif

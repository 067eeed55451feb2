// Verifiable tasks: prompts with ground-truth answers, a verifier, and (embedded tasks) reference
// solutions for the supervised warm start. One interface for the embedded `arith` task and JSONL datasets.
#ifndef RLVR_TASK_H
#define RLVR_TASK_H

#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "base/error.h"
#include "text/verify.h"

typedef enum { SPLIT_TRAIN, SPLIT_EVAL } Split;

typedef struct Task Task;

// One problem: both strings malloc'd; release with task_item_free.
typedef struct {
    char *prompt;  // text fed to the model (template applied for datasets)
    char *answer;  // ground truth as the verifier expects it
} TaskItem;

// Task named by c->task.name:
//   "arith"                 embedded multi-digit arithmetic ([task] ops, digits_min/max, seed, eval_size; the
//                           references by verbose_ratio, or by the style mixture styles, task_arith.h)
//   "math", "gsm8k", "dapo" JSONL datasets read from [data] path (train) and eval_path (held out), with
//                           [data] prompt_field/answer_field/answer_format/template/skip_bad_lines/shuffle
//                           (presets per name in base/config.c, as verl's preprocessing reads each); with no
//                           data.path the task can only verify (rlvr reward --task math).
// Datasets are read whole at creation; errors name PATH:LINE.
Task *task_create(const Config *c, Err *e);

// The names task_create knows, as messages list them, and whether name is one (rlvr reward checks its --task).
#define TASK_NAMES "arith, math, gsm8k or dapo"
bool task_name_known(const char *name);
void task_free(Task *t);

// The chat format its prompts are given in (c->prompt at creation).
const PromptConfig *task_prompt_config(const Task *t);
bool task_is_embedded(const Task *t);

// Problems in a split: eval = task.eval_size (arith) or the eval file's records; train = records of the
// train file, or INT64_MAX for arith (generated on demand). 0 when the split has no data.
int64_t task_split_size(const Task *t, Split split);

// Records data.skip_bad_lines skipped as malformed while loading a split (0 for arith).
int64_t task_skipped_lines(const Task *t, Split split);
// The same as a line for the user: the count and the first skipped line's error ("PATH:LINE: ..."); false and ""
// when the split skipped none.
bool task_skip_note(const Task *t, Split split, char *out, size_t cap);

// What a split's records are, for a resume to know its data cursor indexes the same ones: a dataset's record
// count and the hash of their text (task/dataset.h); 0 and 0 without a file (arith, or no file for the split).
void task_data_id(const Task *t, Split split, int64_t *records, uint64_t *hash);

// Problem at global index i (>= 0), a pure function of the config:
//   arith: generated from (task.seed, split, i); train and eval problems are disjoint sets.
//   datasets, train: epoch = i / n, record = permutation_epoch(i % n), the permutation keyed by
//     (train.seed, epoch) (identity when data.shuffle = false); eval: record i % n, never shuffled.
int task_item(const Task *t, Split split, int64_t i, TaskItem *out, Err *e);
void task_item_free(TaskItem *item);

// Reference solution (embedded tasks only) for the SFT warm start: the step-by-step form or the terse
// "Answer: N" form, chosen deterministically from (task.seed, split, i) with P(verbose) = task.verbose_ratio;
// with task.styles set, a style drawn from that mixture, its stated answer one off at the style's wrong share.
// *solution malloc'd. Datasets: -1 with a message.
int task_reference(const Task *t, Split split, int64_t i, char **solution, Err *e);
// Both forms explicitly (embedded tasks only); verbose = true gives the step-by-step one.
int task_reference_form(const Task *t, Split split, int64_t i, bool verbose, char **solution, Err *e);

// Verdict of a response against a ground-truth answer with this task's verifier
// (arith: verify_integer_answer; datasets: verify_math).
void task_verify(const Task *t, const char *answer, const char *response, Verdict *v);
// Whether two extracted answers count as one in a majority vote (rlvr eval's maj@K): math answers when the verifier
// holds them equivalent (1/2, 0.5 and \frac12 are one vote), arith's integers when their normalised texts are equal.
bool task_same_answer(const Task *t, const char *a, const char *b);

#endif

// Benchmarks for `rlvr eval`: a JSONL file of problems and its preset (the fields to read and the verifier).
// rlvr ships none of the benchmarks' content; each preset names the layout a user's file must have.
#ifndef RLVR_BENCHMARK_H
#define RLVR_BENCHMARK_H

#include <stddef.h>

#include "base/config.h"
#include "base/error.h"
#include "task/prompts.h"
#include "task/task.h"
#include "text/tokenizer.h"

typedef struct {
    const char *name;
    const char *task;                        // task.name: the verifier (math: last \boxed{}, "Answer:"; gsm8k: "####")
    const char *prompt_field, *answer_field;
    const char *answer_format;               // data.answer_format of the answer field
    const char *layout;                      // what one line of the file holds, for --help and errors
} BenchmarkPreset;

// The known presets, in a fixed order; *n receives their number.
const BenchmarkPreset *benchmark_presets(int *n);

// The config that evaluates one benchmark: base with task.name, data.eval_path and the preset's fields.
// spec is "NAME=PATH" (NAME must be a preset) or "PATH", whose preset is the file name's stem when that
// names one (aime24.jsonl), else base's own task and [data] fields. name receives the benchmark's name. origin names
// where spec was given in errors: "--data" (rlvr eval) or "[eval] benchmarks" (training).
int benchmark_config(const Config *base, const char *origin, const char *spec, Config *out, char *name, size_t name_len,
                     Err *e);

// This rank's share of a benchmark's problems: the task's whole eval split, or, for the task's own held-out
// split (own_split), its first eval.n_prompts problems, as training evaluates them. Fails on an empty split.
int benchmark_prompts(const Config *c, const Task *task, bool own_split, const Tokenizer *tok, PromptSet *ps, Err *e);

#define BENCHMARK_SPEC_LEN (2 * CONFIG_STR)

// The entries of eval.benchmarks as specs: "NAME=FILE" and paths as they are, a bare NAME as
// eval.data_dir/NAME.jsonl (NAME.jsonl when data_dir is empty). Returns their number (at most max), or -1 naming an
// empty entry or too many.
int benchmark_specs(const Config *c, char specs[][BENCHMARK_SPEC_LEN], int max, Err *e);

// How an evaluation samples: rollout.* with eval.samples, eval.temperature, eval.top_p and
// eval.max_new_tokens (which default to the rollout's own).
RolloutConfig eval_sampling(const Config *c);

#endif

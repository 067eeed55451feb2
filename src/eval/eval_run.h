// `rlvr eval`: a checkpoint on benchmark files (or its task's held-out split), K samples per prompt, appended
// to OUT/eval.jsonl (one record per benchmark, eval/report.h) and OUT/samples.jsonl (every response with its
// verdict), each benchmark's whole once it is done, with a progress line per benchmark. Works under mpirun: identical output on any rank count.
#ifndef RLVR_EVAL_RUN_H
#define RLVR_EVAL_RUN_H

#include "base/config.h"
#include "base/error.h"
#include "eval/evaluate.h"
#include "model/model.h"
#include "text/tokenizer.h"

typedef struct {
    const char *ckpt, *out_dir;
    const char *config_path;          // NULL: the config stored in the checkpoint
    const char *const *sets;          // overrides, after the config (e.g. rollout.n=K, rollout.temperature=T)
    int n_sets;
    const char *const *data;          // benchmark specs (eval/benchmark.h); none: the task's held-out split
    int n_data;
} EvalRunArgs;

// Returns 0, or -1 on every rank with the same message.
int eval_run(const EvalRunArgs *a, Err *e);

// One benchmark of the model at training step `step` (origin and spec as eval/benchmark.h's benchmark_config; spec
// NULL: the first eval.n_prompts held-out problems of base's task), sampled as eval_sampling says. *bc receives its
// config, name its name; lines as evaluate(). Every rank returns the same outcome.
int evaluate_benchmark(Model *m, const Tokenizer *tok, const Config *base, const char *origin, const char *spec,
                       int64_t step, char *name, size_t name_len, Config *bc, EvalResult *res, char **lines, Err *e);

#endif

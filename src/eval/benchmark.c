#include "eval/benchmark.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/dist.h"

// Field names as the public copies of each benchmark are usually exported to JSONL.
static const BenchmarkPreset PRESETS[] = {
    {"aime24", "math", "problem", "answer", "plain", "{\"problem\": text, \"answer\": integer}"},
    {"aime25", "math", "problem", "answer", "plain", "{\"problem\": text, \"answer\": integer}"},
    {"amc23", "math", "question", "answer", "plain", "{\"question\": text, \"answer\": number}"},
    {"math500", "math", "problem", "answer", "plain", "{\"problem\": text, \"answer\": LaTeX answer}"},
    {"gsm8k", "gsm8k", "question", "answer", "gsm8k", "{\"question\": text, \"answer\": solution ending in \"#### N\"}"},
    {"gpqa", "math", "question", "answer", "plain", "{\"question\": text with lettered choices, \"answer\": letter A-D}"},
};
#define N_PRESETS (int)(sizeof PRESETS / sizeof PRESETS[0])

const BenchmarkPreset *benchmark_presets(int *n) {
    *n = N_PRESETS;
    return PRESETS;
}

static const BenchmarkPreset *find(const char *name, size_t len) {
    for (int i = 0; i < N_PRESETS; i++)
        if (strlen(PRESETS[i].name) == len && !strncmp(PRESETS[i].name, name, len)) return &PRESETS[i];
    return NULL;
}

static int set(Config *c, const char *key, const char *value, Err *e) {
    char assignment[CONFIG_STR + 64];
    snprintf(assignment, sizeof assignment, "%s=%s", key, value);
    return config_set(c, assignment, e);
}

// The spec as messages quote it: whole where a config path could hold it (a path cut to its start would lose the
// file's name), else cut by err_abbrev; on one line either way.
static const char *shown_spec(const char *spec, char q[ERR_ABBREV_SIZE]) {
    size_t n = strlen(spec);
    return n < CONFIG_STR && !err_has_control(spec, n) ? spec : err_abbrev(spec, q);
}

int benchmark_config(const Config *base, const char *origin, const char *spec, Config *out, char *name, size_t name_len,
                     Err *e) {
    const char *eq = strchr(spec, '='), *path = eq ? eq + 1 : spec;
    const char *slash = strrchr(path, '/'), *file = slash ? slash + 1 : path, *dot = strchr(file, '.');
    const char *stem = eq ? spec : file;
    size_t stem_len = eq ? (size_t)(eq - spec) : dot ? (size_t)(dot - file) : strlen(file);
    const BenchmarkPreset *p = find(stem, stem_len);
    char q[ERR_ABBREV_SIZE];
    const char *shown = shown_spec(spec, q);
    if (eq && !p) {
        char known[256] = "", given[ERR_ABBREV_BYTES + 8], qn[ERR_ABBREV_SIZE];
        for (int i = 0; i < N_PRESETS; i++) snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", PRESETS[i].name);
        snprintf(given, sizeof given, "%.*s", (int)stem_len, stem);  // longer than err_abbrev shows: it cuts it
        return err_set(e, "%s %s: unknown benchmark '%s' (expected one of %s, or a path alone)", origin,
                       shown, err_abbrev(given, qn), known);
    }
    if (!*path) return err_set(e, "%s %s: expected a JSONL file after '='", origin, shown);
    if (!p && !strcmp(base->task.name, "arith"))  // task_create would ignore the file and give arith's own split
        return err_set(e,
                       "%s %s: task arith reads no files (it would evaluate its own held-out split); expected "
                       "NAME=FILE with a preset, or --set task.name=math, gsm8k or dapo",
                       origin, shown);
    snprintf(name, name_len, "%.*s", (int)stem_len, stem);
    *out = *base;
    // The only ways this set fails (a long path, a line break); its message would name a --set the user never wrote.
    if (set(out, "data.eval_path", path, e)) {
        if (strlen(path) >= CONFIG_STR)
            return err_set(e, "%s %s: expected a path of at most %d bytes", origin, shown, CONFIG_STR - 1);
        return err_set(e, "%s %s: expected a path without a line break", origin, shown);
    }
    if (!p) return 0;
    TRY(set(out, "task.name", p->task, e));
    TRY(set(out, "data.prompt_field", p->prompt_field, e));
    TRY(set(out, "data.answer_format", p->answer_format, e));
    return set(out, "data.answer_field", p->answer_field, e);
}

int benchmark_specs(const Config *c, char specs[][BENCHMARK_SPEC_LEN], int max, Err *e) {
    int n = 0;
    const char *p = c->eval.benchmarks;
    while (*p == ' ') p++;
    if (!*p) return 0;
    for (;;) {
        size_t len = strcspn(p, ",");
        size_t end = len;
        while (end > 0 && p[end - 1] == ' ') end--;
        if (end == 0) return err_set(e, "[eval] benchmarks = '%s': empty entry (expected NAME or NAME=FILE, comma-separated)",
                                     c->eval.benchmarks);
        if (n == max) return err_set(e, "[eval] benchmarks: more than %d entries", max);
        bool bare = !memchr(p, '=', end) && !memchr(p, '/', end) && !memchr(p, '.', end);
        // An empty data_dir is the current directory, not the root one.
        if (bare && !c->eval.data_dir[0]) snprintf(specs[n++], BENCHMARK_SPEC_LEN, "%.*s.jsonl", (int)end, p);
        else if (bare) snprintf(specs[n++], BENCHMARK_SPEC_LEN, "%s/%.*s.jsonl", c->eval.data_dir, (int)end, p);
        else snprintf(specs[n++], BENCHMARK_SPEC_LEN, "%.*s", (int)end, p);
        if (!p[len]) return n;
        for (p += len + 1; *p == ' ';) p++;
    }
}

RolloutConfig eval_sampling(const Config *c) {
    RolloutConfig r = c->rollout;
    r.n = c->eval.samples, r.temperature = c->eval.temperature, r.top_p = c->eval.top_p;
    r.max_new_tokens = c->eval.max_new_tokens;
    return r;
}

int benchmark_prompts(const Config *c, const Task *task, bool own_split, const Tokenizer *tok, PromptSet *ps, Err *e) {
    int64_t n = task_split_size(task, SPLIT_EVAL), lo, hi;
    if (n == 0) return err_set(e, "task %s: no held-out problems (expected [data] eval_path or an embedded task)", c->task.name);
    if (own_split && c->eval.n_prompts > 0 && n > c->eval.n_prompts) n = c->eval.n_prompts;
    dist_share(n, &lo, &hi);
    return prompts_from_task(ps, task, SPLIT_EVAL, lo, hi - lo, false, tok, e);
}

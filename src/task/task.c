#include "task/task.h"

#include <string.h>

#include "task/dataset.h"
#include "task/task_arith.h"

typedef enum { TASK_ARITH, TASK_DATASET } TaskKind;

struct Task {
    char name[64];
    TaskKind kind;
    Arith arith;
    Dataset split[2];  // indexed by Split
    char template_[CONFIG_STR];
    PromptConfig prompt;
    bool shuffle;
    uint64_t data_seed;  // train.seed: per-epoch shuffle key
};

// Dataset-backed task names; each selects its field presets in config.c and the math verifier.
static const char *const DATASET_TASKS[] = {"math", "gsm8k", "dapo"};

static bool is_dataset_name(const char *name) {
    for (size_t i = 0; i < sizeof DATASET_TASKS / sizeof DATASET_TASKS[0]; i++)
        if (!strcmp(name, DATASET_TASKS[i])) return true;
    return false;
}

static int load_split(Task *t, Split s, const char *path, const DataConfig *dc, Err *e) {
    if (!path[0]) return 0;
    if (dataset_load(&t->split[s], path, dc, e)) return err_prefix(e, "task %s", t->name);
    return 0;
}

bool task_name_known(const char *name) { return !strcmp(name, "arith") || is_dataset_name(name); }

Task *task_create(const Config *c, Err *e) {
    Task *t = xcalloc(1, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", c->task.name);
    t->prompt = c->prompt;
    if (!strcmp(c->task.name, "arith")) {
        t->kind = TASK_ARITH;
        if (arith_init(&t->arith, &c->task, e)) goto fail;
        return t;
    }
    if (!is_dataset_name(c->task.name)) {
        err_set(e, "[task] name = '%s': expected " TASK_NAMES, c->task.name);
        goto fail;
    }
    t->kind = TASK_DATASET;
    snprintf(t->template_, sizeof t->template_, "%s", c->data.template_);
    t->shuffle = c->data.shuffle;
    t->data_seed = (uint64_t)c->train.seed;
    if (load_split(t, SPLIT_TRAIN, c->data.path, &c->data, e) || load_split(t, SPLIT_EVAL, c->data.eval_path, &c->data, e))
        goto fail;
    return t;
fail:
    task_free(t);
    return NULL;
}

void task_free(Task *t) {
    if (!t) return;
    dataset_free(&t->split[SPLIT_TRAIN]);
    dataset_free(&t->split[SPLIT_EVAL]);
    free(t);
}

bool task_is_embedded(const Task *t) { return t->kind == TASK_ARITH; }
const PromptConfig *task_prompt_config(const Task *t) { return &t->prompt; }

int64_t task_split_size(const Task *t, Split split) {
    if (t->kind == TASK_ARITH) return split == SPLIT_EVAL ? t->arith.eval_size : INT64_MAX;
    return t->split[split].n;
}

int64_t task_skipped_lines(const Task *t, Split split) { return t->kind == TASK_ARITH ? 0 : t->split[split].skipped; }

bool task_skip_note(const Task *t, Split split, char *out, size_t cap) {
    int64_t n = task_skipped_lines(t, split);
    if (cap) out[0] = 0;
    if (!n) return false;
    snprintf(out, cap, "data.skip_bad_lines: %lld malformed line(s) of the %s data skipped; the first: %s", (long long)n,
             split == SPLIT_TRAIN ? "training" : "eval", t->split[split].first_bad);
    return true;
}

void task_data_id(const Task *t, Split split, int64_t *records, uint64_t *hash) {
    bool file = t->kind == TASK_DATASET && t->split[split].n > 0;
    *records = file ? t->split[split].n : 0;
    *hash = file ? t->split[split].hash : 0;
}

static const char *split_name(Split s) { return s == SPLIT_EVAL ? "eval" : "train"; }

int task_item(const Task *t, Split split, int64_t i, TaskItem *out, Err *e) {
    out->prompt = out->answer = NULL;
    if (i < 0) return err_set(e, "task %s: negative problem index %lld", t->name, (long long)i);
    if (t->kind == TASK_ARITH) {
        ArithProblem p;
        TRY(arith_problem(&t->arith, split, i, &p, e));
        out->prompt = arith_prompt(&p);
        out->answer = arith_answer(&p);
        return 0;
    }
    const Dataset *d = &t->split[split];
    if (!d->n)
        return err_set(e, "task %s: no %s data; set [data] %s", t->name, split_name(split),
                       split == SPLIT_EVAL ? "eval_path" : "path");
    int64_t pos = i % d->n, record = pos;
    // Per-epoch deterministic shuffle of the training records (task.h).
    if (split == SPLIT_TRAIN && t->shuffle) record = dataset_permute(d->n, t->data_seed, (uint32_t)(i / d->n), pos);
    out->prompt = dataset_render_prompt(t->template_, d->questions[record]);
    out->answer = strdup(d->answers[record]);
    return 0;
}

void task_item_free(TaskItem *item) {
    free(item->prompt);
    free(item->answer);
    item->prompt = item->answer = NULL;
}

int task_reference_form(const Task *t, Split split, int64_t i, bool verbose, char **solution, Err *e) {
    *solution = NULL;
    if (t->kind != TASK_ARITH)
        return err_set(e, "task %s has no reference solutions (only embedded tasks such as arith do)", t->name);
    if (i < 0) return err_set(e, "task %s: negative problem index %lld", t->name, (long long)i);
    ArithProblem p;
    TRY(arith_problem(&t->arith, split, i, &p, e));
    *solution = arith_solution(&p, verbose);
    return 0;
}

int task_reference(const Task *t, Split split, int64_t i, char **solution, Err *e) {
    *solution = NULL;
    if (t->kind != TASK_ARITH) return task_reference_form(t, split, i, false, solution, e);
    if (i < 0) return err_set(e, "task %s: negative problem index %lld", t->name, (long long)i);
    ArithProblem p;
    TRY(arith_problem(&t->arith, split, i, &p, e));
    *solution = arith_reference(&t->arith, &p, (int)split, i);
    return 0;
}

void task_verify(const Task *t, const char *answer, const char *response, Verdict *v) {
    if (t->kind == TASK_ARITH) verify_integer_answer(response, answer, v);
    else verify_math(response, answer, v);
}

bool task_same_answer(const Task *t, const char *a, const char *b) {
    if (t->kind != TASK_ARITH) return verify_equivalent(a, b);
    char na[VERIFY_MAX_ANSWER], nb[VERIFY_MAX_ANSWER];
    verify_normalize(a, na, sizeof na);
    verify_normalize(b, nb, sizeof nb);
    return na[0] && !strcmp(na, nb);
}

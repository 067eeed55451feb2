// `rlvr reward`: verify responses from a JSONL file and write them back with verdicts and rewards.
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/atomic_file.h"
#include "base/dist.h"
#include "base/jsonl.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "task/reward.h"
#include "task/task.h"

typedef struct {
    ConfigArgs cfg;
    const char *task, *in, *out;
} RewardArgs;

static const CliOpt OPTS[] = {
    CLI_OPT_STRING("--task", "T", RewardArgs, task, 0,
                   "the verifier: arith, math, gsm8k or dapo (sets task.name; math accepts any answer form: \\boxed{}, "
                   "Answer:, ####)"),
    CLI_OPT_STRING("--in", "R.jsonl", RewardArgs, in, CLI_REQUIRED, "responses, one JSON object per line"),
    CLI_OPT_STRING("--out", "S.jsonl", RewardArgs, out, CLI_REQUIRED, "the lines of R.jsonl with verdicts and rewards"),
    CLI_CONFIG_OPTS(RewardArgs, cfg, 0),
};

static const CliSpec SPEC = CLI_SPEC(
    "rlvr reward",
    "Verifies responses and computes rewards (results/objectives.md §4) with task T's verifier.\n"
    "Each input line is a JSON object with \"response\" and either \"answer\" or \"index\" (a problem of the task's\n"
    "\"split\", train by default). Optional: \"response_len\" (tokens; default: \"tokens\" array length, else bytes)\n"
    "and \"truncated\" (bool). Each line is written back with \"extracted\", \"correct\", \"format_ok\", \"reward\",\n"
    "\"r_acc\", \"r_format\", \"r_overlong\" and \"loss_masked\". Prints the accuracy (on stderr when S is stdout),\n"
    "and a warning when the verifier found no answer in any response (the default task, arith, reads no \\boxed{}).",
    OPTS, NULL);

typedef struct {
    const char *in, *out;
    int64_t n, correct, format_ok, extracted;
    double reward_sum;
} RewardRun;

// Ground truth of one line: its "answer" (string or number), else the task's answer for "index".
static int line_answer(const cJSON *obj, const Task *task, const char *where, char **answer, Err *e) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, "answer");
    if (cJSON_IsString(a)) return *answer = strdup(a->valuestring), 0;
    if (cJSON_IsNumber(a) && isfinite(a->valuedouble)) {
        char buf[64];
        json_number_text(a->valuedouble, buf, sizeof buf);
        return *answer = strdup(buf), 0;
    }
    if (a) return err_set(e, "%s: \"answer\" must be a string or a number", where);
    const cJSON *idx = cJSON_GetObjectItemCaseSensitive(obj, "index");
    if (!cJSON_IsNumber(idx) || idx->valuedouble < 0 || idx->valuedouble > 9e15)
        return err_set(e, "%s: expected \"answer\" (string) or \"index\" (a problem number >= 0)", where);
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(obj, "split");
    Split split = cJSON_IsString(sp) && !strcmp(sp->valuestring, "eval") ? SPLIT_EVAL : SPLIT_TRAIN;
    TaskItem item;
    if (task_item(task, split, (int64_t)idx->valuedouble, &item, e)) return err_prefix(e, "%s", where);
    *answer = item.answer;
    item.answer = NULL;
    task_item_free(&item);
    return 0;
}

// Response length in tokens: "response_len", else the "tokens" array, else bytes (byte-level tokenizer).
static int line_length(const cJSON *obj, const char *response, const char *where, int *len, Err *e) {
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(obj, "response_len");
    const cJSON *toks = cJSON_GetObjectItemCaseSensitive(obj, "tokens");
    if (l) {
        if (!cJSON_IsNumber(l) || l->valuedouble < 0 || l->valuedouble > 1e9)
            return err_set(e, "%s: \"response_len\" must be a token count >= 0", where);
        *len = (int)l->valuedouble;
    } else if (cJSON_IsArray(toks)) {
        *len = cJSON_GetArraySize(toks);
    } else {
        *len = (int)strlen(response);
    }
    return 0;
}

static int reward_line(cJSON *obj, const Config *c, const Task *task, const char *where, RewardRun *run, Err *e) {
    const char *response;
    TRY(json_get_string(obj, "response", &response, where, e));
    int len = 0;
    TRY(line_length(obj, response, where, &len, e));
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(obj, "truncated");
    if (tr && !cJSON_IsBool(tr)) return err_set(e, "%s: \"truncated\" must be true or false", where);
    char *answer = NULL;
    TRY(line_answer(obj, task, where, &answer, e));
    RewardResult r;
    int rc = reward_compute(&c->reward, task, answer, response, len, cJSON_IsTrue(tr), c->rollout.max_new_tokens, &r, e);
    free(answer);
    if (rc) return -1;
    cJSON_AddStringToObject(obj, "extracted", r.extracted);
    cJSON_AddBoolToObject(obj, "correct", r.correct);
    cJSON_AddBoolToObject(obj, "format_ok", r.format_ok);
    cJSON_AddNumberToObject(obj, "reward", r.total);
    cJSON_AddNumberToObject(obj, "r_acc", r.r_acc);
    cJSON_AddNumberToObject(obj, "r_format", r.r_format);
    cJSON_AddNumberToObject(obj, "r_overlong", r.r_overlong);
    cJSON_AddBoolToObject(obj, "loss_masked", r.loss_masked);
    run->n++, run->extracted += r.extracted[0] != 0, run->correct += r.correct, run->format_ok += r.format_ok, run->reward_sum += r.total;
    return 0;
}

static int run_reward(const Config *c, RewardRun *run, Err *e) {
    TRY(reward_check_config(&c->reward, e));
    Task *task = task_create(c, e);
    if (!task) return -1;
    char note[1200];
    for (Split s = SPLIT_TRAIN; s <= SPLIT_EVAL; s++)
        if (task_skip_note(task, s, note, sizeof note)) fprintf(stderr, "rlvr: reward: %s\n", note);
    JsonlReader r;
    if (jsonl_open(&r, run->in, e)) return task_free(task), -1;
    // Written beside OUT and renamed, so a bad line never leaves half an output (or clobbers an older one).
    AtomicFile out;
    int rc = atomic_file_open(&out, run->out, 0, e);
    cJSON *obj = NULL;
    while (!rc && (rc = jsonl_next(&r, &obj, e)) == 1) {
        char where[ERR_PLACE_SIZE];
        rc = reward_line(obj, c, task, jsonl_where(&r, where, sizeof where), run, e) || jsonl_write(out.f, obj, e);
        rc = rc ? -1 : 0;
        cJSON_Delete(obj);
    }
    if (!rc && run->n == 0) rc = err_set(e, "%s: no responses; expected one JSON object per line", run->in);
    rc = atomic_file_end(&out, rc, e);  // a failed open left it empty: nothing to abort
    jsonl_close(&r);
    task_free(task);
    return rc < 0 ? -1 : 0;
}

// Where the summary goes: stdout, unless OUT is stdout itself (--out /dev/stdout), whose JSON lines it would end.
static FILE *summary_stream(const char *out) {
    struct stat o, so;
    bool same = !stat(out, &o) && !fstat(STDOUT_FILENO, &so) && o.st_dev == so.st_dev && o.st_ino == so.st_ino;
    return same ? stderr : stdout;
}

int cmd_reward(int argc, char **argv) {
    RewardArgs a = {0};
    int rc;
    if (!cli_parse(&SPEC, argc, argv, &a, &rc)) return rc;
    RewardRun run = {.in = a.in, .out = a.out};
    Err e = {{0}};
    char task_set[96], q[ERR_ABBREV_SIZE];
    // Checked here, so the error names --task, not the "--set task.name=..." it becomes, and the set always fits.
    if (a.task && !task_name_known(a.task))
        return cli_usage_error(&SPEC, "--task '%s': expected " TASK_NAMES, err_abbrev(a.task, q));
    if (a.task) {  // after the --sets: --task wins
        snprintf(task_set, sizeof task_set, "task.name=%s", a.task);
        if (cli_list_add(&a.cfg.sets, task_set, &e)) return cli_usage_error(&SPEC, "--set: %s", e.msg);
    }
    Config c;
    if (cli_resolve_config(&a.cfg, &c, &e)) return fprintf(stderr, "rlvr: %s\n", e.msg), 1;
    if (!dist_is_root()) return 0;  // one process writes the output
    if (run_reward(&c, &run, &e)) return fprintf(stderr, "rlvr: %s\n", e.msg), 1;
    fprintf(summary_stream(a.out), "accuracy: %.4f (%lld/%lld), format: %.4f, mean reward: %.4f\n", run.n ? (double)run.correct / run.n : 0.0,
           (long long)run.correct, (long long)run.n, run.n ? (double)run.format_ok / run.n : 0.0,
           run.n ? run.reward_sum / run.n : 0.0);
    if (run.n && !run.extracted)  // most likely the wrong verifier: arith's, the default task, reads no \boxed{}
        fprintf(stderr, "rlvr: reward: task %s's verifier found no answer in any of the %lld responses; --task picks "
                        "another (arith, math, gsm8k, dapo)\n", c.task.name,
                (long long)run.n);
    return 0;
}

// What a resume may change (train/resume.h): the run identity keys, the refusal naming every changed one, one log
// line per other changed key, the seeds taken from /state, the kind check, the training data's identity, and the keys
// a run gave by hand (/meta given_keys, or guessed without them) deciding what a resume rederives.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "scratch_dir.h"
#include "train/resume.h"

static Config resolved(const char *const *sets, int n) {
    Config c;
    Err e = {{0}};
    cr_assert_eq(config_resolve(&c, NULL, sets, n, &e), 0, "%s", e.msg);
    return c;
}

Test(resume, identity_keys_are_whole_sections_or_single_keys) {
    const char *why = NULL;
    cr_expect(resume_identity_key("model.hidden_size", &why));
    cr_expect(why && strstr(why, "weights"), "%s", why);
    cr_expect(resume_identity_key("model.init_seed", NULL));
    cr_expect(resume_identity_key("tokenizer.path", NULL));
    cr_expect(resume_identity_key("rollout.seed", NULL));
    cr_expect(resume_identity_key("train.seed", NULL));
    cr_expect(resume_identity_key("task.name", NULL));
    cr_expect(!resume_identity_key("data.path", NULL));  // checked by content: resume_check_data
    cr_expect(resume_identity_key("data.shuffle", NULL));
    // Free: what a run may change as it goes (the algorithm included), and names that only start like a key.
    static const char *const free_keys[] = {"train.steps", "train.lr", "sft.steps", "checkpoint.every", "eval.every",
                                            "algo.name", "algo.beta", "rollout.temperature", "data.eval_path",
                                            "data.template", "prompt.template", "dist.zero_stage", "task.eval_size",
                                            "rollout.seeds", "modelx.a", "model"};
    for (size_t i = 0; i < sizeof free_keys / sizeof free_keys[0]; i++)
        cr_expect(!resume_identity_key(free_keys[i], NULL), "%s is identity", free_keys[i]);
}

Test(resume, free_changes_are_logged_one_line_each) {
    const char *sa[] = {"train.steps=100"}, *sb[] = {"train.steps=200", "train.lr=2e-5"};
    Config a = resolved(sa, 1), b = resolved(sb, 2);
    char *log = NULL;
    Err e = {{0}};
    cr_assert_eq(resume_compare("c.h5", &a, &b, &log, &e), 0, "%s", e.msg);
    cr_expect_str_eq(log, "resume: train.steps 100 -> 200\nresume: train.lr 1e-06 -> 2e-05\n");
    cr_assert_eq(resume_compare("c.h5", &b, &b, &log, &e), 0, "%s", e.msg);
    cr_expect_str_eq(log, "resume: train.steps 100 -> 200\nresume: train.lr 1e-06 -> 2e-05\n", "nothing to add");
    free(log);
}

Test(resume, identity_changes_are_refused_all_named_in_one_message) {
    const char *sb[] = {"train.steps=200", "rollout.seed=5", "task.name=gsm8k", "model.init_seed=2"};
    Config a = resolved(NULL, 0), b = resolved(sb, 4);
    char *log = NULL;
    Err e = {{0}};
    cr_assert_eq(resume_compare("R/ckpt/step-000002.h5", &a, &b, &log, &e), -1);
    cr_expect_null(log, "a refused resume logs nothing");
    // Table order: model, task, data (gsm8k's presets), rollout; train.steps is not named.
    const char *want[] = {"R/ckpt/step-000002.h5: a resume keeps the run's identity, which this config changes: ",
                          "model.init_seed 1 -> 2 (", "task.name 'arith' -> 'gsm8k' (",
                          "data.prompt_field 'prompt' -> 'question' (", "data.answer_format plain -> gsm8k (",
                          "rollout.seed 0 -> 5 (the sampling draws of every step)",
                          ". Keep the saved values, or start a new run from this checkpoint: --init "
                          "R/ckpt/step-000002.h5 and a new --run-dir"};
    const char *at = e.msg;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *p = strstr(at, want[i]);
        cr_expect(p, "'%s' not (in order) in: %s", want[i], e.msg);
        if (p) at = p;
    }
    cr_expect(!strstr(e.msg, "train.steps"), "%s", e.msg);
}

// More changed identity keys than one message holds with their values: the keys alone, every one of them.
Test(resume, many_identity_changes_still_name_every_key) {
    const char *sb[] = {"model.type=qwen3_moe", "model.vocab_size=999", "model.hidden_size=96",
                        "model.intermediate_size=99", "model.num_hidden_layers=3", "model.num_attention_heads=6",
                        "model.num_key_value_heads=3", "model.rope_theta=5", "model.rms_norm_eps=1e-5",
                        "model.max_position_embeddings=99", "model.num_experts=4", "model.num_experts_per_tok=1",
                        "model.moe_intermediate_size=7", "model.init_std=0.5", "model.init_seed=9",
                        "tokenizer.bos_token=<s>", "tokenizer.eos_token=</s>", "tokenizer.pad_token=<pad>",
                        "rollout.seed=5", "train.seed=9"};
    int n = sizeof sb / sizeof sb[0];
    Config a = resolved(NULL, 0), b = resolved(sb, n);
    char *log = NULL;
    Err e = {{0}};
    cr_assert_eq(resume_compare("c.h5", &a, &b, &log, &e), -1);
    for (int i = 0; i < n; i++) {
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(strchr(sb[i], '=') - sb[i]), sb[i]);
        cr_expect(strstr(e.msg, key), "%s not named in: %s", key, e.msg);
    }
    cr_expect(strstr(e.msg, "--init c.h5 and a new --run-dir"), "%s", e.msg);
}

// A checkpoint written the way train/run.c writes one, with its stored config, its record of the keys given by hand
// (given_keys; NULL: none, as an older rlvr wrote) and /state seeds.
static const char *save_run_given(const char *name, const char *kind, const Config *c, const char *config_text,
                                  const char *given_keys, int64_t train_seed, int64_t rollout_seed) {
    static char path[300];
    snprintf(path, sizeof path, "%s/%s", scratch_dir(), name);
    Model m;
    Err e = {{0}};
    cr_assert_eq(model_create(&m, &c->model, &e), 0, "%s", e.msg);
    TrainState st = {.step = 2, .train_seed = train_seed, .rollout_seed = rollout_seed};
    CheckpointMeta meta = {kind, config_text, "test", 1, given_keys};
    cr_assert_eq(checkpoint_save(path, &m, NULL, &st, &meta, &e), 0, "%s", e.msg);
    model_free(&m);
    return path;
}

// ... with c's keys given by hand recorded, as train/run.c records them.
static const char *save_run(const char *name, const char *kind, const Config *c, const char *config_text,
                            int64_t train_seed, int64_t rollout_seed) {
    char *given = config_given_keys(c);
    const char *path = save_run_given(name, kind, c, config_text, given, train_seed, rollout_seed);
    free(given);
    return path;
}

Test(resume, check_reads_the_checkpoint_kind_config_and_seeds) {
    const char *sets[] = {"model.hidden_size=16", "model.intermediate_size=32", "model.vocab_size=64",
                          "train.seed=3", "rollout.seed=4"};
    Config c = resolved(sets, 5);
    char *text = config_to_string(&c), *log = NULL;
    Err e = {{0}};
    const char *p = save_run("a.h5", "sft", &c, text, 3, 4);
    cr_expect_eq(resume_check(p, "train", &c, &log, &e), -1);
    cr_expect(strstr(e.msg, "/meta kind is sft, expected train"), "%s", e.msg);
    cr_assert_eq(resume_check(p, "sft", &c, &log, &e), 0, "%s", e.msg);
    cr_expect_null(log);
    Config more = c;
    more.sft.steps = 300;
    cr_assert_eq(resume_check(p, "sft", &more, &log, &e), 0, "%s", e.msg);
    cr_expect_str_eq(log, "resume: sft.steps 200 -> 300\n");
    free(log), log = NULL;
    Config seed = c;
    seed.rollout.seed = 5;
    cr_expect_eq(resume_check(p, "sft", &seed, &log, &e), -1);
    cr_expect(strstr(e.msg, "rollout.seed 4 -> 5"), "%s", e.msg);
    // The run's seeds are /state's: a config whose stored seed says otherwise (an older rlvr let a resume change
    // it) is compared with the seed the state holds.
    p = save_run("b.h5", "sft", &c, text, 3, 8);
    cr_expect_eq(resume_check(p, "sft", &c, &log, &e), -1);
    cr_expect(strstr(e.msg, "rollout.seed 8 -> 4"), "%s", e.msg);
    // No stored config: the seeds alone are checked, and the log says so.
    p = save_run("c.h5", "sft", &c, "", 3, 4);
    cr_assert_eq(resume_check(p, "sft", &more, &log, &e), 0, "%s", e.msg);
    cr_expect(log && strstr(log, "c.h5 stores no config: only its seeds are checked\n"), "%s", log);
    cr_expect_eq(resume_check(p, "sft", &seed, &log, &e), -1);
    cr_expect(strstr(e.msg, "rollout.seed 4 -> 5"), "%s", e.msg);
    free(log), log = NULL;
    // A stored config this rlvr cannot read (a key an older rlvr had): the seeds alone, and the log says why.
    p = save_run("d.h5", "sft", &c, "[train]\nold_key = 1\n", 3, 4);
    cr_assert_eq(resume_check(p, "sft", &more, &log, &e), 0, "%s", e.msg);
    cr_expect(log && strstr(log, "only the seeds are checked, as this rlvr cannot read the stored config: ") &&
                  strstr(log, "d.h5 /meta config:2: unknown key 'old_key' in [train]"), "%s", log);
    cr_expect_eq(resume_check(p, "sft", &seed, &log, &e), -1);
    cr_expect(strstr(e.msg, "rollout.seed 4 -> 5"), "%s", e.msg);
    free(log), free(text);
}

// A resume's config as train/run.c reads it: the saved run's config.ini (every key explicit) and the resume's sets,
// the keys the saved run left to presets rederived from ckpt, then finalized.
static Config resumed(const char *ckpt, const Config *saved, const char *const *sets, int n) {
    char path[300];
    snprintf(path, sizeof path, "%s/config.ini", scratch_dir());
    FILE *f = fopen(path, "w");
    config_print(f, saved);
    fclose(f);
    Config c;
    Err e = {{0}};
    config_defaults(&c);
    cr_assert_eq(config_load_file(&c, path, &e), 0, "%s", e.msg);
    for (int i = 0; i < n; i++) cr_assert_eq(config_set(&c, sets[i], &e), 0, "%s", e.msg);
    cr_assert_eq(resume_rederive(ckpt, &c, sets, n, false, &e), 0, "%s", e.msg);
    cr_assert_eq(config_finalize(&c, &e), 0, "%s", e.msg);
    return c;
}

// The checkpoint says which keys its run gave by hand (task.name, algo.name, the model's sizes): luspo's clip range and aggregation
// become gspo's (3e-4, 4e-4, the default seq-mean-token-mean), and resume_check logs each; the run's identity keys
// stay, so a refused change of task names the task alone, not the data fields its presets would bring.
Test(resume, rederive_reads_the_stored_config_and_keeps_the_identity) {
    const char *sets[] = {"model.hidden_size=16", "model.intermediate_size=32", "model.vocab_size=64",
                          "task.name=gsm8k", "algo.name=luspo"};
    Config saved = resolved(sets, 5);
    char *text = config_to_string(&saved), *log = NULL;
    const char *p = save_run("r.h5", "train", &saved, text, 1, 0);
    const char *gspo[] = {"algo.name=gspo"};
    Config now = resumed(p, &saved, gspo, 1);
    cr_expect_eq(now.algo.eps_low, 3e-4);
    cr_expect_eq(now.algo.eps_high, 4e-4);
    cr_expect_eq(now.algo.agg, AGG_SEQ_MEAN_TOKEN_MEAN);
    Err e = {{0}};
    cr_assert_eq(resume_check(p, "train", &now, &log, &e), 0, "%s", e.msg);
    cr_expect(log && strstr(log, "resume: algo.name luspo -> gspo\n") &&
                  strstr(log, "resume: algo.eps_low 0.002 -> 0.0003\n") &&
                  strstr(log, "resume: algo.eps_high 0.0025 -> 0.0004\n") &&
                  strstr(log, "resume: algo.agg seq-mean-token-sum -> seq-mean-token-mean\n") &&
                  strstr(log, "resume: reward.overlong_factor 0.3 -> 1\n"), "%s", log);
    free(log), log = NULL;
    const char *math[] = {"task.name=math"};
    now = resumed(p, &saved, math, 1);
    cr_expect_str_eq(now.data.prompt_field, "question", "an identity key keeps its saved value");
    cr_expect_eq(resume_check(p, "train", &now, &log, &e), -1);
    cr_expect(strstr(e.msg, "task.name 'gsm8k' -> 'math'") && !strstr(e.msg, "data."), "%s", e.msg);
    // No stored config: nothing to rederive from, the config stays as read.
    p = save_run("none.h5", "train", &saved, "", 1, 0);
    now = resumed(p, &saved, gspo, 1);
    cr_expect_eq(now.algo.eps_low, 2e-3);
    free(log), free(text);
}

// A luspo run whose config file gives eps_low = 2e-3, luspo's own value (results/objectives.md §3), saved and
// resumed as in train/run.c (config.ini, --set algo.name=...).
static Config luspo_by_file(void) {
    char path[300];
    snprintf(path, sizeof path, "%s/luspo.ini", scratch_dir());
    FILE *f = fopen(path, "w");
    fputs("[model]\nhidden_size = 16\nintermediate_size = 32\nvocab_size = 64\n[algo]\nname = luspo\neps_low = 2e-3\n", f);
    fclose(f);
    Config c;
    Err e = {{0}};
    cr_assert_eq(config_resolve(&c, path, NULL, 0, &e), 0, "%s", e.msg);
    return c;
}

// The checkpoint records eps_low as given (/meta given_keys), so a resume as gspo keeps it, where eps_high (left to
// luspo's preset, 2.5e-3) takes gspo's 4e-4; only eps_high's change is logged. The resumed run records eps_low as
// given too: resumed again as luspo, eps_low stays and eps_high is luspo's again.
Test(resume, a_key_given_its_preset_value_keeps_it) {
    Config saved = luspo_by_file();
    char *text = config_to_string(&saved), *given = config_given_keys(&saved), *log = NULL;
    cr_expect_str_eq(given, "model.vocab_size\nmodel.hidden_size\nmodel.intermediate_size\nalgo.name\nalgo.eps_low\n");
    const char *p = save_run_given("g.h5", "train", &saved, text, given, 1, 0);
    free(given), free(text);
    const char *gspo[] = {"algo.name=gspo"};
    Config now = resumed(p, &saved, gspo, 1);
    cr_expect_eq(now.algo.eps_low, 2e-3, "given by hand in the saved run's file");
    cr_expect_eq(now.algo.eps_high, 4e-4, "left to luspo's preset");
    Err e = {{0}};
    cr_assert_eq(resume_check(p, "train", &now, &log, &e), 0, "%s", e.msg);
    cr_expect(log && strstr(log, "resume: algo.eps_high 0.0025 -> 0.0004\n") && !strstr(log, "eps_low") &&
                  !strstr(log, "records no keys"), "%s", log);
    free(log);
    text = config_to_string(&now), given = config_given_keys(&now);
    cr_expect_str_eq(given, "model.vocab_size\nmodel.hidden_size\nmodel.intermediate_size\nalgo.name\nalgo.eps_low\n",
                     "the saved run's and this resume's; the identity keys config.ini holds are not given by hand");
    p = save_run_given("g2.h5", "train", &now, text, given, 1, 0);
    free(given), free(text);
    const char *luspo[] = {"algo.name=luspo"};
    Config again = resumed(p, &now, luspo, 1);
    cr_expect_eq(again.algo.eps_low, 2e-3);
    cr_expect_eq(again.algo.eps_high, 2.5e-3);
}

// A checkpoint without /meta given_keys (an older rlvr's) resumes as before: a key whose saved value is its preset's
// counts as not given, so eps_low = 2e-3 given by hand follows gspo (3e-4), and the log says why.
Test(resume, a_checkpoint_without_given_keys_guesses_them) {
    Config saved = luspo_by_file();
    char *text = config_to_string(&saved), *log = NULL;
    const char *p = save_run_given("old.h5", "train", &saved, text, NULL, 1, 0);
    free(text);
    const char *gspo[] = {"algo.name=gspo"};
    Config now = resumed(p, &saved, gspo, 1);
    cr_expect_eq(now.algo.eps_low, 3e-4);
    cr_expect_eq(now.algo.eps_high, 4e-4);
    Err e = {{0}};
    cr_assert_eq(resume_check(p, "train", &now, &log, &e), 0, "%s", e.msg);
    cr_expect(log && strstr(log, "resume: algo.eps_low 0.002 -> 0.0003\n") &&
                  strstr(log, "old.h5 records no keys given by hand (an older rlvr wrote it)"), "%s", log);
    free(log);
}

// A record naming a key this rlvr does not have is refused naming the checkpoint's attribute.
Test(resume, a_damaged_given_keys_record_is_refused) {
    Config saved = luspo_by_file(), now = saved;
    char *text = config_to_string(&saved);
    const char *p = save_run_given("bad.h5", "train", &saved, text, "algo.name\nalgo.eps_lo\n", 1, 0);
    free(text);
    Err e = {{0}};
    cr_expect_eq(resume_rederive(p, &now, NULL, 0, false, &e), -1);
    cr_expect(strstr(e.msg, "bad.h5 /meta given_keys: unknown key 'algo.eps_lo'"), "%s", e.msg);
}

static Task *dataset_task(const char *text, const char *name) {
    char path[300];
    snprintf(path, sizeof path, "%s/%s", scratch_dir(), name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    char set[400];
    snprintf(set, sizeof set, "data.path=%s", path);
    const char *sets[] = {"task.name=math", set};
    Config c = resolved(sets, 2);
    Err e = {{0}};
    Task *t = task_create(&c, &e);
    cr_assert(t, "%s", e.msg);
    return t;
}

Test(resume, data_cursor_indexes_the_saved_records) {
    Task *t = dataset_task("{\"problem\": \"a\", \"solution\": \"\\\\boxed{1}\"}\n"
                           "{\"problem\": \"b\", \"solution\": \"\\\\boxed{23}\"}\n", "d.jsonl");
    int64_t n;
    uint64_t hash;
    task_data_id(t, SPLIT_TRAIN, &n, &hash);
    // The records as read: problem a answer 1, problem b answer 23 (test_dataset.c's first case).
    cr_expect(n == 2 && hash == 0x847379b89526cb8cULL, "%lld %016llx", (long long)n, (unsigned long long)hash);
    TrainState st = {.data_records = 2, .data_hash = (int64_t)hash};
    char *log = NULL;
    Err e = {{0}};
    cr_expect_eq(resume_check_data("c.h5", "d.jsonl", t, &st, &log, &e), 0, "%s", e.msg);
    cr_expect_null(log);
    st.data_hash ^= 1;
    cr_expect_eq(resume_check_data("c.h5", "d.jsonl", t, &st, &log, &e), -1);
    cr_expect(strstr(e.msg, "c.h5: the training data changed: the checkpoint's data cursor indexes 2 records of hash "
                            "847379b89526cb8d, data.path d.jsonl has 2 of hash 847379b89526cb8c"), "%s", e.msg);
    cr_expect(strstr(e.msg, "--init c.h5 and a new --run-dir"), "%s", e.msg);
    st.data_hash ^= 1, st.data_records = 3;
    cr_expect_eq(resume_check_data("c.h5", "d.jsonl", t, &st, &log, &e), -1);
    // A checkpoint from before the data identity: resumed, said so, and the identity taken for the next save.
    st.data_records = st.data_hash = 0;
    cr_expect_eq(resume_check_data("c.h5", "d.jsonl", t, &st, &log, &e), 0, "%s", e.msg);
    cr_expect(log && strstr(log, "c.h5 records no training data hash"), "%s", log);
    cr_expect(st.data_records == 2 && (uint64_t)st.data_hash == hash);
    free(log);
    task_free(t);
    // arith has no file: nothing to check, nothing said.
    Config c = resolved(NULL, 0);
    Err e2 = {{0}};
    Task *arith = task_create(&c, &e2);
    cr_assert(arith, "%s", e2.msg);
    TrainState zero = {0};
    log = NULL;
    cr_expect_eq(resume_check_data("c.h5", "", arith, &zero, &log, &e2), 0, "%s", e2.msg);
    cr_expect_null(log);
    cr_expect(zero.data_records == 0 && zero.data_hash == 0);
    task_free(arith);
}

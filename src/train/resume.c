#include "train/resume.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The run identity: keys whose change makes the saved state meaningless. A name without a dot is a whole section.
// Everything else may change on a resume, logged: train.steps, lr and its schedule, intervals, rollout and reward
// settings, the prompt's text ([prompt], data.template), held-out data, the layout ([dist]) and the algorithm
// ([algo], [adv]: a new objective on the same policy, moments and data is a legitimate experiment).
// data.path may move (a job that stages its data on node-local disk): resume_check_data checks the records by content.
static const struct {
    const char *name, *why;
} RESUME_IDENTITY[] = {
    {"model", "the saved weights and moments are this architecture's, from this init"},
    {"tokenizer", "the weights' rows are this tokenizer's ids"},
    {"task.name", "the training stream the data cursor indexes"},
    {"task.ops", "arith: the problem at each cursor position"},
    {"task.digits_min", "arith: the problem at each cursor position"},
    {"task.digits_max", "arith: the problem at each cursor position"},
    {"task.seed", "arith: the problem at each cursor position"},
    {"task.verbose_ratio", "arith: the reference solution at each cursor position"},
    {"task.styles", "arith: the reference solution at each cursor position"},
    {"data.prompt_field", "the question of each record"},
    {"data.answer_field", "the ground truth of each record"},
    {"data.answer_format", "the ground truth of each record"},
    {"data.skip_bad_lines", "which lines are records: the cursor's positions shift"},
    {"data.shuffle", "the records' order in each epoch"},
    {"train.seed", "the records' shuffle in each epoch"},
    {"rollout.seed", "the sampling draws of every step"},
};

bool resume_identity_key(const char *key, const char **why) {
    for (size_t i = 0; i < sizeof RESUME_IDENTITY / sizeof RESUME_IDENTITY[0]; i++) {
        const char *name = RESUME_IDENTITY[i].name;
        size_t n = strlen(name);
        bool section = !strchr(name, '.');
        if (strncmp(key, name, n) || (section ? key[n] != '.' : key[n] != 0)) continue;
        if (why) *why = RESUME_IDENTITY[i].why;
        return true;
    }
    return false;
}

void resume_log_line(char **log, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t have = *log ? strlen(*log) : 0, n = strlen(line);
    *log = xrealloc(*log, have + n + 2);
    memcpy(*log + have, line, n);
    memcpy(*log + have + n, "\n", 2);
}

// "KEY OLD -> NEW (why)" items; with the values cut short, or the keys alone, when that would not fit in len.
static void identity_list(const ConfigChange *ch, int n, char *buf, size_t len) {
    for (int form = 2; form >= 0; form--) {  // 2: whole values, 1: abbreviated, 0: keys alone
        size_t used = 0;
        for (int i = 0; i < n && used < len; i++) {
            const char *why;
            char a[ERR_ABBREV_SIZE], b[ERR_ABBREV_SIZE];
            if (!resume_identity_key(ch[i].key, &why)) continue;
            const char *sep = used ? "; " : "", *from = ch[i].from, *to = ch[i].to;
            if (form == 1) from = err_abbrev(from, a), to = err_abbrev(to, b);
            used += (size_t)(form ? snprintf(buf + used, len - used, "%s%s %s -> %s (%s)", sep, ch[i].key, from, to, why)
                                  : snprintf(buf + used, len - used, "%s%s", sep, ch[i].key));
        }
        if (used < len) return;
    }
}

int resume_compare(const char *ckpt, const Config *saved, const Config *now, char **log, Err *e) {
    ConfigChange *ch;
    int n = config_diff(saved, now, &ch), refused = 0;
    for (int i = 0; i < n; i++) refused += resume_identity_key(ch[i].key, NULL);
    if (refused) {
        // The list gets what the message leaves: its other words take about 200 bytes and the path twice.
        char list[sizeof e->msg];
        size_t paths = 2 * strlen(ckpt);
        identity_list(ch, n, list, paths + 300 < sizeof list ? sizeof list - paths - 200 : 100);
        free(ch);
        return err_set(e, "%s: a resume keeps the run's identity, which this config changes: %s. Keep the saved "
                          "value%s, or start a new run from this checkpoint: --init %s and a new --run-dir",
                       ckpt, list, refused > 1 ? "s" : "", ckpt);
    }
    for (int i = 0; i < n; i++) resume_log_line(log, "resume: %s %s -> %s", ch[i].key, ch[i].from, ch[i].to);
    free(ch);
    return 0;
}

// A run goes on with the command that made it: `rlvr train` resuming an SFT run (or the reverse) would carry its
// step count and moments over silently.
static int check_kind(const char *ckpt, const char *want, Err *e) {
    char *kind = checkpoint_read_kind(ckpt, e);
    int rc = !kind ? -1
             : strcmp(kind, want)
                 ? err_set(e, "%s: /meta kind is %s, expected %s: `rlvr %s --resume` continues only its own runs (start "
                              "from this checkpoint with --init and a new --run-dir)", ckpt, kind, want, want)
                 : 0;
    free(kind);
    return rc;
}

typedef enum { SAVED_NONE, SAVED_UNREADABLE, SAVED_READ } SavedConfig;

// Marks the keys the saved run gave by hand in saved: /meta given_keys, or without them (*recorded false) a guess
// from the values (config_guess_given).
static int mark_given(const char *ckpt, Config *saved, bool *recorded, Err *e) {
    char *keys, name[4200];
    int has = checkpoint_read_given_keys(ckpt, &keys, e);
    if (has < 0) return -1;
    *recorded = has;
    if (!has) return config_guess_given(saved), 0;
    snprintf(name, sizeof name, "%s /meta given_keys", ckpt);
    int rc = config_mark_given(saved, keys, name, e);
    free(keys);
    return rc;
}

// The config ckpt's /meta stores, into *saved when it reads (*got SAVED_READ) with the keys its run gave by hand
// marked (*recorded: by the checkpoint, else guessed); one this rlvr cannot read (an older rlvr's keys: still
// resumable) is SAVED_UNREADABLE with the reason in *why. Fails only when /meta does not read.
static int read_saved_config(const char *ckpt, Config *saved, SavedConfig *got, bool *recorded, Err *why, Err *e) {
    char *text = NULL;
    TRY(checkpoint_read_meta(ckpt, NULL, NULL, &text, e));
    if (!text[0]) *got = SAVED_NONE;
    else *got = checkpoint_parse_config(ckpt, text, NULL, 0, saved, why) ? SAVED_UNREADABLE : SAVED_READ;
    free(text);
    *recorded = false;
    return *got == SAVED_READ ? mark_given(ckpt, saved, recorded, e) : 0;
}

static bool identity_key(const char *key) { return resume_identity_key(key, NULL); }

int resume_rederive(const char *ckpt, Config *now, const char *const *sets, int n_sets, bool file_named, Err *e) {
    Config saved;
    SavedConfig got;
    bool recorded;
    Err why;
    TRY(read_saved_config(ckpt, &saved, &got, &recorded, &why, e));
    // Nothing to rederive from: against itself with its given keys guessed, now keeps every value, and its keys given
    // by hand are what a checkpoint without given_keys would give.
    if (got != SAVED_READ) saved = *now, config_guess_given(&saved);
    config_rederive(now, &saved, sets, n_sets, file_named, identity_key);
    return 0;
}

int resume_check(const char *ckpt, const char *kind, const Config *now, char **log, Err *e) {
    TRY(check_kind(ckpt, kind, e));
    TrainState st;
    TRY(checkpoint_read_state(ckpt, &st, e));
    Config saved;
    SavedConfig got;
    bool recorded;
    Err why;
    TRY(read_saved_config(ckpt, &saved, &got, &recorded, &why, e));
    if (got != SAVED_READ) saved = *now;
    if (got == SAVED_NONE) resume_log_line(log, "resume: %s stores no config: only its seeds are checked", ckpt);
    if (got == SAVED_UNREADABLE)
        resume_log_line(log, "resume: only the seeds are checked, as this rlvr cannot read the stored config: %s",
                        why.msg);
    if (got == SAVED_READ && !recorded)
        resume_log_line(log, "resume: %s records no keys given by hand (an older rlvr wrote it): a key whose saved value "
                             "is its preset's or its followed key's counts as not given, and follows this config", ckpt);
    // The run's seeds are /state's: a resume by an rlvr without this check could change the config's.
    saved.train.seed = st.train_seed, saved.rollout.seed = st.rollout_seed;
    return resume_compare(ckpt, &saved, now, log, e);
}

int resume_check_data(const char *ckpt, const char *data_path, const Task *task, TrainState *st, char **log, Err *e) {
    int64_t n;
    uint64_t hash;
    task_data_id(task, SPLIT_TRAIN, &n, &hash);
    if (!st->data_records && !st->data_hash) {  // no file then, or a checkpoint from before data_hash
        if (n)
            resume_log_line(log, "resume: %s records no training data hash (an older rlvr wrote it): %s is not checked "
                                 "against the saved run's data", ckpt, data_path);
        st->data_records = n, st->data_hash = (int64_t)hash;
        return 0;
    }
    if (st->data_records == n && (uint64_t)st->data_hash == hash) return 0;
    return err_set(e, "%s: the training data changed: the checkpoint's data cursor indexes %lld records of hash "
                      "%016" PRIx64 ", data.path %s has %lld of hash %016" PRIx64 "; restore the run's data, or start a "
                      "new run from this checkpoint: --init %s and a new --run-dir",
                   ckpt, (long long)st->data_records, (uint64_t)st->data_hash, data_path[0] ? data_path : "''",
                   (long long)n, hash, ckpt);
}

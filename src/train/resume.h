// What a resume may change (README.md "Resume and reproducibility"). The saved state (weights, moments, data
// cursor, seeds) means something only under the run's identity: its model, tokenizer, training stream and seeds
// (RESUME_IDENTITY in train/resume.c). A resume that changes one of those keys is refused; any other changed key
// (steps, learning rate, intervals, the algorithm) is allowed and logged, one "resume: KEY OLD -> NEW" line each.
// A key the saved run left to its preset or derivation (algo.eps_low from algo.name), not given by hand (the keys a
// checkpoint records in /meta given_keys), follows the resumed config's (resume_rederive), as in a fresh run with it,
// and shows in those lines like any other change.
#ifndef RLVR_RESUME_H
#define RLVR_RESUME_H

#include "base/config.h"
#include "base/error.h"
#include "io/checkpoint.h"
#include "task/task.h"

// Whether key ("section.key") is a run identity key; *why gets the reason.
bool resume_identity_key(const char *key, const char **why);

// The config a resume would run with (now) against the checkpoint's (saved): fails naming every run identity key
// that changed, with what to do instead; else appends one "resume: KEY OLD -> NEW" line per changed key to *log
// (malloc'd text, each line ending in '\n'; untouched when nothing changed).
int resume_compare(const char *ckpt, const Config *saved, const Config *now, char **log, Err *e);

// Every rank, before config_finalize: the keys of now that a preset or another key fills (algo.eps_low from
// algo.name) and that ckpt's run did not give by hand (/meta given_keys) take the value now gives, unless this resume
// sets them or, where file_named, its --config FILE gives them (config_rederive); the run's identity keys stay, as their change is refused anyway. A checkpoint without
// given_keys (an older rlvr's) counts a key as given when its saved value is not its automatic one (config_guess_given;
// resume_check logs that). now->set_ becomes the keys the resumed run gives by hand, for its checkpoints. A
// checkpoint whose config is missing or does not read leaves now's values as they are (resume_check logs that).
// Fails when /meta does not read.
int resume_rederive(const char *ckpt, Config *now, const char *const *sets, int n_sets, bool file_named, Err *e);

// Before anything is loaded (one rank): the checkpoint ckpt was written by `rlvr KIND` ("sft" or "train") and now
// changes none of its run's identity. The seeds compared are /state's, the ones the run has used; a checkpoint
// without a stored config, or with one this rlvr cannot read, has only those compared (a line in *log says so, and
// one says when it records no keys given by hand).
int resume_check(const char *ckpt, const char *kind, const Config *now, char **log, Err *e);

// After st is loaded: the training records the data cursor indexes are the saved ones (st->data_records and
// data_hash against task_data_id; data_path names them in the message). A checkpoint written before they were
// recorded resumes with a line in *log, and st takes the current records' identity for the next save.
int resume_check_data(const char *ckpt, const char *data_path, const Task *task, TrainState *st, char **log, Err *e);

// Appends one formatted line to *log (malloc'd text; NULL starts it).
void resume_log_line(char **log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

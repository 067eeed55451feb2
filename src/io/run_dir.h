// The run directory of `rlvr sft|train`: config.ini (resolved), metrics.jsonl, eval.jsonl, log.txt and
// ckpt/step-NNNNNN.h5.
#ifndef RLVR_RUN_DIR_H
#define RLVR_RUN_DIR_H

#include <stdbool.h>
#include <stdio.h>

#include "base/error.h"

// mkdir -p: creates path and its parents; fails when path exists and is not a directory.
int make_dirs(const char *path, Err *e);

// What a command made in a run directory, in the order it made it: a start that fails removes exactly that
// (run_dir_undo), never a directory or a file that was there before.
typedef struct {
    char **paths;
    bool *is_dir;
    int n;
} RunDirMade;

// make_dirs, noting in made (may be NULL) each directory that this call created, for run_dir_undo.
int make_dirs_noting(const char *path, RunDirMade *made, Err *e);

// Creates RUN_DIR and RUN_DIR/ckpt (parents too) and locks RUN_DIR/.lock (*lock_fd, until run_dir_unlock): a
// directory another run holds is refused. Then removes the temporary files a killed writer left in both
// (atomic_file_remove_stale), each named on a line of log. A fresh run refuses a directory that already holds checkpoints
// (use --resume, or another directory). made: each directory it created and the .lock when it created it; nothing
// when another run holds the directory.
int run_dir_prepare(const char *run_dir, bool resume, int *lock_fd, RunDirMade *made, FILE *log, Err *e);
// Notes a file the command is about to write, unless it exists already (then it is not the command's to remove).
void run_dir_note_new_file(RunDirMade *made, const char *path);
// Removes what made names, newest first: its files, then its directories where they are empty (what another process
// put in one since stays, with the directory). Frees made.
void run_dir_undo(RunDirMade *made);
void run_dir_made_free(RunDirMade *made);
// Locks the existing directory dir (dir/.lock, *lock_fd) as run_dir_prepare does: refused, naming the holder, while
// another process holds it.
int run_dir_lock(const char *dir, int *lock_fd, Err *e);
void run_dir_unlock(int lock_fd);  // -1: nothing held

// Writes RUN_DIR/config.ini atomically (tmp + rename).
int run_dir_write_config(const char *run_dir, const char *config_text, Err *e);

#endif

// The run directory of `rlvr sft|train`: config.ini (resolved), metrics.jsonl, eval.jsonl, log.txt and
// ckpt/step-NNNNNN.h5.
#ifndef RLVR_RUN_DIR_H
#define RLVR_RUN_DIR_H

#include <stdbool.h>

#include "base/error.h"

// mkdir -p: creates path and its parents; fails when path exists and is not a directory.
int make_dirs(const char *path, Err *e);

// Creates RUN_DIR and RUN_DIR/ckpt (parents too) and locks RUN_DIR/.lock (*lock_fd, until run_dir_unlock): a
// directory another run holds is refused. Then removes the temporary files a killed writer left in both
// (atomic_file_remove_stale), each named on a line of log. A fresh run refuses a directory that already holds checkpoints
// (use --resume, or another directory).
int run_dir_prepare(const char *run_dir, bool resume, int *lock_fd, FILE *log, Err *e);
// Locks the existing directory dir (dir/.lock, *lock_fd) as run_dir_prepare does: refused, naming the holder, while
// another process holds it.
int run_dir_lock(const char *dir, int *lock_fd, Err *e);
void run_dir_unlock(int lock_fd);  // -1: nothing held

// Writes RUN_DIR/config.ini atomically (tmp + rename).
int run_dir_write_config(const char *run_dir, const char *config_text, Err *e);

#endif

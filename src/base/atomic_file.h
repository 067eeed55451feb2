// Output files that are whole or absent: written under a fresh temporary name beside the path (PATH.XXXXXX.tmp)
// and renamed over it on commit, so a failure, a full disk or a kill partway leaves the previous file (or none),
// never part of one. A path that names a device or a pipe (/dev/stdout, /dev/null) is written in place.
#ifndef RLVR_ATOMIC_FILE_H
#define RLVR_ATOMIC_FILE_H

#include <stdbool.h>
#include <stdio.h>

#include "base/error.h"

enum {
    // fsync the file before the rename and the directory after it: the new file survives a power loss too.
    ATOMIC_DURABLE = 1,
    // The temporary file starts as a copy of the existing one: commit appends, abort keeps the file as it was.
    ATOMIC_APPEND = 2,
    // No stream: the caller writes `tmp` with its own library (HDF5, safetensors), then commits or aborts.
    ATOMIC_NO_STREAM = 4,
};

typedef struct {
    FILE *f;         // write here (NULL with ATOMIC_NO_STREAM)
    char *tmp;       // where the bytes go: the temporary name, or the path itself when written in place
    char *path;      // the name the file gets on commit (a symbolic link's target: the link stays)
    int flags;
    bool in_place;   // a device or a pipe: nothing to rename
} AtomicFile;

// Creates the temporary file (empty, or a copy of path with ATOMIC_APPEND); 0, or -1 naming the path with a left
// zeroed, so that ending it (atomic_file_end, atomic_file_abort) is a no-op.
int atomic_file_open(AtomicFile *a, const char *path, int flags, Err *e);
// Closes the stream and renames the temporary file over the path. A write error anywhere (ENOSPC often shows only
// at the close) fails it: the temporary file is removed and the path keeps its old content. Frees a either way.
int atomic_file_commit(AtomicFile *a, Err *e);
// Closes and removes the temporary file; the path keeps its old content. Frees a; a zeroed a is a no-op.
void atomic_file_abort(AtomicFile *a);
// commit when rc == 0, else abort; returns 0 or -1. rc's message stays in e, with the path wherever it named the
// temporary file (a writer given `tmp` names the file it writes): every message names the output asked for.
int atomic_file_end(AtomicFile *a, int rc, Err *e);

// Whether a file name (no directory) is one atomic_file_open gives a temporary file: NAME.XXXXXX.tmp, NAME not
// empty, XXXXXX six ASCII letters or digits.
bool atomic_file_is_tmp_name(const char *name);
// Removes the regular files of dir (not deeper) named as atomic_file's temporary files (atomic_file_is_tmp_name),
// those a killed writer left, and logs each on its own line to log ("removed a stale temporary file: PATH"). Only in
// a directory whose writers are all shut out (its caller holds the directory's lock): a live writer's file would go.
int atomic_file_remove_stale(const char *dir, FILE *log, Err *e);

// fsync of tmp, its rename to path, fsync of path's directory; on failure tmp is removed. For a file written
// under a name every writer knows (a checkpoint's NAME.tmp, written by all ranks).
int atomic_file_publish(const char *tmp, const char *path, Err *e);

#endif

// A scratch directory for unit tests that write files: made on first use in the test's process ($TMPDIR or /tmp),
// removed with everything in it when that process exits, so runs leave nothing behind.
#ifndef RLVR_TESTS_SCRATCH_DIR_H
#define RLVR_TESTS_SCRATCH_DIR_H

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch_path[128];

static int scratch_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void scratch_remove(void) {
    if (scratch_path[0]) nftw(scratch_path, scratch_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *scratch_dir(void) {
    if (!scratch_path[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(scratch_path, sizeof scratch_path, "%s/rlvr-unit-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(scratch_path)) perror("scratch_dir: mkdtemp"), abort();
        atexit(scratch_remove);
    }
    return scratch_path;
}

// How many entries dir holds besides . and .. (-1 when it cannot be read): what a test left there.
static inline int dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *x; (x = readdir(d));) n += strcmp(x->d_name, ".") && strcmp(x->d_name, "..");
    closedir(d);
    return n;
}

#endif

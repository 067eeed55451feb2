// io/run_dir: a start that fails removes exactly what it made in the run directory, nothing that was there before
// and nothing another process put there since.
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/run_dir.h"
#include "scratch_dir.h"

static void put(const char *path) {
    FILE *f = fopen(path, "w");
    cr_assert(f, "%s", path);
    fputs("x\n", f);
    cr_assert_eq(fclose(f), 0);
}

static bool exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

Test(run_dir, undo_of_a_fresh_directory_removes_it_and_the_parents_it_made) {
    char top[300], run[400], init[450];
    snprintf(top, sizeof top, "%s/fresh", scratch_dir());
    snprintf(run, sizeof run, "%s/a/run", top);
    snprintf(init, sizeof init, "%s/init.h5", run);
    cr_assert_eq(mkdir(top, 0755), 0);
    RunDirMade made = {0};
    int fd = -1;
    Err e;
    cr_assert_eq(run_dir_prepare(run, false, &fd, &made, stderr, &e), 0, "%s", e.msg);
    run_dir_note_new_file(&made, init);
    put(init);
    run_dir_undo(&made);
    run_dir_unlock(fd);
    cr_expect_eq(made.n, 0, "undo frees the record");
    cr_expect_eq(dir_entries(top), 0, "a/, a/run, its ckpt/, .lock and init.h5 all removed; top (there before) stays");
    cr_expect(exists(top));
}

Test(run_dir, undo_in_an_existing_directory_keeps_what_was_there_and_what_others_put_since) {
    char run[300], path[400];
    snprintf(run, sizeof run, "%s/existing", scratch_dir());
    cr_assert_eq(mkdir(run, 0755), 0);
    snprintf(path, sizeof path, "%s/notes.txt", run);
    put(path);
    snprintf(path, sizeof path, "%s/.lock", run);
    put(path);  // an earlier run's
    RunDirMade made = {0};
    int fd = -1;
    Err e;
    cr_assert_eq(run_dir_prepare(run, false, &fd, &made, stderr, &e), 0, "%s", e.msg);
    snprintf(path, sizeof path, "%s/notes.txt", run);
    run_dir_note_new_file(&made, path);  // there before: not noted
    snprintf(path, sizeof path, "%s/ckpt/theirs.txt", run);
    put(path);  // put in the ckpt/ this start made, by someone else
    run_dir_undo(&made);
    run_dir_unlock(fd);
    cr_expect(exists(path), "a file this start did not write stays, and with it the ckpt/ it made");
    snprintf(path, sizeof path, "%s/notes.txt", run);
    cr_expect(exists(path));
    snprintf(path, sizeof path, "%s/.lock", run);
    cr_expect(exists(path), "the earlier run's .lock stays");
    cr_expect_eq(dir_entries(run), 3);
}

// Another run holds the directory: what this start made is in that run's use, so it removes nothing.
Test(run_dir, a_refused_lock_leaves_nothing_to_undo) {
    char run[300];
    snprintf(run, sizeof run, "%s/held/run", scratch_dir());
    RunDirMade made = {0};
    int holder = -1, fd = -1;
    Err e;
    cr_assert_eq(make_dirs(run, &e), 0, "%s", e.msg);
    cr_assert_eq(run_dir_lock(run, &holder, &e), 0, "%s", e.msg);
    // flock locks are per open file: a second open in this process is refused as another process would be.
    char ck[400];
    snprintf(ck, sizeof ck, "%s/ckpt", run);
    cr_assert_eq(run_dir_prepare(run, false, &fd, &made, stderr, &e), -1);
    cr_expect(strstr(e.msg, "in use by another run"), "%s", e.msg);
    cr_expect_eq(made.n, 0, "ckpt/ was made by this start, but the holder may use it now");
    run_dir_undo(&made);
    cr_expect(exists(ck));
    run_dir_unlock(holder);
}

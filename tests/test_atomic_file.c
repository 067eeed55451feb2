// base/atomic_file: an output is the old file or the new one, whole; never part of one, never a stray .tmp.
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/atomic_file.h"
#include "scratch_dir.h"

// A fresh directory per test, so counting its entries counts what the test left.
static const char *dir_for(const char *name) {
    static char d[256];
    snprintf(d, sizeof d, "%s/%s", scratch_dir(), name);
    cr_assert_eq(mkdir(d, 0755), 0, "%s", d);
    return d;
}

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert(f, "%s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

// The file's text ("<absent>" when there is none).
static const char *get(const char *path) {
    static char buf[256];
    FILE *f = fopen(path, "r");
    if (!f) return "<absent>";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

Test(atomic_file, commit_replaces_the_old_file_only_at_the_end) {
    const char *d = dir_for("commit");
    char path[300];
    snprintf(path, sizeof path, "%s/out.jsonl", d);
    put(path, "old\n");
    AtomicFile a, b;
    Err e;
    cr_assert_eq(atomic_file_open(&a, path, 0, &e), 0, "%s", e.msg);
    cr_assert_eq(atomic_file_open(&b, path, 0, &e), 0, "%s", e.msg);
    cr_expect_str_neq(a.tmp, b.tmp, "two writers share no temporary name");
    cr_expect_eq(strncmp(a.tmp, path, strlen(path)), 0, "%s beside %s", a.tmp, path);
    cr_expect_str_eq(a.tmp + strlen(a.tmp) - 4, ".tmp");
    fputs("new\n", a.f);
    fflush(a.f);
    cr_expect_str_eq(get(path), "old\n", "the path keeps the old file while the new one is written");
    atomic_file_abort(&b);
    cr_assert_eq(atomic_file_commit(&a, &e), 0, "%s", e.msg);
    cr_expect_str_eq(get(path), "new\n");
    cr_expect_eq(dir_entries(d), 1, "no temporary file left");
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    mode_t mask = umask(0);
    umask(mask);
    cr_expect_eq(st.st_mode & 0777, 0666 & ~mask, "mode %o: a plain fopen's, not mkstemp's 0600", st.st_mode & 0777);
}

Test(atomic_file, abort_keeps_the_old_file_and_leaves_no_tmp) {
    const char *d = dir_for("abort");
    char path[300], fresh[300];
    snprintf(path, sizeof path, "%s/out.jsonl", d);
    snprintf(fresh, sizeof fresh, "%s/none.jsonl", d);
    put(path, "old\n");
    AtomicFile a;
    Err e;
    cr_assert_eq(atomic_file_open(&a, path, 0, &e), 0, "%s", e.msg);
    fputs("half a li", a.f);
    atomic_file_abort(&a);
    cr_expect_str_eq(get(path), "old\n");
    cr_assert_eq(atomic_file_open(&a, fresh, 0, &e), 0, "%s", e.msg);
    fputs("x\n", a.f);
    cr_expect_eq(atomic_file_end(&a, -1, &e), -1, "end with a failure aborts");
    cr_expect_str_eq(get(fresh), "<absent>", "a new output that failed is absent");
    cr_expect_eq(dir_entries(d), 1);
}

// RLIMIT_FSIZE makes write() fail with EFBIG past a few bytes, as a full disk does with ENOSPC; the bytes sit in
// stdio's buffer until the commit flushes them, so only the commit can see it. In a child: the limit is per process.
Test(atomic_file, write_error_at_close_is_reported_and_keeps_the_old_file) {
    const char *d = dir_for("full");
    char path[300];
    snprintf(path, sizeof path, "%s/out.jsonl", d);
    put(path, "old\n");
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = {8, 8};
        if (setrlimit(RLIMIT_FSIZE, &lim)) _exit(10);
        AtomicFile a;
        Err e = {{0}};
        if (atomic_file_open(&a, path, 0, &e)) _exit(11);
        fputs("a line longer than eight bytes\n", a.f);
        if (atomic_file_commit(&a, &e) != -1) _exit(12);
        if (!strstr(e.msg, path) || !strstr(e.msg, strerror(EFBIG))) _exit(13);
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child check %d failed (10 setrlimit, 11 open, 12 commit "
              "succeeded, 13 message)", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    cr_expect_str_eq(get(path), "old\n");
    cr_expect_eq(dir_entries(d), 1, "the failed temporary file is removed");
}

Test(atomic_file, append_copies_the_old_file_first) {
    const char *d = dir_for("append");
    char path[300];
    snprintf(path, sizeof path, "%s/eval.jsonl", d);
    AtomicFile a;
    Err e;
    cr_assert_eq(atomic_file_open(&a, path, ATOMIC_APPEND, &e), 0, "%s", e.msg);
    fputs("1\n", a.f);
    cr_assert_eq(atomic_file_commit(&a, &e), 0, "%s", e.msg);
    cr_assert_eq(atomic_file_open(&a, path, ATOMIC_APPEND | ATOMIC_DURABLE, &e), 0, "%s", e.msg);
    fputs("2\n", a.f);
    cr_assert_eq(atomic_file_commit(&a, &e), 0, "%s", e.msg);
    cr_expect_str_eq(get(path), "1\n2\n");
    cr_assert_eq(atomic_file_open(&a, path, ATOMIC_APPEND, &e), 0, "%s", e.msg);
    fputs("3 (failed)\n", a.f);
    atomic_file_abort(&a);
    cr_expect_str_eq(get(path), "1\n2\n");
    cr_expect_eq(dir_entries(d), 1);
}

// Another library writes the temporary name (HDF5, safetensors); a commit without a stream only renames.
Test(atomic_file, no_stream_hands_out_the_name) {
    const char *d = dir_for("nostream");
    char path[300];
    snprintf(path, sizeof path, "%s/out.h5", d);
    AtomicFile a;
    Err e;
    cr_assert_eq(atomic_file_open(&a, path, ATOMIC_NO_STREAM | ATOMIC_DURABLE, &e), 0, "%s", e.msg);
    cr_expect_null(a.f);
    cr_expect_str_eq(get(a.tmp), "", "the temporary file exists, empty");
    put(a.tmp, "written by another library");
    cr_expect_str_eq(get(path), "<absent>");
    cr_assert_eq(atomic_file_commit(&a, &e), 0, "%s", e.msg);
    cr_expect_str_eq(get(path), "written by another library");
    cr_expect_eq(dir_entries(d), 1);
}

// A writer given the temporary name reports its failure with that name; the message the caller gets names the path
// (every time it appears) and still says what failed.
Test(atomic_file, a_failure_names_the_path_not_the_temporary_name) {
    const char *d = dir_for("named");
    char path[300], want[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", d);
    AtomicFile a;
    Err e;
    cr_assert_eq(atomic_file_open(&a, path, ATOMIC_NO_STREAM, &e), 0, "%s", e.msg);
    err_set(&e, "%s: tensor 'w': write failed: File too large (%s)", a.tmp, a.tmp);
    cr_expect_eq(atomic_file_end(&a, -1, &e), -1);
    snprintf(want, sizeof want, "%s: tensor 'w': write failed: File too large (%s)", path, path);
    cr_expect_str_eq(e.msg, want);
    cr_expect_eq(dir_entries(d), 0, "the temporary file is removed");
}

// A device is written in place: /dev/null stays a device (as root a rename would have replaced it), and a write
// error of /dev/full (ENOSPC at every write) is reported at the commit.
Test(atomic_file, devices_are_written_in_place) {
    const char *d = dir_for("devices");
    AtomicFile a;
    Err e;
    cr_assert_eq(atomic_file_open(&a, "/dev/null", 0, &e), 0, "%s", e.msg);
    cr_expect(a.in_place);
    fputs("discarded\n", a.f);
    cr_assert_eq(atomic_file_commit(&a, &e), 0, "%s", e.msg);
    struct stat st;
    cr_assert_eq(stat("/dev/null", &st), 0);
    cr_expect(S_ISCHR(st.st_mode), "/dev/null is still a character device");
    char link[300];
    snprintf(link, sizeof link, "%s/full", d);
    cr_assert_eq(symlink("/dev/full", link), 0);
    cr_assert_eq(atomic_file_open(&a, link, 0, &e), 0, "%s", e.msg);
    fputs("lost\n", a.f);
    cr_expect_eq(atomic_file_commit(&a, &e), -1);
    cr_expect(strstr(e.msg, "/dev/full: cannot write: ") && strstr(e.msg, strerror(ENOSPC)), "%s", e.msg);
    cr_expect_eq(dir_entries(d), 1);
}

// A symbolic link to a file: the file it points to is replaced, the link stays.
Test(atomic_file, a_link_is_followed_not_replaced) {
    const char *d = dir_for("link");
    char target[300], link[300];
    snprintf(target, sizeof target, "%s/target.jsonl", d);
    snprintf(link, sizeof link, "%s/link.jsonl", d);
    put(target, "old\n");
    cr_assert_eq(symlink("target.jsonl", link), 0);
    AtomicFile a;
    Err e;
    cr_assert_eq(atomic_file_open(&a, link, 0, &e), 0, "%s", e.msg);
    fputs("new\n", a.f);
    cr_assert_eq(atomic_file_commit(&a, &e), 0, "%s", e.msg);
    struct stat st;
    cr_assert_eq(lstat(link, &st), 0);
    cr_expect(S_ISLNK(st.st_mode), "the link is still a link");
    cr_expect_str_eq(get(target), "new\n");
    cr_expect_eq(dir_entries(d), 2);
}

Test(atomic_file, a_missing_directory_is_named) {
    char path[300];
    snprintf(path, sizeof path, "%s/no/such/dir/out.jsonl", scratch_dir());
    AtomicFile a;
    Err e;
    cr_assert_eq(atomic_file_open(&a, path, 0, &e), -1);
    cr_expect(strstr(e.msg, path) && strstr(e.msg, strerror(ENOENT)), "%s", e.msg);
    cr_expect_null(a.f);
    cr_expect_null(a.tmp);
}

// Exactly NAME + '.' + six letters or digits + ".tmp": the near misses are other files, never removed.
Test(atomic_file, tmp_name_pattern) {
    const char *yes[] = {"config.ini.aB3xY9.tmp", "metrics.jsonl.000000.tmp", "init.h5.ZZZZZZ.tmp", "a.abcdef.tmp",
                         ".lock.Q1w2E3.tmp"};
    const char *no[] = {"a.tmp", "a.12345.tmp", "a.1234567.tmp", ".abcdef.tmp", "abcdef.tmp", "a.abc-ef.tmp",
                        "a.abc_ef.tmp", "a.abc.ef.tmp", "a.abcdef.tmpx", "a.abcdef.TMP", "a.abcdef_tmp", "a_abcdef.tmp",
                        "step-000002.h5.tmp", "a.abcdé.tmp", "", "a.abcdef.tmp/"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) cr_expect(atomic_file_is_tmp_name(yes[i]), "%s", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) cr_expect_not(atomic_file_is_tmp_name(no[i]), "%s", no[i]);
}

// A name atomic_file_open made matches, whatever its six characters came out as.
Test(atomic_file, its_own_tmp_names_match) {
    const char *d = dir_for("own");
    char path[300];
    snprintf(path, sizeof path, "%s/out.jsonl", d);
    for (int i = 0; i < 50; i++) {
        AtomicFile a;
        Err e;
        cr_assert_eq(atomic_file_open(&a, path, ATOMIC_NO_STREAM, &e), 0, "%s", e.msg);
        cr_expect(atomic_file_is_tmp_name(strrchr(a.tmp, '/') + 1), "%s", a.tmp);
        atomic_file_abort(&a);
    }
}

// Only the directory's own regular files of the pattern go, each named on its own log line; the rest stays.
Test(atomic_file, remove_stale_takes_only_tmp_files) {
    const char *d = dir_for("stale");
    char p[400], sub[300], log_text[1024] = "";
    const char *keep[] = {"config.ini", "a.tmp", "a.12345.tmp", "a.1234567.tmp", "step-000002.h5.tmp"};
    for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) snprintf(p, sizeof p, "%s/%s", d, keep[i]), put(p, "x");
    snprintf(p, sizeof p, "%s/config.ini.aB3xY9.tmp", d), put(p, "x");
    snprintf(p, sizeof p, "%s/init.h5.000000.tmp", d), put(p, "x");
    snprintf(sub, sizeof sub, "%s/dir.abcdef.tmp", d);  // a directory of that name stays, with what it holds
    cr_assert_eq(mkdir(sub, 0755), 0);
    snprintf(p, sizeof p, "%s/deeper.abcdef.tmp", sub), put(p, "x");
    snprintf(p, sizeof p, "%s/link.abcdef.tmp", d);
    cr_assert_eq(symlink("config.ini", p), 0);
    FILE *log = fmemopen(log_text, sizeof log_text - 1, "w");
    Err e;
    cr_assert_eq(atomic_file_remove_stale(d, log, &e), 0, "%s", e.msg);
    fclose(log);
    cr_expect_eq(dir_entries(d), 7, "5 other files, the directory and the link stay");
    cr_expect_eq(dir_entries(sub), 1, "nothing deeper is touched");
    snprintf(p, sizeof p, "%s/config.ini", d);
    cr_expect_str_eq(get(p), "x", "the link's target stays");
    char want1[400], want2[400];
    snprintf(want1, sizeof want1, "removed a stale temporary file: %s/config.ini.aB3xY9.tmp\n", d);
    snprintf(want2, sizeof want2, "removed a stale temporary file: %s/init.h5.000000.tmp\n", d);
    cr_expect(strstr(log_text, want1) && strstr(log_text, want2) && strlen(log_text) == strlen(want1) + strlen(want2),
              "%s", log_text);
    cr_expect_eq(atomic_file_remove_stale("/no/such/dir", stderr, &e), -1);
    cr_expect(strstr(e.msg, "/no/such/dir") && strstr(e.msg, strerror(ENOENT)), "%s", e.msg);
}

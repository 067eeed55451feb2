// io/h5io's output files (rlvr score, loss, loss-testgen, import): whole or absent, never a truncated older one.
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "io/h5io.h"
#include "scratch_dir.h"

// Writes x = {v, v, v} to path through h5io_output_create/end, ending with rc; returns its outcome.
static int write_x(const char *path, double v, uint64_t room, int rc, Err *e) {
    AtomicFile a;
    hid_t f = h5io_output_create(&a, path, room, 0, e);
    if (f < 0) return -1;
    double x[3] = {v, v, v};
    if (h5io_write_f64(f, "x", x, 3, e)) rc = -1;
    return h5io_output_end(&a, f, rc, e);
}

static double read_x0(const char *path) {
    Err e;
    hid_t f = h5io_open(path, 0, &e);
    cr_assert(f >= 0, "%s", e.msg);
    double *x = h5io_read_f64(f, "x", 3, NULL, &e);
    cr_assert(x, "%s", e.msg);
    double v = x[0];
    free(x);
    h5io_close(f);
    return v;
}

Test(h5io_output, replaced_whole_or_kept) {
    char dir[300], path[320];
    snprintf(dir, sizeof dir, "%s/h5out", scratch_dir());
    cr_assert_eq(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/out.h5", dir);
    Err e;
    cr_assert_eq(write_x(path, 1, 1 << 20, 0, &e), 0, "%s", e.msg);
    cr_expect_eq(read_x0(path), 1);
    cr_expect_eq(write_x(path, 2, 1 << 20, -1, &e), -1, "a failure after the file was created");
    cr_expect_eq(read_x0(path), 1, "the older output is kept whole");
    cr_expect_eq(write_x(path, 3, UINT64_MAX / 4, 0, &e), -1);
    cr_expect(strstr(e.msg, "MB free on its file system"), "refused before writing: %s", e.msg);
    cr_expect_eq(read_x0(path), 1);
    cr_assert_eq(write_x(path, 4, 1 << 20, 0, &e), 0, "%s", e.msg);
    cr_expect_eq(read_x0(path), 4);
    cr_expect_eq(dir_entries(dir), 1, "no temporary file left");
}

// A path that exists but is no regular file: HDF5 cannot write a pipe or a device (a pipe would take the bytes, or
// block once full, with nobody reading), so the output is refused before it starts and the path stays what it was.
Test(h5io_output, a_pipe_or_directory_is_refused_and_left_alone, .timeout = 20) {
    char dir[300], fifo[320];
    snprintf(dir, sizeof dir, "%s/h5target", scratch_dir());
    cr_assert_eq(mkdir(dir, 0755), 0);
    snprintf(fifo, sizeof fifo, "%s/pipe", dir);
    cr_assert_eq(mkfifo(fifo, 0644), 0);
    Err e = {{0}};
    cr_expect_eq(write_x(fifo, 1, 1 << 20, 0, &e), -1, "a pipe accepted as an HDF5 output");
    cr_expect(strstr(e.msg, "/pipe: not a regular file (a device, pipe or socket); expected a new or regular file"),
              "%s", e.msg);
    cr_expect_eq(write_x(dir, 1, 1 << 20, 0, &e), -1);
    cr_expect(strstr(e.msg, "/h5target: a directory; expected a new or regular file"), "%s", e.msg);
    struct stat st;
    cr_assert_eq(stat(fifo, &st), 0);
    cr_expect(S_ISFIFO(st.st_mode), "the pipe is still a pipe");
    cr_expect_eq(dir_entries(dir), 1, "no temporary file left");
}

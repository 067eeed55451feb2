#include "io/run_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/atomic_file.h"
#include "io/checkpoint.h"

static void note(RunDirMade *made, const char *path, bool is_dir) {
    if (!made) return;
    made->paths = xrealloc(made->paths, (size_t)(made->n + 1) * sizeof *made->paths);
    made->is_dir = xrealloc(made->is_dir, (size_t)(made->n + 1) * sizeof *made->is_dir);
    made->paths[made->n] = strdup(path), made->is_dir[made->n++] = is_dir;
}

int make_dirs_noting(const char *path, RunDirMade *made, Err *e) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c != '/' && c) continue;
        *p = 0;
        if (mkdir(buf, 0755) == 0) note(made, buf, true);
        else if (errno != EEXIST) return err_set(e, "%s: cannot create directory: %s", buf, strerror(errno));
        *p = c;
        if (!c) break;
    }
    struct stat sb;
    if (stat(path, &sb) || !S_ISDIR(sb.st_mode)) return err_set(e, "%s: not a directory", path);
    return 0;
}

int make_dirs(const char *path, Err *e) { return make_dirs_noting(path, NULL, e); }

void run_dir_note_new_file(RunDirMade *made, const char *path) {
    struct stat sb;
    if (lstat(path, &sb) && errno == ENOENT) note(made, path, false);
}

void run_dir_undo(RunDirMade *made) {
    for (int i = made->n - 1; i >= 0; i--) {
        if (made->is_dir[i]) rmdir(made->paths[i]);  // fails, keeping it, where something else was put in it
        else unlink(made->paths[i]);
    }
    run_dir_made_free(made);
}

void run_dir_made_free(RunDirMade *made) {
    for (int i = 0; i < made->n; i++) free(made->paths[i]);
    free(made->paths), free(made->is_dir);
    memset(made, 0, sizeof *made);
}

// Two runs in one directory (a job submitted twice) would overwrite each other's checkpoints and truncate each
// other's metrics. The lock goes with the process, however it ends; a file system without locks runs unlocked.
// made (may be NULL): notes the .lock when this call created it and holds it.
static int lock_noting(const char *run_dir, int *fd, RunDirMade *made, Err *e) {
    char path[4096], holder[256] = "?";
    snprintf(path, sizeof path, "%s/.lock", run_dir);
    bool created = (*fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) >= 0;
    if (!created && errno == EEXIST) *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0) return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    if (!flock(*fd, LOCK_EX | LOCK_NB)) {
        char host[128] = "?";
        gethostname(host, sizeof host - 1);
        if (ftruncate(*fd, 0) == 0) dprintf(*fd, "host %s, pid %ld\n", host, (long)getpid());
        if (created) note(made, path, false);
        return 0;
    }
    bool held = errno == EWOULDBLOCK;
    ssize_t n = held ? pread(*fd, holder, sizeof holder - 1, 0) : 0;
    if (n > 0) holder[n - (holder[n - 1] == '\n')] = 0;
    close(*fd), *fd = -1;
    // On NFS a node that crashed keeps its lock until the server's lease runs out: deleting the file frees the name.
    if (!held && created) note(made, path, false);
    if (!held) return 0;
    return err_set(e, "%s: in use by another run (%s, holding %s; if that run is gone, delete the file)", run_dir, holder,
                   path);
}

int run_dir_lock(const char *run_dir, int *fd, Err *e) { return lock_noting(run_dir, fd, NULL, e); }

void run_dir_unlock(int lock_fd) {
    if (lock_fd >= 0) close(lock_fd);
}

int run_dir_prepare(const char *run_dir, bool resume, int *lock_fd, RunDirMade *made, FILE *log, Err *e) {
    char ck[4096], latest[4096];
    snprintf(ck, sizeof ck, "%s/ckpt", run_dir);
    TRY(make_dirs_noting(ck, made, e));
    // The lock not taken: another run may hold the directory and use what this one made there, so nothing is removed.
    if (lock_noting(run_dir, lock_fd, made, e)) return run_dir_made_free(made), -1;
    // What a killed command left mid-write (config.ini.XXXXXX.tmp, ...): under the lock no other writer has one open.
    TRY(atomic_file_remove_stale(run_dir, log, e));
    TRY(atomic_file_remove_stale(ck, log, e));
    int64_t step;
    int found = checkpoint_latest(run_dir, latest, sizeof latest, &step, e);
    if (found < 0) return -1;
    if (!resume && found)
        return err_set(e, "%s: run directory already has checkpoints (latest %s); use --resume or a new --run-dir",
                       run_dir, latest);
    if (resume && !found) return err_set(e, "%s: --resume: no checkpoint in %s", run_dir, ck);
    return 0;
}

int run_dir_write_config(const char *run_dir, const char *config_text, Err *e) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.ini", run_dir);
    AtomicFile f;  // durable: a resume reads it beside the checkpoint
    TRY(atomic_file_open(&f, path, ATOMIC_DURABLE, e));
    fputs(config_text, f.f);  // a write error shows at the commit
    return atomic_file_commit(&f, e);
}

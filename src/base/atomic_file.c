#include "base/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

// fsync is each caller's choice (ATOMIC_DURABLE): run state that a resume reads beside a checkpoint (config.ini,
// metrics.jsonl, an imported init.h5) must survive a power loss as the checkpoint does, while an output that its
// command makes again from the same inputs (samples, scores, evaluations, gigabytes at times) should not wait on
// the disk. Either way a crashed or killed process leaves the old file or the new one, whole.

// The characters of a temporary name's six (create_tmp, atomic_file_is_tmp_name).
#define TMP_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// shown: the name a message gives it, the output's own name where path is its temporary file.
static int fsync_path(const char *path, const char *shown, int flags, Err *e) {
    int fd = open(path, flags);
    if (fd < 0) return err_set(e, "%s: cannot open for fsync: %s", shown, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    return rc ? err_set(e, "%s: fsync failed: %s", shown, strerror(errno)) : 0;
}

// The rename itself is durable only once the directory that holds the name is.
static int fsync_dir_of(const char *path, Err *e) {
    char *copy = strdup(path);
    const char *dir = dirname(copy);
    int rc = fsync_path(dir, dir, O_RDONLY | O_DIRECTORY, e);
    free(copy);
    return rc;
}

static int publish(const char *tmp, const char *path, bool durable, Err *e) {
    int rc = durable ? fsync_path(tmp, path, O_RDONLY, e) : 0;
    if (!rc && rename(tmp, path)) rc = err_set(e, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
    if (rc) return unlink(tmp), -1;
    return durable ? fsync_dir_of(path, e) : 0;
}

int atomic_file_publish(const char *tmp, const char *path, Err *e) {
    return publish(tmp, path, true, e);
}

// A fresh PATH.XXXXXX.tmp, so two writers never share one; mode 0666 less the umask, as fopen gives (mkstemp
// would make it 0600). Returns its descriptor, or -1 with a->tmp NULL.
static int create_tmp(AtomicFile *a, Err *e) {
    static const char ABC[] = TMP_CHARS;
    size_t n = strlen(a->path) + sizeof ".XXXXXX.tmp";
    a->tmp = xmalloc(n);
    int fd = -1;
    errno = EEXIST;
    for (int attempt = 0; fd < 0 && errno == EEXIST && attempt < 100; attempt++) {
        unsigned char r[6];
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) break;
        char s[7] = {0};
        for (int i = 0; i < 6; i++) s[i] = ABC[r[i] % (sizeof ABC - 1)];
        snprintf(a->tmp, n, "%s.%s.tmp", a->path, s);
        fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    }
    if (fd >= 0) return fd;
    err_set(e, "%s: cannot create a temporary file beside it (%s): %s", a->path, a->tmp, strerror(errno));
    free(a->tmp), a->tmp = NULL;
    return -1;
}

bool atomic_file_is_tmp_name(const char *name) {
    size_t n = strlen(name), tail = sizeof ".XXXXXX.tmp" - 1;
    if (n <= tail || name[n - tail] != '.' || strcmp(name + n - 4, ".tmp")) return false;
    for (size_t i = n - tail + 1; i < n - 4; i++)
        if (!strchr(TMP_CHARS, name[i])) return false;
    return true;
}

int atomic_file_remove_stale(const char *dir, FILE *log, Err *e) {
    DIR *d = opendir(dir);
    if (!d) return err_set(e, "%s: cannot list it to remove stale temporary files: %s", dir, strerror(errno));
    int rc = 0;
    char path[8192];
    struct stat st;
    for (struct dirent *ent; !rc && (ent = readdir(d));) {
        if (!atomic_file_is_tmp_name(ent->d_name)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        if (lstat(path, &st) || !S_ISREG(st.st_mode)) continue;  // never a directory or a link of that name
        if (unlink(path)) rc = err_set(e, "%s: cannot remove this stale temporary file: %s", path, strerror(errno));
        else fprintf(log, "removed a stale temporary file: %s\n", path);
    }
    closedir(d);
    return rc;
}

// ATOMIC_APPEND: the existing file's bytes first (none when there is no file yet).
static int copy_existing(AtomicFile *a, Err *e) {
    FILE *in = fopen(a->path, "rb");
    if (!in) return errno == ENOENT ? 0 : err_set(e, "%s: cannot open to append: %s", a->path, strerror(errno));
    char buf[1 << 16];
    size_t n;
    int ok = 1;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, a->f) == n;
    ok = ok && !ferror(in);
    fclose(in);
    return ok ? 0 : err_set(e, "%s: cannot copy it to %s to append", a->path, a->tmp);
}

static int open_in_place(AtomicFile *a, Err *e) {
    a->tmp = strdup(a->path);
    if (a->flags & ATOMIC_NO_STREAM) return 0;
    a->f = fopen(a->path, a->flags & ATOMIC_APPEND ? "a" : "w");
    return a->f ? 0 : err_set(e, "%s: cannot open for writing: %s", a->path, strerror(errno));
}

int atomic_file_open(AtomicFile *a, const char *path, int flags, Err *e) {
    memset(a, 0, sizeof *a);
    a->flags = flags;
    struct stat st, lst;
    bool exists = stat(path, &st) == 0;
    a->in_place = exists && !S_ISREG(st.st_mode);  // renaming over /dev/null would replace the device
    char *target = exists && !lstat(path, &lst) && S_ISLNK(lst.st_mode) ? realpath(path, NULL) : NULL;
    a->path = target ? target : strdup(path);
    int rc = 0, fd = -1;
    if (a->in_place) rc = open_in_place(a, e);
    else if ((fd = create_tmp(a, e)) < 0) rc = -1;
    else if (flags & ATOMIC_NO_STREAM) close(fd);
    else if (!(a->f = fdopen(fd, "w"))) rc = (close(fd), err_set(e, "%s: cannot open: %s", a->path, strerror(errno)));
    else if (flags & ATOMIC_APPEND) rc = copy_existing(a, e);
    if (rc) atomic_file_abort(a);
    return rc ? -1 : 0;
}

// Every write error shows here at the latest: an earlier failed write, the flush, or the close itself.
static int close_stream(AtomicFile *a, Err *e) {
    FILE *f = a->f;
    a->f = NULL;
    int failed = ferror(f), bad = fflush(f) != 0, err = errno;
    if (fclose(f) && !bad) bad = 1, err = errno;
    if (bad) return err_set(e, "%s: cannot write: %s", a->path, strerror(err));
    return failed ? err_set(e, "%s: a write failed (a full disk, a quota or a file size limit?)", a->path) : 0;
}

static void free_names(AtomicFile *a) {
    free(a->tmp), free(a->path);
    a->tmp = a->path = NULL;
}

int atomic_file_commit(AtomicFile *a, Err *e) {
    int rc = a->f ? close_stream(a, e) : 0;
    if (!a->in_place && rc) unlink(a->tmp);
    else if (!a->in_place) rc = publish(a->tmp, a->path, a->flags & ATOMIC_DURABLE, e);
    free_names(a);
    return rc;
}

void atomic_file_abort(AtomicFile *a) {
    if (a->f) fclose(a->f);
    a->f = NULL;
    if (a->tmp && !a->in_place) unlink(a->tmp);
    free_names(a);
}

// The user asked for the path: a message that names the random temporary name (the safetensors writer's, HDF5's
// file name) names the path instead. The temporary name is the path and a suffix, so the message only gets shorter.
static void name_the_path(const AtomicFile *a, Err *e) {
    if (!e || !a->tmp || a->in_place) return;
    size_t n_tmp = strlen(a->tmp), n_path = strlen(a->path);
    for (char *at = e->msg; (at = strstr(at, a->tmp)); at += n_path) {
        memcpy(at, a->path, n_path);
        memmove(at + n_path, at + n_tmp, strlen(at + n_tmp) + 1);
    }
}

int atomic_file_end(AtomicFile *a, int rc, Err *e) {
    if (rc) return name_the_path(a, e), atomic_file_abort(a), -1;
    return atomic_file_commit(a, e);
}

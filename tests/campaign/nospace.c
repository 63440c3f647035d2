/*
 * nospace.so: an LD_PRELOAD shim for the full-disk campaign (tests/campaign/enospc.sh) that
 * makes the disk fill up at an exact step. It counts the calls that take space on one file
 * system (SK_NOSPACE_DEV, a st_dev number): write, pwrite, writev, fallocate, a file created
 * by open/openat with O_CREAT, mkdir, rename, link, symlink, and a clone (ioctl FICLONE,
 * FICLONERANGE) into a file there. With SK_NOSPACE_AT=N, the
 * N-th of them and every later one fail with ENOSPC, as on a disk that just became full
 * (removals and everything on other file systems go on working, so the error can be printed
 * and temporary files removed). With SK_NOSPACE_TRACE=FILE, each counted call appends a line
 * "N call" to FILE (the counting run). Only the campaign loads it; no build of slotkeeper
 * contains it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static dev_t dev;
static int active;
static unsigned long fail_at;
static int trace_fd = -1;
static _Atomic unsigned long calls;

static ssize_t (*real_write)(int, const void *, size_t);

__attribute__((constructor)) static void nospace_init(void)
{
    real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    const char *d = getenv("SK_NOSPACE_DEV"), *at = getenv("SK_NOSPACE_AT"), *tr = getenv("SK_NOSPACE_TRACE");
    if (!d || !*d)
        return;
    dev = (dev_t)strtoull(d, NULL, 10);
    active = 1;
    if (at && *at)
        fail_at = strtoul(at, NULL, 10);
    if (tr && *tr) {
        int (*real_open)(const char *, int, ...) = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
        trace_fd = real_open(tr, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    }
}

/* Counts one space-taking call; returns -1 with errno ENOSPC when the disk is to be full. */
static int take(const char *what)
{
    unsigned long n = atomic_fetch_add(&calls, 1) + 1;
    if (trace_fd >= 0 && real_write) {
        char buf[64];
        int len = snprintf(buf, sizeof(buf), "%lu %s\n", n, what);
        if (len > 0)
            (void)!real_write(trace_fd, buf, (size_t)len);
    }
    if (fail_at && n >= fail_at) {
        errno = ENOSPC;
        return -1;
    }
    return 0;
}

static int fd_on_dev(int fd)
{
    struct stat st;
    return active && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_dev == dev;
}

/* Whether a new name at dirfd/path lands on the watched file system (its parent folder does). */
static int name_on_dev(int dirfd, const char *path)
{
    if (!active || !path)
        return 0;
    char parent[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(parent, sizeof(parent), ".");
    else if (slash == path)
        snprintf(parent, sizeof(parent), "/");
    else
        snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
    struct stat st;
    return fstatat(dirfd, parent, &st, 0) == 0 && st.st_dev == dev;
}

static int is_new(int dirfd, const char *path, int flags)
{
    struct stat st;
    return (flags & O_CREAT) && fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT;
}

#define REAL(name, type) ((type)dlsym(RTLD_NEXT, name))

ssize_t write(int fd, const void *buf, size_t n)
{
    if (n && fd_on_dev(fd) && take("write") < 0)
        return -1;
    return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (n && fd_on_dev(fd) && take("pwrite") < 0)
        return -1;
    return REAL("pwrite", ssize_t(*)(int, const void *, size_t, off_t))(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    if (n && fd_on_dev(fd) && take("pwrite") < 0)
        return -1;
    return REAL("pwrite64", ssize_t(*)(int, const void *, size_t, off_t))(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    if (fd_on_dev(fd) && take("writev") < 0)
        return -1;
    return REAL("writev", ssize_t(*)(int, const struct iovec *, int))(fd, iov, cnt);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
    if (fd_on_dev(fd) && take("fallocate") < 0)
        return -1;
    return REAL("fallocate", int (*)(int, int, off_t, off_t))(fd, mode, off, len);
}

int fallocate64(int fd, int mode, off_t off, off_t len)
{
    if (fd_on_dev(fd) && take("fallocate") < 0)
        return -1;
    return REAL("fallocate64", int (*)(int, int, off_t, off_t))(fd, mode, off, len);
}

/* The calls that create a file (open with O_CREAT) all go through openat. */
static int open_common(int dirfd, const char *path, int flags, mode_t mode)
{
    if (is_new(dirfd, path, flags) && name_on_dev(dirfd, path) && take("create") < 0)
        return -1;
    return REAL("openat", int (*)(int, const char *, int, ...))(dirfd, path, flags, mode);
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
    va_end(ap);
    return open_common(AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
    va_end(ap);
    return open_common(AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
    va_end(ap);
    return open_common(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
    va_end(ap);
    return open_common(dirfd, path, flags, mode);
}

int mkdir(const char *path, mode_t mode)
{
    if (name_on_dev(AT_FDCWD, path) && take("mkdir") < 0)
        return -1;
    return REAL("mkdir", int (*)(const char *, mode_t))(path, mode);
}

int mkdirat(int dirfd, const char *path, mode_t mode)
{
    if (name_on_dev(dirfd, path) && take("mkdir") < 0)
        return -1;
    return REAL("mkdirat", int (*)(int, const char *, mode_t))(dirfd, path, mode);
}

int rename(const char *from, const char *to)
{
    if (name_on_dev(AT_FDCWD, to) && take("rename") < 0)
        return -1;
    return REAL("rename", int (*)(const char *, const char *))(from, to);
}

int renameat(int fromfd, const char *from, int tofd, const char *to)
{
    if (name_on_dev(tofd, to) && take("rename") < 0)
        return -1;
    return REAL("renameat", int (*)(int, const char *, int, const char *))(fromfd, from, tofd, to);
}

int renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned flags)
{
    if (name_on_dev(tofd, to) && take("rename") < 0)
        return -1;
    return REAL("renameat2", int (*)(int, const char *, int, const char *, unsigned))(fromfd, from, tofd, to, flags);
}

int symlinkat(const char *target, int dirfd, const char *path)
{
    if (name_on_dev(dirfd, path) && take("symlink") < 0)
        return -1;
    return REAL("symlinkat", int (*)(const char *, int, const char *))(target, dirfd, path);
}

int symlink(const char *target, const char *path)
{
    if (name_on_dev(AT_FDCWD, path) && take("symlink") < 0)
        return -1;
    return REAL("symlink", int (*)(const char *, const char *))(target, path);
}

int linkat(int fromfd, const char *from, int tofd, const char *to, int flags)
{
    if (name_on_dev(tofd, to) && take("link") < 0)
        return -1;
    return REAL("linkat", int (*)(int, const char *, int, const char *, int))(fromfd, from, tofd, to, flags);
}

/* A clone shares extents, but takes metadata space (and fails with ENOSPC) on a full disk. */
int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if ((req == FICLONE || req == FICLONERANGE) && fd_on_dev(fd) && take("clone") < 0)
        return -1;
    return REAL("ioctl", int (*)(int, unsigned long, ...))(fd, req, arg);
}

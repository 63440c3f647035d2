/*
 * fsutil: careful file-system helpers (see fsutil.h).
 */
#include "slotkeeper/fsutil.h"

#include "slotkeeper/chunk.h"
#include "slotkeeper/crashpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/openat2.h>

int sk_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        SK_CRASHPOINT("write");
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int sk_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
    const char *p = buf;
    while (len > 0) {
        SK_CRASHPOINT("write");
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

int sk_pwrite_sparse(int fd, const void *buf, size_t len, off_t off)
{
    const char *b = buf;
    const size_t blk = 4096;
    size_t pos = 0;
    while (pos < len) {
        size_t n = len - pos < blk ? len - pos : blk;
        if (sk_is_zero(b + pos, n)) {
            pos += n;
            continue;
        }
        size_t start = pos;
        while (pos < len) {
            n = len - pos < blk ? len - pos : blk;
            if (sk_is_zero(b + pos, n))
                break;
            pos += n;
        }
        int rc = sk_pwrite_all(fd, b + start, pos - start, off + (off_t)start);
        if (rc < 0)
            return rc;
    }
    return 0;
}

ssize_t sk_pread_full(int fd, void *buf, size_t len, off_t off)
{
    char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, p + done, len - done, off + (off_t)done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

int sk_fsync_at(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (dirfd == AT_FDCWD ? 0 : O_NOFOLLOW));
    if (fd < 0)
        return -errno;
    SK_CRASHPOINT("fsync");
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int sk_fsync_dir(const char *path)
{
    return sk_fsync_at(AT_FDCWD, path);
}

int sk_mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        SK_CRASHPOINT("mkdir");
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    SK_CRASHPOINT("mkdir");
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return -errno;
    struct stat st;
    if (stat(buf, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    return 0;
}

bool sk_path_plain(const char *p)
{
    if (!*p || p[0] == '/' || strlen(p) >= PATH_MAX - 256)
        return false;
    for (const char *s = p;;) {
        const char *sl = strchr(s, '/');
        size_t n = sl ? (size_t)(sl - s) : strlen(s);
        if (n == 0 || n > NAME_MAX || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return false;
        if (!sl)
            return true;
        s = sl + 1;
    }
}

/* 1 while openat2 is worth trying; 0 once the kernel (or a seccomp filter) said it has none. */
static _Atomic int have_openat2 = 1;

void sk_beneath_force_walk(bool on)
{
    have_openat2 = !on;
}

/* The walk for kernels without openat2: each folder on the way opened with O_NOFOLLOW. */
static int open_beneath_walk(int dirfd, const char *rel, int flags, mode_t mode)
{
    if (rel[0] == '/')
        return -EXDEV;
    char buf[PATH_MAX];
    if (strlen(rel) >= sizeof(buf))
        return -ENAMETOOLONG;
    snprintf(buf, sizeof(buf), "%s", rel);
    int cur = dirfd;
    char *save = NULL, *comp = strtok_r(buf, "/", &save);
    if (!comp)
        return -EINVAL;
    for (;;) {
        char *next = strtok_r(NULL, "/", &save);
        if (!strcmp(comp, "..")) {
            if (cur != dirfd)
                close(cur);
            return -EXDEV;
        }
        int fd;
        if (next) {
            fd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0 && errno == ENOTDIR) {
                struct stat st;
                if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                    errno = ELOOP;
                else
                    errno = ENOTDIR;
            }
        } else {
            fd = openat(cur, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
        }
        int e = errno;
        if (cur != dirfd)
            close(cur);
        if (fd < 0)
            return -e;
        if (!next)
            return fd;
        cur = fd;
        comp = next;
    }
}

static int open_beneath(int dirfd, const char *rel, int flags, mode_t mode);

int sk_open_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
    int fd = open_beneath(dirfd, rel, flags, mode);
    /* O_DIRECTORY | O_NOFOLLOW on a link says ENOTDIR: say it is a link. */
    if (fd == -ENOTDIR && !(flags & O_PATH)) {
        int lfd = open_beneath(dirfd, rel, O_PATH, 0);
        struct stat st;
        if (lfd >= 0 && fstat(lfd, &st) == 0 && S_ISLNK(st.st_mode))
            fd = -ELOOP;
        if (lfd >= 0)
            close(lfd);
    }
    return fd;
}

static int open_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
    if (!*rel)
        return -EINVAL;
    if (have_openat2) {
        struct open_how how = {
            .flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
            .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        long fd;
        do
            fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
        while (fd < 0 && errno == EAGAIN);
        if (fd >= 0)
            return (int)fd;
        if (errno != ENOSYS && errno != EPERM && errno != E2BIG)
            return -errno;
        if (errno == ENOSYS)
            have_openat2 = 0;
    }
    return open_beneath_walk(dirfd, rel, flags, mode);
}

int sk_open_in_datadir(int dfd, const char *rel, int flags)
{
    const char *sl = strchr(rel, '/');
    if (!sl)
        return sk_open_beneath(dfd, rel, flags, 0);
    char top[NAME_MAX + 1];
    if ((size_t)(sl - rel) >= sizeof(top))
        return -ENAMETOOLONG;
    snprintf(top, sizeof(top), "%.*s", (int)(sl - rel), rel);
    int tfd = openat(dfd, top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (tfd < 0)
        return -errno;
    int fd = sk_open_beneath(tfd, sl + 1, flags, 0);
    close(tfd);
    return fd;
}

int sk_open_parent_beneath(int dirfd, const char *rel, const char **leaf)
{
    const char *sl = strrchr(rel, '/');
    *leaf = sl ? sl + 1 : rel;
    if (!sl) {
        int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
        return fd < 0 ? -errno : fd;
    }
    char parent[PATH_MAX];
    if ((size_t)(sl - rel) >= sizeof(parent))
        return -ENAMETOOLONG;
    snprintf(parent, sizeof(parent), "%.*s", (int)(sl - rel), rel);
    return sk_open_beneath(dirfd, parent, O_RDONLY | O_DIRECTORY, 0);
}

int sk_stat_beneath(int dirfd, const char *rel, struct stat *st)
{
    int fd = sk_open_beneath(dirfd, rel, O_PATH, 0);
    if (fd < 0)
        return fd;
    int rc = fstat(fd, st) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

DIR *sk_opendir_at(int dirfd)
{
    int fd = dup(dirfd);
    if (fd < 0)
        return NULL;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    rewinddir(d);
    return d;
}

const char *sk_beneath_strerror(int code)
{
    if (code == -ELOOP)
        return "a symbolic link where slotkeeper expects a folder or file of its own (links are never followed here)";
    if (code == -EXDEV)
        return "path leaves its folder";
    return strerror(-code);
}

static int rm_rf_dirfd(int fd)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = -errno;
        close(fd);
        return e;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        int r = sk_rm_rf_at(dirfd(d), de->d_name);
        if (r < 0 && rc == 0)
            rc = r;
    }
    closedir(d);
    return rc;
}

int sk_rm_rf_at(int dirfd, const char *name)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (S_ISDIR(st.st_mode)) {
        /* A folder without owner rwx (e.g. mode 0500 from an archive) could not be emptied by
         * a non-root user: give it back to its owner first. */
        if ((st.st_mode & S_IRWXU) != S_IRWXU) {
            SK_CRASHPOINT("chmod");
            fchmodat(dirfd, name, (st.st_mode & 07777) | S_IRWXU, 0);
        }
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        int rc = rm_rf_dirfd(fd);
        if (rc < 0)
            return rc;
        SK_CRASHPOINT("rmdir");
        if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
            return -errno;
        return 0;
    }
    SK_CRASHPOINT("unlink");
    if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

int sk_read_file_at(int dirfd, const char *name, size_t max, char **bufp, size_t *lenp)
{
    /* O_NONBLOCK: a fifo in place of the file must not hang us in open(); it is refused below. */
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return -EFBIG;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    ssize_t n = sk_pread_full(fd, buf, (size_t)st.st_size, 0);
    close(fd);
    if (n < 0) {
        free(buf);
        return (int)n;
    }
    buf[n] = '\0';
    *bufp = buf;
    *lenp = (size_t)n;
    return 0;
}

int sk_write_file_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof(tmp), ".%s.tmp.%ld", name, (long)getpid()) >= sizeof(tmp))
        return -ENAMETOOLONG;
    SK_CRASHPOINT("create");
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -errno;
    int rc = sk_write_all(fd, data, len);
    SK_CRASHPOINT("fsync");
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    SK_CRASHPOINT("rename");
    if (rc == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
        rc = -errno;
    if (rc < 0) {
        SK_CRASHPOINT("unlink");
        unlinkat(dirfd, tmp, 0);
        return rc;
    }
    SK_CRASHPOINT("fsync");
    if (fsync(dirfd) < 0)
        return -errno;
    return 0;
}

static int parse_unit(const char *s, char **end, uint64_t *out)
{
    errno = 0;
    if (*s < '0' || *s > '9')
        return -EINVAL;
    unsigned long long v = strtoull(s, end, 10);
    if (errno)
        return -errno;
    *out = v;
    return 0;
}

int sk_parse_size(const char *s, uint64_t *out)
{
    char *end = NULL;
    uint64_t v = 0;
    if (parse_unit(s, &end, &v) < 0)
        return -EINVAL;
    uint64_t mul = 1;
    if (!strcmp(end, "") || !strcmp(end, "B"))
        mul = 1;
    else if (!strcmp(end, "K") || !strcmp(end, "KiB") || !strcmp(end, "k"))
        mul = 1ULL << 10;
    else if (!strcmp(end, "M") || !strcmp(end, "MiB"))
        mul = 1ULL << 20;
    else if (!strcmp(end, "G") || !strcmp(end, "GiB"))
        mul = 1ULL << 30;
    else if (!strcmp(end, "T") || !strcmp(end, "TiB"))
        mul = 1ULL << 40;
    else
        return -EINVAL;
    if (v > UINT64_MAX / mul)
        return -ERANGE;
    *out = v * mul;
    return 0;
}

int sk_parse_duration_ms(const char *s, uint64_t *out)
{
    char *end = NULL;
    uint64_t v = 0;
    if (parse_unit(s, &end, &v) < 0)
        return -EINVAL;
    uint64_t mul;
    if (!strcmp(end, "") || !strcmp(end, "s"))
        mul = 1000;
    else if (!strcmp(end, "ms"))
        mul = 1;
    else if (!strcmp(end, "m"))
        mul = 60000;
    else if (!strcmp(end, "h"))
        mul = 3600000;
    else
        return -EINVAL;
    if (v > UINT64_MAX / mul)
        return -ERANGE;
    *out = v * mul;
    return 0;
}

int sk_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    uint64_t v = 0;
    if (parse_unit(s, &end, &v) < 0 || *end)
        return -EINVAL;
    if (v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

const char *sk_fmt_bytes(uint64_t n, char *buf, size_t len)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024.0 && u < 5) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%llu B", (unsigned long long)n);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
    return buf;
}

int sk_fcntl_lock_holder_fd(int fd, pid_t *pid)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_GETLK, &fl) < 0)
        return -errno;
    if (fl.l_type == F_UNLCK)
        return 0;
    *pid = fl.l_pid;
    return 1;
}

int sk_fcntl_lock_holder(const char *path, pid_t *pid)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    int rc = sk_fcntl_lock_holder_fd(fd, pid);
    close(fd);
    return rc;
}

int sk_fs_avail(const char *path, uint64_t *avail)
{
    struct statvfs sv;
    if (statvfs(path, &sv) < 0)
        return -errno;
    *avail = (uint64_t)sv.f_bavail * sv.f_frsize;
    return 0;
}

double sk_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int sk_path_join(char *out, size_t len, const char *a, const char *b)
{
    int n;
    if (!a || !*a)
        n = snprintf(out, len, "%s", b);
    else if (a[strlen(a) - 1] == '/')
        n = snprintf(out, len, "%s%s", a, b);
    else
        n = snprintf(out, len, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    return 0;
}

/*
 * storage_posix: the storage interface (storage.h) on a local folder.
 *
 * The root is opened once; every path under it is resolved beneath that descriptor with
 * sk_open_beneath (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or a walk with O_NOFOLLOW),
 * so no symbolic link under the repository is ever followed. Names are changed through the
 * folder that holds them (sk_open_parent_beneath, then the *at call on the last component).
 * Locks are flock(2) locks, released by the kernel when their holder dies.
 */
#include "slotkeeper/storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotkeeper/crashpoint.h"
#include "slotkeeper/fsutil.h"

struct posix {
    sk_storage_t base;
    int rootfd;
};

struct sk_storage_lock {
    int fd;
};

static int rootfd(sk_storage_t *s)
{
    return ((struct posix *)s)->rootfd;
}

/* An open descriptor of path beneath the root ("" is the root itself, duplicated). */
static int open_at(sk_storage_t *s, const char *path, int flags, mode_t mode)
{
    if (!*path) {
        int fd = fcntl(rootfd(s), F_DUPFD_CLOEXEC, 0);
        return fd < 0 ? -errno : fd;
    }
    return sk_open_beneath(rootfd(s), path, flags, mode);
}

static int px_info(sk_storage_t *s, const char *path, sk_storage_info_t *out)
{
    struct stat st;
    int rc = *path ? sk_stat_beneath(rootfd(s), path, &st) : (fstat(rootfd(s), &st) < 0 ? -errno : 0);
    if (rc < 0)
        return rc;
    out->type = S_ISREG(st.st_mode)   ? SK_STORAGE_FILE
                : S_ISDIR(st.st_mode) ? SK_STORAGE_DIR
                : S_ISLNK(st.st_mode) ? SK_STORAGE_LINK
                                      : SK_STORAGE_OTHER;
    out->size = (uint64_t)st.st_size;
    out->allocated = (uint64_t)st.st_blocks * 512;
    out->mtime = st.st_mtime;
    return 0;
}

static int px_read(sk_storage_t *s, const char *path, size_t max, unsigned flags, void **buf, size_t *cap, size_t *len)
{
    /* O_NONBLOCK: a fifo in place of the file must not hang us in open(); it is refused below. */
    int fd = open_at(s, path, O_RDONLY | O_NONBLOCK, 0);
    if (fd < 0)
        return fd;
    struct stat st;
    int rc = fstat(fd, &st) < 0 ? -errno : 0;
    if (rc == 0 && !S_ISREG(st.st_mode))
        rc = -EINVAL;
    size_t want = rc == 0 ? (size_t)st.st_size : 0;
    if (rc == 0 && (uint64_t)st.st_size > max) {
        if (flags & SK_STORAGE_PREFIX)
            want = max;
        else
            rc = -EFBIG;
    }
    if (rc == 0 && want + 1 > *cap) {
        void *n = realloc(*buf, want + 1);
        if (!n) {
            rc = -ENOMEM;
        } else {
            *buf = n;
            *cap = want + 1;
        }
    }
    ssize_t got = rc == 0 ? sk_pread_full(fd, *buf, want, 0) : 0;
    close(fd);
    if (rc < 0)
        return rc;
    if (got < 0)
        return (int)got;
    ((char *)*buf)[got] = '\0';
    *len = (size_t)got;
    return 0;
}

static int px_write(sk_storage_t *s, const char *path, const void *data, size_t len, unsigned flags)
{
    if (flags & SK_STORAGE_ATOMIC) {
        const char *leaf;
        int pfd = sk_open_parent_beneath(rootfd(s), path, &leaf);
        if (pfd < 0)
            return pfd;
        int rc = sk_write_file_atomic(pfd, leaf, data, len, 0644);
        close(pfd);
        return rc;
    }
    SK_CRASHPOINT("create");
    int fd = sk_open_beneath(rootfd(s), path, O_WRONLY | O_CREAT | (flags & SK_STORAGE_EXCL ? O_EXCL : O_TRUNC), 0644);
    if (fd < 0)
        return fd;
    int rc = len ? sk_write_all(fd, data, len) : 0;
    if (rc == 0 && (flags & SK_STORAGE_WRITEBACK))
        sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    if (rc == 0 && (flags & SK_STORAGE_SYNC)) {
        SK_CRASHPOINT("fsync");
        if (fsync(fd) < 0)
            rc = -errno;
    }
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc < 0) {
        const char *leaf;
        int pfd = sk_open_parent_beneath(rootfd(s), path, &leaf);
        if (pfd >= 0) {
            SK_CRASHPOINT("unlink");
            unlinkat(pfd, leaf, 0);
            close(pfd);
        }
    }
    return rc;
}

static int px_rename(sk_storage_t *s, const char *from, const char *to, unsigned flags)
{
    const char *fl, *tl;
    int fp = sk_open_parent_beneath(rootfd(s), from, &fl);
    if (fp < 0)
        return fp;
    int tp = sk_open_parent_beneath(rootfd(s), to, &tl);
    if (tp < 0) {
        close(fp);
        return tp;
    }
    int rc = 0;
    SK_CRASHPOINT("rename");
    if (flags & SK_STORAGE_NOREPLACE) {
        /* renameat2 with RENAME_NOREPLACE; where the file system lacks it, check then rename. */
        if (renameat2(fp, fl, tp, tl, RENAME_NOREPLACE) < 0) {
            rc = -errno;
            if (rc == -EINVAL || rc == -ENOSYS) {
                if (faccessat(tp, tl, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
                    rc = -EEXIST;
                } else {
                    SK_CRASHPOINT("rename");
                    rc = renameat(fp, fl, tp, tl) < 0 ? -errno : 0;
                }
            }
        }
    } else if (renameat(fp, fl, tp, tl) < 0) {
        rc = -errno;
    }
    close(fp);
    close(tp);
    return rc;
}

static int px_list(sk_storage_t *s, const char *dir, sk_storage_list_fn fn, void *arg)
{
    int fd = open_at(s, dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return fd;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = -errno;
        close(fd);
        return e;
    }
    rewinddir(d);
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            rc = fn(arg, de->d_name);
    closedir(d);
    return rc;
}

static int px_remove(sk_storage_t *s, const char *path, unsigned flags)
{
    if (!*path)
        return -EINVAL;
    const char *leaf;
    int pfd = sk_open_parent_beneath(rootfd(s), path, &leaf);
    if (pfd < 0)
        return (flags & SK_STORAGE_TREE) && pfd == -ENOENT ? 0 : pfd;
    int rc;
    if (flags & SK_STORAGE_TREE) {
        rc = sk_rm_rf_at(pfd, leaf);
    } else if (flags & SK_STORAGE_EMPTY_DIR) {
        SK_CRASHPOINT("rmdir");
        rc = unlinkat(pfd, leaf, AT_REMOVEDIR) < 0 ? -errno : 0;
    } else {
        SK_CRASHPOINT("unlink");
        rc = unlinkat(pfd, leaf, 0) < 0 ? -errno : 0;
    }
    close(pfd);
    return rc;
}

static int px_mkdir(sk_storage_t *s, const char *path, unsigned mode)
{
    const char *leaf;
    int pfd = sk_open_parent_beneath(rootfd(s), path, &leaf);
    if (pfd < 0)
        return pfd;
    SK_CRASHPOINT("mkdir");
    int rc = mkdirat(pfd, leaf, (mode_t)mode) < 0 ? -errno : 0;
    close(pfd);
    return rc;
}

static int px_sync(sk_storage_t *s, const char *path, unsigned flags)
{
    if (flags & SK_STORAGE_ALL) {
        /* syncfs reports write-back errors of the whole file system since Linux 5.8. */
        SK_CRASHPOINT("fsync");
        return syncfs(rootfd(s)) < 0 ? -errno : 0;
    }
    int fd = open_at(s, path, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    SK_CRASHPOINT("fsync");
    int rc = ((flags & SK_STORAGE_DATA) ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static int px_lock(sk_storage_t *s, const char *path, unsigned flags, sk_storage_lock_t **out)
{
    int oflags = (flags & SK_STORAGE_LOCK_WRITE) ? O_RDWR : O_RDONLY;
    if (flags & SK_STORAGE_LOCK_CREATE) {
        SK_CRASHPOINT("create");
        oflags |= O_CREAT;
    }
    int fd = open_at(s, path, oflags, 0644);
    if (fd < 0)
        return fd;
    int op = ((flags & SK_STORAGE_LOCK_EX) ? LOCK_EX : LOCK_SH) | ((flags & SK_STORAGE_LOCK_NB) ? LOCK_NB : 0);
    sk_storage_lock_t *l = malloc(sizeof(*l));
    if (!l || flock(fd, op) < 0) {
        int e = l ? -errno : -ENOMEM;
        free(l);
        close(fd);
        return e;
    }
    l->fd = fd;
    *out = l;
    return 0;
}

static int px_lock_note(sk_storage_lock_t *l, const char *text, size_t len)
{
    SK_CRASHPOINT("truncate");
    if (ftruncate(l->fd, 0) < 0)
        return -errno;
    SK_CRASHPOINT("write");
    return sk_pwrite_all(l->fd, text, len, 0);
}

static void px_unlock(sk_storage_lock_t *l)
{
    close(l->fd);
    free(l);
}

static int px_open_dir(sk_storage_t *s, const char *path)
{
    return open_at(s, path, O_RDONLY | O_DIRECTORY, 0);
}

static void px_close(sk_storage_t *s)
{
    close(rootfd(s));
    free(s);
}

static const sk_storage_driver_t posix_driver = {
    .name = "posix",
    .info = px_info,
    .read = px_read,
    .write = px_write,
    .rename = px_rename,
    .list = px_list,
    .remove = px_remove,
    .mkdir = px_mkdir,
    .sync = px_sync,
    .lock = px_lock,
    .lock_note = px_lock_note,
    .unlock = px_unlock,
    .open_dir = px_open_dir,
    .close = px_close,
};

int sk_storage_posix_open(const char *root, bool create, sk_storage_t **out)
{
    if (create) {
        int rc = sk_mkdir_p(root, 0755);
        if (rc < 0)
            return rc;
    }
    struct posix *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->base.drv = &posix_driver;
    p->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (p->rootfd < 0) {
        int e = -errno;
        free(p);
        return e;
    }
    *out = &p->base;
    return 0;
}

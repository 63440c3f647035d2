/*
 * freeze: clones a stopped data-dir's included folders into a private frozen
 * folder beside it, so that its snapshot can be read while the node runs
 * again (see freeze.h). The walk mirrors the snapshot's: a top-level link is
 * followed, nothing below it is; regular files are cloned whole (FICLONE
 * keeps holes), folders made, links copied, then owner, mode and mtime set
 * (a folder's after its contents). The identity of every source file goes
 * into the copy's frozen-origin file. Any failure removes what was made.
 */
#include "slotkeeper/freeze.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotkeeper/crashpoint.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/notice.h"
#include "slotkeeper/reflink.h"
#include "slotkeeper/restore.h"
#include "slotkeeper/snapshot.h"

#define FREEZE_MAX_DEPTH 32

struct frz {
    const char *data_dir;
    sk_err_t *err;
    FILE *origin; /* a memory stream of frozen-origin's lines */
    sk_frozen_t *fz;
    bool impossible; /* a clone answered "cannot" */
    char *why;
    size_t whylen;
};

/* Owner, mode and times of a made entry; fd -1: a link, set through its name. */
static int set_meta(struct frz *z, int fd, int dirfd, const char *name, const struct stat *st, const char *full)
{
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    bool link = fd < 0;
    if (st->st_uid != geteuid() || st->st_gid != getegid()) {
        SK_CRASHPOINT("chown");
        int rc = link ? fchownat(dirfd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW)
                      : fchown(fd, st->st_uid, st->st_gid);
        if (rc < 0) {
            if (errno == EPERM) {
                z->impossible = true;
                snprintf(z->why, z->whylen, "%s: cannot give its copy its owner %ld:%ld (not root)", full,
                         (long)st->st_uid, (long)st->st_gid);
                return -EPERM;
            }
            return sk_err_errno(z->err, full);
        }
    }
    if (!link) {
        SK_CRASHPOINT("chmod");
        if (fchmod(fd, st->st_mode & 07777) < 0)
            return sk_err_errno(z->err, full);
    }
    SK_CRASHPOINT("utimes");
    if ((link ? utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) : futimens(fd, ts)) < 0 && !(link && errno == ENOTSUP))
        return sk_err_errno(z->err, full);
    return 0;
}

static int clone_dir(struct frz *z, int src, int dst, const char *rel, int depth);

/* Copies one entry name of folder src (rel: its path in the snapshot) into dst. follow: a
 * top-level included folder, whose link is followed. */
static int clone_entry(struct frz *z, int src, int dst, const char *name, const char *rel, int depth, bool follow)
{
    char full[PATH_MAX];
    sk_path_join(full, sizeof(full), z->data_dir, rel);
    struct stat st;
    if (fstatat(src, name, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW) < 0)
        return sk_err_errno(z->err, full);
    if (S_ISDIR(st.st_mode)) {
        if (depth > FREEZE_MAX_DEPTH)
            return sk_err_set(z->err, -ELOOP, full, "folders nested too deep");
        int sfd = openat(src, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
        if (sfd < 0)
            return sk_err_errno(z->err, full);
        SK_CRASHPOINT("mkdir");
        if (mkdirat(dst, name, 0700) < 0) {
            close(sfd);
            return sk_err_errno(z->err, full);
        }
        int dfd = openat(dst, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0) {
            close(sfd);
            return sk_err_errno(z->err, z->fz->path);
        }
        int rc = clone_dir(z, sfd, dfd, rel, depth + 1);
        if (rc == 0)
            rc = set_meta(z, dfd, -1, NULL, &st, full);
        close(sfd);
        close(dfd);
        return rc;
    }
    if (S_ISREG(st.st_mode)) {
        int sfd = openat(src, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (sfd < 0)
            return sk_err_errno(z->err, full);
        struct stat fst;
        if (fstat(sfd, &fst) < 0) {
            close(sfd);
            return sk_err_errno(z->err, full);
        }
        SK_CRASHPOINT("create");
        int dfd = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (dfd < 0) {
            close(sfd);
            return sk_err_errno(z->err, full);
        }
        SK_CRASHPOINT("clone");
        int rc = sk_clone_fd(sfd, dfd);
        if (rc < 0) {
            if (sk_clone_impossible(rc)) {
                z->impossible = true;
                snprintf(z->why, z->whylen, "%s cannot be cloned (%s)", full, strerror(-rc));
            } else {
                sk_err_set(z->err, rc, full, "cannot clone it into %s: %s", z->fz->path, strerror(-rc));
            }
        }
        if (rc == 0)
            rc = set_meta(z, dfd, -1, NULL, &fst, full);
        close(sfd);
        close(dfd);
        if (rc < 0)
            return rc;
        fprintf(z->origin, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %s\n", (uint64_t)fst.st_dev,
                (uint64_t)fst.st_ino, (uint64_t)fst.st_size,
                (uint64_t)fst.st_mtim.tv_sec * UINT64_C(1000000000) + (uint64_t)fst.st_mtim.tv_nsec, rel);
        z->fz->files++;
        z->fz->bytes += (uint64_t)fst.st_size;
        return 0;
    }
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(src, name, target, sizeof(target) - 1);
        if (n < 0)
            return sk_err_errno(z->err, full);
        target[n] = '\0';
        SK_CRASHPOINT("symlink");
        if (symlinkat(target, dst, name) < 0)
            return sk_err_errno(z->err, full);
        return set_meta(z, -1, dst, name, &st, full);
    }
    /* The snapshot skips it too (and says so when it reads the copy's folder). */
    sk_notice(SK_NOTICE_WARN, "%s: not cloned (not a regular file, folder or symbolic link)", full);
    return 0;
}

static int clone_dir(struct frz *z, int src, int dst, const char *rel, int depth)
{
    char full[PATH_MAX];
    sk_path_join(full, sizeof(full), z->data_dir, rel);
    int lfd = dup(src);
    if (lfd < 0)
        return sk_err_errno(z->err, full);
    DIR *d = fdopendir(lfd);
    if (!d) {
        close(lfd);
        return sk_err_errno(z->err, full);
    }
    rewinddir(d);
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char child[PATH_MAX];
        if (sk_path_join(child, sizeof(child), rel, de->d_name) < 0)
            rc = sk_err_set(z->err, -ENAMETOOLONG, full, NULL);
        else
            rc = clone_entry(z, src, dst, de->d_name, child, depth, false);
    }
    closedir(d);
    return rc;
}

/* Makes DIR/.slotkeeper/frozen-<stamp> and takes its shared lock; a sweep that took the
 * folder first (it was just made: it cannot be ours) makes us try another name. */
static int make_frozen(sk_frozen_t *fz, const char *data_dir, sk_err_t *err)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        char id[SK_ID_MAX];
        sk_snapshot_new_id(id, NULL);
        snprintf(fz->name, sizeof(fz->name), SK_FROZEN_PREFIX "%s", id);
        char rel[PATH_MAX];
        snprintf(rel, sizeof(rel), "%s/%s", SK_SLOT_META_DIR, fz->name);
        sk_path_join(fz->path, sizeof(fz->path), data_dir, rel);
        SK_CRASHPOINT("mkdir");
        if (mkdirat(fz->metafd, fz->name, 0700) < 0)
            return sk_err_errno(err, fz->path);
        int fd = openat(fz->metafd, fz->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
            if (errno == ENOENT)
                continue;
            return sk_err_errno(err, fz->path);
        }
        struct stat a, b;
        if (flock(fd, LOCK_SH | LOCK_NB) == 0 && fstat(fd, &a) == 0 && a.st_nlink > 0 &&
            fstatat(fz->metafd, fz->name, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev) {
            fz->fd = fd;
            return 0;
        }
        close(fd);
    }
    return sk_err_set(err, -EAGAIN, fz->path, "a sweep keeps removing the new frozen folder");
}

int sk_freeze(int datafd, const char *data_dir, const char *const *include, size_t ninclude, sk_frozen_t *fz, char *why,
              size_t whylen, sk_err_t *err)
{
    double t0 = sk_now();
    memset(fz, 0, sizeof(*fz));
    fz->fd = fz->metafd = -1;
    if (whylen)
        why[0] = '\0';
    char *obuf = NULL;
    size_t olen = 0;
    struct frz z = {.data_dir = data_dir, .err = err, .fz = fz, .why = why, .whylen = whylen};
    int rc = 0;
    /* First, without making anything: can each included folder (a top-level link may take it
     * to another file system) be cloned into the data-dir's file system? A probe that cannot
     * tell (e.g. a folder read-only to us) leaves it to the clones themselves. */
    for (size_t i = 0; i < ninclude; i++) {
        char full[PATH_MAX];
        sk_path_join(full, sizeof(full), data_dir, include[i]);
        int ifd = openat(datafd, include[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (ifd < 0)
            return sk_err_errno(err, full);
        int code = 0;
        int p = sk_reflink_probe(ifd, datafd, &code);
        close(ifd);
        if (p == 0) {
            snprintf(why, whylen, "%s cannot be cloned into %s (%s)", full, data_dir, strerror(code));
            return 1;
        }
    }
    SK_CRASHPOINT("mkdir");
    if (mkdirat(datafd, SK_SLOT_META_DIR, 0700) < 0 && errno != EEXIST) {
        char p[PATH_MAX];
        sk_path_join(p, sizeof(p), data_dir, SK_SLOT_META_DIR);
        return sk_err_errno(err, p);
    }
    fz->metafd = sk_open_beneath(datafd, SK_SLOT_META_DIR, O_RDONLY | O_DIRECTORY, 0);
    if (fz->metafd < 0) {
        char p[PATH_MAX];
        sk_path_join(p, sizeof(p), data_dir, SK_SLOT_META_DIR);
        rc = sk_err_set(err, fz->metafd, p, "%s", sk_beneath_strerror(fz->metafd));
        fz->metafd = -1;
        return rc;
    }
    rc = make_frozen(fz, data_dir, err);
    if (rc < 0)
        goto fail;
    z.origin = open_memstream(&obuf, &olen);
    if (!z.origin) {
        rc = sk_err_set(err, -ENOMEM, fz->path, NULL);
        goto fail;
    }
    fprintf(z.origin, "%s\n", SK_FROZEN_ORIGIN_HEAD);
    for (size_t i = 0; i < ninclude && rc == 0; i++)
        rc = clone_entry(&z, datafd, fz->fd, include[i], include[i], 0, true);
    if (fclose(z.origin) != 0 && rc == 0)
        rc = sk_err_set(err, -ENOMEM, fz->path, NULL);
    z.origin = NULL;
    if (rc < 0)
        goto fail;
    SK_CRASHPOINT("mkdir");
    if (mkdirat(fz->fd, SK_SLOT_META_DIR, 0700) < 0) {
        rc = sk_err_errno(err, fz->path);
        goto fail;
    }
    char opath[PATH_MAX];
    sk_path_join(opath, sizeof(opath), fz->path, SK_FROZEN_ORIGIN);
    SK_CRASHPOINT("write");
    int ofd = openat(fz->fd, SK_FROZEN_ORIGIN, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (ofd < 0) {
        rc = sk_err_errno(err, opath);
        goto fail;
    }
    rc = sk_write_all(ofd, obuf, olen);
    close(ofd);
    if (rc < 0) {
        sk_err_set(err, rc, opath, NULL);
        goto fail;
    }
    free(obuf);
    fz->seconds = sk_now() - t0;
    return 0;
fail:
    if (z.origin)
        fclose(z.origin);
    free(obuf);
    if (z.impossible) {
        sk_err_clear(err);
        rc = 1;
    }
    sk_err_t e2;
    sk_err_clear(&e2);
    sk_frozen_discard(fz, &e2);
    return rc;
}

int sk_frozen_discard(sk_frozen_t *fz, sk_err_t *err)
{
    int rc = 0;
    if (fz->metafd >= 0 && fz->name[0]) {
        rc = sk_rm_rf_at(fz->metafd, fz->name);
        if (rc < 0)
            sk_err_set(err, rc, fz->path, "cannot remove the frozen copy (it is swept later)");
    }
    if (fz->fd >= 0)
        close(fz->fd);
    if (fz->metafd >= 0)
        close(fz->metafd);
    fz->fd = fz->metafd = -1;
    fz->name[0] = '\0';
    return rc;
}

int sk_freeze_sweep(int datafd, const char *data_dir, unsigned *removed, sk_err_t *err)
{
    if (removed)
        *removed = 0;
    char meta[PATH_MAX];
    sk_path_join(meta, sizeof(meta), data_dir, SK_SLOT_META_DIR);
    int mfd = sk_open_beneath(datafd, SK_SLOT_META_DIR, O_RDONLY | O_DIRECTORY, 0);
    if (mfd == -ENOENT)
        return 0;
    if (mfd < 0)
        return sk_err_set(err, mfd, meta, "%s", sk_beneath_strerror(mfd));
    int lfd = dup(mfd);
    DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
    if (!d) {
        if (lfd >= 0)
            close(lfd);
        close(mfd);
        return sk_err_errno(err, meta);
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        /* Only what a freeze makes: a folder frozen-<snapshot id>. Anything else is not ours
         * (a frozen copy's own .slotkeeper/frozen-origin file, for one) and stays. */
        if (strncmp(de->d_name, SK_FROZEN_PREFIX, strlen(SK_FROZEN_PREFIX)) ||
            !sk_id_valid(de->d_name + strlen(SK_FROZEN_PREFIX)))
            continue;
        char p[PATH_MAX];
        sk_path_join(p, sizeof(p), meta, de->d_name);
        int fd = openat(mfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP))
            continue;
        /* Held by a freeze or its snapshot (this process's or another's): in use, not stale. */
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
            close(fd);
            continue;
        }
        int r = sk_rm_rf_at(mfd, de->d_name);
        if (fd >= 0)
            close(fd);
        if (r < 0) {
            if (rc == 0)
                rc = sk_err_set(err, r, p, "cannot remove a stale frozen copy");
            continue;
        }
        if (removed)
            (*removed)++;
    }
    closedir(d);
    close(mfd);
    return rc;
}

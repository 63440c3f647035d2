/*
 * repo: opening, locking and laying out a repository (see repo.h for the
 * layout and the write order). Only this file knows where things live on disk.
 */
#include "slotkeeper/repo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "slotkeeper/buf.h"
#include "slotkeeper/crashpoint.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/notice.h"

#define CONFIG_MAGIC "slotkeeper-repository 1"

static void repo_path(const sk_repo_t *r, const char *rel, char *out, size_t len)
{
    if (sk_path_join(out, len, r->path, rel) < 0)
        snprintf(out, len, "%s", r->path);
}

/* Opens a folder; inside the repository (dirfd not AT_FDCWD) never through a symbolic link. */
static int open_dir_at(int dirfd, const char *name)
{
    return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (dirfd == AT_FDCWD ? 0 : O_NOFOLLOW));
}

/* renameat between two paths beneath two folders, following no link on either side. */
static int rename_beneath(int fromfd, const char *from, int tofd, const char *to)
{
    const char *fl, *tl;
    int fp = sk_open_parent_beneath(fromfd, from, &fl);
    if (fp < 0)
        return fp;
    int tp = sk_open_parent_beneath(tofd, to, &tl);
    if (tp < 0) {
        close(fp);
        return tp;
    }
    int rc = renameat(fp, fl, tp, tl) < 0 ? -errno : 0;
    close(fp);
    close(tp);
    return rc;
}

static bool chunk_size_ok(uint64_t cs)
{
    return cs >= SK_CHUNK_SIZE_MIN && cs <= SK_CHUNK_SIZE_MAX && !(cs & (cs - 1));
}

uint32_t sk_repo_chunk_size_for(const sk_repo_t *r, const char *name)
{
    size_t n = strlen(name);
    if ((n > 4 && !strcmp(name + n - 4, ".log")) || (n > 6 && !strcmp(name + n - 6, ".index")))
        return r->log_chunk_size;
    return r->chunk_size;
}

int sk_repo_init(const char *path, uint32_t chunk_size, int level, sk_err_t *err)
{
    return sk_repo_init_ex(path, chunk_size, 0, level, err);
}

int sk_repo_init_ex(const char *path, uint32_t chunk_size, uint32_t log_chunk_size, int level, sk_err_t *err)
{
    char p[PATH_MAX];
    if (!chunk_size_ok(chunk_size))
        return sk_err_set(err, -EINVAL, path, "chunk size must be a power of two from 4 KiB to 64 MiB");
    if (log_chunk_size == 0)
        log_chunk_size = chunk_size > SK_REPO_DEFAULT_LOG_CHUNK ? chunk_size : SK_REPO_DEFAULT_LOG_CHUNK;
    if (!chunk_size_ok(log_chunk_size))
        return sk_err_set(err, -EINVAL, path, "log chunk size must be a power of two from 4 KiB to 64 MiB");
    if (level < 1 || level > 19)
        return sk_err_set(err, -EINVAL, path, "zstd level must be 1..19");
    int rc = sk_mkdir_p(path, 0755);
    if (rc < 0)
        return sk_err_set(err, rc, path, NULL);
    int dfd = open_dir_at(AT_FDCWD, path);
    if (dfd < 0)
        return sk_err_errno(err, path);
    DIR *d = sk_opendir_at(dfd);
    if (!d) {
        close(dfd);
        return sk_err_errno(err, path);
    }
    struct dirent *de;
    int nonempty = 0;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            nonempty = 1;
    closedir(d);
    if (nonempty) {
        close(dfd);
        if (sk_path_join(p, sizeof(p), path, "config") == 0 && access(p, F_OK) == 0)
            return sk_err_set(err, -EEXIST, path, "already a slotkeeper repository");
        return sk_err_set(err, -ENOTEMPTY, path, "folder is not empty");
    }
    static const char *dirs[] = {"chunks", "snapshots", "tmp"};
    for (size_t i = 0; i < 3; i++) {
        SK_CRASHPOINT("mkdir");
        if (mkdirat(dfd, dirs[i], 0755) < 0) {
            rc = sk_err_errno(err, path);
            goto out;
        }
    }
    int cfd = open_dir_at(dfd, "chunks");
    if (cfd < 0) {
        rc = sk_err_errno(err, path);
        goto out;
    }
    for (int i = 0; i < 256 && rc == 0; i++) {
        char name[3];
        snprintf(name, sizeof(name), "%02x", i);
        SK_CRASHPOINT("mkdir");
        if (mkdirat(cfd, name, 0755) < 0)
            rc = sk_err_errno(err, path);
    }
    SK_CRASHPOINT("fsync");
    if (rc == 0 && fsync(cfd) < 0)
        rc = sk_err_errno(err, path);
    close(cfd);
    if (rc < 0)
        goto out;
    SK_CRASHPOINT("create");
    int lfd = openat(dfd, "lock", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (lfd < 0) {
        rc = sk_err_errno(err, path);
        goto out;
    }
    close(lfd);
    char cfg[256];
    int n = snprintf(cfg, sizeof(cfg), CONFIG_MAGIC "\nchunk-size %u\nlog-chunk-size %u\nlevel %d\n", chunk_size,
                     log_chunk_size, level);
    rc = sk_write_file_atomic(dfd, "config", cfg, (size_t)n, 0644);
    if (rc < 0) {
        sk_path_join(p, sizeof(p), path, "config");
        sk_err_set(err, rc, p, NULL);
        goto out;
    }
    rc = sk_fsync_dir(path);
    if (rc < 0)
        sk_err_set(err, rc, path, NULL);
out:
    close(dfd);
    return rc;
}

static int parse_config(sk_repo_t *r, const char *buf, sk_err_t *err)
{
    char p[PATH_MAX];
    repo_path(r, "config", p, sizeof(p));
    const char *s = buf;
    int lineno = 0, seen = 0;
    while (*s) {
        const char *nl = strchr(s, '\n');
        if (!nl)
            return sk_err_set(err, -EBADMSG, p, "line %d: unterminated line", lineno + 1);
        char line[128];
        size_t n = (size_t)(nl - s);
        lineno++;
        if (n >= sizeof(line))
            return sk_err_set(err, -EBADMSG, p, "line %d: line too long", lineno);
        memcpy(line, s, n);
        line[n] = '\0';
        s = nl + 1;
        uint64_t v;
        if (lineno == 1) {
            if (strcmp(line, CONFIG_MAGIC))
                return sk_err_set(err, -EBADMSG, p, "line 1: not a version 1 slotkeeper repository");
        } else if (!strncmp(line, "chunk-size ", 11)) {
            if (sk_parse_uint(line + 11, SK_CHUNK_SIZE_MIN, SK_CHUNK_SIZE_MAX, &v) < 0 || (v & (v - 1)))
                return sk_err_set(err, -EBADMSG, p, "line %d: bad chunk-size", lineno);
            if (seen & 1)
                return sk_err_set(err, -EBADMSG, p, "line %d: chunk-size given twice", lineno);
            r->chunk_size = (uint32_t)v;
            seen |= 1;
        } else if (!strncmp(line, "log-chunk-size ", 15)) {
            if (sk_parse_uint(line + 15, SK_CHUNK_SIZE_MIN, SK_CHUNK_SIZE_MAX, &v) < 0 || (v & (v - 1)))
                return sk_err_set(err, -EBADMSG, p, "line %d: bad log-chunk-size", lineno);
            if (seen & 4)
                return sk_err_set(err, -EBADMSG, p, "line %d: log-chunk-size given twice", lineno);
            r->log_chunk_size = (uint32_t)v;
            seen |= 4;
        } else if (!strncmp(line, "level ", 6)) {
            if (sk_parse_uint(line + 6, 1, 19, &v) < 0)
                return sk_err_set(err, -EBADMSG, p, "line %d: bad level", lineno);
            if (seen & 2)
                return sk_err_set(err, -EBADMSG, p, "line %d: level given twice", lineno);
            r->level = (int)v;
            seen |= 2;
        } else {
            return sk_err_set(err, -EBADMSG, p, "line %d: unknown key", lineno);
        }
    }
    if (lineno == 0)
        return sk_err_set(err, -EBADMSG, p, "empty file");
    if ((seen & 3) != 3)
        return sk_err_set(err, -EBADMSG, p, "missing chunk-size or level");
    if (!(seen & 4)) /* optional: repositories made before it existed use one size */
        r->log_chunk_size = r->chunk_size;
    return 0;
}

static int take_lock(sk_repo_t *r, enum sk_lock_mode mode, uint64_t wait_ms, const char *command, sk_err_t *err)
{
    char p[PATH_MAX];
    repo_path(r, "lock", p, sizeof(p));
    /* A shared lock only reads, so that a repository on a read-only mount can be listed,
     * verified and restored from; the exclusive holder writes its name into the file. */
    int flags = (mode == SK_LOCK_EXCLUSIVE ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW;
    r->lockfd = openat(r->dirfd, "lock", flags);
    if (r->lockfd < 0 && errno == ENOENT) {
        /* The repository's config was read and is valid, so the lock file was removed (by
         * hand, or a copy that left it out): recreate it rather than refuse every command.
         * O_CREAT without O_EXCL: processes doing this at once all open the one file that
         * wins, and so still exclude each other. */
        r->lockfd = openat(r->dirfd, "lock", flags | O_CREAT, 0644);
        if (r->lockfd >= 0)
            sk_notice(SK_NOTICE_WARN, "%s: was missing; recreated it", p);
        else if (errno == EROFS)
            return sk_err_set(err, -ENOENT, p, "missing, and the repository is read-only: it cannot be locked");
    }
    if (r->lockfd < 0)
        return sk_err_errno(err, p);
    int op = (mode == SK_LOCK_EXCLUSIVE ? LOCK_EX : LOCK_SH) | LOCK_NB;
    double deadline = sk_now() + (double)wait_ms / 1000.0;
    bool told = false;
    for (;;) {
        if (flock(r->lockfd, op) == 0)
            break;
        if (errno != EWOULDBLOCK && errno != EINTR)
            return sk_err_errno(err, p);
        if (sk_now() >= deadline) {
            char holder[128] = "";
            char *buf = NULL;
            size_t len;
            if (mode == SK_LOCK_SHARED && sk_read_file_at(r->dirfd, "lock", 4096, &buf, &len) == 0 && len > 0) {
                buf[strcspn(buf, "\n")] = '\0';
                snprintf(holder, sizeof(holder), " (held by %s)", buf);
            }
            free(buf);
            return sk_err_set(err, -EWOULDBLOCK, r->path, "repository is locked by another slotkeeper process%s%s",
                              holder, wait_ms ? "; gave up waiting" : "; use --lock-wait to wait");
        }
        if (!told) {
            sk_notice(SK_NOTICE_INFO, "%s: waiting for the repository lock", r->path);
            told = true;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (mode == SK_LOCK_EXCLUSIVE) {
        char info[128];
        int n = snprintf(info, sizeof(info), "%s pid %ld\n", command ? command : "slotkeeper", (long)getpid());
        SK_CRASHPOINT("truncate");
        if (ftruncate(r->lockfd, 0) == 0)
            (void)!(SK_CRASHPOINT("write"), pwrite(r->lockfd, info, (size_t)n, 0));
    }
    return 0;
}

int sk_repo_open(const char *path, enum sk_lock_mode mode, uint64_t wait_ms, const char *command, sk_repo_t **out,
                 sk_err_t *err)
{
    sk_repo_t *r = calloc(1, sizeof(*r));
    if (!r)
        return sk_err_set(err, -ENOMEM, path, NULL);
    r->dirfd = r->chunksfd = r->snapsfd = r->tmpfd = r->lockfd = r->sessfd = -1;
    int rc;
    if (strlen(path) >= sizeof(r->path) - 64) {
        rc = sk_err_set(err, -ENAMETOOLONG, path, NULL);
        goto fail;
    }
    snprintf(r->path, sizeof(r->path), "%s", path);
    r->dirfd = open_dir_at(AT_FDCWD, path);
    if (r->dirfd < 0) {
        rc = errno == ENOENT ? sk_err_set(err, -ENOENT, path, "no such repository (run 'slotkeeper repo init')")
                             : sk_err_errno(err, path);
        goto fail;
    }
    char *cfg = NULL;
    size_t len;
    rc = sk_read_file_at(r->dirfd, "config", 4096, &cfg, &len);
    if (rc < 0) {
        char p[PATH_MAX];
        repo_path(r, "config", p, sizeof(p));
        rc = rc == -ENOENT ? sk_err_set(err, -ENOENT, path, "not a slotkeeper repository (no config)")
                           : sk_err_set(err, rc, p, NULL);
        goto fail;
    }
    rc = parse_config(r, cfg, err);
    free(cfg);
    if (rc < 0)
        goto fail;
    static const char *names[] = {"chunks", "snapshots", "tmp"};
    int *fds[] = {&r->chunksfd, &r->snapsfd, &r->tmpfd};
    for (int i = 0; i < 3; i++) {
        *fds[i] = open_dir_at(r->dirfd, names[i]);
        if (*fds[i] < 0) {
            char p[PATH_MAX];
            repo_path(r, names[i], p, sizeof(p));
            rc = sk_err_errno(err, p);
            goto fail;
        }
    }
    rc = take_lock(r, mode, wait_ms, command, err);
    if (rc < 0)
        goto fail;
    *out = r;
    return 0;
fail:
    sk_repo_close(r);
    return rc;
}

void sk_repo_close(sk_repo_t *r)
{
    if (!r)
        return;
    sk_repo_session_end(r);
    int fds[] = {r->chunksfd, r->snapsfd, r->tmpfd, r->lockfd, r->dirfd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(r);
}

/* A temporary file "<.name>.tmp.<pid>" whose writer is gone. */
static bool stale_tmp_file(const char *name)
{
    if (name[0] != '.')
        return false;
    const char *t = strstr(name, ".tmp.");
    if (!t)
        return false;
    char *end;
    long pid = strtol(t + 5, &end, 10);
    if (*end || pid <= 0)
        return false;
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* "new-<pid>-<rand>" is a session folder in the moment between its mkdir and its rename,
 * before its writer holds the lock. It is left over when its writer is gone (a process of
 * another pid namespace sharing the repository may look gone; it then fails its rename and
 * reports it, nothing is lost), or when it is older than an hour whatever its pid says. */
static bool stale_new_session(int tmpfd, const char *name)
{
    struct stat st;
    if (fstatat(tmpfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return false;
    if (time(NULL) - st.st_mtime >= 3600)
        return true;
    char *end;
    long pid = strtol(name + 4, &end, 10);
    if (*end != '-' || pid <= 0)
        return false;
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

int sk_repo_sweep(sk_repo_t *r)
{
    int removed = 0;
    DIR *d = sk_opendir_at(r->tmpfd);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, r->sessname))
                continue;
            if (!strncmp(de->d_name, "new-", 4) && !stale_new_session(r->tmpfd, de->d_name))
                continue;
            int fd = openat(r->tmpfd, de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            if (fd < 0)
                continue;
            /* A live writer holds its session's lock; anything we can lock is left over from a crash. */
            if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
                if (sk_rm_rf_at(r->tmpfd, de->d_name) == 0) {
                    removed++;
                    sk_notice(SK_NOTICE_DEBUG, "%s/tmp/%s: removed what an interrupted run left", r->path, de->d_name);
                }
            }
            close(fd);
        }
        closedir(d);
    }
    int dfds[] = {r->snapsfd, r->dirfd};
    for (int i = 0; i < 2; i++) {
        DIR *sd = sk_opendir_at(dfds[i]);
        if (!sd)
            continue;
        struct dirent *de;
        while ((de = readdir(sd)) != NULL)
            if (stale_tmp_file(de->d_name) && (SK_CRASHPOINT("unlink"), unlinkat(dfds[i], de->d_name, 0)) == 0)
                removed++;
        closedir(sd);
    }
    return removed;
}

int sk_repo_session_begin(sk_repo_t *r, sk_err_t *err)
{
    char p[PATH_MAX];
    repo_path(r, "tmp", p, sizeof(p));
    if (r->sessfd >= 0)
        return 0;
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
        rnd = (uint32_t)time(NULL);
    /* Made under a "new-" name that sweeps leave alone, locked, then renamed: a sweep
     * never sees a session folder before its writer holds the lock. */
    char newname[64];
    snprintf(r->sessname, sizeof(r->sessname), "s-%ld-%08x", (long)getpid(), rnd);
    snprintf(newname, sizeof(newname), "new-%ld-%08x", (long)getpid(), rnd);
    SK_CRASHPOINT("mkdir");
    if (mkdirat(r->tmpfd, newname, 0700) < 0) {
        r->sessname[0] = '\0';
        return sk_err_errno(err, p);
    }
    r->sessfd = open_dir_at(r->tmpfd, newname);
    if (r->sessfd < 0 || flock(r->sessfd, LOCK_EX | LOCK_NB) < 0 ||
        (SK_CRASHPOINT("rename"), renameat(r->tmpfd, newname, r->tmpfd, r->sessname)) < 0) {
        int rc = sk_err_errno(err, p);
        if (r->sessfd >= 0)
            close(r->sessfd);
        r->sessfd = -1;
        SK_CRASHPOINT("rmdir");
        unlinkat(r->tmpfd, newname, AT_REMOVEDIR);
        r->sessname[0] = '\0';
        return rc;
    }
    /* Staged chunks are spread over 16 folders, so that workers creating files at the same
     * time do not queue on one directory's lock. */
    for (int i = 0; i < 16; i++) {
        char sub[2] = {"0123456789abcdef"[i], '\0'};
        SK_CRASHPOINT("mkdir");
        if (mkdirat(r->sessfd, sub, 0700) < 0) {
            int rc = sk_err_errno(err, p);
            sk_repo_session_end(r);
            return rc;
        }
    }
    return 0;
}

void sk_repo_session_end(sk_repo_t *r)
{
    if (r->sessfd < 0)
        return;
    int rc = sk_rm_rf_at(r->tmpfd, r->sessname);
    if (rc < 0) {
        sk_notice_errno(SK_NOTICE_WARN, rc, "%s/tmp/%s: cannot remove", r->path, r->sessname);
    }
    close(r->sessfd);
    r->sessfd = -1;
    r->sessname[0] = '\0';
}

void sk_repo_chunk_relpath(const sk_hash_t *h, char *out, size_t len)
{
    char hex[SK_HASH_HEX_LEN + 1];
    sk_hash_hex(h, hex);
    snprintf(out, len, "chunks/%.2s/%s", hex, hex);
}

static void chunk_name(const sk_hash_t *h, char out[3 + SK_HASH_HEX_LEN + 1])
{
    char hex[SK_HASH_HEX_LEN + 1];
    sk_hash_hex(h, hex);
    snprintf(out, 3 + SK_HASH_HEX_LEN + 1, "%.2s/%s", hex, hex);
}

int sk_repo_chunk_stat(sk_repo_t *r, const sk_hash_t *h, uint32_t *csize)
{
    char name[3 + SK_HASH_HEX_LEN + 1];
    chunk_name(h, name);
    struct stat st;
    int rc = sk_stat_beneath(r->chunksfd, name, &st);
    if (rc < 0)
        return rc == -ENOENT ? 0 : rc;
    if (!S_ISREG(st.st_mode) || st.st_size == 0)
        return 0;
    if (csize)
        *csize = (uint32_t)st.st_size;
    return 1;
}

static void staged_name(const sk_hash_t *h, char out[3 + SK_HASH_HEX_LEN + 1])
{
    char hex[SK_HASH_HEX_LEN + 1];
    sk_hash_hex(h, hex);
    snprintf(out, 3 + SK_HASH_HEX_LEN + 1, "%c/%s", hex[0], hex);
}

int sk_repo_chunk_stage(sk_repo_t *r, const sk_hash_t *h, const void *data, size_t len, sk_err_t *err)
{
    char hex[3 + SK_HASH_HEX_LEN + 1], p[PATH_MAX];
    staged_name(h, hex);
    SK_CRASHPOINT("create");
    int fd = sk_open_beneath(r->sessfd, hex, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        snprintf(p, sizeof(p), "%s/tmp/%s/%s", r->path, r->sessname, hex);
        return sk_err_set(err, fd, p, "%s", sk_beneath_strerror(fd));
    }
    int rc = sk_write_all(fd, data, len);
    /* Start writeback now; the fdatasync at commit then finds little left to do. */
    if (rc == 0)
        sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc < 0) {
        snprintf(p, sizeof(p), "%s/tmp/%s/%s", r->path, r->sessname, hex);
        SK_CRASHPOINT("unlink");
        unlinkat(r->sessfd, hex, 0);
        return sk_err_set(err, rc, p, NULL);
    }
    return 0;
}

int sk_repo_chunk_sync(sk_repo_t *r, const sk_hash_t *h, sk_err_t *err)
{
    char hex[3 + SK_HASH_HEX_LEN + 1], p[PATH_MAX];
    staged_name(h, hex);
    int fd = sk_open_beneath(r->sessfd, hex, O_RDONLY, 0);
    int rc = 0;
    SK_CRASHPOINT("fsync");
    if (fd < 0 || fdatasync(fd) < 0) {
        snprintf(p, sizeof(p), "%s/tmp/%s/%s", r->path, r->sessname, hex);
        rc = sk_err_set(err, fd < 0 ? fd : -errno, p, NULL);
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

int sk_repo_chunk_publish(sk_repo_t *r, const sk_hash_t *h, sk_err_t *err)
{
    char hex[3 + SK_HASH_HEX_LEN + 1], name[3 + SK_HASH_HEX_LEN + 1];
    staged_name(h, hex);
    chunk_name(h, name);
    SK_CRASHPOINT("rename");
    int rc = rename_beneath(r->sessfd, hex, r->chunksfd, name);
    if (rc < 0) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/chunks/%s", r->path, name);
        return sk_err_set(err, rc, p, "%s", sk_beneath_strerror(rc));
    }
    return 0;
}

int sk_repo_chunk_dirs_sync(sk_repo_t *r, const bool touched[256], sk_err_t *err)
{
    for (int i = 0; i < 256; i++) {
        if (!touched[i])
            continue;
        char name[3];
        snprintf(name, sizeof(name), "%02x", i);
        int rc = sk_fsync_at(r->chunksfd, name);
        if (rc < 0) {
            char p[PATH_MAX];
            snprintf(p, sizeof(p), "%s/chunks/%s", r->path, name);
            return sk_err_set(err, rc, p, NULL);
        }
    }
    return 0;
}

int sk_repo_chunk_set_aside(sk_repo_t *r, const sk_hash_t *h)
{
    char name[3 + SK_HASH_HEX_LEN + 1], aside[3 + SK_HASH_HEX_LEN + 16];
    chunk_name(h, name);
    snprintf(aside, sizeof(aside), "%s.damaged", name);
    SK_CRASHPOINT("rename");
    int rc = rename_beneath(r->chunksfd, name, r->chunksfd, aside);
    return rc == -ENOENT ? 0 : rc;
}

int sk_repo_sync_all(sk_repo_t *r, sk_err_t *err)
{
    /* syncfs reports write-back errors of the whole file system since Linux 5.8. */
    SK_CRASHPOINT("fsync");
    if (syncfs(r->dirfd) < 0)
        return sk_err_errno(err, r->path);
    return 0;
}

int sk_repo_chunk_read(sk_repo_t *r, const sk_hash_t *h, void **buf, size_t *cap, size_t *len)
{
    char name[3 + SK_HASH_HEX_LEN + 1];
    chunk_name(h, name);
    int fd = sk_open_beneath(r->chunksfd, name, O_RDONLY, 0);
    if (fd < 0) {
        int e = fd;
        char aside[3 + SK_HASH_HEX_LEN + 16];
        snprintf(aside, sizeof(aside), "%s.damaged", name);
        struct stat st;
        if (e == -ENOENT && sk_stat_beneath(r->chunksfd, aside, &st) == 0)
            return -EBADMSG;               /* found damaged earlier and set aside */
        return e == -ELOOP ? -EBADMSG : e; /* a link in place of a chunk is damage */
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > 2 * (uint64_t)SK_CHUNK_SIZE_MAX) {
        close(fd);
        return -EBADMSG;
    }
    size_t need = (size_t)st.st_size;
    if (need > *cap) {
        void *n = realloc(*buf, need);
        if (!n) {
            close(fd);
            return -ENOMEM;
        }
        *buf = n;
        *cap = need;
    }
    ssize_t got = sk_pread_full(fd, *buf, need, 0);
    close(fd);
    if (got < 0)
        return (int)got;
    *len = (size_t)got;
    return 0;
}

static void manifest_tmpname(const char *id, char *out, size_t len)
{
    snprintf(out, len, "%s.manifest", id);
}

int sk_repo_manifest_stage(sk_repo_t *r, const char *id, const char *buf, size_t len, sk_err_t *err)
{
    char name[SK_ID_MAX + 16], p[PATH_MAX];
    manifest_tmpname(id, name, sizeof(name));
    snprintf(p, sizeof(p), "%s/tmp/%s/%s", r->path, r->sessname, name);
    SK_CRASHPOINT("create");
    int fd = openat(r->sessfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return sk_err_errno(err, p);
    int rc = sk_write_all(fd, buf, len);
    SK_CRASHPOINT("fsync");
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc < 0)
        return sk_err_set(err, rc, p, NULL);
    return 0;
}

int sk_repo_manifest_publish(sk_repo_t *r, const char *id, sk_err_t *err)
{
    char name[SK_ID_MAX + 16], p[PATH_MAX];
    manifest_tmpname(id, name, sizeof(name));
    snprintf(p, sizeof(p), "%s/snapshots/%s", r->path, id);
    /* renameat2 with RENAME_NOREPLACE: an id is never reused, not even by a racing writer. */
    SK_CRASHPOINT("rename");
    if (renameat2(r->sessfd, name, r->snapsfd, id, RENAME_NOREPLACE) < 0) {
        if (errno != EINVAL && errno != ENOSYS)
            return sk_err_errno(err, p);
        if (faccessat(r->snapsfd, id, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
            return sk_err_set(err, -EEXIST, p, NULL);
        SK_CRASHPOINT("rename");
        if (renameat(r->sessfd, name, r->snapsfd, id) < 0)
            return sk_err_errno(err, p);
    }
    SK_CRASHPOINT("fsync");
    if (fsync(r->snapsfd) < 0)
        return sk_err_errno(err, p);
    return 0;
}

/* ---- which snapshot is newest (invariant 11) ---- */

/* Reads a key from a manifest's facts or its head lines. */
static void order_set(sk_snap_order_t *o, const char *key, const char *value)
{
    if (!strcmp(key, "source.last-block")) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        if (!errno && end != value && !*end && v <= UINT32_MAX) {
            o->has_head = true;
            o->head = (uint32_t)v;
        }
    } else if (!strcmp(key, "source.chain-id") && strlen(value) == 64) {
        memcpy(o->chain_id, value, 65);
    }
}

void sk_snap_order_of(const sk_manifest_t *m, sk_snap_order_t *o)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->id, sizeof(o->id), "%s", m->id);
    o->time = m->time;
    for (size_t i = 0; i < m->nfacts; i++)
        order_set(o, m->facts[i].key, m->facts[i].value);
}

int sk_snap_order_cmp(const sk_snap_order_t *a, const sk_snap_order_t *b)
{
    uint32_t ha = a->has_head ? a->head : 0, hb = b->has_head ? b->head : 0;
    if (ha != hb)
        return ha < hb ? -1 : 1;
    if (a->time != b->time)
        return a->time < b->time ? -1 : 1;
    return strcmp(a->id, b->id);
}

/* The order keys from a manifest's head (its lines before the first entry), without reading
 * or checking the whole manifest: a damaged one sorts as oldest and is found out when loaded. */
static void order_peek(sk_repo_t *r, const char *id, sk_snap_order_t *o)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->id, sizeof(o->id), "%s", id);
    int fd = openat(r->snapsfd, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return;
    enum { HEAD = 64 * 1024 };
    char *buf = malloc(HEAD + 1);
    struct stat st;
    ssize_t n = buf && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? pread(fd, buf, HEAD, 0) : -1;
    close(fd);
    if (n <= 0) {
        free(buf);
        return;
    }
    buf[n] = '\0';
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(line, "stats ", 6) || line[1] == ' ')
            break; /* the entries begin */
        if (!strncmp(line, "time ", 5)) {
            o->time = strtoll(line + 5, NULL, 10);
        } else if (!strncmp(line, "fact ", 5)) {
            char *key = line + 5, *value = strchr(key, ' ');
            if (value) {
                *value++ = '\0';
                order_set(o, key, value);
            }
        }
    }
    free(buf);
}

static int cmp_order(const void *a, const void *b)
{
    return sk_snap_order_cmp(a, b);
}

int sk_repo_list(sk_repo_t *r, sk_snap_order_t **out, size_t *np, sk_err_t *err)
{
    char p[PATH_MAX];
    repo_path(r, "snapshots", p, sizeof(p));
    DIR *d = fdopendir(dup(r->snapsfd));
    if (!d)
        return sk_err_errno(err, p);
    rewinddir(d);
    sk_snap_order_t *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (!sk_id_valid(de->d_name))
            continue;
        if (sk_grow(&v, &cap, n + 1, sizeof(*v), 16) < 0) {
            rc = sk_err_set(err, -ENOMEM, p, NULL);
            break;
        }
        order_peek(r, de->d_name, &v[n++]);
    }
    closedir(d);
    if (rc < 0) {
        free(v);
        return rc;
    }
    if (n)
        qsort(v, n, sizeof(*v), cmp_order);
    *out = v;
    *np = n;
    return 0;
}

int sk_repo_list_ids(sk_repo_t *r, char ***idsp, size_t *np, sk_err_t *err)
{
    sk_snap_order_t *v;
    size_t n;
    int rc = sk_repo_list(r, &v, &n, err);
    if (rc < 0)
        return rc;
    char **ids = calloc(n ? n : 1, sizeof(*ids));
    for (size_t i = 0; ids && i < n; i++)
        if (!(ids[i] = strdup(v[i].id))) {
            sk_repo_ids_free(ids, i);
            ids = NULL;
        }
    free(v);
    if (!ids)
        return sk_err_set(err, -ENOMEM, r->path, NULL);
    *idsp = ids;
    *np = n;
    return 0;
}

void sk_repo_ids_free(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

int sk_repo_manifest_load(sk_repo_t *r, const char *id, sk_manifest_t **out, sk_err_t *err)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/snapshots/%s", r->path, id);
    if (!sk_id_valid(id))
        return sk_err_set(err, -EINVAL, id, "not a valid snapshot id");
    char *buf;
    size_t len;
    int rc = sk_read_file_at(r->snapsfd, id, SK_MANIFEST_MAX, &buf, &len);
    if (rc == -ENOENT)
        return sk_err_set(err, rc, p, "no such snapshot");
    /* Something other than a manifest-sized regular file under a snapshot's name is damage
     * (so it is marked bad and skipped), not a reason to stop every restore. */
    if (rc == -EINVAL || rc == -ELOOP)
        return sk_err_set(err, -EBADMSG, p, "corrupt manifest: not a regular file");
    if (rc == -EFBIG)
        return sk_err_set(err, -EBADMSG, p, "corrupt manifest: larger than %llu bytes",
                          (unsigned long long)SK_MANIFEST_MAX);
    if (rc < 0)
        return sk_err_set(err, rc, p, NULL);
    char why[256];
    sk_manifest_t *m = NULL;
    rc = sk_manifest_parse(buf, len, &m, why, sizeof(why));
    free(buf);
    if (rc == -EBADMSG)
        return sk_err_set(err, rc, p, "corrupt manifest: %s", why);
    if (rc < 0)
        return sk_err_set(err, rc, p, NULL);
    if (strcmp(m->id, id)) {
        sk_manifest_free(m);
        return sk_err_set(err, -EBADMSG, p, "corrupt manifest: its id does not match its name");
    }
    *out = m;
    return 0;
}

int sk_repo_is_bad(sk_repo_t *r, const char *id, char *reason, size_t len)
{
    char name[SK_ID_MAX + 8];
    snprintf(name, sizeof(name), "%s.bad", id);
    char *buf;
    size_t n;
    int rc = sk_read_file_at(r->snapsfd, name, 64 * 1024, &buf, &n);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0) {
        /* Present but unreadable still means bad. */
        if (reason && len)
            snprintf(reason, len, "marked bad");
        return 1;
    }
    if (reason && len) {
        buf[strcspn(buf, "\n")] = '\0';
        snprintf(reason, len, "%s", buf);
    }
    free(buf);
    return 1;
}

int sk_repo_mark_bad(sk_repo_t *r, const char *id, const char *reason)
{
    char name[SK_ID_MAX + 8], text[1024];
    snprintf(name, sizeof(name), "%s.bad", id);
    int n = snprintf(text, sizeof(text), "%s\n", reason);
    if (n >= (int)sizeof(text))
        n = (int)sizeof(text) - 1;
    int rc = sk_write_file_atomic(r->snapsfd, name, text, (size_t)n, 0644);
    if (rc == -EROFS) {
        /* A read-only repository: the command reads, and reports the snapshot bad itself. */
        sk_notice(SK_NOTICE_DEBUG, "%s/snapshots/%s: read-only; snapshot not marked bad", r->path, name);
    } else if (rc < 0) {
        sk_notice_errno(SK_NOTICE_WARN, rc, "%s/snapshots/%s: cannot mark snapshot bad", r->path, name);
    }
    return rc;
}

int sk_repo_latest_good(sk_repo_t *r, sk_manifest_t **out, sk_err_t *err)
{
    return sk_repo_latest_good_where(r, NULL, 0, NULL, out, err);
}

int sk_repo_latest_good_with(sk_repo_t *r, const char *fact, const char *value, const char *why, sk_manifest_t **out,
                             sk_err_t *err)
{
    sk_fact_t f = {.key = (char *)fact, .value = (char *)value};
    return sk_repo_latest_good_where(r, fact ? &f : NULL, fact ? 1 : 0, why, out, err);
}

int sk_repo_latest_good_where(sk_repo_t *r, const sk_fact_t *where, size_t nwhere, const char *why, sk_manifest_t **out,
                              sk_err_t *err)
{
    char **ids;
    size_t n;
    int rc = sk_repo_list_ids(r, &ids, &n, err);
    if (rc < 0)
        return rc;
    rc = -ENOENT;
    for (size_t i = n; i-- > 0;) {
        if (sk_repo_is_bad(r, ids[i], NULL, 0))
            continue;
        sk_err_t e;
        sk_err_clear(&e);
        int lr = sk_repo_manifest_load(r, ids[i], out, &e);
        bool match = true;
        for (size_t w = 0; lr == 0 && w < nwhere && match; w++) {
            const char *v = sk_manifest_fact(*out, where[w].key);
            match = v && !strcmp(v, where[w].value);
        }
        if (!match) {
            sk_manifest_free(*out);
            *out = NULL;
            continue;
        }
        if (lr == 0) {
            rc = 0;
            break;
        }
        if (lr == -EBADMSG) {
            sk_notice(SK_NOTICE_WARN, "%s: skipped snapshot %s and marked it bad: %s", e.path, ids[i], e.msg);
            sk_repo_mark_bad(r, ids[i], e.msg);
            continue;
        }
        rc = sk_err_set(err, lr, e.path, "%s", e.msg);
        break;
    }
    if (rc == -ENOENT)
        sk_err_set(err, rc, r->path, "no good snapshot in the repository%s%s", why ? " " : "", why ? why : "");
    sk_repo_ids_free(ids, n);
    return rc;
}

int sk_repo_snapshot_remove(sk_repo_t *r, const char *id, sk_err_t *err)
{
    char p[PATH_MAX], bad[SK_ID_MAX + 8];
    snprintf(p, sizeof(p), "%s/snapshots/%s", r->path, id);
    SK_CRASHPOINT("unlink");
    if (unlinkat(r->snapsfd, id, 0) < 0 && errno != ENOENT)
        return sk_err_errno(err, p);
    snprintf(bad, sizeof(bad), "%s.bad", id);
    SK_CRASHPOINT("unlink");
    if (unlinkat(r->snapsfd, bad, 0) < 0 && errno != ENOENT)
        return sk_err_errno(err, p);
    return 0;
}

/*
 * restore: snapshot -> slot data-dir (see restore.h for the order of steps
 * and the folders it keeps inside the slot).
 */
#include "slotkeeper/restore.h"
#include "restore_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "slotkeeper/buf.h"
#include "slotkeeper/chainid.h"
#include "slotkeeper/chunk.h"
#include "slotkeeper/crashpoint.h"
#include "slotkeeper/datadir.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/golden.h"
#include "slotkeeper/paths.h"
#include "slotkeeper/pool.h"
#include "slotkeeper/s3.h"
#include "slotkeeper/notice.h"

void rst_slot_path(const struct rst *r, const char *rel, char *out, size_t len)
{
    sk_path_join(out, len, r->opts->data_dir, rel);
}

/* Takes the fcntl write lock of DIR/<inc>/shared_memory.bin and DIR/<inc>/reversible/shared_memory.bin
 * where they exist, as nodeos does; fails with -EBUSY naming the holder if a live process has it. */
static int lock_state_files(struct rst *r)
{
    static const char *subs[] = {"shared_memory.bin", "reversible/shared_memory.bin"};
    r->lockfds = calloc(r->m->ninclude * 2, sizeof(int));
    r->lockrel = calloc(r->m->ninclude * 2, sizeof(char *));
    if (!r->lockfds || !r->lockrel)
        return sk_err_set(r->err, -ENOMEM, r->opts->data_dir, NULL);
    for (size_t i = 0; i < r->m->ninclude; i++) {
        for (size_t k = 0; k < 2; k++) {
            char rel[PATH_MAX], full[PATH_MAX];
            snprintf(rel, sizeof(rel), "%s/%s", r->m->include[i], subs[k]);
            rst_slot_path(r, rel, full, sizeof(full));
            int fd = sk_open_beneath(r->datafd, rel, O_RDWR, 0);
            if (fd == -EACCES)
                fd = sk_open_beneath(r->datafd, rel, O_RDONLY, 0);
            if (fd < 0) {
                /* Missing, or a link: a link is never followed, and goes to quarantine with its folder. */
                if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
                    continue;
                return sk_err_set(r->err, fd, full, NULL);
            }
            r->lockrel[r->nlocks] = strdup(rel);
            r->lockfds[r->nlocks++] = fd;
            if (!r->lockrel[r->nlocks - 1])
                return sk_err_set(r->err, -ENOMEM, full, NULL);
            struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
            if (fcntl(fd, F_SETLK, &fl) == 0)
                continue;
            if (errno != EAGAIN && errno != EACCES && errno != EBADF)
                return sk_err_errno(r->err, full);
            struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
            if (fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK)
                return sk_err_set(r->err, -EBUSY, full,
                                  "in use by process %ld (a running node holds its lock); stop it first",
                                  (long)q.l_pid);
            if (errno == EBADF)
                continue; /* read-only fd: F_GETLK found nobody */
            return sk_err_set(r->err, -EBUSY, full, "locked by another process; stop it first");
        }
    }
    return 0;
}

/* Reads "quarantine <stamp>" from an existing marker. */
static void read_marker(struct rst *r, bool *present)
{
    char *buf;
    size_t len;
    *present = false;
    if (sk_read_file_at(r->metafd, "restoring", 64 * 1024, &buf, &len) < 0) {
        if (faccessat(r->metafd, "restoring", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
            *present = true;
        return;
    }
    *present = true;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(line, "quarantine ", 11)) {
            const char *s = line + 11;
            if (sk_name_valid(s))
                snprintf(r->stamp, sizeof(r->stamp), "%s", s);
        }
    }
    free(buf);
}

/* Removes the temporary marker (".restoring.tmp.<pid>") a restore killed while writing its
 * marker left: we hold the data-dir's lock, so whoever wrote it is gone. */
static void sweep_marker_tmp(struct rst *r)
{
    DIR *d = sk_opendir_at(r->metafd);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, ".restoring.tmp.", 15))
            continue;
        SK_CRASHPOINT("unlink");
        unlinkat(r->metafd, de->d_name, 0);
    }
    closedir(d);
}

int rst_write_marker(struct rst *r)
{
    char text[512], full[PATH_MAX];
    int n = snprintf(text, sizeof(text),
                     "slotkeeper restore in progress: do not start a node on this data-dir\n"
                     "snapshot %s\nquarantine %s\nmode %s\npid %ld\nstarted %lld\n",
                     r->m->id, r->stamp, r->opts->full ? "full" : "delta", (long)getpid(), (long long)time(NULL));
    int rc = sk_write_file_atomic(r->metafd, "restoring", text, (size_t)n, 0644);
    SK_CRASHPOINT("fsync");
    if (rc == 0 && fsync(r->datafd) < 0)
        rc = -errno;
    rst_slot_path(r, SK_RESTORE_MARKER, full, sizeof(full));
    return rc < 0 ? sk_err_set(r->err, rc, full, NULL) : 0;
}

static int remove_marker(struct rst *r)
{
    char full[PATH_MAX];
    rst_slot_path(r, SK_RESTORE_MARKER, full, sizeof(full));
    SK_CRASHPOINT("unlink");
    if (unlinkat(r->metafd, "restoring", 0) < 0 && errno != ENOENT)
        return sk_err_errno(r->err, full);
    SK_CRASHPOINT("fsync");
    if (fsync(r->metafd) < 0)
        return sk_err_errno(r->err, full);
    return 0;
}

static void new_stamp(struct rst *r)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(r->stamp, sizeof(r->stamp), "%s", base);
    for (int i = 1; i < 1000; i++) {
        char rel[PATH_MAX];
        snprintf(rel, sizeof(rel), "quarantine/%s", r->stamp);
        struct stat st;
        if (sk_stat_beneath(r->metafd, rel, &st) == -ENOENT)
            return;
        snprintf(r->stamp, sizeof(r->stamp), "%s-%d", base, i);
    }
}

static int add_rjob(struct rst *r, size_t *cap, size_t entry, size_t chunk)
{
    if (sk_grow(&r->jobs, cap, r->njobs + 1, sizeof(*r->jobs), 1024) < 0)
        return -ENOMEM;
    r->jobs[r->njobs++] = (struct rjob){.entry = entry, .chunk = chunk};
    return 0;
}

/* Creates the folders, empty sparse files and links of the snapshot under staging, each in its
 * folder opened beneath staging (never through a link). No descriptor is kept: the workers open
 * the files again, so a snapshot of any number of files needs only a few. */
static int stage_entries(struct rst *r)
{
    size_t cap = 0;
    for (size_t i = 0; i < r->m->nentries; i++) {
        sk_mentry_t *e = &r->m->entries[i];
        char full[PATH_MAX], rel[PATH_MAX];
        snprintf(rel, sizeof(rel), "%s/%s", SK_STAGING_DIR, e->path);
        rst_slot_path(r, rel, full, sizeof(full));
        const char *leaf;
        int pfd = sk_open_parent_beneath(r->stagefd, e->path, &leaf);
        if (pfd < 0)
            return sk_err_set(r->err, pfd, full, "%s", sk_beneath_strerror(pfd));
        int rc = 0;
        if (e->type == 'd') {
            SK_CRASHPOINT("mkdir");
            if (mkdirat(pfd, leaf, 0700) < 0)
                rc = sk_err_errno(r->err, full);
        } else if (e->type == 'l') {
            SK_CRASHPOINT("symlink");
            if (symlinkat(e->target, pfd, leaf) < 0)
                rc = sk_err_errno(r->err, full);
        } else {
            SK_CRASHPOINT("create");
            int fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
            if (fd < 0) {
                rc = sk_err_errno(r->err, full);
            } else {
                SK_CRASHPOINT("truncate");
                if (ftruncate(fd, (off_t)e->size) < 0)
                    rc = sk_err_errno(r->err, full);
                close(fd);
            }
            for (size_t c = 0; rc == 0 && c < e->nchunks; c++)
                if (add_rjob(r, &cap, i, c) < 0)
                    rc = sk_err_set(r->err, -ENOMEM, full, NULL);
        }
        close(pfd);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* One worker's buffers and its open staged file (the jobs of one file come in a row). */
struct rworker {
    void *out, *cbuf;
    size_t ccap;
    int fd;
    size_t fd_entry;
    sk_codec_t *codec;
};

static int restore_init(void *arg, void **state)
{
    struct rst *r = arg;
    uint32_t max_cs = sk_manifest_max_chunk_size(r->m);
    struct rworker *w = calloc(1, sizeof(*w));
    if (w) {
        w->fd = -1;
        w->fd_entry = SIZE_MAX;
        w->out = malloc(max_cs);
        w->codec = sk_codec_new(max_cs, 1);
    }
    *state = w;
    return w && w->out && w->codec ? 0 : -ENOMEM;
}

static void restore_fini(void *arg, void *state)
{
    struct rworker *w = state;
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    free(w->out);
    free(w->cbuf);
    sk_codec_free(w->codec);
    free(w);
}

int rst_fetch_chunk(struct rst *r, const sk_mentry_t *e, const sk_mchunk_t *c, void **cbuf, size_t *ccap,
                    sk_codec_t *codec, void *out, size_t len)
{
    size_t clen = 0;
    char cpath[PATH_MAX], full[PATH_MAX];
    sk_repo_chunk_relpath(&c->hash, cpath, sizeof(cpath));
    int rc = sk_repo_chunk_read(r->repo, &c->hash, cbuf, ccap, &clen);
    if (rc == 0 && clen != c->csize)
        rc = -EBADMSG;
    if (rc == 0)
        rc = sk_codec_decompress_check(codec, *cbuf, clen, out, len, &c->hash);
    if (rc == -ENOENT || rc == -EBADMSG) {
        char rp[PATH_MAX];
        sk_path_join(rp, sizeof(rp), r->repo->path, cpath);
        sk_err_set(r->err, -EBADMSG, rp, "%s chunk %llu of %s; snapshot %s marked bad",
                   rc == -ENOENT ? "missing" : "damaged", (unsigned long long)c->index, e->path, r->m->id);
        snprintf(r->damage, sizeof(r->damage), "%s %s (chunk %llu of %s)", rc == -ENOENT ? "missing" : "damaged", cpath,
                 (unsigned long long)c->index, e->path);
        r->damaged = true;
        if (rc == -EBADMSG)
            sk_repo_chunk_set_aside(r->repo, &c->hash);
        return -EBADMSG;
    }
    if (rc < 0) {
        sk_path_join(full, sizeof(full), r->repo->path, cpath);
        return sk_err_set(r->err, rc, full, NULL);
    }
    return 0;
}

static int restore_item(void *arg, void *state, size_t i)
{
    struct rst *r = arg;
    struct rworker *w = state;
    sk_mentry_t *e = &r->m->entries[r->jobs[i].entry];
    sk_mchunk_t *c = &e->chunks[r->jobs[i].chunk];
    uint64_t off = c->index * sk_mentry_chunk_size(r->m, e);
    size_t len = sk_mentry_chunk_len(r->m, e, c->index);
    char full[PATH_MAX];
    int rc = rst_fetch_chunk(r, e, c, &w->cbuf, &w->ccap, w->codec, w->out, len);
    if (rc < 0)
        return rc;
    if (w->fd_entry != r->jobs[i].entry) {
        if (w->fd >= 0)
            close(w->fd);
        w->fd_entry = r->jobs[i].entry;
        w->fd = sk_open_beneath(r->stagefd, e->path, O_WRONLY, 0);
        rc = w->fd < 0 ? w->fd : 0;
    }
    if (rc == 0)
        rc = sk_pwrite_sparse(w->fd, w->out, len, (off_t)off);
    if (rc < 0) {
        char rel[PATH_MAX];
        snprintf(rel, sizeof(rel), "%s/%s", SK_STAGING_DIR, e->path);
        rst_slot_path(r, rel, full, sizeof(full));
        return sk_err_set(r->err, rc, full, NULL);
    }
    sync_file_range(w->fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
    sk_progress_add(r->progress, len);
    return 0;
}

/* Owner, mode and mtime of one staged entry, reached beneath staging without following a link;
 * files and folders are fsynced here. */
static int finish_entry(struct rst *r, size_t i, bool *chown_warned)
{
    sk_mentry_t *e = &r->m->entries[i];
    char full[PATH_MAX], rel[PATH_MAX];
    snprintf(rel, sizeof(rel), "%s/%s", SK_STAGING_DIR, e->path);
    rst_slot_path(r, rel, full, sizeof(full));
    struct timespec ts[2] = {{.tv_sec = e->mtime_sec, .tv_nsec = e->mtime_nsec},
                             {.tv_sec = e->mtime_sec, .tv_nsec = e->mtime_nsec}};
    const char *leaf;
    int pfd = sk_open_parent_beneath(r->stagefd, e->path, &leaf);
    if (pfd < 0)
        return sk_err_set(r->err, pfd, full, "%s", sk_beneath_strerror(pfd));
    int fd = -1, rc = 0;
    if (e->type != 'l') {
        fd = openat(pfd, leaf, (e->type == 'd' ? O_RDONLY | O_DIRECTORY : O_WRONLY) | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            rc = sk_err_errno(r->err, full);
            goto out;
        }
    }
    SK_CRASHPOINT("chown");
    if ((fd >= 0 ? fchown(fd, e->uid, e->gid) : fchownat(pfd, leaf, e->uid, e->gid, AT_SYMLINK_NOFOLLOW)) < 0) {
        if (errno != EPERM) {
            rc = sk_err_errno(r->err, full);
            goto out;
        }
        if (!*chown_warned)
            sk_notice(SK_NOTICE_WARN, "%s: cannot restore owner %u:%u (not root); files keep the current user", full,
                      e->uid, e->gid);
        *chown_warned = true;
    }
    SK_CRASHPOINT("chmod");
    if (fd >= 0 && fchmod(fd, e->mode) < 0) {
        rc = sk_err_errno(r->err, full);
        goto out;
    }
    if (fd >= 0) {
        SK_CRASHPOINT("fsync");
        if (fsync(fd) < 0) {
            rc = sk_err_errno(r->err, full);
            goto out;
        }
        SK_CRASHPOINT("utimes");
        if (futimens(fd, ts) < 0)
            rc = sk_err_errno(r->err, full);
    } else {
        SK_CRASHPOINT("utimes");
        if (utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0)
            rc = sk_err_errno(r->err, full);
    }
out:
    if (fd >= 0)
        close(fd);
    close(pfd);
    return rc;
}

static bool is_state_folder(const char *name)
{
    return !strcmp(name, "state") || !strcmp(name, "shared_mem");
}

int rst_open_quarantine(struct rst *r)
{
    char qrel[PATH_MAX], full[PATH_MAX];
    snprintf(qrel, sizeof(qrel), "%s/%s", SK_QUARANTINE_DIR, r->stamp);
    /* Each level opened without following a link: a link planted at .slotkeeper/quarantine
     * must not carry the slot's folders elsewhere. */
    rst_slot_path(r, SK_QUARANTINE_DIR, full, sizeof(full));
    SK_CRASHPOINT("mkdir");
    if (mkdirat(r->metafd, "quarantine", 0700) < 0 && errno != EEXIST)
        return sk_err_errno(r->err, full);
    int qtop = sk_open_beneath(r->metafd, "quarantine", O_RDONLY | O_DIRECTORY, 0);
    if (qtop < 0)
        return sk_err_set(r->err, qtop, full, "%s", sk_beneath_strerror(qtop));
    SK_CRASHPOINT("mkdir");
    int qfd = mkdirat(qtop, r->stamp, 0700) < 0 && errno != EEXIST
                  ? -errno
                  : sk_open_beneath(qtop, r->stamp, O_RDONLY | O_DIRECTORY, 0);
    close(qtop);
    if (qfd < 0) {
        rst_slot_path(r, qrel, full, sizeof(full));
        return sk_err_set(r->err, qfd, full, "%s", sk_beneath_strerror(qfd));
    }
    return qfd;
}

int rst_lockfd_of(const struct rst *r, const char *rel)
{
    for (size_t i = 0; i < r->nlocks; i++)
        if (!strcmp(r->lockrel[i], rel))
            return r->lockfds[i];
    return -1;
}

/* Moves replaced folders into quarantine and the staged ones into place, state last. */
/* Sets *moved once anything in the slot changed, so a failure before that can leave it as it was. */
static int swap_in(struct rst *r, bool *moved)
{
    char full[PATH_MAX];
    *moved = false;
    int qfd = rst_open_quarantine(r);
    if (qfd < 0)
        return qfd;
    int rc = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        for (size_t i = 0; i < r->m->ninclude && rc == 0; i++) {
            const char *inc = r->m->include[i];
            if (is_state_folder(inc) != (pass == 1))
                continue;
            rst_slot_path(r, inc, full, sizeof(full));
            struct stat st;
            if (fstatat(qfd, inc, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                /* An earlier run already quarantined the original: what is here now is ours. */
                *moved = true;
                rc = sk_rm_rf_at(r->datafd, inc);
                if (rc < 0)
                    sk_err_set(r->err, rc, full, NULL);
            } else if (fstatat(r->datafd, inc, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                SK_CRASHPOINT("rename");
                if (renameat(r->datafd, inc, qfd, inc) < 0)
                    rc = sk_err_errno(r->err, full);
                else
                    *moved = true;
            } else if (errno != ENOENT) {
                rc = sk_err_errno(r->err, full);
            }
        }
    }
    SK_CRASHPOINT("fsync");
    if (rc == 0 && (fsync(qfd) < 0 || (SK_CRASHPOINT("fsync"), fsync(r->datafd)) < 0))
        rc = sk_err_errno(r->err, r->opts->data_dir);
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        for (size_t i = 0; i < r->m->ninclude && rc == 0; i++) {
            const char *inc = r->m->include[i];
            if (is_state_folder(inc) != (pass == 1))
                continue;
            rst_slot_path(r, inc, full, sizeof(full));
            SK_CRASHPOINT("rename");
            if (renameat(r->stagefd, inc, r->datafd, inc) < 0)
                rc = sk_err_errno(r->err, full);
            else if ((*moved = true, SK_CRASHPOINT("fsync"), fsync(r->datafd) < 0))
                rc = sk_err_errno(r->err, full);
        }
    }
    close(qfd);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keeps the newest `keep` quarantined copies (0 with --quarantine=delete) and removes empty ones. */
static void apply_quarantine_policy(struct rst *r, unsigned keep, sk_restore_result_t *res)
{
    int qfd = sk_open_beneath(r->metafd, "quarantine", O_RDONLY | O_DIRECTORY, 0);
    if (qfd < 0)
        return;
    SK_CRASHPOINT("rmdir");
    unlinkat(qfd, r->stamp, AT_REMOVEDIR); /* succeeds only when nothing was replaced */
    DIR *d = sk_opendir_at(qfd);
    char **names = NULL;
    size_t n = 0, cap = 0;
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            if (sk_grow(&names, &cap, n + 1, sizeof(*names), 16) < 0)
                break;
            if (!(names[n] = strdup(de->d_name)))
                break;
            n++;
        }
        closedir(d);
    }
    if (n)
        qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (i + keep >= n) {
            if (!strcmp(names[i], r->stamp))
                snprintf(res->quarantine, sizeof(res->quarantine), "%s/%s/%s", r->opts->data_dir, SK_QUARANTINE_DIR,
                         names[i]);
            continue;
        }
        int rc = sk_rm_rf_at(qfd, names[i]);
        if (rc < 0) {
            sk_notice_errno(SK_NOTICE_WARN, rc, "%s/%s/%s: cannot remove old quarantined copy", r->opts->data_dir,
                            SK_QUARANTINE_DIR, names[i]);
        }
    }
    SK_CRASHPOINT("fsync");
    fsync(qfd);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    close(qfd);
}

/* The chain restores choose in (invariant 11): the slot's own (its block log, else its genesis.json),
 * else --chain-id. want is set to it, or left empty when neither names one. */
static int restore_chain(const sk_restore_opts_t *opts, char want[SK_CHAIN_ID_HEX], char *from, size_t fromlen,
                         sk_err_t *err)
{
    const char *src = NULL;
    sk_err_t cerr;
    sk_err_clear(&cerr);
    /* A slot whose block log and genesis.json cannot tell (damaged, or none) has no identity. */
    if (sk_chainid_of_datadir(opts->data_dir, want, &src, &cerr) < 0)
        want[0] = '\0';
    snprintf(from, fromlen, "the slot's %s names", src ? src : "");
    if (!opts->chain_id)
        return 0;
    if (!sk_chainid_valid(opts->chain_id))
        return sk_err_set(err, -EINVAL, opts->chain_id, "not a chain id (64 lowercase hex digits)");
    if (want[0] && strcmp(want, opts->chain_id) && !opts->force_chain)
        return sk_err_set(err, -EPROTOTYPE, opts->data_dir,
                          "its %s chain %s, not --chain-id %s; nothing restored (--force-chain to cross chains)", src,
                          want, opts->chain_id);
    if (!want[0] || opts->force_chain) {
        snprintf(want, SK_CHAIN_ID_HEX, "%s", opts->chain_id);
        snprintf(from, fromlen, "--chain-id names");
    }
    return 0;
}

/* With no chain to choose in: refuses (-EPROTOTYPE) when good snapshots of several chains are
 * in the repository, rather than guess. */
static int one_chain_only(sk_repo_t *repo, const sk_restore_opts_t *opts, sk_err_t *err)
{
    sk_snap_order_t *v;
    size_t n;
    int rc = sk_repo_list(repo, &v, &n, err);
    if (rc < 0)
        return rc;
    const char *first = NULL;
    for (size_t i = n; i-- > 0 && rc == 0;) {
        if (!v[i].chain_id[0] || sk_repo_is_bad(repo, v[i].id, NULL, 0))
            continue;
        if (!first)
            first = v[i].chain_id;
        else if (strcmp(first, v[i].chain_id))
            rc =
                sk_err_set(err, -EPROTOTYPE, opts->data_dir,
                           "no block log or genesis.json names the slot's chain, and the repository holds snapshots of "
                           "several chains (%s, %s); choose one with --chain-id ID",
                           first, v[i].chain_id);
    }
    free(v);
    return rc;
}

static int load_manifest(sk_repo_t *repo, const sk_restore_opts_t *opts, sk_manifest_t **m, sk_err_t *err)
{
    const char *which = opts->snapshot, *env = opts->require_env;
    char want[SK_CHAIN_ID_HEX], from[64];
    int rc = restore_chain(opts, want, from, sizeof(from), err);
    if (rc < 0)
        return rc;
    if (!strcmp(which, "latest")) {
        if (!want[0] && !opts->force_chain && (rc = one_chain_only(repo, opts, err)) < 0)
            return rc;
        sk_fact_t where[2];
        size_t nwhere = 0;
        char why[256] = "";
        if (env) {
            where[nwhere++] = (sk_fact_t){.key = "state.environment", .value = (char *)env};
            snprintf(why, sizeof(why), "whose state environment matches the reference");
        }
        if (want[0]) {
            where[nwhere++] = (sk_fact_t){.key = "source.chain-id", .value = want};
            snprintf(why + strlen(why), sizeof(why) - strlen(why), "%sof chain %s", env ? " and " : "", want);
        }
        sk_err_t lerr;
        sk_err_clear(&lerr);
        rc = sk_repo_latest_good_where(repo, where, nwhere, why[0] ? why : NULL, m, &lerr);
        /* With a reference, "none found" means none the slot's nodeos would accept. */
        if (rc == -ENOENT && env)
            rc = -EPROTOTYPE;
        return rc < 0 ? sk_err_set(err, rc, lerr.path, "%s", lerr.msg) : 0;
    }
    if (!sk_id_valid(which))
        return sk_err_set(err, -EINVAL, which, "not a valid snapshot id");
    char reason[256];
    if (sk_repo_is_bad(repo, which, reason, sizeof(reason))) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/snapshots/%s", repo->path, which);
        return sk_err_set(err, -EBADMSG, p, "snapshot is marked bad: %s", reason);
    }
    sk_err_t lerr;
    sk_err_clear(&lerr);
    rc = sk_repo_manifest_load(repo, which, m, &lerr);
    if (rc == -EBADMSG) {
        sk_repo_mark_bad(repo, which, lerr.msg);
        return sk_err_set(err, rc, lerr.path, "%s; snapshot marked bad", lerr.msg);
    }
    if (rc < 0)
        return sk_err_set(err, rc, lerr.path, "%s", lerr.msg);
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/snapshots/%s", repo->path, which);
    const char *have = sk_manifest_fact(*m, "state.environment");
    if (env && (!have || strcmp(have, env))) {
        sk_manifest_free(*m);
        *m = NULL;
        return sk_err_set(err, -EPROTOTYPE, p,
                          "its state was made in another environment than the reference's "
                          "(OS, arch, Boost or compiler); nodeos would refuse it");
    }
    /* A snapshot that records no chain id (made before slotkeeper recorded it for every log)
     * cannot be checked: named, it is restored. */
    const char *chain = sk_manifest_fact(*m, "source.chain-id");
    if (want[0] && chain && strcmp(chain, want) && !opts->force_chain) {
        rc = sk_err_set(err, -EPROTOTYPE, p,
                        "a snapshot of chain %s, but %s chain %s; nothing restored (--force-chain to cross chains)",
                        chain, from, want);
        sk_manifest_free(*m);
        *m = NULL;
        return rc;
    }
    return 0;
}

int sk_restore(sk_repo_t *repo, const sk_restore_opts_t *opts, sk_progress_t *progress, sk_restore_result_t *res,
               sk_err_t *err)
{
    double t0 = sk_now();
    struct rst r = {.repo = repo, .opts = opts, .err = err, .progress = progress};
    r.datafd = r.metafd = r.stagefd = -1;
    memset(res, 0, sizeof(*res));
    bool marker_before = false, marker_ours = false, swapped = false;
    /* One request in flight per worker: on an object store, as many workers as it runs transfers. */
    int threads = opts->threads > 0 ? opts->threads : sk_pool_default_threads();
    threads = sk_s3_threads(repo->st, threads);
    /* Never a repository inside, above or equal to the slot (nor a system folder as slot): the
     * swap would move the live repository into quarantine. */
    const sk_paths_item_t apart[] = {{"repository", repo->path, false}, {"data-dir", opts->data_dir, true}};
    int rc = sk_paths_check_apart(apart, 2, NULL, err);
    if (rc < 0)
        return rc;
    rc = load_manifest(repo, opts, &r.m, err);
    if (rc < 0)
        goto out;
    snprintf(res->id, sizeof(res->id), "%s", r.m->id);

    rc = sk_mkdir_p(opts->data_dir, 0755);
    if (rc < 0) {
        sk_err_set(err, rc, opts->data_dir, NULL);
        goto out;
    }
    r.datafd = open(opts->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r.datafd < 0) {
        rc = sk_err_errno(err, opts->data_dir);
        goto out;
    }
    rc = sk_datadir_flock(r.datafd, opts->data_dir, true, err);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < r.m->ninclude; i++) {
        struct stat st;
        char full[PATH_MAX];
        rst_slot_path(&r, r.m->include[i], full, sizeof(full));
        if (fstatat(r.datafd, r.m->include[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            rc = sk_err_set(err, -EINVAL, full, "is a symbolic link; restore into a data-dir where it is a folder");
            goto out;
        }
        struct stat dst;
        if (fstat(r.datafd, &dst) == 0 && dst.st_dev != st.st_dev) {
            rc = sk_err_set(
                err, -EXDEV, full,
                "is a mount point; it cannot be swapped atomically (restore into the data-dir that holds it)");
            goto out;
        }
    }
    rc = lock_state_files(&r);
    if (rc < 0)
        goto out;
    SK_CRASHPOINT("mkdir");
    if (mkdirat(r.datafd, SK_SLOT_META_DIR, 0700) < 0 && errno != EEXIST) {
        rc = sk_err_errno(err, opts->data_dir);
        goto out;
    }
    r.metafd = sk_open_beneath(r.datafd, SK_SLOT_META_DIR, O_RDONLY | O_DIRECTORY, 0);
    if (r.metafd < 0) {
        char full[PATH_MAX];
        rst_slot_path(&r, SK_SLOT_META_DIR, full, sizeof(full));
        rc = sk_err_set(err, r.metafd, full, "%s", sk_beneath_strerror(r.metafd));
        goto out;
    }
    read_marker(&r, &marker_before);
    sweep_marker_tmp(&r);
    res->resumed = marker_before;
    if (!r.stamp[0])
        new_stamp(&r);
    rc = sk_rm_rf_at(r.metafd, "staging");
    if (rc < 0) {
        char full[PATH_MAX];
        rst_slot_path(&r, SK_STAGING_DIR, full, sizeof(full));
        sk_err_set(err, rc, full, NULL);
        goto out;
    }

    r.threads = threads;
    /* Restore by cloning (golden.h), part 1: whether the repository's golden copy holds this
     * snapshot, verified, and clones work from it into the slot's file system. If so, the files
     * are cloned into staging (part 2) and swapped in, whatever --full says, and no data byte is
     * written nor needed free; if not, a one-line note says why and the chunks are written: by
     * the delta restore (the default), or into staging with --full. */
    char cwhy[512];
    bool clone = sk_golden_usable(repo, r.m, r.metafd, cwhy, sizeof(cwhy)) == 1;
    if (!clone && cwhy[0])
        sk_notice(SK_NOTICE_INFO, "%s: not restoring by cloning: %s", opts->data_dir, cwhy);
    if (!clone && !opts->full) {
        snprintf(res->path, sizeof(res->path), "delta");
        rc = rst_delta(&r, res, &swapped);
        marker_ours = r.marker_written;
        if (rc < 0 && r.damaged)
            sk_repo_mark_bad(repo, r.m->id, r.damage);
        if (rc < 0)
            goto out;
        goto done;
    }
    snprintf(res->path, sizeof(res->path), "full");

    /* Free space: every data byte is written (none when cloning), plus a block per entry. */
    uint64_t need = (clone ? 0 : r.m->data_bytes) + (uint64_t)r.m->nentries * 4096 + 1024 * 1024, avail = 0;
    rc = sk_fs_avail(opts->data_dir, &avail);
    if (rc < 0) {
        sk_err_set(err, rc, opts->data_dir, NULL);
        goto out;
    }
    if (need > avail) {
        char a[32], b[32];
        rc = sk_err_set(err, -ENOSPC, opts->data_dir, "not enough space: the snapshot needs %s, %s available",
                        sk_fmt_bytes(need, a, sizeof(a)), sk_fmt_bytes(avail, b, sizeof(b)));
        goto out;
    }

    rc = rst_write_marker(&r);
    if (rc < 0)
        goto out;
    marker_ours = true;
    SK_CRASHPOINT("mkdir");
    if (mkdirat(r.metafd, "staging", 0700) < 0) {
        rc = sk_err_errno(err, opts->data_dir);
        goto out;
    }
    r.stagefd = sk_open_beneath(r.metafd, "staging", O_RDONLY | O_DIRECTORY, 0);
    if (r.stagefd < 0) {
        char full[PATH_MAX];
        rst_slot_path(&r, SK_STAGING_DIR, full, sizeof(full));
        rc = sk_err_set(err, r.stagefd, full, "%s", sk_beneath_strerror(r.stagefd));
        goto out;
    }
    /* Restore by cloning, part 2: staging made of clones of the golden copy's files, no chunk
     * written (invariant 5: their bytes were checked when the golden copy was verified). A clone
     * that fails (FICLONE half-way, a golden file changed since its verification) empties
     * staging again, says why, and the chunks are written: then they need their space. */
    snprintf(res->path, sizeof(res->path), "full");
    if (clone) {
        char spath[PATH_MAX];
        rst_slot_path(&r, SK_STAGING_DIR, spath, sizeof(spath));
        if (sk_golden_clone_into(repo, r.m, r.stagefd, spath, &res->bytes_cloned, cwhy, sizeof(cwhy), err) == 1) {
            snprintf(res->path, sizeof(res->path), "clone");
            goto staged;
        }
        sk_notice(SK_NOTICE_INFO, "%s: not restoring by cloning: %s", opts->data_dir, cwhy);
        if (sk_fs_avail(opts->data_dir, &avail) == 0 && need + r.m->data_bytes > avail) {
            char a[32], b[32];
            rc = sk_err_set(err, -ENOSPC, opts->data_dir, "not enough space: the snapshot needs %s, %s available",
                            sk_fmt_bytes(need + r.m->data_bytes, a, sizeof(a)), sk_fmt_bytes(avail, b, sizeof(b)));
            goto out;
        }
    }
    rc = stage_entries(&r);
    if (rc < 0)
        goto out;
    sk_progress_start(progress, "restore", r.m->data_bytes);
    sk_pool_each_t each = {.n = r.njobs,
                           .arg = &r,
                           .init = restore_init,
                           .item = restore_item,
                           .fini = restore_fini,
                           .err = err,
                           .path = opts->data_dir};
    sk_pool_each(threads, &each, sk_progress_tick, progress);
    sk_progress_end(progress);
    if (err->code) {
        rc = err->code;
        if (r.damaged)
            sk_repo_mark_bad(repo, r.m->id, r.damage);
        goto out;
    }
    res->bytes_written = r.m->data_bytes;
staged:;
    bool chown_warned = false;
    for (size_t i = r.m->nentries; i-- > 0;) {
        rc = finish_entry(&r, i, &chown_warned);
        if (rc < 0)
            goto out;
    }
    SK_CRASHPOINT("fsync");
    if (fsync(r.stagefd) < 0) {
        rc = sk_err_errno(err, opts->data_dir);
        goto out;
    }
    /* Once swap_in has changed the slot, a failure leaves the marker in place. */
    rc = swap_in(&r, &swapped);
    if (rc < 0)
        goto out;
    res->bytes_written = r.m->data_bytes;
done:
    rc = remove_marker(&r);
    if (rc < 0)
        goto out;
    marker_ours = false;
    apply_quarantine_policy(&r, opts->quarantine_delete ? 0 : opts->keep, res);
    res->files = r.m->files;
    res->data_bytes = r.m->data_bytes;
    res->seconds = sk_now() - t0;
out:
    if (r.stagefd >= 0)
        close(r.stagefd);
    if (r.metafd >= 0) {
        int rr = sk_rm_rf_at(r.metafd, "staging");
        if (rr < 0) {
            sk_notice_errno(SK_NOTICE_WARN, rr, "%s/%s: cannot remove", opts->data_dir, SK_STAGING_DIR);
        }
        /* A failure before the swap leaves the slot as it was: take our marker back,
         * unless an interrupted restore had left one (then the slot is still half-restored). */
        if (rc < 0 && marker_ours && !swapped && !marker_before) {
            remove_marker(&r);
            /* What a delta restore saved before it changed anything is still in the slot. */
            int qtop = opts->full ? -1 : sk_open_beneath(r.metafd, "quarantine", O_RDONLY | O_DIRECTORY, 0);
            if (qtop >= 0) {
                sk_rm_rf_at(qtop, r.stamp);
                fsync(qtop);
                close(qtop);
            }
        }
        SK_CRASHPOINT("fsync");
        fsync(r.metafd);
        close(r.metafd);
    }
    for (size_t i = 0; i < r.nlocks; i++) {
        close(r.lockfds[i]);
        free(r.lockrel[i]);
    }
    free(r.lockfds);
    free(r.lockrel);
    if (r.datafd >= 0)
        close(r.datafd);
    free(r.jobs);
    sk_manifest_free(r.m);
    return rc < 0 ? rc : 0;
}

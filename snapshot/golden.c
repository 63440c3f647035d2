/*
 * golden: the golden copy of a repository, its update (only the changed chunks written, then
 * verified and swapped in), its verification, and the restore by cloning (see golden.h for the
 * layout and the rules). Everything is reached beneath the repository's root folder, opened
 * through the storage driver (open_dir), never through a symbolic link.
 */
#include "slotkeeper/golden.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "slotkeeper/chunk.h"
#include "slotkeeper/crashpoint.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/pool.h"
#include "slotkeeper/reflink.h"
#include "slotkeeper/storage.h"

#define RECORD_MAGIC "slotkeeper-golden 1"
#define COPY_BUF     (1024 * 1024)

static void gpath(const sk_repo_t *r, const char *rel, char *out, size_t len)
{
    if (sk_path_join(out, len, r->path, rel) < 0)
        snprintf(out, len, "%s", r->path);
}

/* The repository's root folder, or -ENOTSUP with the reason when its storage is not local. */
static int open_root(sk_repo_t *r, sk_err_t *err)
{
    int fd = sk_storage_open_dir(r->st, "");
    if (fd == -ENOTSUP || fd == -EOPNOTSUPP)
        return sk_err_set(err, -ENOTSUP, r->path,
                          "the repository's storage is not a local file system: it keeps no golden copy");
    if (fd < 0)
        return sk_err_set(err, fd, r->path, NULL);
    return fd;
}

/* A golden copy's record and manifest, read beneath dirfd (golden/ or golden.new/). */
struct gcopy {
    char id[SK_ID_MAX];
    int64_t verified;                               /* seconds */
    uint32_t verified_ns;                           /* and nanoseconds */
    unsigned incremental;                           /* updates since the last full verification */
    uint64_t upd_written, upd_verified, upd_reused; /* the update that made it (0 after a verify) */
    uint64_t upd_rewritten;                         /* files it wrote whole: changed from outside */
    bool upd_full;                                  /* it re-hashed every byte */
    bool damaged;
    char reason[256];
    sk_manifest_t *m;
};

/* Reads what the folder holds. 0 with g filled; -ENOENT when there is no record; -EBADMSG when
 * the record or manifest is unreadable (why says). The manifest is loaded only when want_m. */
static int read_copy(int dirfd, bool want_m, struct gcopy *g, char *why, size_t whylen)
{
    memset(g, 0, sizeof(*g));
    char *buf;
    size_t len;
    int rc = sk_read_file_at(dirfd, "record", 4096, &buf, &len);
    if (rc < 0) {
        snprintf(why, whylen, "no record: %s", strerror(-rc));
        return rc == -ENOENT ? -ENOENT : -EBADMSG;
    }
    int seen = 0;
    char *save = NULL;
    int line = 0;
    for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save), line++) {
        if (line == 0) {
            if (strcmp(l, RECORD_MAGIC))
                break;
            seen |= 1;
        } else if (!strncmp(l, "snapshot ", 9) && sk_id_valid(l + 9)) {
            snprintf(g->id, sizeof(g->id), "%s", l + 9);
            seen |= 2;
        } else if (!strncmp(l, "verified ", 9)) {
            char *end;
            g->verified = strtoll(l + 9, &end, 10);
            if (*end == '.')
                g->verified_ns = (uint32_t)strtoul(end + 1, NULL, 10) % 1000000000u;
            seen |= 4;
        } else if (!strncmp(l, "incremental ", 12)) {
            g->incremental = (unsigned)strtoul(l + 12, NULL, 10);
        } else if (!strncmp(l, "update ", 7)) {
            unsigned full = 0;
            if (sscanf(l + 7, "written %" SCNu64 " verified %" SCNu64 " reused %" SCNu64 " full %u rewritten %" SCNu64,
                       &g->upd_written, &g->upd_verified, &g->upd_reused, &full, &g->upd_rewritten) >= 4)
                g->upd_full = full != 0;
        }
    }
    free(buf);
    if (seen != 7) {
        snprintf(why, whylen, "its record is not a golden copy's record");
        return -EBADMSG;
    }
    if (sk_read_file_at(dirfd, "damaged", 4096, &buf, &len) == 0) {
        g->damaged = true;
        buf[strcspn(buf, "\n")] = '\0';
        snprintf(g->reason, sizeof(g->reason), "%s", buf);
        free(buf);
    } else if (faccessat(dirfd, "damaged", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
        g->damaged = true;
        snprintf(g->reason, sizeof(g->reason), "marked damaged");
    }
    if (!want_m)
        return 0;
    rc = sk_read_file_at(dirfd, "manifest", SK_MANIFEST_MAX, &buf, &len);
    if (rc < 0) {
        snprintf(why, whylen, "its manifest cannot be read: %s", strerror(-rc));
        return -EBADMSG;
    }
    char mwhy[256];
    rc = sk_manifest_parse(buf, len, &g->m, mwhy, sizeof(mwhy));
    free(buf);
    if (rc < 0) {
        snprintf(why, whylen, "its manifest is corrupt: %s", mwhy);
        return -EBADMSG;
    }
    if (strcmp(g->m->id, g->id)) {
        snprintf(why, whylen, "its manifest is of snapshot %s, its record says %s", g->m->id, g->id);
        sk_manifest_free(g->m);
        g->m = NULL;
        return -EBADMSG;
    }
    return 0;
}

static void free_copy(struct gcopy *g)
{
    sk_manifest_free(g->m);
    g->m = NULL;
}

int sk_golden_status(sk_repo_t *r, sk_golden_status_t *st, sk_err_t *err)
{
    memset(st, 0, sizeof(*st));
    st->enabled = r->golden;
    int root = open_root(r, err);
    if (root < 0)
        return root;
    int gfd = sk_open_beneath(root, SK_GOLDEN_DIR, O_RDONLY | O_DIRECTORY, 0);
    close(root);
    if (gfd == -ENOENT)
        return 0;
    if (gfd < 0) {
        char p[PATH_MAX];
        gpath(r, SK_GOLDEN_DIR, p, sizeof(p));
        return sk_err_set(err, gfd, p, "%s", sk_beneath_strerror(gfd));
    }
    struct gcopy g;
    char why[256];
    int rc = read_copy(gfd, true, &g, why, sizeof(why));
    close(gfd);
    if (rc == -ENOENT)
        return 0;
    st->present = true;
    if (rc < 0) {
        st->damaged = true;
        snprintf(st->reason, sizeof(st->reason), "%s", why);
        return 0;
    }
    snprintf(st->id, sizeof(st->id), "%s", g.id);
    st->verified = g.verified;
    st->incremental = g.incremental;
    st->last_written = g.upd_written;
    st->last_verified = g.upd_verified;
    st->last_reused = g.upd_reused;
    st->last_full = g.upd_full;
    st->last_rewritten = g.upd_rewritten;
    st->damaged = g.damaged;
    snprintf(st->reason, sizeof(st->reason), "%s", g.reason);
    st->files = g.m->files;
    st->size = g.m->logical_bytes;
    free_copy(&g);
    return 0;
}

/* ---- update ---- */

struct upd {
    sk_repo_t *r;
    sk_err_t *err;
    sk_progress_t *progress;
    const sk_manifest_t *m;   /* the new snapshot */
    const sk_manifest_t *old; /* the current golden copy's, or NULL */
    int oldtree, newtree;     /* golden/tree and golden.new/tree */
    int64_t old_verified;     /* when the current copy was verified (seconds, nanoseconds) */
    uint32_t old_verified_ns;
    const sk_mentry_t **from; /* per entry of m: the old file it was carried from, or NULL */
    bool full_verify;         /* re-hash every byte of the new copy, not only what changed */
    bool verify_failed;       /* the new copy did not verify */
    unsigned old_incremental; /* the current copy's updates since its last full verification */
    bool reflink;
    sk_codec_t *codec;
    void *cbuf, *out, *copybuf;
    size_t ccap;
    sk_golden_result_t *res;
};

static void new_path(struct upd *u, const char *rel, char *out, size_t len)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/tree/%s", SK_GOLDEN_NEW, rel);
    gpath(u->r, p, out, len);
}

static const sk_mentry_t *old_entry(const sk_manifest_t *old, const char *path)
{
    if (!old)
        return NULL;
    for (size_t i = 0; i < old->nentries; i++)
        if (!strcmp(old->entries[i].path, path))
            return &old->entries[i];
    return NULL;
}

/* dst gets src's bytes: a clone where the file system can, else a copy (holes kept). */
static int clone_or_copy(struct upd *u, int src, int dst, uint64_t size)
{
    if (u->reflink) {
        SK_CRASHPOINT("clone");
        int rc = sk_clone_fd(src, dst);
        if (rc == 0)
            return 0;
        if (!sk_clone_impossible(rc))
            return rc;
        u->reflink = false;
    }
    if (!u->copybuf && !(u->copybuf = malloc(COPY_BUF)))
        return -ENOMEM;
    for (uint64_t off = 0; off < size; off += COPY_BUF) {
        size_t n = size - off < COPY_BUF ? (size_t)(size - off) : COPY_BUF;
        ssize_t got = sk_pread_full(src, u->copybuf, n, (off_t)off);
        if (got < 0)
            return (int)got;
        if ((size_t)got < n)
            return -EIO; /* the old copy is shorter than its manifest says */
        SK_CRASHPOINT("write");
        int rc = sk_pwrite_sparse(dst, u->copybuf, n, (off_t)off);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Writes chunk c of e at its offset in fd (plainly: the file may hold old bytes there). */
static int write_chunk(struct upd *u, const sk_mentry_t *e, const sk_mchunk_t *c, int fd, bool fresh)
{
    uint64_t off = c->index * sk_mentry_chunk_size(u->m, e);
    size_t len = sk_mentry_chunk_len(u->m, e, c->index), clen = 0;
    char cpath[PATH_MAX], full[PATH_MAX];
    sk_repo_chunk_relpath(&c->hash, cpath, sizeof(cpath));
    int rc = sk_repo_chunk_read(u->r, &c->hash, &u->cbuf, &u->ccap, &clen);
    if (rc == 0 && clen != c->csize)
        rc = -EBADMSG;
    if (rc == 0)
        rc = sk_codec_decompress_check(u->codec, u->cbuf, clen, u->out, len, &c->hash);
    if (rc < 0) {
        gpath(u->r, cpath, full, sizeof(full));
        return sk_err_set(u->err, rc, full, "%s chunk %" PRIu64 " of %s (snapshot %s)",
                          rc == -ENOENT    ? "missing"
                          : rc == -EBADMSG ? "damaged"
                                           : "cannot read",
                          c->index, e->path, u->m->id);
    }
    SK_CRASHPOINT("write");
    rc = fresh ? sk_pwrite_sparse(fd, u->out, len, (off_t)off) : sk_pwrite_all(fd, u->out, len, (off_t)off);
    if (rc < 0) {
        new_path(u, e->path, full, sizeof(full));
        return sk_err_set(u->err, rc, full, NULL);
    }
    u->res->bytes_written += len;
    sk_progress_add(u->progress, len);
    return 0;
}

/* Zeros [off, off+len) of fd: a hole where the file system can punch one. */
static int zero_range(struct upd *u, int fd, uint64_t off, uint64_t len)
{
    SK_CRASHPOINT("punch");
    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
    if (!u->copybuf && !(u->copybuf = malloc(COPY_BUF)))
        return -ENOMEM;
    memset(u->copybuf, 0, COPY_BUF);
    for (uint64_t o = 0; o < len; o += COPY_BUF) {
        size_t n = len - o < COPY_BUF ? (size_t)(len - o) : COPY_BUF;
        SK_CRASHPOINT("write");
        int rc = sk_pwrite_all(fd, u->copybuf, n, (off_t)(off + o));
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A walk over a file's chunk list in index order: the chunk at idx, or NULL (zeros there). */
struct ccur {
    const sk_mentry_t *e;
    size_t k;
};

static const sk_mchunk_t *chunk_at(struct ccur *c, uint64_t idx)
{
    if (!c->e)
        return NULL;
    while (c->k < c->e->nchunks && c->e->chunks[c->k].index < idx)
        c->k++;
    return c->k < c->e->nchunks && c->e->chunks[c->k].index == idx ? &c->e->chunks[c->k] : NULL;
}

/* Bytes of chunk idx of a file of size bytes cut every cs bytes (0 past its end). */
static uint64_t span_len(uint64_t size, uint32_t cs, uint64_t idx)
{
    uint64_t off = idx * cs;
    return off >= size ? 0 : size - off < cs ? size - off : cs;
}

/* Whether chunk idx holds the same bytes in the old file o (size osize) and the new file e (size
 * esize), both cut every cs bytes: the same length, and the same hash or zeros in both. oc and
 * nc: the chunks listed there (NULL: zeros). */
static bool chunk_same(uint64_t osize, uint64_t esize, uint32_t cs, uint64_t idx, const sk_mchunk_t *oc,
                       const sk_mchunk_t *nc)
{
    if (span_len(osize, cs, idx) != span_len(esize, cs, idx))
        return false;
    if (!oc || !nc)
        return !oc && !nc;
    return sk_hash_eq(&oc->hash, &nc->hash);
}

/* Whether the old copy's file (open as src) may be carried into the new copy: a regular file of
 * the size its manifest says, not changed (its ctime, which no one can set back) since the old
 * copy was verified. Anything else was touched from outside golden.c: written whole instead. */
static bool carriable(const struct upd *u, int src, const sk_mentry_t *o)
{
    struct stat st;
    if (fstat(src, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != o->size)
        return false;
    return (int64_t)st.st_ctim.tv_sec < u->old_verified ||
           ((int64_t)st.st_ctim.tv_sec == u->old_verified && (uint32_t)st.st_ctim.tv_nsec <= u->old_verified_ns);
}

/* One file of the new snapshot into golden.new/tree: from the old copy's file when there is
 * one of the same chunk size, unchanged since the old copy was verified, then only the chunks
 * that differ are written (and zeroed where the new snapshot has zeros); else whole from the
 * chunks. u->from[i] records which (the verification re-hashes only what changed of a carried
 * file). */
static int update_file(struct upd *u, size_t i, int pfd, const char *leaf)
{
    const sk_mentry_t *e = &u->m->entries[i];
    char full[PATH_MAX];
    new_path(u, e->path, full, sizeof(full));
    const sk_mentry_t *o = old_entry(u->old, e->path);
    if (o && (o->type != 'f' || sk_mentry_chunk_size(u->old, o) != sk_mentry_chunk_size(u->m, e)))
        o = NULL;
    SK_CRASHPOINT("create");
    int fd = openat(pfd, leaf, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return sk_err_errno(u->err, full);
    int rc = 0;
    if (o) {
        int src = sk_open_beneath(u->oldtree, e->path, O_RDONLY, 0);
        if (src < 0) {
            o = NULL; /* not there after all (removed from outside): written from the chunks */
            u->res->files_rewritten++;
        } else if (!carriable(u, src, o)) {
            o = NULL;
            u->res->files_rewritten++;
        } else {
            rc = clone_or_copy(u, src, fd, o->size);
            if (rc < 0) {
                close(src);
                close(fd);
                return sk_err_set(u->err, rc, full, "cannot take it from the current golden copy");
            }
            /* Changed while it was being taken: what was taken is not what was verified. */
            if (!carriable(u, src, o)) {
                o = NULL;
                u->res->files_rewritten++;
                SK_CRASHPOINT("truncate");
                if (ftruncate(fd, 0) < 0)
                    rc = sk_err_errno(u->err, full);
            } else {
                u->res->bytes_reused += o->size;
            }
        }
        if (src >= 0)
            close(src);
    }
    SK_CRASHPOINT("truncate");
    if (rc == 0 && ftruncate(fd, (off_t)e->size) < 0)
        rc = sk_err_errno(u->err, full);
    /* Every chunk of the new file: one that holds the same bytes in the old file is already
     * there; one listed is written; one that is zeros now where the old file had data is zeroed
     * (a hole where the file system can). Past the old end, ftruncate gave zeros. */
    uint32_t cs = sk_mentry_chunk_size(u->m, e);
    uint64_t nch = e->size ? (e->size + cs - 1) / cs : 0;
    struct ccur nc = {e, 0}, oc = {o, 0};
    for (uint64_t idx = 0; idx < nch && rc == 0; idx++) {
        const sk_mchunk_t *c = chunk_at(&nc, idx);
        if (!o) {
            if (c)
                rc = write_chunk(u, e, c, fd, true);
            continue;
        }
        const sk_mchunk_t *was = chunk_at(&oc, idx);
        if (chunk_same(o->size, e->size, cs, idx, was, c))
            continue;
        if (c)
            rc = write_chunk(u, e, c, fd, false);
        else if (was)
            rc = zero_range(u, fd, idx * (uint64_t)cs, span_len(e->size, cs, idx));
    }
    if (rc < 0) {
        if (!u->err->code)
            sk_err_set(u->err, rc, full, NULL);
        close(fd);
        return u->err->code;
    }
    close(fd);
    u->from[i] = o;
    u->res->files++;
    return 0;
}

/* Checks the bytes of the files under treefd against m: each listed chunk's hash, zeros
 * elsewhere. With from (per entry: the old copy's file it was carried from, old's), a chunk
 * that holds the same bytes as there is not read again (it was verified with the old copy, and
 * the file was not changed since); NULL: every byte. Every file's type and size, every link's
 * target, every folder is checked either way. Reads from the disk (the page cache is dropped
 * first). why: the first damage; *bytes: the bytes read and checked. */
static int check_tree(const sk_manifest_t *m, const sk_mentry_t *const *from, int treefd, sk_progress_t *progress,
                      uint64_t *bytes, char *why, size_t whylen)
{
    uint32_t max = sk_manifest_max_chunk_size(m);
    void *buf = malloc(max);
    if (!buf)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < m->nentries && rc == 0; i++) {
        const sk_mentry_t *e = &m->entries[i];
        const sk_mentry_t *o = from ? from[i] : NULL;
        struct stat st;
        int src = sk_open_beneath(treefd, e->path, (e->type == 'd' ? O_DIRECTORY : 0) | O_RDONLY, 0);
        if (e->type == 'l') {
            char t[PATH_MAX];
            const char *leaf;
            int pfd = sk_open_parent_beneath(treefd, e->path, &leaf);
            ssize_t n = pfd < 0 ? -1 : readlinkat(pfd, leaf, t, sizeof(t) - 1);
            if (pfd >= 0)
                close(pfd);
            if (n < 0 || (t[n] = '\0', strcmp(t, e->target))) {
                snprintf(why, whylen, "%s: link missing or changed", e->path);
                rc = -EBADMSG;
            }
            if (src >= 0)
                close(src);
            continue;
        }
        if (src < 0) {
            snprintf(why, whylen, "%s: %s", e->path, sk_beneath_strerror(src));
            rc = -EBADMSG;
            break;
        }
        if (e->type == 'd') {
            close(src);
            continue;
        }
        if (fstat(src, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != e->size) {
            snprintf(why, whylen, "%s: size %lld, the snapshot says %" PRIu64, e->path, (long long)st.st_size, e->size);
            close(src);
            rc = -EBADMSG;
            break;
        }
        posix_fadvise(src, 0, 0, POSIX_FADV_DONTNEED);
        uint32_t cs = sk_mentry_chunk_size(m, e);
        uint64_t nch = e->size ? (e->size + cs - 1) / cs : 0;
        size_t k = 0;
        struct ccur oc = {o, 0};
        for (uint64_t idx = 0; idx < nch && rc == 0; idx++) {
            size_t len = sk_mentry_chunk_len(m, e, idx);
            if (o) {
                const sk_mchunk_t *nc = k < e->nchunks && e->chunks[k].index == idx ? &e->chunks[k] : NULL;
                if (chunk_same(o->size, e->size, cs, idx, chunk_at(&oc, idx), nc)) {
                    k += nc != NULL;
                    continue; /* carried from the old copy, not re-read */
                }
            }
            ssize_t got = sk_pread_full(src, buf, len, (off_t)(idx * cs));
            if (got < 0) {
                snprintf(why, whylen, "%s: %s", e->path, strerror((int)-got));
                rc = (int)got == -EIO ? -EBADMSG : (int)got;
                break;
            }
            if ((size_t)got != len) {
                snprintf(why, whylen, "%s: shorter than the snapshot says", e->path);
                rc = -EBADMSG;
                break;
            }
            bool listed = k < e->nchunks && e->chunks[k].index == idx;
            bool good;
            if (listed) {
                sk_hash_t h;
                sk_hash_compute(buf, len, &h);
                good = sk_hash_eq(&h, &e->chunks[k].hash);
                k++;
            } else {
                good = sk_is_zero(buf, len);
            }
            if (!good) {
                snprintf(why, whylen, "%s: chunk %" PRIu64 " does not match the snapshot", e->path, idx);
                rc = -EBADMSG;
            }
            *bytes += len;
            sk_progress_add(progress, len);
        }
        posix_fadvise(src, 0, 0, POSIX_FADV_DONTNEED);
        close(src);
    }
    free(buf);
    return rc;
}

/* The record, with the time of the verification (now, to the nanosecond: a file whose ctime is
 * later was changed since), the updates since the last full one (incremental), and what the
 * update that made it cost (res; NULL after a verification). */
static int write_record(int dirfd, const char *id, unsigned incremental, const sk_golden_result_t *res)
{
    char text[512];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int n = snprintf(text, sizeof(text), RECORD_MAGIC "\nsnapshot %s\nverified %lld.%09ld\nincremental %u\n", id,
                     (long long)now.tv_sec, now.tv_nsec, incremental);
    if (res)
        n += snprintf(
            text + n, sizeof(text) - (size_t)n,
            "update written %" PRIu64 " verified %" PRIu64 " reused %" PRIu64 " full %d rewritten %" PRIu64 "\n",
            res->bytes_written, res->bytes_verified, res->bytes_reused, res->full_verify ? 1 : 0, res->files_rewritten);
    SK_CRASHPOINT("write");
    return sk_write_file_atomic(dirfd, "record", text, (size_t)n, 0644);
}

/* Builds golden.new/ (root: the repository's folder) for u->m. */
static int build_new(struct upd *u, int root)
{
    char p[PATH_MAX];
    gpath(u->r, SK_GOLDEN_NEW, p, sizeof(p));
    SK_CRASHPOINT("mkdir");
    if (mkdirat(root, SK_GOLDEN_NEW, 0700) < 0)
        return sk_err_errno(u->err, p);
    int nfd = sk_open_beneath(root, SK_GOLDEN_NEW, O_RDONLY | O_DIRECTORY, 0);
    if (nfd < 0)
        return sk_err_set(u->err, nfd, p, "%s", sk_beneath_strerror(nfd));
    int rc = 0;
    SK_CRASHPOINT("mkdir");
    if (mkdirat(nfd, "tree", 0700) < 0 || (u->newtree = sk_open_beneath(nfd, "tree", O_RDONLY | O_DIRECTORY, 0)) < 0) {
        rc = sk_err_errno(u->err, p);
        goto out;
    }
    if (u->oldtree >= 0) {
        int why = 0;
        u->reflink = sk_reflink_probe(u->oldtree, u->newtree, &why) == 1;
    }
    u->res->reflinked = u->reflink;
    for (size_t i = 0; i < u->m->nentries && rc == 0; i++) {
        const sk_mentry_t *e = &u->m->entries[i];
        char full[PATH_MAX];
        new_path(u, e->path, full, sizeof(full));
        const char *leaf;
        int pfd = sk_open_parent_beneath(u->newtree, e->path, &leaf);
        if (pfd < 0) {
            rc = sk_err_set(u->err, pfd, full, "%s", sk_beneath_strerror(pfd));
            break;
        }
        if (e->type == 'd') {
            SK_CRASHPOINT("mkdir");
            if (mkdirat(pfd, leaf, 0700) < 0)
                rc = sk_err_errno(u->err, full);
        } else if (e->type == 'l') {
            SK_CRASHPOINT("symlink");
            if (symlinkat(e->target, pfd, leaf) < 0)
                rc = sk_err_errno(u->err, full);
        } else {
            rc = update_file(u, i, pfd, leaf);
        }
        close(pfd);
        if (rc == 0 && sk_cancelled())
            rc = sk_err_set(u->err, -ECANCELED, p, "interrupted");
    }
    if (rc < 0)
        goto out;
    /* Every file and folder of golden.new durable at once. */
    SK_CRASHPOINT("fsync");
    if (syncfs(nfd) < 0) {
        rc = sk_err_errno(u->err, p);
        goto out;
    }
    /* The bytes written and zeroed are re-read and hashed; those carried from the old copy only
     * at a full verification (from scratch, every full_verify_every-th update, or asked). */
    char why[512] = "";
    sk_progress_start(u->progress, "golden verify", u->full_verify ? u->m->logical_bytes : u->res->bytes_written);
    rc = check_tree(u->m, u->full_verify ? NULL : u->from, u->newtree, u->progress, &u->res->bytes_verified, why,
                    sizeof(why));
    sk_progress_end(u->progress);
    if (rc < 0) {
        if (rc == -EBADMSG)
            u->verify_failed = true;
        rc = sk_err_set(u->err, rc == -EBADMSG ? -EIO : rc, p, "the new golden copy does not verify: %s", why);
        goto out;
    }
    char *mtext;
    size_t mlen;
    rc = sk_manifest_serialize(u->m, &mtext, &mlen);
    if (rc < 0) {
        sk_err_set(u->err, rc, p, NULL);
        goto out;
    }
    SK_CRASHPOINT("write");
    rc = sk_write_file_atomic(nfd, "manifest", mtext, mlen, 0644);
    free(mtext);
    if (rc == 0)
        rc = write_record(nfd, u->m->id, u->full_verify ? 0 : u->old_incremental + 1, u->res);
    SK_CRASHPOINT("fsync");
    if (rc == 0 && fsync(nfd) < 0)
        rc = -errno;
    if (rc < 0)
        sk_err_set(u->err, rc, p, NULL);
out:
    close(nfd);
    return rc;
}

/* golden.new takes golden's place; the old copy is removed. */
static int swap_new(sk_repo_t *r, int root, sk_err_t *err)
{
    char p[PATH_MAX];
    gpath(r, SK_GOLDEN_DIR, p, sizeof(p));
    sk_storage_lock_t *lk = NULL;
    int rc = sk_storage_lock(r->st, SK_GOLDEN_LOCK, SK_STORAGE_LOCK_EX | SK_STORAGE_LOCK_CREATE, &lk);
    if (rc < 0)
        return sk_err_set(err, rc, p, "cannot lock the golden copy");
    struct stat st;
    bool have = fstatat(root, SK_GOLDEN_DIR, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (have && !S_ISDIR(st.st_mode)) {
        sk_storage_unlock(r->st, lk);
        return sk_err_set(err, -ENOTDIR, p, "not a folder; remove it");
    }
    SK_CRASHPOINT("rename");
    if (renameat2(root, SK_GOLDEN_NEW, root, SK_GOLDEN_DIR, have ? RENAME_EXCHANGE : RENAME_NOREPLACE) < 0)
        rc = sk_err_errno(err, p);
    SK_CRASHPOINT("fsync");
    if (rc == 0 && fsync(root) < 0)
        rc = sk_err_errno(err, r->path);
    sk_storage_unlock(r->st, lk);
    if (rc == 0 && have) {
        SK_CRASHPOINT("unlink");
        sk_rm_rf_at(root, SK_GOLDEN_NEW); /* the old copy; a leftover is swept next time */
    }
    return rc;
}

/* Whether a golden copy of old may be updated to m chunk by chunk: same chain, same folders.
 * Otherwise (another lineage, another layout) the new copy is built from the chunks. */
static bool compatible(const sk_manifest_t *old, const sk_manifest_t *m)
{
    const char *a = sk_manifest_fact(old, "source.chain-id"), *b = sk_manifest_fact(m, "source.chain-id");
    if ((a || b) && (!a || !b || strcmp(a, b)))
        return false;
    if (old->ninclude != m->ninclude)
        return false;
    for (size_t i = 0; i < m->ninclude; i++)
        if (strcmp(old->include[i], m->include[i]))
            return false;
    return true;
}

/* Marks the copy in golden/ damaged (why): never cloned from again. */
static void mark_damaged(int root, const char *why)
{
    int gfd = sk_open_beneath(root, SK_GOLDEN_DIR, O_RDONLY | O_DIRECTORY, 0);
    if (gfd < 0)
        return;
    char text[600];
    int n = snprintf(text, sizeof(text), "%s\n", why);
    SK_CRASHPOINT("write");
    int rc = sk_write_file_atomic(gfd, "damaged", text, (size_t)n, 0644);
    (void)rc;
    close(gfd);
}

/* One attempt at bringing golden/ to m (root: the repository's folder). */
static int update_to(sk_repo_t *r, int root, const sk_manifest_t *m, const sk_golden_opts_t *opts,
                     sk_progress_t *progress, sk_golden_result_t *res, sk_err_t *err, bool *verify_failed)
{
    char p[PATH_MAX];
    struct gcopy cur = {0};
    struct upd u = {.r = r, .err = err, .progress = progress, .res = res, .m = m, .oldtree = -1, .newtree = -1};
    int rc = 0;
    int gfd = sk_open_beneath(root, SK_GOLDEN_DIR, O_RDONLY | O_DIRECTORY, 0);
    if (gfd >= 0) {
        char why[256];
        if (read_copy(gfd, true, &cur, why, sizeof(why)) < 0 || cur.damaged || opts->rebuild)
            free_copy(&cur);
        else if (!strcmp(cur.id, m->id)) {
            res->unchanged = true;
            close(gfd);
            goto out;
        } else if (!compatible(cur.m, m)) {
            free_copy(&cur);
        }
        if (cur.m)
            u.oldtree = sk_open_beneath(gfd, "tree", O_RDONLY | O_DIRECTORY, 0);
        close(gfd);
    }
    if (u.oldtree < 0)
        free_copy(&cur);
    res->from_scratch = u.oldtree < 0;
    u.old = cur.m;
    u.old_verified = cur.verified;
    u.old_verified_ns = cur.verified_ns;
    u.old_incremental = cur.incremental;
    /* From scratch every byte is new and checked; else every full_verify_every-th update in a
     * row (the record counts them) re-hashes the bytes carried too. */
    u.full_verify = res->from_scratch || opts->full_verify ||
                    (opts->full_verify_every && cur.incremental + 1 >= opts->full_verify_every);
    res->full_verify = u.full_verify;
    /* A golden.new left by an update that died is garbage: only golden/ with its record counts. */
    SK_CRASHPOINT("unlink");
    rc = sk_rm_rf_at(root, SK_GOLDEN_NEW);
    if (rc < 0) {
        gpath(r, SK_GOLDEN_NEW, p, sizeof(p));
        sk_err_set(err, rc, p, NULL);
        goto out;
    }
    uint32_t max = sk_manifest_max_chunk_size(m);
    u.codec = sk_codec_new(max, 1);
    u.out = malloc(max);
    u.from = calloc(m->nentries ? m->nentries : 1, sizeof(*u.from));
    if (!u.codec || !u.out || !u.from) {
        rc = sk_err_set(err, -ENOMEM, r->path, NULL);
        goto out;
    }
    sk_progress_start(progress, "golden", m->data_bytes);
    rc = build_new(&u, root);
    sk_progress_end(progress);
    if (rc == 0)
        rc = swap_new(r, root, err);
    if (rc < 0) {
        int rr = sk_rm_rf_at(root, SK_GOLDEN_NEW);
        (void)rr;
    }
    *verify_failed = u.verify_failed && !res->from_scratch;
out:
    if (u.oldtree >= 0)
        close(u.oldtree);
    if (u.newtree >= 0)
        close(u.newtree);
    sk_codec_free(u.codec);
    free(u.out);
    free(u.cbuf);
    free(u.copybuf);
    free(u.from);
    free_copy(&cur);
    return rc;
}

int sk_golden_update_ex(sk_repo_t *r, const sk_golden_opts_t *opts, sk_progress_t *progress, sk_golden_result_t *res,
                        sk_err_t *err)
{
    double t0 = sk_now();
    memset(res, 0, sizeof(*res));
    int root = open_root(r, err);
    if (root < 0)
        return root;
    char p[PATH_MAX];
    gpath(r, SK_GOLDEN_DIR, p, sizeof(p));
    /* One update at a time. A second one waits for the first (then finds the newest snapshot
     * held, or brings the copy from the first's result to it): skipping it would leave the golden
     * copy a snapshot behind until the next cycle. */
    sk_storage_lock_t *build = NULL;
    int rc = sk_storage_lock(r->st, SK_GOLDEN_BUILD_LOCK,
                             SK_STORAGE_LOCK_EX | SK_STORAGE_LOCK_NB | SK_STORAGE_LOCK_CREATE, &build);
    if (rc == -EWOULDBLOCK)
        rc = sk_storage_lock(r->st, SK_GOLDEN_BUILD_LOCK, SK_STORAGE_LOCK_EX | SK_STORAGE_LOCK_CREATE, &build);
    if (rc < 0) {
        close(root);
        return sk_err_set(err, rc, p, "cannot lock the golden copy");
    }
    sk_manifest_t *m = NULL;
    sk_err_t lerr;
    sk_err_clear(&lerr);
    rc = sk_repo_latest_good(r, &m, &lerr);
    if (rc == -ENOENT) {
        rc = 0; /* nothing to hold yet */
        goto out;
    }
    if (rc < 0) {
        sk_err_set(err, rc, lerr.path, "%s", lerr.msg);
        goto out;
    }
    bool verify_failed = false;
    rc = update_to(r, root, m, opts, progress, res, err, &verify_failed);
    if (rc < 0 && verify_failed) {
        /* The new copy, made from the old one, does not verify. At a full verification the fault
         * may be in the bytes carried from the old copy: it is marked damaged (never cloned from
         * again), and the new copy is made from the chunks alone. */
        if (res->full_verify)
            mark_damaged(root, err->msg);
        sk_golden_opts_t again = *opts;
        again.rebuild = true;
        char first[sizeof(err->msg)];
        snprintf(first, sizeof(first), "%s", err->msg);
        memset(res, 0, sizeof(*res));
        sk_err_clear(err);
        rc = update_to(r, root, m, &again, progress, res, err, &verify_failed);
        if (rc == 0)
            snprintf(res->recovered, sizeof(res->recovered), "%s", first);
    }
    snprintf(res->id, sizeof(res->id), "%s", m->id);
out:
    sk_manifest_free(m);
    sk_storage_unlock(r->st, build);
    close(root);
    res->seconds = sk_now() - t0;
    return rc < 0 ? rc : 0;
}

int sk_golden_update(sk_repo_t *r, bool rebuild, sk_progress_t *progress, sk_golden_result_t *res, sk_err_t *err)
{
    sk_golden_opts_t o = {.rebuild = rebuild, .full_verify_every = SK_GOLDEN_FULL_VERIFY_EVERY};
    return sk_golden_update_ex(r, &o, progress, res, err);
}

int sk_golden_verify(sk_repo_t *r, sk_progress_t *progress, sk_golden_verify_t *res, sk_err_t *err)
{
    memset(res, 0, sizeof(*res));
    int root = open_root(r, err);
    if (root < 0)
        return root;
    char p[PATH_MAX];
    gpath(r, SK_GOLDEN_DIR, p, sizeof(p));
    sk_storage_lock_t *build = NULL;
    int rc = sk_storage_lock(r->st, SK_GOLDEN_BUILD_LOCK,
                             SK_STORAGE_LOCK_EX | SK_STORAGE_LOCK_NB | SK_STORAGE_LOCK_CREATE, &build);
    if (rc < 0) {
        close(root);
        return rc == -EWOULDBLOCK ? sk_err_set(err, -EBUSY, p, "another slotkeeper process is updating it")
                                  : sk_err_set(err, rc, p, "cannot lock the golden copy");
    }
    int gfd = sk_open_beneath(root, SK_GOLDEN_DIR, O_RDONLY | O_DIRECTORY, 0);
    struct gcopy g = {0};
    if (gfd == -ENOENT) {
        rc = 0;
        goto out;
    }
    if (gfd < 0) {
        rc = sk_err_set(err, gfd, p, "%s", sk_beneath_strerror(gfd));
        goto out;
    }
    char why[512] = "";
    rc = read_copy(gfd, true, &g, why, sizeof(why));
    if (rc == -ENOENT) {
        rc = 0; /* an empty golden/ (no record) is not a golden copy */
        goto out;
    }
    res->checked = true;
    if (rc == 0) {
        snprintf(res->id, sizeof(res->id), "%s", g.id);
        res->files = g.m->files;
        int tfd = sk_open_beneath(gfd, "tree", O_RDONLY | O_DIRECTORY, 0);
        if (tfd < 0) {
            snprintf(why, sizeof(why), "tree: %s", sk_beneath_strerror(tfd));
            rc = -EBADMSG;
        } else {
            sk_progress_start(progress, "golden verify", g.m->logical_bytes);
            rc = check_tree(g.m, NULL, tfd, progress, &res->bytes, why, sizeof(why));
            sk_progress_end(progress);
            close(tfd);
        }
    }
    if (rc < 0 && rc != -EBADMSG) {
        sk_err_set(err, rc, p, NULL);
        goto out;
    }
    res->ok = rc == 0;
    snprintf(res->reason, sizeof(res->reason), "%s", why);
    if (rc == 0) {
        rc = write_record(gfd, g.id, 0, NULL);
        SK_CRASHPOINT("unlink");
        if (rc == 0 && unlinkat(gfd, "damaged", 0) < 0 && errno != ENOENT)
            rc = -errno;
    } else {
        /* Marked: never cloned from again, and the next update rebuilds it. */
        char text[600];
        int n = snprintf(text, sizeof(text), "%s\n", why);
        SK_CRASHPOINT("write");
        rc = sk_write_file_atomic(gfd, "damaged", text, (size_t)n, 0644);
    }
    if (rc < 0)
        sk_err_set(err, rc, p, NULL);
out:
    free_copy(&g);
    if (gfd >= 0)
        close(gfd);
    sk_storage_unlock(r->st, build);
    close(root);
    return rc < 0 ? rc : 0;
}

int sk_golden_remove(sk_repo_t *r, sk_err_t *err)
{
    int root = open_root(r, err);
    if (root < 0)
        return root;
    char p[PATH_MAX];
    gpath(r, SK_GOLDEN_DIR, p, sizeof(p));
    sk_storage_lock_t *build = NULL, *lk = NULL;
    int rc = sk_storage_lock(r->st, SK_GOLDEN_BUILD_LOCK,
                             SK_STORAGE_LOCK_EX | SK_STORAGE_LOCK_NB | SK_STORAGE_LOCK_CREATE, &build);
    if (rc < 0) {
        close(root);
        return rc == -EWOULDBLOCK ? sk_err_set(err, -EBUSY, p, "another slotkeeper process is updating it")
                                  : sk_err_set(err, rc, p, "cannot lock the golden copy");
    }
    rc = sk_storage_lock(r->st, SK_GOLDEN_LOCK, SK_STORAGE_LOCK_EX | SK_STORAGE_LOCK_CREATE, &lk);
    if (rc == 0) {
        /* The record first: what is left after a crash midway is never used. */
        SK_CRASHPOINT("unlink");
        int gfd = sk_open_beneath(root, SK_GOLDEN_DIR, O_RDONLY | O_DIRECTORY, 0);
        if (gfd >= 0) {
            unlinkat(gfd, "record", 0);
            fsync(gfd);
            close(gfd);
        }
        rc = sk_rm_rf_at(root, SK_GOLDEN_DIR);
        if (rc == 0)
            rc = sk_rm_rf_at(root, SK_GOLDEN_NEW);
        SK_CRASHPOINT("fsync");
        if (rc == 0 && fsync(root) < 0)
            rc = -errno;
    }
    if (rc < 0)
        sk_err_set(err, rc, p, NULL);
    sk_storage_unlock(r->st, lk);
    sk_storage_unlock(r->st, build);
    close(root);
    return rc;
}

/* ---- restore by cloning ---- */

#ifdef SK_CRASHPOINTS
/* The crash build's fault hook: SK_FAULT_CLONE_AFTER=N fails the clone after N files. */
static int fault_clone(size_t done)
{
    const char *s = getenv("SK_FAULT_CLONE_AFTER");
    return s && *s && done >= strtoull(s, NULL, 10) ? -EIO : 0;
}
#else
#define fault_clone(done) 0
#endif

/* Removes what the clone made under staging (its top-level names, the included folders). */
static void empty_staging(const sk_manifest_t *m, int stagefd)
{
    for (size_t i = 0; i < m->ninclude; i++) {
        SK_CRASHPOINT("unlink");
        sk_rm_rf_at(stagefd, m->include[i]);
    }
}

/* Clones every entry of m from treefd into stagefd. A file changed (its ctime, which no one can
 * set back) after the golden copy was verified is not cloned (-ESTALE): its bytes are no longer
 * the ones checked. */
static int clone_tree(const sk_manifest_t *m, int treefd, int stagefd, const char *stage_path, const struct gcopy *g,
                      uint64_t *cloned, char *why, size_t whylen)
{
    size_t files = 0;
    for (size_t i = 0; i < m->nentries; i++) {
        const sk_mentry_t *e = &m->entries[i];
        const char *leaf;
        int pfd = sk_open_parent_beneath(stagefd, e->path, &leaf);
        if (pfd < 0) {
            snprintf(why, whylen, "%s/%s: %s", stage_path, e->path, sk_beneath_strerror(pfd));
            return pfd;
        }
        int rc = 0;
        if (e->type == 'd') {
            SK_CRASHPOINT("mkdir");
            if (mkdirat(pfd, leaf, 0700) < 0)
                rc = -errno;
        } else if (e->type == 'l') {
            SK_CRASHPOINT("symlink");
            if (symlinkat(e->target, pfd, leaf) < 0)
                rc = -errno;
        } else {
            int src = sk_open_beneath(treefd, e->path, O_RDONLY, 0), dst = -1;
            struct stat st;
            if (src < 0) {
                rc = src;
            } else if (fstat(src, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != e->size) {
                rc = -EBADMSG;
            } else if ((int64_t)st.st_ctim.tv_sec > g->verified ||
                       ((int64_t)st.st_ctim.tv_sec == g->verified && (uint32_t)st.st_ctim.tv_nsec > g->verified_ns)) {
                rc = -ESTALE;
            } else {
                SK_CRASHPOINT("create");
                dst = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (dst < 0)
                    rc = -errno;
                else if ((rc = fault_clone(files)) == 0) {
                    SK_CRASHPOINT("clone");
                    rc = sk_clone_fd(src, dst);
                }
            }
            if (rc == 0) {
                *cloned += e->size;
                files++;
            }
            if (src >= 0)
                close(src);
            if (dst >= 0)
                close(dst);
        }
        close(pfd);
        if (rc < 0) {
            snprintf(why, whylen, "cloning %s failed (%s)", e->path,
                     rc == -EBADMSG  ? "the golden copy's file has another size"
                     : rc == -ESTALE ? "the golden copy's file changed since it was verified; run verify"
                                     : strerror(-rc));
            return rc;
        }
    }
    return 0;
}

/* An open golden copy that a restore of m may clone from into probe_dir's file system, with
 * golden.lock held shared (so no update swaps it meanwhile). */
struct gopen {
    int root, gfd, tfd;
    sk_storage_lock_t *lk;
    struct gcopy g;
};

static void golden_close(sk_repo_t *r, struct gopen *o)
{
    free_copy(&o->g);
    if (o->tfd >= 0)
        close(o->tfd);
    if (o->gfd >= 0)
        close(o->gfd);
    sk_storage_unlock(r->st, o->lk);
    if (o->root >= 0)
        close(o->root);
    o->root = o->gfd = o->tfd = -1;
    o->lk = NULL;
}

/* 1: usable, o open; 0: not, why says (empty when the repository keeps no golden copy), o closed. */
static int golden_open(sk_repo_t *r, const sk_manifest_t *m, int probe_dir, struct gopen *o, char *why, size_t whylen)
{
    memset(o, 0, sizeof(*o));
    o->root = o->gfd = o->tfd = -1;
    why[0] = '\0';
    if (!r->golden)
        return 0;
    o->root = sk_storage_open_dir(r->st, "");
    if (o->root < 0) {
        snprintf(why, whylen, "the repository's storage is not a local file system (no golden copy)");
        goto no;
    }
    int rc = sk_storage_lock(r->st, SK_GOLDEN_LOCK, SK_STORAGE_LOCK_CREATE, &o->lk);
    if (rc < 0) {
        snprintf(why, whylen, "the golden copy cannot be locked (%s)", strerror(-rc));
        goto no;
    }
    o->gfd = sk_open_beneath(o->root, SK_GOLDEN_DIR, O_RDONLY | O_DIRECTORY, 0);
    if (o->gfd < 0) {
        snprintf(why, whylen, "no golden copy yet (%s/%s: %s)", r->path, SK_GOLDEN_DIR, sk_beneath_strerror(o->gfd));
        goto no;
    }
    char rwhy[256];
    if (read_copy(o->gfd, false, &o->g, rwhy, sizeof(rwhy)) < 0) {
        snprintf(why, whylen, "the golden copy is not complete (%s)", rwhy);
        goto no;
    }
    if (o->g.damaged) {
        snprintf(why, whylen, "the golden copy failed verification (%s); it is rebuilt at the next update",
                 o->g.reason);
        goto no;
    }
    if (strcmp(o->g.id, m->id)) {
        snprintf(why, whylen, "the golden copy holds snapshot %s, not %s", o->g.id, m->id);
        goto no;
    }
    o->tfd = sk_open_beneath(o->gfd, "tree", O_RDONLY | O_DIRECTORY, 0);
    if (o->tfd < 0) {
        snprintf(why, whylen, "the golden copy has no tree (%s)", sk_beneath_strerror(o->tfd));
        goto no;
    }
    int ewhy = 0;
    rc = sk_reflink_probe(o->tfd, probe_dir, &ewhy);
    if (rc == 1)
        return 1;
    if (rc < 0)
        snprintf(why, whylen, "the clone probe failed (%s)", strerror(-rc));
    else if (ewhy == EXDEV)
        snprintf(why, whylen, "the golden copy is on another file system than the slot");
    else
        snprintf(why, whylen, "the slot's file system cannot clone (%s)", strerror(ewhy));
no:
    golden_close(r, o);
    return 0;
}

int sk_golden_usable(sk_repo_t *r, const sk_manifest_t *m, int probe_dir, char *why, size_t whylen)
{
    struct gopen o;
    int ok = golden_open(r, m, probe_dir, &o, why, whylen);
    if (ok)
        golden_close(r, &o);
    return ok;
}

int sk_golden_clone_into(sk_repo_t *r, const sk_manifest_t *m, int stagefd, const char *stage_path, uint64_t *cloned,
                         char *why, size_t whylen, sk_err_t *err)
{
    (void)err;
    *cloned = 0;
    struct gopen o;
    if (!golden_open(r, m, stagefd, &o, why, whylen))
        return 0;
    int rc = clone_tree(m, o.tfd, stagefd, stage_path, &o.g, cloned, why, whylen);
    if (rc < 0) {
        *cloned = 0;
        empty_staging(m, stagefd);
    }
    golden_close(r, &o);
    return rc < 0 ? 0 : 1;
}

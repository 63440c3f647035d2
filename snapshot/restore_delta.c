/*
 * restore_delta: the delta restore (see restore.h). The slot's files are read and hashed at the
 * snapshot's chunk boundaries; what will be overwritten or removed is saved into quarantine
 * (a reflink clone of the whole file where the file system can, else the old bytes of each
 * overwritten chunk, with an index); then only the chunks that differ are written, each one
 * checked against its hash, and the metadata set. restore.c does the locks and the marker's
 * removal; this file writes the marker once it knows what the restore will cost.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slotkeeper/buf.h"
#include "slotkeeper/chunk.h"
#include "slotkeeper/crashpoint.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/notice.h"
#include "slotkeeper/pool.h"
#include "slotkeeper/reflink.h"
#include "restore_impl.h"

enum { A_KEEP, A_CREATE, A_REPLACE };

struct dent {
    uint8_t act;  /* A_KEEP: the slot has it, with the right type (and link target) */
    bool differs; /* a file whose content or size differs */
    uint64_t oldsize;
    size_t j0, nj; /* its chunk jobs */
};

struct djob {
    size_t entry;
    uint64_t index;
    const sk_mchunk_t *c; /* NULL: a hole or all-zero chunk of the snapshot */
    bool diff;
};

struct dst {
    struct rst *r;
    struct dent *de;
    struct djob *jobs;
    size_t njobs;
    size_t *wjobs; /* the jobs to write */
    size_t nwjobs;
    char **extras; /* data-dir-relative paths under included folders the snapshot does not have */
    size_t nextras, extcap;
    size_t *byname; /* entries sorted by path */
    int qfd;
    char *idx; /* the quarantine index: what was there, then what this run adds */
    size_t idxlen, idxcap;
    char **have; /* keys of what the index already lists, sorted */
    size_t nhave;
    bool reflink;
    bool write_phase; /* the workers open the slot's files for writing */
    bool codec;       /* the workers decompress */
    atomic_uint_fast64_t written, unchanged;
};

static const sk_mentry_t *ent(const struct dst *d, size_t i)
{
    return &d->r->m->entries[i];
}

static int fail(struct dst *d, int rc, const char *rel)
{
    char full[PATH_MAX];
    rst_slot_path(d->r, rel, full, sizeof(full));
    if (rc == -ELOOP)
        return sk_err_set(d->r->err, rc, full, "%s", sk_beneath_strerror(rc));
    return sk_err_set(d->r->err, rc, full, NULL);
}

static int qfail(struct dst *d, int rc, const char *qrel)
{
    char rel[PATH_MAX];
    snprintf(rel, sizeof(rel), "%s/%s/%s", SK_QUARANTINE_DIR, d->r->stamp, qrel);
    return fail(d, rc, rel);
}

/* ---- the index ---- */

/* Percent-escapes s as manifests do (bytes <= 0x20, >= 0x7f and '%'), so that a line's fields
 * split at spaces. */
static void escape(const char *s, char *out, size_t len)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 4 < len; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '%')
            o += (size_t)snprintf(out + o, len - o, "%%%02X", *p);
        else
            out[o++] = (char)*p;
    }
    out[o] = '\0';
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool have_key(const struct dst *d, const char *key)
{
    return d->nhave && bsearch(&key, d->have, d->nhave, sizeof(*d->have), cmp_str);
}

static bool have_path(const struct dst *d, const char *path)
{
    char esc[3 * PATH_MAX], key[3 * PATH_MAX + 8];
    escape(path, esc, sizeof(esc));
    snprintf(key, sizeof(key), "P %s", esc);
    return have_key(d, key);
}

static bool have_region(const struct dst *d, const char *path, uint64_t off)
{
    char esc[3 * PATH_MAX], key[3 * PATH_MAX + 32];
    escape(path, esc, sizeof(esc));
    snprintf(key, sizeof(key), "R %s %" PRIu64, esc, off);
    return have_key(d, key);
}

static bool have_size(const struct dst *d, const char *path)
{
    char esc[3 * PATH_MAX], key[3 * PATH_MAX + 8];
    escape(path, esc, sizeof(esc));
    snprintf(key, sizeof(key), "S %s", esc);
    return have_key(d, key);
}

/* Reads the index an interrupted run left in this quarantine folder (the marker named it). */
static int load_index(struct dst *d)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = d->qfd < 0 ? -ENOENT : sk_read_file_at(d->qfd, SK_QUARANTINE_INDEX, SIZE_MAX / 2, &buf, &len);
    if (rc == -ENOENT) {
        static const char head[] = "slotkeeper-quarantine 1\n";
        if (sk_grow(&d->idx, &d->idxcap, sizeof(head), 1, 4096) < 0)
            return -ENOMEM;
        memcpy(d->idx, head, sizeof(head));
        d->idxlen = sizeof(head) - 1;
        return 0;
    }
    if (rc < 0)
        return qfail(d, rc, SK_QUARANTINE_INDEX);
    d->idx = buf;
    d->idxlen = len;
    d->idxcap = len + 1;
    size_t cap = 0;
    char *save = NULL, *copy = strdup(buf);
    if (!copy)
        return -ENOMEM;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char kind[16], path[3 * PATH_MAX];
        unsigned long long off;
        if (sscanf(line, "%15s %4095s %llu", kind, path, &off) != 3)
            continue;
        char key[3 * PATH_MAX + 32];
        if (!strcmp(kind, "size"))
            snprintf(key, sizeof(key), "S %s", path);
        else if (!strcmp(kind, "region"))
            snprintf(key, sizeof(key), "R %s %llu", path, off);
        else
            snprintf(key, sizeof(key), "P %s", path);
        if (sk_grow(&d->have, &cap, d->nhave + 1, sizeof(*d->have), 64) < 0 || !(d->have[d->nhave] = strdup(key))) {
            free(copy);
            return -ENOMEM;
        }
        d->nhave++;
    }
    free(copy);
    if (d->nhave)
        qsort(d->have, d->nhave, sizeof(*d->have), cmp_str);
    return 0;
}

static int index_add(struct dst *d, const char *kind, const char *path, uint64_t off, uint64_t len, const char *where)
{
    char esc[3 * PATH_MAX], line[6 * PATH_MAX + 96];
    escape(path, esc, sizeof(esc));
    int n;
    if (where) {
        char wesc[3 * PATH_MAX + 16];
        escape(path, wesc, sizeof(wesc));
        n = snprintf(line, sizeof(line), "%s %s %" PRIu64 " %" PRIu64 " %s/%s\n", kind, esc, off, len, where, wesc);
    } else {
        n = snprintf(line, sizeof(line), "%s %s %" PRIu64 " %" PRIu64 " -\n", kind, esc, off, len);
    }
    if (sk_grow(&d->idx, &d->idxcap, d->idxlen + (size_t)n + 1, 1, 4096) < 0)
        return sk_err_set(d->r->err, -ENOMEM, d->r->opts->data_dir, NULL);
    memcpy(d->idx + d->idxlen, line, (size_t)n + 1);
    d->idxlen += (size_t)n;
    return 0;
}

/* ---- quarantine folders ---- */

/* Opens (making what is missing, each new folder's parent fsynced) the folder rel beneath the
 * quarantine folder; every level is reached without following a link. */
static int q_mkdirs(struct dst *d, const char *rel)
{
    char copy[PATH_MAX];
    snprintf(copy, sizeof(copy), "%s", rel);
    int fd = fcntl(d->qfd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return qfail(d, -errno, rel);
    char *save = NULL;
    for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        SK_CRASHPOINT("mkdir");
        if (mkdirat(fd, c, 0700) == 0) {
            SK_CRASHPOINT("fsync");
            fsync(fd);
        } else if (errno != EEXIST) {
            int rc = -errno;
            close(fd);
            return qfail(d, rc, rel);
        }
        int nfd = sk_open_beneath(fd, c, O_RDONLY | O_DIRECTORY, 0);
        close(fd);
        if (nfd < 0)
            return qfail(d, nfd, rel);
        fd = nfd;
    }
    return fd;
}

/* The folder part of "top/path" ("top" when path has one component). */
static void q_parent(const char *top, const char *path, char *out, size_t len, const char **leaf)
{
    const char *sl = strrchr(path, '/');
    *leaf = sl ? sl + 1 : path;
    if (sl)
        snprintf(out, len, "%s/%.*s", top, (int)(sl - path), path);
    else
        snprintf(out, len, "%s", top);
}

/* ---- classify: what the slot has where the snapshot has something ---- */

static int cmp_byname(const void *a, const void *b, void *arg)
{
    const struct dst *d = arg;
    return strcmp(ent(d, *(const size_t *)a)->path, ent(d, *(const size_t *)b)->path);
}

static long find_entry(const struct dst *d, const char *path)
{
    size_t lo = 0, hi = d->r->m->nentries;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(ent(d, d->byname[mid])->path, path);
        if (c == 0)
            return (long)d->byname[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int classify(struct dst *d)
{
    sk_manifest_t *m = d->r->m;
    size_t cap = 0;
    for (size_t i = 0; i < m->nentries; i++) {
        const sk_mentry_t *e = ent(d, i);
        struct dent *de = &d->de[i];
        struct stat st;
        int rc = sk_stat_beneath(d->r->datafd, e->path, &st);
        if (rc == -ENOENT || rc == -ENOTDIR || rc == -ELOOP) {
            de->act = A_CREATE; /* missing, or its folder is replaced */
        } else if (rc < 0) {
            return fail(d, rc, e->path);
        } else if (e->type == 'd') {
            de->act = S_ISDIR(st.st_mode) ? A_KEEP : A_REPLACE;
        } else if (e->type == 'f') {
            /* A file with other hard links is not written in place: that would change the
             * other names too (a copy kept elsewhere). It is moved away whole. */
            de->act = S_ISREG(st.st_mode) && st.st_nlink == 1 ? A_KEEP : A_REPLACE;
            de->oldsize = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
        } else {
            de->act = A_REPLACE;
            if (S_ISLNK(st.st_mode)) {
                const char *leaf;
                int pfd = sk_open_parent_beneath(d->r->datafd, e->path, &leaf);
                if (pfd < 0)
                    return fail(d, pfd, e->path);
                char t[PATH_MAX];
                ssize_t n = readlinkat(pfd, leaf, t, sizeof(t) - 1);
                close(pfd);
                if (n >= 0) {
                    t[n] = '\0';
                    if (!strcmp(t, e->target))
                        de->act = A_KEEP;
                }
            }
        }
        if (e->type != 'f')
            continue;
        /* One job per chunk of the snapshot's file: data chunks and holes alike. */
        uint64_t cs = sk_mentry_chunk_size(m, e), n = (e->size + cs - 1) / cs;
        de->j0 = d->njobs;
        size_t k = 0;
        for (uint64_t x = 0; x < n; x++) {
            const sk_mchunk_t *c = k < e->nchunks && e->chunks[k].index == x ? &e->chunks[k++] : NULL;
            if (de->act != A_KEEP && !c)
                continue;
            if (sk_grow(&d->jobs, &cap, d->njobs + 1, sizeof(*d->jobs), 1024) < 0)
                return sk_err_set(d->r->err, -ENOMEM, d->r->opts->data_dir, NULL);
            d->jobs[d->njobs++] = (struct djob){.entry = i, .index = x, .c = c};
        }
        de->nj = d->njobs - de->j0;
    }
    return 0;
}

static int add_extra(struct dst *d, const char *rel)
{
    if (sk_grow(&d->extras, &d->extcap, d->nextras + 1, sizeof(*d->extras), 16) < 0 ||
        !(d->extras[d->nextras] = strdup(rel)))
        return sk_err_set(d->r->err, -ENOMEM, d->r->opts->data_dir, NULL);
    d->nextras++;
    return 0;
}

/* Finds what is under the folder rel (kept, of the snapshot) but not in the snapshot. */
static int find_extras(struct dst *d, const char *rel)
{
    int fd = sk_open_beneath(d->r->datafd, rel, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return fail(d, fd, rel);
    DIR *dir = fdopendir(fd);
    if (!dir) {
        close(fd);
        return fail(d, -errno, rel);
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(dir)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char child[PATH_MAX];
        if (snprintf(child, sizeof(child), "%s/%s", rel, de->d_name) >= (int)sizeof(child)) {
            rc = fail(d, -ENAMETOOLONG, rel);
            break;
        }
        long i = find_entry(d, child);
        if (i < 0)
            rc = add_extra(d, child);
        else if (ent(d, (size_t)i)->type == 'd' && d->de[i].act == A_KEEP)
            rc = find_extras(d, child);
    }
    closedir(dir);
    return rc;
}

/* ---- hashing and writing, on the pool ---- */

struct dworker {
    void *buf, *cbuf;
    size_t ccap;
    sk_codec_t *codec;
    int fd;
    bool owned;
    size_t fd_entry;
};

static int dw_init(void *arg, void **state)
{
    struct dst *d = arg;
    uint32_t max_cs = sk_manifest_max_chunk_size(d->r->m);
    struct dworker *w = calloc(1, sizeof(*w));
    if (w) {
        w->fd = -1;
        w->fd_entry = SIZE_MAX;
        w->buf = malloc(max_cs);
        w->codec = d->codec ? sk_codec_new(max_cs, 1) : NULL;
    }
    *state = w;
    return w && w->buf && (w->codec || !d->codec) ? 0 : -ENOMEM;
}

static void dw_close(struct dworker *w)
{
    if (w->fd >= 0 && w->owned)
        close(w->fd);
    w->fd = -1;
    w->fd_entry = SIZE_MAX;
}

static void dw_fini(void *arg, void *state)
{
    struct dworker *w = state;
    if (!w)
        return;
    dw_close(w);
    free(w->buf);
    free(w->cbuf);
    sk_codec_free(w->codec);
    free(w);
}

/* The slot's file i, through its lock descriptor where it has one (see rst_lockfd_of), unless
 * the file was replaced: the lock descriptor holds the old one, now in quarantine. */
static int slot_open(struct dst *d, size_t i, int flags, bool *owned)
{
    const char *rel = ent(d, i)->path;
    int fd = d->de[i].act == A_KEEP ? rst_lockfd_of(d->r, rel) : -1;
    *owned = fd < 0;
    return fd >= 0 ? fd : sk_open_beneath(d->r->datafd, rel, flags | O_NOFOLLOW, 0);
}

static int dw_open(struct dst *d, struct dworker *w, size_t entry)
{
    if (w->fd_entry == entry)
        return 0;
    dw_close(w);
    int fd = slot_open(d, entry, d->write_phase ? O_WRONLY : O_RDONLY, &w->owned);
    if (fd < 0)
        return fail(d, fd, ent(d, entry)->path);
    w->fd = fd;
    w->fd_entry = entry;
    return 0;
}

static int hash_item(void *arg, void *state, size_t i)
{
    struct dst *d = arg;
    struct dworker *w = state;
    struct djob *j = &d->jobs[i];
    const sk_mentry_t *e = ent(d, j->entry);
    const struct dent *de = &d->de[j->entry];
    uint64_t off = j->index * sk_mentry_chunk_size(d->r->m, e);
    size_t len = sk_mentry_chunk_len(d->r->m, e, j->index);
    if (de->act != A_KEEP || off >= de->oldsize) {
        j->diff = j->c != NULL; /* beyond the old end a hole needs nothing */
        return 0;
    }
    int rc = dw_open(d, w, j->entry);
    if (rc < 0)
        return rc;
    size_t have = de->oldsize - off < len ? (size_t)(de->oldsize - off) : len;
    if (!j->c) {
        off_t data = lseek(w->fd, (off_t)off, SEEK_DATA);
        if ((data < 0 && errno == ENXIO) || (data >= 0 && (uint64_t)data >= off + have)) {
            j->diff = false;
            sk_progress_add(d->r->progress, have);
            return 0;
        }
    } else if (have < len) {
        j->diff = true;
        sk_progress_add(d->r->progress, have);
        return 0;
    }
    ssize_t n = sk_pread_full(w->fd, w->buf, have, (off_t)off);
    if (n < 0)
        return fail(d, (int)n, e->path);
    if (!j->c) {
        j->diff = !sk_is_zero(w->buf, (size_t)n);
    } else if ((size_t)n < len) {
        j->diff = true;
    } else {
        sk_hash_t h;
        sk_hash_compute(w->buf, len, &h);
        j->diff = !sk_hash_eq(&h, &j->c->hash);
        if (!j->diff)
            atomic_fetch_add(&d->unchanged, len);
    }
    sk_progress_add(d->r->progress, have);
    return 0;
}

/* Fetches and checks a chunk the restore will write, before anything changes. */
static int verify_item(void *arg, void *state, size_t i)
{
    struct dst *d = arg;
    struct dworker *w = state;
    const struct djob *j = &d->jobs[d->wjobs[i]];
    if (!j->c)
        return 0;
    const sk_mentry_t *e = ent(d, j->entry);
    size_t len = sk_mentry_chunk_len(d->r->m, e, j->index);
    int rc = rst_fetch_chunk(d->r, e, j->c, &w->cbuf, &w->ccap, w->codec, w->buf, len);
    if (rc == 0)
        sk_progress_add(d->r->progress, len);
    return rc;
}

static bool has_zero_block(const char *b, size_t len)
{
    for (size_t p = 0; p < len; p += 4096)
        if (sk_is_zero(b + p, len - p < 4096 ? len - p : 4096))
            return true;
    return false;
}

static int punch(int fd, uint64_t off, uint64_t len)
{
    SK_CRASHPOINT("punch");
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0 ? -errno : 0;
}

static int write_item(void *arg, void *state, size_t i)
{
    struct dst *d = arg;
    struct dworker *w = state;
    struct djob *j = &d->jobs[d->wjobs[i]];
    const sk_mentry_t *e = ent(d, j->entry);
    bool kept = d->de[j->entry].act == A_KEEP; /* else a new file, sparse from ftruncate */
    uint64_t off = j->index * sk_mentry_chunk_size(d->r->m, e);
    size_t len = sk_mentry_chunk_len(d->r->m, e, j->index);
    int rc = 0;
    if (j->c) {
        rc = rst_fetch_chunk(d->r, e, j->c, &w->cbuf, &w->ccap, w->codec, w->buf, len);
        if (rc < 0)
            return rc;
    }
    if ((rc = dw_open(d, w, j->entry)) < 0)
        return rc;
    if (!j->c) {
        /* A hole of the snapshot: punched, or written as zeros where holes cannot be made. */
        rc = punch(w->fd, off, len);
        if (rc == -EOPNOTSUPP) {
            memset(w->buf, 0, len);
            SK_CRASHPOINT("write");
            rc = sk_pwrite_all(w->fd, w->buf, len, (off_t)off);
        }
    } else if (kept && has_zero_block(w->buf, len)) {
        rc = punch(w->fd, off, len);
        SK_CRASHPOINT("write");
        if (rc == 0)
            rc = sk_pwrite_sparse(w->fd, w->buf, len, (off_t)off);
        else if (rc == -EOPNOTSUPP)
            rc = sk_pwrite_all(w->fd, w->buf, len, (off_t)off);
    } else {
        SK_CRASHPOINT("write");
        rc = kept ? sk_pwrite_all(w->fd, w->buf, len, (off_t)off) : sk_pwrite_sparse(w->fd, w->buf, len, (off_t)off);
    }
    if (rc < 0)
        return fail(d, rc, e->path);
    if (j->c)
        atomic_fetch_add(&d->written, len);
    sync_file_range(w->fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
    sk_progress_add(d->r->progress, len);
    return 0;
}

/* ---- saving into quarantine ---- */

/* Copies [off, off+len) of src into dst at the same offset, holes kept. */
static int copy_range(struct dst *d, int src, int dst, uint64_t off, uint64_t len, void *buf, size_t bufsz,
                      const char *path)
{
    char qrel[PATH_MAX];
    snprintf(qrel, sizeof(qrel), "saved/%s", path);
    while (len) {
        size_t n = len < bufsz ? (size_t)len : bufsz;
        ssize_t got = sk_pread_full(src, buf, n, (off_t)off);
        if (got < 0)
            return fail(d, (int)got, path);
        if (got == 0)
            break;
        SK_CRASHPOINT("write");
        int rc = sk_pwrite_sparse(dst, buf, (size_t)got, (off_t)off);
        if (rc < 0)
            return qfail(d, rc, qrel);
        off += (uint64_t)got;
        len -= (uint64_t)got;
    }
    return 0;
}

/* Saves what the restore will overwrite of file i (see restore.h), fsynced. */
static int save_file(struct dst *d, size_t i, void *buf, size_t bufsz)
{
    const sk_mentry_t *e = ent(d, i);
    const struct dent *de = &d->de[i];
    char qdir[PATH_MAX], qrel[PATH_MAX];
    const char *leaf;
    q_parent("saved", e->path, qdir, sizeof(qdir), &leaf);
    snprintf(qrel, sizeof(qrel), "saved/%s", e->path);
    bool whole = d->reflink || de->oldsize <= SK_QUARANTINE_SMALL;
    int pfd = q_mkdirs(d, qdir);
    if (pfd < 0)
        return pfd;
    bool owned;
    int src = slot_open(d, i, O_RDONLY, &owned);
    if (src < 0) {
        close(pfd);
        return fail(d, src, e->path);
    }
    SK_CRASHPOINT("create");
    int dst = openat(pfd, leaf, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (whole ? O_TRUNC : 0), 0600);
    int rc = dst < 0 ? qfail(d, -errno, qrel) : 0;
    const char *kind = "file";
    if (rc == 0 && d->reflink) {
        SK_CRASHPOINT("clone");
        rc = sk_clone_fd(src, dst);
        if (rc == 0) {
            kind = "clone";
        } else if (sk_clone_impossible(rc)) {
            d->reflink = false; /* copy from now on */
            whole = de->oldsize <= SK_QUARANTINE_SMALL;
            rc = 0;
        } else {
            rc = qfail(d, rc, qrel);
        }
    }
    if (rc == 0 && whole && strcmp(kind, "clone")) {
        rc = copy_range(d, src, dst, 0, de->oldsize, buf, bufsz, e->path);
        SK_CRASHPOINT("truncate");
        if (rc == 0 && ftruncate(dst, (off_t)de->oldsize) < 0)
            rc = qfail(d, -errno, qrel);
    }
    if (rc == 0 && whole)
        rc = index_add(d, kind, e->path, 0, de->oldsize, "saved");
    for (size_t k = 0; rc == 0 && !whole && k < de->nj; k++) {
        const struct djob *j = &d->jobs[de->j0 + k];
        uint64_t off = j->index * sk_mentry_chunk_size(d->r->m, e);
        if (!j->diff || off >= de->oldsize || have_region(d, e->path, off))
            continue;
        uint64_t len = sk_mentry_chunk_len(d->r->m, e, j->index);
        if (len > de->oldsize - off)
            len = de->oldsize - off;
        rc = copy_range(d, src, dst, off, len, buf, bufsz, e->path);
        if (rc == 0)
            rc = index_add(d, "region", e->path, off, len, "saved");
    }
    /* The old size, once: a re-run sees the size the first run already set. */
    if (rc == 0 && !whole && !have_size(d, e->path))
        rc = index_add(d, "size", e->path, de->oldsize, 0, NULL);
    /* The tail a shorter snapshot file cuts. */
    if (rc == 0 && !whole && de->oldsize > e->size && !have_region(d, e->path, e->size)) {
        rc = copy_range(d, src, dst, e->size, de->oldsize - e->size, buf, bufsz, e->path);
        if (rc == 0)
            rc = index_add(d, "region", e->path, e->size, de->oldsize - e->size, "saved");
    }
    SK_CRASHPOINT("fsync");
    if (rc == 0 && fsync(dst) < 0)
        rc = qfail(d, -errno, qrel);
    SK_CRASHPOINT("fsync");
    if (rc == 0 && fsync(pfd) < 0)
        rc = qfail(d, -errno, qdir);
    if (dst >= 0)
        close(dst);
    if (owned)
        close(src);
    close(pfd);
    return rc;
}

/* What the quarantine costs (bytes copied) when file i is saved. */
static uint64_t save_cost(const struct dst *d, size_t i)
{
    const sk_mentry_t *e = ent(d, i);
    const struct dent *de = &d->de[i];
    if (d->reflink || have_path(d, e->path))
        return 0;
    if (de->oldsize <= SK_QUARANTINE_SMALL)
        return de->oldsize;
    uint64_t n = de->oldsize > e->size ? de->oldsize - e->size : 0;
    for (size_t k = 0; k < de->nj; k++) {
        const struct djob *j = &d->jobs[de->j0 + k];
        uint64_t off = j->index * sk_mentry_chunk_size(d->r->m, e);
        if (j->diff && off < de->oldsize)
            n += sk_mentry_chunk_len(d->r->m, e, j->index);
    }
    return n;
}

static int save_all(struct dst *d)
{
    sk_manifest_t *m = d->r->m;
    size_t bufsz = 1024 * 1024;
    void *buf = malloc(bufsz);
    if (!buf)
        return sk_err_set(d->r->err, -ENOMEM, d->r->opts->data_dir, NULL);
    size_t before = d->idxlen;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < m->nentries; i++) {
        const sk_mentry_t *e = ent(d, i);
        const struct dent *de = &d->de[i];
        if (de->act == A_REPLACE && !have_path(d, e->path))
            rc = index_add(d, "moved", e->path, 0, 0, "moved");
        if (rc == 0 && de->act != A_KEEP && !have_path(d, e->path))
            rc = index_add(d, "created", e->path, 0, 0, NULL);
        if (rc == 0 && de->act == A_KEEP && de->differs && !have_path(d, e->path))
            rc = save_file(d, i, buf, bufsz);
    }
    for (size_t i = 0; rc == 0 && i < d->nextras; i++)
        if (!have_path(d, d->extras[i]))
            rc = index_add(d, "moved", d->extras[i], 0, 0, "moved");
    free(buf);
    if (rc == 0 && d->idxlen != before) {
        SK_CRASHPOINT("write");
        rc = sk_write_file_atomic(d->qfd, SK_QUARANTINE_INDEX, d->idx, d->idxlen, 0600);
        if (rc < 0)
            qfail(d, rc, SK_QUARANTINE_INDEX);
    }
    return rc;
}

/* ---- changing the slot ---- */

/* Moves what is at rel in the slot to quarantine/<t>/moved/rel. */
static int move_away(struct dst *d, const char *rel)
{
    char qdir[PATH_MAX];
    const char *leaf;
    q_parent("moved", rel, qdir, sizeof(qdir), &leaf);
    int qp = q_mkdirs(d, qdir);
    if (qp < 0)
        return qp;
    const char *sleaf;
    int sp = sk_open_parent_beneath(d->r->datafd, rel, &sleaf);
    if (sp < 0) {
        close(qp);
        return fail(d, sp, rel);
    }
    /* Never over something already there (a name moved by an earlier run). */
    char name[NAME_MAX + 1];
    snprintf(name, sizeof(name), "%s", leaf);
    struct stat st;
    for (int n = 1; n < 1000 && fstatat(qp, name, &st, AT_SYMLINK_NOFOLLOW) == 0; n++)
        snprintf(name, sizeof(name), "%.200s.%d", leaf, n);
    SK_CRASHPOINT("rename");
    int rc = renameat(sp, sleaf, qp, name) < 0 ? fail(d, -errno, rel) : 0;
    SK_CRASHPOINT("fsync");
    if (rc == 0 && fsync(qp) < 0)
        rc = qfail(d, -errno, qdir);
    SK_CRASHPOINT("fsync");
    if (rc == 0 && fsync(sp) < 0)
        rc = fail(d, -errno, rel);
    close(sp);
    close(qp);
    return rc;
}

static int create_entry(struct dst *d, size_t i)
{
    const sk_mentry_t *e = ent(d, i);
    const char *leaf;
    int pfd = sk_open_parent_beneath(d->r->datafd, e->path, &leaf);
    if (pfd < 0)
        return fail(d, pfd, e->path);
    int rc = 0;
    if (e->type == 'd') {
        SK_CRASHPOINT("mkdir");
        if (mkdirat(pfd, leaf, 0700) < 0)
            rc = fail(d, -errno, e->path);
    } else if (e->type == 'l') {
        SK_CRASHPOINT("symlink");
        if (symlinkat(e->target, pfd, leaf) < 0)
            rc = fail(d, -errno, e->path);
    } else {
        SK_CRASHPOINT("create");
        int fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
            rc = fail(d, -errno, e->path);
        } else {
            SK_CRASHPOINT("truncate");
            if (ftruncate(fd, (off_t)e->size) < 0)
                rc = fail(d, -errno, e->path);
            close(fd);
        }
    }
    close(pfd);
    return rc;
}

/* Owner, mode and mtime of entry i where they differ, then fsync (files and folders). */
static int finish(struct dst *d, size_t i, bool *chown_warned)
{
    const sk_mentry_t *e = ent(d, i);
    const char *leaf;
    int pfd = sk_open_parent_beneath(d->r->datafd, e->path, &leaf);
    if (pfd < 0)
        return fail(d, pfd, e->path);
    bool owned = true;
    int fd = -1, rc = 0;
    struct stat st;
    if (e->type == 'f')
        fd = slot_open(d, i, O_WRONLY, &owned);
    else if (e->type == 'd')
        fd = sk_open_beneath(pfd, leaf, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0 && e->type != 'l') {
        rc = fail(d, fd, e->path);
        goto out;
    }
    if ((fd >= 0 ? fstat(fd, &st) : fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW)) < 0) {
        rc = fail(d, -errno, e->path);
        goto out;
    }
    if (st.st_uid != e->uid || st.st_gid != e->gid) {
        SK_CRASHPOINT("chown");
        if ((fd >= 0 ? fchown(fd, e->uid, e->gid) : fchownat(pfd, leaf, e->uid, e->gid, AT_SYMLINK_NOFOLLOW)) < 0) {
            if (errno != EPERM) {
                rc = fail(d, -errno, e->path);
                goto out;
            }
            if (!*chown_warned) {
                char full[PATH_MAX];
                rst_slot_path(d->r, e->path, full, sizeof(full));
                sk_notice(SK_NOTICE_WARN, "%s: cannot restore owner %u:%u (not root); files keep the current user",
                          full, e->uid, e->gid);
            }
            *chown_warned = true;
        }
    }
    if (fd >= 0 && (st.st_mode & 07777) != e->mode) {
        SK_CRASHPOINT("chmod");
        if (fchmod(fd, e->mode) < 0) {
            rc = fail(d, -errno, e->path);
            goto out;
        }
    }
    struct timespec ts[2] = {{.tv_sec = e->mtime_sec, .tv_nsec = e->mtime_nsec},
                             {.tv_sec = e->mtime_sec, .tv_nsec = e->mtime_nsec}};
    if (st.st_mtim.tv_sec != e->mtime_sec || st.st_mtim.tv_nsec != (long)e->mtime_nsec) {
        SK_CRASHPOINT("utimes");
        if ((fd >= 0 ? futimens(fd, ts) : utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW)) < 0) {
            rc = fail(d, -errno, e->path);
            goto out;
        }
    }
    SK_CRASHPOINT("fsync");
    if (fd >= 0 && fsync(fd) < 0)
        rc = fail(d, -errno, e->path);
out:
    if (fd >= 0 && owned)
        close(fd);
    close(pfd);
    return rc;
}

static int apply(struct dst *d, bool *changed)
{
    sk_manifest_t *m = d->r->m;
    int rc = 0;
    /* What is in the way, and what the snapshot does not have, into quarantine. */
    for (size_t i = 0; rc == 0 && i < m->nentries; i++) {
        if (d->de[i].act == A_REPLACE) {
            *changed = true;
            rc = move_away(d, ent(d, i)->path);
        }
    }
    for (size_t i = 0; rc == 0 && i < d->nextras; i++) {
        *changed = true;
        rc = move_away(d, d->extras[i]);
    }
    /* What is missing, parents first. */
    for (size_t i = 0; rc == 0 && i < m->nentries; i++) {
        if (d->de[i].act != A_KEEP) {
            *changed = true;
            rc = create_entry(d, i);
        }
    }
    /* Sizes, then the chunks that differ. */
    for (size_t i = 0; rc == 0 && i < m->nentries; i++) {
        const sk_mentry_t *e = ent(d, i);
        if (e->type != 'f' || d->de[i].act != A_KEEP || d->de[i].oldsize == e->size)
            continue;
        *changed = true;
        bool owned;
        int fd = slot_open(d, i, O_WRONLY, &owned);
        if (fd < 0)
            return fail(d, fd, e->path);
        SK_CRASHPOINT("truncate");
        if (ftruncate(fd, (off_t)e->size) < 0)
            rc = fail(d, -errno, e->path);
        if (owned)
            close(fd);
    }
    if (rc < 0)
        return rc;
    if (d->nwjobs) {
        *changed = true;
        uint64_t total = 0;
        for (size_t k = 0; k < d->nwjobs; k++) {
            const struct djob *j = &d->jobs[d->wjobs[k]];
            total += sk_mentry_chunk_len(m, ent(d, j->entry), j->index);
        }
        d->write_phase = d->codec = true;
        sk_progress_start(d->r->progress, "restore", total);
        sk_pool_each_t each = {.n = d->nwjobs,
                               .arg = d,
                               .init = dw_init,
                               .item = write_item,
                               .fini = dw_fini,
                               .err = d->r->err,
                               .path = d->r->opts->data_dir};
        sk_pool_each(d->r->threads, &each, sk_progress_tick, d->r->progress);
        sk_progress_end(d->r->progress);
        if (d->r->err->code)
            return d->r->err->code;
    }
    /* Metadata and fsync, children before their folder (whose mtime they would change). */
    bool chown_warned = false;
    for (size_t i = m->nentries; rc == 0 && i-- > 0;)
        rc = finish(d, i, &chown_warned);
    SK_CRASHPOINT("fsync");
    if (rc == 0 && fsync(d->r->datafd) < 0)
        rc = sk_err_errno(d->r->err, d->r->opts->data_dir);
    return rc;
}

/* After a failure into a slot that held nothing of the snapshot's (nothing was overwritten nor
 * moved): takes back what this run created, children first, so that the slot is as it was. */
static void take_back(struct dst *d, bool *changed)
{
    for (size_t i = d->r->m->nentries; i-- > 0;) {
        if (d->de[i].act != A_CREATE)
            continue;
        const char *leaf;
        int pfd = sk_open_parent_beneath(d->r->datafd, ent(d, i)->path, &leaf);
        if (pfd < 0)
            continue; /* its folder is gone already */
        SK_CRASHPOINT("unlink");
        int rc = sk_rm_rf_at(pfd, leaf);
        close(pfd);
        if (rc < 0)
            return; /* the marker stays: the slot is restoring */
    }
    SK_CRASHPOINT("fsync");
    if (fsync(d->r->datafd) == 0)
        *changed = false;
}

int rst_delta(struct rst *r, sk_restore_result_t *res, bool *changed)
{
    sk_manifest_t *m = r->m;
    struct dst d = {.r = r, .qfd = -1};
    *changed = false;
    int rc = 0;
    d.de = calloc(m->nentries ? m->nentries : 1, sizeof(*d.de));
    d.byname = calloc(m->nentries ? m->nentries : 1, sizeof(*d.byname));
    if (!d.de || !d.byname) {
        rc = sk_err_set(r->err, -ENOMEM, r->opts->data_dir, NULL);
        goto out;
    }
    for (size_t i = 0; i < m->nentries; i++)
        d.byname[i] = i;
    qsort_r(d.byname, m->nentries, sizeof(*d.byname), cmp_byname, &d);
    if ((rc = classify(&d)) < 0)
        goto out;
    for (size_t i = 0; i < m->ninclude; i++) {
        long k = find_entry(&d, m->include[i]);
        if (k >= 0 && ent(&d, (size_t)k)->type == 'd' && d.de[k].act == A_KEEP &&
            (rc = find_extras(&d, m->include[i])) < 0)
            goto out;
    }

    /* Hash what the slot has. */
    uint64_t total = 0;
    for (size_t k = 0; k < d.njobs; k++) {
        const struct djob *j = &d.jobs[k];
        const struct dent *de = &d.de[j->entry];
        uint64_t off = j->index * sk_mentry_chunk_size(m, ent(&d, j->entry));
        if (de->act == A_KEEP && off < de->oldsize)
            total += sk_mentry_chunk_len(m, ent(&d, j->entry), j->index);
    }
    sk_progress_start(r->progress, "compare", total);
    sk_pool_each_t each = {.n = d.njobs,
                           .arg = &d,
                           .init = dw_init,
                           .item = hash_item,
                           .fini = dw_fini,
                           .err = r->err,
                           .path = r->opts->data_dir};
    sk_pool_each(r->threads, &each, sk_progress_tick, r->progress);
    sk_progress_end(r->progress);
    if (r->err->code) {
        rc = r->err->code;
        goto out;
    }
    uint64_t write_bytes = 0;
    size_t wcap = 0;
    for (size_t k = 0; k < d.njobs; k++) {
        struct djob *j = &d.jobs[k];
        if (!j->diff)
            continue;
        d.de[j->entry].differs = true;
        if (sk_grow(&d.wjobs, &wcap, d.nwjobs + 1, sizeof(*d.wjobs), 1024) < 0) {
            rc = sk_err_set(r->err, -ENOMEM, r->opts->data_dir, NULL);
            goto out;
        }
        d.wjobs[d.nwjobs++] = k;
        if (j->c)
            write_bytes += sk_mentry_chunk_len(m, ent(&d, j->entry), j->index);
    }
    /* Every chunk it will write over the slot's own data is fetched and checked first: a
     * damaged snapshot then leaves the slot as it was. (Into a slot that holds none of the
     * snapshot's files there is nothing to keep, and each chunk is checked as it is written.) */
    bool has_files = false;
    for (size_t i = 0; i < m->nentries; i++)
        if (ent(&d, i)->type == 'f' && d.de[i].act == A_KEEP)
            has_files = true;
    if (has_files && d.nwjobs) {
        uint64_t vtotal = 0;
        for (size_t k = 0; k < d.nwjobs; k++)
            if (d.jobs[d.wjobs[k]].c)
                vtotal += sk_mentry_chunk_len(m, ent(&d, d.jobs[d.wjobs[k]].entry), d.jobs[d.wjobs[k]].index);
        d.codec = true;
        sk_progress_start(r->progress, "check", vtotal);
        sk_pool_each_t ve = {.n = d.nwjobs,
                             .arg = &d,
                             .init = dw_init,
                             .item = verify_item,
                             .fini = dw_fini,
                             .err = r->err,
                             .path = r->opts->data_dir};
        sk_pool_each(r->threads, &ve, sk_progress_tick, r->progress);
        sk_progress_end(r->progress);
        if (r->err->code) {
            rc = r->err->code;
            goto out;
        }
    }
    bool any = d.nwjobs || d.nextras;
    for (size_t i = 0; i < m->nentries; i++) {
        struct dent *de = &d.de[i];
        if (ent(&d, i)->type == 'f' && de->act == A_KEEP && de->oldsize > ent(&d, i)->size)
            de->differs = true;
        if (de->act != A_KEEP || (ent(&d, i)->type == 'f' && de->oldsize != ent(&d, i)->size))
            any = true;
    }

    /* The quarantine folder an interrupted run left (the marker names it), with its index; a
     * new one is made only once the marker is written. Clones into it work if they work into
     * .slotkeeper/, which holds it. */
    char qrel[PATH_MAX];
    snprintf(qrel, sizeof(qrel), "quarantine/%s", r->stamp);
    d.qfd = sk_open_beneath(r->metafd, qrel, O_RDONLY | O_DIRECTORY, 0);
    if (d.qfd < 0 && d.qfd != -ENOENT) {
        snprintf(qrel, sizeof(qrel), "%s/%s", SK_QUARANTINE_DIR, r->stamp);
        rc = fail(&d, d.qfd, qrel);
        goto out;
    }
    if ((rc = load_index(&d)) < 0) {
        if (!r->err->code)
            sk_err_set(r->err, rc, r->opts->data_dir, NULL);
        goto out;
    }
    if (any && sk_reflink_probe(r->datafd, r->metafd, NULL) == 1)
        d.reflink = true;

    /* Free space: what will be written, and what quarantine copies. */
    uint64_t qcost = 0;
    for (size_t i = 0; i < m->nentries; i++)
        if (d.de[i].act == A_KEEP && d.de[i].differs)
            qcost += save_cost(&d, i);
    uint64_t need = write_bytes + qcost + (uint64_t)m->nentries * 4096 + 1024 * 1024, avail = 0;
    rc = sk_fs_avail(r->opts->data_dir, &avail);
    if (rc < 0) {
        sk_err_set(r->err, rc, r->opts->data_dir, NULL);
        goto out;
    }
    if (need > avail) {
        char a[32], b[32], c[32];
        rc = sk_err_set(
            r->err, -ENOSPC, r->opts->data_dir,
            "not enough space: the snapshot needs %s written and quarantine %s of the old data, %s available",
            sk_fmt_bytes(write_bytes, a, sizeof(a)), sk_fmt_bytes(qcost, b, sizeof(b)),
            sk_fmt_bytes(avail, c, sizeof(c)));
        goto out;
    }

    rc = rst_write_marker(r);
    if (rc < 0)
        goto out;
    r->marker_written = true;
    if (any && d.qfd < 0 && (d.qfd = rst_open_quarantine(r)) < 0) {
        rc = d.qfd;
        goto out;
    }
    if (any) {
        if ((rc = save_all(&d)) < 0)
            goto out;
        SK_CRASHPOINT("fsync");
        if ((rc = sk_fsync_at(r->metafd, "quarantine")) < 0) {
            fail(&d, rc, SK_QUARANTINE_DIR);
            goto out;
        }
    }
    rc = apply(&d, changed);
    if (rc < 0) {
        bool nothing_kept = !has_files && !d.nextras;
        for (size_t i = 0; i < m->nentries; i++)
            if (d.de[i].act == A_REPLACE)
                nothing_kept = false;
        if (*changed && nothing_kept)
            take_back(&d, changed);
        goto out;
    }
    /* A quarantine that only lists what was created holds nothing of the slot's. */
    bool kept = false;
    for (const char *p = d.idx ? strchr(d.idx, '\n') : NULL; p && p[1]; p = strchr(p + 1, '\n'))
        if (strncmp(p + 1, "created ", 8))
            kept = true;
    /* Only what this path put there goes: an interrupted --full run may have moved whole
     * folders into the same quarantine folder. */
    if (!kept && d.qfd >= 0) {
        static const char *const ours[] = {"saved", "moved", SK_QUARANTINE_INDEX};
        for (size_t k = 0; k < 3; k++) {
            SK_CRASHPOINT("unlink");
            sk_rm_rf_at(d.qfd, ours[k]);
        }
        int qtop = sk_open_beneath(r->metafd, "quarantine", O_RDONLY | O_DIRECTORY, 0);
        if (qtop >= 0) {
            SK_CRASHPOINT("rmdir");
            unlinkat(qtop, r->stamp, AT_REMOVEDIR); /* only when empty */
            close(qtop);
        }
    }
    res->bytes_written = atomic_load(&d.written);
    res->bytes_unchanged = atomic_load(&d.unchanged);
out:
    if (d.qfd >= 0)
        close(d.qfd);
    for (size_t i = 0; i < d.nextras; i++)
        free(d.extras[i]);
    for (size_t i = 0; i < d.nhave; i++)
        free(d.have[i]);
    free(d.have);
    free(d.extras);
    free(d.idx);
    free(d.wjobs);
    free(d.jobs);
    free(d.de);
    free(d.byname);
    return rc;
}

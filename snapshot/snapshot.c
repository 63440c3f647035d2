/*
 * snapshot: data-dir -> repository (see snapshot.h).
 *
 * Phases: walk (entries and open files), plan (one job per chunk that touches
 * data), read/hash/compress/stage on worker threads, check that no file
 * changed, then commit in the repository's write order. Any failure removes
 * the session and leaves the repository as it was (chunks already renamed in
 * by an earlier phase are only possible after the manifest is durable).
 */
#include "slotkeeper/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "slotkeeper/buf.h"
#include "slotkeeper/carry.h"
#include "slotkeeper/chunk.h"
#include "slotkeeper/datadir.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/paths.h"
#include "slotkeeper/hashset.h"
#include "slotkeeper/inclist.h"
#include "slotkeeper/pool.h"
#include "slotkeeper/s3.h"
#include "slotkeeper/restore.h"
#include "slotkeeper/notice.h"

#define WALK_MAX_DEPTH 32
#define SK_SYNC_BATCH  64 /* above this many new chunks, one syncfs instead of one fdatasync each */

enum job_state { JOB_PENDING, JOB_ZERO, JOB_STORED, JOB_NEW, JOB_DUP, JOB_CARRIED, JOB_MISMATCH };
enum job_kind { K_READ, K_CARRY };
enum job_check { CHK_NONE, CHK_HASH, CHK_ZERO }; /* the boundary chunk must hash as the parent says */
#define CARRY_EDGE_GUARD (64U * 1024)            /* chunks this close to a hole's edge are read again */

/* A file to read. No descriptor is kept open between phases, so a data-dir of any number of
 * files needs only a few (one per worker, one per folder level of the walk): a file is opened
 * again, beneath its included folder, whenever it is read, and must still be the same inode. */
struct sfile {
    size_t entry; /* index into the manifest's entries */
    uint32_t cs;  /* its chunk size */
    uint16_t inc; /* the included folder that holds it */
    struct stat st;
    bool ident;            /* its identity is known (recorded in the manifest) */
    uint64_t dev, ino;     /* on its source (the frozen copy's origin) */
    const sk_mentry_t *pe; /* the parent's record it carries from, or NULL */
    uint64_t carried;      /* bytes of prefix carried (0: none) */
};

struct job {
    uint32_t file;
    uint8_t state;
    uint8_t kind;  /* K_READ, or K_CARRY: taken from the parent unless the chunk is missing */
    uint8_t check; /* CHK_*: compared with the parent after reading */
    bool was_read;
    uint32_t csize;
    uint64_t index;
    sk_hash_t hash;
    sk_hash_t want; /* K_CARRY and CHK_HASH: the parent's hash */
};

struct snap {
    sk_repo_t *repo;
    const sk_snapshot_opts_t *opts;
    sk_manifest_t *m;
    sk_err_t *err;
    sk_progress_t *progress;
    int datafd;
    int *incfd; /* each included folder, opened once (a top-level link is followed), or -1 */
    int level;
    uint32_t max_cs; /* the largest chunk size of any file: buffer sizes */
    struct sfile *files;
    size_t nfiles, capfiles;
    struct job *jobs;
    size_t njobs, capjobs;
    uint64_t total;
    _Atomic uint64_t new_bytes;
    pthread_mutex_t set_lock;
    sk_hset_t set; /* every distinct non-zero chunk of this snapshot -> compressed size */
    sk_hash_t *new_hashes;
    size_t nnew;
    sk_origin_t *origin;      /* the frozen copy's origin, or NULL */
    sk_manifest_t *parent;    /* the snapshot carried from, or NULL */
    _Atomic uint8_t *demoted; /* per file: a check failed, read it whole */
    size_t *pass;             /* the jobs of the second pass (files read whole after all), or NULL */
    _Atomic uint64_t read_bytes;
};

void sk_snapshot_new_id(char id[SK_ID_MAX], int64_t *time_out)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
        rnd = (uint32_t)ts.tv_nsec ^ (uint32_t)getpid();
    char t[32];
    strftime(t, sizeof(t), "%Y%m%dT%H%M%SZ", &tm);
    /* Microseconds keep ids of one second in time order; the random part keeps concurrent writers apart. */
    snprintf(id, SK_ID_MAX, "%s-%06ld-%04x", t, ts.tv_nsec / 1000, rnd & 0xffff);
    if (time_out)
        *time_out = (int64_t)ts.tv_sec;
}

static void fill_meta(sk_mentry_t *e, const struct stat *st)
{
    e->mode = st->st_mode & 07777;
    e->uid = st->st_uid;
    e->gid = st->st_gid;
    e->mtime_sec = st->st_mtim.tv_sec;
    e->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
}

static int add_file(struct snap *s, size_t entry, uint32_t cs, uint16_t inc, const struct stat *st)
{
    if (sk_grow(&s->files, &s->capfiles, s->nfiles + 1, sizeof(*s->files), 32) < 0)
        return -ENOMEM;
    s->files[s->nfiles++] = (struct sfile){.entry = entry, .cs = cs, .inc = inc, .st = *st};
    return 0;
}

static int add_job(struct snap *s, uint32_t file, uint64_t index);

/* One job per chunk of file fi from offset from (a chunk boundary) on that intersects a data
 * extent; chunks wholly inside holes are skipped. */
static int plan_file(struct snap *s, size_t fi, int fd, uint64_t from)
{
    struct sfile *f = &s->files[fi];
    uint64_t size = (uint64_t)f->st.st_size;
    uint64_t last = UINT64_MAX; /* last chunk index added for this file */
    off_t pos = (off_t)from;
    while ((uint64_t)pos < size) {
        off_t ds = lseek(fd, pos, SEEK_DATA);
        if (ds < 0) {
            if (errno == ENXIO)
                break; /* only a hole from pos to the end */
            ds = pos;  /* no SEEK_DATA here: treat everything as data */
        }
        off_t de = lseek(fd, ds, SEEK_HOLE);
        if (de < 0 || (uint64_t)de > size)
            de = (off_t)size;
        if (de <= ds)
            break;
        uint64_t first = (uint64_t)ds / f->cs, lastc = ((uint64_t)de - 1) / f->cs;
        for (uint64_t c = first; c <= lastc; c++) {
            if (last != UINT64_MAX && c <= last)
                continue;
            if (add_job(s, (uint32_t)fi, c) < 0)
                return -ENOMEM;
            uint64_t off = c * f->cs;
            s->total += size - off < f->cs ? size - off : f->cs;
            last = c;
        }
        pos = de;
    }
    return 0;
}

/* Opens file f again for reading, beneath its included folder, following no link; -ESTALE if
 * it is no longer the inode the walk saw. */
static int open_sfile(struct snap *s, const struct sfile *f)
{
    const char *rel = s->m->entries[f->entry].path;
    const char *sub = strchr(rel, '/');
    int fd = sk_open_beneath(s->incfd[f->inc], sub ? sub + 1 : rel, O_RDONLY, 0);
    if (fd < 0)
        return fd == -ENOENT ? -ESTALE : fd;
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_ino != f->st.st_ino || st.st_dev != f->st.st_dev) {
        close(fd);
        return -ESTALE;
    }
    return fd;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_dir(struct snap *s, int dfd, const char *rel, int depth, uint16_t inc);

static int walk_entry(struct snap *s, int parentfd, const char *name, const char *rel, int depth, bool follow,
                      uint16_t inc)
{
    char full[PATH_MAX];
    sk_path_join(full, sizeof(full), s->opts->data_dir, rel);
    struct stat st;
    if (fstatat(parentfd, name, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW) < 0)
        return sk_err_errno(s->err, full);
    sk_mentry_t e = {.path = (char *)rel};
    fill_meta(&e, &st);
    if (S_ISDIR(st.st_mode)) {
        if (depth > WALK_MAX_DEPTH)
            return sk_err_set(s->err, -ELOOP, full, "folders nested too deep");
        e.type = 'd';
        if (sk_manifest_add_entry(s->m, &e) < 0)
            return sk_err_set(s->err, -ENOMEM, full, NULL);
        int fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
        if (fd < 0)
            return sk_err_errno(s->err, full);
        if (depth == 0) {
            s->incfd[inc] = dup(fd);
            if (s->incfd[inc] < 0) {
                close(fd);
                return sk_err_errno(s->err, full);
            }
        }
        int rc = walk_dir(s, fd, rel, depth + 1, inc);
        close(fd);
        return rc;
    }
    if (S_ISREG(st.st_mode)) {
        int fd = openat(parentfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            return sk_err_errno(s->err, full);
        struct stat fst;
        if (fstat(fd, &fst) < 0 || fst.st_ino != st.st_ino) {
            close(fd);
            return sk_err_set(s->err, -ESTALE, full, "changed while being read; stop the node first");
        }
        if (!strcmp(name, "shared_memory.bin")) {
            pid_t pid = 0;
            if (sk_fcntl_lock_holder_fd(fd, &pid) == 1) {
                close(fd);
                return sk_err_set(s->err, -EBUSY, full, "in use by process %ld (a running node holds its lock)",
                                  (long)pid);
            }
            /* chainbase's header: 8 bytes of id, then the dirty flag (nodeos-facts.md, section 1). */
            unsigned char hdr[9];
            if (sk_pread_full(fd, hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr) &&
                (!memcmp(hdr, "EOSIODB2", 8) || !memcmp(hdr, "EOSIODB3", 8) || !memcmp(hdr, "CHAINB01", 8)) &&
                hdr[8] != 0) {
                close(fd);
                return sk_err_set(s->err, -EUCLEAN, full,
                                  "dirty flag set (the node did not shut down cleanly); refusing to snapshot it");
            }
        }
        e.type = 'f';
        e.size = (uint64_t)st.st_size;
        e.chunk_size = sk_repo_chunk_size_for(s->repo, name);
        long idx = sk_manifest_add_entry(s->m, &e);
        close(fd);
        if (idx < 0 || add_file(s, (size_t)idx, e.chunk_size, inc, &fst) < 0)
            return sk_err_set(s->err, -ENOMEM, full, NULL);
        struct sfile *f = &s->files[s->nfiles - 1];
        if (s->origin) {
            /* A frozen copy: the identity of the file it was cloned from, when the list has it. */
            const sk_origin_file_t *of = sk_origin_find(s->origin, rel);
            if (of && of->size == (uint64_t)fst.st_size) {
                f->ident = true;
                f->dev = of->dev;
                f->ino = of->ino;
            }
        } else if (!s->opts->staged_in_session) {
            f->ident = true;
            f->dev = (uint64_t)fst.st_dev;
            f->ino = (uint64_t)fst.st_ino;
        }
        return 0;
    }
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(parentfd, name, target, sizeof(target) - 1);
        if (n < 0)
            return sk_err_errno(s->err, full);
        if (n == 0)
            return sk_err_set(s->err, -EINVAL, full, "empty symbolic link");
        target[n] = '\0';
        /* A link is kept only when it cannot leave the snapshot's folders. Anything else would
         * have a worker's nodeos read (and lock, and write) a file outside its slot. */
        if (!sk_manifest_link_ok(s->m, rel, target))
            return sk_err_set(s->err, -EINVAL, full,
                              "a symbolic link to '%s', which may point outside the snapshot; slotkeeper keeps only "
                              "relative links within the snapshot's folders (put the file itself here, or link the "
                              "whole top-level folder)",
                              target);
        e.type = 'l';
        e.target = target;
        if (sk_manifest_add_entry(s->m, &e) < 0)
            return sk_err_set(s->err, -ENOMEM, full, NULL);
        return 0;
    }
    sk_notice(SK_NOTICE_WARN, "%s: skipped (not a regular file, folder or symbolic link)", full);
    return 0;
}

static int walk_dir(struct snap *s, int dfd, const char *rel, int depth, uint16_t inc)
{
    char full[PATH_MAX];
    sk_path_join(full, sizeof(full), s->opts->data_dir, rel);
    DIR *d = sk_opendir_at(dfd);
    if (!d)
        return sk_err_errno(s->err, full);
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (sk_grow(&names, &cap, n + 1, sizeof(*names), 32) < 0) {
            rc = sk_err_set(s->err, -ENOMEM, full, NULL);
            break;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = sk_err_set(s->err, -ENOMEM, full, NULL);
            break;
        }
        n++;
    }
    closedir(d);
    if (rc == 0 && n)
        qsort(names, n, sizeof(*names), cmp_name);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char child[PATH_MAX];
        if (sk_path_join(child, sizeof(child), rel, names[i]) < 0)
            rc = sk_err_set(s->err, -ENAMETOOLONG, full, NULL);
        else
            rc = walk_entry(s, dfd, names[i], child, depth, false, inc);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static int add_job(struct snap *s, uint32_t file, uint64_t index)
{
    if (sk_grow(&s->jobs, &s->capjobs, s->njobs + 1, sizeof(*s->jobs), 1024) < 0)
        return -ENOMEM;
    s->jobs[s->njobs++] = (struct job){.file = file, .index = index, .state = JOB_PENDING};
    return 0;
}

static void file_path(struct snap *s, const struct sfile *f, char *out, size_t len)
{
    sk_path_join(out, len, s->opts->data_dir, s->m->entries[f->entry].path);
}

/* ---- carrying from the parent (see snapshot.h) ----------------------------- */

static void path_key(const char *path, sk_hash_t *k)
{
    sk_hash_compute(path, strlen(path), k);
}

/* A job of file fi: read (counted in the total), or carried with the parent's hash. */
static int add_job_ex(struct snap *s, size_t fi, uint64_t c, uint8_t kind, uint8_t check, const sk_mchunk_t *pc)
{
    if (add_job(s, (uint32_t)fi, c) < 0)
        return -ENOMEM;
    struct job *j = &s->jobs[s->njobs - 1];
    j->kind = kind;
    j->check = check;
    if (pc) {
        j->want = pc->hash;
        j->csize = pc->csize;
    }
    if (kind == K_READ) {
        struct sfile *f = &s->files[fi];
        uint64_t off = c * f->cs, size = (uint64_t)f->st.st_size;
        s->total += size - off < f->cs ? size - off : f->cs;
    }
    return 0;
}

struct hole {
    uint64_t s, e;
};

enum chunk_now { NOW_DATA, NOW_HOLE, NOW_EDGE };

/* Plans file fi carrying its prefix from f->pe (see snapshot.h); 1 when it cannot (nothing
 * planned then), 0 when planned, -ENOMEM. */
static int plan_carry(struct snap *s, size_t fi, int fd, int kind)
{
    struct sfile *f = &s->files[fi];
    const sk_mentry_t *pe = f->pe;
    uint64_t cs = f->cs, size = (uint64_t)f->st.st_size;
    uint64_t nb = (pe->size - 8) / cs, limit = nb * cs; /* carried chunks [0, nb) */
    if (nb < 2)
        return 1;
    /* The holes of [0, limit + guard): nodeos punches the front of a pruned log. */
    struct hole *holes = NULL;
    size_t nh = 0, caph = 0;
    uint64_t scan_end = limit + CARRY_EDGE_GUARD;
    off_t pos = 0;
    while ((uint64_t)pos < scan_end && (uint64_t)pos < size) {
        off_t hs = lseek(fd, pos, SEEK_HOLE);
        if (hs < 0 || (uint64_t)hs >= size)
            break; /* no SEEK_HOLE here (all data), or only the end */
        off_t he = lseek(fd, hs, SEEK_DATA);
        if (he < 0 || (uint64_t)he > size)
            he = (off_t)size;
        if (he <= hs)
            break;
        if (sk_grow(&holes, &caph, nh + 1, sizeof(*holes), 8) < 0) {
            free(holes);
            return -ENOMEM;
        }
        holes[nh++] = (struct hole){(uint64_t)hs, (uint64_t)he};
        pos = he;
    }
    size_t first_job = s->njobs;
    uint64_t total0 = s->total;
    size_t h = 0, p = 0;
    int rc = 0;
    for (uint64_t c = 0; c < nb && rc == 0; c++) {
        uint64_t a = c * cs, b = a + cs;
        while (h < nh && holes[h].e + CARRY_EDGE_GUARD <= a)
            h++;
        enum chunk_now now = NOW_DATA;
        for (size_t k = h; k < nh && holes[k].s < b + CARRY_EDGE_GUARD; k++) {
            if (holes[k].s <= a && holes[k].e >= b) {
                now = NOW_HOLE;
                break;
            }
            now = NOW_EDGE;
        }
        while (p < pe->nchunks && pe->chunks[p].index < c)
            p++;
        const sk_mchunk_t *pc = p < pe->nchunks && pe->chunks[p].index == c ? &pe->chunks[p] : NULL;
        if (c == nb - 1) {
            /* The boundary: read again and compared with the parent after the read. */
            if (now == NOW_HOLE)
                rc = pc ? 1 : 0; /* a hole where the parent had data: not an append */
            else
                rc = add_job_ex(s, fi, c, K_READ, pc ? CHK_HASH : CHK_ZERO, pc);
        } else if (now == NOW_HOLE) {
            continue; /* punched (or a hole all along): nothing to store */
        } else if ((c == 0 && (kind & SK_CARRY_PRUNABLE)) || now == NOW_EDGE || !pc) {
            rc = add_job_ex(s, fi, c, K_READ, CHK_NONE, NULL);
        } else {
            rc = add_job_ex(s, fi, c, K_CARRY, CHK_NONE, pc);
        }
    }
    free(holes);
    if (rc == 0)
        rc = plan_file(s, fi, fd, limit);
    if (rc != 0) {
        s->njobs = first_job;
        s->total = total0;
        return rc;
    }
    f->carried = limit;
    return 0;
}

/* The parent's record of file fi when fi may carry from it, else NULL. */
static const sk_mentry_t *carry_candidate(struct snap *s, size_t fi, const sk_hset_t *pidx)
{
    struct sfile *f = &s->files[fi];
    const char *rel = s->m->entries[f->entry].path;
    if (!s->parent || !f->ident || !(sk_carry_kind(rel) & SK_CARRY_APPEND))
        return NULL;
    sk_hash_t k;
    path_key(rel, &k);
    sk_hset_slot_t *sl = sk_hset_find(pidx, &k);
    if (!sl)
        return NULL;
    const sk_mentry_t *pe = &s->parent->entries[sl->value];
    if (pe->type != 'f' || strcmp(pe->path, rel) || !pe->has_ident || pe->dev != f->dev || pe->ino != f->ino ||
        sk_mentry_chunk_size(s->parent, pe) != f->cs || pe->size > (uint64_t)f->st.st_size ||
        pe->size < 8 + 2 * (uint64_t)f->cs)
        return NULL; /* (a prefix of less than two chunks: nothing worth carrying) */
    return pe;
}

/* Whether file fi and its companion (log <-> index) agree where fi's prefix would end. */
static bool carry_sound(struct snap *s, size_t fi, int fd, const sk_hset_t *fidx)
{
    struct sfile *f = &s->files[fi];
    const char *rel = s->m->entries[f->entry].path;
    int kind = sk_carry_kind(rel);
    char other[PATH_MAX];
    if (sk_carry_companion(rel, other, sizeof(other)) < 0)
        return false;
    sk_hash_t k;
    path_key(other, &k);
    sk_hset_slot_t *sl = sk_hset_find(fidx, &k);
    if (!sl || strcmp(s->m->entries[s->files[sl->value].entry].path, other))
        return false; /* a log without its index (or the reverse): nothing to check against */
    struct sfile *g = &s->files[sl->value];
    int gfd = open_sfile(s, g);
    if (gfd < 0)
        return false;
    uint64_t limit = (f->pe->size - 8) / f->cs * f->cs;
    bool is_index = kind & SK_CARRY_INDEX;
    char why[256];
    bool ok = sk_carry_log_sound(is_index ? gfd : fd, (uint64_t)(is_index ? g : f)->st.st_size, is_index ? fd : gfd,
                                 (uint64_t)(is_index ? f : g)->st.st_size, kind & SK_CARRY_BLOCKLOG,
                                 is_index ? 0 : limit, is_index ? limit : 0, why, sizeof(why));
    close(gfd);
    return ok;
}

/* The parent: the newest good snapshot of this chain and host, when it records identities
 * and no full re-read is due; of this data-dir when there is one (a repository that several
 * data-dirs of one chain write into, the newest is often another data-dir's, whose files'
 * identities are not these: nothing would carry). */
static void load_parent(struct snap *s)
{
    const sk_snapshot_opts_t *o = s->opts;
    if (o->staged_in_session || o->full_reread)
        return;
    sk_fact_t where[3];
    size_t nw = 0;
    const sk_fact_t *dir = NULL;
    for (size_t i = 0; i < o->nfacts; i++) {
        if (nw < 2 && (!strcmp(o->facts[i].key, "source.chain-id") || !strcmp(o->facts[i].key, "source.host")))
            where[nw++] = o->facts[i];
        else if (!strcmp(o->facts[i].key, "source.data-dir"))
            dir = &o->facts[i];
    }
    sk_err_t lerr;
    sk_err_clear(&lerr);
    sk_manifest_t *pm = NULL;
    int rc = -ENOENT;
    if (dir) {
        where[nw] = *dir;
        rc = sk_repo_latest_good_where(s->repo, where, nw + 1, "to carry from", &pm, &lerr);
    }
    /* Else any data-dir's (a frozen copy snapshotted under its own path carries from its
     * origin's, by the identities its frozen-origin file records). */
    if (rc == -ENOENT)
        rc = sk_repo_latest_good_where(s->repo, where, nw, "to carry from", &pm, &lerr);
    if (rc < 0)
        return;
    bool ids = false;
    for (size_t i = 0; i < pm->nentries && !ids; i++)
        ids = pm->entries[i].type == 'f' && pm->entries[i].has_ident;
    uint64_t run = pm->has_carry_run ? pm->carry_run : 0;
    if (!ids || (o->full_reread_every && run + 1 >= o->full_reread_every)) {
        sk_manifest_free(pm);
        return;
    }
    s->parent = pm;
}

/* Plans every file: carried where it may be (see snapshot.h), else read whole. */
static int plan_all(struct snap *s)
{
    sk_hset_t pidx, fidx;
    sk_hset_init(&pidx);
    sk_hset_init(&fidx);
    int rc = 0;
    for (size_t i = 0; s->parent && i < s->parent->nentries && rc == 0; i++) {
        sk_hash_t k;
        path_key(s->parent->entries[i].path, &k);
        rc = sk_hset_add(&pidx, &k, (uint32_t)i) < 0 ? -ENOMEM : 0;
    }
    for (size_t i = 0; s->parent && i < s->nfiles && rc == 0; i++) {
        sk_hash_t k;
        path_key(s->m->entries[s->files[i].entry].path, &k);
        rc = sk_hset_add(&fidx, &k, (uint32_t)i) < 0 ? -ENOMEM : 0;
    }
    if (rc < 0) {
        rc = sk_err_set(s->err, rc, s->opts->data_dir, NULL);
        goto out;
    }
    for (size_t i = 0; i < s->nfiles && rc == 0; i++) {
        struct sfile *f = &s->files[i];
        char p[PATH_MAX];
        int fd = open_sfile(s, f);
        if (fd < 0) {
            file_path(s, f, p, sizeof(p));
            rc = fd == -ESTALE ? sk_err_set(s->err, -ESTALE, p, "changed while being read; stop the node first")
                               : sk_err_set(s->err, fd, p, "%s", sk_beneath_strerror(fd));
            break;
        }
        f->pe = carry_candidate(s, i, &pidx);
        int c = 1;
        if (f->pe && carry_sound(s, i, fd, &fidx))
            c = plan_carry(s, i, fd, sk_carry_kind(s->m->entries[f->entry].path));
        if (c == 1) {
            f->pe = NULL;
            c = plan_file(s, i, fd, 0);
        }
        close(fd);
        if (c < 0) {
            file_path(s, f, p, sizeof(p));
            rc = sk_err_set(s->err, -ENOMEM, p, NULL);
        }
    }
out:
    sk_hset_free(&pidx);
    sk_hset_free(&fidx);
    return rc;
}

/* One worker's buffer, codec and open file (the jobs of one file come in a row). */
struct sworker {
    int fd;
    uint32_t fd_file;
    void *buf;
    sk_codec_t *codec;
};

static int work_init(void *arg, void **state)
{
    struct snap *s = arg;
    struct sworker *w = calloc(1, sizeof(*w));
    if (w) {
        w->fd = -1;
        w->fd_file = UINT32_MAX;
        w->buf = malloc(s->max_cs);
        w->codec = sk_codec_new(s->max_cs, s->level);
    }
    *state = w;
    return w && w->buf && w->codec ? 0 : -ENOMEM;
}

static void work_fini(void *arg, void *state)
{
    struct sworker *w = state;
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    free(w->buf);
    sk_codec_free(w->codec);
    free(w);
}

/* Reads, hashes and (when the repository lacks it) compresses and stages one chunk. */
static int work_item(void *arg, void *state, size_t i)
{
    struct snap *s = arg;
    struct sworker *w = state;
    struct job *j = &s->jobs[s->pass ? s->pass[i] : i];
    struct sfile *f = &s->files[j->file];
    char p[PATH_MAX];
    if (j->kind == K_CARRY) {
        /* Taken from the parent while the repository still holds it; read only if it does not. */
        uint32_t csize = 0;
        int st = sk_repo_chunk_stat(s->repo, &j->want, &csize);
        if (st < 0) {
            sk_repo_chunk_relpath(&j->want, p, sizeof(p));
            return sk_err_set(s->err, st, p, NULL);
        }
        if (st == 1) {
            j->hash = j->want;
            j->csize = csize;
            j->state = JOB_CARRIED;
            return 0;
        }
    }
    if (w->fd_file != j->file) {
        if (w->fd >= 0)
            close(w->fd);
        w->fd_file = j->file;
        w->fd = open_sfile(s, f);
        if (w->fd < 0) {
            file_path(s, f, p, sizeof(p));
            if (w->fd == -ESTALE)
                return sk_err_set(s->err, -ESTALE, p, "changed while being read; stop the node first");
            return sk_err_set(s->err, w->fd, p, "%s", sk_beneath_strerror(w->fd));
        }
        posix_fadvise(w->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    void *buf = w->buf;
    uint64_t off = j->index * f->cs, size = (uint64_t)f->st.st_size;
    size_t len = size - off < f->cs ? (size_t)(size - off) : f->cs;
    ssize_t n = sk_pread_full(w->fd, buf, len, (off_t)off);
    if (n < 0 || (size_t)n != len) {
        file_path(s, f, p, sizeof(p));
        if (n < 0)
            return sk_err_set(s->err, (int)n, p, NULL);
        return sk_err_set(s->err, -ESTALE, p, "changed while being read; stop the node first");
    }
    sk_progress_add(s->progress, len);
    j->was_read = true;
    atomic_fetch_add(&s->read_bytes, len);
    bool zero = sk_is_zero(buf, len);
    if (!zero)
        sk_hash_compute(buf, len, &j->hash);
    if (j->kind == K_CARRY && (zero || !sk_hash_eq(&j->hash, &j->want))) {
        j->state = JOB_MISMATCH; /* not what the parent holds: the file is read whole */
        atomic_store(&s->demoted[j->file], 1);
        return 0;
    }
    if (zero) {
        j->state = JOB_ZERO;
        return 0;
    }
    pthread_mutex_lock(&s->set_lock);
    int added = sk_hset_add(&s->set, &j->hash, 0);
    pthread_mutex_unlock(&s->set_lock);
    if (added < 0)
        return sk_err_set(s->err, -ENOMEM, s->opts->data_dir, NULL);
    if (added == 0) {
        j->state = JOB_DUP; /* another job of this run stores it */
        return 0;
    }
    uint32_t csize = 0;
    int st = sk_repo_chunk_stat(s->repo, &j->hash, &csize);
    if (st < 0) {
        sk_repo_chunk_relpath(&j->hash, p, sizeof(p));
        return sk_err_set(s->err, st, p, NULL);
    }
    if (st == 1) {
        j->state = JOB_STORED;
    } else {
        const void *out;
        size_t outlen;
        int rc = sk_codec_compress(w->codec, buf, len, &out, &outlen);
        if (rc < 0) {
            file_path(s, f, p, sizeof(p));
            return sk_err_set(s->err, rc, p, "zstd compression failed");
        }
        rc = sk_repo_chunk_stage(s->repo, &j->hash, out, outlen, s->err);
        if (rc < 0)
            return rc;
        csize = (uint32_t)outlen;
        j->state = JOB_NEW;
        atomic_fetch_add(&s->new_bytes, outlen);
    }
    j->csize = csize;
    pthread_mutex_lock(&s->set_lock);
    sk_hset_find(&s->set, &j->hash)->value = csize;
    pthread_mutex_unlock(&s->set_lock);
    return 0;
}

/* After the first pass: the boundary chunks compared with the parent; every file whose check
 * failed (there, or a carried chunk that had to be read) is read whole in a second pass. */
static int second_pass(struct snap *s, int threads)
{
    for (size_t i = 0; i < s->njobs; i++) {
        struct job *j = &s->jobs[i];
        if (j->check == CHK_HASH && (j->state == JOB_ZERO || !sk_hash_eq(&j->hash, &j->want)))
            s->demoted[j->file] = 1;
        else if (j->check == CHK_ZERO && j->state != JOB_ZERO)
            s->demoted[j->file] = 1;
    }
    size_t n = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < s->njobs; i++) {
        struct job *j = &s->jobs[i];
        if (!s->demoted[j->file])
            continue;
        s->files[j->file].pe = NULL; /* nothing carried after all */
        if (j->was_read && j->state != JOB_MISMATCH)
            continue; /* read from the file as it is: stays */
        j->kind = K_READ;
        j->state = JOB_PENDING;
        j->check = CHK_NONE;
        j->was_read = false;
        n++;
        struct sfile *f = &s->files[j->file];
        uint64_t off = j->index * f->cs, size = (uint64_t)f->st.st_size;
        bytes += size - off < f->cs ? size - off : f->cs;
    }
    if (n == 0)
        return 0;
    s->pass = malloc(n * sizeof(*s->pass));
    if (!s->pass)
        return sk_err_set(s->err, -ENOMEM, s->opts->data_dir, NULL);
    n = 0;
    for (size_t i = 0; i < s->njobs; i++)
        if (s->jobs[i].state == JOB_PENDING)
            s->pass[n++] = i;
    sk_progress_start(s->progress, "snapshot (re-read)", bytes);
    sk_pool_each_t each = {.n = n,
                           .arg = s,
                           .init = work_init,
                           .item = work_item,
                           .fini = work_fini,
                           .err = s->err,
                           .path = s->opts->data_dir};
    sk_pool_each(threads, &each, sk_progress_tick, s->progress);
    sk_progress_end(s->progress);
    free(s->pass);
    s->pass = NULL;
    return s->err->code;
}

static int sync_item(void *arg, void *state, size_t i)
{
    struct snap *s = arg;
    return sk_repo_chunk_sync(s->repo, &s->new_hashes[i], s->err);
}

/* Fails if any file's size, mtime or inode changed since the walk. */
static int check_unchanged(struct snap *s)
{
    for (size_t i = 0; i < s->nfiles; i++) {
        struct sfile *f = &s->files[i];
        struct stat st;
        char p[PATH_MAX];
        file_path(s, f, p, sizeof(p));
        int fd = open_sfile(s, f);
        if (fd < 0 && fd != -ESTALE)
            return sk_err_set(s->err, fd, p, "%s", sk_beneath_strerror(fd));
        int rc = fd < 0 ? fd : fstat(fd, &st) < 0 ? -errno : 0;
        if (fd >= 0)
            close(fd);
        if (rc < 0 && rc != -ESTALE)
            return sk_err_set(s->err, rc, p, NULL);
        if (rc == -ESTALE || st.st_size != f->st.st_size || st.st_mtim.tv_sec != f->st.st_mtim.tv_sec ||
            st.st_mtim.tv_nsec != f->st.st_mtim.tv_nsec || st.st_nlink == 0)
            return sk_err_set(s->err, -ESTALE, p, "changed while being read; stop the node first");
    }
    return 0;
}

static int build_manifest(struct snap *s, sk_snapshot_result_t *res)
{
    sk_manifest_t *m = s->m;
    uint64_t new_chunks = 0;
    sk_hset_t fin; /* every distinct chunk referenced, carried ones included */
    sk_hset_init(&fin);
    for (size_t i = 0; i < s->njobs; i++) {
        struct job *j = &s->jobs[i];
        if (j->state == JOB_ZERO)
            continue;
        if (j->state == JOB_PENDING || j->state == JOB_MISMATCH) {
            sk_hset_free(&fin);
            return sk_err_set(s->err, -EIO, s->opts->data_dir, "internal error: unfinished chunk");
        }
        if (j->state == JOB_DUP)
            j->csize = sk_hset_find(&s->set, &j->hash)->value;
        if (j->state == JOB_NEW)
            new_chunks++;
        struct sfile *f = &s->files[j->file];
        sk_mentry_t *e = &m->entries[f->entry];
        int added = sk_hset_add(&fin, &j->hash, j->csize);
        if (added < 0 || sk_mentry_add_chunk(e, j->index, &j->hash, j->csize) < 0) {
            sk_hset_free(&fin);
            return sk_err_set(s->err, -ENOMEM, s->opts->data_dir, NULL);
        }
        if (added == 1)
            m->stored_bytes += j->csize;
        uint32_t len = sk_mentry_chunk_len(m, e, j->index);
        m->data_bytes += len;
        if (j->state == JOB_CARRIED)
            res->carried_bytes += len;
    }
    m->chunks = fin.n;
    sk_hset_free(&fin);
    bool carried = false;
    for (size_t i = 0; i < s->nfiles; i++) {
        struct sfile *f = &s->files[i];
        sk_mentry_t *e = &m->entries[f->entry];
        e->has_ident = f->ident;
        e->dev = f->dev;
        e->ino = f->ino;
        e->carried = f->pe ? f->carried : 0;
        carried |= e->carried > 0;
    }
    if (!s->opts->staged_in_session) {
        m->has_carry_run = true;
        uint64_t run = s->parent && s->parent->has_carry_run ? s->parent->carry_run : 0;
        m->carry_run = carried && s->parent ? (run < UINT32_MAX ? run + 1 : UINT32_MAX) : 0;
    }
    if (carried && s->parent)
        snprintf(res->parent, sizeof(res->parent), "%s", s->parent->id);
    res->read_bytes = atomic_load(&s->read_bytes);
    for (size_t i = 0; i < m->nentries; i++) {
        if (m->entries[i].type == 'f') {
            m->files++;
            m->logical_bytes += m->entries[i].size;
        }
    }
    m->new_bytes = atomic_load(&s->new_bytes);
    res->files = m->files;
    res->logical_bytes = m->logical_bytes;
    res->data_bytes = m->data_bytes;
    res->stored_bytes = m->stored_bytes;
    res->new_bytes = m->new_bytes;
    res->chunks = m->chunks;
    res->new_chunks = new_chunks;
    return 0;
}

static int commit(struct snap *s, int threads)
{
    /* 1. every staged chunk durable */
    s->nnew = 0;
    s->new_hashes = malloc((s->njobs ? s->njobs : 1) * sizeof(*s->new_hashes));
    if (!s->new_hashes)
        return sk_err_set(s->err, -ENOMEM, s->repo->path, NULL);
    for (size_t i = 0; i < s->njobs; i++)
        if (s->jobs[i].state == JOB_NEW)
            s->new_hashes[s->nnew++] = s->jobs[i].hash;
    /* Few chunks: fdatasync each (touches only our files). Many: one syncfs of the repository's
     * file system, far cheaper than thousands of journal commits. */
    if (s->nnew > SK_SYNC_BATCH) {
        int rc = sk_repo_sync_all(s->repo, s->err);
        if (rc < 0)
            return rc;
    } else {
        sk_pool_each_t each = {.n = s->nnew, .arg = s, .item = sync_item, .err = s->err, .path = s->opts->data_dir};
        if (sk_pool_each(threads, &each, NULL, NULL) < 0)
            return s->err->code;
    }
    /* 2. the manifest durable in the session */
    char *buf;
    size_t len;
    int rc = sk_manifest_serialize(s->m, &buf, &len);
    if (rc < 0)
        return sk_err_set(s->err, rc, s->repo->path, NULL);
    rc = sk_repo_manifest_stage(s->repo, s->m->id, buf, len, s->err);
    free(buf);
    if (rc < 0)
        return rc;
    /* 3. chunks into place, their folders durable */
    bool touched[256] = {false};
    for (size_t i = 0; i < s->nnew; i++) {
        rc = sk_repo_chunk_publish(s->repo, &s->new_hashes[i], s->err);
        if (rc < 0)
            return rc;
        touched[s->new_hashes[i].b[0]] = true;
    }
    int ntouched = 0;
    for (int i = 0; i < 256; i++)
        ntouched += touched[i];
    if (ntouched > SK_SYNC_BATCH / 8)
        rc = sk_repo_sync_all(s->repo, s->err);
    else
        rc = sk_repo_chunk_dirs_sync(s->repo, touched, s->err);
    if (rc < 0)
        return rc;
    /* 4. the manifest into place: now the snapshot exists */
    return sk_repo_manifest_publish(s->repo, s->m->id, s->err);
}

int sk_snapshot_create(sk_repo_t *repo, const sk_snapshot_opts_t *opts, sk_progress_t *progress,
                       sk_snapshot_result_t *res, sk_err_t *err)
{
    double t0 = sk_now();
    struct snap s = {.repo = repo, .opts = opts, .err = err, .progress = progress, .datafd = -1};
    s.max_cs = repo->chunk_size > repo->log_chunk_size ? repo->chunk_size : repo->log_chunk_size;
    s.level = opts->level ? opts->level : repo->level;
    pthread_mutex_init(&s.set_lock, NULL);
    sk_hset_init(&s.set);
    /* One request in flight per worker: on an object store, as many workers as it runs transfers. */
    int threads = opts->threads > 0 ? opts->threads : sk_pool_default_threads();
    threads = sk_s3_threads(repo->st, threads);
    memset(res, 0, sizeof(*res));
    int rc;

    if (opts->ninclude == 0) {
        rc = sk_err_set(err, -EINVAL, opts->data_dir, "nothing to include");
        goto out;
    }
    /* Never a repository inside, above or equal to the data-dir (nor a system folder as data-dir):
     * a restore would move the live repository into quarantine. */
    const sk_paths_item_t apart[] = {{"repository", repo->path, false}, {"data-dir", opts->data_dir, true}};
    rc = opts->staged_in_session ? 0 : sk_paths_check_apart(apart, 2, NULL, err);
    if (rc < 0)
        goto out;
    s.m = sk_manifest_new();
    if (!s.m) {
        rc = sk_err_set(err, -ENOMEM, opts->data_dir, NULL);
        goto out;
    }
    sk_snapshot_new_id(s.m->id, &s.m->time);
    s.m->chunk_size = repo->chunk_size;
    for (size_t i = 0; i < opts->nfacts; i++) {
        if (sk_manifest_set_fact(s.m, opts->facts[i].key, opts->facts[i].value) < 0) {
            rc = sk_err_set(err, -EINVAL, opts->data_dir, "bad fact '%s'", opts->facts[i].key);
            goto out;
        }
    }
    s.incfd = malloc(opts->ninclude * sizeof(*s.incfd));
    if (!s.incfd) {
        rc = sk_err_set(err, -ENOMEM, opts->data_dir, NULL);
        goto out;
    }
    for (size_t i = 0; i < opts->ninclude; i++)
        s.incfd[i] = -1;
    s.datafd = open(opts->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s.datafd < 0) {
        rc = sk_err_errno(err, opts->data_dir);
        goto out;
    }
    /* The data-dir lock, shared, until the snapshot is published: no restore can swap folders
     * while they are read (a snapshot is never of two data-dirs at once). */
    rc = sk_datadir_flock(s.datafd, opts->data_dir, false, err);
    if (rc < 0)
        goto out;
    int mfd = sk_open_beneath(s.datafd, SK_RESTORE_MARKER, O_PATH, 0);
    if (mfd >= 0)
        close(mfd);
    if (mfd >= 0 || (mfd < 0 && mfd != -ENOENT)) {
        char full[PATH_MAX];
        sk_path_join(full, sizeof(full), opts->data_dir, SK_RESTORE_MARKER);
        rc = mfd >= 0
                 ? sk_err_set(err, -EUCLEAN, full, "a restore into this data-dir is unfinished; run it again first")
                 : sk_err_set(err, mfd, full, "%s", sk_beneath_strerror(mfd));
        goto out;
    }
    for (size_t i = 0; i < opts->ninclude; i++) {
        const char *inc = opts->include[i];
        char full[PATH_MAX];
        sk_path_join(full, sizeof(full), opts->data_dir, inc);
        rc = sk_include_check(inc, full, err);
        if (rc < 0)
            goto out;
        for (size_t k = 0; k < i; k++)
            if (!strcmp(opts->include[k], inc)) {
                rc = sk_err_set(err, -EINVAL, full, "included twice");
                goto out;
            }
        struct stat st;
        if (fstatat(s.datafd, inc, &st, 0) < 0) {
            rc = sk_err_errno(err, full);
            goto out;
        }
        if (!S_ISDIR(st.st_mode)) {
            rc = sk_err_set(err, -ENOTDIR, full, NULL);
            goto out;
        }
        if (sk_manifest_add_include(s.m, inc) < 0) {
            rc = sk_err_set(err, -ENOMEM, full, NULL);
            goto out;
        }
    }
    /* A frozen copy names the files it was cloned from (carry.h). */
    if (!opts->staged_in_session) {
        rc = sk_origin_load(s.datafd, opts->data_dir, &s.origin, err);
        if (rc < 0)
            goto out;
    }
    for (size_t i = 0; i < opts->ninclude; i++) {
        /* A top-level symlink (e.g. blocks on another disk) is followed. */
        rc = walk_entry(&s, s.datafd, opts->include[i], opts->include[i], 0, true, (uint16_t)i);
        if (rc < 0)
            goto out;
    }
    s.demoted = calloc(s.nfiles ? s.nfiles : 1, sizeof(*s.demoted));
    if (!s.demoted) {
        rc = sk_err_set(err, -ENOMEM, opts->data_dir, NULL);
        goto out;
    }
    load_parent(&s);
    rc = plan_all(&s);
    if (rc < 0)
        goto out;
    rc = sk_repo_session_begin_from(repo, s.parent, err);
    if (rc < 0)
        goto out;
    sk_progress_start(progress, "snapshot", s.total);
    sk_pool_each_t each = {.n = s.njobs,
                           .arg = &s,
                           .init = work_init,
                           .item = work_item,
                           .fini = work_fini,
                           .err = err,
                           .path = opts->data_dir};
    sk_pool_each(threads, &each, sk_progress_tick, progress);
    sk_progress_end(progress);
    if (err->code) {
        rc = err->code;
        goto out;
    }
    rc = second_pass(&s, threads);
    if (rc == 0)
        rc = check_unchanged(&s);
    if (rc == 0)
        rc = build_manifest(&s, res);
    if (rc == 0)
        rc = commit(&s, threads);
    if (rc == 0) {
        snprintf(res->id, sizeof(res->id), "%s", s.m->id);
        res->seconds = sk_now() - t0;
    }
out:
    sk_repo_session_end(repo);
    for (size_t i = 0; s.incfd && i < opts->ninclude; i++)
        if (s.incfd[i] >= 0)
            close(s.incfd[i]);
    free(s.incfd);
    if (s.datafd >= 0)
        close(s.datafd);
    free(s.files);
    free(s.jobs);
    free(s.new_hashes);
    free((void *)s.demoted);
    free(s.pass);
    sk_origin_free(s.origin);
    sk_manifest_free(s.parent);
    sk_hset_free(&s.set);
    sk_manifest_free(s.m);
    pthread_mutex_destroy(&s.set_lock);
    return rc < 0 ? rc : 0;
}

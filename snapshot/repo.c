/*
 * repo: opening, locking and laying out a repository (see repo.h for the
 * layout and the write order). Only this file knows where things live in the
 * repository, and it reaches them only through the storage interface
 * (storage.h): repository-relative names, never a file descriptor of its own.
 */
#include "slotkeeper/repo.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "slotkeeper/buf.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/hashset.h"
#include "slotkeeper/notice.h"
#include "slotkeeper/pool.h"
#include "slotkeeper/s3.h"
#include "slotkeeper/storage.h"

#define CONFIG_MAGIC "slotkeeper-repository 1"

static void repo_path(const sk_repo_t *r, const char *rel, char *out, size_t len)
{
    if (sk_path_join(out, len, r->path, rel) < 0)
        snprintf(out, len, "%s", r->path);
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

/* A list callback that counts names. */
static int count_name(void *arg, const char *name)
{
    (void)name;
    ++*(int *)arg;
    return 0;
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
    sk_storage_t *st;
    int rc = sk_storage_open(path, true, &st, err);
    if (rc < 0)
        return sk_err_set(err, rc, path, NULL);
    int nonempty = 0;
    rc = sk_storage_list(st, "", count_name, &nonempty);
    if (rc < 0) {
        sk_storage_close(st);
        return sk_err_set(err, rc, path, NULL);
    }
    if (nonempty) {
        sk_storage_info_t ci;
        rc = sk_storage_info(st, "config", &ci);
        sk_storage_close(st);
        if (rc == 0)
            return sk_err_set(err, -EEXIST, path, "already a slotkeeper repository");
        return sk_err_set(err, -ENOTEMPTY, path, "folder is not empty");
    }
    static const char *dirs[] = {"chunks", "snapshots", "tmp"};
    for (size_t i = 0; i < 3; i++)
        if ((rc = sk_storage_mkdir(st, dirs[i], 0755)) < 0) {
            sk_err_set(err, rc, path, NULL);
            goto out;
        }
    /* An object store has no folders to make: a chunk's name is enough. */
    for (int i = 0; i < 256 && rc == 0 && !sk_storage_is_objects(st); i++) {
        char name[16];
        snprintf(name, sizeof(name), "chunks/%02x", i);
        if ((rc = sk_storage_mkdir(st, name, 0755)) < 0)
            sk_err_set(err, rc, path, NULL);
    }
    if (rc == 0 && (rc = sk_storage_sync(st, "chunks", 0)) < 0)
        sk_err_set(err, rc, path, NULL);
    if (rc < 0)
        goto out;
    rc = sk_storage_write(st, "lock", "", 0, SK_STORAGE_EXCL);
    if (rc < 0) {
        sk_err_set(err, rc, path, NULL);
        goto out;
    }
    char cfg[256];
    int n = snprintf(cfg, sizeof(cfg), CONFIG_MAGIC "\nchunk-size %u\nlog-chunk-size %u\nlevel %d\n", chunk_size,
                     log_chunk_size, level);
    rc = sk_storage_write(st, "config", cfg, (size_t)n, SK_STORAGE_ATOMIC);
    if (rc < 0) {
        sk_path_join(p, sizeof(p), path, "config");
        sk_err_set(err, rc, p, NULL);
        goto out;
    }
    rc = sk_storage_sync(st, "", 0);
    if (rc < 0)
        sk_err_set(err, rc, path, NULL);
out:
    sk_storage_close(st);
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
        } else if (!strcmp(line, "golden on") || !strcmp(line, "golden off")) {
            /* Optional: whether the repository keeps a golden copy (golden.h). */
            if (seen & 8)
                return sk_err_set(err, -EBADMSG, p, "line %d: golden given twice", lineno);
            r->golden = !strcmp(line, "golden on");
            seen |= 8;
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
    unsigned flags = (mode == SK_LOCK_EXCLUSIVE ? SK_STORAGE_LOCK_EX | SK_STORAGE_LOCK_WRITE : 0) | SK_STORAGE_LOCK_NB;
    double deadline = sk_now() + (double)wait_ms / 1000.0;
    bool told = false, create = false;
    for (;;) {
        int rc = sk_storage_lock(r->st, "lock", flags | (create ? SK_STORAGE_LOCK_CREATE : 0), &r->lock);
        if (rc == -ENOENT && !create) {
            /* The repository's config was read and is valid, so the lock file was removed (by
             * hand, or a copy that left it out): recreate it rather than refuse every command.
             * Without O_EXCL: processes doing this at once all open the one file that wins,
             * and so still exclude each other. */
            create = true;
            rc = sk_storage_lock(r->st, "lock", flags | SK_STORAGE_LOCK_CREATE, &r->lock);
            if (rc == 0 || rc == -EWOULDBLOCK)
                sk_notice(SK_NOTICE_WARN, "%s: was missing; recreated it", p);
            else if (rc == -EROFS)
                return sk_err_set(err, -ENOENT, p, "missing, and the repository is read-only: it cannot be locked");
        }
        if (rc == 0)
            break;
        if (rc != -EWOULDBLOCK && rc != -EINTR)
            return sk_err_set(err, rc, p, NULL);
        if (sk_now() >= deadline) {
            char holder[128] = "";
            void *buf = NULL;
            size_t cap = 0, len;
            if (mode == SK_LOCK_SHARED && sk_storage_read(r->st, "lock", 4096, 0, &buf, &cap, &len) == 0 && len > 0) {
                char *t = buf;
                t[strcspn(t, "\n")] = '\0';
                snprintf(holder, sizeof(holder), " (held by %s)", t);
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
        (void)sk_storage_lock_note(r->st, r->lock, info, (size_t)n);
    }
    return 0;
}

int sk_repo_open(const char *path, enum sk_lock_mode mode, uint64_t wait_ms, const char *command, sk_repo_t **out,
                 sk_err_t *err)
{
    sk_repo_t *r = calloc(1, sizeof(*r));
    if (!r)
        return sk_err_set(err, -ENOMEM, path, NULL);
    int rc;
    if (strlen(path) >= sizeof(r->path) - 64) {
        rc = sk_err_set(err, -ENAMETOOLONG, path, NULL);
        goto fail;
    }
    snprintf(r->path, sizeof(r->path), "%s", path);
    rc = sk_storage_open(path, false, &r->st, err);
    if (rc < 0) {
        r->st = NULL;
        rc = rc == -ENOENT ? sk_err_set(err, -ENOENT, path, "no such repository (run 'slotkeeper repo init')")
                           : sk_err_set(err, rc, path, NULL);
        goto fail;
    }
    void *cfg = NULL;
    size_t cap = 0, len;
    rc = sk_storage_read(r->st, "config", 4096, 0, &cfg, &cap, &len);
    if (rc < 0) {
        free(cfg);
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
    for (int i = 0; i < 3; i++) {
        sk_storage_info_t in;
        rc = sk_storage_info(r->st, names[i], &in);
        if (rc == 0 && in.type != SK_STORAGE_DIR)
            rc = in.type == SK_STORAGE_LINK ? -ELOOP : -ENOTDIR;
        if (rc < 0) {
            char p[PATH_MAX];
            repo_path(r, names[i], p, sizeof(p));
            rc = sk_err_set(err, rc, p, NULL);
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

int sk_repo_set_golden(sk_repo_t *r, bool on, sk_err_t *err)
{
    char cfg[256], p[PATH_MAX];
    int n = snprintf(cfg, sizeof(cfg), CONFIG_MAGIC "\nchunk-size %u\nlog-chunk-size %u\nlevel %d\n%s", r->chunk_size,
                     r->log_chunk_size, r->level, on ? "golden on\n" : "");
    int rc = sk_storage_write(r->st, "config", cfg, (size_t)n, SK_STORAGE_ATOMIC);
    if (rc < 0) {
        repo_path(r, "config", p, sizeof(p));
        return sk_err_set(err, rc, p, NULL);
    }
    r->golden = on;
    return 0;
}

void sk_repo_close(sk_repo_t *r)
{
    if (!r)
        return;
    if (r->st) {
        sk_repo_session_end(r);
        sk_storage_unlock(r->st, r->lock);
        sk_storage_close(r->st);
    }
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
static bool stale_new_session(sk_repo_t *r, const char *rel, const char *name)
{
    sk_storage_info_t in;
    if (sk_storage_info(r->st, rel, &in) < 0)
        return false;
    if (time(NULL) - in.mtime >= 3600)
        return true;
    char *end;
    long pid = strtol(name + 4, &end, 10);
    if (*end != '-' || pid <= 0)
        return false;
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* The names of a folder (list callback into an array of strings). */
struct names {
    char **v;
    size_t n, cap;
};

static int collect_name(void *arg, const char *name)
{
    struct names *ns = arg;
    if (sk_grow(&ns->v, &ns->cap, ns->n + 1, sizeof(*ns->v), 16) < 0)
        return -ENOMEM;
    if (!(ns->v[ns->n] = strdup(name)))
        return -ENOMEM;
    ns->n++;
    return 0;
}

static int list_names(sk_repo_t *r, const char *dir, struct names *ns)
{
    *ns = (struct names){0};
    int rc = sk_storage_list(r->st, dir, collect_name, ns);
    if (rc < 0) {
        sk_repo_ids_free(ns->v, ns->n);
        *ns = (struct names){0};
    }
    return rc;
}

int sk_repo_sweep(sk_repo_t *r)
{
    int removed = 0;
    struct names ns;
    if (list_names(r, "tmp", &ns) == 0) {
        for (size_t i = 0; i < ns.n; i++) {
            const char *name = ns.v[i];
            char rel[PATH_MAX];
            snprintf(rel, sizeof(rel), "tmp/%s", name);
            if (!strcmp(name, r->sessname))
                continue;
            if (!strncmp(name, "new-", 4) && !stale_new_session(r, rel, name))
                continue;
            /* A live writer holds its session's lock; anything we can lock is left over from a crash. */
            sk_storage_lock_t *l;
            if (sk_storage_lock(r->st, rel, SK_STORAGE_LOCK_EX | SK_STORAGE_LOCK_NB, &l) == 0) {
                if (sk_storage_remove(r->st, rel, SK_STORAGE_TREE) == 0) {
                    removed++;
                    sk_notice(SK_NOTICE_DEBUG, "%s/tmp/%s: removed what an interrupted run left", r->path, name);
                }
                sk_storage_unlock(r->st, l);
            }
        }
        sk_repo_ids_free(ns.v, ns.n);
    }
    static const char *dirs[] = {"snapshots", ""};
    for (int i = 0; i < 2; i++) {
        if (list_names(r, dirs[i], &ns) < 0)
            continue;
        for (size_t k = 0; k < ns.n; k++) {
            char rel[PATH_MAX];
            snprintf(rel, sizeof(rel), "%s%s%s", dirs[i], *dirs[i] ? "/" : "", ns.v[k]);
            if (stale_tmp_file(ns.v[k]) && sk_storage_remove(r->st, rel, 0) == 0)
                removed++;
        }
        sk_repo_ids_free(ns.v, ns.n);
    }
    return removed;
}

/* A walk of chunks/: "ab/<hash>" (not a set-aside one) goes into the set, with its size. */
static int note_known(void *arg, const char *name, const sk_storage_info_t *info)
{
    sk_hash_t h;
    char hex[SK_HASH_HEX_LEN + 1];
    if (strlen(name) != 3 + SK_HASH_HEX_LEN || name[2] != '/' || !info->size || info->size > UINT32_MAX)
        return 0;
    memcpy(hex, name + 3, sizeof(hex));
    if (sk_hash_parse(hex, &h) < 0 || strncmp(name, hex, 2))
        return 0;
    return sk_hset_add(arg, &h, (uint32_t)info->size) < 0 ? -ENOMEM : 0;
}

/* The chunks a manifest references, with their stored sizes, into the set. */
static int note_manifest(sk_hset_t *known, const sk_manifest_t *m)
{
    for (size_t i = 0; i < m->nentries; i++)
        for (size_t k = 0; k < m->entries[i].nchunks; k++)
            if (sk_hset_add(known, &m->entries[i].chunks[k].hash, m->entries[i].chunks[k].csize) < 0)
                return -ENOMEM;
    return 0;
}

int sk_repo_session_begin(sk_repo_t *r, sk_err_t *err)
{
    return sk_repo_session_begin_from(r, NULL, err);
}

int sk_repo_session_begin_from(sk_repo_t *r, const sk_manifest_t *seed, sk_err_t *err)
{
    char p[PATH_MAX];
    repo_path(r, "tmp", p, sizeof(p));
    if (r->sesslock || r->sessname[0])
        return 0;
    if (sk_storage_is_objects(r->st)) {
        /* An object store: chunks go straight under their names (a PUT is atomic), the manifest
         * is kept here until its PUT, last. Nothing is staged in tmp/, so there is nothing to
         * lock or sweep; what a killed writer leaves is chunks no manifest names, which prune
         * removes. The session only has a name, and the set of the chunks stored (prune cannot
         * remove any while we hold the shared lock): the chunks of seed, a good snapshot of
         * this repository, when the writer has one (no request at all: a listing costs a
         * request per 1000 chunks, thousands for a repository of terabytes, at every cycle),
         * else one listing of chunks/ (rather than a HEAD per chunk). */
        if (seed || r->st->drv->walk) {
            sk_hset_t *known = malloc(sizeof(*known));
            if (!known)
                return sk_err_set(err, -ENOMEM, r->path, NULL);
            sk_hset_init(known);
            int rc = seed ? note_manifest(known, seed) : r->st->drv->walk(r->st, "chunks", note_known, known);
            if (rc < 0) {
                sk_hset_free(known);
                free(known);
                char c[PATH_MAX];
                repo_path(r, "chunks", c, sizeof(c));
                return sk_err_set(err, rc, c, NULL);
            }
            r->known = known;
        }
        snprintf(r->sessname, sizeof(r->sessname), "s-%ld-objects", (long)getpid());
        return 0;
    }
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
        rnd = (uint32_t)time(NULL);
    /* Made under a "new-" name that sweeps leave alone, locked, then renamed: a sweep
     * never sees a session folder before its writer holds the lock. */
    char newrel[64], rel[96];
    snprintf(r->sessname, sizeof(r->sessname), "s-%ld-%08x", (long)getpid(), rnd);
    snprintf(newrel, sizeof(newrel), "tmp/new-%ld-%08x", (long)getpid(), rnd);
    snprintf(rel, sizeof(rel), "tmp/%s", r->sessname);
    int rc = sk_storage_mkdir(r->st, newrel, 0700);
    if (rc < 0) {
        r->sessname[0] = '\0';
        return sk_err_set(err, rc, p, NULL);
    }
    rc = sk_storage_lock(r->st, newrel, SK_STORAGE_LOCK_EX | SK_STORAGE_LOCK_NB, &r->sesslock);
    if (rc == 0)
        rc = sk_storage_rename(r->st, newrel, rel, 0);
    if (rc < 0) {
        sk_err_set(err, rc, p, NULL);
        sk_storage_unlock(r->st, r->sesslock);
        r->sesslock = NULL;
        sk_storage_remove(r->st, newrel, SK_STORAGE_EMPTY_DIR);
        r->sessname[0] = '\0';
        return rc;
    }
    /* Staged chunks are spread over 16 folders, so that workers creating files at the same
     * time do not queue on one directory's lock. */
    for (int i = 0; i < 16; i++) {
        char sub[128];
        snprintf(sub, sizeof(sub), "%s/%c", rel, "0123456789abcdef"[i]);
        rc = sk_storage_mkdir(r->st, sub, 0700);
        if (rc < 0) {
            sk_err_set(err, rc, p, NULL);
            sk_repo_session_end(r);
            return rc;
        }
    }
    return 0;
}

void sk_repo_session_end(sk_repo_t *r)
{
    if (r->known) {
        sk_hset_free(r->known);
        free(r->known);
        r->known = NULL;
    }
    free(r->staged);
    r->staged = NULL;
    r->staged_len = 0;
    if (!r->sesslock) {
        r->sessname[0] = '\0';
        return;
    }
    char rel[96];
    snprintf(rel, sizeof(rel), "tmp/%s", r->sessname);
    int rc = sk_storage_remove(r->st, rel, SK_STORAGE_TREE);
    if (rc < 0)
        sk_notice_errno(SK_NOTICE_WARN, rc, "%s/tmp/%s: cannot remove", r->path, r->sessname);
    sk_storage_unlock(r->st, r->sesslock);
    r->sesslock = NULL;
    r->sessname[0] = '\0';
}

int sk_repo_session_scratch(sk_repo_t *r, const char *name, char *path, size_t len, int *fd, sk_err_t *err)
{
    char rel[PATH_MAX];
    snprintf(path, len, "%s/tmp/%s/%s", r->path, r->sessname, name);
    if (sk_storage_is_objects(r->st))
        return sk_err_set(err, -ENOTSUP, r->path,
                          "an object store has no local folder to unpack into: import into a local repository");
    if (!r->sesslock)
        return sk_err_set(err, -EINVAL, path, "no writer session");
    snprintf(rel, sizeof(rel), "tmp/%s/%s", r->sessname, name);
    int rc = sk_storage_mkdir(r->st, rel, 0755);
    if (rc == 0)
        rc = sk_storage_open_dir(r->st, rel);
    if (rc < 0)
        return sk_err_set(err, rc, path, NULL);
    *fd = rc;
    return 0;
}

void sk_repo_chunk_relpath(const sk_hash_t *h, char *out, size_t len)
{
    char hex[SK_HASH_HEX_LEN + 1];
    sk_hash_hex(h, hex);
    snprintf(out, len, "chunks/%.2s/%s", hex, hex);
}

enum { CHUNK_REL = sizeof("chunks/ab/") + SK_HASH_HEX_LEN + sizeof(".damaged") };

/* "chunks/ab/<hash>" */
static void chunk_rel(const sk_hash_t *h, char out[CHUNK_REL])
{
    sk_repo_chunk_relpath(h, out, CHUNK_REL);
}

/* "tmp/<session>/a/<hash>" */
static void staged_rel(const sk_repo_t *r, const sk_hash_t *h, char *out, size_t len)
{
    char hex[SK_HASH_HEX_LEN + 1];
    sk_hash_hex(h, hex);
    snprintf(out, len, "tmp/%s/%c/%s", r->sessname, hex[0], hex);
}

static void full_path(const sk_repo_t *r, const char *rel, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", r->path, rel);
}

int sk_repo_chunk_stat(sk_repo_t *r, const sk_hash_t *h, uint32_t *csize)
{
    if (r->known) {
        /* An object store's writer: the chunks listed when its session began. */
        const sk_hset_slot_t *k = sk_hset_find(r->known, h);
        if (!k)
            return 0;
        if (csize)
            *csize = k->value;
        return 1;
    }
    char rel[CHUNK_REL];
    chunk_rel(h, rel);
    sk_storage_info_t in;
    int rc = sk_storage_info(r->st, rel, &in);
    if (rc < 0)
        return rc == -ENOENT ? 0 : rc;
    if (in.type != SK_STORAGE_FILE || in.size == 0)
        return 0;
    if (csize)
        *csize = (uint32_t)in.size;
    return 1;
}

int sk_repo_chunk_stage(sk_repo_t *r, const sk_hash_t *h, const void *data, size_t len, sk_err_t *err)
{
    char rel[PATH_MAX], p[PATH_MAX];
    if (sk_storage_is_objects(r->st)) {
        /* Straight under its content-addressed name: a PUT appears whole or not at all. */
        chunk_rel(h, rel);
        int rc = sk_storage_write(r->st, rel, data, len, 0);
        if (rc < 0) {
            full_path(r, rel, p, sizeof(p));
            return sk_err_set(err, rc, p, NULL);
        }
        return 0;
    }
    staged_rel(r, h, rel, sizeof(rel));
    /* Start writeback now; the fdatasync at commit then finds little left to do. */
    int rc = sk_storage_write(r->st, rel, data, len, SK_STORAGE_WRITEBACK);
    if (rc < 0) {
        full_path(r, rel, p, sizeof(p));
        return sk_err_set(err, rc, p, "%s", sk_beneath_strerror(rc));
    }
    return 0;
}

int sk_repo_chunk_sync(sk_repo_t *r, const sk_hash_t *h, sk_err_t *err)
{
    char rel[PATH_MAX], p[PATH_MAX];
    if (sk_storage_is_objects(r->st))
        return 0; /* stored when its PUT was answered */
    staged_rel(r, h, rel, sizeof(rel));
    int rc = sk_storage_sync(r->st, rel, SK_STORAGE_DATA);
    if (rc < 0) {
        full_path(r, rel, p, sizeof(p));
        return sk_err_set(err, rc, p, NULL);
    }
    return 0;
}

int sk_repo_chunk_publish(sk_repo_t *r, const sk_hash_t *h, sk_err_t *err)
{
    char from[PATH_MAX], to[CHUNK_REL];
    if (sk_storage_is_objects(r->st))
        return 0; /* written under its name by sk_repo_chunk_stage */
    staged_rel(r, h, from, sizeof(from));
    chunk_rel(h, to);
    int rc = sk_storage_rename(r->st, from, to, 0);
    if (rc < 0) {
        char p[PATH_MAX];
        full_path(r, to, p, sizeof(p));
        return sk_err_set(err, rc, p, "%s", sk_beneath_strerror(rc));
    }
    return 0;
}

int sk_repo_chunk_dirs_sync(sk_repo_t *r, const bool touched[256], sk_err_t *err)
{
    for (int i = 0; i < 256; i++) {
        if (!touched[i])
            continue;
        char rel[16];
        snprintf(rel, sizeof(rel), "chunks/%02x", i);
        int rc = sk_storage_sync(r->st, rel, 0);
        if (rc < 0) {
            char p[PATH_MAX];
            full_path(r, rel, p, sizeof(p));
            return sk_err_set(err, rc, p, NULL);
        }
    }
    return 0;
}

int sk_repo_chunk_set_aside(sk_repo_t *r, const sk_hash_t *h)
{
    char rel[CHUNK_REL], aside[CHUNK_REL];
    chunk_rel(h, rel);
    snprintf(aside, sizeof(aside), "%s.damaged", rel);
    int rc = sk_storage_rename(r->st, rel, aside, 0);
    return rc == -ENOENT ? 0 : rc;
}

int sk_repo_sync_all(sk_repo_t *r, sk_err_t *err)
{
    int rc = sk_storage_sync(r->st, "", SK_STORAGE_ALL);
    if (rc < 0)
        return sk_err_set(err, rc, r->path, NULL);
    return 0;
}

int sk_repo_chunk_read(sk_repo_t *r, const sk_hash_t *h, void **buf, size_t *cap, size_t *len)
{
    char rel[CHUNK_REL];
    chunk_rel(h, rel);
    int rc = sk_storage_read(r->st, rel, 2 * (size_t)SK_CHUNK_SIZE_MAX, 0, buf, cap, len);
    if (rc == -ENOENT) {
        char aside[CHUNK_REL];
        snprintf(aside, sizeof(aside), "%s.damaged", rel);
        sk_storage_info_t in;
        if (sk_storage_info(r->st, aside, &in) == 0)
            return -EBADMSG; /* found damaged earlier and set aside */
        return rc;
    }
    /* A link in place of a chunk, or something other than a chunk-sized file, is damage. */
    if (rc == -ELOOP || rc == -EINVAL || rc == -EFBIG)
        return -EBADMSG;
    return rc;
}

/* ---- pruning: what only the exclusive holder does ---- */

struct chunk_sweep {
    sk_repo_t *r;
    int prefix;
    bool (*keep)(const sk_hash_t *h, void *arg);
    void *arg;
    uint64_t removed, freed;
    bool changed;
    struct doomed *doomed; /* an object store's walk: gather, then delete in parallel */
};

static int sweep_chunk(void *arg, const char *name)
{
    struct chunk_sweep *cs = arg;
    sk_hash_t h;
    char hex[SK_HASH_HEX_LEN + 1];
    size_t len = strlen(name);
    bool aside = len == SK_HASH_HEX_LEN + 8 && !strcmp(name + SK_HASH_HEX_LEN, ".damaged");
    if (len != SK_HASH_HEX_LEN && !aside)
        return 0;
    memcpy(hex, name, SK_HASH_HEX_LEN);
    hex[SK_HASH_HEX_LEN] = '\0';
    if (sk_hash_parse(hex, &h) < 0 || h.b[0] != cs->prefix)
        return 0;
    if (!aside && (!cs->keep || cs->keep(&h, cs->arg)))
        return 0;
    char rel[CHUNK_REL];
    snprintf(rel, sizeof(rel), "chunks/%02x/%s", cs->prefix, name);
    sk_storage_info_t in;
    if (sk_storage_info(cs->r->st, rel, &in) < 0)
        return 0;
    int rc = sk_storage_remove(cs->r->st, rel, 0);
    if (rc < 0)
        return rc;
    cs->removed++;
    cs->freed += in.allocated;
    cs->changed = true;
    return 0;
}

/* On an object store: the chunks to remove, gathered by the walk (which gives their sizes: no
 * HEAD each), then deleted on as many threads as the store runs transfers. */
struct doomed {
    char (*rel)[CHUNK_REL];
    uint64_t *size;
    size_t n, cap, cap2;
    sk_repo_t *r;
    _Atomic uint64_t removed, freed;
};

/* A walk's name "ab/<name>": sweep_chunk in the folder ab, or (d set) noted for removal. */
static int sweep_walked(void *arg, const char *name, const sk_storage_info_t *info)
{
    struct chunk_sweep *cs = arg;
    unsigned v;
    char tail;
    if (strlen(name) < 4 || name[2] != '/' || sscanf(name, "%2x%c", &v, &tail) != 2 || tail != '/')
        return 0;
    cs->prefix = (int)v;
    struct doomed *d = cs->doomed;
    if (!d)
        return sweep_chunk(cs, name + 3);
    const char *base = name + 3;
    sk_hash_t h;
    char hex[SK_HASH_HEX_LEN + 1];
    size_t len = strlen(base);
    bool aside = len == SK_HASH_HEX_LEN + 8 && !strcmp(base + SK_HASH_HEX_LEN, ".damaged");
    if (len != SK_HASH_HEX_LEN && !aside)
        return 0;
    memcpy(hex, base, SK_HASH_HEX_LEN);
    hex[SK_HASH_HEX_LEN] = '\0';
    if (sk_hash_parse(hex, &h) < 0 || h.b[0] != cs->prefix)
        return 0;
    if (!aside && (!cs->keep || cs->keep(&h, cs->arg)))
        return 0;
    if (sk_grow(&d->rel, &d->cap, d->n + 1, sizeof(*d->rel), 256) < 0 ||
        sk_grow(&d->size, &d->cap2, d->n + 1, sizeof(*d->size), 256) < 0)
        return -ENOMEM;
    snprintf(d->rel[d->n], sizeof(d->rel[d->n]), "chunks/%02x/%s", cs->prefix, base);
    d->size[d->n++] = info ? info->allocated : 0;
    return 0;
}

static int delete_doomed(void *arg, void *state, size_t i)
{
    (void)state;
    struct doomed *d = arg;
    int rc = sk_storage_remove(d->r->st, d->rel[i], 0);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    atomic_fetch_add(&d->removed, 1);
    atomic_fetch_add(&d->freed, d->size[i]);
    return 0;
}

int sk_repo_chunk_sweep(sk_repo_t *r, bool (*keep)(const sk_hash_t *h, void *arg), void *arg, uint64_t *removed,
                        uint64_t *freed, sk_err_t *err)
{
    struct chunk_sweep cs = {.r = r, .keep = keep, .arg = arg};
    int rc = 0;
    if (r->st->drv->walk) {
        /* One listing of every chunk (an object store), rather than one per folder; then the
         * deletes, one request each, as many at once as the store runs transfers. */
        struct doomed d = {.r = r};
        cs.doomed = &d;
        char p[PATH_MAX];
        full_path(r, "chunks", p, sizeof(p));
        rc = r->st->drv->walk(r->st, "chunks", sweep_walked, &cs);
        if (rc < 0) {
            sk_err_set(err, rc, p, NULL);
        } else if (d.n) {
            sk_pool_each_t each = {.n = d.n, .arg = &d, .item = delete_doomed, .err = err, .path = p};
            rc = sk_pool_each(sk_s3_threads(r->st, sk_pool_default_threads()), &each, NULL, NULL);
        }
        free(d.rel);
        free(d.size);
        *removed = atomic_load(&d.removed);
        *freed = atomic_load(&d.freed);
        return rc;
    }
    for (int i = 0; i < 256 && rc == 0; i++) {
        char rel[16], p[PATH_MAX];
        snprintf(rel, sizeof(rel), "chunks/%02x", i);
        full_path(r, rel, p, sizeof(p));
        cs.prefix = i;
        cs.changed = false;
        rc = sk_storage_list(r->st, rel, sweep_chunk, &cs);
        if (rc == -ENOENT) {
            rc = 0;
            continue;
        }
        if (rc == 0 && cs.changed)
            rc = sk_storage_sync(r->st, rel, 0);
        if (rc < 0)
            sk_err_set(err, rc, p, NULL);
    }
    *removed = cs.removed;
    *freed = cs.freed;
    return rc;
}

int sk_repo_sweep_orphan_marks(sk_repo_t *r)
{
    struct names ns;
    if (list_names(r, "snapshots", &ns) < 0)
        return 0;
    int removed = 0;
    for (size_t i = 0; i < ns.n; i++) {
        const char *name = ns.v[i];
        char id[SK_ID_MAX], rel[PATH_MAX];
        size_t n = strlen(name);
        if (n <= 4 || n - 4 >= sizeof(id) || strcmp(name + n - 4, ".bad"))
            continue;
        memcpy(id, name, n - 4);
        id[n - 4] = '\0';
        sk_storage_info_t in;
        snprintf(rel, sizeof(rel), "snapshots/%s", id);
        if (!sk_id_valid(id) || sk_storage_info(r->st, rel, &in) != -ENOENT)
            continue;
        snprintf(rel, sizeof(rel), "snapshots/%s", name);
        if (sk_storage_remove(r->st, rel, 0) == 0)
            removed++;
    }
    sk_repo_ids_free(ns.v, ns.n);
    return removed;
}

int sk_repo_snapshots_sync(sk_repo_t *r, sk_err_t *err)
{
    int rc = sk_storage_sync(r->st, "snapshots", 0);
    if (rc < 0) {
        char p[PATH_MAX];
        repo_path(r, "snapshots", p, sizeof(p));
        return sk_err_set(err, rc, p, NULL);
    }
    return 0;
}

/* ---- manifests ---- */

int sk_repo_manifest_stage(sk_repo_t *r, const char *id, const char *buf, size_t len, sk_err_t *err)
{
    char rel[PATH_MAX], p[PATH_MAX];
    if (sk_storage_is_objects(r->st)) {
        /* Kept until sk_repo_manifest_publish PUTs it, after every chunk. */
        char *copy = malloc(len ? len : 1);
        if (!copy)
            return sk_err_set(err, -ENOMEM, r->path, NULL);
        memcpy(copy, buf, len);
        free(r->staged);
        r->staged = copy;
        r->staged_len = len;
        return 0;
    }
    snprintf(rel, sizeof(rel), "tmp/%s/%s.manifest", r->sessname, id);
    int rc = sk_storage_write(r->st, rel, buf, len, SK_STORAGE_SYNC);
    if (rc < 0) {
        full_path(r, rel, p, sizeof(p));
        return sk_err_set(err, rc, p, NULL);
    }
    return 0;
}

int sk_repo_manifest_publish(sk_repo_t *r, const char *id, sk_err_t *err)
{
    char from[PATH_MAX], to[SK_ID_MAX + 16], p[PATH_MAX];
    snprintf(from, sizeof(from), "tmp/%s/%s.manifest", r->sessname, id);
    snprintf(to, sizeof(to), "snapshots/%s", id);
    full_path(r, to, p, sizeof(p));
    if (sk_storage_is_objects(r->st)) {
        if (!r->staged)
            return sk_err_set(err, -EINVAL, p, "no staged manifest");
        /* The snapshot exists once this PUT is answered; an id is never reused (EXCL). */
        int rc = sk_storage_write(r->st, to, r->staged, r->staged_len, SK_STORAGE_EXCL | SK_STORAGE_ATOMIC);
        free(r->staged);
        r->staged = NULL;
        r->staged_len = 0;
        return rc < 0 ? sk_err_set(err, rc, p, NULL) : 0;
    }
    /* An id is never reused, not even by a racing writer. */
    int rc = sk_storage_rename(r->st, from, to, SK_STORAGE_NOREPLACE);
    if (rc == 0)
        rc = sk_storage_sync(r->st, "snapshots", 0);
    if (rc < 0)
        return sk_err_set(err, rc, p, NULL);
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
    char rel[SK_ID_MAX + 16];
    snprintf(rel, sizeof(rel), "snapshots/%s", id);
    void *head = NULL;
    size_t cap = 0, n = 0;
    if (sk_storage_read(r->st, rel, 64 * 1024, SK_STORAGE_PREFIX, &head, &cap, &n) < 0 || n == 0) {
        free(head);
        return;
    }
    char *buf = head;
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
    struct names ns;
    int rc = list_names(r, "snapshots", &ns);
    if (rc < 0)
        return sk_err_set(err, rc, p, NULL);
    sk_snap_order_t *v = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < ns.n; i++) {
        if (!sk_id_valid(ns.v[i]))
            continue;
        if (sk_grow(&v, &cap, n + 1, sizeof(*v), 16) < 0) {
            rc = sk_err_set(err, -ENOMEM, p, NULL);
            break;
        }
        order_peek(r, ns.v[i], &v[n++]);
    }
    sk_repo_ids_free(ns.v, ns.n);
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
    char rel[SK_ID_MAX + 16];
    snprintf(rel, sizeof(rel), "snapshots/%s", id);
    void *data = NULL;
    size_t cap = 0, len;
    int rc = sk_storage_read(r->st, rel, SK_MANIFEST_MAX, 0, &data, &cap, &len);
    char *buf = data;
    if (rc < 0)
        free(data);
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
    char rel[SK_ID_MAX + 32];
    snprintf(rel, sizeof(rel), "snapshots/%s.bad", id);
    void *data = NULL;
    size_t cap = 0, n;
    int rc = sk_storage_read(r->st, rel, 64 * 1024, 0, &data, &cap, &n);
    char *buf = data;
    if (rc < 0)
        free(data);
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
    char rel[SK_ID_MAX + 32];
    snprintf(rel, sizeof(rel), "snapshots/%s", name);
    int rc = sk_storage_write(r->st, rel, text, (size_t)n, SK_STORAGE_ATOMIC);
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
    char p[PATH_MAX], rel[SK_ID_MAX + 32];
    snprintf(p, sizeof(p), "%s/snapshots/%s", r->path, id);
    snprintf(rel, sizeof(rel), "snapshots/%s", id);
    int rc = sk_storage_remove(r->st, rel, 0);
    if (rc < 0 && rc != -ENOENT)
        return sk_err_set(err, rc, p, NULL);
    snprintf(rel, sizeof(rel), "snapshots/%s.bad", id);
    rc = sk_storage_remove(r->st, rel, 0);
    if (rc < 0 && rc != -ENOENT)
        return sk_err_set(err, rc, p, NULL);
    return 0;
}

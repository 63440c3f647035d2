/*
 * storage: the one door through which the repository reaches its bytes.
 *
 * repo.c knows the layout (chunks/, snapshots/, tmp/, config, lock) and the write order; a
 * storage driver knows how to keep bytes under names. Every name is a path relative to the
 * repository's root ("chunks/ab/<hash>", "tmp/s-12-abcd/a/<hash>", "" for the root itself),
 * made of plain components; a driver never follows a symbolic link under the root (the POSIX
 * driver resolves every path with sk_open_beneath: a link met on the way is -ELOOP).
 *
 * The interface, as pgBackRest's storage drivers: stat, read a whole object (or its first
 * bytes), write a new object (plainly, durably, or atomically by temp + fsync + rename),
 * rename, list a folder, remove, make a folder, sync, and locks (shared or exclusive, on the
 * repository's lock file and on writer sessions; released when their holder dies). Every call
 * returns 0 (or what it says) or a negative errno, and records no sk_err_t: the repository
 * names the path and the reason. The POSIX driver (storage_posix.c) keeps a local folder; the
 * S3 driver (storage_s3.c, s3.h) an object store, which says so in its caps. Drivers mark each step that changes the
 * disk with SK_CRASHPOINT.
 */
#ifndef SLOTKEEPER_STORAGE_H
#define SLOTKEEPER_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sk_storage sk_storage_t;
typedef struct sk_storage_lock sk_storage_lock_t;

enum sk_storage_type { SK_STORAGE_FILE = 1, SK_STORAGE_DIR, SK_STORAGE_LINK, SK_STORAGE_OTHER };

typedef struct sk_storage_info {
    enum sk_storage_type type;
    uint64_t size;      /* bytes */
    uint64_t allocated; /* bytes the object takes on the storage */
    int64_t mtime;      /* seconds since the epoch */
} sk_storage_info_t;

/* read: at most max bytes from the start, even if the object is longer (else -EFBIG). */
#define SK_STORAGE_PREFIX 0x1u
/* write: durable before returning (fsync; a staged object: fdatasync later with sync). */
#define SK_STORAGE_SYNC 0x1u
/* write: all or nothing under its name: temp, fsync, rename, fsync of the folder. */
#define SK_STORAGE_ATOMIC 0x2u
/* write: start write-back now, so that a later sync finds little to do. */
#define SK_STORAGE_WRITEBACK 0x4u
/* write: the object must not exist yet (-EEXIST). */
#define SK_STORAGE_EXCL 0x8u
/* rename: never replace an existing object (-EEXIST). */
#define SK_STORAGE_NOREPLACE 0x1u
/* remove: a folder and everything in it; a missing path is not an error. */
#define SK_STORAGE_TREE 0x1u
/* remove: an empty folder. */
#define SK_STORAGE_EMPTY_DIR 0x2u
/* sync: data only (fdatasync of a file). */
#define SK_STORAGE_DATA 0x1u
/* sync: everything the storage holds (syncfs), whatever path. */
#define SK_STORAGE_ALL 0x2u
/* lock: exclusive (else shared). */
#define SK_STORAGE_LOCK_EX 0x1u
/* lock: do not wait: -EWOULDBLOCK when held. */
#define SK_STORAGE_LOCK_NB 0x2u
/* lock: create the lock file when it is missing. */
#define SK_STORAGE_LOCK_CREATE 0x4u
/* lock: open it for writing (the holder records itself with lock_note). */
#define SK_STORAGE_LOCK_WRITE 0x8u

/* Called by list for each name in a folder ("." and ".." left out); non-zero stops the listing
 * and is list's result. */
typedef int (*sk_storage_list_fn)(void *arg, const char *name);
/* Called by walk for each file below a folder; non-zero stops the walk and is its result. */
struct sk_storage_info;
typedef int (*sk_storage_walk_fn)(void *arg, const char *name, const struct sk_storage_info *info);

/* caps: an object store (S3): an object written appears whole under its name at once and is
 * durable when write returns (no staging needed), rename is a copy, folders are only name
 * prefixes, locks are objects (released when unlocked, or stale after an expiry when their
 * holder died), open_dir is -ENOTSUP. */
#define SK_STORAGE_CAP_OBJECTS 0x1u

typedef struct sk_storage_driver {
    const char *name; /* "posix", "s3" */
    unsigned caps;    /* SK_STORAGE_CAP_* */
    /* What path is, without following a link (-ENOENT when nothing is there). */
    int (*info)(sk_storage_t *s, const char *path, sk_storage_info_t *out);
    /* Reads a regular file into *buf (grown as needed, capacity *cap, NUL-terminated), its
     * length in *len: -EFBIG when longer than max (unless PREFIX), -EINVAL when not a regular
     * file, -ELOOP for a link. */
    int (*read)(sk_storage_t *s, const char *path, size_t max, unsigned flags, void **buf, size_t *cap, size_t *len);
    /* Creates or replaces path with data (mode 0644), as flags say. */
    int (*write)(sk_storage_t *s, const char *path, const void *data, size_t len, unsigned flags);
    int (*rename)(sk_storage_t *s, const char *from, const char *to, unsigned flags);
    /* Calls fn for each name in the folder dir ("" for the root). */
    int (*list)(sk_storage_t *s, const char *dir, sk_storage_list_fn fn, void *arg);
    /* Optional (NULL when the driver does not offer it): calls fn for every file below dir, at
     * any depth, named relative to dir ("ab/<hash>"), with its size and time, in one pass. An
     * object store lists a whole prefix in pages of 1000 names, where list would take a request
     * per folder and info one per file. */
    int (*walk)(sk_storage_t *s, const char *dir, sk_storage_walk_fn fn, void *arg);
    /* Removes a file (or, as flags say, a folder); -ENOENT when missing, unless TREE. */
    int (*remove)(sk_storage_t *s, const char *path, unsigned flags);
    int (*mkdir)(sk_storage_t *s, const char *path, unsigned mode);
    /* Makes path (a file, or a folder's list of names) durable; ALL: everything. */
    int (*sync)(sk_storage_t *s, const char *path, unsigned flags);
    /* Takes a lock on path (a file or a folder); *out is released by unlock or by the death
     * of the process. */
    int (*lock)(sk_storage_t *s, const char *path, unsigned flags, sk_storage_lock_t **out);
    /* Replaces the contents of a lock taken with WRITE (who holds it). */
    int (*lock_note)(sk_storage_lock_t *l, const char *text, size_t len);
    void (*unlock)(sk_storage_lock_t *l);
    /* Where the storage is a local file system: an open descriptor of the folder path, for
     * scratch work (import unpacks there); -ENOTSUP elsewhere. */
    int (*open_dir)(sk_storage_t *s, const char *path);
    void (*close)(sk_storage_t *s);
} sk_storage_driver_t;

/* Every driver's handle starts with this. */
struct sk_storage {
    const sk_storage_driver_t *drv;
};

/* Opens the POSIX driver on the folder root (followed if a link: the root is the caller's
 * choice; nothing under it is). With create, a missing root is made (mkdir -p). */
int sk_storage_posix_open(const char *root, bool create, sk_storage_t **out);

/* Opens the driver a repository name asks for: s3://BUCKET/PREFIX (s3.h), else a local folder
 * (create as sk_storage_posix_open; an object store needs no creating). Errors come back as
 * the negative errno, with a one-line reason in err for an object store (credentials, bucket,
 * server); a local folder's errors are left to the caller to word (err untouched). */
struct sk_err;
int sk_storage_open(const char *name, bool create, sk_storage_t **out, struct sk_err *err);

/* Whether the storage is an object store (SK_STORAGE_CAP_OBJECTS). */
static inline bool sk_storage_is_objects(const sk_storage_t *s)
{
    return s->drv->caps & SK_STORAGE_CAP_OBJECTS;
}

/* The calls, through the driver's table. */
static inline int sk_storage_info(sk_storage_t *s, const char *path, sk_storage_info_t *out)
{
    return s->drv->info(s, path, out);
}
static inline int sk_storage_read(sk_storage_t *s, const char *path, size_t max, unsigned flags, void **buf,
                                  size_t *cap, size_t *len)
{
    return s->drv->read(s, path, max, flags, buf, cap, len);
}
static inline int sk_storage_write(sk_storage_t *s, const char *path, const void *data, size_t len, unsigned flags)
{
    return s->drv->write(s, path, data, len, flags);
}
static inline int sk_storage_rename(sk_storage_t *s, const char *from, const char *to, unsigned flags)
{
    return s->drv->rename(s, from, to, flags);
}
static inline int sk_storage_list(sk_storage_t *s, const char *dir, sk_storage_list_fn fn, void *arg)
{
    return s->drv->list(s, dir, fn, arg);
}
static inline int sk_storage_remove(sk_storage_t *s, const char *path, unsigned flags)
{
    return s->drv->remove(s, path, flags);
}
static inline int sk_storage_mkdir(sk_storage_t *s, const char *path, unsigned mode)
{
    return s->drv->mkdir(s, path, mode);
}
static inline int sk_storage_sync(sk_storage_t *s, const char *path, unsigned flags)
{
    return s->drv->sync(s, path, flags);
}
static inline int sk_storage_lock(sk_storage_t *s, const char *path, unsigned flags, sk_storage_lock_t **out)
{
    return s->drv->lock(s, path, flags, out);
}
static inline int sk_storage_lock_note(sk_storage_t *s, sk_storage_lock_t *l, const char *text, size_t len)
{
    return s->drv->lock_note(l, text, len);
}
static inline void sk_storage_unlock(sk_storage_t *s, sk_storage_lock_t *l)
{
    if (l)
        s->drv->unlock(l);
}
static inline int sk_storage_open_dir(sk_storage_t *s, const char *path)
{
    return s->drv->open_dir(s, path);
}
static inline void sk_storage_close(sk_storage_t *s)
{
    if (s)
        s->drv->close(s);
}

#endif

/*
 * repo: the on-disk repository of chunks and snapshots.
 *
 *   REPO/config               format version, chunk size, default zstd level (written last at init),
 *                             and "golden on" when the repository keeps a golden copy (golden.h)
 *   REPO/golden/              the golden copy and its record (golden.h); golden.lock, golden.build
 *   REPO/lock                 flock(2): shared for snapshot/restore/verify/list, exclusive for prune;
 *                             the exclusive holder writes its pid and command into it
 *   REPO/chunks/ab/<hash>     one zstd frame per chunk, named by the XXH3-128 of its bytes
 *   REPO/chunks/ab/<hash>.damaged  a chunk verify or restore found damaged, set aside
 *   REPO/snapshots/<id>       one manifest per snapshot, published last
 *   REPO/snapshots/<id>.bad   present when the snapshot failed verification; holds the reason
 *   REPO/tmp/s-<pid>-<rand>/  one writer session: staged chunks and manifest; the writer holds
 *                             flock on it, so any session whose lock can be taken is stale
 *
 * Write order of a snapshot: chunks into the session (then fdatasync each), the
 * manifest into the session (fsync), chunks renamed into chunks/ (fsync their
 * directories), the manifest renamed into snapshots/ (fsync the directory).
 * Readers never look into tmp/; writers sweep stale sessions when they start.
 * Locks are flock(2) locks, released by the kernel when their holder dies, so
 * a crashed process never blocks the repository.
 *
 * On an object store (s3://BUCKET/PREFIX, storage_s3.c) the same names are object keys under
 * PREFIX, with these differences: a chunk is PUT straight under chunks/ab/<hash> and the
 * manifest PUT last (a PUT is atomic, a rename is a copy), so nothing is staged in tmp/; the
 * writer lists the stored chunks once when its session begins; and locks are objects
 * PREFIX/locks/lock/<ex|sh>-<owner>-<pid>-<random>, refreshed while held and stale after an
 * expiry when their holder died (see storage_s3.c).
 *
 * The repository reaches these names only through its storage (storage.h: the POSIX or the S3
 * driver), and the other modules reach the repository only through this API.
 */
#ifndef SLOTKEEPER_REPO_H
#define SLOTKEEPER_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slotkeeper/chunk.h"
#include "slotkeeper/error.h"
#include "slotkeeper/manifest.h"
#include "slotkeeper/storage.h"

/* Chunk sizes. Files that only grow (names ending in .log or .index: blocks.log, blocks.index,
 * state-history) get the log chunk size: only their last chunk changes between snapshots, and
 * large chunks mean fewer files and better compression. Everything else (shared_memory.bin,
 * whose pages change in place all over the file) gets the smaller chunk size, so a snapshot
 * after a few minutes stores little more than the pages that changed. See `make bench`. */
#define SK_REPO_DEFAULT_CHUNK     (128U * 1024)
#define SK_REPO_DEFAULT_LOG_CHUNK (1024U * 1024)
#define SK_REPO_DEFAULT_LEVEL     3

enum sk_lock_mode { SK_LOCK_SHARED, SK_LOCK_EXCLUSIVE };

typedef struct sk_repo {
    char path[PATH_MAX]; /* as given, for messages */
    sk_storage_t *st;    /* where the bytes are */
    sk_storage_lock_t *lock;
    uint32_t chunk_size;     /* for files changed in place */
    uint32_t log_chunk_size; /* for append-only files (*.log, *.index) */
    int level;
    bool golden;                 /* config "golden on": keep a golden copy (golden.h) */
    sk_storage_lock_t *sesslock; /* the writer session's lock, or NULL when there is none */
    char sessname[64];
    char *staged; /* on an object store: the manifest waiting for its publication */
    size_t staged_len;
    struct sk_hset *known; /* on an object store, in a writer session: the chunks stored, with their sizes */
} sk_repo_t;

/* Creates a repository at path (missing or empty folder); log_chunk_size 0 means
 * max(chunk_size, SK_REPO_DEFAULT_LOG_CHUNK). */
int sk_repo_init_ex(const char *path, uint32_t chunk_size, uint32_t log_chunk_size, int level, sk_err_t *err);
/* sk_repo_init_ex with the default log chunk size. */
int sk_repo_init(const char *path, uint32_t chunk_size, int level, sk_err_t *err);

/* Rewrites the config (atomically) with "golden on" or without it; r->golden follows. The
 * golden copy itself is golden.c's business. */
int sk_repo_set_golden(sk_repo_t *r, bool on, sk_err_t *err);

/* The chunk size the repository uses for a file of this name. */
uint32_t sk_repo_chunk_size_for(const sk_repo_t *r, const char *name);

/* Opens the repository at path and takes its lock in mode, waiting up to wait_ms
 * (-EWOULDBLOCK if it cannot). command is recorded in the lock file when exclusive. */
int sk_repo_open(const char *path, enum sk_lock_mode mode, uint64_t wait_ms, const char *command, sk_repo_t **out,
                 sk_err_t *err);
void sk_repo_close(sk_repo_t *r);

/* Removes stale writer sessions and stale temporary files; returns how many were removed. */
int sk_repo_sweep(sk_repo_t *r);

/* Starts / ends this process's writer session (end removes it with what it still holds). */
int sk_repo_session_begin(sk_repo_t *r, sk_err_t *err);
/* sk_repo_session_begin for a writer that carries from seed, a good snapshot of r (or NULL).
 * On an object store, seed's chunks stand for the listing of the stored chunks that a session
 * otherwise starts with: sk_repo_chunk_stat answers from them, and a chunk seed lacks is
 * written (a PUT of a content-addressed chunk that exists stores the same bytes again), so a
 * cycle's requests follow what changed, not the size of the repository. */
int sk_repo_session_begin_from(sk_repo_t *r, const sk_manifest_t *seed, sk_err_t *err);
void sk_repo_session_end(sk_repo_t *r);

/* A folder "tmp/<session>/<name>" made for a writer's scratch work (import unpacks an archive
 * there), open as *fd; path gets its full path. Needs a session and a local storage. */
int sk_repo_session_scratch(sk_repo_t *r, const char *name, char *path, size_t len, int *fd, sk_err_t *err);

/* Whether the chunk is stored; if so and csize is not NULL, its compressed size. 1, 0, or -errno. */
int sk_repo_chunk_stat(sk_repo_t *r, const sk_hash_t *h, uint32_t *csize);
/* Writes a compressed chunk into the session (not yet durable, not yet visible). */
int sk_repo_chunk_stage(sk_repo_t *r, const sk_hash_t *h, const void *data, size_t len, sk_err_t *err);
/* fdatasync of a staged chunk. */
int sk_repo_chunk_sync(sk_repo_t *r, const sk_hash_t *h, sk_err_t *err);
/* Renames a staged chunk into chunks/. */
int sk_repo_chunk_publish(sk_repo_t *r, const sk_hash_t *h, sk_err_t *err);
/* fsyncs chunks/<prefix> for every prefix byte set in touched[256]. */
int sk_repo_chunk_dirs_sync(sk_repo_t *r, const bool touched[256], sk_err_t *err);
/* Renames a damaged chunk to chunks/ab/<hash>.damaged, so that the next snapshot of the same
 * data stores a good copy instead of reusing it. Prune removes set-aside chunks. */
int sk_repo_chunk_set_aside(sk_repo_t *r, const sk_hash_t *h);
/* syncfs of the repository's file system: makes every staged chunk and rename durable at once. */
int sk_repo_sync_all(sk_repo_t *r, sk_err_t *err);
/* Reads a chunk's compressed bytes into *buf (grown as needed). -ENOENT if missing,
 * -EBADMSG if it was set aside as damaged. */
int sk_repo_chunk_read(sk_repo_t *r, const sk_hash_t *h, void **buf, size_t *cap, size_t *len);
/* Relative path "chunks/ab/<hash>" for messages. */
void sk_repo_chunk_relpath(const sk_hash_t *h, char *out, size_t len);

/* Writes the manifest into the session and fsyncs it. */
int sk_repo_manifest_stage(sk_repo_t *r, const char *id, const char *buf, size_t len, sk_err_t *err);
/* Renames the staged manifest into snapshots/ and fsyncs the directory: the snapshot exists. */
int sk_repo_manifest_publish(sk_repo_t *r, const char *id, sk_err_t *err);

/* Which snapshot is newer (invariant 11: one chain, one lineage). "Newest" is the highest head
 * block (fact source.last-block), then the latest time, then the greatest id; a snapshot that
 * records no block range (a node with no blocks yet) counts as head 0, so among those time
 * decides. Never the clock alone: a snapshot taken with the clock in the future does not
 * outrank a later one further along the chain. Chains are not compared: callers that choose
 * within a chain filter on source.chain-id (restore's latest, prune's --keep-last). */
typedef struct sk_snap_order {
    char id[SK_ID_MAX];
    char chain_id[65]; /* source.chain-id, "" when the snapshot records none */
    bool has_head;
    uint32_t head; /* source.last-block */
    int64_t time;
} sk_snap_order_t;

/* The order keys of a loaded manifest. */
void sk_snap_order_of(const sk_manifest_t *m, sk_snap_order_t *o);
/* <0, 0, >0 as a is older than, the same as, or newer than b. The one definition of "newest". */
int sk_snap_order_cmp(const sk_snap_order_t *a, const sk_snap_order_t *b);

/* Every snapshot with its order keys (read from each manifest's head lines, not checked), oldest
 * first by sk_snap_order_cmp; free(*out). Only names that are snapshot ids (sk_id_valid) count. */
int sk_repo_list(sk_repo_t *r, sk_snap_order_t **out, size_t *n, sk_err_t *err);

/* Snapshot ids in the same order (oldest first); free with sk_repo_ids_free. */
int sk_repo_list_ids(sk_repo_t *r, char ***ids, size_t *n, sk_err_t *err);
void sk_repo_ids_free(char **ids, size_t n);

/* Loads and validates a manifest. -ENOENT if there is no such snapshot, -EBADMSG if corrupt. */
int sk_repo_manifest_load(sk_repo_t *r, const char *id, sk_manifest_t **out, sk_err_t *err);

/* 1 if marked bad (reason copied when given), 0 if not. */
int sk_repo_is_bad(sk_repo_t *r, const char *id, char *reason, size_t len);
int sk_repo_mark_bad(sk_repo_t *r, const char *id, const char *reason);

/* The newest snapshot (sk_snap_order_cmp) that is not marked bad and whose manifest loads; corrupt ones
 * met on the way are marked bad. -ENOENT if there is none. */
int sk_repo_latest_good(sk_repo_t *r, sk_manifest_t **out, sk_err_t *err);
/* The same, among snapshots whose manifest has fact = value (all of them when fact is NULL);
 * why ends the not-found message (e.g. "whose state environment matches the reference"). */
int sk_repo_latest_good_with(sk_repo_t *r, const char *fact, const char *value, const char *why, sk_manifest_t **out,
                             sk_err_t *err);
/* The same, among snapshots that have every fact = value of where[0..nwhere). */
int sk_repo_latest_good_where(sk_repo_t *r, const sk_fact_t *where, size_t nwhere, const char *why, sk_manifest_t **out,
                              sk_err_t *err);

/* Removes a snapshot's manifest and bad marker (prune; needs the exclusive lock). */
int sk_repo_snapshot_remove(sk_repo_t *r, const char *id, sk_err_t *err);

/* Removes the marks "<id>.bad" whose manifest is gone (a prune killed between the two
 * removals leaves the mark alone); returns how many. Needs the exclusive lock. */
int sk_repo_sweep_orphan_marks(sk_repo_t *r);

/* Makes the removals in snapshots/ durable (prune, before it touches a chunk). */
int sk_repo_snapshots_sync(sk_repo_t *r, sk_err_t *err);

/* Removes every stored chunk that keep(hash, arg) does not want (a NULL keep wants them all), and
 * every chunk set aside as damaged, then makes each changed chunk folder durable; counts the chunks removed and the
 * bytes they took. Needs the exclusive lock. */
int sk_repo_chunk_sweep(sk_repo_t *r, bool (*keep)(const sk_hash_t *h, void *arg), void *arg, uint64_t *removed,
                        uint64_t *freed, sk_err_t *err);

#endif

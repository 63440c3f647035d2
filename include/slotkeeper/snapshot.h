/*
 * snapshot: turns a stopped node's data-dir into a snapshot in a repository.
 *
 * The named sub-folders of the data-dir are walked (regular files, folders and
 * symbolic links; anything else is skipped with a warning), each file's data
 * extents are found with SEEK_DATA/SEEK_HOLE, and every chunk that intersects
 * data is read, hashed, and, when the repository does not hold it yet,
 * compressed and staged, on several threads. Then the repository's write
 * order is followed (see repo.h). A file whose size or mtime changes while it
 * is read fails the snapshot; a data-dir whose shared_memory.bin is locked by
 * a live process is refused (-EBUSY) before anything is read, and so is one
 * that is not clean (-EUCLEAN): a chainbase header with its dirty flag set, or
 * the marker of an unfinished restore.
 *
 * Append-aware (incremental) snapshots. Every regular file's identity on its source (st_dev,
 * st_ino; a frozen copy's origin from .slotkeeper/frozen-origin, see carry.h) is recorded in
 * the manifest. The parent is the newest good snapshot (repo.h's order) of the same chain
 * (source.chain-id) and host (source.host), when it records identities. A file nodeos only
 * appends to (carry.h) whose identity and chunk size match the parent's record and which did
 * not shrink takes the parent's chunk list for its prefix up to the last whole chunk that ends
 * at least 8 bytes before the parent's size (a pruned log's 4-byte block count, and the last
 * position, are always read again), after these checks:
 *   - the log and its index agree where the prefix ends (sk_carry_log_sound); otherwise the
 *     file is read whole;
 *   - the prefix's last chunk (the boundary) is read again and must hash as the parent says;
 *     otherwise the file is read whole;
 *   - a pruned log's first chunk (its version word or first header) is always read again;
 *   - holes (SEEK_HOLE/SEEK_DATA over the prefix): a chunk the parent holds that is a hole now
 *     is dropped (nodeos punches the front of a pruned log), a chunk within 64 KiB of a hole's
 *     edge is read again (punching zeroes partial blocks), and a chunk with data now where the
 *     parent has none is read;
 *   - each carried chunk must still be in the repository (one stat); a missing one is read
 *     and must hash as the parent says, else the file is read whole.
 * Everything else is read as before. Every full_reread_every-th snapshot of a run that carried
 * (counted by the manifests' carry-run) and every snapshot with full_reread reads everything.
 * A snapshot of a staged folder (import) records no identities and carries nothing.
 */
#ifndef SLOTKEEPER_SNAPSHOT_H
#define SLOTKEEPER_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slotkeeper/error.h"
#include "slotkeeper/manifest.h"
#include "slotkeeper/progress.h"
#include "slotkeeper/repo.h"

typedef struct sk_snapshot_opts {
    const char *data_dir;
    const char *const *include; /* sub-folders to take, e.g. {"blocks", "state"} */
    size_t ninclude;
    int threads;            /* 0: one per CPU */
    int level;              /* zstd level, 0: the repository's default */
    const sk_fact_t *facts; /* extra facts about the source node, recorded in the manifest */
    size_t nfacts;
    /* data_dir is a folder staged in the repository's own writer session (import), the one
     * place a data-dir may lie inside the repository; otherwise they must be apart. */
    bool staged_in_session;
    bool full_reread;           /* read every file whole, carry nothing from the parent */
    uint32_t full_reread_every; /* the N-th snapshot of a carrying run reads everything; 0: never */
} sk_snapshot_opts_t;

typedef struct sk_snapshot_result {
    char id[SK_ID_MAX];
    uint64_t files, logical_bytes, data_bytes, stored_bytes, new_bytes, chunks, new_chunks;
    uint64_t read_bytes, carried_bytes; /* bytes read from the data-dir; data taken from the parent unread */
    char parent[SK_ID_MAX];             /* the parent snapshot carried from, "" when none */
    double seconds;
} sk_snapshot_result_t;

int sk_snapshot_create(sk_repo_t *repo, const sk_snapshot_opts_t *opts, sk_progress_t *progress,
                       sk_snapshot_result_t *result, sk_err_t *err);

/* Makes a new snapshot id, YYYYMMDDTHHMMSSZ-<microseconds>-<16 random bits>, which sorts by time. */
void sk_snapshot_new_id(char id[SK_ID_MAX], int64_t *time_out);

#endif

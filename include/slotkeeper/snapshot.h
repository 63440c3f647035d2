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
} sk_snapshot_opts_t;

typedef struct sk_snapshot_result {
    char id[SK_ID_MAX];
    uint64_t files, logical_bytes, data_bytes, stored_bytes, new_bytes, chunks, new_chunks;
    double seconds;
} sk_snapshot_result_t;

int sk_snapshot_create(sk_repo_t *repo, const sk_snapshot_opts_t *opts, sk_progress_t *progress,
                       sk_snapshot_result_t *result, sk_err_t *err);

/* Makes a new snapshot id, YYYYMMDDTHHMMSSZ-<microseconds>-<16 random bits>, which sorts by time. */
void sk_snapshot_new_id(char id[SK_ID_MAX], int64_t *time_out);

#endif

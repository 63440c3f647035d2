/*
 * restore: materialises a snapshot into a slot's data-dir, atomically enough
 * that the slot is never startable half-restored.
 *
 * Inside the data-dir slotkeeper keeps one folder of its own:
 *   DIR/.slotkeeper/restoring         the restore marker: present from before the first
 *                                     change until after the last fsync; `check` reports
 *                                     such a slot as "restoring"
 *   DIR/.slotkeeper/staging/          the snapshot is materialised here (same file system)
 *   DIR/.slotkeeper/quarantine/<t>/   the folders a restore replaced, newest K kept
 *
 * Order: take the data-dir's lock and the fcntl write lock of every existing
 * shared_memory.bin (so no nodeos can start meanwhile, and none is running),
 * check free space, write the marker, materialise and fsync the staging copy
 * (every chunk's hash checked, holes kept, mode/owner/mtime restored), move
 * the replaced folders into quarantine, move the staged ones in (state last),
 * fsync, remove the marker, apply the quarantine policy. Only the snapshot's
 * included folders are touched. Running it again after a crash finishes the job:
 * the marker names the quarantine folder, so the original folders are never
 * quarantined twice nor deleted.
 */
#ifndef SLOTKEEPER_RESTORE_H
#define SLOTKEEPER_RESTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "slotkeeper/error.h"
#include "slotkeeper/manifest.h"
#include "slotkeeper/progress.h"
#include "slotkeeper/repo.h"

#define SK_SLOT_META_DIR   ".slotkeeper"
#define SK_RESTORE_MARKER  ".slotkeeper/restoring"
#define SK_STAGING_DIR     ".slotkeeper/staging"
#define SK_QUARANTINE_DIR  ".slotkeeper/quarantine"
#define SK_QUARANTINE_KEEP 1

typedef struct sk_restore_opts {
    const char *data_dir;
    const char *snapshot;   /* an id, or "latest" for the newest good snapshot */
    int threads;            /* 0: one per CPU */
    unsigned keep;          /* replaced copies to keep per slot (quarantine policy) */
    bool quarantine_delete; /* delete the replaced folders once the restore is complete */
    /* If set, the hex state environment (manifest fact "state.environment") the snapshot must
     * have: "latest" then means the newest good snapshot that has it, and a named snapshot
     * without it is refused (-EPROTOTYPE), since nodeos would refuse its state. */
    const char *require_env;
    /* Chains (invariant 11). The slot's chain is the one its block log, else its genesis.json,
     * names. A snapshot that records another chain id is refused (-EPROTOTYPE), and "latest" is
     * the newest good snapshot of the slot's chain. chain_id (64 hex digits, or NULL) names the
     * chain when the slot names none; if the slot names another one, the restore is refused.
     * With neither, "latest" is refused when the repository holds snapshots of several chains.
     * force_chain lifts these refusals (a restore across chains, on an operator's word). A
     * snapshot that records no chain id is of an unknown chain: "latest" skips it when the
     * chain is known, and named by its id it is restored. */
    const char *chain_id;
    bool force_chain;
} sk_restore_opts_t;

typedef struct sk_restore_result {
    char id[SK_ID_MAX];
    uint64_t files, data_bytes;
    char quarantine[PATH_MAX]; /* where the replaced folders went, empty if none kept */
    bool resumed;              /* a previous, interrupted restore was finished */
    double seconds;
    char path[16];          /* the path taken: "clone" (from the golden copy, golden.h) or "full" */
    uint64_t bytes_written; /* data bytes written into the slot */
    uint64_t bytes_cloned;  /* bytes cloned from the golden copy */
} sk_restore_result_t;

int sk_restore(sk_repo_t *repo, const sk_restore_opts_t *opts, sk_progress_t *progress, sk_restore_result_t *result,
               sk_err_t *err);

#endif

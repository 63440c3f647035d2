/*
 * restore: materialises a snapshot into a slot's data-dir, atomically enough
 * that the slot is never startable half-restored. Two paths:
 *
 * delta (the default): writes only what differs. Every file of the snapshot is
 * compared with the slot's own file at the snapshot's chunk boundaries (read and
 * XXH3-128-hashed in parallel, the slot's file reached beneath the data-dir and
 * never through a link; a link, folder or other non-file in its place, or a file
 * with other hard links, is moved to quarantine and the file made anew); only the
 * chunks whose hash differs are written, each chunk's bytes decompressed and
 * checked against its hash first; chunks that are holes or zeros
 * in the snapshot become holes (punched) in the slot; each file is truncated or
 * extended to its size; mode, owner and mtime are set; what is under the included
 * folders but not in the snapshot goes to quarantine; missing files, folders and
 * links are created. Order: take the locks, hash, fetch and check every chunk
 * that will overwrite the slot's own data (a damaged snapshot, marked bad, then
 * leaves the slot as it was; into a slot that holds none of the snapshot's files
 * the chunks are checked as they are written, and a failure takes back what the
 * restore made), check free space, write the marker,
 * save into quarantine what will be overwritten (fsynced, index last), change the
 * slot, fsync every file and folder, remove the marker. A re-run after a kill or a
 * full disk hashes again and writes what still differs.
 *
 * full (opts.full, `--full`): the whole snapshot is materialised in
 * DIR/.slotkeeper/staging, the replaced folders are moved whole into quarantine and
 * the staged ones moved in (state last).
 *
 * Inside the data-dir slotkeeper keeps one folder of its own:
 *   DIR/.slotkeeper/restoring         the restore marker: present from before the first
 *                                     change until after the last fsync; `check` reports
 *                                     such a slot as "restoring"
 *   DIR/.slotkeeper/staging/          full path: the snapshot is materialised here
 *   DIR/.slotkeeper/quarantine/<t>/   what a restore replaced, newest K kept
 *
 * Quarantine of the full path: quarantine/<t>/<folder>, the replaced folders whole.
 * Quarantine of the delta path, only what the restore overwrote or removed:
 *   quarantine/<t>/index        text, one line per saved thing (paths percent-escaped
 *                               as in manifests), after a first line
 *                               "slotkeeper-quarantine 1":
 *     region <path> <offset> <length> saved/<path>   the old bytes of <path> at
 *                               [offset, offset+length) are at the same offset of
 *                               saved/<path> (a sparse file: holes elsewhere)
 *     file <path> 0 <length> saved/<path>     saved/<path> is the whole old file (a copy
 *                               of a small file, or a reflink clone: see below)
 *     clone <path> 0 <length> saved/<path>    the same, made by cloning (no extra space)
 *     moved <path> 0 0 moved/<path>           what was at <path> (a file the snapshot does
 *                               not have, or a link, folder or other thing where the
 *                               snapshot has something else), moved here whole
 *     created <path> 0 0 -                    <path> did not exist before the restore
 *   Where a reflink clone from the slot into quarantine works (XFS reflink=1, btrfs:
 *   found by trying), each changed file is cloned whole before it is changed; elsewhere
 *   the old bytes of each overwritten chunk, of each cut tail, and files of at most
 *   SK_QUARANTINE_SMALL bytes whole, are copied. Putting data back: for each line,
 *   `dd if=Q/saved/PATH of=DIR/PATH bs=1 skip=OFF seek=OFF count=LEN conv=notrunc`
 *   (region; then truncate to the old size), `cp --sparse=always Q/saved/PATH DIR/PATH`
 *   (file, clone), `mv Q/moved/PATH DIR/PATH` (moved). The index is written (atomically)
 *   after everything it lists is saved and fsynced, and before the slot is changed; a
 *   re-run into the same quarantine folder (the marker names it) never saves a path or
 *   region twice, so what is saved is always the slot's original bytes.
 *
 * Free space: the full path needs every data byte of the snapshot. The delta path,
 * after hashing and before writing, needs the bytes of the data chunks it will write,
 * plus what quarantine copies (the old bytes of overwritten chunks and cut tails, small
 * files whole; nothing for clones and moves), plus 4 KiB per entry and 1 MiB.
 *
 * Both paths: take the data-dir's lock and the fcntl write lock of every existing
 * shared_memory.bin (so no nodeos can start meanwhile, and none is running), and
 * touch only the snapshot's included folders. Running a restore again after a crash
 * finishes the job: the marker names the quarantine folder, so the original data is
 * never quarantined twice nor deleted.
 */
#ifndef SLOTKEEPER_RESTORE_H
#define SLOTKEEPER_RESTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "slotkeeper/error.h"
#include "slotkeeper/manifest.h"
#include "slotkeeper/progress.h"
#include "slotkeeper/repo.h"

#define SK_SLOT_META_DIR    ".slotkeeper"
#define SK_RESTORE_MARKER   ".slotkeeper/restoring"
#define SK_STAGING_DIR      ".slotkeeper/staging"
#define SK_QUARANTINE_DIR   ".slotkeeper/quarantine"
#define SK_QUARANTINE_KEEP  1
#define SK_QUARANTINE_SMALL (1024 * 1024) /* delta: changed files up to this size are saved whole */
#define SK_QUARANTINE_INDEX "index"

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
    bool full; /* the full path (staging and swap) instead of the delta */
} sk_restore_opts_t;

typedef struct sk_restore_result {
    char id[SK_ID_MAX];
    uint64_t files, data_bytes;
    char quarantine[PATH_MAX]; /* where the replaced folders went, empty if none kept */
    bool resumed;              /* a previous, interrupted restore was finished */
    double seconds;
    char path[16];            /* the path taken: "delta", "full", or "clone" (from the golden copy, golden.h) */
    uint64_t bytes_written;   /* data bytes written into the slot */
    uint64_t bytes_cloned;    /* data bytes cloned from the golden copy */
    uint64_t bytes_unchanged; /* data bytes already right, left alone (delta) */
} sk_restore_result_t;

int sk_restore(sk_repo_t *repo, const sk_restore_opts_t *opts, sk_progress_t *progress, sk_restore_result_t *result,
               sk_err_t *err);

#endif

/*
 * golden: a repository's golden copy, a materialised, verified copy of its newest good
 * snapshot, from which a restore clones a slot's files (reflinks) instead of writing chunks.
 *
 *   REPO/golden/record      "slotkeeper-golden 1", "snapshot <id>", "verified <unix time>",
 *                           "incremental <updates since the last full verification>", "update
 *                           written <B> verified <B> reused <B> full <0|1> rewritten <files>" (what the update
 *                           that made it cost): written last, so a golden copy without it is
 *                           never used
 *   REPO/golden/manifest    the snapshot's manifest, which verify re-hashes the files against
 *   REPO/golden/damaged     present when verify found the copy damaged (the reason): never
 *                           cloned from; the next update rebuilds it from the chunks
 *   REPO/golden/tree/...    the snapshot's folders, files and links
 *   REPO/golden.new/        an update in progress (swept by the next one)
 *   REPO/golden.lock        flock: shared while a restore clones, exclusive for the swap
 *   REPO/golden.build       flock: exclusive for the one process updating (others wait) or
 *                           verifying (-EBUSY while an update runs)
 *
 * It is switched on by "golden on" in REPO/config (sk_repo_set_golden; `slotkeeper repo init
 * --golden`, `slotkeeper repo golden REPO on|off|rebuild|status`). It needs the repository's
 * storage to be a local file system (storage.h open_dir); elsewhere -ENOTSUP.
 *
 * An update builds golden.new/ from the current golden copy: each file is cloned from it where
 * the file system can (else copied), then only the chunks whose hash changed are written (and
 * ranges that became zero punched out), every file is made durable (syncfs), the chunks written
 * or zeroed are re-read and checked against the manifest, the record is written, and golden.new/
 * takes golden/'s place in one rename (RENAME_EXCHANGE). A crash at any step leaves the old
 * golden copy, complete and verified, or the new one. Every step that changes the disk is an
 * SK_CRASHPOINT. Its cost follows what changed between the two snapshots, not the data's size.
 *
 * Why the bytes carried from the old copy need no re-reading: they were checked when the old
 * copy was verified, and a file is carried only when its ctime (which no one can set back) is
 * not later than that verification, its size and type as recorded; a file changed from outside
 * golden.c is written whole from the chunks and checked whole instead (res->files_rewritten).
 * What a ctime cannot show (the disk's own decay) is caught by a full verification: from
 * scratch, every full_verify_every-th update in a row (the record's "incremental N" counts them),
 * and by `slotkeeper verify` / `repo golden verify`. A full verification that fails on an
 * update marks the old copy damaged and builds the new one from the chunks alone.
 * The old copy is taken chunk by chunk only when it is of the same chain and folders (else the
 * new copy is made from the chunks).
 *
 * Invariant 5: cloned bytes were checked when the golden copy was last verified (at its
 * update, and by every `slotkeeper verify`), or carried by a clone from a file unchanged since
 * an earlier verification.
 */
#ifndef SLOTKEEPER_GOLDEN_H
#define SLOTKEEPER_GOLDEN_H

#include <stdbool.h>
#include <stdint.h>

#include "slotkeeper/error.h"
#include "slotkeeper/manifest.h"
#include "slotkeeper/progress.h"
#include "slotkeeper/repo.h"

#define SK_GOLDEN_DIR        "golden"
#define SK_GOLDEN_NEW        "golden.new"
#define SK_GOLDEN_LOCK       "golden.lock"
#define SK_GOLDEN_BUILD_LOCK "golden.build"

/* The default of [repository] golden_full_verify_every (option.c's table says the same). */
#define SK_GOLDEN_FULL_VERIFY_EVERY 24

typedef struct sk_golden_status {
    bool enabled;         /* the config says "golden on" */
    bool present;         /* golden/ with its record */
    bool damaged;         /* marked damaged by verify */
    char reason[256];     /* why damaged */
    char id[SK_ID_MAX];   /* the snapshot it holds */
    int64_t verified;     /* when it was last verified (unix time) */
    uint64_t files, size; /* regular files and their logical bytes */
    unsigned incremental; /* updates since its last full verification */
    /* what the update that made it cost (all 0 when a verification rewrote the record) */
    uint64_t last_written, last_verified, last_reused;
    uint64_t last_rewritten; /* files it wrote whole: changed from outside since verified */
    bool last_full;          /* that update re-hashed every byte */
} sk_golden_status_t;

typedef struct sk_golden_result {
    char id[SK_ID_MAX]; /* the snapshot it now holds; empty: the repository has none */
    bool unchanged;     /* it already held that snapshot, verified */
    bool from_scratch;  /* no usable golden copy to start from */
    bool reflinked;     /* unchanged bytes were cloned (else copied) from the old copy */
    uint64_t files;
    bool full_verify;         /* every byte was re-hashed (else: only those written or zeroed) */
    uint64_t files_rewritten; /* old copy's files changed since its verification: written whole */
    uint64_t bytes_written;   /* chunk bytes written (--json written_bytes) */
    uint64_t bytes_reused;    /* bytes taken from the old copy (cloned or copied) */
    uint64_t bytes_verified;  /* bytes re-read and checked (--json verified_bytes) */
    char recovered[256];      /* not empty: the update from the old copy failed its verification
                                 (why); the copy was then made from the chunks */
    double seconds;
} sk_golden_result_t;

typedef struct sk_golden_opts {
    bool rebuild;               /* from the chunks alone, ignoring the current copy */
    bool full_verify;           /* re-hash every byte of the new copy */
    unsigned full_verify_every; /* the N-th update in a row re-hashes every byte; 0: never */
} sk_golden_opts_t;

typedef struct sk_golden_verify {
    bool checked; /* there was a golden copy to check */
    bool ok;
    char id[SK_ID_MAX];
    char reason[256]; /* the first damage found */
    uint64_t files, bytes;
} sk_golden_verify_t;

/* What golden/ holds. 0, or a negative errno (-ENOTSUP: not a local storage). */
int sk_golden_status(sk_repo_t *r, sk_golden_status_t *st, sk_err_t *err);

/* Brings the golden copy to the newest good snapshot (see above; opts: how). Needs the
 * repository's lock (shared). Waits while another process updates it. -ENOTSUP when the storage
 * is not local. */
int sk_golden_update_ex(sk_repo_t *r, const sk_golden_opts_t *opts, sk_progress_t *progress, sk_golden_result_t *res,
                        sk_err_t *err);
/* sk_golden_update_ex with rebuild and full_verify_every SK_GOLDEN_FULL_VERIFY_EVERY. */
int sk_golden_update(sk_repo_t *r, bool rebuild, sk_progress_t *progress, sk_golden_result_t *res, sk_err_t *err);

/* Re-hashes every file of the golden copy against its manifest; a damaged copy is marked
 * (golden/damaged) and so never cloned from. res->checked is false when there is none. */
int sk_golden_verify(sk_repo_t *r, sk_progress_t *progress, sk_golden_verify_t *res, sk_err_t *err);

/* Removes the golden copy (golden/ and golden.new/). */
int sk_golden_remove(sk_repo_t *r, sk_err_t *err);

/* Whether a restore of m may clone from the golden copy into the file system of the folder
 * probe_dir (the slot's .slotkeeper/): it holds m, verified and not marked damaged, and a clone
 * from it to there works. 1 or 0, with why as sk_golden_clone_into's. The restore asks first,
 * to choose its path and the free space it needs; the clone itself may still fall back. */
int sk_golden_usable(sk_repo_t *r, const sk_manifest_t *m, int probe_dir, char *why, size_t whylen);

/* Restore by cloning: when the repository keeps a golden copy that holds snapshot m, is
 * verified and not marked damaged, and clones work from it into the staging folder stagefd
 * (stage_path for messages), makes every folder, link and file of m under stagefd, each file a
 * clone of the golden copy's. Returns 1 when done (*cloned: the bytes cloned); 0 when it is
 * not possible, with why (one line) and staging emptied again, so the caller writes the chunks
 * instead; why is empty when the repository keeps no golden copy. < 0 on an error that stops
 * the restore (set in err). Owner, mode, mtime and fsync are the caller's, as for written
 * files. In the crash build, SK_FAULT_CLONE_AFTER=N makes the clone after N files fail (EIO). */
int sk_golden_clone_into(sk_repo_t *r, const sk_manifest_t *m, int stagefd, const char *stage_path, uint64_t *cloned,
                         char *why, size_t whylen, sk_err_t *err);

#endif

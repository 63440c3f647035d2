/*
 * freeze: a private, cloned copy of a stopped node's included folders, so that the node can
 * run again while its snapshot is taken from the copy (ARCHITECTURE.md, invariant 12).
 *
 * After the clean stop and the clean check, with the data-dir lock held, each included
 * folder (blocks/, state/...) is cloned into DIR/.slotkeeper/frozen-<stamp>/ on the same file
 * system: files by FICLONE (their bytes shared until one side is written, holes kept),
 * folders, modes, owners, mtimes and symbolic links as a snapshot would see them (a top-level
 * link to a folder is followed, a link below it is copied as a link). Nothing is synced: the
 * copy is thrown away after its snapshot, and a crash leaves only a folder to sweep.
 *
 *   DIR/.slotkeeper/frozen-<stamp>/blocks/...          the copy
 *   DIR/.slotkeeper/frozen-<stamp>/.slotkeeper/frozen-origin
 *        "slotkeeper-frozen-origin 1", then one line per regular file:
 *        "<st_dev> <st_ino> <size> <mtime_ns> <relpath>", from fstat of the source file the
 *        copy was cloned from (relpath as in a manifest: blocks/blocks.log). A snapshot of the
 *        copy reads it to know the originals' identity.
 *
 * A frozen folder is held by a shared flock on the folder itself for as long as it is in use
 * (its creator holds one; the snapshot of it takes another). sk_freeze_sweep removes every
 * frozen-* folder nobody holds: what a crash or kill left behind. Neither the copy nor its
 * snapshot takes the data-dir's own lock after the freeze: the data-dir is free again, and
 * the node may run while the copy is read.
 *
 * Freezing needs a file system that clones (XFS with reflink=1, btrfs). Where it cannot, or
 * where an included folder lies on another file system, sk_freeze says why and leaves
 * nothing: the caller snapshots the stopped data-dir directly, as before.
 */
#ifndef SLOTKEEPER_FREEZE_H
#define SLOTKEEPER_FREEZE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "slotkeeper/error.h"

#define SK_FROZEN_PREFIX      "frozen-"
#define SK_FROZEN_ORIGIN      ".slotkeeper/frozen-origin"
#define SK_FROZEN_ORIGIN_HEAD "slotkeeper-frozen-origin 1"

typedef struct sk_frozen {
    char path[PATH_MAX];   /* DIR/.slotkeeper/frozen-<stamp>: the data_dir of its snapshot */
    char name[64];         /* frozen-<stamp> */
    int fd;                /* the frozen folder, with a shared flock; -1 when none */
    int metafd;            /* DIR/.slotkeeper */
    double seconds;        /* how long the clone took */
    uint64_t files, bytes; /* regular files cloned, and their apparent bytes */
} sk_frozen_t;

/* Freezes the included folders of data_dir (datafd: the data-dir, whose lock the caller holds,
 * with the node stopped and the data-dir checked clean). 0: frozen, fz filled (release it with
 * sk_frozen_discard); 1: this file system cannot clone, the reason in why (one line), nothing
 * left behind; < 0: an error (err names the path), nothing left behind as far as it could be
 * removed (a leftover is swept later). */
int sk_freeze(int datafd, const char *data_dir, const char *const *include, size_t ninclude, sk_frozen_t *fz, char *why,
              size_t whylen, sk_err_t *err);

/* Removes the frozen copy and releases its lock; fz->fd is -1 after. 0 or a negative errno
 * (a copy that could not be removed is swept later). Safe on a zeroed or discarded fz. */
int sk_frozen_discard(sk_frozen_t *fz, sk_err_t *err);

/* Removes every DIR/.slotkeeper/frozen-* folder no process holds (datafd: the data-dir).
 * *removed (may be NULL) counts them. 0, or the first negative errno (the others are still
 * tried). A data-dir without .slotkeeper is fine. */
int sk_freeze_sweep(int datafd, const char *data_dir, unsigned *removed, sk_err_t *err);

#endif

/*
 * sync: a follower's copy of an upstream repository (issue 15). Copies snapshots from one
 * repository (typically s3://..., shared by a cluster) into another (a host's local one), so that
 * worker restores never wait on the network.
 *
 * For each snapshot to copy: its manifest is loaded from upstream (and checked); every chunk it
 * names that the local repository lacks is read from upstream, decompressed and checked against
 * its hash, then written into the local repository's writer session; then, as a snapshot does,
 * the chunks are made durable and moved into place, and the manifest is published last. A chunk
 * that fails its hash is never stored locally: that snapshot is not published and the damage is
 * reported with the upstream path (-EBADMSG). A snapshot already present locally is skipped, so
 * an interrupted sync resumes where it stopped (the chunks it had copied are found present).
 * Upstream is only read: the caller holds its shared lock, which keeps an upstream prune (the
 * exclusive lock) from removing what is being copied. The local repository's retention is its
 * own (prune it as any other).
 */
#ifndef SLOTKEEPER_SYNC_H
#define SLOTKEEPER_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slotkeeper/error.h"
#include "slotkeeper/progress.h"
#include "slotkeeper/repo.h"

typedef struct sk_sync_opts {
    const char *snapshot; /* one id; NULL: the newest good one upstream (or, with all, every good one) */
    bool all;
    int threads; /* 0: one per CPU */
} sk_sync_opts_t;

typedef struct sk_sync_result {
    size_t copied;           /* snapshots published locally by this run */
    size_t present;          /* snapshots the local repository already had */
    uint64_t chunks, bytes;  /* chunks copied and their stored (compressed) bytes */
    uint64_t chunks_present; /* chunks the local repository already had */
    char newest[SK_ID_MAX];  /* the newest snapshot asked for (now local), "" when none */
    double seconds;
} sk_sync_result_t;

/* Copies from `from` (opened shared) into `to` (opened shared: a writer, as snapshot). 0, or a
 * negative errno with err set: -ENOENT when upstream has no good snapshot (or not the one
 * named), -EBADMSG when an upstream chunk or manifest is damaged (nothing of that snapshot is
 * published locally; with all, the others are still copied). */
int sk_sync(sk_repo_t *from, sk_repo_t *to, const sk_sync_opts_t *opts, sk_progress_t *progress, sk_sync_result_t *res,
            sk_err_t *err);

#endif

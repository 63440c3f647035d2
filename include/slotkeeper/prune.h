/*
 * prune: removes old snapshots and the chunks nothing references any more.
 *
 * Needs the repository's exclusive lock. Keeps the newest keep_last good
 * snapshots of each chain (source.chain-id; "newest" as sk_snap_order_cmp
 * says: the highest head block; snapshots that record no chain id count as
 * one more chain), at least one each, so the newest good snapshot of a chain
 * is never removed, and removes every other snapshot, bad ones included. Manifests go first (then
 * the directory is fsynced), then every chunk that no remaining manifest
 * references, including chunks an interrupted snapshot left behind. If any
 * remaining manifest cannot be read, no chunk is removed.
 */
#ifndef SLOTKEEPER_PRUNE_H
#define SLOTKEEPER_PRUNE_H

#include <stddef.h>
#include <stdint.h>

#include "slotkeeper/error.h"
#include "slotkeeper/repo.h"

typedef struct sk_prune_result {
    char **removed; /* ids of removed snapshots */
    size_t nremoved;
    size_t kept;
    uint64_t chunks_removed;
    uint64_t bytes_freed; /* allocated bytes of the removed chunks */
    int sessions_swept;
} sk_prune_result_t;

int sk_prune(sk_repo_t *repo, unsigned keep_last, sk_prune_result_t *result, sk_err_t *err);
void sk_prune_result_free(sk_prune_result_t *result);

#endif

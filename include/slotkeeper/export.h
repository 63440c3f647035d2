/*
 * export: writes a snapshot as a portable, standard archive: a pax tar stream
 * (libarchive) compressed with zstd (driven here directly: multithreaded, with
 * the content checksum), which any host restores with `tar --zstd -xf`. The
 * manifest goes first, as SK_EXPORT_MANIFEST_NAME (no folder entry for
 * .slotkeeper/ itself, so an extraction into a data-dir keeps that folder's mode). Sparse files are recorded
 * as sparse (GNU sparse 1.0 headers in pax), so holes stay holes when GNU tar
 * or bsdtar extracts them. Every chunk is checked against its hash on the way.
 * Memory does not grow with the snapshot: one chunk and zstd's buffers.
 */
#ifndef SLOTKEEPER_EXPORT_H
#define SLOTKEEPER_EXPORT_H

#include <stdint.h>

#include "slotkeeper/error.h"
#include "slotkeeper/progress.h"
#include "slotkeeper/repo.h"

/* The manifest's name inside an export: in slotkeeper's own folder of a data-dir, so that a
 * plain `tar -xf` into a data-dir puts it where nodeos and operators do not trip on it (a
 * snapshot never takes .slotkeeper/). Import reads the name of older exports too. */
#define SK_EXPORT_MANIFEST_NAME     ".slotkeeper/manifest"
#define SK_EXPORT_MANIFEST_OLD_NAME ".slotkeeper-manifest"

typedef struct sk_export_result {
    char id[SK_ID_MAX];
    uint64_t entries, data_bytes, out_bytes;
    double seconds;
} sk_export_result_t;

/* Exports snapshot `which` (an id or "latest") to out_fd. level: zstd level (0: the repository's);
 * threads: zstd workers (0: one per CPU). On failure the caller removes what was written. */
int sk_export(sk_repo_t *repo, const char *which, int out_fd, int level, int threads, sk_progress_t *progress,
              sk_export_result_t *res, sk_err_t *err);

#endif

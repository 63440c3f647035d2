/*
 * import: adds a snapshot to the repository from a tar archive (plain, .tar.gz
 * or .tar.zst; a file or a stream). An archive made by `export` carries its
 * manifest first: every file is checked against it (type, size, mode, link
 * target, and each chunk's hash at the manifest's chunk sizes), and nothing
 * else may be in the archive. An archive without a manifest (a plain blocks/
 * + state/ tarball from a public snapshot service, or one top folder holding
 * them, as `tar -C /srv/eos -czf x.tar.gz archive` makes) is imported when
 * `check` says the data-dir it holds is clean.
 *
 * The archive is unpacked by this module, not by libarchive's disk writer,
 * into a private session folder of the repository, and is hostile until
 * proven otherwise: only the tar formats and the none/gzip/zstd filters are
 * enabled; absolute paths, "..", empty components, names longer than PATH_MAX,
 * hard links, devices, fifos and sockets are refused; symbolic links must be
 * relative without ".." and are never followed (every folder is opened with
 * O_NOFOLLOW); a truncated or damaged stream is refused. On any refusal the
 * session folder is removed and the repository is as it was.
 */
#ifndef SLOTKEEPER_IMPORT_H
#define SLOTKEEPER_IMPORT_H

#include <stdbool.h>

#include "slotkeeper/error.h"
#include "slotkeeper/progress.h"
#include "slotkeeper/repo.h"
#include "slotkeeper/snapshot.h"

typedef struct sk_import_result {
    bool had_manifest;
    char source_id[SK_ID_MAX]; /* the id in the archive's manifest, if any */
    sk_snapshot_result_t snap; /* the snapshot it became */
} sk_import_result_t;

/* Imports the archive read from in_fd (name is for messages). */
int sk_import(sk_repo_t *repo, int in_fd, const char *name, int threads, sk_progress_t *progress,
              sk_import_result_t *res, sk_err_t *err);

#endif

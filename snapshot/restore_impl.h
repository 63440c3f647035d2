/*
 * restore_impl: what restore.c (the common steps, the full path) and restore_delta.c (the
 * delta path) share. Private to snapshot/.
 */
#ifndef SLOTKEEPER_RESTORE_IMPL_H
#define SLOTKEEPER_RESTORE_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "slotkeeper/restore.h"

struct rjob {
    size_t entry;
    size_t chunk;
};

struct rst {
    sk_repo_t *repo;
    const sk_restore_opts_t *opts;
    sk_manifest_t *m;
    sk_err_t *err;
    sk_progress_t *progress;
    int datafd, metafd, stagefd;
    struct rjob *jobs;
    size_t njobs;
    int *lockfds;
    char **lockrel; /* the data-dir-relative path of each lockfds[i] */
    size_t nlocks;
    char stamp[64];
    bool damaged;
    char damage[512];
    int threads;
    bool marker_written; /* the delta path wrote the marker */
};

/* DIR/rel into out. */
void rst_slot_path(const struct rst *r, const char *rel, char *out, size_t len);
/* Writes the restoring marker (fsynced); the error is set. */
int rst_write_marker(struct rst *r);
/* Creates (if need be) and opens DIR/.slotkeeper/quarantine/<stamp>, never through a link. */
int rst_open_quarantine(struct rst *r);
/* The lock descriptor that holds rel's fcntl lock (state/shared_memory.bin...), or -1. The
 * restore does its I/O on that file through it: closing any other descriptor of the file would
 * drop the process's lock. */
int rst_lockfd_of(const struct rst *r, const char *rel);
/* Reads a chunk from the repository, decompresses it into out and checks its hash; a missing
 * or damaged chunk marks the snapshot damaged (r->damaged) and returns -EBADMSG. */
int rst_fetch_chunk(struct rst *r, const sk_mentry_t *e, const sk_mchunk_t *c, void **cbuf, size_t *ccap,
                    sk_codec_t *codec, void *out, size_t len);

/* The delta restore (restore.h): from the slot's classification to the last fsync. Sets
 * *changed once the slot itself was changed (then a failure leaves the marker). */
int rst_delta(struct rst *r, sk_restore_result_t *res, bool *changed);

#endif

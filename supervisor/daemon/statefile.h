/*
 * statefile: the daemon's small state files (pid files, restore budgets), written
 * off the event loop. Each write is atomic (a temp file, fsync, rename, fsync of
 * the folder), and an fsync can take seconds on a disk busy with a snapshot, so
 * the writes run on libuv's thread pool: one at a time, in the order they were
 * asked, so that a later write or removal of a file always lands after an
 * earlier one. A write asked while an earlier one of the same file still waits
 * (not yet started) replaces it: only the newest content matters.
 *
 * Nothing waits for a write to land. A daemon killed before it does leaves the
 * file as it was, which the readers handle: a node without a pid file is adopted
 * by its environment, and a budget file missing its newest restore counts one
 * restore fewer.
 */
#ifndef SLOTKEEPER_STATEFILE_H
#define SLOTKEEPER_STATEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct sk_statefiles sk_statefiles_t;

/* A writer on loop; NULL if out of memory. */
sk_statefiles_t *sk_statefiles_new(uv_loop_t *loop);

/* Queues writing the len bytes of buf to path (mode 0644; its folder is made if
 * missing), or removing path when buf is NULL (a missing file is no error).
 * Failures are logged when the write ends, naming the path. Returns 0, or -ENOMEM
 * (then nothing was queued, and it was logged). */
int sk_statefile_put(sk_statefiles_t *sf, const char *path, const void *buf, size_t len);

/* True when no write is waiting or running. */
bool sk_statefiles_idle(const sk_statefiles_t *sf);

/* Frees sf, which must be idle: the loop runs queued writes to the end before
 * uv_run returns, since each is a pending request. */
void sk_statefiles_free(sk_statefiles_t *sf);

#endif

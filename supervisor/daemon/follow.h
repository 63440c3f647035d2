/*
 * follow: a follower host's daemon copying each new snapshot of [repository] upstream (an
 * s3:// bucket shared by the cluster, or a folder) into its local repository, every
 * [repository] sync_interval, with sk_sync on libuv's thread pool (never on the loop), so that
 * worker restores never wait on the network. One copy at a time; an interval that comes while
 * one runs is skipped. Errors are logged (and retried at the next interval); a damaged upstream
 * snapshot is never published locally.
 */
#ifndef SLOTKEEPER_FOLLOW_H
#define SLOTKEEPER_FOLLOW_H

#include <stdbool.h>
#include <uv.h>

#include "slotkeeper/config.h"

typedef struct sk_follow sk_follow_t;

/* Starts following when cfg has an upstream (NULL otherwise, or on ENOMEM); the first copy
 * starts at once. cfg must outlive it (the daemon's). */
sk_follow_t *sk_follow_start(uv_loop_t *loop, const sk_config_t *cfg);
/* No copy running. */
bool sk_follow_idle(const sk_follow_t *f);
/* No new copy starts (shutdown); a running one finishes. */
void sk_follow_stop(sk_follow_t *f);
/* After the loop's handles are closed and run: frees it. */
void sk_follow_free(sk_follow_t *f);

#endif

/*
 * pool: runs one function on N threads and, meanwhile, a tick on the calling
 * thread a few times a second (for progress lines). Workers take their jobs
 * themselves, usually by an atomic index into a job array. No event loop here:
 * the daemon will call these blocking operations from libuv's thread pool.
 */
#ifndef SLOTKEEPER_POOL_H
#define SLOTKEEPER_POOL_H

#include <stddef.h>

#include "slotkeeper/error.h"

typedef void (*sk_pool_fn)(void *arg, int worker);
typedef void (*sk_pool_tick_fn)(void *arg);

/* Runs fn(arg, 0..nthreads-1) in nthreads threads and waits for all of them, calling
 * tick(tick_arg) about every 200 ms while waiting (tick may be NULL). Returns 0 or
 * -errno if threads could not be started (then fn ran on the caller's thread). */
int sk_pool_run(int nthreads, sk_pool_fn fn, void *arg, sk_pool_tick_fn tick, void *tick_arg);

/* The worker loop of snapshot, verify and restore: items 0..n-1 shared out over the threads
 * by an atomic index. Each thread calls init once (its own state: buffers, a codec, an open
 * file), then item for each index it takes, then fini. Before each item it stops when err
 * holds an error (the first error stops the run) or when cancelled (then it records
 * -ECANCELED "interrupted" on path). An item that returns < 0 stops its thread; it records
 * its own error, or else the helper records the code on path. init, fini may be NULL. */
typedef struct sk_pool_each {
    size_t n;
    void *arg;
    int (*init)(void *arg, void **state);
    int (*item)(void *arg, void *state, size_t i);
    void (*fini)(void *arg, void *state);
    sk_err_t *err;
    const char *path;
} sk_pool_each_t;

/* Runs e on nthreads threads with tick as in sk_pool_run; returns e->err->code (0 or -errno). */
int sk_pool_each(int nthreads, const sk_pool_each_t *e, sk_pool_tick_fn tick, void *tick_arg);

/* Cancellation: a signal handler calls sk_cancel_request (async-signal-safe); workers
 * poll sk_cancelled between jobs and stop with -ECANCELED, so the operation cleans up. */
void sk_cancel_request(void);
int sk_cancelled(void);

/* The default number of worker threads: the online CPUs, at least 1, at most 64. */
int sk_pool_default_threads(void);

#endif

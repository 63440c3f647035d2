/*
 * pool: a run-to-completion thread group with a progress tick (see pool.h).
 */
#include "slotkeeper/pool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t cancel_flag;

void sk_cancel_request(void)
{
    cancel_flag = 1;
}

int sk_cancelled(void)
{
    return cancel_flag != 0;
}

struct pool_run {
    sk_pool_fn fn;
    void *arg;
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    int running;
};

struct pool_worker {
    struct pool_run *run;
    int index;
};

static void *worker_main(void *p)
{
    struct pool_worker *w = p;
    w->run->fn(w->run->arg, w->index);
    pthread_mutex_lock(&w->run->lock);
    w->run->running--;
    pthread_cond_signal(&w->run->done_cond);
    pthread_mutex_unlock(&w->run->lock);
    return NULL;
}

int sk_pool_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > 64)
        n = 64;
    return (int)n;
}

int sk_pool_run(int nthreads, sk_pool_fn fn, void *arg, sk_pool_tick_fn tick, void *tick_arg)
{
    if (nthreads < 1)
        nthreads = 1;
    struct pool_run run = {.fn = fn, .arg = arg, .running = 0};
    pthread_mutex_init(&run.lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&run.done_cond, &ca);
    pthread_condattr_destroy(&ca);

    pthread_t *tids = calloc((size_t)nthreads, sizeof(*tids));
    struct pool_worker *ws = calloc((size_t)nthreads, sizeof(*ws));
    int started = 0, rc = 0;
    if (!tids || !ws) {
        rc = -ENOMEM;
    } else {
        for (int i = 0; i < nthreads; i++) {
            ws[i].run = &run;
            ws[i].index = i;
            pthread_mutex_lock(&run.lock);
            run.running++;
            pthread_mutex_unlock(&run.lock);
            int e = pthread_create(&tids[i], NULL, worker_main, &ws[i]);
            if (e) {
                pthread_mutex_lock(&run.lock);
                run.running--;
                pthread_mutex_unlock(&run.lock);
                rc = -e;
                break;
            }
            started++;
        }
    }
    if (started == 0) {
        /* No thread at all: do the work here, so the caller still gets it done. */
        fn(arg, 0);
    } else {
        pthread_mutex_lock(&run.lock);
        while (run.running > 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += 200 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&run.done_cond, &run.lock, &ts);
            if (tick && run.running > 0) {
                pthread_mutex_unlock(&run.lock);
                tick(tick_arg);
                pthread_mutex_lock(&run.lock);
            }
        }
        pthread_mutex_unlock(&run.lock);
        for (int i = 0; i < started; i++)
            pthread_join(tids[i], NULL);
    }
    free(tids);
    free(ws);
    pthread_cond_destroy(&run.done_cond);
    pthread_mutex_destroy(&run.lock);
    return started > 0 ? 0 : rc;
}

/* ---- the worker loop ---- */

struct each_run {
    const sk_pool_each_t *e;
    _Atomic size_t next;
};

static void each_worker(void *arg, int worker)
{
    (void)worker;
    struct each_run *run = arg;
    const sk_pool_each_t *e = run->e;
    void *state = NULL;
    int rc = e->init ? e->init(e->arg, &state) : 0;
    if (rc < 0) {
        sk_err_set(e->err, rc, e->path, NULL);
        return;
    }
    for (;;) {
        size_t i = atomic_fetch_add(&run->next, 1);
        if (i >= e->n || e->err->code)
            break;
        if (sk_cancelled()) {
            sk_err_set(e->err, -ECANCELED, e->path, "interrupted");
            break;
        }
        rc = e->item(e->arg, state, i);
        if (rc < 0) {
            sk_err_set(e->err, rc, e->path, NULL); /* kept only when the item recorded none */
            break;
        }
    }
    if (e->fini)
        e->fini(e->arg, state);
}

int sk_pool_each(int nthreads, const sk_pool_each_t *e, sk_pool_tick_fn tick, void *tick_arg)
{
    struct each_run run = {.e = e};
    atomic_init(&run.next, 0);
    sk_pool_run(nthreads, each_worker, &run, tick, tick_arg);
    return e->err->code;
}

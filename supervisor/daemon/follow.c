/*
 * follow: the daemon's copy of [repository] upstream into its repository (see follow.h). A
 * uv timer every sync_interval queues one sk_sync on the thread pool; its result is logged on
 * the loop. A poll first lists both repositories' snapshots/ folders (one LIST upstream, no
 * lock): when neither listing changed since the last sync that worked, there is nothing new to
 * copy, and the poll ends there (a whole sync opens the upstream under a lock object and reads
 * the head of every manifest: some twenty requests).
 */
#include "follow.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slotkeeper/fsutil.h"
#include "slotkeeper/golden.h"
#include "slotkeeper/log.h"
#include "slotkeeper/prune.h"
#include "slotkeeper/repo.h"
#include "slotkeeper/sync.h"

struct sk_follow {
    uv_loop_t *loop;
    const sk_config_t *cfg;
    uv_timer_t timer;
    uv_work_t work;
    bool busy, stopped;
    /* the last copy's outcome, for the log (written by the worker, read after it) */
    int rc;
    sk_err_t err;
    sk_sync_result_t res;
    char last_err[600];
    char golden_note[700]; /* what the golden copy's update after the sync did, or "" */
    char prune_note[700];  /* what the local prune after the sync did, or "" */
    /* The snapshots/ listings upstream (before) and local (after) the last sync that worked, or
     * NULL; this poll's (NULL when they could not be listed); whether it found them as seen. A
     * snapshot published upstream after the listing this poll took changes the next one. */
    char *seen_up, *seen_local, *up, *local;
    bool unchanged;
};

static int add_name(void *arg, const char *name)
{
    FILE *f = arg;
    return fprintf(f, "%s\n", name) < 0 ? -ENOMEM : 0;
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends repository name's snapshots/ listing, sorted, to out. */
static int listing(const char *name, FILE *out)
{
    sk_storage_t *st = NULL;
    sk_err_t e;
    sk_err_clear(&e);
    int rc = sk_storage_open(name, false, &st, &e);
    if (rc < 0)
        return rc;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        sk_storage_close(st);
        return -ENOMEM;
    }
    rc = sk_storage_list(st, "snapshots", add_name, f);
    sk_storage_close(st);
    if (fclose(f) != 0 && rc == 0)
        rc = -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += buf[i] == '\n';
    char **v = rc == 0 ? calloc(n ? n : 1, sizeof(*v)) : NULL;
    if (rc == 0 && !v)
        rc = -ENOMEM;
    for (size_t i = 0, k = 0, at = 0; rc == 0 && i < len; i++)
        if (buf[i] == '\n') {
            buf[i] = '\0';
            v[k++] = buf + at;
            at = i + 1;
        }
    if (rc == 0) {
        qsort(v, n, sizeof(*v), cmp_line);
        for (size_t i = 0; i < n && rc == 0; i++)
            if (fprintf(out, "%s\n", v[i]) < 0)
                rc = -ENOMEM;
    }
    free(v);
    free(buf);
    return rc;
}

/* Repository name's snapshots/ listing, sorted, or NULL. */
static char *listing_of(const char *name)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    int rc = listing(name, f);
    if (fclose(f) != 0 || rc < 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static void set_str(char **p, char *v)
{
    free(*p);
    *p = v;
}

static void on_sync(uv_work_t *w)
{
    sk_follow_t *f = w->data;
    sk_err_clear(&f->err);
    memset(&f->res, 0, sizeof(f->res));
    sk_repo_t *from = NULL, *to = NULL;
    f->golden_note[0] = f->prune_note[0] = '\0';
    set_str(&f->up, listing_of(f->cfg->upstream));
    set_str(&f->local, listing_of(f->cfg->repo_path));
    f->unchanged = f->up && f->local && f->seen_up && f->seen_local && !strcmp(f->up, f->seen_up) &&
                   !strcmp(f->local, f->seen_local);
    if (f->unchanged) {
        f->rc = 0;
        return;
    }
    f->rc = sk_repo_open(f->cfg->upstream, SK_LOCK_SHARED, f->cfg->lock_wait_ms, "daemon sync", &from, &f->err);
    if (f->rc == 0)
        f->rc = sk_repo_open(f->cfg->repo_path, SK_LOCK_SHARED, f->cfg->lock_wait_ms, "daemon sync", &to, &f->err);
    if (f->rc == 0) {
        sk_sync_opts_t o = {.threads = (int)f->cfg->threads};
        f->rc = sk_sync(from, to, &o, NULL, &f->res, &f->err);
    }
    /* Then the golden copy, where the local repository keeps one, so that worker restores clone
     * the new snapshot; a failure is said, the copy is published anyway (the next update catches up). */
    f->golden_note[0] = '\0';
    if (f->rc == 0 && f->res.copied && to->golden) {
        sk_err_t ge;
        sk_err_clear(&ge);
        sk_golden_result_t gr;
        sk_golden_opts_t go = {.full_verify_every = f->cfg->golden_full_verify_every};
        char a[32], b[32];
        if (sk_golden_update_ex(to, &go, NULL, &gr, &ge) < 0)
            snprintf(f->golden_note, sizeof(f->golden_note), "golden copy not updated: %s: %s", ge.path, ge.msg);
        else if (!gr.unchanged)
            snprintf(f->golden_note, sizeof(f->golden_note),
                     "golden copy updated to %s (%s written, %s verified, %.2fs)", gr.id,
                     sk_fmt_bytes(gr.bytes_written, a, sizeof(a)), sk_fmt_bytes(gr.bytes_verified, b, sizeof(b)),
                     gr.seconds);
    }
    sk_repo_close(to);
    sk_repo_close(from);
    /* Then this host's own retention ([repository] keep_last), as the archive's cycle keeps it
     * after a snapshot: the prune waits for restores reading the repository (its exclusive
     * lock), up to lock_wait, else it is skipped until the next copy. The upstream's snapshots
     * are not this host's to remove, nor the other way round. */
    f->prune_note[0] = '\0';
    if (f->rc == 0 && f->res.copied) {
        sk_err_t pe;
        sk_err_clear(&pe);
        sk_prune_result_t pr;
        if (sk_repo_open(f->cfg->repo_path, SK_LOCK_EXCLUSIVE, f->cfg->lock_wait_ms, "daemon prune", &to, &pe) < 0) {
            snprintf(f->prune_note, sizeof(f->prune_note), "prune skipped: %s: %s", pe.path, pe.msg);
        } else {
            if (sk_prune(to, f->cfg->keep_last, &pr, &pe) < 0) {
                snprintf(f->prune_note, sizeof(f->prune_note), "prune failed: %s: %s", pe.path, pe.msg);
            } else {
                if (pr.nremoved)
                    snprintf(f->prune_note, sizeof(f->prune_note), "pruned %zu snapshot(s), keeping the last %u",
                             pr.nremoved, f->cfg->keep_last);
                sk_prune_result_free(&pr);
            }
            sk_repo_close(to);
        }
    }
    /* What the next poll compares with: the upstream as listed before this sync, the local
     * repository as it is now (copied into, pruned). */
    if (f->rc == 0) {
        set_str(&f->local, listing_of(f->cfg->repo_path));
        set_str(&f->seen_up, f->up && f->local ? strdup(f->up) : NULL);
        set_str(&f->seen_local, f->up && f->local ? strdup(f->local) : NULL);
    } else {
        set_str(&f->seen_up, NULL);
        set_str(&f->seen_local, NULL);
    }
}

static void on_synced(uv_work_t *w, int status)
{
    sk_follow_t *f = w->data;
    f->busy = false;
    if (status < 0)
        return; /* cancelled */
    if (f->rc < 0) {
        char line[sizeof(f->last_err)];
        snprintf(line, sizeof(line), "%s: %s", f->err.path, f->err.msg);
        /* Said once while it lasts (every interval would flood the log), and when it ends. */
        if (strcmp(line, f->last_err))
            log_warnx("sync from %s: %s", f->cfg->upstream, line);
        snprintf(f->last_err, sizeof(f->last_err), "%s", line);
        return;
    }
    if (f->unchanged) {
        log_debug("sync: nothing new upstream (its snapshots/ listing is as it was)");
        return;
    }
    if (f->last_err[0])
        log_info("sync from %s: works again", f->cfg->upstream);
    f->last_err[0] = '\0';
    char b[32];
    if (f->res.copied)
        log_info("sync: copied snapshot %s from %s: %" PRIu64 " chunks (%s), %" PRIu64 " already here, %.2fs",
                 f->res.newest, f->cfg->upstream, f->res.chunks, sk_fmt_bytes(f->res.bytes, b, sizeof(b)),
                 f->res.chunks_present, f->res.seconds);
    else
        log_debug("sync: %s already here", f->res.newest);
    if (f->golden_note[0])
        log_info("sync: %s", f->golden_note);
    if (f->prune_note[0] && strncmp(f->prune_note, "pruned", 6))
        log_warnx("sync: %s", f->prune_note);
    else if (f->prune_note[0])
        log_info("sync: %s", f->prune_note);
}

static void on_tick(uv_timer_t *t)
{
    sk_follow_t *f = t->data;
    if (f->busy || f->stopped)
        return;
    f->work.data = f;
    if (uv_queue_work(f->loop, &f->work, on_sync, on_synced) == 0)
        f->busy = true;
}

sk_follow_t *sk_follow_start(uv_loop_t *loop, const sk_config_t *cfg)
{
    if (!cfg->upstream || !cfg->upstream[0])
        return NULL;
    sk_follow_t *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->loop = loop;
    f->cfg = cfg;
    uv_timer_init(loop, &f->timer);
    f->timer.data = f;
    uv_timer_start(&f->timer, on_tick, 0, cfg->sync_interval_ms);
    log_info("following %s every %.0fs into %s", cfg->upstream, (double)cfg->sync_interval_ms / 1000.0, cfg->repo_path);
    return f;
}

bool sk_follow_idle(const sk_follow_t *f)
{
    return !f || !f->busy;
}

void sk_follow_stop(sk_follow_t *f)
{
    if (!f)
        return;
    f->stopped = true;
    uv_timer_stop(&f->timer);
}

void sk_follow_free(sk_follow_t *f)
{
    if (f) {
        free(f->seen_up);
        free(f->seen_local);
        free(f->up);
        free(f->local);
    }
    free(f);
}

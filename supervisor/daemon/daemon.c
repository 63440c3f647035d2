/*
 * daemon: the loop that holds every slot, the control socket, the archival
 * cycle, the restore queue and the signals (see daemon.h). Control requests
 * that take time (snapshot, restore, stop, start) are answered when the slot
 * they concern reaches the outcome: each waits as a waiter, checked after
 * every transition of its slot.
 */
#include "daemon/daemon.h"
#include "daemon/follow.h"

#include "slotkeeper/exitcode.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "slotkeeper/chainid.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/log.h"
#include "slotkeeper/manifest.h"
#include "slotkeeper/pool.h"
#include "slotkeeper/repo.h"

enum waiter_kind { W_CYCLE, W_RESTORE, W_STOP, W_START };

struct sk_waiter {
    sk_waiter_t *next;
    sk_ctl_req_t *req;
    sk_slot_t *slot;
    enum waiter_kind kind;
    unsigned seq;
};

/* ---- status ---- */

static json_t *slot_json(const sk_slot_t *s)
{
    double now = sk_now();
    json_t *o = json_object();
    if (sk_slot_view(s)->archive)
        json_object_set_new(o, "slot", json_string("archive"));
    else
        json_object_set_new(o, "slot", json_integer(sk_slot_view(s)->num));
    json_object_set_new(o, "state", json_string(sk_slot_state_name(sk_slot_view(s)->state)));
    json_object_set_new(o, "detail", json_string(sk_slot_view(s)->detail));
    json_object_set_new(o, "since_s", json_integer((json_int_t)(now - sk_slot_view(s)->state_since)));
    json_object_set_new(o, "data_dir", json_string(sk_slot_view(s)->data_dir));
    if (sk_slot_view(s)->pid > 0) {
        json_object_set_new(o, "pid", json_integer(sk_slot_view(s)->pid));
        json_object_set_new(o, "uptime_s", json_integer((json_int_t)(now - sk_slot_view(s)->started_at)));
        json_object_set_new(o, "adopted", json_boolean(sk_slot_view(s)->adopted));
    } else {
        json_object_set_new(o, "pid", json_null());
    }
    json_object_set_new(o, "head",
                        sk_slot_view(s)->head_known ? json_integer((json_int_t)sk_slot_view(s)->head) : json_null());
    json_object_set_new(o, "restarts", json_integer(sk_slot_view(s)->restarts));
    json_object_set_new(o, "restores", json_integer(sk_slot_view(s)->restores));
    json_object_set_new(o, "last_failure", json_string(sk_slot_view(s)->last_failure));
    json_object_set_new(o, "external", json_boolean(sk_slot_view(s)->external));
    json_t *by = json_object();
    for (int i = SK_REASON_DIRTY; i < SK_REASON_COUNT; i++)
        if (sk_slot_view(s)->restores_by[i])
            json_object_set_new(by, sk_restore_reason_names[i], json_integer(sk_slot_view(s)->restores_by[i]));
    json_object_set_new(o, "restores_by_reason", by);
    if (sk_slot_view(s)->restore_path[0])
        json_object_set_new(o, "last_restore",
                            json_pack("{s:s,s:s,s:I,s:I,s:I}", "snapshot", sk_slot_view(s)->restore_id, "path",
                                      sk_slot_view(s)->restore_path, "bytes_written",
                                      (json_int_t)sk_slot_view(s)->restore_written, "bytes_cloned",
                                      (json_int_t)sk_slot_view(s)->restore_cloned, "bytes_unchanged",
                                      (json_int_t)sk_slot_view(s)->restore_unchanged));
    return o;
}

static json_t *status_json(sk_daemon_t *d)
{
    json_t *o = json_object();
    json_t *dm = json_object();
    json_object_set_new(dm, "pid", json_integer(getpid()));
    json_object_set_new(dm, "uptime_s", json_integer((json_int_t)(sk_now() - d->started_at)));
    json_object_set_new(dm, "config", json_string(d->cfg.path));
    json_object_set_new(dm, "repository", json_string(d->cfg.repo_path));
    json_object_set_new(dm, "restores_running", json_integer(d->restoreq.running));
    json_object_set_new(dm, "restores_queued", json_integer(d->restoreq.n));
    json_object_set_new(o, "daemon", dm);
    sk_slot_t *a = d->slots[0];
    if (a) {
        json_t *aj = slot_json(a);
        json_t *cy = json_array();
        unsigned n = sk_slot_view(a)->ncycles < SK_CYCLES_KEPT ? sk_slot_view(a)->ncycles : SK_CYCLES_KEPT;
        for (unsigned i = 0; i < n; i++)
            json_array_append_new(
                cy, sk_cycle_json(&sk_slot_view(a)->cycles[(sk_slot_view(a)->ncycles - n + i) % SK_CYCLES_KEPT]));
        json_object_set_new(aj, "cycles", cy);
        uint64_t due = uv_timer_get_due_in(&d->cycle_timer);
        json_object_set_new(aj, "next_cycle_in_s",
                            uv_is_active((uv_handle_t *)&d->cycle_timer) ? json_integer((json_int_t)(due / 1000))
                                                                         : json_null());
        json_object_set_new(o, "archive", aj);
    } else {
        json_object_set_new(o, "archive", json_null());
    }
    json_t *arr = json_array();
    for (unsigned i = 1; i <= d->nslots; i++)
        if (d->slots[i])
            json_array_append_new(arr, slot_json(d->slots[i]));
    json_object_set_new(o, "slots", arr);
    return o;
}

/* ---- the repository's figures, for metrics ---- */

struct measure {
    uv_work_t w;
    sk_daemon_t *d;
    char path[PATH_MAX];
    uint64_t snapshots, bad, bytes;
    int rc;
};

static void du_dir(int dfd, uint64_t *bytes)
{
    DIR *dir = fdopendir(dfd);
    if (!dir) {
        close(dfd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        struct stat st;
        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        *bytes += (uint64_t)st.st_blocks * 512;
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(dir), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
            if (sub >= 0)
                du_dir(sub, bytes);
        }
    }
    closedir(dir);
}

static void on_measure(uv_work_t *w)
{
    struct measure *m = w->data;
    char p[PATH_MAX];
    sk_path_join(p, sizeof(p), m->path, "snapshots");
    DIR *dir = opendir(p);
    if (!dir) {
        m->rc = -errno;
        return;
    }
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        size_t n = strlen(de->d_name);
        if (de->d_name[0] == '.')
            continue;
        if (n > 4 && !strcmp(de->d_name + n - 4, ".bad"))
            m->bad++;
        else
            m->snapshots++;
    }
    closedir(dir);
    int fd = open(m->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0)
        du_dir(fd, &m->bytes);
}

static void on_measured(uv_work_t *w, int status)
{
    struct measure *m = w->data;
    sk_daemon_t *d = m->d;
    d->repo_measuring = false;
    if (status == 0 && m->rc == 0) {
        d->repo_snapshots = m->snapshots;
        d->repo_bad = m->bad;
        d->repo_bytes = m->bytes;
        d->repo_measured = true;
    }
    free(m);
}

static void measure_repo(sk_daemon_t *d)
{
    if (d->repo_measuring || d->shutting_down || !d->metrics)
        return;
    struct measure *m = calloc(1, sizeof(*m));
    if (!m)
        return;
    m->d = d;
    m->w.data = m;
    snprintf(m->path, sizeof(m->path), "%s", d->cfg.repo_path);
    if (uv_queue_work(d->loop, &m->w, on_measure, on_measured) == 0)
        d->repo_measuring = true;
    else
        free(m);
}

/* ---- Prometheus metrics ---- */

static void slot_label(const sk_slot_t *s, char *buf, size_t len)
{
    if (sk_slot_view(s)->archive)
        snprintf(buf, len, "archive");
    else
        snprintf(buf, len, "%u", sk_slot_view(s)->num);
}

static void render_metrics(sk_mbuf_t *b, void *arg)
{
    sk_daemon_t *d = arg;
    char l[16];
    sk_mbuf_printf(b, "# HELP slotkeeper_slot_state 1 for the state each slot is in.\n"
                      "# TYPE slotkeeper_slot_state gauge\n");
    for (unsigned i = 0; i <= d->nslots; i++) {
        sk_slot_t *s = d->slots[i];
        if (!s)
            continue;
        slot_label(s, l, sizeof(l));
        for (int st = 0; st < SK_SLOT_NSTATES; st++)
            sk_mbuf_printf(b, "slotkeeper_slot_state{slot=\"%s\",state=\"%s\"} %d\n", l, sk_slot_state_name(st),
                           sk_slot_view(s)->state == (sk_slot_state_t)st);
    }
    sk_mbuf_printf(b, "# HELP slotkeeper_slot_up 1 while the slot's node process runs.\n"
                      "# TYPE slotkeeper_slot_up gauge\n");
    for (unsigned i = 0; i <= d->nslots; i++)
        if (d->slots[i]) {
            slot_label(d->slots[i], l, sizeof(l));
            sk_mbuf_printf(b, "slotkeeper_slot_up{slot=\"%s\"} %d\n", l, sk_slot_view(d->slots[i])->pid > 0);
        }
    sk_mbuf_printf(b, "# HELP slotkeeper_slot_head_block The head block number get_info last reported.\n"
                      "# TYPE slotkeeper_slot_head_block gauge\n");
    for (unsigned i = 0; i <= d->nslots; i++)
        if (d->slots[i] && sk_slot_view(d->slots[i])->head_known) {
            slot_label(d->slots[i], l, sizeof(l));
            sk_mbuf_printf(b, "slotkeeper_slot_head_block{slot=\"%s\"} %" PRIu64 "\n", l,
                           sk_slot_view(d->slots[i])->head);
        }
    sk_mbuf_printf(b, "# HELP slotkeeper_slot_restarts_total Restarts of the slot's node (crashes, stalls).\n"
                      "# TYPE slotkeeper_slot_restarts_total counter\n");
    for (unsigned i = 0; i <= d->nslots; i++)
        if (d->slots[i]) {
            slot_label(d->slots[i], l, sizeof(l));
            sk_mbuf_printf(b, "slotkeeper_slot_restarts_total{slot=\"%s\"} %u\n", l,
                           sk_slot_view(d->slots[i])->restarts);
        }
    sk_mbuf_printf(b, "# HELP slotkeeper_slot_restores_total Completed restores of the slot, by why they ran.\n"
                      "# TYPE slotkeeper_slot_restores_total counter\n");
    for (unsigned i = 0; i <= d->nslots; i++)
        if (d->slots[i]) {
            slot_label(d->slots[i], l, sizeof(l));
            for (int r = SK_REASON_DIRTY; r < SK_REASON_COUNT; r++)
                sk_mbuf_printf(b, "slotkeeper_slot_restores_total{slot=\"%s\",reason=\"%s\"} %u\n", l,
                               sk_restore_reason_names[r], sk_slot_view(d->slots[i])->restores_by[r]);
        }
    sk_mbuf_printf(b, "# HELP slotkeeper_slot_restore_bytes_total Data bytes of the slot's restores: written, "
                      "cloned, or left alone because they were already right.\n"
                      "# TYPE slotkeeper_slot_restore_bytes_total counter\n");
    for (unsigned i = 0; i <= d->nslots; i++)
        if (d->slots[i]) {
            const sk_slot_view_t *v = sk_slot_view(d->slots[i]);
            slot_label(d->slots[i], l, sizeof(l));
            sk_mbuf_printf(b,
                           "slotkeeper_slot_restore_bytes_total{slot=\"%s\",how=\"written\"} %" PRIu64 "\n"
                           "slotkeeper_slot_restore_bytes_total{slot=\"%s\",how=\"cloned\"} %" PRIu64 "\n"
                           "slotkeeper_slot_restore_bytes_total{slot=\"%s\",how=\"unchanged\"} %" PRIu64 "\n",
                           l, v->restored_written, l, v->restored_cloned, l, v->restored_unchanged);
        }
    sk_mbuf_printf(b, "# HELP slotkeeper_slot_last_restore_path 1 for the path the slot's last restore took (delta, "
                      "full, clone).\n"
                      "# TYPE slotkeeper_slot_last_restore_path gauge\n");
    for (unsigned i = 0; i <= d->nslots; i++)
        if (d->slots[i] && sk_slot_view(d->slots[i])->restore_path[0]) {
            slot_label(d->slots[i], l, sizeof(l));
            sk_mbuf_printf(b, "slotkeeper_slot_last_restore_path{slot=\"%s\",path=\"%s\"} 1\n", l,
                           sk_slot_view(d->slots[i])->restore_path);
        }
    sk_mbuf_printf(b,
                   "# HELP slotkeeper_restores_running Restores running on this host.\n"
                   "# TYPE slotkeeper_restores_running gauge\n"
                   "slotkeeper_restores_running %u\n"
                   "# HELP slotkeeper_restores_queued Slots waiting for a restore.\n"
                   "# TYPE slotkeeper_restores_queued gauge\n"
                   "slotkeeper_restores_queued %u\n",
                   d->restoreq.running, d->restoreq.n);
    sk_slot_t *a = d->slots[0];
    if (a) {
        const sk_cycle_t *c = sk_slot_last_cycle(a);
        sk_mbuf_printf(b,
                       "# HELP slotkeeper_archive_cycles_total Snapshot cycles of the archival node, by result.\n"
                       "# TYPE slotkeeper_archive_cycles_total counter\n"
                       "slotkeeper_archive_cycles_total{result=\"published\"} %u\n"
                       "slotkeeper_archive_cycles_total{result=\"failed\"} %u\n",
                       sk_slot_view(a)->cycles_published, sk_slot_view(a)->cycles_failed);
        if (c)
            sk_mbuf_printf(b,
                           "# HELP slotkeeper_archive_last_cycle_duration_seconds Duration of the last cycle.\n"
                           "# TYPE slotkeeper_archive_last_cycle_duration_seconds gauge\n"
                           "slotkeeper_archive_last_cycle_duration_seconds %.3f\n"
                           "# HELP slotkeeper_archive_last_cycle_downtime_seconds How long the last cycle kept the "
                           "archival node down.\n"
                           "# TYPE slotkeeper_archive_last_cycle_downtime_seconds gauge\n"
                           "slotkeeper_archive_last_cycle_downtime_seconds %.3f\n"
                           "# HELP slotkeeper_archive_last_cycle_frozen 1 when the last cycle snapshotted a frozen "
                           "copy while the node ran again, 0 when the node stayed stopped for the whole snapshot.\n"
                           "# TYPE slotkeeper_archive_last_cycle_frozen gauge\n"
                           "slotkeeper_archive_last_cycle_frozen %d\n"
                           "# HELP slotkeeper_archive_last_cycle_stopped_seconds How long the last cycle held the "
                           "archival data-dir unchanged (the clone with a freeze, the snapshot without).\n"
                           "# TYPE slotkeeper_archive_last_cycle_stopped_seconds gauge\n"
                           "slotkeeper_archive_last_cycle_stopped_seconds %.3f\n"
                           "# HELP slotkeeper_archive_last_cycle_read_bytes Data bytes the last cycle read.\n"
                           "# TYPE slotkeeper_archive_last_cycle_read_bytes gauge\n"
                           "slotkeeper_archive_last_cycle_read_bytes %" PRIu64 "\n"
                           "# HELP slotkeeper_archive_last_cycle_stored_bytes New bytes the last cycle stored.\n"
                           "# TYPE slotkeeper_archive_last_cycle_stored_bytes gauge\n"
                           "slotkeeper_archive_last_cycle_stored_bytes %" PRIu64 "\n",
                           (double)c->duration_ms / 1000.0, (double)c->downtime_ms / 1000.0, !strcmp(c->path, "frozen"),
                           (double)c->stopped_ms / 1000.0, c->bytes_read, c->new_bytes);
        if (sk_slot_view(a)->last_success)
            sk_mbuf_printf(b,
                           "# HELP slotkeeper_archive_last_success_timestamp_seconds When the last snapshot was "
                           "published.\n"
                           "# TYPE slotkeeper_archive_last_success_timestamp_seconds gauge\n"
                           "slotkeeper_archive_last_success_timestamp_seconds %" PRId64 "\n",
                           sk_slot_view(a)->last_success);
    }
    if (d->repo_measured)
        sk_mbuf_printf(b,
                       "# HELP slotkeeper_repository_snapshots Snapshots in the repository, by condition.\n"
                       "# TYPE slotkeeper_repository_snapshots gauge\n"
                       "slotkeeper_repository_snapshots{condition=\"good\"} %" PRIu64 "\n"
                       "slotkeeper_repository_snapshots{condition=\"bad\"} %" PRIu64 "\n"
                       "# HELP slotkeeper_repository_size_bytes Disk space the repository uses.\n"
                       "# TYPE slotkeeper_repository_size_bytes gauge\n"
                       "slotkeeper_repository_size_bytes %" PRIu64 "\n",
                       d->repo_snapshots - (d->repo_bad <= d->repo_snapshots ? d->repo_bad : 0), d->repo_bad,
                       d->repo_bytes);
    sk_mbuf_printf(b,
                   "# HELP slotkeeper_daemon_start_time_seconds When the daemon started.\n"
                   "# TYPE slotkeeper_daemon_start_time_seconds gauge\n"
                   "slotkeeper_daemon_start_time_seconds %" PRId64 "\n",
                   d->start_unix);
}

/* ---- waiters ---- */

/* Answers w if its slot reached the outcome; returns true if it did. */
static bool settle(sk_daemon_t *d, sk_waiter_t *w)
{
    sk_slot_t *s = w->slot;
    sk_slot_state_t st = sk_slot_view(s)->state;
    bool moving = st == SK_SLOT_CHECKING || st == SK_SLOT_QUEUED || st == SK_SLOT_RESTORING || st == SK_SLOT_STOPPING ||
                  st == SK_SLOT_SNAPSHOTTING;
    switch (w->kind) {
    case W_CYCLE: {
        if (sk_slot_view(s)->cycle_seq == w->seq)
            return false;
        const sk_cycle_t *c = sk_slot_last_cycle(s);
        if (c && c->id[0] && !c->failure[0]) {
            json_t *a = json_object();
            json_object_set_new(a, "snapshot", json_string(c->id));
            json_object_set_new(a, "cycle", sk_cycle_json(c));
            sk_ctl_reply(w->req, a);
        } else {
            sk_ctl_reply_error(w->req, SK_EXIT_FAIL, "%s: snapshot cycle failed: %s", d->cfg.archive_data_dir,
                               c ? c->failure : "unknown");
        }
        return true;
    }
    case W_RESTORE:
        if (sk_slot_view(s)->restore_seq == w->seq)
            return false;
        if (!sk_slot_view(s)->restore_ok) {
            sk_ctl_reply_error(w->req, sk_exit_code(sk_slot_view(s)->restore_rc), "%s", sk_slot_view(s)->restore_err);
            return true;
        }
        if (moving)
            return false;
        {
            json_t *a = json_object();
            json_object_set_new(a, "snapshot", json_string(sk_slot_view(s)->restore_id));
            json_object_set_new(a, "slot", slot_json(s));
            sk_ctl_reply(w->req, a);
        }
        return true;
    case W_STOP:
        if (moving || sk_slot_view(s)->pid > 0)
            return false;
        sk_ctl_reply(w->req, json_pack("{s:o}", "slot", slot_json(s)));
        return true;
    case W_START:
        if (moving)
            return false;
        if (st == SK_SLOT_STARTING || st == SK_SLOT_RUNNING)
            sk_ctl_reply(w->req, json_pack("{s:o}", "slot", slot_json(s)));
        else
            sk_ctl_reply_error(
                w->req, SK_EXIT_FAIL, "%s: did not start: %s (%s)", sk_slot_view(s)->name, sk_slot_state_name(st),
                sk_slot_view(s)->last_failure[0] ? sk_slot_view(s)->last_failure : sk_slot_view(s)->detail);
        return true;
    }
    return false;
}

static void settle_all(sk_daemon_t *d, sk_slot_t *s)
{
    for (sk_waiter_t **pp = &d->waiters; *pp;) {
        sk_waiter_t *w = *pp;
        if ((!s || w->slot == s) && settle(d, w)) {
            *pp = w->next;
            free(w);
        } else {
            pp = &w->next;
        }
    }
}

static void drop_waiters(sk_daemon_t *d, sk_slot_t *s, const char *why)
{
    for (sk_waiter_t **pp = &d->waiters; *pp;) {
        sk_waiter_t *w = *pp;
        if (!s || w->slot == s) {
            sk_ctl_reply_error(w->req, SK_EXIT_FAIL, "%s: %s", sk_slot_view(w->slot)->name, why);
            *pp = w->next;
            free(w);
        } else {
            pp = &w->next;
        }
    }
}

static void add_waiter(sk_daemon_t *d, sk_ctl_req_t *req, sk_slot_t *s, enum waiter_kind kind, unsigned seq)
{
    sk_waiter_t *w = calloc(1, sizeof(*w));
    if (!w) {
        sk_ctl_reply_error(req, SK_EXIT_FAIL, "out of memory");
        return;
    }
    *w = (sk_waiter_t){.next = d->waiters, .req = req, .slot = s, .kind = kind, .seq = seq};
    d->waiters = w;
    if (settle(d, w)) {
        d->waiters = w->next;
        free(w);
    }
}

/* ---- callbacks from slots ---- */

static void pump_queue(sk_daemon_t *d)
{
    sk_slot_t *s;
    while (!d->shutting_down && (s = sk_restoreq_next(&d->restoreq, d->cfg.restores_at_once)))
        sk_slot_event(s, SK_EV_RESTORE_GO);
}

static void host_changed(void *arg, sk_slot_t *s)
{
    settle_all(arg, s);
}

static void host_want_restore(void *arg, sk_slot_t *s)
{
    sk_daemon_t *d = arg;
    if (sk_restoreq_push(&d->restoreq, s) < 0) {
        log_warnx("%s: out of memory queueing a restore", sk_slot_view(s)->name);
        return;
    }
    pump_queue(d);
}

static void host_dequeue(void *arg, sk_slot_t *s)
{
    sk_daemon_t *d = arg;
    sk_restoreq_remove(&d->restoreq, s);
}

static void host_restore_done(void *arg, sk_slot_t *s)
{
    sk_daemon_t *d = arg;
    sk_restoreq_done(&d->restoreq);
    pump_queue(d);
}

static bool host_shutting_down(void *arg)
{
    sk_daemon_t *d = arg;
    return d->shutting_down;
}

static void host_put_file(void *arg, const char *path, const void *buf, size_t len)
{
    sk_daemon_t *d = arg;
    sk_statefile_put(d->statefiles, path, buf, len);
}

static void on_cycle_timer(uv_timer_t *t);

static void host_cycle_done(void *arg, sk_slot_t *s)
{
    sk_daemon_t *d = arg;
    measure_repo(d);
    if (!d->shutting_down && d->slots[0])
        uv_timer_start(&d->cycle_timer, on_cycle_timer, d->cfg.snapshot_interval_ms, 0);
}

static void on_cycle_timer(uv_timer_t *t)
{
    sk_daemon_t *d = t->data;
    if (d->slots[0] && !d->shutting_down) {
        log_info("archive: snapshot cycle due");
        sk_slot_event(d->slots[0], SK_EV_CYCLE);
        /* A cycle that could not even begin is recorded at once and re-arms the timer. */
    }
}

/* ---- control requests ---- */

static sk_slot_t *find_slot(sk_daemon_t *d, json_t *req, sk_ctl_req_t *r)
{
    json_t *v = json_object_get(req, "slot");
    if (json_is_string(v) && !strcmp(json_string_value(v), "archive")) {
        if (d->slots[0])
            return d->slots[0];
        sk_ctl_reply_error(r, SK_EXIT_USAGE, "no archival node is configured");
        return NULL;
    }
    if (!json_is_integer(v)) {
        sk_ctl_reply_error(r, SK_EXIT_USAGE, "request needs \"slot\": a slot number or \"archive\"");
        return NULL;
    }
    json_int_t n = json_integer_value(v);
    if (n < 1 || (unsigned long long)n > d->nslots || !d->slots[n]) {
        sk_ctl_reply_error(r, SK_EXIT_USAGE, "no slot %lld: %s has %u slot(s)", (long long)n, d->cfg.path, d->nslots);
        return NULL;
    }
    return d->slots[n];
}

static void on_request(sk_ctl_req_t *r, const char *cmd, json_t *req, void *arg)
{
    sk_daemon_t *d = arg;
    pid_t pid;
    uid_t uid;
    sk_ctl_req_peer(r, &pid, &uid);
    log_debug("control: %s from pid %ld uid %ld", cmd, (long)pid, (long)uid);
    if (d->shutting_down && strcmp(cmd, "status") && strcmp(cmd, "ping")) {
        sk_ctl_reply_error(r, SK_EXIT_FAIL, "the daemon is shutting down");
        return;
    }
    if (!strcmp(cmd, "ping")) {
        sk_ctl_reply(r, json_pack("{s:i}", "pid", (int)getpid()));
    } else if (!strcmp(cmd, "status")) {
        sk_ctl_reply(r, status_json(d));
    } else if (!strcmp(cmd, "snapshot")) {
        sk_slot_t *a = d->slots[0];
        if (!a) {
            sk_ctl_reply_error(r, SK_EXIT_USAGE, "%s: no archival node is configured ([archive] data_dir)",
                               d->cfg.path);
            return;
        }
        unsigned seq = sk_slot_view(a)->cycle_seq;
        if (!sk_slot_in_cycle(a))
            sk_slot_event(a, SK_EV_CYCLE);
        add_waiter(d, r, a, W_CYCLE, seq);
    } else if (!strcmp(cmd, "restore")) {
        sk_slot_t *s = find_slot(d, req, r);
        if (!s)
            return;
        json_t *id = json_object_get(req, "snapshot");
        if (id && !json_is_string(id)) {
            sk_ctl_reply_error(r, SK_EXIT_USAGE, "\"snapshot\" must be a string");
            return;
        }
        const char *ids = id ? json_string_value(id) : "";
        unsigned seq = sk_slot_view(s)->restore_seq;
        if (sk_slot_request_restore(s, ids) < 0) {
            sk_ctl_reply_error(r, SK_EXIT_USAGE, "\"snapshot\": not a snapshot id");
            return;
        }
        add_waiter(d, r, s, W_RESTORE, seq);
    } else if (!strcmp(cmd, "stop")) {
        sk_slot_t *s = find_slot(d, req, r);
        if (!s)
            return;
        sk_slot_event(s, SK_EV_STOP);
        add_waiter(d, r, s, W_STOP, sk_slot_view(s)->stop_seq);
    } else if (!strcmp(cmd, "start")) {
        sk_slot_t *s = find_slot(d, req, r);
        if (!s)
            return;
        if (sk_slot_view(s)->state == SK_SLOT_STARTING || sk_slot_view(s)->state == SK_SLOT_RUNNING) {
            sk_ctl_reply(r, json_pack("{s:o}", "slot", slot_json(s)));
            return;
        }
        sk_slot_event(s, SK_EV_START);
        add_waiter(d, r, s, W_START, sk_slot_view(s)->start_seq);
    } else if (!strcmp(cmd, "reset")) {
        sk_slot_t *s = find_slot(d, req, r);
        if (!s)
            return;
        sk_slot_reset(s);
        if (sk_slot_view(s)->state == SK_SLOT_FAILED || sk_slot_view(s)->state == SK_SLOT_BACKOFF ||
            sk_slot_view(s)->state == SK_SLOT_STOPPED)
            sk_slot_event(s, SK_EV_START);
        sk_ctl_reply(r, json_pack("{s:o}", "slot", slot_json(s)));
    } else {
        sk_ctl_reply_error(r, SK_EXIT_USAGE,
                           "unknown command '%s' (ping, status, snapshot, restore, stop, start, reset)", cmd);
    }
}

/* ---- slots, reload, shutdown ---- */

static void retire(sk_daemon_t *d, sk_slot_t *s)
{
    sk_slot_t **r = realloc(d->retired, (d->nretired + 1) * sizeof(*r));
    if (!r)
        return;
    d->retired = r;
    d->retired[d->nretired++] = s;
    sk_restoreq_remove(&d->restoreq, s);
    drop_waiters(d, s, "removed from the configuration");
    sk_slot_event(s, SK_EV_STOP);
}

static bool slot_num_busy(sk_daemon_t *d, unsigned num)
{
    for (unsigned i = 0; i < d->nretired; i++)
        if (sk_slot_view(d->retired[i])->num == num)
            return true;
    return false;
}

/* Frees retired slots once idle, starts their successors, and ends the loop at shutdown. */
static void on_reap(uv_timer_t *t)
{
    sk_daemon_t *d = t->data;
    for (unsigned i = 0; i < d->nretired;) {
        sk_slot_t *s = d->retired[i];
        if (sk_slot_idle(s)) {
            unsigned num = sk_slot_view(s)->num;
            sk_slot_free(s);
            d->retired[i] = d->retired[--d->nretired];
            if (!slot_num_busy(d, num) && num <= d->nslots && d->slots[num] &&
                sk_slot_view(d->slots[num])->state == SK_SLOT_STOPPED && !d->shutting_down)
                sk_slot_event(d->slots[num], SK_EV_START);
        } else {
            i++;
        }
    }
    if (!d->shutting_down)
        return;
    for (unsigned i = 0; i <= d->nslots; i++)
        if (d->slots[i] && !sk_slot_idle(d->slots[i]))
            return;
    if (d->nretired || !sk_follow_idle(d->follow))
        return;
    /* Everything is stopped: close the loop's handles. */
    uv_timer_stop(&d->reap_timer);
    uv_stop(d->loop);
}

static void create_slots(sk_daemon_t *d, bool adopt)
{
    for (unsigned i = 0; i <= d->nslots; i++) {
        if (i == 0 && !d->cfg.archive_data_dir[0])
            continue;
        if (d->slots[i])
            continue;
        d->slots[i] = sk_slot_new(&d->host, i);
        if (!d->slots[i])
            continue;
        if (adopt && sk_slot_adopt(d->slots[i]))
            continue;
        if (!slot_num_busy(d, i))
            sk_slot_event(d->slots[i], SK_EV_START);
    }
}

static void schedule_first_cycle(sk_daemon_t *d)
{
    if (!d->slots[0])
        return;
    /* Due at the newest good snapshot's time plus the interval; at once past it (after the
     * node's startup grace, so it is not stopped before it ever ran). */
    uint64_t delay = d->cfg.startup_grace_ms;
    sk_repo_t *repo;
    sk_err_t err;
    sk_err_clear(&err);
    /* No waiting for the lock here (this runs on the loop, also on SIGHUP): if a prune holds
     * it, the cycle is simply due after the startup grace. */
    if (sk_repo_open(d->cfg.repo_path, SK_LOCK_SHARED, 0, "daemon", &repo, &err) == 0) {
        sk_manifest_t *m = NULL;
        /* The newest good snapshot (the highest head block, not the latest clock) of the
         * archive's chain when its data-dir names one. */
        char chain[SK_CHAIN_ID_HEX];
        sk_err_t cerr;
        sk_err_clear(&cerr);
        sk_fact_t where = {.key = "source.chain-id", .value = chain};
        bool known = sk_chainid_of_datadir(d->cfg.archive_data_dir, chain, NULL, &cerr) == 0;
        if (sk_repo_latest_good_where(repo, &where, known ? 1 : 0, NULL, &m, &err) == 0 && m) {
            /* A restarted daemon knows when the last snapshot was made (for its metrics and
             * alerts on them) before its first cycle. */
            sk_slot_saw_success(d->slots[0], m->time);
            int64_t age_ms = ((int64_t)time(NULL) - m->time) * 1000;
            if (age_ms >= 0 && (uint64_t)age_ms < d->cfg.snapshot_interval_ms)
                delay = d->cfg.snapshot_interval_ms - (uint64_t)age_ms;
            sk_manifest_free(m);
        }
        sk_repo_close(repo);
    } else {
        log_warnx("%s: %s", err.path, err.msg);
    }
    log_info("archive: first snapshot cycle in %.0fs", (double)delay / 1000.0);
    uv_timer_start(&d->cycle_timer, on_cycle_timer, delay, 0);
}

static void reload(sk_daemon_t *d)
{
    sk_config_t nc;
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_config_load(d->cfg.path, &nc, &err) < 0) {
        log_warnx("reload refused: %s: %s; the configuration in force stays", err.path, err.msg);
        return;
    }
    if (strcmp(nc.control_socket, d->cfg.control_socket) || strcmp(nc.state_dir, d->cfg.state_dir))
        log_warnx("%s: control_socket and state_dir take effect at the next daemon start", nc.path);
    /* Keep what cannot change in a running daemon. */
    free(nc.control_socket);
    nc.control_socket = strdup(d->cfg.control_socket);
    free(nc.state_dir);
    nc.state_dir = strdup(d->cfg.state_dir);
    unsigned old_n = d->nslots;
    bool had_archive = d->slots[0] != NULL;
    /* Decide against the new configuration while the old one is still in place. */
    bool changed[old_n + 1];
    for (unsigned i = 0; i <= old_n; i++)
        changed[i] =
            d->slots[i] && (i > nc.slots || (i == 0 && !nc.archive_data_dir[0]) || sk_slot_changed(d->slots[i], &nc));
    sk_config_free(&d->cfg);
    d->cfg = nc;
    unsigned newn = nc.slots;
    if (newn > old_n) {
        sk_slot_t **sl = realloc(d->slots, (newn + 1) * sizeof(*sl));
        if (!sl) {
            log_warnx("reload: out of memory");
            return;
        }
        d->slots = sl;
        for (unsigned i = old_n + 1; i <= newn; i++)
            d->slots[i] = NULL;
    }
    unsigned restarted = 0, removed = 0;
    for (unsigned i = 0; i <= old_n; i++) {
        if (!changed[i])
            continue;
        retire(d, d->slots[i]);
        d->slots[i] = NULL;
        if (i <= newn && (i > 0 || nc.archive_data_dir[0]))
            restarted++;
        else
            removed++;
    }
    for (unsigned i = 0; i <= old_n && i <= newn; i++)
        if (d->slots[i])
            sk_slot_set_budget(d->slots[i], nc.restore_budget);
    d->nslots = newn;
    create_slots(d, false);
    unsigned added = newn > old_n ? newn - old_n : 0;
    log_info("reloaded %s: %u slot(s), %u restarted, %u removed, %u added", nc.path, newn, restarted, removed, added);
    if (d->slots[0] && !had_archive)
        schedule_first_cycle(d);
    if (!d->slots[0])
        uv_timer_stop(&d->cycle_timer);
}

static void begin_shutdown(sk_daemon_t *d, int sig)
{
    if (d->shutting_down) {
        log_info("still stopping the nodes (signal %d again)", sig);
        return;
    }
    log_info("signal %d: stopping every node, then exiting", sig);
    d->shutting_down = true;
    uv_timer_stop(&d->cycle_timer);
    sk_follow_stop(d->follow);
    drop_waiters(d, NULL, "the daemon is shutting down");
    sk_restoreq_clear(&d->restoreq);
    bool jobs = false;
    for (unsigned i = 0; i <= d->nslots; i++)
        if (d->slots[i]) {
            jobs |= sk_slot_job_busy(d->slots[i]);
            sk_slot_event(d->slots[i], SK_EV_STOP);
        }
    if (jobs || !sk_follow_idle(d->follow))
        sk_cancel_request(); /* snapshots, restores and syncs stop at their next chunk and clean up */
    uv_timer_start(&d->reap_timer, on_reap, 0, 100);
}

static void on_signal(uv_signal_t *h, int sig)
{
    sk_daemon_t *d = h->data;
    if (sig == SIGHUP)
        reload(d);
    else
        begin_shutdown(d, sig);
}

static void on_walk_close(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_ctl_closed(void *arg)
{
    (void)arg;
}

int sk_daemon_main(const char *config_path)
{
    sk_daemon_t dd = {.lockfd = -1};
    sk_daemon_t *d = &dd;
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_config_load(config_path, &d->cfg, &err) < 0) {
        /* As the command line prints it (cli_config_error): "FILE: line N: reason", exit 1 for a
         * file that cannot be read, 2 for a wrong one. */
        log_init("slotkeeper", NULL, SK_LOG_INFO);
        log_warnx("%s: %s", err.path, err.msg);
        return err.code == -EINVAL || err.code == -EFBIG ? SK_EXIT_USAGE : SK_EXIT_FAIL;
    }
    log_init("slotkeeper", "daemon", (int)d->cfg.log_level);
    /* A host that only follows an upstream (its repository serves restores run by hand or by
     * `run` entrypoints) has its copies to keep. */
    if (!d->cfg.archive_data_dir[0] && d->cfg.slots == 0 && !(d->cfg.upstream && d->cfg.upstream[0])) {
        log_warnx("%s: nothing to do: no [archive] data_dir, [workers] slots = 0 and no [repository] upstream",
                  d->cfg.path);
        sk_config_free(&d->cfg);
        return 2;
    }
    if (d->cfg.archive_data_dir[0] && !d->cfg.archive_command[0]) {
        log_warnx("%s: [archive] command: required when [archive] data_dir is set", d->cfg.path);
        sk_config_free(&d->cfg);
        return 2;
    }
    ssize_t n = readlink("/proc/self/exe", d->exe, sizeof(d->exe) - 1);
    if (n <= 0) {
        log_warn("/proc/self/exe");
        sk_config_free(&d->cfg);
        return 1;
    }
    d->exe[n] = '\0';
    /* One daemon per state_dir. */
    char lockp[PATH_MAX];
    if (sk_mkdir_p(d->cfg.state_dir, 0755) < 0) {
        log_warn("%s: cannot create", d->cfg.state_dir);
        sk_config_free(&d->cfg);
        return 1;
    }
    sk_path_join(lockp, sizeof(lockp), d->cfg.state_dir, "daemon.lock");
    d->lockfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (d->lockfd < 0 || flock(d->lockfd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            log_warnx("%s: another daemon runs on this state_dir", lockp);
        else
            log_warn("%s", lockp);
        if (d->lockfd >= 0)
            close(d->lockfd);
        sk_config_free(&d->cfg);
        return 4;
    }
    char pidbuf[32];
    int pl = snprintf(pidbuf, sizeof(pidbuf), "%ld\n", (long)getpid());
    if (ftruncate(d->lockfd, 0) == 0 && write(d->lockfd, pidbuf, (size_t)pl) < 0)
        log_warn("%s", lockp);

    d->loop = uv_default_loop();
    d->started_at = sk_now();
    char sockdir[PATH_MAX];
    snprintf(sockdir, sizeof(sockdir), "%s", d->cfg.control_socket);
    char *slash = strrchr(sockdir, '/');
    if (slash && slash != sockdir) {
        *slash = '\0';
        sk_mkdir_p(sockdir, 0755);
    }
    if (sk_ctl_listen(d->loop, d->cfg.control_socket, d->cfg.control_socket_mode, on_request, d, &d->ctl, &err) < 0) {
        log_warnx("%s: %s", err.path, err.msg);
        close(d->lockfd);
        sk_config_free(&d->cfg);
        return err.code == -EADDRINUSE ? 4 : 1;
    }
    if (d->cfg.metrics_address[0] &&
        sk_metrics_listen(d->loop, d->cfg.metrics_address, render_metrics, d, &d->metrics, &err) < 0) {
        log_warnx("[daemon] metrics_address: %s: %s", err.path, err.msg);
        sk_ctl_close(d->ctl, on_ctl_closed, NULL);
        uv_run(d->loop, UV_RUN_DEFAULT);
        close(d->lockfd);
        sk_config_free(&d->cfg);
        return 1;
    }
    d->start_unix = (int64_t)time(NULL);
    if (sk_health_init(d->loop, &d->health) < 0) {
        log_warnx("health probes unavailable (libcurl failed to start)");
        d->health = NULL;
    }
    uv_signal_init(d->loop, &d->sig_term);
    uv_signal_init(d->loop, &d->sig_int);
    uv_signal_init(d->loop, &d->sig_hup);
    d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
    uv_signal_start(&d->sig_term, on_signal, SIGTERM);
    uv_signal_start(&d->sig_int, on_signal, SIGINT);
    uv_signal_start(&d->sig_hup, on_signal, SIGHUP);
    signal(SIGPIPE, SIG_IGN);
    uv_timer_init(d->loop, &d->cycle_timer);
    uv_timer_init(d->loop, &d->reap_timer);
    d->cycle_timer.data = d->reap_timer.data = d;
    uv_timer_start(&d->reap_timer, on_reap, 1000, 1000);

    d->host = (sk_slot_host_t){
        .loop = d->loop,
        .cfg = &d->cfg,
        .exe = d->exe,
        .health = d->health,
        .ops = &sk_slot_node_ops,
        .arg = d,
        .changed = host_changed,
        .want_restore = host_want_restore,
        .restore_done = host_restore_done,
        .dequeue = host_dequeue,
        .cycle_done = host_cycle_done,
        .shutting_down = host_shutting_down,
        .put_file = host_put_file,
    };
    d->nslots = d->cfg.slots;
    d->slots = calloc(d->nslots + 1, sizeof(*d->slots));
    d->statefiles = sk_statefiles_new(d->loop);
    if (!d->slots || !d->statefiles)
        fatalx("out of memory");
    log_info("started (pid %ld): %s, %u worker slot(s)%s, control socket %s", (long)getpid(), d->cfg.path, d->nslots,
             d->cfg.archive_data_dir[0] ? " and an archival node" : "", d->cfg.control_socket);
    create_slots(d, true);
    schedule_first_cycle(d);
    measure_repo(d);
    d->follow = sk_follow_start(d->loop, &d->cfg);

    uv_run(d->loop, UV_RUN_DEFAULT);

    /* Stopped by on_reap: every node is down. Close what is left, then run the closes. */
    for (unsigned i = 0; i <= d->nslots; i++)
        if (d->slots[i])
            sk_slot_free(d->slots[i]);
    sk_ctl_close(d->ctl, on_ctl_closed, NULL);
    if (d->health)
        sk_health_close(d->health, on_ctl_closed, NULL);
    if (d->metrics)
        sk_metrics_close(d->metrics, on_ctl_closed, NULL);
    uv_walk(d->loop, on_walk_close, NULL);
    uv_run(d->loop, UV_RUN_DEFAULT); /* also to the end of the queued state-file writes */
    uv_loop_close(d->loop);
    sk_follow_free(d->follow);
    sk_statefiles_free(d->statefiles);
    free(d->slots);
    free(d->retired);
    sk_restoreq_free(&d->restoreq);
    unlink(lockp);
    close(d->lockfd);
    log_info("all nodes stopped; exiting");
    sk_config_free(&d->cfg);
    return 0;
}

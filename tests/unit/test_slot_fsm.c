/*
 * test_slot_fsm: the slot's state machine alone, through its host interface,
 * with fakes for everything outside it: no process is spawned and no job runs.
 * The fake ops and host callbacks write what they are asked for into a log
 * ("job:check spawn probe ..."), so that each test checks both the state the
 * slot reaches and the effects it asked of its host.
 *
 * The table test walks every cell of the state x event table: for each state it
 * drives a fresh slot there the way the daemon would (events and job results),
 * feeds one event and compares the resulting state and effects with the
 * expected ones below. Job results (checked, restored, snapshotted) are
 * delivered as a job's outcome (sk_slot_job_finished), an exit as the node's
 * (sk_slot_exited); the other events go through sk_slot_event.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "daemon/slot_impl.h"
#include "slotkeeper/fsutil.h"
#include "unit.h"

/* ---- fakes ---- */

static char effects[1024];
static unsigned changed_calls;
static bool shutting;
static int queue_rc;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    size_t o = strlen(effects);
    if (o)
        effects[o++] = ' ';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(effects + o, sizeof(effects) - o, fmt, ap);
    va_end(ap);
}

static const char *const job_names[] = {"check", "restore", "snapshot", "after_cycle", "frozen_snapshot"};

static int fake_queue_job(sk_slot_t *s, sk_slot_job_t kind)
{
    note("job:%s", job_names[kind]);
    if (queue_rc < 0)
        return queue_rc;
    if (kind == SK_JOB_FROZEN_SNAPSHOT) { /* as slot_jobs.c: beside the other jobs */
        s->frozen = NULL;
        s->frozen_busy = true;
        return 0;
    }
    s->job_busy = true;
    return 0;
}

static int fake_spawn(sk_slot_t *s)
{
    note("spawn");
    s->v.pid = 4242;
    s->v.started_at = sk_now();
    return 0;
}

static void fake_signal(sk_slot_t *s, int sig)
{
    note("signal:%d", sig);
}

static void fake_probe(sk_slot_t *s)
{
    note("probe");
}

static bool fake_await_log(sk_slot_t *s)
{
    note("await_log");
    return false;
}

static bool adopt_ok; /* what fake_adopt answers */

static bool fake_adopt(sk_slot_t *s)
{
    note("adopt");
    if (!adopt_ok)
        return false;
    s->v.pid = 4343;
    sk_slot_set_state(s, SK_SLOT_RUNNING, "adopted pid 4343");
    return true;
}

static const sk_slot_ops_t fake_ops = {
    .queue_job = fake_queue_job,
    .spawn = fake_spawn,
    .signal = fake_signal,
    .probe = fake_probe,
    .await_log = fake_await_log,
    .adopt = fake_adopt,
};

static void h_changed(void *arg, sk_slot_t *s)
{
    changed_calls++;
}

static void h_want_restore(void *arg, sk_slot_t *s)
{
    note("want_restore");
}

static void h_restore_done(void *arg, sk_slot_t *s)
{
    note("restore_done");
}

static void h_dequeue(void *arg, sk_slot_t *s)
{
    note("dequeue");
}

static void h_cycle_done(void *arg, sk_slot_t *s)
{
    note("cycle_done");
}

static bool h_shutting_down(void *arg)
{
    return shutting;
}

static void h_put_file(void *arg, const char *path, const void *buf, size_t len)
{
    const char *base = strrchr(path, '/');
    note("%s:%s", buf ? "put" : "rm", base ? base + 1 : path);
}

/* ---- fixture ---- */

static uv_loop_t loop;
static sk_config_t cfg;
static sk_slot_host_t host;

static void setup(unsigned budget, const char *worker_command)
{
    char conf[8192], cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
    snprintf(conf, sizeof(conf),
             "[daemon]\ncontrol_socket = %s/ctl.sock\nstate_dir = %s/state\n"
             "[repository]\npath = %s/repo\n"
             "[archive]\ndata_dir = %s/archive\ncommand = /bin/true --data-dir {data_dir}\n"
             "[workers]\nslots = 2\ndata_dir = %s/w{slot}\ncommand = %s\nstartup_grace = 2s\n"
             "backoff_min = 200ms\nbackoff_max = 2s\nrestore_budget = %u\nrestore_window = 1h\n",
             cwd, cwd, cwd, cwd, cwd, worker_command, budget);
    unit_write_text("slotkeeper.conf", conf);
    sk_err_t err;
    sk_err_clear(&err);
    CHECK_OK(sk_config_load("slotkeeper.conf", &cfg, &err), &err);
    CHECK_EQ(uv_loop_init(&loop), 0);
    host = (sk_slot_host_t){
        .loop = &loop,
        .cfg = &cfg,
        .exe = "/bin/false",
        .health = NULL,
        .ops = &fake_ops,
        .changed = h_changed,
        .want_restore = h_want_restore,
        .restore_done = h_restore_done,
        .dequeue = h_dequeue,
        .cycle_done = h_cycle_done,
        .shutting_down = h_shutting_down,
        .put_file = h_put_file,
    };
    effects[0] = '\0';
    changed_calls = 0;
    shutting = false;
    queue_rc = 0;
}

static void teardown(sk_slot_t *s)
{
    s->v.pid = 0; /* a fake pid: nothing to let go of */
    sk_slot_free(s);
    CHECK_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0); /* the close callbacks free the slot */
    CHECK_EQ(uv_loop_close(&loop), 0);
    sk_config_free(&cfg);
}

static void job_done(sk_slot_t *s, sk_slot_job_t kind, int rc, sk_verdict_t verdict, const char *id)
{
    sk_slot_job_result_t r = {.kind = kind, .gen = s->gen, .rc = rc, .verdict = verdict};
    if (rc < 0)
        snprintf(r.err, sizeof(r.err), "fake: %s", strerror(-rc));
    snprintf(r.reason, sizeof(r.reason), "%s", verdict == SK_VERDICT_CLEAN ? "clean" : "fake damage");
    snprintf(r.id, sizeof(r.id), "%s", id ? id : "");
    sk_slot_job_finished(s, &r);
}

/* Feeds ev the way it arrives in the daemon. */
static void feed(sk_slot_t *s, sk_slot_event_t ev)
{
    switch (ev) {
    case SK_EV_CHECKED:
        job_done(s, SK_JOB_CHECK, 0, SK_VERDICT_CLEAN, NULL);
        break;
    case SK_EV_RESTORED:
        job_done(s, SK_JOB_RESTORE, 0, SK_VERDICT_CLEAN, "snap-1");
        break;
    case SK_EV_SNAPSHOTTED:
        job_done(s, SK_JOB_SNAPSHOT, 0, SK_VERDICT_CLEAN, "snap-2");
        break;
    case SK_EV_FROZEN: { /* a cycle's snapshot job that froze the data-dir */
        static char fake_frozen;
        sk_slot_job_result_t r = {.kind = SK_JOB_SNAPSHOT, .gen = s->gen, .frozen = &fake_frozen, .stopped_s = 0.01};
        sk_slot_job_finished(s, &r);
        break;
    }
    case SK_EV_EXIT:
        sk_slot_exited(s, 0, 0);
        break;
    default:
        sk_slot_event(s, ev);
        break;
    }
}

/* Drives a fresh slot into st as the daemon would. */
static void drive(sk_slot_t *s, sk_slot_state_t st)
{
    switch (st) {
    case SK_SLOT_STOPPED:
        break;
    case SK_SLOT_CHECKING:
        feed(s, SK_EV_START);
        break;
    case SK_SLOT_STARTING:
        drive(s, SK_SLOT_CHECKING);
        feed(s, SK_EV_CHECKED);
        break;
    case SK_SLOT_RUNNING:
        drive(s, SK_SLOT_STARTING);
        feed(s, SK_EV_TIMER); /* no health URL: the startup grace ends it */
        break;
    case SK_SLOT_STOPPING:
        drive(s, SK_SLOT_RUNNING);
        feed(s, SK_EV_STOP);
        break;
    case SK_SLOT_BACKOFF:
        drive(s, SK_SLOT_STARTING);
        feed(s, SK_EV_EXIT);    /* a crash: checked after its exit */
        feed(s, SK_EV_CHECKED); /* ... clean: restart after the back-off */
        break;
    case SK_SLOT_QUEUED:
        feed(s, SK_EV_RESTORE);
        break;
    case SK_SLOT_RESTORING:
        drive(s, SK_SLOT_QUEUED);
        feed(s, SK_EV_RESTORE_GO);
        break;
    case SK_SLOT_SNAPSHOTTING:
        feed(s, SK_EV_CYCLE);
        break;
    case SK_SLOT_FAILED:
        drive(s, SK_SLOT_RESTORING);
        job_done(s, SK_JOB_RESTORE, -ENOENT, SK_VERDICT_CLEAN, NULL); /* nothing to restore */
        break;
    default:
        CHECK(!"no such state");
    }
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), sk_slot_state_name(st));
}

/* ---- the table ---- */

struct cell {
    sk_slot_state_t to;
    const char *effects;
};

#define ST(x) SK_SLOT_##x
#define KEEP  SK_SLOT_NSTATES /* the state stays */

/* Every cell: the state reached and the effects asked, from the archival node (slot 0), in
 * the state drive() leaves it. An ignored event keeps the state and asks nothing. */
static const struct cell expect[SK_SLOT_NSTATES][SK_EV_COUNT] =
    {
        [ST(STOPPED)] =
            {
                [SK_EV_START] = {ST(CHECKING), "job:check"},
                [SK_EV_RESTORE] = {ST(QUEUED), "want_restore"},
                [SK_EV_CYCLE] = {ST(SNAPSHOTTING), "job:snapshot"},
            },
        [ST(CHECKING)] =
            {
                [SK_EV_STOP] = {ST(STOPPED), ""},
                [SK_EV_RESTORE] = {ST(QUEUED), "want_restore"},
                [SK_EV_CYCLE] = {KEEP, "put:archive.cycles cycle_done"},
                [SK_EV_CHECKED] = {ST(STARTING), "spawn probe"},
            },
        [ST(STARTING)] =
            {
                [SK_EV_STOP] = {ST(STOPPING), "signal:15"},
                [SK_EV_RESTORE] = {ST(STOPPING), "signal:15"},
                [SK_EV_CYCLE] = {ST(STOPPING), "signal:15"},
                [SK_EV_EXIT] = {ST(CHECKING), "await_log job:check"},
                [SK_EV_TIMER] = {ST(RUNNING), ""},
                [SK_EV_HEALTHY] = {ST(RUNNING), ""},
            },
        [ST(RUNNING)] =
            {
                [SK_EV_STOP] = {ST(STOPPING), "signal:15"},
                [SK_EV_RESTORE] = {ST(STOPPING), "signal:15"},
                [SK_EV_CYCLE] = {ST(STOPPING), "signal:15"},
                [SK_EV_EXIT] = {ST(CHECKING), "await_log job:check"},
                [SK_EV_UNHEALTHY] = {ST(STOPPING), "signal:15"},
            },
        [ST(STOPPING)] =
            {
                [SK_EV_EXIT] = {ST(STOPPED), ""},
                [SK_EV_TIMER] = {KEEP, "signal:9"},
            },
        [ST(BACKOFF)] =
            {
                [SK_EV_START] = {ST(CHECKING), "job:check"},
                [SK_EV_STOP] = {ST(STOPPED), ""},
                [SK_EV_RESTORE] = {ST(QUEUED), "want_restore"},
                [SK_EV_TIMER] = {ST(CHECKING), "job:check"},
                [SK_EV_CYCLE] = {ST(SNAPSHOTTING), "job:snapshot"},
            },
        [ST(QUEUED)] =
            {
                [SK_EV_STOP] = {ST(STOPPED), "dequeue"},
                [SK_EV_RESTORE_GO] = {ST(RESTORING), "job:restore"},
                [SK_EV_CYCLE] = {KEEP, "put:archive.cycles cycle_done"},
            },
        [ST(RESTORING)] =
            {
                [SK_EV_RESTORED] = {ST(CHECKING), "restore_done job:check"},
                [SK_EV_CYCLE] = {KEEP, "put:archive.cycles cycle_done"},
            },
        [ST(SNAPSHOTTING)] =
            {
                /* a cycle of a stopped node leaves it stopped */
                [SK_EV_SNAPSHOTTED] = {ST(STOPPED), "job:after_cycle put:archive.cycles cycle_done"},
                /* ... and one that froze: its frozen copy is snapshotted, the node stays stopped */
                [SK_EV_FROZEN] = {ST(STOPPED), "job:frozen_snapshot"},
            },
        [ST(FAILED)] =
            {
                [SK_EV_START] = {ST(CHECKING), "put:archive.restores job:check"},
                [SK_EV_STOP] = {ST(STOPPED), ""},
                [SK_EV_RESTORE] = {ST(QUEUED), "want_restore"},
                [SK_EV_CYCLE] = {ST(SNAPSHOTTING), "job:snapshot"},
            },
};

static const char *const ev_names[SK_EV_COUNT] = {
    "start",      "stop",     "restore",     "cycle",   "checked",   "exit",   "timer",
    "restore-go", "restored", "snapshotted", "healthy", "unhealthy", "frozen",
};

TEST(slot_fsm_every_state_event_cell)
{
    unsigned cells = 0;
    for (int st = 0; st < SK_SLOT_NSTATES; st++)
        for (int ev = 0; ev < SK_EV_COUNT; ev++) {
            setup(3, "/bin/true");
            sk_slot_t *s = sk_slot_new(&host, 0);
            CHECK(s != NULL);
            drive(s, (sk_slot_state_t)st);
            effects[0] = '\0';
            feed(s, (sk_slot_event_t)ev);
            const struct cell *c = &expect[st][ev];
            sk_slot_state_t want = c->effects && c->to != KEEP ? c->to : (sk_slot_state_t)st;
            const char *want_fx = c->effects ? c->effects : "";
            const char *got = sk_slot_state_name(sk_slot_view(s)->state);
            if (strcmp(got, sk_slot_state_name(want)) || strcmp(effects, want_fx))
                unit_fail(__FILE__, __LINE__, "%s + %s: got %s [%s], want %s [%s]", sk_slot_state_name(st),
                          ev_names[ev], got, effects, sk_slot_state_name(want), want_fx);
            teardown(s);
            cells++;
        }
    CHECK_EQ(cells, SK_SLOT_NSTATES * SK_EV_COUNT);
}

/* Cells whose outcome depends on more than the state: a few paths through them. */

TEST(slot_fsm_stopping_remembers_what_comes_next)
{
    setup(3, "/bin/true");
    sk_slot_t *s = sk_slot_new(&host, 0);
    drive(s, SK_SLOT_STOPPING);
    effects[0] = '\0';
    feed(s, SK_EV_RESTORE); /* restore once stopped */
    CHECK_STR(effects, "");
    feed(s, SK_EV_EXIT);
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "queued");
    CHECK_STR(effects, "want_restore");
    teardown(s);
}

TEST(slot_fsm_cycle_of_a_running_node_snapshots_then_restarts)
{
    setup(3, "/bin/true");
    sk_slot_t *s = sk_slot_new(&host, 0);
    drive(s, SK_SLOT_RUNNING);
    effects[0] = '\0';
    feed(s, SK_EV_CYCLE);
    feed(s, SK_EV_EXIT);
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "snapshotting");
    feed(s, SK_EV_SNAPSHOTTED);
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "checking");
    feed(s, SK_EV_CHECKED);
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "starting");
    /* the cycle is recorded once the node is back, and its verify queued */
    CHECK_STR(effects, "signal:15 job:snapshot job:check spawn probe job:after_cycle put:archive.cycles cycle_done");
    CHECK_EQ(sk_slot_view(s)->cycles_published, 1);
    CHECK_STR(sk_slot_last_cycle(s)->id, "snap-2");
    teardown(s);
}

/* freeze: the node starts again right after the freeze; the cycle ends with the snapshot of the
 * frozen copy, and no other cycle starts before it. */
TEST(slot_fsm_frozen_cycle_restarts_then_snapshots)
{
    setup(3, "/bin/true");
    sk_slot_t *s = sk_slot_new(&host, 0);
    drive(s, SK_SLOT_RUNNING);
    effects[0] = '\0';
    feed(s, SK_EV_CYCLE);
    feed(s, SK_EV_EXIT);
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "snapshotting");
    feed(s, SK_EV_FROZEN);
    /* started at once, without another check (the job's was under the data-dir lock) */
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "starting");
    CHECK_STR(effects, "signal:15 job:snapshot job:frozen_snapshot spawn probe");
    CHECK_EQ(sk_slot_view(s)->ncycles, 0);
    CHECK(sk_slot_in_cycle(s));
    CHECK(!sk_slot_idle(s));
    feed(s, SK_EV_TIMER);
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "running");
    effects[0] = '\0';
    feed(s, SK_EV_CYCLE); /* too early: skipped, recorded, the node keeps running */
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "running");
    CHECK_STR(effects, "put:archive.cycles cycle_done");
    CHECK_EQ(sk_slot_view(s)->cycles_failed, 1);
    effects[0] = '\0';
    job_done(s, SK_JOB_FROZEN_SNAPSHOT, 0, SK_VERDICT_CLEAN, "snap-3");
    CHECK_STR(effects, "job:after_cycle put:archive.cycles cycle_done");
    CHECK_EQ(sk_slot_view(s)->cycles_published, 1);
    CHECK_STR(sk_slot_last_cycle(s)->id, "snap-3");
    CHECK_STR(sk_slot_last_cycle(s)->path, "frozen");
    CHECK(sk_slot_last_cycle(s)->downtime_ms <= sk_slot_last_cycle(s)->duration_ms);
    CHECK(!sk_slot_in_cycle(s));
    teardown(s);
}

/* A frozen cycle whose snapshot fails records the failure; the node runs on. */
TEST(slot_fsm_frozen_cycle_failure_is_recorded)
{
    setup(3, "/bin/true");
    sk_slot_t *s = sk_slot_new(&host, 0);
    drive(s, SK_SLOT_RUNNING);
    feed(s, SK_EV_CYCLE);
    feed(s, SK_EV_EXIT);
    feed(s, SK_EV_FROZEN);
    job_done(s, SK_JOB_FROZEN_SNAPSHOT, -ENOSPC, SK_VERDICT_CLEAN, NULL);
    CHECK_EQ(sk_slot_view(s)->cycles_failed, 1);
    CHECK_EQ(sk_slot_view(s)->cycles_published, 0);
    CHECK(strstr(sk_slot_last_cycle(s)->failure, "fake") != NULL);
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "starting");
    teardown(s);
}

TEST(slot_fsm_killed_archival_node_publishes_nothing_and_is_restored)
{
    setup(3, "/bin/true");
    sk_slot_t *s = sk_slot_new(&host, 0);
    drive(s, SK_SLOT_RUNNING);
    feed(s, SK_EV_CYCLE);
    feed(s, SK_EV_TIMER); /* the stop timeout: SIGKILL */
    effects[0] = '\0';
    feed(s, SK_EV_EXIT);
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "queued");
    CHECK_STR(effects, "put:archive.cycles cycle_done want_restore");
    CHECK_EQ(sk_slot_view(s)->cycles_failed, 1);
    CHECK(strstr(sk_slot_last_cycle(s)->failure, "killed") != NULL);
    teardown(s);
}

TEST(slot_fsm_damage_found_by_a_check_asks_for_a_restore)
{
    setup(3, "/bin/true");
    sk_slot_t *s = sk_slot_new(&host, 1);
    drive(s, SK_SLOT_CHECKING);
    effects[0] = '\0';
    job_done(s, SK_JOB_CHECK, 0, SK_VERDICT_DIRTY, NULL);
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "queued");
    CHECK_STR(effects, "want_restore");
    feed(s, SK_EV_RESTORE_GO); /* a restore the daemon asked for counts against the budget */
    CHECK_STR(effects, "want_restore put:slot-1.restores job:restore");
    CHECK_EQ(s->budget.n, 1);
    teardown(s);
}

TEST(slot_fsm_a_data_dir_held_by_a_node_of_ours_is_adopted_else_left_alone)
{
    setup(3, "/bin/true");
    sk_slot_t *s = sk_slot_new(&host, 1);
    drive(s, SK_SLOT_CHECKING);
    adopt_ok = false; /* another program holds it */
    effects[0] = '\0';
    job_done(s, SK_JOB_CHECK, 0, SK_VERDICT_RUNNING, NULL);
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "backoff");
    CHECK_STR(effects, "adopt");
    CHECK(strstr(sk_slot_view(s)->last_failure, "a process slotkeeper did not start") != NULL);
    feed(s, SK_EV_TIMER);
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "checking");
    adopt_ok = true; /* ours, started by a daemon that died before writing its pid file */
    effects[0] = '\0';
    job_done(s, SK_JOB_CHECK, 0, SK_VERDICT_RUNNING, NULL);
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "running");
    CHECK_STR(effects, "adopt");
    CHECK_EQ(sk_slot_view(s)->pid, 4343);
    adopt_ok = false;
    teardown(s);
}

TEST(slot_fsm_budget_spent_fails_the_slot)
{
    setup(1, "/bin/true");
    sk_slot_t *s = sk_slot_new(&host, 1);
    drive(s, SK_SLOT_CHECKING);
    job_done(s, SK_JOB_CHECK, 0, SK_VERDICT_DIRTY, NULL);
    feed(s, SK_EV_RESTORE_GO);
    feed(s, SK_EV_RESTORED);
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "checking");
    effects[0] = '\0';
    job_done(s, SK_JOB_CHECK, 0, SK_VERDICT_CORRUPT, NULL); /* damaged again: the budget (1) is spent */
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "failed");
    CHECK_STR(effects, "");
    CHECK(strstr(sk_slot_view(s)->last_failure, "restore budget spent") != NULL);
    teardown(s);
}

TEST(slot_fsm_io_error_is_never_damage)
{
    setup(3, "/bin/true");
    sk_slot_t *s = sk_slot_new(&host, 1);
    drive(s, SK_SLOT_CHECKING);
    for (int i = 0; i < 3; i++) {
        job_done(s, SK_JOB_CHECK, -EIO, SK_VERDICT_CLEAN, NULL);
        if (i < 2) {
            CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "backoff");
            feed(s, SK_EV_TIMER);
        }
    }
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "failed");
    CHECK(strstr(effects, "want_restore") == NULL && strstr(effects, "job:restore") == NULL);
    teardown(s);
}

TEST(slot_fsm_external_slot_is_not_started)
{
    setup(3, "");
    sk_slot_t *s = sk_slot_new(&host, 1);
    CHECK(sk_slot_view(s)->external);
    feed(s, SK_EV_START);
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "stopped");
    CHECK_STR(effects, "");
    teardown(s);
}

TEST(slot_fsm_new_slot_with_nothing_to_restore_starts_from_genesis)
{
    setup(3, "/bin/true");
    sk_slot_t *s = sk_slot_new(&host, 1);
    drive(s, SK_SLOT_CHECKING);
    job_done(s, SK_JOB_CHECK, 0, SK_VERDICT_MISSING, NULL);
    feed(s, SK_EV_RESTORE_GO);
    CHECK_EQ(s->budget.n, 1);
    effects[0] = '\0';
    job_done(s, SK_JOB_RESTORE, -ENOENT, SK_VERDICT_CLEAN, NULL);
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "starting");
    CHECK_STR(effects, "restore_done put:slot-1.restores spawn probe");
    CHECK_EQ(s->budget.n, 0); /* nothing was restored: not counted */
    teardown(s);
}

TEST(slot_fsm_shutdown_keeps_a_restored_slot_stopped)
{
    setup(3, "/bin/true");
    sk_slot_t *s = sk_slot_new(&host, 1);
    drive(s, SK_SLOT_RESTORING);
    shutting = true;
    effects[0] = '\0';
    feed(s, SK_EV_RESTORED);
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "stopped");
    CHECK_STR(effects, "restore_done");
    CHECK_EQ(sk_slot_view(s)->restore_seq, 1);
    CHECK(sk_slot_view(s)->restore_ok);
    teardown(s);
}

TEST(slot_fsm_stale_check_is_dropped_and_a_waiting_check_runs_after_the_job)
{
    setup(3, "/bin/true");
    sk_slot_t *s = sk_slot_new(&host, 0);
    drive(s, SK_SLOT_SNAPSHOTTING);
    feed(s, SK_EV_STOP); /* waits for the snapshot */
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "snapshotting");
    /* a check result of an older generation changes nothing */
    sk_slot_job_result_t r = {.kind = SK_JOB_CHECK, .gen = s->gen - 1};
    s->job_busy = true;
    effects[0] = '\0';
    sk_slot_job_finished(s, &r);
    CHECK_STR(sk_slot_state_name(sk_slot_view(s)->state), "snapshotting");
    CHECK_STR(effects, "");
    teardown(s);
}

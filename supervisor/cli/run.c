/*
 * run: check, restore if needed, then supervise one node in the foreground
 * (see run.h). One libuv loop per start: the child process and the forwarded
 * signals are its handles, closed before the loop ends.
 */
#include "run.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "daemon/control.h"
#include "slotkeeper/datadir.h"
#include "slotkeeper/exitcode.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/log.h"
#include "slotkeeper/nodeos.h"
#include "slotkeeper/repo.h"
#include "slotkeeper/restore.h"

struct child {
    uv_process_t proc;
    uv_signal_t sigs[3];
    int nsigs;
    int64_t exit_status;
    int term_signal;
    bool exited;
    bool stop_requested; /* we forwarded a stop: its exit is not a failure to start */
};

static void on_close(uv_handle_t *h)
{
    (void)h;
}

static void close_all(struct child *c)
{
    for (int i = 0; i < c->nsigs; i++)
        if (!uv_is_closing((uv_handle_t *)&c->sigs[i]))
            uv_close((uv_handle_t *)&c->sigs[i], on_close);
    if (!uv_is_closing((uv_handle_t *)&c->proc))
        uv_close((uv_handle_t *)&c->proc, on_close);
}

static void on_child_exit(uv_process_t *p, int64_t status, int term_signal)
{
    struct child *c = p->data;
    c->exit_status = status;
    c->term_signal = term_signal;
    c->exited = true;
    close_all(c);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct child *c = s->data;
    if (signum != SIGHUP)
        c->stop_requested = true;
    if (!c->exited)
        uv_process_kill(&c->proc, signum);
}

/* Starts argv and waits for it; returns 0 with c filled, or a negative libuv error. */
static int start_and_wait(char *const *argv, struct child *c)
{
    uv_loop_t loop;
    int rc = uv_loop_init(&loop);
    if (rc < 0)
        return rc;
    memset(c, 0, sizeof(*c));
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_INHERIT_FD, .data.fd = 0},
        {.flags = UV_INHERIT_FD, .data.fd = 1},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
    };
    uv_process_options_t po = {
        .exit_cb = on_child_exit,
        .file = argv[0],
        .args = (char **)argv,
        .stdio_count = 3,
        .stdio = stdio,
    };
    c->proc.data = c;
    static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3 && rc == 0; i++) {
        rc = uv_signal_init(&loop, &c->sigs[i]);
        if (rc == 0) {
            c->nsigs++;
            c->sigs[i].data = c;
            rc = uv_signal_start(&c->sigs[i], on_signal, forwarded[i]);
        }
    }
    if (rc == 0)
        rc = uv_spawn(&loop, &c->proc, &po);
    if (rc < 0) {
        /* A failed uv_spawn still wants its handle closed. */
        for (int i = 0; i < c->nsigs; i++)
            uv_close((uv_handle_t *)&c->sigs[i], on_close);
        if (uv_is_active((uv_handle_t *)&c->proc) || c->proc.type == UV_PROCESS)
            uv_close((uv_handle_t *)&c->proc, on_close);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return rc;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 0;
}

/* Restores the newest good snapshot. When the slot's state file still has a chainbase header,
 * only a snapshot made in the same environment (OS, arch, Boost, compiler) will do: the node
 * on this slot would refuse any other. Returns 0 or an exit code. */
static int restore_latest(const sk_run_opts_t *o, bool ignore_env)
{
    sk_err_t err;
    sk_err_clear(&err);
    char state[PATH_MAX];
    unsigned char env[SK_STATE_ENV_SIZE];
    static char env_hex[2 * SK_STATE_ENV_SIZE + 1];
    const char *require = NULL;
    sk_path_join(state, sizeof(state), o->data_dir, SK_NODEOS_STATE_FILE);
    if (!ignore_env && sk_state_read_env(state, env, &err) == 0) {
        sk_env_to_hex(env, env_hex);
        require = env_hex;
    }
    sk_err_clear(&err);
    sk_repo_t *repo;
    if (sk_repo_open(o->repo, SK_LOCK_SHARED, o->lock_wait_ms, "run", &repo, &err) < 0) {
        log_errorx("%s: %s", err.path, err.msg);
        return sk_exit_code(err.code);
    }
    sk_restore_opts_t ro = {
        .data_dir = o->data_dir, .snapshot = "latest", .keep = SK_QUARANTINE_KEEP, .require_env = require};
    sk_restore_result_t res;
    int rc = sk_restore(repo, &ro, NULL, &res, &err);
    sk_repo_close(repo);
    if (rc < 0) {
        log_errorx("%s: %s", err.path, err.msg);
        return sk_exit_code(err.code);
    }
    char w[32], u[32];
    log_info("%s: restored snapshot %s (%s: %s written, %s unchanged, %.1fs)", o->data_dir, res.id, res.path,
             sk_fmt_bytes(res.bytes_written, w, sizeof(w)), sk_fmt_bytes(res.bytes_unchanged, u, sizeof(u)),
             res.seconds);
    return 0;
}

/* Not an exit code: restore_through_daemon's result when no daemon listens. */
enum { NO_DAEMON = -1 };

/* Asks the host daemon to restore the slot. Returns 0 or an exit code, or NO_DAEMON when no
 * daemon listens (the caller then restores directly). */
static int restore_through_daemon(const sk_run_opts_t *o)
{
    if (!o->control_socket || !o->slot)
        return NO_DAEMON;
    json_t *req = json_pack("{s:i,s:s,s:i}", "v", SK_CTL_VERSION, "cmd", "restore", "slot", (int)o->slot), *a = NULL;
    sk_err_t err;
    sk_err_clear(&err);
    int rc = sk_ctl_call(o->control_socket, req, 0, &a, &err);
    json_decref(req);
    if (rc == -ENOENT || rc == -ECONNREFUSED) {
        log_info("%s: no daemon listens; restoring directly from the repository", o->control_socket);
        return NO_DAEMON;
    }
    if (rc < 0) {
        log_errorx("%s: %s", err.path[0] ? err.path : o->control_socket, err.msg[0] ? err.msg : strerror(-rc));
        return SK_EXIT_FAIL;
    }
    int ex = 0;
    if (!json_is_true(json_object_get(a, "ok"))) {
        json_t *e = json_object_get(a, "error"), *x = json_object_get(a, "exit");
        log_errorx("the daemon could not restore slot %u: %s", o->slot,
                   json_is_string(e) ? json_string_value(e) : "no reason given");
        ex = json_is_integer(x) && json_integer_value(x) > 0 && json_integer_value(x) < 64 ? (int)json_integer_value(x)
                                                                                           : SK_EXIT_FAIL;
    } else {
        const char *id = json_string_value(json_object_get(a, "snapshot"));
        log_info("%s: the host daemon restored snapshot %s", o->data_dir, id ? id : "?");
    }
    json_decref(a);
    return ex;
}

/* Checks the data-dir and restores it if its verdict calls for it. Returns 0 or an exit code. */
static int prepare(const sk_run_opts_t *o)
{
    sk_err_t err;
    sk_err_clear(&err);
    sk_datadir_report_t r;
    if (sk_datadir_check(o->data_dir, &(sk_check_opts_t){0}, &r, &err) < 0) {
        log_errorx("%s: %s", err.path, err.msg);
        return SK_EXIT_FAIL;
    }
    if (r.verdict == SK_VERDICT_RUNNING) {
        log_errorx("%s: %s; not starting a second node on it", o->data_dir, r.reason);
        return SK_EXIT_IN_USE;
    }
    if (!sk_verdict_needs_restore(r.verdict))
        return 0;
    if (!o->repo) {
        log_errorx("%s: %s: %s; it needs a restore, and no repository is configured", o->data_dir,
                   sk_verdict_name(r.verdict), r.reason);
        return SK_EXIT_NOT_CLEAN;
    }
    log_info("%s: %s: %s; restoring the newest good snapshot", o->data_dir, sk_verdict_name(r.verdict), r.reason);
    int ex = restore_through_daemon(o);
    /* An incompatible state's environment is the wrong one to match: take the newest. */
    return ex != NO_DAEMON ? ex : restore_latest(o, r.verdict == SK_VERDICT_INCOMPATIBLE);
}

int sk_run(const sk_run_opts_t *o)
{
    unsigned tries = o->tries ? o->tries : 2;
    /* Our own default dispositions for the forwarded signals until libuv takes them. */
    signal(SIGPIPE, SIG_IGN);
    for (unsigned attempt = 1;; attempt++) {
        int ex = prepare(o);
        if (ex)
            return ex;
        double t0 = sk_now();
        struct child c;
        int rc = start_and_wait(o->argv, &c);
        if (rc < 0) {
            log_errorx("%s: cannot start: %s", o->argv[0], uv_strerror(rc));
            return 127;
        }
        int code = c.term_signal ? 128 + c.term_signal : (int)c.exit_status;
        bool early = (sk_now() - t0) * 1000.0 < (double)o->startup_grace_ms;
        if (c.stop_requested || !early || code == 0)
            return code;
        /* It died at startup: on corrupted state? nodeos's codes, or check no longer says clean. */
        sk_datadir_report_t r;
        sk_err_t err;
        sk_err_clear(&err);
        bool corrupted = sk_nodeos_exit_means_bad_data(code);
        if (sk_datadir_check(o->data_dir, &(sk_check_opts_t){0}, &r, &err) == 0 && sk_verdict_needs_restore(r.verdict))
            corrupted = true;
        if (!corrupted)
            return code;
        if (attempt >= tries) {
            log_errorx("%s: the node failed to start on its data %u time(s) (last exit %d); giving up", o->data_dir,
                       attempt, code);
            return code;
        }
        log_warnx("%s: the node exited %d at startup; restoring and trying again (%u of %u)", o->data_dir, code,
                  attempt + 1, tries);
        /* Force the restore: the data-dir may look clean to check yet not to nodeos. */
        if (r.verdict == SK_VERDICT_CLEAN && o->repo) {
            int rr = restore_latest(o, false);
            if (rr)
                return rr;
        }
    }
}

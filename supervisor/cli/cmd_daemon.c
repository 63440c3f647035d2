/*
 * cmd_daemon: the commands that run or talk to the daemon: `daemon`, `status`,
 * `stop|start|reset --slot N`, the internal `log-writer`, and the daemon path
 * of `snapshot -c` and `restore --slot N` (they ask the running daemon, and
 * fall back to working directly when no daemon listens).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "slotkeeper/config.h"
#include "daemon/control.h"
#include "daemon/daemon.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/log.h"
#include "daemon/logwriter.h"

int cmd_daemon(struct options *o)
{
    return sk_daemon_main(o->config ? o->config : SK_CONFIG_DEFAULT_PATH);
}

int cmd_log_writer(struct options *o)
{
    uint64_t max, keep;
    if (sk_parse_size(o->args[1], &max) < 0 || sk_parse_uint(o->args[2], 0, 1000, &keep) < 0)
        return cli_usage_error("log-writer FILE MAX_SIZE KEEP");
    /* The node's stop signals are the node's: this process ends at end of input. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    return sk_logwriter_run(0, o->args[0], max, (unsigned)keep) < 0 ? SK_EXIT_FAIL : SK_EXIT_OK;
}

/* Sends request (consumed) to the daemon of the configuration. Returns 0 with an answer that
 * says ok in *answer (caller frees), CLI_NO_DAEMON if no daemon listens (nothing printed), or an
 * exit code after printing why: the socket failed, or the daemon refused (its own line and
 * exit code). A daemon that fails mid-request is never taken for "no daemon". */
static int ask_daemon(const sk_config_t *cf, json_t *request, uint64_t timeout_ms, json_t **answer)
{
    sk_err_t err;
    sk_err_clear(&err);
    json_t *a = NULL;
    int rc = sk_ctl_call(cf->control_socket, request, timeout_ms, &a, &err);
    json_decref(request);
    if (rc == -ENOENT || rc == -ECONNREFUSED)
        return CLI_NO_DAEMON;
    if (rc < 0) {
        if (rc == -EACCES)
            log_warnx("%s: permission denied (the control socket's mode is %04o)", cf->control_socket,
                      cf->control_socket_mode);
        else
            log_warnx("%s: %s", err.path[0] ? err.path : cf->control_socket, err.msg[0] ? err.msg : strerror(-rc));
        return SK_EXIT_FAIL;
    }
    if (!json_is_true(json_object_get(a, "ok"))) {
        json_t *e = json_object_get(a, "error"), *x = json_object_get(a, "exit");
        log_warnx("%s", json_is_string(e) ? json_string_value(e) : "the daemon refused the request");
        int code = json_is_integer(x) ? (int)json_integer_value(x) : SK_EXIT_FAIL;
        json_decref(a);
        return code > 0 && code < 64 ? code : SK_EXIT_FAIL;
    }
    *answer = a;
    return 0;
}

int cli_daemon_snapshot(struct options *o)
{
    const sk_config_t *cf = cli_config();
    if (!cf)
        return CLI_NO_DAEMON;
    json_t *req = json_pack("{s:i,s:s}", "v", SK_CTL_VERSION, "cmd", "snapshot"), *a = NULL;
    int rc = ask_daemon(cf, req, 0, &a);
    if (rc == CLI_NO_DAEMON)
        return CLI_NO_DAEMON; /* the caller snapshots directly */
    if (rc)
        return rc;
    json_t *cy = json_object_get(a, "cycle");
    const char *id = json_string_value(json_object_get(a, "snapshot"));
    if (!o->quiet && cy) {
        char b[32], c[32];
        /* duration_ms runs from the stop request to the published snapshot, downtime_ms on to the
         * node's start: the downtime is the stop and snapshot, then the start. */
        uint64_t down = (uint64_t)json_integer_value(json_object_get(cy, "downtime_ms"));
        uint64_t snap = (uint64_t)json_integer_value(json_object_get(cy, "duration_ms"));
        const char *path = json_string_value(json_object_get(cy, "path"));
        if (path && !strcmp(path, "frozen")) {
            /* freeze: the node ran again while its frozen copy was read */
            log_info("%s: through the daemon: %s read, %s new; archival node down %.1fs (stop, freeze %.2fs, "
                     "start), snapshot of its frozen copy done %.1fs after the stop",
                     id ? id : "?",
                     sk_fmt_bytes((uint64_t)json_integer_value(json_object_get(cy, "bytes_read")), b, sizeof(b)),
                     sk_fmt_bytes((uint64_t)json_integer_value(json_object_get(cy, "new_bytes")), c, sizeof(c)),
                     (double)down / 1000.0, (double)json_integer_value(json_object_get(cy, "stopped_ms")) / 1000.0,
                     (double)snap / 1000.0);
        } else {
            if (snap > down)
                snap = down;
            log_info("%s: through the daemon: %s read, %s new; archival node down %.1fs (stop and snapshot %.1fs, "
                     "start %.1fs)",
                     id ? id : "?",
                     sk_fmt_bytes((uint64_t)json_integer_value(json_object_get(cy, "bytes_read")), b, sizeof(b)),
                     sk_fmt_bytes((uint64_t)json_integer_value(json_object_get(cy, "new_bytes")), c, sizeof(c)),
                     (double)down / 1000.0, (double)snap / 1000.0, (double)(down - snap) / 1000.0);
        }
    }
    printf("%s\n", id ? id : "");
    json_decref(a);
    return SK_EXIT_OK;
}

int cli_daemon_restore(struct options *o)
{
    const sk_config_t *cf = cli_config();
    if (!cf)
        return CLI_NO_DAEMON;
    json_t *req = json_pack("{s:i,s:s,s:i}", "v", SK_CTL_VERSION, "cmd", "restore", "slot", (int)o->slot), *a = NULL;
    if (o->snapshot)
        json_object_set_new(req, "snapshot", json_string(o->snapshot));
    int rc = ask_daemon(cf, req, 0, &a);
    if (rc == CLI_NO_DAEMON)
        return CLI_NO_DAEMON;
    if (rc)
        return rc;
    const char *id = json_string_value(json_object_get(a, "snapshot"));
    json_t *sl = json_object_get(a, "slot");
    json_t *lr = json_object_get(sl, "last_restore");
    if (!o->quiet && lr) {
        char w[32], c[32], u[32];
        log_info("slot %u: restored snapshot %s through the daemon (%s: %s written, %s cloned, %s unchanged); now %s",
                 o->slot, id ? id : "?", json_string_value(json_object_get(lr, "path")),
                 sk_fmt_bytes((uint64_t)json_integer_value(json_object_get(lr, "bytes_written")), w, sizeof(w)),
                 sk_fmt_bytes((uint64_t)json_integer_value(json_object_get(lr, "bytes_cloned")), c, sizeof(c)),
                 sk_fmt_bytes((uint64_t)json_integer_value(json_object_get(lr, "bytes_unchanged")), u, sizeof(u)),
                 json_string_value(json_object_get(sl, "state")));
    } else if (!o->quiet) {
        log_info("slot %u: restored snapshot %s through the daemon; now %s", o->slot, id ? id : "?",
                 json_string_value(json_object_get(sl, "state")));
    }
    printf("%s\n", id ? id : "");
    json_decref(a);
    return SK_EXIT_OK;
}

int cmd_slot_control(struct options *o, const char *verb)
{
    const sk_config_t *cf = cli_config();
    json_t *req = json_pack("{s:i,s:s,s:i}", "v", SK_CTL_VERSION, "cmd", verb, "slot", (int)o->slot), *a = NULL;
    int rc = ask_daemon(cf, req, 0, &a);
    if (rc == CLI_NO_DAEMON) {
        log_warnx("%s: no daemon is listening; '%s --slot' needs the daemon", cf->control_socket, verb);
        return SK_EXIT_FAIL;
    }
    if (rc)
        return rc;
    json_t *sl = json_object_get(a, "slot");
    const char *state = json_string_value(json_object_get(sl, "state"));
    json_t *pid = json_object_get(sl, "pid");
    if (o->quiet)
        ;
    else if (!strcmp(verb, "start") && state && !strcmp(state, "starting") && json_is_integer(pid))
        /* start waits until the node's process is started, not until it answers: say so. */
        log_info("slot %u: node started, pid %lld; state starting until it answers (see `slotkeeper status`)", o->slot,
                 (long long)json_integer_value(pid));
    else
        log_info("slot %u: %s", o->slot, state ? state : "?");
    json_decref(a);
    return SK_EXIT_OK;
}

int cmd_stop(struct options *o)
{
    return cmd_slot_control(o, "stop");
}

int cmd_start(struct options *o)
{
    return cmd_slot_control(o, "start");
}

int cmd_reset(struct options *o)
{
    return cmd_slot_control(o, "reset");
}

static const char *fmt_dur(json_t *v, char *buf, size_t len)
{
    if (!json_is_integer(v))
        return "-";
    long long s = json_integer_value(v);
    if (s < 60)
        snprintf(buf, len, "%llds", s);
    else if (s < 3600)
        snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, len, "%lldh%02lldm", s / 3600, s / 60 % 60);
    else
        snprintf(buf, len, "%lldd%02lldh", s / 86400, s / 3600 % 24);
    return buf;
}

static void print_slot(json_t *s)
{
    char name[16], pid[16], up[32], head[24], since[32];
    json_t *n = json_object_get(s, "slot");
    if (json_is_string(n))
        snprintf(name, sizeof(name), "%s", json_string_value(n));
    else
        snprintf(name, sizeof(name), "%lld", (long long)json_integer_value(n));
    json_t *p = json_object_get(s, "pid");
    snprintf(pid, sizeof(pid), "%s", json_is_integer(p) ? "" : "-");
    if (json_is_integer(p))
        snprintf(pid, sizeof(pid), "%lld", (long long)json_integer_value(p));
    json_t *h = json_object_get(s, "head");
    snprintf(head, sizeof(head), "-");
    if (json_is_integer(h))
        snprintf(head, sizeof(head), "%lld", (long long)json_integer_value(h));
    const char *fail = json_string_value(json_object_get(s, "last_failure"));
    const char *detail = json_string_value(json_object_get(s, "detail"));
    /* A failure is shown while it holds: a node that runs again (running, starting) has healed
     * it, and its detail, if any, is what is current. --json keeps last_failure. */
    const char *st = json_string_value(json_object_get(s, "state"));
    if (st && (!strcmp(st, "running") || !strcmp(st, "starting")))
        fail = NULL;
    if (st && !strcmp(st, "running") && detail && !strncmp(detail, "pid ", 4))
        detail = NULL; /* its head block is in HEAD, fresh; the detail was written when it came up */
    printf("%-8s %-12s %-8s %-8s %-8s %-10s %8lld %8lld  %s\n", name, json_string_value(json_object_get(s, "state")),
           fmt_dur(json_object_get(s, "since_s"), since, sizeof(since)), pid,
           fmt_dur(json_object_get(s, "uptime_s"), up, sizeof(up)), head,
           (long long)json_integer_value(json_object_get(s, "restarts")),
           (long long)json_integer_value(json_object_get(s, "restores")),
           fail && *fail ? fail : (detail && *detail ? detail : "-"));
}

int cmd_status(struct options *o)
{
    const sk_config_t *cf = cli_config();
    json_t *req = json_pack("{s:i,s:s}", "v", SK_CTL_VERSION, "cmd", "status"), *a = NULL;
    int rc = ask_daemon(cf, req, 10000, &a);
    if (rc == CLI_NO_DAEMON) {
        log_warnx("%s: no daemon is listening", cf->control_socket);
        return SK_EXIT_FAIL;
    }
    if (rc)
        return rc;
    if (o->json) {
        json_dumpf(a, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(a);
        return SK_EXIT_OK;
    }
    json_t *dm = json_object_get(a, "daemon");
    char up[32];
    printf("daemon pid %lld, up %s, %s; repository %s; restores running %lld, queued %lld\n\n",
           (long long)json_integer_value(json_object_get(dm, "pid")),
           fmt_dur(json_object_get(dm, "uptime_s"), up, sizeof(up)), json_string_value(json_object_get(dm, "config")),
           json_string_value(json_object_get(dm, "repository")),
           (long long)json_integer_value(json_object_get(dm, "restores_running")),
           (long long)json_integer_value(json_object_get(dm, "restores_queued")));
    printf("DETAIL: why a slot does not run (its current failure), or what it is doing; '-' when running well\n");
    printf("%-8s %-12s %-8s %-8s %-8s %-10s %8s %8s  %s\n", "SLOT", "STATE", "FOR", "PID", "UPTIME", "HEAD", "RESTARTS",
           "RESTORES", "DETAIL");
    json_t *ar = json_object_get(a, "archive");
    if (json_is_object(ar))
        print_slot(ar);
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(a, "slots"), i, s) print_slot(s);
    if (json_is_object(ar)) {
        json_t *cy = json_object_get(ar, "cycles");
        char nx[32];
        printf("\nsnapshot cycles (next in %s):\n", fmt_dur(json_object_get(ar, "next_cycle_in_s"), nx, sizeof(nx)));
        if (!json_array_size(cy))
            printf("  none yet\n");
        else
            printf("  %-20s %9s %9s %-6s %10s %10s  %s\n", "START", "DOWNTIME", "CYCLE", "PATH", "READ", "NEW",
                   "RESULT");
        json_array_foreach(cy, i, s)
        {
            char when[32], r[32], nw[32];
            time_t t = (time_t)json_integer_value(json_object_get(s, "start"));
            struct tm tm;
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
            const char *snap = json_string_value(json_object_get(s, "snapshot"));
            const char *fail = json_string_value(json_object_get(s, "failure"));
            const char *note = json_string_value(json_object_get(s, "note"));
            const char *path = json_string_value(json_object_get(s, "path"));
            printf("  %-20s %8.1fs %8.1fs %-6s %10s %10s  %s%s%s\n", when,
                   (double)json_integer_value(json_object_get(s, "downtime_ms")) / 1000.0,
                   (double)json_integer_value(json_object_get(s, "duration_ms")) / 1000.0, path && *path ? path : "-",
                   sk_fmt_bytes((uint64_t)json_integer_value(json_object_get(s, "bytes_read")), r, sizeof(r)),
                   sk_fmt_bytes((uint64_t)json_integer_value(json_object_get(s, "new_bytes")), nw, sizeof(nw)),
                   fail ? "FAILED: " : (snap ? snap : "-"), fail ? fail : "", note && *note && !fail ? "" : "");
            if (note && *note)
                printf("  %-20s %s\n", "", note);
        }
    }
    json_decref(a);
    return SK_EXIT_OK;
}

/*
 * slot_proc: a slot's node as a process. The node is started detached (its own
 * session) with its output on a pipe to a `slotkeeper log-writer` process, so
 * both live on when the daemon dies; a pid file (pid and process start time)
 * and two variables in the node's environment let the next daemon adopt it
 * instead of starting a second one on the same data-dir. An adopted node is not
 * our child: its exit shows through a pidfd (or a one-second poll). Every exit
 * is reported to the state machine (sk_slot_exited); after a failed start, the
 * check waits for the log-writer to write the node's last words.
 */
#include "daemon/slot_proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "slotkeeper/datadir.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/log.h"

/* ---- pid files ---- */

/* The start time of pid in clock ticks since boot (field 22 of /proc/PID/stat), 0 if there is no
 * such process or it has exited. */
static unsigned long long proc_start_time(pid_t pid)
{
    char p[64], buf[1024];
    snprintf(p, sizeof(p), "/proc/%ld/stat", (long)pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *e = strrchr(buf, ')');
    if (!e || e[1] != ' ')
        return 0;
    /* Field 3 is the state: a zombie (Z) or a dead task (X) has exited, and is nobody's node
     * to adopt or watch, though kill(pid, 0) still finds it until its parent reaps it (a
     * node whose daemon died is reaped by init, which may take its time). */
    if (e[2] == 'Z' || e[2] == 'X')
        return 0;
    /* after ") " come fields 3.. ; start time is field 22 */
    char *tok = e + 2;
    for (int field = 3; field < 22 && tok; field++) {
        tok = strchr(tok, ' ');
        if (tok)
            tok++;
    }
    return tok ? strtoull(tok, NULL, 10) : 0;
}

static void write_pid_file(sk_slot_t *s)
{
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%ld %llu\n", (long)s->v.pid, proc_start_time(s->v.pid));
    s->host->put_file(s->host->arg, s->pid_file, buf, (size_t)n);
}

static void remove_pid_file(sk_slot_t *s)
{
    s->host->put_file(s->host->arg, s->pid_file, NULL, 0);
}
/* ---- the node's process ---- */

static void watch_stop(sk_slot_t *s)
{
    if (s->pidfd_active) {
        uv_poll_stop(&s->pidfd_poll);
        s->pidfd_active = false;
        uv_close((uv_handle_t *)&s->pidfd_poll, sk_slot_handle_closed);
    }
    if (s->pidfd >= 0) {
        /* closed with the poll handle's close: the fd itself is ours */
        close(s->pidfd);
        s->pidfd = -1;
    }
    uv_timer_stop(&s->watch_timer);
}

static void node_gone(sk_slot_t *s, int64_t status, int term_signal)
{
    sk_slot_probe_stop(s);
    remove_pid_file(s);
    sk_slot_exited(s, status, term_signal);
}

static void on_node_exit(uv_process_t *p, int64_t status, int term_signal)
{
    sk_slot_t *s = p->data;
    s->proc_active = false;
    uv_close((uv_handle_t *)p, sk_slot_handle_closed);
    node_gone(s, status, term_signal);
}

/* The check after a failed start waits for the log-writer's last lines. */
static void logger_drained(sk_slot_t *s)
{
    if (!s->check_after_logger)
        return;
    uv_timer_stop(&s->watch_timer);
    sk_slot_log_drained(s);
}

static void on_logger_wait_over(uv_timer_t *t)
{
    logger_drained(t->data);
}

static void on_logger_exit(uv_process_t *p, int64_t status, int term_signal)
{
    sk_logger_t *lg = (sk_logger_t *)p;
    sk_slot_t *s = lg->slot;
    if (status || term_signal)
        log_warnx("%s: log-writer for %s exited (status %" PRId64 ", signal %d)", s->v.name, s->log_file, status,
                  term_signal);
    for (sk_logger_t **pp = &s->loggers; *pp; pp = &(*pp)->next)
        if (*pp == lg) {
            *pp = lg->next;
            break;
        }
    bool current = s->logger == lg;
    uv_close((uv_handle_t *)p, sk_slot_logger_closed);
    /* An earlier run's log-writer finishing says nothing about this run's. */
    if (current) {
        s->logger = NULL;
        s->logger_active = false;
        logger_drained(s);
    }
}

/* An adopted node is not our child: its exit shows as its pidfd becoming readable (or, on
 * kernels without pidfd_open, as kill(pid, 0) failing or the process turning zombie, on a one-second poll). */
static void adopted_exited(sk_slot_t *s)
{
    watch_stop(s);
    node_gone(s, -1, 0);
}

static void on_pidfd(uv_poll_t *h, int status, int events)
{
    adopted_exited(h->data);
}

static void on_watch_timer(uv_timer_t *t)
{
    sk_slot_t *s = t->data;
    if (s->v.pid > 0 && ((kill(s->v.pid, 0) < 0 && errno == ESRCH) || proc_start_time(s->v.pid) == 0))
        adopted_exited(s);
}

static int watch_adopted(sk_slot_t *s)
{
#ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, s->v.pid, 0);
    if (fd >= 0) {
        if (uv_poll_init(s->host->loop, &s->pidfd_poll, fd) == 0) {
            s->pidfd = fd;
            s->pidfd_poll.data = s;
            s->open_handles++;
            s->pidfd_active = true;
            uv_poll_start(&s->pidfd_poll, UV_READABLE, on_pidfd);
            return 0;
        }
        close(fd);
    }
#endif
    uv_timer_start(&s->watch_timer, on_watch_timer, 1000, 1000);
    return 0;
}

void sk_slot_signal_node(sk_slot_t *s, int sig)
{
    if (s->proc_active)
        uv_process_kill(&s->proc, sig);
    else if (s->v.pid > 0)
        kill(s->v.pid, sig);
}

/* Starts the node with its output through a log-writer process. */
int sk_slot_spawn_node(sk_slot_t *s)
{
    uv_loop_t *loop = s->host->loop;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", s->log_file);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        sk_mkdir_p(dir, 0755);
    }
    char max[32], keep[16];
    snprintf(max, sizeof(max), "%" PRIu64, sk_slot_cfg(s)->log_max_size);
    snprintf(keep, sizeof(keep), "%u", sk_slot_cfg(s)->log_keep);
    char *largv[] = {(char *)s->host->exe, "log-writer", s->log_file, max, keep, NULL};
    uv_stdio_container_t lstdio[3] = {
        {.flags = UV_INHERIT_FD, .data.fd = fds[0]},
        {.flags = UV_IGNORE},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
    };
    uv_process_options_t lo = {
        .exit_cb = on_logger_exit,
        .file = (char *)s->host->exe,
        .args = largv,
        .stdio_count = 3,
        .stdio = lstdio,
        .flags = UV_PROCESS_DETACHED,
    };
    /* A handle of its own: the previous run's log-writer may still be running (see sk_logger_t). */
    sk_logger_t *lg = calloc(1, sizeof(*lg));
    if (!lg) {
        close(fds[0]);
        close(fds[1]);
        return -ENOMEM;
    }
    lg->slot = s;
    lg->proc.data = s;
    int rc = uv_spawn(loop, &lg->proc, &lo);
    s->open_handles++;
    if (rc < 0) {
        uv_close((uv_handle_t *)&lg->proc, sk_slot_logger_closed);
        close(fds[0]);
        close(fds[1]);
        return rc;
    }
    lg->next = s->loggers;
    s->loggers = s->logger = lg;
    s->logger_active = true;
    close(fds[0]);

    /* Where this run's output starts in the log (the node has not written anything yet). */
    struct stat lst;
    s->log_offset = stat(s->log_file, &lst) == 0 ? (uint64_t)lst.st_size : 0;
    /* The node carries its slot and its daemon's state folder in its environment, so that a
     * daemon restarted before this one wrote the pid file still knows the node as its own. */
    char slotvar[32], ownervar[PATH_MAX + 32];
    snprintf(slotvar, sizeof(slotvar), "SLOTKEEPER_SLOT=%u", s->v.num);
    snprintf(ownervar, sizeof(ownervar), "SLOTKEEPER_DAEMON=%s", sk_slot_cfg(s)->state_dir);
    extern char **environ;
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 3, sizeof(char *));
    if (!env) {
        close(fds[1]);
        return -ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "SLOTKEEPER_SLOT=", 16) && strncmp(environ[i], "SLOTKEEPER_DAEMON=", 18))
            env[k++] = environ[i];
    env[k++] = slotvar;
    env[k++] = ownervar;
    env[k] = NULL;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_INHERIT_FD, .data.fd = fds[1]},
        {.flags = UV_INHERIT_FD, .data.fd = fds[1]},
    };
    uv_process_options_t po = {
        .exit_cb = on_node_exit,
        .file = s->argv[0],
        .args = s->argv,
        .env = env,
        .stdio_count = 3,
        .stdio = stdio,
        .flags = UV_PROCESS_DETACHED,
    };
    s->proc.data = s;
    rc = uv_spawn(loop, &s->proc, &po);
    s->open_handles++;
    free(env);
    close(fds[1]);
    if (rc < 0) {
        uv_close((uv_handle_t *)&s->proc, sk_slot_handle_closed);
        return rc;
    }
    s->proc_active = true;
    s->v.pid = s->proc.pid;
    s->v.adopted = false;
    s->killed = false;
    s->v.started_at = sk_now();
    write_pid_file(s);
    return 0;
}

/* True if pid's environment says it is this slot's node, started by a daemon on this
 * state_dir (see sk_slot_spawn_node). */
static bool env_says_ours(const sk_slot_t *s, pid_t pid)
{
    char p[64], want_slot[32], want_owner[PATH_MAX + 32];
    snprintf(p, sizeof(p), "/proc/%ld/environ", (long)pid);
    snprintf(want_slot, sizeof(want_slot), "SLOTKEEPER_SLOT=%u", s->v.num);
    snprintf(want_owner, sizeof(want_owner), "SLOTKEEPER_DAEMON=%s", sk_slot_cfg(s)->state_dir);
    /* /proc files report size 0: read until end of file. */
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    while (buf && len < cap) {
        ssize_t got = read(fd, buf + len, cap - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    if (!buf || len == 0) {
        free(buf);
        return false;
    }
    bool slot = false, owner = false;
    for (size_t i = 0; i < len;) {
        const char *e = buf + i;
        size_t n = strnlen(e, len - i);
        slot |= n == strlen(want_slot) && !memcmp(e, want_slot, n);
        owner |= n == strlen(want_owner) && !memcmp(e, want_owner, n);
        i += n + 1;
    }
    free(buf);
    return slot && owner;
}

/* The process that is this slot's node by its environment, when no pid file names it: the
 * earliest started of those whose environment says so (a node's own children inherit it), or 0.
 * A daemon killed between starting a node and writing its pid file leaves only this. */
static pid_t find_ours(const sk_slot_t *s)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    pid_t best = 0;
    unsigned long long best_start = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0 || (pid_t)pid == getpid())
            continue;
        unsigned long long start = proc_start_time((pid_t)pid);
        if (!start || (best && start >= best_start) || !env_says_ours(s, (pid_t)pid))
            continue;
        best = (pid_t)pid;
        best_start = start;
    }
    closedir(d);
    return best;
}

bool sk_slot_adopt(sk_slot_t *s)
{
    char *buf;
    size_t len;
    long pid = 0;
    unsigned long long start = 0;
    int n = 0;
    if (sk_read_file_at(AT_FDCWD, s->pid_file, 256, &buf, &len) == 0) {
        n = sscanf(buf, "%ld %llu", &pid, &start);
        free(buf);
    }
    if (n != 2 || pid <= 0 || proc_start_time((pid_t)pid) != start || start == 0) {
        if (n)
            remove_pid_file(s);
        /* No pid file (a daemon that died between starting the node and writing it): the
         * holder of the state lock is ours if its environment says so; a node that has not
         * taken the lock yet (still starting) is found by its environment alone. */
        sk_datadir_report_t r0;
        sk_err_t e0;
        sk_err_clear(&e0);
        if (s->v.external || sk_datadir_check(s->v.data_dir, &(sk_check_opts_t){0}, &r0, &e0) < 0)
            return false;
        if (r0.verdict == SK_VERDICT_RUNNING)
            pid = r0.lock_pid > 0 && env_says_ours(s, r0.lock_pid) ? r0.lock_pid : 0;
        else
            pid = find_ours(s);
        if (pid <= 0)
            return false;
        s->v.pid = (pid_t)pid;
        write_pid_file(s);
        s->v.pid = 0;
    }
    /* Only a node that still holds its data-dir's state lock is ours to adopt. */
    sk_datadir_report_t r;
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_datadir_check(s->v.data_dir, &(sk_check_opts_t){0}, &r, &err) == 0 && r.verdict == SK_VERDICT_RUNNING &&
        r.lock_pid != (pid_t)pid) {
        log_warnx("%s: pid file names %ld but %s is locked by %ld; not adopting", s->v.name, pid, s->v.data_dir,
                  (long)r.lock_pid);
        return false;
    }
    s->v.pid = (pid_t)pid;
    s->v.adopted = true;
    s->v.started_at = sk_now();
    watch_adopted(s);
    sk_slot_probe_start(s);
    log_info("%s: found its node running as pid %ld; adopted it", s->v.name, pid);
    sk_slot_set_state(s, s->health_url[0] ? SK_SLOT_STARTING : SK_SLOT_RUNNING, "adopted pid %ld", pid);
    if (!s->health_url[0])
        sk_slot_stop_timer(s);
    else
        sk_slot_start_timer(s, sk_slot_cfg(s)->startup_grace_ms);
    return true;
}

bool sk_slot_await_log(sk_slot_t *s)
{
    if (!s->logger_active)
        return false;
    uv_timer_start(&s->watch_timer, on_logger_wait_over, 2000, 0);
    return true;
}

/*
 * slot: one supervised node and its state machine (see slot.h). The table at
 * the end says, for every state and event, which action runs; an event a state
 * does not expect is logged at debug level and dropped. Actions start
 * processes, timers, probes and thread-pool jobs; each of those comes back as
 * another event. Jobs carry the slot's generation, so the result of a check
 * that an operator's stop made moot is dropped; restores and snapshots are
 * never dropped (they change the disk) and a stop waits for them.
 */
#include "daemon/slot.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "slotkeeper/chainid.h"
#include "daemon/daemon.h"
#include "slotkeeper/facts.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/log.h"
#include "daemon/logwriter.h"
#include "daemon/metrics.h"
#include "slotkeeper/prune.h"
#include "slotkeeper/repo.h"
#include "slotkeeper/restore.h"
#include "slotkeeper/snapshot.h"
#include "daemon/statefile.h"
#include "slotkeeper/verify.h"

/* nodeos's exit codes for "cannot start on this data" (nodeos-facts.md section 2). */
#define NODEOS_DATABASE_DIRTY 2
#define NODEOS_OTHER_FAIL     254
/* Checks in a row that may fail to read a data-dir (an I/O error, not a verdict) before the slot is failed. */
#define SK_CHECK_ATTEMPTS 3

static const char *const state_names[SK_SLOT_NSTATES] = {
    "stopped", "checking", "starting",  "running",      "stopping",
    "backoff", "queued",   "restoring", "snapshotting", "failed",
};
static const char *const event_names[SK_EV_COUNT] = {
    "start", "stop",       "restore",  "cycle",       "checked", "exit",
    "timer", "restore-go", "restored", "snapshotted", "healthy", "unhealthy",
};

/* The last lines of a node's log that mean its data is damaged (nodeos-facts.md). The first
 * ones say the state was made by another build: its own environment is then no guide to
 * which snapshot fits. */
#define ENV_MESSAGES 4
static const char *const corruption_messages[] = {
    "Database incompatible",
    "created by a different compiler",
    "from a different environment",
    "database format not compatible",
    "atabase dirty flag set",
    "database metadata dirty flag set",
    "Database must be mulitple of",
    "content of memory does not match",
    "Failed to read DB header",
    "Block log was not setup properly",
    "Unsupported version of block log",
    "Expected separator between block log header",
    "does not match the last block postion",
    "Invalid block position",
    "No existing fork database despite existing chain state",
    "No existing chain_head.dat file",
    "basic_ios::clear: iostream error",
    "Append to index file occuring at wrong position",
    NULL,
};

const char *const sk_restore_reason_names[SK_REASON_COUNT] = {
    "clean", "running", "dirty", "incompatible", "corrupt", "missing", "restoring", "log", "operator", "killed",
};

const char *sk_slot_state_name(sk_slot_state_t st)
{
    return st < SK_SLOT_NSTATES ? state_names[st] : "?";
}

static const sk_config_t *cfg(const sk_slot_t *s)
{
    return &s->d->cfg;
}

static void set_state(sk_slot_t *s, sk_slot_state_t st, const char *fmt, ...) SK_PRINTF(3, 4);
static void set_state(sk_slot_t *s, sk_slot_state_t st, const char *fmt, ...)
{
    sk_slot_state_t old = s->state;
    s->state = st;
    if (old != st)
        s->state_since = sk_now();
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->detail, sizeof(s->detail), fmt, ap);
        va_end(ap);
    } else {
        s->detail[0] = '\0';
    }
    if (old != st)
        log_debug("%s: %s -> %s%s%s", s->name, state_names[old], state_names[st], s->detail[0] ? ": " : "", s->detail);
    sk_daemon_slot_changed(s->d, s);
}

static void fail_note(sk_slot_t *s, const char *fmt, ...) SK_PRINTF(2, 3);
static void fail_note(sk_slot_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->last_failure, sizeof(s->last_failure), fmt, ap);
    va_end(ap);
}

/* ---- handles ---- */

static void on_handle_closed(uv_handle_t *h)
{
    sk_slot_t *s = h->data;
    if (--s->open_handles == 0 && s->closing) {
        free(s->restore_times);
        free(s->command);
        free(s->argv);
        free(s);
    }
}

static void on_timer(uv_timer_t *t)
{
    sk_slot_event(t->data, SK_EV_TIMER);
}

static void start_timer(sk_slot_t *s, uint64_t ms)
{
    uv_timer_start(&s->timer, on_timer, ms, 0);
}

static void stop_timer(sk_slot_t *s)
{
    uv_timer_stop(&s->timer);
}

/* ---- command lines ---- */

/* Splits a command line into words: blanks separate, '...' and "..." quote, \ escapes one
 * character outside single quotes. No other shell syntax. NULL on an unbalanced quote. */
static char **split_command(const char *cmd, char **storage)
{
    size_t n = strlen(cmd);
    char *buf = malloc(n + 1);
    char **argv = calloc(n / 2 + 2, sizeof(char *));
    if (!buf || !argv)
        goto bad;
    size_t argc = 0, o = 0;
    const char *p = cmd;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        argv[argc++] = buf + o;
        char q = 0;
        for (; *p; p++) {
            if (q) {
                if (*p == q)
                    q = 0;
                else if (*p == '\\' && q == '"' && p[1])
                    buf[o++] = *++p;
                else
                    buf[o++] = *p;
            } else if (*p == '\'' || *p == '"') {
                q = *p;
            } else if (*p == '\\' && p[1]) {
                buf[o++] = *++p;
            } else if (*p == ' ' || *p == '\t') {
                break;
            } else {
                buf[o++] = *p;
            }
        }
        if (q)
            goto bad;
        buf[o++] = '\0';
    }
    if (argc == 0)
        goto bad;
    argv[argc] = NULL;
    *storage = buf;
    return argv;
bad:
    free(buf);
    free(argv);
    return NULL;
}

static int expand_slot(const sk_config_t *c, unsigned num, sk_slot_t *s, char **argv_buf)
{
    const char *cmd = num ? c->worker_command : c->archive_command;
    const char *dd = num ? c->worker_data_dir : c->archive_data_dir;
    char tmp[8192];
    if (num) {
        if (sk_config_expand(c, dd, num, s->data_dir, sizeof(s->data_dir)) < 0)
            return -ENAMETOOLONG;
    } else {
        snprintf(s->data_dir, sizeof(s->data_dir), "%s", dd);
    }
    /* The expansion of {data_dir} in the templates is the slot's (the archival node's for 0). */
    if (num) {
        if (sk_config_expand(c, cmd, num, tmp, sizeof(tmp)) < 0)
            return -ENAMETOOLONG;
    } else {
        /* Slot 0's {data_dir} is the archive's: expand by hand. */
        const char *p = cmd;
        size_t o = 0;
        while (*p && o + 1 < sizeof(tmp)) {
            if (!strncmp(p, "{data_dir}", 10)) {
                o += (size_t)snprintf(tmp + o, sizeof(tmp) - o, "%s", s->data_dir);
                p += 10;
            } else {
                tmp[o++] = *p++;
            }
        }
        if (o + 1 >= sizeof(tmp))
            return -ENAMETOOLONG;
        tmp[o] = '\0';
    }
    free(s->command);
    s->command = strdup(tmp);
    if (!s->command)
        return -ENOMEM;
    free(s->argv);
    s->argv = NULL;
    s->external = num > 0 && !tmp[0];
    if (!s->external) {
        s->argv = split_command(tmp, argv_buf);
        if (!s->argv)
            return -EINVAL;
    }
    if (num && c->health_url[0]) {
        if (sk_config_expand(c, c->health_url, num, s->health_url, sizeof(s->health_url)) < 0)
            return -ENAMETOOLONG;
    } else {
        s->health_url[0] = '\0';
    }
    char lf[PATH_MAX];
    if (num) {
        if (sk_config_expand(c, c->log_file, num, lf, sizeof(lf)) < 0)
            return -ENAMETOOLONG;
    } else {
        snprintf(lf, sizeof(lf), "%s/nodeos.log", s->data_dir);
    }
    snprintf(s->log_file, sizeof(s->log_file), "%s", lf);
    if (num)
        snprintf(s->pid_file, sizeof(s->pid_file), "%s/slot-%u.pid", c->state_dir, num);
    else
        snprintf(s->pid_file, sizeof(s->pid_file), "%s/archive.pid", c->state_dir);
    snprintf(s->include, sizeof(s->include), "%s", c->archive_include);
    return 0;
}

/* Writes path (a file directly in state_dir) atomically, or logs why it could not. */
/* Pid and budget files are written on the thread pool, in order (statefile.h). */
static void write_state_file(const sk_slot_t *s, const char *path, const void *buf, size_t len)
{
    sk_statefile_put(s->d->statefiles, path, buf, len);
}

/* The restore budget outlives the daemon: a daemon that restarts (or crash-loops) must not
 * get a fresh budget each time. state_dir/slot-N.restores holds the wall-clock times of the
 * restores counted in the current window, one per line. */
static void budget_path(const sk_slot_t *s, const sk_config_t *c, char *out, size_t len)
{
    if (s->num)
        snprintf(out, len, "%s/slot-%u.restores", c->state_dir, s->num);
    else
        snprintf(out, len, "%s/archive.restores", c->state_dir);
}

static void load_budget(sk_slot_t *s, const sk_config_t *c)
{
    char p[PATH_MAX], *buf;
    size_t len;
    budget_path(s, c, p, sizeof(p));
    if (!s->restore_times || sk_read_file_at(AT_FDCWD, p, 65536, &buf, &len) < 0)
        return;
    double now = (double)time(NULL), window = (double)c->restore_window_ms / 1000.0;
    for (char *save, *t = strtok_r(buf, "\n", &save); t && s->nrestore_times < c->restore_budget + 1;
         t = strtok_r(NULL, "\n", &save)) {
        char *end;
        double v = strtod(t, &end);
        if (end != t && v <= now && now - v < window)
            s->restore_times[s->nrestore_times++] = v;
    }
    free(buf);
}

static void save_budget(sk_slot_t *s)
{
    char p[PATH_MAX], buf[16384];
    size_t o = 0;
    for (unsigned i = 0; i < s->nrestore_times && o + 32 < sizeof(buf); i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%.0f\n", s->restore_times[i]);
    budget_path(s, cfg(s), p, sizeof(p));
    write_state_file(s, p, buf, o);
}

json_t *sk_cycle_json(const sk_cycle_t *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "start", json_integer(c->start));
    json_object_set_new(o, "downtime_ms", json_integer((json_int_t)c->downtime_ms));
    json_object_set_new(o, "duration_ms", json_integer((json_int_t)c->duration_ms));
    json_object_set_new(o, "bytes_read", json_integer((json_int_t)c->bytes_read));
    json_object_set_new(o, "new_bytes", json_integer((json_int_t)c->new_bytes));
    json_object_set_new(o, "snapshot", c->id[0] && !c->failure[0] ? json_string(c->id) : json_null());
    json_object_set_new(o, "failure", c->failure[0] ? json_string(c->failure) : json_null());
    json_object_set_new(o, "note", json_string(c->note));
    return o;
}

/* The archival node's last cycles outlive the daemon, so that `status` shows them after a
 * restart: state_dir/archive.cycles, one sk_cycle_json object a line, oldest first. */
static void cycles_path(const sk_config_t *c, char *out, size_t len)
{
    snprintf(out, len, "%s/archive.cycles", c->state_dir);
}

static void save_cycles(sk_slot_t *s)
{
    char p[PATH_MAX];
    sk_mbuf_t b = {0};
    unsigned n = s->ncycles < SK_CYCLES_KEPT ? s->ncycles : SK_CYCLES_KEPT;
    for (unsigned i = 0; i < n && !b.failed; i++) {
        json_t *o = sk_cycle_json(&s->cycles[(s->ncycles - n + i) % SK_CYCLES_KEPT]);
        char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (line)
            sk_mbuf_printf(&b, "%s\n", line);
        else
            b.failed = 1;
        free(line);
    }
    cycles_path(cfg(s), p, sizeof(p));
    if (b.failed) /* the file keeps the cycles it had rather than lose some */
        log_warnx("%s: cannot write: out of memory", p);
    else
        write_state_file(s, p, b.len ? b.data : "", b.len);
    free(b.data);
}

static void copy_json_string(char *out, size_t len, json_t *v)
{
    snprintf(out, len, "%s", json_is_string(v) ? json_string_value(v) : "");
}

/* Lines that do not parse are skipped: the file only feeds the status. */
static void load_cycles(sk_slot_t *s, const sk_config_t *c)
{
    char p[PATH_MAX], *buf;
    size_t len;
    cycles_path(c, p, sizeof(p));
    int rc = sk_read_file_at(AT_FDCWD, p, 1 << 20, &buf, &len);
    if (rc < 0) {
        if (rc != -ENOENT)
            log_warnx("%s: %s; the status starts without earlier cycles", p, strerror(-rc));
        return;
    }
    unsigned skipped = 0;
    for (char *save, *t = strtok_r(buf, "\n", &save); t; t = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(t, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(o) || !json_is_integer(json_object_get(o, "start"))) {
            json_decref(o);
            skipped++;
            continue;
        }
        sk_cycle_t *x = &s->cycles[s->ncycles % SK_CYCLES_KEPT];
        memset(x, 0, sizeof(*x));
        x->start = (int64_t)json_integer_value(json_object_get(o, "start"));
        x->downtime_ms = (uint64_t)json_integer_value(json_object_get(o, "downtime_ms"));
        x->duration_ms = (uint64_t)json_integer_value(json_object_get(o, "duration_ms"));
        x->bytes_read = (uint64_t)json_integer_value(json_object_get(o, "bytes_read"));
        x->new_bytes = (uint64_t)json_integer_value(json_object_get(o, "new_bytes"));
        copy_json_string(x->id, sizeof(x->id), json_object_get(o, "snapshot"));
        copy_json_string(x->failure, sizeof(x->failure), json_object_get(o, "failure"));
        copy_json_string(x->note, sizeof(x->note), json_object_get(o, "note"));
        json_decref(o);
        s->ncycles++;
    }
    free(buf);
    if (skipped)
        log_warnx("%s: %u unreadable line(s) skipped (the status shows the other cycles)", p, skipped);
}

sk_slot_t *sk_slot_new(struct sk_daemon *d, unsigned num, const sk_config_t *c)
{
    sk_slot_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->d = d;
    s->num = num;
    s->archive = num == 0;
    s->pidfd = -1;
    if (num)
        snprintf(s->name, sizeof(s->name), "slot %u", num);
    else
        snprintf(s->name, sizeof(s->name), "archive");
    char *words = NULL;
    int rc = expand_slot(c, num, s, &words);
    if (rc < 0) {
        log_warnx("%s: %s: %s", c->path, s->name,
                  rc == -EINVAL ? "command line is empty or has an unbalanced quote" : "a template is too long");
        free(words);
        free(s->command);
        free(s->argv);
        free(s);
        return NULL;
    }
    /* Keep the words with the argv: put the buffer pointer after the NULL terminator. */
    if (s->argv) {
        size_t argc = 0;
        while (s->argv[argc])
            argc++;
        char **grown = realloc(s->argv, (argc + 2) * sizeof(char *));
        if (!grown) {
            free(words);
            free(s->command);
            free(s->argv);
            free(s);
            return NULL;
        }
        s->argv = grown;
        s->argv[argc + 1] = words;
    }
    s->restore_times = calloc(c->restore_budget + 1, sizeof(double));
    load_budget(s, c);
    if (s->archive)
        load_cycles(s, c);
    s->backoff_ms = c->backoff_min_ms;
    s->state = SK_SLOT_STOPPED;
    s->state_since = sk_now();
    uv_timer_init(d->loop, &s->timer);
    uv_timer_init(d->loop, &s->health_timer);
    uv_timer_init(d->loop, &s->watch_timer);
    s->timer.data = s->health_timer.data = s->watch_timer.data = s;
    s->open_handles = 3;
    return s;
}

static void free_words(sk_slot_t *s)
{
    if (!s->argv)
        return;
    size_t argc = 0;
    while (s->argv[argc])
        argc++;
    free(s->argv[argc + 1]);
}

bool sk_slot_changed(const sk_slot_t *s, const sk_config_t *c)
{
    sk_slot_t tmp;
    memset(&tmp, 0, sizeof(tmp));
    tmp.num = s->num;
    char *words = NULL;
    int rc = expand_slot(c, s->num, &tmp, &words);
    bool changed = rc < 0 || strcmp(tmp.command, s->command) || strcmp(tmp.data_dir, s->data_dir) ||
                   strcmp(tmp.log_file, s->log_file) || strcmp(tmp.health_url, s->health_url) ||
                   strcmp(tmp.pid_file, s->pid_file);
    free(words);
    free(tmp.command);
    free(tmp.argv);
    return changed;
}

bool sk_slot_idle(const sk_slot_t *s)
{
    return !s->job_busy && !s->proc_active && !s->pidfd_active && s->pid == 0 &&
           (s->state == SK_SLOT_STOPPED || s->state == SK_SLOT_FAILED);
}

static void close_handle(sk_slot_t *s, uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_handle_closed);
    (void)s;
}

void sk_slot_free(sk_slot_t *s)
{
    if (!s)
        return;
    if (s->probe) {
        sk_health_cancel(s->probe);
        s->probe = NULL;
    }
    s->closing = true;
    free_words(s);
    close_handle(s, (uv_handle_t *)&s->timer);
    close_handle(s, (uv_handle_t *)&s->health_timer);
    close_handle(s, (uv_handle_t *)&s->watch_timer);
    if (s->logger_active) {
        /* The log-writer lives on by itself; we only let go of the handle. */
        s->logger_active = false;
        close_handle(s, (uv_handle_t *)&s->logger);
    }
}

const sk_cycle_t *sk_slot_last_cycle(const sk_slot_t *s)
{
    return s->ncycles ? &s->cycles[(s->ncycles - 1) % SK_CYCLES_KEPT] : NULL;
}

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
    int n = snprintf(buf, sizeof(buf), "%ld %llu\n", (long)s->pid, proc_start_time(s->pid));
    write_state_file(s, s->pid_file, buf, (size_t)n);
}

static void remove_pid_file(sk_slot_t *s)
{
    sk_statefile_put(s->d->statefiles, s->pid_file, NULL, 0);
}

/* ---- jobs on the thread pool ---- */

enum job_kind { JOB_CHECK, JOB_RESTORE, JOB_SNAPSHOT, JOB_AFTER_CYCLE };

struct job {
    uv_work_t w;
    sk_slot_t *s;
    unsigned gen;
    enum job_kind kind;
    /* inputs */
    char data_dir[PATH_MAX], log_file[PATH_MAX], repo[PATH_MAX], snapshot[SK_ID_MAX];
    char include[256];
    bool read_log;
    uint64_t log_offset;
    bool ignore_env;
    int threads, level;
    unsigned keep, keep_last;
    bool quarantine_delete;
    uint64_t lock_wait_ms;
    char chain_dir[PATH_MAX]; /* a worker's restore: the archive's data-dir, whose chain it follows */
    /* outputs */
    int rc;
    sk_err_t err;
    sk_verdict_t verdict;
    char reason[512];
    pid_t lock_pid;
    bool state_present;
    bool log_corrupt, log_env;
    char id[SK_ID_MAX];
    uint64_t bytes_read, new_bytes;
    char note[160];
};

/* The last len-1 bytes the node wrote to its log since offset (where the log ended when it
 * started), NUL-terminated: only this run's lines count. A log rotated since is read whole. */
static ssize_t log_since(const char *path, uint64_t offset, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return -errno;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < offset)
        offset = 0;
    uint64_t from = size - offset > len - 1 ? size - (len - 1) : offset;
    ssize_t n = sk_pread_full(fd, buf, (size_t)(size - from), (off_t)from);
    close(fd);
    if (n < 0)
        return n;
    buf[n] = '\0';
    return n;
}

static void job_check(struct job *j)
{
    sk_datadir_report_t r;
    if (sk_datadir_check(j->data_dir, &(sk_check_opts_t){0}, &r, &j->err) < 0) {
        j->rc = j->err.code;
        return;
    }
    j->verdict = r.verdict;
    snprintf(j->reason, sizeof(j->reason), "%s", r.reason);
    j->lock_pid = r.lock_pid;
    j->state_present = r.state.present;
    if (j->read_log) {
        char tail[4096];
        if (log_since(j->log_file, j->log_offset, tail, sizeof(tail)) > 0)
            for (int i = 0; corruption_messages[i]; i++)
                if (strstr(tail, corruption_messages[i])) {
                    j->log_corrupt = true;
                    j->log_env = i < ENV_MESSAGES;
                    snprintf(j->reason, sizeof(j->reason), "its log says \"%s\"", corruption_messages[i]);
                    break;
                }
    }
}

static void job_restore(struct job *j)
{
    char state[PATH_MAX];
    unsigned char env[SK_STATE_ENV_SIZE];
    char env_hex[2 * SK_STATE_ENV_SIZE + 1];
    const char *require = NULL;
    sk_path_join(state, sizeof(state), j->data_dir, "state/shared_memory.bin");
    sk_err_t e2;
    sk_err_clear(&e2);
    /* The slot's own state says which environment its node runs in, unless that state is the
     * problem (incompatible): then any good snapshot, the newest, is the best guess. */
    if (!j->ignore_env && sk_state_read_env(state, env, &e2) == 0) {
        sk_env_to_hex(env, env_hex);
        require = env_hex;
    }
    /* A worker with no chain of its own (no block log, no genesis.json) follows the archive's;
     * one whose own chain differs is refused by the restore (invariant 11). */
    char chain[SK_CHAIN_ID_HEX] = "", own[SK_CHAIN_ID_HEX];
    if (j->chain_dir[0] && sk_chainid_of_datadir(j->data_dir, own, NULL, &e2) < 0 &&
        sk_chainid_of_datadir(j->chain_dir, chain, NULL, &e2) < 0)
        chain[0] = '\0';
    sk_repo_t *repo;
    j->rc = sk_repo_open(j->repo, SK_LOCK_SHARED, j->lock_wait_ms, "daemon restore", &repo, &j->err);
    if (j->rc < 0)
        return;
    /* A snapshot found damaged mid-restore is marked bad by the restore; the next older good
     * one is tried then, a few times at most. */
    for (int attempt = 0; attempt < 4; attempt++) {
        sk_restore_opts_t ro = {
            .data_dir = j->data_dir,
            .snapshot = j->snapshot[0] ? j->snapshot : "latest",
            .threads = j->threads,
            .keep = j->keep,
            .quarantine_delete = j->quarantine_delete,
            .require_env = require,
            .chain_id = chain[0] ? chain : NULL,
        };
        sk_restore_result_t res;
        sk_err_clear(&j->err);
        j->rc = sk_restore(repo, &ro, NULL, &res, &j->err);
        if (j->rc == 0) {
            snprintf(j->id, sizeof(j->id), "%s", res.id);
            j->bytes_read = res.data_bytes;
            break;
        }
        if (j->rc != -EBADMSG || j->snapshot[0])
            break;
        log_warnx("%s: %s; trying the next older good snapshot", j->err.path, j->err.msg);
    }
    sk_repo_close(repo);
}

static void split_list(char *buf, const char **out, size_t *n, size_t max)
{
    *n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok && *n < max; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (*tok)
            out[(*n)++] = tok;
    }
}

static void job_snapshot(struct job *j)
{
    /* The data-dir lock (shared) from the check to the published snapshot: no restore can
     * change the data-dir between the two. */
    int lockfd = -1;
    j->rc = sk_datadir_lock(j->data_dir, false, &lockfd, &j->err);
    if (j->rc < 0)
        return;
    sk_datadir_report_t r;
    if (sk_datadir_check(j->data_dir, &(sk_check_opts_t){0}, &r, &j->err) < 0) {
        j->rc = j->err.code;
        close(lockfd);
        return;
    }
    if (r.verdict != SK_VERDICT_CLEAN) {
        j->verdict = r.verdict;
        j->rc = sk_err_set(&j->err, r.verdict == SK_VERDICT_RUNNING ? -EBUSY : -EUCLEAN, j->data_dir,
                           "%s: %s; nothing published", sk_verdict_name(r.verdict), r.reason);
        close(lockfd);
        return;
    }
    sk_facts_t fs;
    sk_facts_from_check(&fs, j->data_dir, &r);
    sk_repo_t *repo;
    j->rc = sk_repo_open(j->repo, SK_LOCK_SHARED, j->lock_wait_ms, "daemon snapshot", &repo, &j->err);
    if (j->rc < 0) {
        close(lockfd);
        return;
    }
    sk_repo_sweep(repo);
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", j->include);
    const char *inc[16];
    size_t ninc;
    split_list(buf, inc, &ninc, 16);
    sk_snapshot_opts_t so = {
        .data_dir = j->data_dir,
        .include = inc,
        .ninclude = ninc,
        .threads = j->threads,
        .level = j->level,
        .facts = fs.f,
        .nfacts = fs.n,
    };
    sk_snapshot_result_t res;
    j->rc = sk_snapshot_create(repo, &so, NULL, &res, &j->err);
    sk_repo_close(repo);
    close(lockfd);
    if (j->rc == 0) {
        snprintf(j->id, sizeof(j->id), "%s", res.id);
        j->bytes_read = res.data_bytes;
        j->new_bytes = res.new_bytes;
    }
}

/* After a cycle, with the node running again: verify the new snapshot, then prune. */
static void job_after_cycle(struct job *j)
{
    sk_repo_t *repo;
    j->rc = sk_repo_open(j->repo, SK_LOCK_SHARED, j->lock_wait_ms, "daemon verify", &repo, &j->err);
    if (j->rc < 0)
        return;
    const char *ids[1] = {j->id};
    sk_verify_report_t vr;
    j->rc = sk_verify(repo, ids, 1, j->threads, NULL, &vr, &j->err);
    sk_repo_close(repo);
    if (j->rc < 0)
        return;
    bool ok = vr.n == 1 && vr.snaps[0].ok;
    if (!ok)
        snprintf(j->note, sizeof(j->note), "verify: %s", vr.n ? vr.snaps[0].reason : "not found");
    sk_verify_report_free(&vr);
    if (!ok) {
        j->rc = -EBADMSG;
        return;
    }
    j->rc = sk_repo_open(j->repo, SK_LOCK_EXCLUSIVE, j->lock_wait_ms, "daemon prune", &repo, &j->err);
    if (j->rc < 0) {
        snprintf(j->note, sizeof(j->note), "verified; prune skipped: %s", j->err.msg);
        j->rc = 0;
        return;
    }
    sk_prune_result_t pr;
    j->rc = sk_prune(repo, j->keep_last, &pr, &j->err);
    sk_repo_close(repo);
    if (j->rc == 0) {
        snprintf(j->note, sizeof(j->note), "verified; pruned %zu snapshots", pr.nremoved);
        sk_prune_result_free(&pr);
    } else {
        snprintf(j->note, sizeof(j->note), "verified; prune failed: %s", j->err.msg);
        j->rc = 0;
    }
}

static void on_job(uv_work_t *w)
{
    struct job *j = w->data;
    sk_err_clear(&j->err);
    switch (j->kind) {
    case JOB_CHECK:
        job_check(j);
        break;
    case JOB_RESTORE:
        job_restore(j);
        break;
    case JOB_SNAPSHOT:
        job_snapshot(j);
        break;
    case JOB_AFTER_CYCLE:
        job_after_cycle(j);
        break;
    }
}

static void record_cycle(sk_slot_t *s);

static void run_pending_check(sk_slot_t *s);

static void on_job_done(uv_work_t *w, int status)
{
    struct job *j = w->data;
    sk_slot_t *s = j->s;
    s->job_busy = false;

    if (status == UV_ECANCELED && j->rc == 0)
        j->rc = -ECANCELED;
    s->job_rc = j->rc;
    if (j->rc < 0)
        snprintf(s->job_err, sizeof(s->job_err), "%s%s%s", j->err.path, j->err.path[0] ? ": " : "",
                 j->err.msg[0] ? j->err.msg : strerror(-j->rc));
    else
        s->job_err[0] = '\0';
    switch (j->kind) {
    case JOB_CHECK:
        if (j->gen == s->gen) {
            s->check_rc = j->rc;
            if (j->rc < 0) {
                /* Not a verdict: what could not be read is not thereby damaged (act_checked). */
                snprintf(s->verdict_reason, sizeof(s->verdict_reason), "%s", s->job_err);
            } else {
                s->verdict = j->verdict;
                snprintf(s->verdict_reason, sizeof(s->verdict_reason), "%s", j->reason);
            }
            s->lock_pid = j->lock_pid;
            s->state_present = j->rc == 0 && j->state_present;
            s->log_says_corrupt = j->log_corrupt;
            s->log_says_env = j->log_env;
            free(j);
            sk_slot_event(s, SK_EV_CHECKED);
            return;
        }
        break;
    case JOB_RESTORE:
        snprintf(s->restore_id, sizeof(s->restore_id), "%s", j->id);
        free(j);
        sk_slot_event(s, SK_EV_RESTORED);
        return;
    case JOB_SNAPSHOT:
        snprintf(s->cur.id, sizeof(s->cur.id), "%s", j->rc == 0 ? j->id : "");
        s->cur.bytes_read = j->bytes_read;
        s->cur.new_bytes = j->new_bytes;
        s->verdict = j->verdict;
        free(j);
        sk_slot_event(s, SK_EV_SNAPSHOTTED);
        return;
    case JOB_AFTER_CYCLE: {
        /* The record was already published; amend it with the verify/prune outcome. */
        sk_cycle_t *c = NULL;
        for (unsigned i = 0; i < SK_CYCLES_KEPT && i < s->ncycles; i++) {
            sk_cycle_t *x = &s->cycles[(s->ncycles - 1 - i) % SK_CYCLES_KEPT];
            if (!strcmp(x->id, j->id)) {
                c = x;
                break;
            }
        }
        if (c) {
            snprintf(c->note, sizeof(c->note), "%s", j->note[0] ? j->note : s->job_err);
            if (j->rc == -EBADMSG) {
                snprintf(c->failure, sizeof(c->failure), "the new snapshot failed verification (%s)", j->note);
                log_warnx("archive: snapshot %s failed verification: %s", j->id, j->note);
            }
        }
        if (j->rc == 0)
            log_info("archive: snapshot %s: %s", j->id, j->note);
        if (c)
            save_cycles(s);
        sk_daemon_slot_changed(s->d, s);
        break;
    }
    }
    free(j);
    /* A check queued behind this job runs now. */
    run_pending_check(s);
    if (sk_slot_idle(s) || s->state == SK_SLOT_STOPPED)
        sk_daemon_slot_changed(s->d, s);
}

static int queue_job(sk_slot_t *s, enum job_kind kind)
{
    struct job *j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    const sk_config_t *c = cfg(s);
    j->s = s;
    j->gen = s->gen;
    j->kind = kind;
    j->w.data = j;
    snprintf(j->data_dir, sizeof(j->data_dir), "%s", s->data_dir);
    snprintf(j->log_file, sizeof(j->log_file), "%s", s->log_file);
    snprintf(j->repo, sizeof(j->repo), "%s", c->repo_path);
    snprintf(j->snapshot, sizeof(j->snapshot), "%s", kind == JOB_RESTORE ? s->want_snapshot : "");
    snprintf(j->include, sizeof(j->include), "%s", s->include);
    if (kind == JOB_AFTER_CYCLE)
        snprintf(j->id, sizeof(j->id), "%s", s->cur.id);
    /* A node's own words count only for a failure to start: an early exit or nodeos's codes. */
    j->read_log = s->check_after_exit && s->failed_start;
    j->log_offset = s->log_offset;
    j->ignore_env = s->restore_reason == SK_REASON_INCOMPATIBLE;
    j->threads = (int)c->threads;
    j->level = (int)c->level;
    j->keep = c->quarantine_keep;
    j->quarantine_delete = c->quarantine == 1;
    j->keep_last = c->keep_last;
    j->lock_wait_ms = c->lock_wait_ms;
    if (s->num && kind == JOB_RESTORE)
        snprintf(j->chain_dir, sizeof(j->chain_dir), "%s", c->archive_data_dir);
    int rc = uv_queue_work(s->d->loop, &j->w, on_job, on_job_done);
    if (rc < 0) {
        free(j);
        return rc;
    }
    s->job_busy = true;
    return 0;
}

/* ---- the node's process ---- */

static void watch_stop(sk_slot_t *s)
{
    if (s->pidfd_active) {
        uv_poll_stop(&s->pidfd_poll);
        s->pidfd_active = false;
        uv_close((uv_handle_t *)&s->pidfd_poll, on_handle_closed);
    }
    if (s->pidfd >= 0) {
        /* closed with the poll handle's close: the fd itself is ours */
        close(s->pidfd);
        s->pidfd = -1;
    }
    uv_timer_stop(&s->watch_timer);
}

static void node_gone(sk_slot_t *s)
{
    uv_timer_stop(&s->health_timer);
    if (s->probe) {
        sk_health_cancel(s->probe);
        s->probe = NULL;
    }
    remove_pid_file(s);
    s->pid = 0;
    s->adopted = false;
    sk_slot_event(s, SK_EV_EXIT);
}

static void on_node_exit(uv_process_t *p, int64_t status, int term_signal)
{
    sk_slot_t *s = p->data;
    s->exit_status = status;
    s->term_signal = term_signal;
    s->proc_active = false;
    uv_close((uv_handle_t *)p, on_handle_closed);
    node_gone(s);
}

static void begin_check(sk_slot_t *s, bool after_exit);

/* The check after a failed start waits for the log-writer's last lines. */
static void logger_drained(sk_slot_t *s)
{
    if (!s->check_after_logger)
        return;
    s->check_after_logger = false;
    uv_timer_stop(&s->watch_timer);
    if (s->state == SK_SLOT_CHECKING)
        begin_check(s, true);
}

static void on_logger_wait_over(uv_timer_t *t)
{
    logger_drained(t->data);
}

static void on_logger_exit(uv_process_t *p, int64_t status, int term_signal)
{
    sk_slot_t *s = p->data;
    if (status || term_signal)
        log_warnx("%s: log-writer for %s exited (status %" PRId64 ", signal %d)", s->name, s->log_file, status,
                  term_signal);
    s->logger_active = false;
    uv_close((uv_handle_t *)p, on_handle_closed);
    logger_drained(s);
}

/* An adopted node is not our child: its exit shows as its pidfd becoming readable (or, on
 * kernels without pidfd_open, as kill(pid, 0) failing or the process turning zombie, on a one-second poll). */
static void adopted_exited(sk_slot_t *s)
{
    watch_stop(s);
    s->exit_status = -1;
    s->term_signal = 0;
    node_gone(s);
}

static void on_pidfd(uv_poll_t *h, int status, int events)
{
    adopted_exited(h->data);
}

static void on_watch_timer(uv_timer_t *t)
{
    sk_slot_t *s = t->data;
    if (s->pid > 0 && ((kill(s->pid, 0) < 0 && errno == ESRCH) || proc_start_time(s->pid) == 0))
        adopted_exited(s);
}

static int watch_adopted(sk_slot_t *s)
{
#ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, s->pid, 0);
    if (fd >= 0) {
        if (uv_poll_init(s->d->loop, &s->pidfd_poll, fd) == 0) {
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

static void signal_node(sk_slot_t *s, int sig)
{
    if (s->proc_active)
        uv_process_kill(&s->proc, sig);
    else if (s->pid > 0)
        kill(s->pid, sig);
}

static void on_health_timer(uv_timer_t *t);

/* Starts the node with its output through a log-writer process. */
static int spawn_node(sk_slot_t *s)
{
    uv_loop_t *loop = s->d->loop;
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
    snprintf(max, sizeof(max), "%" PRIu64, cfg(s)->log_max_size);
    snprintf(keep, sizeof(keep), "%u", cfg(s)->log_keep);
    char *largv[] = {s->d->exe, "log-writer", s->log_file, max, keep, NULL};
    uv_stdio_container_t lstdio[3] = {
        {.flags = UV_INHERIT_FD, .data.fd = fds[0]},
        {.flags = UV_IGNORE},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
    };
    uv_process_options_t lo = {
        .exit_cb = on_logger_exit,
        .file = s->d->exe,
        .args = largv,
        .stdio_count = 3,
        .stdio = lstdio,
        .flags = UV_PROCESS_DETACHED,
    };
    s->logger.data = s;
    int rc = uv_spawn(loop, &s->logger, &lo);
    s->open_handles++;
    if (rc < 0) {
        uv_close((uv_handle_t *)&s->logger, on_handle_closed);
        close(fds[0]);
        close(fds[1]);
        return rc;
    }
    s->logger_active = true;
    close(fds[0]);

    /* Where this run's output starts in the log (the node has not written anything yet). */
    struct stat lst;
    s->log_offset = stat(s->log_file, &lst) == 0 ? (uint64_t)lst.st_size : 0;
    /* The node carries its slot and its daemon's state folder in its environment, so that a
     * daemon restarted before this one wrote the pid file still knows the node as its own. */
    char slotvar[32], ownervar[PATH_MAX + 32];
    snprintf(slotvar, sizeof(slotvar), "SLOTKEEPER_SLOT=%u", s->num);
    snprintf(ownervar, sizeof(ownervar), "SLOTKEEPER_DAEMON=%s", cfg(s)->state_dir);
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
        uv_close((uv_handle_t *)&s->proc, on_handle_closed);
        return rc;
    }
    s->proc_active = true;
    s->pid = s->proc.pid;
    s->adopted = false;
    s->killed = false;
    s->started_at = sk_now();
    write_pid_file(s);
    return 0;
}

static void start_probing(sk_slot_t *s)
{
    s->head_known = false;
    s->answered_at = s->head_changed_at = sk_now();
    if (s->health_url[0])
        uv_timer_start(&s->health_timer, on_health_timer, cfg(s)->health_interval_ms, cfg(s)->health_interval_ms);
}

/* True if pid's environment says it is this slot's node, started by a daemon on this
 * state_dir (see spawn_node). */
static bool env_says_ours(const sk_slot_t *s, pid_t pid)
{
    char p[64], want_slot[32], want_owner[PATH_MAX + 32];
    snprintf(p, sizeof(p), "/proc/%ld/environ", (long)pid);
    snprintf(want_slot, sizeof(want_slot), "SLOTKEEPER_SLOT=%u", s->num);
    snprintf(want_owner, sizeof(want_owner), "SLOTKEEPER_DAEMON=%s", cfg(s)->state_dir);
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
         * holder of the state lock is ours if its environment says so. */
        sk_datadir_report_t r0;
        sk_err_t e0;
        sk_err_clear(&e0);
        if (s->external || sk_datadir_check(s->data_dir, &(sk_check_opts_t){0}, &r0, &e0) < 0 ||
            r0.verdict != SK_VERDICT_RUNNING || r0.lock_pid <= 0 || !env_says_ours(s, r0.lock_pid))
            return false;
        pid = r0.lock_pid;
        s->pid = (pid_t)pid;
        write_pid_file(s);
        s->pid = 0;
    }
    /* Only a node that still holds its data-dir's state lock is ours to adopt. */
    sk_datadir_report_t r;
    sk_err_t err;
    sk_err_clear(&err);
    if (sk_datadir_check(s->data_dir, &(sk_check_opts_t){0}, &r, &err) == 0 && r.verdict == SK_VERDICT_RUNNING &&
        r.lock_pid != (pid_t)pid) {
        log_warnx("%s: pid file names %ld but %s is locked by %ld; not adopting", s->name, pid, s->data_dir,
                  (long)r.lock_pid);
        return false;
    }
    s->pid = (pid_t)pid;
    s->adopted = true;
    s->started_at = sk_now();
    watch_adopted(s);
    start_probing(s);
    log_info("%s: found its node running as pid %ld; adopted it", s->name, pid);
    set_state(s, s->health_url[0] ? SK_SLOT_STARTING : SK_SLOT_RUNNING, "adopted pid %ld", pid);
    if (!s->health_url[0])
        stop_timer(s);
    else
        start_timer(s, cfg(s)->startup_grace_ms);
    return true;
}

/* ---- health ---- */

static void on_probe(void *arg, const sk_probe_result_t *r)
{
    sk_slot_t *s = arg;
    s->probe = NULL;
    double now = sk_now();
    if (r->rc == 0) {
        s->answered_at = now;
        if (r->has_head) {
            if (!s->head_known || r->head_block_num != s->head)
                s->head_changed_at = now;
            s->head = r->head_block_num;
            s->head_known = true;
        }
        if (r->http_code == 200 && r->has_head && s->state == SK_SLOT_STARTING) {
            sk_slot_event(s, SK_EV_HEALTHY);
            return;
        }
    }
    if (s->state != SK_SLOT_RUNNING)
        return;
    double stall = (double)cfg(s)->stall_timeout_ms / 1000.0;
    if (now - s->answered_at > stall) {
        fail_note(s, "get_info did not answer for %.0fs (%s)", now - s->answered_at,
                  r->error[0] ? r->error : s->health_url);
        sk_slot_event(s, SK_EV_UNHEALTHY);
    } else if (r->rc == 0 && r->http_code == 200 && now - s->head_changed_at > stall) {
        fail_note(s, "head block stuck at %" PRIu64 " for %.0fs", s->head, now - s->head_changed_at);
        sk_slot_event(s, SK_EV_UNHEALTHY);
    }
}

static void on_health_timer(uv_timer_t *t)
{
    sk_slot_t *s = t->data;
    if (s->probe || !s->d->health)
        return;
    uint64_t timeout = cfg(s)->health_interval_ms > 1000 ? cfg(s)->health_interval_ms - 500 : 900;
    if (timeout > 10000)
        timeout = 10000;
    s->probe = sk_health_probe(s->d->health, s->health_url, timeout, on_probe, s);
}

/* ---- actions ---- */

typedef void (*action_fn)(sk_slot_t *s);

static void do_spawn(sk_slot_t *s);

static void begin_check(sk_slot_t *s, bool after_exit)
{
    s->gen++;
    s->check_after_exit = after_exit;
    stop_timer(s);
    if (s->job_busy) {
        /* A disk job is still running (it cannot be cancelled); check once it is done. */
        s->check_pending = true;
        set_state(s, SK_SLOT_CHECKING, "waiting for the previous job");
        return;
    }
    s->check_pending = false;
    int rc = queue_job(s, JOB_CHECK);
    if (rc < 0) {
        fail_note(s, "cannot queue a check: %s", uv_strerror(rc));
        set_state(s, SK_SLOT_BACKOFF, "%s", s->last_failure);
        start_timer(s, s->backoff_ms ? s->backoff_ms : 1000);
        return;
    }
    set_state(s, SK_SLOT_CHECKING, after_exit ? "after its exit" : "before starting");
}

static void run_pending_check(sk_slot_t *s)
{
    if (s->check_pending && !s->job_busy && s->state == SK_SLOT_CHECKING) {
        s->check_pending = false;
        begin_check(s, s->check_after_exit);
    }
}

static void act_start(sk_slot_t *s)
{
    s->then = SK_THEN_NONE;
    if (s->external) {
        set_state(s, SK_SLOT_STOPPED, "external: its node is run by `slotkeeper run`; restored on request");
        return;
    }
    begin_check(s, false);
}

void sk_slot_reset(sk_slot_t *s)
{
    s->nrestore_times = 0;
    save_budget(s);
    s->backoff_ms = cfg(s)->backoff_min_ms;
    s->check_errors = 0;
    s->last_failure[0] = '\0';
}

static void act_reset(sk_slot_t *s)
{
    sk_slot_reset(s);
    act_start(s);
}

static void stop_node(sk_slot_t *s, sk_then_t then)
{
    s->then = then;
    s->killed = false;
    signal_node(s, SIGTERM);
    uint64_t t = s->archive ? cfg(s)->stop_timeout_ms : cfg(s)->worker_stop_timeout_ms;
    start_timer(s, t);
    set_state(s, SK_SLOT_STOPPING, "SIGTERM sent to pid %ld", (long)s->pid);
}

static void act_stop_node(sk_slot_t *s)
{
    stop_node(s, SK_THEN_NONE);
}

static void act_restart_node(sk_slot_t *s)
{
    s->restarts++;
    log_warnx("%s: %s; restarting it", s->name, s->last_failure);
    stop_node(s, SK_THEN_START);
}

static void act_stop_idle(sk_slot_t *s)
{
    s->gen++;
    s->then = SK_THEN_NONE;
    stop_timer(s);
    if (s->state == SK_SLOT_QUEUED)
        sk_daemon_dequeue(s->d, s);
    set_state(s, SK_SLOT_STOPPED, NULL);
}

/* A stop while a disk job runs waits for it. */
static void act_stop_later(sk_slot_t *s)
{
    s->then = SK_THEN_NONE;
    s->stay_stopped_after = true;
    snprintf(s->detail, sizeof(s->detail), "will stop when the current job ends");
}

static void request_restore(sk_slot_t *s);

static void act_restore_request(sk_slot_t *s)
{
    s->operator_restore = true;
    s->restore_reason = SK_REASON_OPERATOR;
    if (s->pid > 0) {
        stop_node(s, SK_THEN_RESTORE);
        return;
    }
    stop_timer(s);
    s->gen++;
    request_restore(s);
}

/* Counts a restore against the slot's budget, or sends the slot to failed. */
static bool budget_allows(sk_slot_t *s)
{
    const sk_config_t *c = cfg(s);
    double now = (double)time(NULL), window = (double)c->restore_window_ms / 1000.0;
    unsigned k = 0;
    for (unsigned i = 0; i < s->nrestore_times; i++)
        if (now - s->restore_times[i] < window)
            s->restore_times[k++] = s->restore_times[i];
    s->nrestore_times = k;
    if (s->operator_restore)
        return true;
    return k < c->restore_budget;
}

static void request_restore(sk_slot_t *s)
{
    if (!budget_allows(s)) {
        char w[32];
        snprintf(w, sizeof(w), "%.0fs", (double)cfg(s)->restore_window_ms / 1000.0);
        fail_note(s,
                  "restore budget spent: %u restores within %s, and it needs another (%s); run `slotkeeper "
                  "restore --slot %u` or `slotkeeper reset --slot %u`",
                  s->nrestore_times, w, s->verdict_reason, s->num, s->num);
        log_warnx("%s: FAILED: %s", s->name, s->last_failure);
        set_state(s, SK_SLOT_FAILED, "%s", s->last_failure);
        return;
    }
    set_state(s, SK_SLOT_QUEUED, "waiting for the host's restore budget");
    sk_daemon_want_restore(s->d, s);
}

static void act_restore_go(sk_slot_t *s)
{
    /* The budget rations the daemon's own restores; an operator's do not count. */
    s->counted_restore = !s->operator_restore;
    if (s->counted_restore && s->nrestore_times < cfg(s)->restore_budget + 1) {
        s->restore_times[s->nrestore_times++] = (double)time(NULL);
        save_budget(s);
    }
    int rc = queue_job(s, JOB_RESTORE);
    if (rc < 0) {
        sk_daemon_restore_done(s->d, s);
        fail_note(s, "cannot queue the restore: %s", uv_strerror(rc));
        set_state(s, SK_SLOT_FAILED, "%s", s->last_failure);
        return;
    }
    log_info("%s: restoring %s from %s", s->name, s->data_dir,
             s->want_snapshot[0] ? s->want_snapshot : "the newest good snapshot");
    set_state(s, SK_SLOT_RESTORING, "%s", s->want_snapshot[0] ? s->want_snapshot : "newest good snapshot");
}

static void act_restored(sk_slot_t *s)
{
    sk_daemon_restore_done(s->d, s);
    s->operator_restore = false;
    s->want_snapshot[0] = '\0';
    s->restore_ok = s->job_rc == 0;
    snprintf(s->restore_err, sizeof(s->restore_err), "%s", s->job_err);
    bool stay = s->stay_stopped_after || s->d->shutting_down || s->external;
    s->stay_stopped_after = false;
    if (s->job_rc == 0) {
        s->restores++;
        s->restores_by[s->restore_reason]++;
        log_info("%s: restored snapshot %s", s->name, s->restore_id);
        s->restore_seq++;
        if (stay) {
            set_state(s, SK_SLOT_STOPPED, "restored %s", s->restore_id);
            return;
        }
        begin_check(s, false);
        return;
    }
    fail_note(s, "restore failed: %s", s->job_err);
    log_warnx("%s: %s", s->name, s->last_failure);
    s->restore_seq++;
    if (stay) {
        set_state(s, SK_SLOT_STOPPED, "%s", s->last_failure);
        return;
    }
    /* A slot with no state at all (a new one) and nothing to restore: nodeos starts it from
     * genesis and syncs, as it would without us. */
    if (s->verdict == SK_VERDICT_MISSING && !s->state_present && s->job_rc == -ENOENT) {
        log_info("%s: no snapshot to restore; starting the node on its new data-dir", s->name);
        if (s->counted_restore && s->nrestore_times) {
            s->nrestore_times--; /* nothing was restored */
            save_budget(s);
        }
        s->last_failure[0] = '\0';
        do_spawn(s);
        return;
    }
    /* No snapshot to restore, or none that fits: an operator must act. Others (a lock held by
     * a prune, a full disk) may pass: try again after a back-off, within the budget. */
    if (s->job_rc == -ENOENT || s->job_rc == -EPROTOTYPE || s->job_rc == -EBUSY) {
        set_state(s, SK_SLOT_FAILED, "%s", s->last_failure);
        return;
    }
    set_state(s, SK_SLOT_BACKOFF, "%s", s->last_failure);
    start_timer(s, s->backoff_ms ? s->backoff_ms : 1000);
    s->backoff_ms = s->backoff_ms * 2 > cfg(s)->backoff_max_ms ? cfg(s)->backoff_max_ms : s->backoff_ms * 2;
}

static void go_backoff(sk_slot_t *s)
{
    uint64_t ms = s->backoff_ms;
    set_state(s, SK_SLOT_BACKOFF, "%s; next start in %.1fs", s->last_failure, (double)ms / 1000.0);
    start_timer(s, ms);
    uint64_t next = ms ? ms * 2 : cfg(s)->backoff_min_ms;
    if (next > cfg(s)->backoff_max_ms)
        next = cfg(s)->backoff_max_ms;
    s->backoff_ms = next;
}

static void begin_snapshot(sk_slot_t *s);

static void act_checked(sk_slot_t *s)
{
    if (s->stay_stopped_after || s->d->shutting_down) {
        s->stay_stopped_after = false;
        set_state(s, SK_SLOT_STOPPED, NULL);
        return;
    }
    if (s->then == SK_THEN_SNAPSHOT) {
        s->then = SK_THEN_NONE;
        begin_snapshot(s);
        return;
    }
    bool after_exit = s->check_after_exit;
    if (s->check_rc < 0) {
        /* An I/O error (descriptors, a failing disk, a vanished mount) is never taken for
         * damage: check again a few times, then stop and say why. Never a restore. */
        s->check_errors++;
        fail_note(s, "cannot check %s: %s", s->data_dir, s->verdict_reason);
        log_warnx("%s: %s", s->name, s->last_failure);
        if (s->check_errors >= SK_CHECK_ATTEMPTS) {
            set_state(s, SK_SLOT_FAILED, "%s (%u checks in a row); not starting or restoring it", s->last_failure,
                      s->check_errors);
            return;
        }
        go_backoff(s);
        return;
    }
    s->check_errors = 0;
    if (s->verdict == SK_VERDICT_RUNNING) {
        fail_note(s, "%s is in use by pid %ld, a process slotkeeper did not start; not touching it", s->data_dir,
                  (long)s->lock_pid);
        log_warnx("%s: %s", s->name, s->last_failure);
        set_state(s, SK_SLOT_BACKOFF, "%s", s->last_failure);
        start_timer(s, cfg(s)->backoff_max_ms > 1000 ? cfg(s)->backoff_max_ms : 1000);
        return;
    }
    if (sk_verdict_needs_restore(s->verdict) || (after_exit && s->log_says_corrupt)) {
        if (!cfg(s)->repo_path || !cfg(s)->repo_path[0]) {
            fail_note(s, "%s: %s; no repository configured", sk_verdict_name(s->verdict), s->verdict_reason);
            set_state(s, SK_SLOT_FAILED, "%s", s->last_failure);
            return;
        }
        s->restore_reason = sk_verdict_needs_restore(s->verdict) ? (sk_restore_reason_t)s->verdict
                            : s->log_says_env                    ? SK_REASON_INCOMPATIBLE
                                                                 : SK_REASON_LOG;
        fail_note(s, "%s: %s", sk_verdict_needs_restore(s->verdict) ? sk_verdict_name(s->verdict) : "corrupt",
                  s->verdict_reason);
        log_warnx("%s: %s; it needs a restore", s->name, s->last_failure);
        request_restore(s);
        return;
    }
    if (after_exit && s->then != SK_THEN_START) {
        /* A crash that left the data clean: restart after the back-off. */
        s->restarts++;
        go_backoff(s);
        return;
    }
    s->then = SK_THEN_NONE;
    do_spawn(s);
}

/* Starts the node now (the data-dir was checked). */
static void do_spawn(sk_slot_t *s)
{
    int rc = spawn_node(s);
    if (rc < 0) {
        fail_note(s, "cannot start %s: %s", s->argv[0], uv_strerror(rc));
        log_warnx("%s: %s", s->name, s->last_failure);
        go_backoff(s);
        return;
    }
    log_info("%s: started pid %ld", s->name, (long)s->pid);
    s->start_seq++;
    start_probing(s);
    start_timer(s, cfg(s)->startup_grace_ms);
    set_state(s, SK_SLOT_STARTING, "pid %ld", (long)s->pid);
    if (s->archive && s->cycle_t0 > 0 && s->cur.start) {
        /* The archival node is back: the cycle's downtime ends here. */
        s->cur.downtime_ms = (uint64_t)((sk_now() - s->down_t0) * 1000);
        record_cycle(s);
    }
}

/* The node exited while running or starting, without being asked to. */
static void act_exited(sk_slot_t *s)
{
    stop_timer(s);
    double up = sk_now() - s->started_at;
    bool early = up * 1000 < (double)cfg(s)->startup_grace_ms;
    char how[96];
    if (s->exit_status < 0)
        snprintf(how, sizeof(how), "exited (adopted, status unknown)");
    else if (s->term_signal)
        snprintf(how, sizeof(how), "was killed by signal %d", s->term_signal);
    else
        snprintf(how, sizeof(how), "exited with status %" PRId64, s->exit_status);
    fail_note(s, "node %s after %.1fs%s", how, up, early ? ", within its startup grace" : "");
    log_warnx("%s: %s", s->name, s->last_failure);
    if (up * 1000 >= (double)cfg(s)->stable_after_ms)
        s->backoff_ms = cfg(s)->backoff_min_ms;
    s->failed_start = early || s->exit_status == NODEOS_DATABASE_DIRTY || s->exit_status == NODEOS_OTHER_FAIL;
    s->then = SK_THEN_NONE;
    if (s->logger_active && s->failed_start) {
        /* Its last words are still in the log-writer's pipe: check once it has written them
         * (it ends at end of input), or after 2 s if something else keeps the pipe open. */
        s->check_after_logger = true;
        s->gen++;
        set_state(s, SK_SLOT_CHECKING, "after its exit, once its log is written");
        uv_timer_start(&s->watch_timer, on_logger_wait_over, 2000, 0);
        return;
    }
    begin_check(s, true);
}

static void act_grace_over(sk_slot_t *s)
{
    if (!s->health_url[0])
        set_state(s, SK_SLOT_RUNNING, "pid %ld", (long)s->pid);
}

static void act_healthy(sk_slot_t *s)
{
    stop_timer(s);
    set_state(s, SK_SLOT_RUNNING, "pid %ld, head %" PRIu64, (long)s->pid, s->head);
}

static void act_stop_timeout(sk_slot_t *s)
{
    log_warnx("%s: pid %ld did not stop within the stop timeout; sending SIGKILL", s->name, (long)s->pid);
    s->killed = true;
    signal_node(s, SIGKILL);
    snprintf(s->detail, sizeof(s->detail), "SIGKILL sent to pid %ld", (long)s->pid);
}

static void begin_snapshot(sk_slot_t *s)
{
    int rc = queue_job(s, JOB_SNAPSHOT);
    if (rc < 0) {
        snprintf(s->cur.failure, sizeof(s->cur.failure), "cannot queue the snapshot: %s", uv_strerror(rc));
        record_cycle(s);
        begin_check(s, false);
        return;
    }
    set_state(s, SK_SLOT_SNAPSHOTTING, "cycle started %.0fs ago", sk_now() - s->cycle_t0);
}

/* The node stopped as asked. */
static void act_stopped(sk_slot_t *s)
{
    stop_timer(s);
    sk_then_t then = s->then;
    s->then = SK_THEN_NONE;
    s->stop_seq++;
    if (s->d->shutting_down)
        then = SK_THEN_NONE;
    switch (then) {
    case SK_THEN_NONE:
        log_info("%s: stopped%s", s->name, s->killed ? " (killed)" : "");
        set_state(s, SK_SLOT_STOPPED, s->killed ? "killed after the stop timeout" : NULL);
        break;
    case SK_THEN_START:
        begin_check(s, false);
        break;
    case SK_THEN_RESTORE:
        request_restore(s);
        break;
    case SK_THEN_SNAPSHOT:
        if (s->killed) {
            snprintf(s->cur.failure, sizeof(s->cur.failure),
                     "the archival node had to be killed after the stop timeout; nothing published, restoring it");
            log_warnx("archive: %s", s->cur.failure);
            record_cycle(s);
            s->operator_restore = true; /* the archival node's own repair is not rationed */
            s->restore_reason = SK_REASON_KILLED;
            request_restore(s);
            break;
        }
        begin_snapshot(s);
        break;
    }
}

static void act_snapshotted(sk_slot_t *s)
{
    s->cur.duration_ms = (uint64_t)((sk_now() - s->cycle_t0) * 1000);
    bool stay = s->stay_stopped_after || s->d->shutting_down;
    s->stay_stopped_after = false;
    if (s->job_rc < 0) {
        snprintf(s->cur.failure, sizeof(s->cur.failure), "%s", s->job_err);
        log_warnx("archive: cycle failed: %s", s->cur.failure);
        if (s->job_rc == -EUCLEAN || sk_verdict_needs_restore(s->verdict)) {
            record_cycle(s);
            s->operator_restore = true;
            s->restore_reason =
                sk_verdict_needs_restore(s->verdict) ? (sk_restore_reason_t)s->verdict : SK_REASON_DIRTY;
            if (stay) {
                set_state(s, SK_SLOT_STOPPED, "%s", s->cur.failure);
                return;
            }
            request_restore(s);
            return;
        }
    } else {
        log_info("archive: published snapshot %s (%" PRIu64 " bytes read, %" PRIu64 " new, %.1fs)", s->cur.id,
                 s->cur.bytes_read, s->cur.new_bytes, (double)s->cur.duration_ms / 1000.0);
    }
    if (stay) {
        s->cur.downtime_ms = (uint64_t)((sk_now() - s->down_t0) * 1000);
        record_cycle(s);
        set_state(s, SK_SLOT_STOPPED, NULL);
        return;
    }
    /* Restart at once; the cycle is recorded when the node has been started (downtime). */
    begin_check(s, false);
}

static void act_cycle_running(sk_slot_t *s)
{
    memset(&s->cur, 0, sizeof(s->cur));
    s->cur.start = (int64_t)time(NULL);
    s->cycle_t0 = s->down_t0 = sk_now();
    log_info("archive: cycle: stopping pid %ld", (long)s->pid);
    stop_node(s, SK_THEN_SNAPSHOT);
}

static void act_cycle_stopped(sk_slot_t *s)
{
    memset(&s->cur, 0, sizeof(s->cur));
    s->cur.start = (int64_t)time(NULL);
    s->cycle_t0 = s->down_t0 = sk_now();
    s->stay_stopped_after = s->state == SK_SLOT_STOPPED;
    stop_timer(s);
    s->gen++;
    begin_snapshot(s);
}

/* A cycle request the archival node cannot take now (it is being restored or checked). */
static void act_cycle_busy(sk_slot_t *s)
{
    sk_cycle_t c = {.start = (int64_t)time(NULL)};
    snprintf(c.failure, sizeof(c.failure), "skipped: the archival node is %s", state_names[s->state]);
    s->cur = c;
    s->cycle_t0 = 0;
    record_cycle(s);
}

static void act_stop_more(sk_slot_t *s)
{
    if (s->then == SK_THEN_SNAPSHOT)
        s->stay_stopped_after = true; /* the cycle goes on, the node stays down */
    else
        s->then = SK_THEN_NONE;
}

static void act_restore_after_stop(sk_slot_t *s)
{
    s->operator_restore = true;
    s->restore_reason = SK_REASON_OPERATOR;
    if (s->then != SK_THEN_SNAPSHOT)
        s->then = SK_THEN_RESTORE;
}

static void act_backoff_over(sk_slot_t *s)
{
    begin_check(s, false);
}

static void act_start_checking(sk_slot_t *s)
{
    /* Already on the way: a check with a start after it. */
    s->then = SK_THEN_NONE;
    s->stay_stopped_after = false;
}

static void act_ignore_start_failed(sk_slot_t *s)
{
    act_reset(s);
}

static void record_cycle(sk_slot_t *s)
{
    if (!s->cur.start)
        return;
    if (!s->cur.duration_ms && s->cycle_t0 > 0)
        s->cur.duration_ms = (uint64_t)((sk_now() - s->cycle_t0) * 1000);
    s->cycles[s->ncycles % SK_CYCLES_KEPT] = s->cur;
    s->ncycles++;
    s->cycle_seq++;
    bool ok = s->cur.id[0] && !s->cur.failure[0];
    if (ok) {
        s->cycles_published++;
        s->last_success = (int64_t)time(NULL);
    } else {
        s->cycles_failed++;
    }
    if (ok && !s->job_busy) {
        if (queue_job(s, JOB_AFTER_CYCLE) < 0)
            log_warnx("archive: cannot queue the verify of %s", s->cur.id);
    }
    memset(&s->cur, 0, sizeof(s->cur));
    s->cycle_t0 = 0;
    save_cycles(s);
    sk_daemon_cycle_done(s->d);
}

/* The state x event table. NULL: the event means nothing in that state. */
#define S(x) SK_SLOT_##x
static const action_fn table[SK_SLOT_NSTATES][SK_EV_COUNT] = {
    [S(STOPPED)] =
        {[SK_EV_START] = act_start, [SK_EV_RESTORE] = act_restore_request, [SK_EV_CYCLE] = act_cycle_stopped},
    [S(CHECKING)] = {[SK_EV_START] = act_start_checking,
                     [SK_EV_STOP] = act_stop_idle,
                     [SK_EV_CHECKED] = act_checked,
                     [SK_EV_RESTORE] = act_restore_request,
                     [SK_EV_CYCLE] = act_cycle_busy},
    [S(STARTING)] = {[SK_EV_STOP] = act_stop_node,
                     [SK_EV_RESTORE] = act_restore_request,
                     [SK_EV_CYCLE] = act_cycle_running,
                     [SK_EV_EXIT] = act_exited,
                     [SK_EV_TIMER] = act_grace_over,
                     [SK_EV_HEALTHY] = act_healthy},
    [S(RUNNING)] = {[SK_EV_STOP] = act_stop_node,
                    [SK_EV_RESTORE] = act_restore_request,
                    [SK_EV_CYCLE] = act_cycle_running,
                    [SK_EV_EXIT] = act_exited,
                    [SK_EV_UNHEALTHY] = act_restart_node},
    [S(STOPPING)] = {[SK_EV_EXIT] = act_stopped,
                     [SK_EV_TIMER] = act_stop_timeout,
                     [SK_EV_STOP] = act_stop_more,
                     [SK_EV_RESTORE] = act_restore_after_stop},
    [S(BACKOFF)] = {[SK_EV_START] = act_start,
                    [SK_EV_STOP] = act_stop_idle,
                    [SK_EV_RESTORE] = act_restore_request,
                    [SK_EV_TIMER] = act_backoff_over,
                    [SK_EV_CYCLE] = act_cycle_stopped},
    [S(QUEUED)] = {[SK_EV_STOP] = act_stop_idle, [SK_EV_RESTORE_GO] = act_restore_go, [SK_EV_CYCLE] = act_cycle_busy},
    [S(RESTORING)] = {[SK_EV_STOP] = act_stop_later, [SK_EV_RESTORED] = act_restored, [SK_EV_CYCLE] = act_cycle_busy},
    [S(SNAPSHOTTING)] = {[SK_EV_STOP] = act_stop_later, [SK_EV_SNAPSHOTTED] = act_snapshotted},
    [S(FAILED)] = {[SK_EV_START] = act_ignore_start_failed,
                   [SK_EV_STOP] = act_stop_idle,
                   [SK_EV_RESTORE] = act_restore_request,
                   [SK_EV_CYCLE] = act_cycle_stopped},
};
#undef S

void sk_slot_event(sk_slot_t *s, sk_slot_event_t ev)
{
    action_fn fn = table[s->state][ev];
    if (!fn) {
        log_debug("%s: %s ignored in state %s", s->name, event_names[ev], state_names[s->state]);
        /* A check whose slot moved on: drop it, but run a check that was waiting for a job. */
        if (ev == SK_EV_CHECKED || ev == SK_EV_RESTORED || ev == SK_EV_SNAPSHOTTED)
            sk_daemon_slot_changed(s->d, s);
        return;
    }
    fn(s);
    /* A check that had to wait for a job: queue it now that the job is done. */
    run_pending_check(s);
}

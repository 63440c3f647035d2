/*
 * slot: the slot as an object (see slot.h and slot_impl.h for how the module is
 * split). A slot is made from the configuration: its data-dir, its node's
 * command line (split into words here, with a small shell-like quoting), its
 * log, pid and health templates expanded for its number. It is freed through
 * its handles' close callbacks, once the last one has closed. The accessors
 * the host reads a slot through live here too.
 */
#include "daemon/slot_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slotkeeper/fsutil.h"
#include "slotkeeper/log.h"

void sk_slot_handle_closed(uv_handle_t *h)
{
    sk_slot_t *s = h->data;
    if (--s->open_handles == 0 && s->closing) {
        sk_budget_free(&s->budget);
        free(s->command);
        free(s->argv);
        free(s);
    }
}

void sk_slot_logger_closed(uv_handle_t *h)
{
    sk_logger_t *lg = (sk_logger_t *)h;
    sk_slot_handle_closed(h);
    free(lg);
}

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
        if (sk_config_expand(c, dd, num, s->v.data_dir, sizeof(s->v.data_dir)) < 0)
            return -ENAMETOOLONG;
    } else {
        snprintf(s->v.data_dir, sizeof(s->v.data_dir), "%s", dd);
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
                o += (size_t)snprintf(tmp + o, sizeof(tmp) - o, "%s", s->v.data_dir);
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
    s->v.external = num > 0 && !tmp[0];
    if (!s->v.external) {
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
        snprintf(lf, sizeof(lf), "%s/nodeos.log", s->v.data_dir);
    }
    snprintf(s->log_file, sizeof(s->log_file), "%s", lf);
    if (num)
        snprintf(s->pid_file, sizeof(s->pid_file), "%s/slot-%u.pid", c->state_dir, num);
    else
        snprintf(s->pid_file, sizeof(s->pid_file), "%s/archive.pid", c->state_dir);
    snprintf(s->include, sizeof(s->include), "%s", c->archive_include);
    return 0;
}

sk_slot_t *sk_slot_new(const sk_slot_host_t *host, unsigned num)
{
    const sk_config_t *c = host->cfg;
    sk_slot_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->host = host;
    s->v.num = num;
    s->v.archive = num == 0;
    s->pidfd = -1;
    if (num)
        snprintf(s->v.name, sizeof(s->v.name), "slot %u", num);
    else
        snprintf(s->v.name, sizeof(s->v.name), "archive");
    char *words = NULL;
    int rc = expand_slot(c, num, s, &words);
    if (rc < 0) {
        log_warnx("%s: %s: %s", c->path, s->v.name,
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
    if (sk_budget_init(&s->budget, c->restore_budget) == 0)
        sk_slot_load_budget(s);
    if (s->v.archive)
        sk_slot_load_cycles(s);
    s->backoff_ms = c->backoff_min_ms;
    s->v.state = SK_SLOT_STOPPED;
    s->v.state_since = sk_now();
    uv_timer_init(host->loop, &s->timer);
    uv_timer_init(host->loop, &s->health_timer);
    uv_timer_init(host->loop, &s->watch_timer);
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
    tmp.v.num = s->v.num;
    char *words = NULL;
    int rc = expand_slot(c, s->v.num, &tmp, &words);
    bool changed = rc < 0 || strcmp(tmp.command, s->command) || strcmp(tmp.v.data_dir, s->v.data_dir) ||
                   strcmp(tmp.log_file, s->log_file) || strcmp(tmp.health_url, s->health_url) ||
                   strcmp(tmp.pid_file, s->pid_file);
    free(words);
    free(tmp.command);
    free(tmp.argv);
    return changed;
}

bool sk_slot_idle(const sk_slot_t *s)
{
    return !s->job_busy && !s->frozen_busy && !s->proc_active && !s->pidfd_active && s->v.pid == 0 &&
           (s->v.state == SK_SLOT_STOPPED || s->v.state == SK_SLOT_FAILED);
}

static void close_handle(sk_slot_t *s, uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, sk_slot_handle_closed);
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
    /* The log-writers live on by themselves; we only let go of their handles. */
    for (sk_logger_t *lg = s->loggers; lg; lg = lg->next)
        if (!uv_is_closing((uv_handle_t *)&lg->proc))
            uv_close((uv_handle_t *)&lg->proc, sk_slot_logger_closed);
    s->loggers = s->logger = NULL;
    s->logger_active = false;
}

const sk_cycle_t *sk_slot_last_cycle(const sk_slot_t *s)
{
    return s->v.ncycles ? &s->v.cycles[(s->v.ncycles - 1) % SK_CYCLES_KEPT] : NULL;
}

const sk_slot_view_t *sk_slot_view(const sk_slot_t *s)
{
    return &s->v;
}

bool sk_slot_job_busy(const sk_slot_t *s)
{
    return s->job_busy || s->frozen_busy;
}

bool sk_slot_in_cycle(const sk_slot_t *s)
{
    return s->v.state == SK_SLOT_SNAPSHOTTING || (s->v.state == SK_SLOT_STOPPING && s->then == SK_THEN_SNAPSHOT) ||
           s->frozen_busy;
}

void sk_slot_saw_success(sk_slot_t *s, int64_t t)
{
    if (t > s->v.last_success)
        s->v.last_success = t;
}

void sk_slot_set_budget(sk_slot_t *s, unsigned restore_budget)
{
    sk_budget_resize(&s->budget, restore_budget);
}

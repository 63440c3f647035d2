/*
 * slot_files: the small files a slot keeps in state_dir so that they outlive the
 * daemon. state_dir/slot-N.restores (archive.restores) holds the restore
 * budget's times (restoreq.h), so a daemon that restarts or crash-loops does
 * not get a fresh budget; state_dir/archive.cycles holds the archival node's
 * last cycles, one sk_cycle_json object a line, oldest first, so that `status`
 * shows them after a restart. They are read when the slot is made and written
 * through the host's put_file (atomically, off the loop).
 */
#include "daemon/slot_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/metrics.h"
#include "slotkeeper/fsutil.h"
#include "slotkeeper/log.h"

static void write_state_file(const sk_slot_t *s, const char *path, const void *buf, size_t len)
{
    s->host->put_file(s->host->arg, path, buf, len);
}

/* The restore budget outlives the daemon: a daemon that restarts (or crash-loops) must not
 * get a fresh budget each time. state_dir/slot-N.restores holds the wall-clock times of the
 * restores counted in the current window, one per line. */
static void budget_path(const sk_slot_t *s, const sk_config_t *c, char *out, size_t len)
{
    if (s->v.num)
        snprintf(out, len, "%s/slot-%u.restores", c->state_dir, s->v.num);
    else
        snprintf(out, len, "%s/archive.restores", c->state_dir);
}

void sk_slot_load_budget(sk_slot_t *s)
{
    const sk_config_t *c = sk_slot_cfg(s);
    char p[PATH_MAX], *buf;
    size_t len;
    budget_path(s, c, p, sizeof(p));
    if (!s->budget.times || sk_read_file_at(AT_FDCWD, p, 65536, &buf, &len) < 0)
        return;
    sk_budget_parse(&s->budget, buf, (double)time(NULL), (double)c->restore_window_ms / 1000.0);
    free(buf);
}

void sk_slot_save_budget(sk_slot_t *s)
{
    char p[PATH_MAX], buf[16384];
    size_t o = sk_budget_format(&s->budget, buf, sizeof(buf));
    budget_path(s, sk_slot_cfg(s), p, sizeof(p));
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
    json_object_set_new(o, "path", json_string(c->path));
    json_object_set_new(o, "stopped_ms", json_integer((json_int_t)c->stopped_ms));
    return o;
}

/* The archival node's last cycles outlive the daemon, so that `status` shows them after a
 * restart: state_dir/archive.cycles, one sk_cycle_json object a line, oldest first. */
static void cycles_path(const sk_config_t *c, char *out, size_t len)
{
    snprintf(out, len, "%s/archive.cycles", c->state_dir);
}

void sk_slot_save_cycles(sk_slot_t *s)
{
    char p[PATH_MAX];
    sk_mbuf_t b = {0};
    unsigned n = s->v.ncycles < SK_CYCLES_KEPT ? s->v.ncycles : SK_CYCLES_KEPT;
    for (unsigned i = 0; i < n && !b.failed; i++) {
        json_t *o = sk_cycle_json(&s->v.cycles[(s->v.ncycles - n + i) % SK_CYCLES_KEPT]);
        char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (line)
            sk_mbuf_printf(&b, "%s\n", line);
        else
            b.failed = 1;
        free(line);
    }
    cycles_path(sk_slot_cfg(s), p, sizeof(p));
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
void sk_slot_load_cycles(sk_slot_t *s)
{
    const sk_config_t *c = sk_slot_cfg(s);
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
        sk_cycle_t *x = &s->v.cycles[s->v.ncycles % SK_CYCLES_KEPT];
        memset(x, 0, sizeof(*x));
        x->start = (int64_t)json_integer_value(json_object_get(o, "start"));
        x->downtime_ms = (uint64_t)json_integer_value(json_object_get(o, "downtime_ms"));
        x->duration_ms = (uint64_t)json_integer_value(json_object_get(o, "duration_ms"));
        x->bytes_read = (uint64_t)json_integer_value(json_object_get(o, "bytes_read"));
        x->new_bytes = (uint64_t)json_integer_value(json_object_get(o, "new_bytes"));
        copy_json_string(x->id, sizeof(x->id), json_object_get(o, "snapshot"));
        copy_json_string(x->failure, sizeof(x->failure), json_object_get(o, "failure"));
        copy_json_string(x->note, sizeof(x->note), json_object_get(o, "note"));
        copy_json_string(x->path, sizeof(x->path), json_object_get(o, "path"));
        x->stopped_ms = (uint64_t)json_integer_value(json_object_get(o, "stopped_ms"));
        json_decref(o);
        s->v.ncycles++;
    }
    free(buf);
    if (skipped)
        log_warnx("%s: %u unreadable line(s) skipped (the status shows the other cycles)", p, skipped);
}

/*
 * config: the configuration table and its INI reader (see config.h). The table
 * below is the single source of each key's type, bounds, default and
 * documentation: loading, validation, defaults and `config check`'s output all
 * come from it.
 */
#include "slotkeeper/config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <ini.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "slotkeeper/fsutil.h"
#include "daemon/metrics.h"
#include "slotkeeper/paths.h"

/* T_SOCKET: an absolute path that fits a UNIX socket address (max: bytes); T_ADDRESS: HOST:PORT
 * as the metrics server takes it, or empty. */
enum ktype { T_STR, T_PATH, T_TEMPLATE, T_LIST, T_UINT, T_DURATION, T_SIZE, T_MODE, T_ENUM, T_SOCKET, T_ADDRESS };
#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

static bool is_string(enum ktype t)
{
    return t == T_STR || t == T_PATH || t == T_TEMPLATE || t == T_LIST || t == T_SOCKET || t == T_ADDRESS;
}

struct key {
    const char *section, *name;
    enum ktype type;
    size_t offset;
    uint64_t min, max;
    const char *def;           /* NULL: required; "": optional and empty */
    const char *const *values; /* T_ENUM */
    const char *doc;
};

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const quarantine_policies[] = {"keep", "delete", NULL};

#define OFF(f) offsetof(sk_config_t, f)
#define DAY    (24ULL * 3600 * 1000)
static const struct key keys[] = {
    {"daemon", "control_socket", T_SOCKET, OFF(control_socket), 1, SUN_PATH_MAX, "/run/slotkeeper/control.sock", NULL,
     "UNIX socket the CLI talks to the daemon through"},
    {"daemon", "control_socket_mode", T_MODE, OFF(control_socket_mode), 0, 0777, "0600", NULL,
     "permissions of the control socket (octal)"},
    {"daemon", "state_dir", T_PATH, OFF(state_dir), 0, 0, "/var/lib/slotkeeper/state", NULL,
     "where the daemon keeps pid files and slot state"},
    {"daemon", "log_level", T_ENUM, OFF(log_level), 0, 0, "info", log_levels, "error, warn, info or debug"},
    {"daemon", "metrics_address", T_ADDRESS, OFF(metrics_address), 0, 0, "", NULL,
     "HOST:PORT where the daemon serves Prometheus metrics at /metrics (e.g. 127.0.0.1:9488); empty: off"},

    {"repository", "path", T_PATH, OFF(repo_path), 0, 0, NULL, NULL,
     "the snapshot repository (made with `slotkeeper repo init`); required"},
    {"repository", "keep_last", T_UINT, OFF(keep_last), 1, 100000, "6", NULL,
     "snapshots prune keeps (the newest good one is never removed)"},
    {"repository", "level", T_UINT, OFF(level), 1, 19, "3", NULL, "zstd level of new snapshots"},
    {"repository", "threads", T_UINT, OFF(threads), 0, 256, "0", NULL,
     "worker threads of snapshot, restore and verify; 0: one per CPU"},
    {"repository", "lock_wait", T_DURATION, OFF(lock_wait_ms), 0, DAY, "60s", NULL,
     "how long a command waits for the repository lock"},

    {"archive", "data_dir", T_PATH, OFF(archive_data_dir), 0, 0, "", NULL,
     "data-dir of the archival node that is snapshotted; empty: no archival node"},
    {"archive", "command", T_TEMPLATE, OFF(archive_command), 0, 0, "", NULL,
     "command line that starts the archival node ({data_dir} is its data-dir)"},
    {"archive", "include", T_LIST, OFF(archive_include), 0, 0, "blocks,state", NULL,
     "sub-folders a snapshot takes (Dawn 3.0: blocks,shared_mem)"},
    {"archive", "snapshot_interval", T_DURATION, OFF(snapshot_interval_ms), 60000, 30 * DAY, "30m", NULL,
     "time between two snapshots of the archival node"},
    {"archive", "stop_timeout", T_DURATION, OFF(stop_timeout_ms), 1000, DAY, "300s", NULL,
     "how long the archival node may take to stop after SIGTERM; past it, it is killed and that "
     "cycle publishes nothing"},

    {"workers", "slots", T_UINT, OFF(slots), 0, 1000, "0", NULL, "number of worker slots, numbered 1..slots"},
    {"workers", "data_dir", T_TEMPLATE, OFF(worker_data_dir), 0, 0, "", NULL,
     "data-dir of each slot, with {slot} (e.g. /srv/eos/{slot}); required when slots > 0"},
    {"workers", "command", T_TEMPLATE, OFF(worker_command), 0, 0, "", NULL,
     "command line that starts a worker ({slot}, {data_dir}, {http_port}, {p2p_port}); empty: the "
     "workers run elsewhere (`slotkeeper run` in containers) and the daemon only restores them when "
     "asked"},
    {"workers", "http_port_base", T_UINT, OFF(http_port_base), 1, 65000, "8888", NULL,
     "{http_port} of slot N is http_port_base + N"},
    {"workers", "p2p_port_base", T_UINT, OFF(p2p_port_base), 1, 65000, "9876", NULL,
     "{p2p_port} of slot N is p2p_port_base + N"},
    {"workers", "startup_grace", T_DURATION, OFF(startup_grace_ms), 1000, DAY, "120s", NULL,
     "a worker that exits within this time of starting failed to start"},
    {"workers", "health_url", T_TEMPLATE, OFF(health_url), 0, 0, "http://127.0.0.1:{http_port}/v1/chain/get_info", NULL,
     "get_info URL probed on each running worker; empty: no probe"},
    {"workers", "health_interval", T_DURATION, OFF(health_interval_ms), 1000, DAY, "10s", NULL,
     "time between two probes"},
    {"workers", "stall_timeout", T_DURATION, OFF(stall_timeout_ms), 1000, DAY, "120s", NULL,
     "a worker whose head block does not move for this long, or that does not answer, is restarted"},
    {"workers", "backoff_min", T_DURATION, OFF(backoff_min_ms), 0, DAY, "1s", NULL,
     "first restart delay after a crash; doubles on each crash"},
    {"workers", "backoff_max", T_DURATION, OFF(backoff_max_ms), 0, DAY, "5m", NULL, "longest restart delay"},
    {"workers", "stable_after", T_DURATION, OFF(stable_after_ms), 1000, DAY, "10m", NULL,
     "a worker running this long has its back-off reset"},
    {"workers", "restore_budget", T_UINT, OFF(restore_budget), 1, 1000, "3", NULL,
     "restores a slot may have per restore_window; past it the slot goes to failed"},
    {"workers", "restore_window", T_DURATION, OFF(restore_window_ms), 60000, 30 * DAY, "1h", NULL,
     "the window of restore_budget"},
    {"workers", "restores_at_once", T_UINT, OFF(restores_at_once), 1, 64, "1", NULL,
     "restores running at the same time on this host; others wait"},
    {"workers", "quarantine", T_ENUM, OFF(quarantine), 0, 0, "keep", quarantine_policies,
     "keep the folders a restore replaces, or delete them"},
    {"workers", "quarantine_keep", T_UINT, OFF(quarantine_keep), 0, 1000, "1", NULL,
     "replaced copies kept per slot (with quarantine = keep)"},
    {"workers", "log_file", T_TEMPLATE, OFF(log_file), 0, 0, "{data_dir}/nodeos.log", NULL,
     "where a worker's stdout and stderr go"},
    {"workers", "log_max_size", T_SIZE, OFF(log_max_size), 4096, 1ULL << 40, "64MiB", NULL,
     "a worker's log is rotated at this size"},
    {"workers", "log_keep", T_UINT, OFF(log_keep), 0, 100, "5", NULL, "rotated logs kept"},
    {"workers", "stop_timeout", T_DURATION, OFF(worker_stop_timeout_ms), 1000, DAY, "300s", NULL,
     "how long a worker may take to stop after SIGTERM"},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const placeholders[] = {"{slot}", "{data_dir}", "{http_port}", "{p2p_port}", NULL};

static void *field(sk_config_t *c, const struct key *k)
{
    return (char *)c + k->offset;
}

static bool template_ok(const char *v, char *why, size_t len)
{
    for (const char *p = strchr(v, '{'); p; p = strchr(p + 1, '{')) {
        bool known = false;
        for (int i = 0; placeholders[i]; i++)
            if (!strncmp(p, placeholders[i], strlen(placeholders[i])))
                known = true;
        if (!known) {
            size_t n = strcspn(p, "}");
            snprintf(why, len, "unknown placeholder '%.*s' (known: {slot}, {data_dir}, {http_port}, {p2p_port})",
                     (int)(n + 1), p);
            return false;
        }
    }
    return true;
}

/* Parses v for key k into c; on failure writes the reason into why. */
static int set_value(sk_config_t *c, const struct key *k, const char *v, char *why, size_t len)
{
    uint64_t n = 0;
    int rc = 0;
    switch (k->type) {
    case T_STR:
    case T_PATH:
    case T_TEMPLATE:
    case T_LIST:
    case T_SOCKET:
    case T_ADDRESS:
        if ((!k->def || k->type == T_SOCKET) && !*v) {
            snprintf(why, len, "empty, but required");
            return -EINVAL;
        }
        if (k->type == T_SOCKET && strlen(v) > k->max) {
            snprintf(why, len, "'%s' is %zu bytes; a UNIX socket path is at most %" PRIu64 " bytes", v, strlen(v),
                     k->max);
            return -EINVAL;
        }
        if (k->type == T_ADDRESS && *v) {
            struct sockaddr_storage ss;
            sk_err_t e;
            sk_err_clear(&e);
            if (sk_metrics_parse_address(v, &ss, &e) < 0) {
                snprintf(why, len, "'%s' is %s", v, e.msg);
                return -EINVAL;
            }
        }
        if ((k->type == T_PATH || k->type == T_SOCKET) && *v && v[0] != '/') {
            snprintf(why, len, "'%s' is not an absolute path", v);
            return -EINVAL;
        }
        if (k->type == T_TEMPLATE && !template_ok(v, why, len))
            return -EINVAL;
        if (k->type == T_LIST) {
            for (const char *p = v; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == ',')) {
                    snprintf(why, len, "'%s' is not a comma-separated list of folder names", v);
                    return -EINVAL;
                }
        }
        {
            char *d = strdup(v);
            if (!d)
                return -ENOMEM;
            char **dst = field(c, k);
            free(*dst);
            *dst = d;
        }
        return 0;
    case T_UINT:
        rc = sk_parse_uint(v, k->min, k->max, &n);
        if (rc < 0) {
            snprintf(why, len, "'%s' is not a whole number from %" PRIu64 " to %" PRIu64, v, k->min, k->max);
            return -EINVAL;
        }
        *(unsigned *)field(c, k) = (unsigned)n;
        return 0;
    case T_MODE: {
        char *end;
        errno = 0;
        unsigned long m = strtoul(v, &end, 8);
        if (!*v || *end || errno || m > k->max) {
            snprintf(why, len, "'%s' is not an octal mode such as 0660", v);
            return -EINVAL;
        }
        *(unsigned *)field(c, k) = (unsigned)m;
        return 0;
    }
    case T_DURATION:
        if (sk_parse_duration_ms(v, &n) < 0 || n < k->min || n > k->max) {
            snprintf(why, len, "'%s' is not a duration from %" PRIu64 "ms to %" PRIu64 "ms (e.g. 300s, 10m, 1h)", v,
                     k->min, k->max);
            return -EINVAL;
        }
        *(uint64_t *)field(c, k) = n;
        return 0;
    case T_SIZE:
        if (sk_parse_size(v, &n) < 0 || n < k->min || n > k->max) {
            snprintf(why, len, "'%s' is not a size from %" PRIu64 " to %" PRIu64 " bytes (e.g. 64MiB)", v, k->min,
                     k->max);
            return -EINVAL;
        }
        *(uint64_t *)field(c, k) = n;
        return 0;
    case T_ENUM:
        for (unsigned i = 0; k->values[i]; i++) {
            if (!strcmp(v, k->values[i])) {
                *(unsigned *)field(c, k) = i;
                return 0;
            }
        }
        snprintf(why, len, "'%s' is not one of:", v);
        for (unsigned i = 0; k->values[i]; i++)
            snprintf(why + strlen(why), len - strlen(why), " %s", k->values[i]);
        return -EINVAL;
    }
    return -EINVAL;
}

void sk_config_free(sk_config_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < NKEYS; i++)
        if (is_string(keys[i].type))
            free(*(char **)field(c, &keys[i]));
    free(c->path);
    memset(c, 0, sizeof(*c));
}

struct loader {
    sk_config_t *c;
    bool seen[NKEYS];
    char why[512];
    char key[128];
};

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    struct loader *l = user;
    if (l->why[0])
        return 1; /* report only the first error */
    snprintf(l->key, sizeof(l->key), "[%s] %s", section, name);
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(keys[i].section, section) || strcmp(keys[i].name, name))
            continue;
        if (l->seen[i]) {
            snprintf(l->why, sizeof(l->why), "given twice");
            return 0;
        }
        l->seen[i] = true;
        if (set_value(l->c, &keys[i], value, l->why, sizeof(l->why)) < 0) {
            if (!l->why[0])
                snprintf(l->why, sizeof(l->why), "out of memory");
            return 0;
        }
        return 1;
    }
    bool known_section = false;
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].section, section))
            known_section = true;
    snprintf(l->why, sizeof(l->why), known_section ? "unknown key" : "unknown section");
    return 0;
}

/* inih reads lines of at most 199 characters and joins indented lines to the previous value;
 * refuse both rather than let a value be cut or glued without a word. */
static int prescan(const char *path, const char *buf, sk_err_t *err)
{
    int lineno = 0;
    for (const char *s = buf; *s;) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        lineno++;
        if (n >= 199)
            return sk_err_set(err, -EINVAL, path, "line %d: longer than 198 characters", lineno);
        if (n && (s[0] == ' ' || s[0] == '\t')) {
            size_t k = strspn(s, " \t");
            if (k < n && s[k] != ';' && s[k] != '#')
                return sk_err_set(err, -EINVAL, path, "line %d: indented line (continuation lines are not supported)",
                                  lineno);
        }
        if (memchr(s, '\0', n))
            return sk_err_set(err, -EINVAL, path, "line %d: NUL byte", lineno);
        s += n + (nl ? 1 : 0);
    }
    return 0;
}

/* The line of buf where [section] name is set, or 0. */
static int key_line(const char *buf, const char *section, const char *name)
{
    char cur[64] = "";
    int lineno = 0;
    size_t nl = strlen(name);
    for (const char *s = buf; *s;) {
        size_t n = strcspn(s, "\n");
        lineno++;
        const char *p = s + strspn(s, " \t");
        if (*p == '[') {
            size_t e = strcspn(p + 1, "]\n");
            snprintf(cur, sizeof(cur), "%.*s", (int)e, p + 1);
        } else if (!strcmp(cur, section) && !strncmp(p, name, nl)) {
            const char *q = p + nl + strspn(p + nl, " \t");
            if (*q == '=' || *q == ':')
                return lineno;
        }
        s += n + (s[n] ? 1 : 0);
    }
    return 0;
}

/* Keeps the repository, the daemon's state folder, the archival node's data-dir and every
 * slot's data-dir apart, and no data-dir a system folder (paths.h). */
static int check_paths(const sk_config_t *c, const char *path, const char *buf, sk_err_t *err)
{
    size_t n = 2 + (c->archive_data_dir[0] ? 1 : 0) + c->slots;
    sk_paths_item_t *items = calloc(n, sizeof(*items));
    char(*dirs)[PATH_MAX] = calloc(c->slots + 1, sizeof(*dirs));
    char(*roles)[32] = calloc(c->slots + 1, sizeof(*roles));
    const char *keyof[3] = {"path", "state_dir", "data_dir"};
    const char *sectof[3] = {"repository", "daemon", "archive"};
    int rc = 0;
    if (!items || !dirs || !roles) {
        rc = sk_err_set(err, -ENOMEM, path, NULL);
        goto out;
    }
    size_t k = 0;
    items[k++] = (sk_paths_item_t){"the repository", c->repo_path, false};
    items[k++] = (sk_paths_item_t){"the state folder", c->state_dir, false};
    if (c->archive_data_dir[0])
        items[k++] = (sk_paths_item_t){"the archival data-dir", c->archive_data_dir, true};
    size_t first_slot = k;
    for (unsigned i = 1; i <= c->slots; i++) {
        if (sk_config_expand(c, c->worker_data_dir, i, dirs[i], sizeof(dirs[i])) < 0) {
            rc = sk_err_set(err, -EINVAL, path, "line %d: [workers] data_dir: too long for slot %u",
                            key_line(buf, "workers", "data_dir"), i);
            goto out;
        }
        snprintf(roles[i], sizeof(roles[i]), "slot %u's data-dir", i);
        items[k++] = (sk_paths_item_t){roles[i], dirs[i], true};
    }
    size_t bad = 0;
    sk_err_t e;
    sk_err_clear(&e);
    if (sk_paths_check_apart(items, k, &bad, &e) < 0) {
        const char *sect = bad >= first_slot ? "workers" : sectof[bad];
        const char *key = bad >= first_slot ? "data_dir" : keyof[bad];
        int line = key_line(buf, sect, key);
        char where[32] = "";
        if (line)
            snprintf(where, sizeof(where), "line %d: ", line);
        rc = sk_err_set(err, -EINVAL, path, "%s[%s] %s: %s: %s", where, sect, key, e.path, e.msg);
    }
out:
    free(items);
    free(dirs);
    free(roles);
    return rc;
}

int sk_config_load(const char *path, sk_config_t *out, sk_err_t *err)
{
    sk_config_t c;
    memset(&c, 0, sizeof(c));
    char why[512];
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].def && set_value(&c, &keys[i], keys[i].def, why, sizeof(why)) < 0) {
            sk_config_free(&c);
            return sk_err_set(err, -EINVAL, path, "internal error: default of %s: %s", keys[i].name, why);
        }
    }
    char *buf = NULL;
    size_t len;
    int rc = sk_read_file_at(AT_FDCWD, path, 1024 * 1024, &buf, &len);
    if (rc < 0) {
        sk_config_free(&c);
        return sk_err_set(err, rc, path, rc == -EFBIG ? "larger than 1 MiB" : NULL);
    }
    if (strlen(buf) != len) {
        free(buf);
        sk_config_free(&c);
        return sk_err_set(err, -EINVAL, path, "NUL byte in the file");
    }
    rc = prescan(path, buf, err);
    if (rc < 0) {
        free(buf);
        sk_config_free(&c);
        return rc;
    }
    struct loader l = {.c = &c};
    int line = ini_parse_string(buf, on_entry, &l);
    if (line != 0) {
        free(buf);
        sk_config_free(&c);
        if (line < 0)
            return sk_err_set(err, -EIO, path, NULL);
        if (l.why[0])
            return sk_err_set(err, -EINVAL, path, "line %d: %s: %s", line, l.key, l.why);
        return sk_err_set(err, -EINVAL, path, "line %d: syntax error (expected [section] or key = value)", line);
    }
    for (size_t i = 0; i < NKEYS; i++) {
        if (!keys[i].def && !l.seen[i]) {
            free(buf);
            sk_config_free(&c);
            return sk_err_set(err, -EINVAL, path, "[%s] %s: required", keys[i].section, keys[i].name);
        }
    }
    /* Rules across keys. */
    const char *bad = NULL;
    if (c.slots > 0 && !*c.worker_data_dir)
        bad = "[workers] data_dir: required when slots > 0";
    else if (c.slots > 1 && !strstr(c.worker_data_dir, "{slot}"))
        bad = "[workers] data_dir: must contain {slot} when there is more than one slot";
    else if (*c.worker_data_dir && (strstr(c.worker_data_dir, "{data_dir}") || c.worker_data_dir[0] != '/'))
        bad = "[workers] data_dir: must be an absolute path and cannot use {data_dir}";
    else if (*c.archive_command && !*c.archive_data_dir)
        bad = "[archive] command: needs [archive] data_dir";

    else if (c.backoff_min_ms > c.backoff_max_ms)
        bad = "[workers] backoff_min: larger than backoff_max";
    else if (!*c.archive_include)
        bad = "[archive] include: empty";
    if (bad) {
        free(buf);
        sk_config_free(&c);
        return sk_err_set(err, -EINVAL, path, "%s", bad);
    }
    rc = check_paths(&c, path, buf, err);
    free(buf);
    if (rc < 0) {
        sk_config_free(&c);
        return rc;
    }
    c.path = strdup(path);
    *out = c;
    return 0;
}

static void print_duration(FILE *f, uint64_t ms)
{
    if (ms && ms % 3600000 == 0)
        fprintf(f, "%" PRIu64 "h", ms / 3600000);
    else if (ms && ms % 60000 == 0)
        fprintf(f, "%" PRIu64 "m", ms / 60000);
    else if (ms % 1000 == 0)
        fprintf(f, "%" PRIu64 "s", ms / 1000);
    else
        fprintf(f, "%" PRIu64 "ms", ms);
}

static void print_size(FILE *f, uint64_t n)
{
    static const char *units[] = {"TiB", "GiB", "MiB", "KiB"};
    for (int i = 0; i < 4; i++) {
        uint64_t u = 1ULL << (10 * (4 - i));
        if (n && n % u == 0) {
            fprintf(f, "%" PRIu64 "%s", n / u, units[i]);
            return;
        }
    }
    fprintf(f, "%" PRIu64, n);
}

void sk_config_print(const sk_config_t *c, FILE *f)
{
    const char *section = NULL;
    sk_config_t *m = (sk_config_t *)c;
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        if (!section || strcmp(section, k->section)) {
            fprintf(f, "%s[%s]\n", section ? "\n" : "", k->section);
            section = k->section;
        }
        fprintf(f, "# %s", k->doc);
        if (k->def && *k->def)
            fprintf(f, " (default %s)", k->def);
        fprintf(f, "\n");
        switch (k->type) {
        case T_STR:
        case T_PATH:
        case T_TEMPLATE:
        case T_LIST:
        case T_SOCKET:
        case T_ADDRESS: {
            const char *v = *(char **)field(m, k);
            /* "key=value" where "key = value" would not read back: inih takes " ;" for a comment,
             * and prescan refuses lines of 199 characters or more. */
            if (v && *v && (v[0] == ';' || strlen(k->name) + 3 + strlen(v) >= 199))
                fprintf(f, "%s=%s\n", k->name, v);
            else if (v && *v)
                fprintf(f, "%s = %s\n", k->name, v);
            else if (k->def && *k->def)
                fprintf(f, "%s =\n", k->name); /* set empty over a default (health_url: no probe) */
            else
                fprintf(f, "# %s =\n", k->name);
            break;
        }
        case T_UINT:
            fprintf(f, "%s = %u\n", k->name, *(unsigned *)field(m, k));
            break;
        case T_MODE:
            fprintf(f, "%s = %04o\n", k->name, *(unsigned *)field(m, k));
            break;
        case T_DURATION:
            fprintf(f, "%s = ", k->name);
            print_duration(f, *(uint64_t *)field(m, k));
            fprintf(f, "\n");
            break;
        case T_SIZE:
            fprintf(f, "%s = ", k->name);
            print_size(f, *(uint64_t *)field(m, k));
            fprintf(f, "\n");
            break;
        case T_ENUM:
            fprintf(f, "%s = %s\n", k->name, k->values[*(unsigned *)field(m, k)]);
            break;
        }
    }
}

int sk_config_expand(const sk_config_t *c, const char *tmpl, unsigned slot, char *out, size_t len)
{
    char data_dir[PATH_MAX] = "";
    if (tmpl != c->worker_data_dir && c->worker_data_dir && *c->worker_data_dir) {
        int rc = sk_config_expand(c, c->worker_data_dir, slot, data_dir, sizeof(data_dir));
        if (rc < 0)
            return rc;
    }
    size_t o = 0;
    for (const char *p = tmpl; *p;) {
        char val[PATH_MAX];
        const char *rep = NULL;
        size_t skip = 0;
        if (!strncmp(p, "{slot}", 6)) {
            snprintf(val, sizeof(val), "%u", slot);
            rep = val, skip = 6;
        } else if (!strncmp(p, "{data_dir}", 10)) {
            rep = data_dir, skip = 10;
        } else if (!strncmp(p, "{http_port}", 11)) {
            snprintf(val, sizeof(val), "%u", c->http_port_base + slot);
            rep = val, skip = 11;
        } else if (!strncmp(p, "{p2p_port}", 10)) {
            snprintf(val, sizeof(val), "%u", c->p2p_port_base + slot);
            rep = val, skip = 10;
        }
        if (rep) {
            size_t n = strlen(rep);
            if (o + n >= len)
                return -ENAMETOOLONG;
            memcpy(out + o, rep, n);
            o += n;
            p += skip;
        } else {
            if (o + 1 >= len)
                return -ENAMETOOLONG;
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    return 0;
}

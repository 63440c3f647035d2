/*
 * config: the INI reader of the configuration (see config.h). Each key's
 * type, bounds, default and documentation come from the option table
 * (option.c), which the command line shares: loading, validation, defaults
 * and `config check`'s output all come from it.
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
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "slotkeeper/fsutil.h"
#include "daemon/metrics.h"
#include "slotkeeper/paths.h"
#include "slotkeeper/s3.h"
#include "option.h"

#define NKEYS    sk_noptions
#define MAX_ROWS 128 /* rows of the option table a loader can track */

static bool is_string(enum sk_opt_type t)
{
    return t == T_STR || t == T_PATH || t == T_TEMPLATE || t == T_LIST || t == T_SOCKET || t == T_ADDRESS;
}

static void *field(sk_config_t *c, const sk_option_t *k)
{
    return (char *)c + k->offset;
}

/* Parses v for row k (one with a key) into c; on failure writes the reason into why. */
static int set_value(sk_config_t *c, const sk_option_t *k, const char *v, char *why, size_t len)
{
    sk_optval_t val;
    int rc = sk_option_parse(k, v, true, &val, why, len);
    if (rc < 0)
        return rc;
    if (is_string(k->type)) {
        char *d = strdup(v);
        if (!d)
            return -ENOMEM;
        char **dst = field(c, k);
        free(*dst);
        *dst = d;
    } else if (k->type == T_DURATION || k->type == T_SIZE) {
        *(uint64_t *)field(c, k) = val.n;
    } else {
        *(unsigned *)field(c, k) = (unsigned)val.n;
    }
    return 0;
}

void sk_config_free(sk_config_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < NKEYS; i++)
        if (sk_options[i].key && is_string(sk_options[i].type))
            free(*(char **)field(c, &sk_options[i]));
    free(c->path);
    memset(c, 0, sizeof(*c));
}

struct loader {
    sk_config_t *c;
    bool seen[MAX_ROWS];
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
        if (!sk_options[i].key || strcmp(sk_options[i].section, section) || strcmp(sk_options[i].key, name))
            continue;
        if (l->seen[i]) {
            snprintf(l->why, sizeof(l->why), "given twice");
            return 0;
        }
        l->seen[i] = true;
        if (set_value(l->c, &sk_options[i], value, l->why, sizeof(l->why)) < 0) {
            if (!l->why[0])
                snprintf(l->why, sizeof(l->why), "out of memory");
            return 0;
        }
        return 1;
    }
    bool known_section = false;
    for (size_t i = 0; i < NKEYS; i++)
        if (sk_options[i].key && !strcmp(sk_options[i].section, section))
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
    if (NKEYS > MAX_ROWS)
        return sk_err_set(err, -EINVAL, path, "internal error: more than %d options", MAX_ROWS);
    for (size_t i = 0; i < NKEYS; i++) {
        const sk_option_t *k = &sk_options[i];
        if (k->key && k->def && set_value(&c, k, k->def, why, sizeof(why)) < 0) {
            sk_config_free(&c);
            return sk_err_set(err, -EINVAL, path, "internal error: default of %s: %s", k->key, why);
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
        if (sk_options[i].key && !sk_options[i].def && !l.seen[i]) {
            free(buf);
            sk_config_free(&c);
            return sk_err_set(err, -EINVAL, path, "[%s] %s: required", sk_options[i].section, sk_options[i].key);
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
    else if (*c.s3_endpoint && strncmp(c.s3_endpoint, "http://", 7) && strncmp(c.s3_endpoint, "https://", 8))
        bad = "[repository] endpoint: must start with http:// or https://";
    else if (*c.upstream && strncmp(c.upstream, "s3://", 5) && c.upstream[0] != '/')
        bad = "[repository] upstream: must be an s3:// URL or an absolute path";
    else if (*c.upstream && !strcmp(c.upstream, c.repo_path))
        bad = "[repository] upstream: is the repository itself";
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
    /* An s3:// repository's endpoint and region, where the environment gives none. */
    sk_s3_set_defaults(c.s3_endpoint, c.s3_region);
    *out = c;
    return 0;
}

/* The first word of a command line, as the daemon splits it (slot.c: blanks separate, '...'
 * and "..." quote, \ escapes one character outside single quotes). */
static void first_word(const char *cmd, char *out, size_t len)
{
    size_t o = 0;
    const char *p = cmd + strspn(cmd, " \t");
    char q = 0;
    for (; *p && o + 1 < len; p++) {
        if (q) {
            if (*p == q)
                q = 0;
            else if (*p == '\\' && q == '"' && p[1])
                out[o++] = *++p;
            else
                out[o++] = *p;
        } else if (*p == '\'' || *p == '"') {
            q = *p;
        } else if (*p == '\\' && p[1]) {
            out[o++] = *++p;
        } else if (*p == ' ' || *p == '\t') {
            break;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static bool executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* As execvp finds it: a name with a '/' as it is, any other in each folder of PATH (an empty
 * entry is the current folder; no PATH: confstr's default). */
static bool program_found(const char *prog)
{
    if (strchr(prog, '/'))
        return executable(prog);
    const char *path = getenv("PATH");
    char def[256];
    if (!path) {
        size_t n = confstr(_CS_PATH, def, sizeof(def));
        path = n > 0 && n <= sizeof(def) ? def : "/bin:/usr/bin";
    }
    for (const char *d = path;;) {
        size_t n = strcspn(d, ":");
        char full[PATH_MAX];
        if (snprintf(full, sizeof(full), "%.*s%s%s", (int)n, n ? d : ".", "/", prog) < (int)sizeof(full) &&
            executable(full))
            return true;
        if (!d[n])
            return false;
        d += n + 1;
    }
}

int sk_config_check_programs(const sk_config_t *c, sk_err_t *err)
{
    struct {
        const char *section, *cmd;
    } cmds[] = {{"archive", c->archive_command}, {"workers", c->worker_command}};
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char prog[PATH_MAX];
        first_word(cmds[i].cmd ? cmds[i].cmd : "", prog, sizeof(prog));
        /* Empty: no command; a template in the program's name: known only per slot. */
        if (!prog[0] || strchr(prog, '{') || program_found(prog))
            continue;
        char *buf = NULL;
        size_t len;
        int line = c->path && sk_read_file_at(AT_FDCWD, c->path, 1024 * 1024, &buf, &len) == 0
                       ? key_line(buf, cmds[i].section, "command")
                       : 0;
        free(buf);
        char where[32] = "";
        if (line)
            snprintf(where, sizeof(where), "line %d: ", line);
        return sk_err_set(err, -ENOENT, c->path, "%s[%s] command: '%s' not found or not executable", where,
                          cmds[i].section, prog);
    }
    return 0;
}

void sk_config_print(const sk_config_t *c, FILE *f)
{
    const char *section = NULL;
    sk_config_t *m = (sk_config_t *)c;
    for (size_t i = 0; i < NKEYS; i++) {
        const sk_option_t *k = &sk_options[i];
        if (!k->key)
            continue;
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
            if (v && *v && (v[0] == ';' || strlen(k->key) + 3 + strlen(v) >= 199))
                fprintf(f, "%s=%s\n", k->key, v);
            else if (v && *v)
                fprintf(f, "%s = %s\n", k->key, v);
            else if (k->def && *k->def)
                fprintf(f, "%s =\n", k->key); /* set empty over a default (health_url: no probe) */
            else
                fprintf(f, "# %s =\n", k->key);
            break;
        }
        case T_UINT:
            fprintf(f, "%s = %u\n", k->key, *(unsigned *)field(m, k));
            break;
        case T_MODE:
            fprintf(f, "%s = %04o\n", k->key, *(unsigned *)field(m, k));
            break;
        case T_DURATION:
            fprintf(f, "%s = ", k->key);
            sk_option_print_duration(f, *(uint64_t *)field(m, k));
            fprintf(f, "\n");
            break;
        case T_SIZE:
            fprintf(f, "%s = ", k->key);
            sk_option_print_size(f, *(uint64_t *)field(m, k));
            fprintf(f, "\n");
            break;
        case T_ENUM:
            fprintf(f, "%s = %s\n", k->key, k->values[*(unsigned *)field(m, k)]);
            break;
        case T_POW2:
        case T_SNAPSHOT_ID:
        case T_CHAIN_ID:
        case T_FLAG:
            break; /* command line only */
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
